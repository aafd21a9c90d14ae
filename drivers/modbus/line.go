package modbus

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// line is who may use a bus's connection: one request at a time, the
// holder's goroutine running it. A request of a priority unit waiting for
// the line goes before every waiting request of another unit, and on TCP
// interrupts one that has held the line for PreemptAfter.
//
// The uncontended path is one mutex lock and unlock on each side: no
// goroutine hand-off, which is what made the owner-goroutine bus cost a
// quarter of a bare client's throughput.
type line struct {
	mu   sync.Mutex // protects the fields below
	busy bool
	cur  *flight   // the holder's flight while busy
	high []*waiter // priority requests waiting, in order
	low  []*waiter // the others

	onQueue func(prio bool) // tests: called, locked, when a request queues
}

// flight is one hold of the line.
type flight struct {
	prio      bool
	start     time.Time // real clock
	preempted atomic.Bool
}

type waiter struct {
	prio  bool
	ready chan struct{} // closed when granted
	f     *flight       // set when granted, under line.mu
}

// acquire waits for the line; nil means ctx ended first.
func (l *line) acquire(ctx context.Context, prio bool, b *Bus) *flight {
	l.mu.Lock()
	if !l.busy {
		l.busy = true
		f := &flight{prio: prio, start: time.Now()}
		l.cur = f
		l.mu.Unlock()
		return f
	}
	w := &waiter{prio: prio, ready: make(chan struct{})}
	if prio {
		l.high = append(l.high, w)
	} else {
		l.low = append(l.low, w)
	}
	var preempt <-chan time.Time
	if prio && b.preemptAfter > 0 && l.cur != nil && !l.cur.prio {
		t := time.NewTimer(max(0, b.preemptAfter-time.Since(l.cur.start)))
		defer t.Stop()
		preempt = t.C
	}
	if l.onQueue != nil {
		l.onQueue(prio)
	}
	l.mu.Unlock()
	for {
		select {
		case <-w.ready:
			return w.f
		case <-preempt:
			preempt = nil
			l.mu.Lock()
			if w.f == nil && l.cur != nil && !l.cur.prio && time.Since(l.cur.start) >= b.preemptAfter && l.cur.preempted.CompareAndSwap(false, true) {
				b.link.interrupt() // the holder sees an I/O error and hands the line on
			}
			l.mu.Unlock()
		case <-ctx.Done():
			l.mu.Lock()
			if w.f != nil { // granted meanwhile: pass it on
				l.mu.Unlock()
				l.release(w.f)
				return nil
			}
			if prio {
				l.high = slices.DeleteFunc(l.high, func(x *waiter) bool { return x == w })
			} else {
				l.low = slices.DeleteFunc(l.low, func(x *waiter) bool { return x == w })
			}
			l.mu.Unlock()
			return nil
		}
	}
}

// release hands the line to the next waiter, priority first.
func (l *line) release(f *flight) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != f {
		return // not the holder (cannot happen; guards a double release)
	}
	var next *waiter
	switch {
	case len(l.high) > 0:
		next, l.high = l.high[0], l.high[1:]
	case len(l.low) > 0:
		next, l.low = l.low[0], l.low[1:]
	}
	if next == nil {
		l.busy, l.cur = false, nil
		return
	}
	nf := &flight{prio: next.prio, start: time.Now()}
	l.cur, next.f = nf, nf
	close(next.ready)
}
