// Package clocktest provides Fake, a clock.Clock whose time moves only when
// a test calls Advance (after tailscale's tstest.Clock).
package clocktest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/edge/clock"
)

// Fake is a manually driven clock. Tickers and timers fire during Advance,
// in time order, each with Now set to its firing time. Channels hold one
// value, and a tick that finds its channel full is dropped, like a real
// ticker's. The zero value is not usable; call New.
type Fake struct {
	mu      sync.Mutex // protects the fields below
	now     time.Time
	waiters []*waiter
	seq     int
	changed chan struct{} // closed and replaced whenever waiters change
}

var _ clock.Clock = (*Fake)(nil)

// New returns a fake clock reading start.
func New(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

type waiter struct {
	f      *Fake
	c      chan time.Time
	when   time.Time
	period time.Duration // 0 for a timer
	seq    int           // creation order, to fire same-time waiters stably
	active bool
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns Now().Sub(t).
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// NewTicker returns a ticker firing every d of fake time.
func (f *Fake) NewTicker(d time.Duration) (clock.Ticker, <-chan time.Time) {
	if d <= 0 {
		panic("clocktest: non-positive interval for NewTicker")
	}
	w := f.add(d, d)
	return (*fakeTicker)(w), w.c
}

// NewTimer returns a timer firing once after d of fake time.
func (f *Fake) NewTimer(d time.Duration) (clock.Timer, <-chan time.Time) {
	w := f.add(d, 0)
	return (*fakeTimer)(w), w.c
}

// After returns a channel that receives the fake time after d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	return f.add(d, 0).c
}

func (f *Fake) add(d, period time.Duration) *waiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	w := &waiter{f: f, c: make(chan time.Time, 1), when: f.now.Add(d), period: period, seq: f.seq, active: true}
	f.waiters = append(f.waiters, w)
	f.notifyLocked()
	if d <= 0 && period == 0 {
		f.fireLocked(w)
	}
	return w
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// fireLocked sends on w's channel and reschedules or retires it.
func (f *Fake) fireLocked(w *waiter) {
	select {
	case w.c <- w.when:
	default: // reader is behind: drop, like time.Ticker
	}
	if w.period > 0 {
		w.when = w.when.Add(w.period)
		return
	}
	f.removeLocked(w)
}

// drain discards a value not yet received, as Stop and Reset do for real
// timers since Go 1.23.
func (w *waiter) drain() {
	select {
	case <-w.c:
	default:
	}
}

func (f *Fake) removeLocked(w *waiter) {
	w.active = false
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			break
		}
	}
	f.notifyLocked()
}

// Advance moves the clock forward by d, firing every ticker and timer that
// falls due on the way, in order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advanceToLocked(f.now.Add(d))
}

// AdvanceTo moves the clock forward to t (never backwards).
func (f *Fake) AdvanceTo(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advanceToLocked(t)
}

func (f *Fake) advanceToLocked(end time.Time) {
	for {
		var next *waiter
		for _, w := range f.waiters {
			if !w.when.After(end) && (next == nil || w.when.Before(next.when) || (w.when.Equal(next.when) && w.seq < next.seq)) {
				next = w
			}
		}
		if next == nil {
			break
		}
		if next.when.After(f.now) {
			f.now = next.when
		}
		f.fireLocked(next)
	}
	if end.After(f.now) {
		f.now = end
	}
}

// Waiters returns how many tickers and timers are active.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil waits until at least n tickers and timers are active: a test
// calls it before Advance so that the goroutine under test has armed its
// timer. It returns ctx's error if ctx ends first.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		have, changed := len(f.waiters), f.changed
		f.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NextDue returns the earliest time a ticker or timer fires, and false if
// there is none.
func (f *Fake) NextDue() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := append([]*waiter(nil), f.waiters...)
	if len(ws) == 0 {
		return time.Time{}, false
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].when.Before(ws[j].when) })
	return ws[0].when, true
}

type fakeTicker waiter

func (t *fakeTicker) Stop() {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.active {
		f.removeLocked((*waiter)(t))
	}
	(*waiter)(t).drain()
}

func (t *fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clocktest: non-positive interval for Ticker.Reset")
	}
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	t.period = d
	t.when = f.now.Add(d)
	(*waiter)(t).drain()
	if !t.active {
		t.active = true
		f.waiters = append(f.waiters, (*waiter)(t))
	}
	f.notifyLocked()
}

type fakeTimer waiter

func (t *fakeTimer) Stop() bool {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	was := t.active
	if was {
		f.removeLocked((*waiter)(t))
	}
	(*waiter)(t).drain()
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	was := t.active
	t.when = f.now.Add(d)
	(*waiter)(t).drain()
	if !was {
		t.active = true
		f.waiters = append(f.waiters, (*waiter)(t))
	}
	f.notifyLocked()
	if d <= 0 {
		f.fireLocked((*waiter)(t))
	}
	return was
}
