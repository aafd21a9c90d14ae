package uplink

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	Key     ed25519.PrivateKey
	// MaxReadings: a batch is cut when readings plus events reach it
	// (default 500).
	MaxReadings int
	// MaxDelay: a batch is cut at the latest this long after the previous
	// cut (default 5 s).
	MaxDelay time.Duration
	// MaxBuffered bounds the readings held while the outbox refuses them
	// (full disk, cap reached); beyond it the oldest are dropped and
	// counted (default 100 × MaxReadings).
	MaxBuffered int
	Clock       Clock
	Log         *slog.Logger
}

// Batcher cuts readings and events into signed batches and appends them.
type Batcher struct {
	cfg  BatcherConfig
	out  Appender
	log  *slog.Logger
	full chan struct{} // a batch's worth is waiting

	flushMu sync.Mutex // one Flush at a time

	mu       sync.Mutex // protects the fields below
	readings []reading.Reading
	events   []reading.Event
	taking   int // readings at the front that a Flush is appending
	dropped  int
}

// NewBatcher checks cfg; out receives the sealed batches.
func NewBatcher(cfg BatcherConfig, out Appender) (*Batcher, error) {
	var errs []error
	if cfg.Site == "" || cfg.Gateway == "" {
		errs = append(errs, fmt.Errorf("batcher site %q / gateway %q: both required", cfg.Site, cfg.Gateway))
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		errs = append(errs, fmt.Errorf("batcher key: %d bytes, want an Ed25519 private key", len(cfg.Key)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxReadings <= 0 {
		cfg.MaxReadings = 500
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 5 * time.Second
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = 100 * cfg.MaxReadings
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Batcher{cfg: cfg, out: out, log: cfg.Log.With("site", cfg.Site), full: make(chan struct{}, 1)}, nil
}

// Add queues a reading for the next batch. It never blocks on I/O.
func (b *Batcher) Add(r reading.Reading) {
	b.mu.Lock()
	b.readings = append(b.readings, r)
	if over := min(len(b.readings)-b.cfg.MaxBuffered, len(b.readings)-b.taking); over > 0 {
		// Drop the oldest, but not the ones being stored right now.
		b.readings = append(b.readings[:b.taking], b.readings[b.taking+over:]...)
		b.dropped += over
	}
	n := len(b.readings) + len(b.events)
	b.mu.Unlock()
	if n >= b.cfg.MaxReadings {
		b.signalFull()
	}
}

// AddEvent queues an event for the next batch. Events are never dropped.
func (b *Batcher) AddEvent(e reading.Event) {
	b.mu.Lock()
	b.events = append(b.events, e)
	n := len(b.readings) + len(b.events)
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
			b.log.Error("batcher: batch not stored; kept for the next try", "err", err)
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
		nr := min(len(b.readings), b.cfg.MaxReadings)
		ne := min(len(b.events), b.cfg.MaxReadings-nr)
		dropped := b.dropped
		b.dropped = 0
		if nr+ne == 0 || (!all && nr+ne < b.cfg.MaxReadings) {
			b.mu.Unlock()
			b.logDropped(dropped)
			return nil
		}
		b.taking = nr
		rs := append([]reading.Reading(nil), b.readings[:nr]...)
		es := append([]reading.Event(nil), b.events[:ne]...)
		b.mu.Unlock()
		b.logDropped(dropped)
		_, err := b.out.Append(ctx, func(seq uint64) ([]byte, error) {
			return reading.Seal(reading.Batch{
				Version:  reading.CurrentVersion,
				Site:     b.cfg.Site,
				Gateway:  b.cfg.Gateway,
				Seq:      seq,
				Sent:     b.cfg.Clock.Now().UTC(),
				Readings: rs,
				Events:   es,
			}, b.cfg.Key)
		})
		b.mu.Lock()
		b.taking = 0
		if err == nil {
			b.readings = b.readings[nr:]
			b.events = b.events[ne:]
		}
		b.mu.Unlock()
		if err != nil {
			return fmt.Errorf("batcher append %d readings, %d events: %w", nr, ne, err)
		}
	}
}

func (b *Batcher) logDropped(n int) {
	if n > 0 {
		b.log.Error("batcher dropped readings: the outbox refused batches for too long", "dropped", n)
	}
}
