package uplink

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// Appender stores one record whose bytes depend on its seq; *outbox.Outbox
// is one.
type Appender interface {
	Append(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error)
}

// BatcherConfig configures a Batcher.
type BatcherConfig struct {
	Site    string
	Gateway string
	Epoch   string // the outbox's epoch
	Key     ed25519.PrivateKey
	// MaxReadings: a batch is cut when readings plus events reach it
	// (default 500).
	MaxReadings int
	// MaxDelay: a batch is cut at the latest this long after the previous
	// cut (default 1 s), so a reading waits at most that long in memory.
	MaxDelay time.Duration
	// MaxBuffered bounds the plain readings held while the outbox refuses
	// batches (full disk, cap reached); beyond it the oldest are dropped and
	// counted (default 100 × MaxReadings). OCMF snapshots and events are
	// never dropped.
	MaxBuffered int
	// LogEvery: refused batches and dropped readings are logged at most once
	// per LogEvery, with counts (default 1 min).
	LogEvery time.Duration
	Clock    Clock
	Log      *slog.Logger // names the site (the caller adds site=)
}

// BatcherStats are a Batcher's counters.
type BatcherStats struct {
	Sampled  uint64 // readings given to Add
	Dropped  uint64 // plain readings dropped because the outbox refused batches
	Buffered int    // readings and events waiting in memory
	Failed   uint64 // cuts the outbox refused
}

// Batcher cuts readings and events into signed batches and appends them.
type Batcher struct {
	cfg  BatcherConfig
	sign Signer
	out  Appender
	log  *slog.Logger
	full chan struct{} // a batch's worth is waiting

	sampled, dropped, failed atomic.Uint64

	flushMu sync.Mutex // one Flush at a time

	mu       sync.Mutex        // protects the fields below
	keep     []reading.Reading // readings never dropped (OCMF snapshots)
	readings []reading.Reading // plain readings, oldest first
	events   []reading.Event
	taking   int // plain readings at the front that a cut is appending
	lim      logLimiter
}

// NewBatcher checks cfg; out receives the sealed batches.
func NewBatcher(cfg BatcherConfig, out Appender) (*Batcher, error) {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	s := Signer{Site: cfg.Site, Gateway: cfg.Gateway, Epoch: cfg.Epoch, Key: cfg.Key, Now: cfg.Clock.Now}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	if cfg.MaxReadings <= 0 {
		cfg.MaxReadings = 500
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Second
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = 100 * cfg.MaxReadings
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	b := &Batcher{cfg: cfg, sign: s, out: out, log: cfg.Log, full: make(chan struct{}, 1)}
	b.lim = logLimiter{every: cfg.LogEvery, now: cfg.Clock.Now}
	return b, nil
}

// Stats returns the batcher's counters.
func (b *Batcher) Stats() BatcherStats {
	b.mu.Lock()
	n := len(b.keep) + len(b.readings) + len(b.events)
	b.mu.Unlock()
	return BatcherStats{Sampled: b.sampled.Load(), Dropped: b.dropped.Load(), Buffered: n, Failed: b.failed.Load()}
}

// Add queues a reading for the next batch. It never blocks on I/O. A
// reading carrying an OCMF snapshot is never dropped.
func (b *Batcher) Add(r reading.Reading) {
	b.sampled.Add(1)
	b.mu.Lock()
	if r.OCMF != "" {
		b.keep = append(b.keep, r)
	} else {
		b.readings = append(b.readings, r)
		if over := len(b.readings) - b.cfg.MaxBuffered; over > 0 {
			// Drop the oldest, but not the ones being stored right now;
			// a tenth of the bound at once, so a full buffer does not
			// copy itself on every Add.
			n := min(max(over, b.cfg.MaxBuffered/10), len(b.readings)-b.taking)
			b.readings = append(b.readings[:b.taking], b.readings[b.taking+n:]...)
			b.dropped.Add(uint64(n))
		}
	}
	n := len(b.keep) + len(b.readings) + len(b.events)
	b.mu.Unlock()
	if n >= b.cfg.MaxReadings {
		b.signalFull()
	}
}

// AddEvent queues an event for the next batch. Events are never dropped.
func (b *Batcher) AddEvent(e reading.Event) {
	b.mu.Lock()
	b.events = append(b.events, e)
	n := len(b.keep) + len(b.readings) + len(b.events)
	b.mu.Unlock()
	if n >= b.cfg.MaxReadings {
		b.signalFull()
	}
}

func (b *Batcher) signalFull() {
	select {
	case b.full <- struct{}{}:
	default:
	}
}

// Run cuts batches until ctx is done, then cuts what is left and returns.
func (b *Batcher) Run(ctx context.Context) error {
	for {
		all := true
		select {
		case <-ctx.Done():
			return b.Flush(context.WithoutCancel(ctx))
		case <-b.full:
			all = false // full batches only; the rest waits for the timer
		case <-b.cfg.Clock.After(b.cfg.MaxDelay):
		}
		if err := b.cut(ctx, all); err != nil && ctx.Err() == nil {
			b.failed.Add(1)
			if n, ok := b.lim.allow(); ok {
				st := b.Stats()
				b.log.Error("batcher: batches not stored; readings kept in memory and retried", "err", err,
					"failures", n, "buffered", st.Buffered, "dropped_total", st.Dropped)
			}
		}
	}
}

// Flush cuts and appends batches until nothing is queued. On an append
// error the batch's items go back to the front of the queue.
func (b *Batcher) Flush(ctx context.Context) error { return b.cut(ctx, true) }

// cut appends batches while a full one is queued, or, with all, until
// nothing is queued.
func (b *Batcher) cut(ctx context.Context, all bool) error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	for {
		b.mu.Lock()
		nk := min(len(b.keep), b.cfg.MaxReadings)
		nr := min(len(b.readings), b.cfg.MaxReadings-nk)
		ne := min(len(b.events), b.cfg.MaxReadings-nk-nr)
		if nk+nr+ne == 0 || (!all && nk+nr+ne < b.cfg.MaxReadings) {
			b.mu.Unlock()
			return nil
		}
		b.taking = nr
		rs := make([]reading.Reading, 0, nk+nr)
		rs = append(append(rs, b.keep[:nk]...), b.readings[:nr]...)
		es := append([]reading.Event(nil), b.events[:ne]...)
		b.mu.Unlock()
		_, err := b.sign.Store(ctx, b.out, rs, es)
		b.mu.Lock()
		b.taking = 0
		if err == nil {
			b.keep = b.keep[nk:]
			b.readings = b.readings[nr:]
			b.events = b.events[ne:]
		}
		b.mu.Unlock()
		if err != nil {
			return fmt.Errorf("batcher append %d readings, %d events: %w", nk+nr, ne, err)
		}
	}
}

// logLimiter lets a repeated log line through at most once per every,
// counting what it held back.
type logLimiter struct {
	every time.Duration
	now   func() time.Time
	last  time.Time
	n     int
}

// allow counts one occurrence and reports whether to log now, with the
// occurrences since the last line logged (this one included).
func (l *logLimiter) allow() (int, bool) {
	l.n++
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return 0, false
	}
	n := l.n
	l.last, l.n = now, 0
	return n, true
}
