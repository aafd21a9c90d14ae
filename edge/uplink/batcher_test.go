package uplink

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// fakeAppender stores payloads in memory; failNext makes the next appends
// fail.
type fakeAppender struct {
	mu       sync.Mutex // protects the fields below
	records  [][]byte
	failNext int
	failWith error
	got      chan uint64
}

func newFakeAppender() *fakeAppender { return &fakeAppender{got: make(chan uint64, 100)} }

func (a *fakeAppender) Append(_ context.Context, payload func(uint64) ([]byte, error)) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failNext > 0 {
		a.failNext--
		return 0, a.failWith
	}
	seq := uint64(len(a.records) + 1)
	b, err := payload(seq)
	if err != nil {
		return 0, err
	}
	a.records = append(a.records, b)
	a.got <- seq
	return seq, nil
}

var _ Appender = (*outbox.Outbox)(nil)

func (a *fakeAppender) wait(t *testing.T) uint64 {
	t.Helper()
	select {
	case s := <-a.got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no batch appended")
		return 0
	}
}

// advanceUntilAppended moves the clock by step, waiting for the next After
// call between steps, until a batch is appended.
func advanceUntilAppended(t *testing.T, clock *fakeClock, out *fakeAppender, step time.Duration) {
	t.Helper()
	for drained := false; !drained; { // forget After calls made before now
		select {
		case <-clock.added:
		default:
			drained = true
		}
	}
	deadline := time.After(5 * time.Second)
	for {
		clock.Advance(step)
		select {
		case <-out.got:
			return
		case <-clock.added:
			// The batcher appends before it re-arms, so a cut shows here.
			select {
			case <-out.got:
				return
			default:
			}
		case <-deadline:
			t.Fatal("no batch appended")
		}
	}
}

// open verifies and decodes stored batch seq.
func (a *fakeAppender) open(t *testing.T, seq uint64, pub ed25519.PublicKey) reading.Batch {
	t.Helper()
	a.mu.Lock()
	msg := a.records[seq-1]
	a.mu.Unlock()
	b, _, err := reading.Open(msg, func(string) (ed25519.PublicKey, error) { return pub, nil })
	if err != nil {
		t.Fatalf("batch %d: %v", seq, err)
	}
	if b.Seq != seq {
		t.Fatalf("batch stored as seq %d carries seq %d", seq, b.Seq)
	}
	return b
}

func rd(i int) reading.Reading {
	return reading.Reading{Time: time.Date(2026, 11, 25, 10, 0, i, 0, time.UTC), Device: "m1", Quantity: reading.QEnergyWh, Value: int64(i)}
}

func values(b reading.Batch) []int64 {
	var v []int64
	for _, r := range b.Readings {
		v = append(v, r.Value)
	}
	return v
}

func newTestBatcher(t *testing.T, cfg BatcherConfig, out Appender) (*Batcher, ed25519.PublicKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	cfg.Site, cfg.Gateway, cfg.Key = "p1", "gw-1", priv
	b, err := NewBatcher(cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	return b, pub
}

func runBatcher(t *testing.T, b *Batcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestBatcherCutsByCountAndTime(t *testing.T) {
	clock := newFakeClock()
	out := newFakeAppender()
	b, pub := newTestBatcher(t, BatcherConfig{MaxReadings: 3, MaxDelay: 10 * time.Second, Clock: clock}, out)
	stop := runBatcher(t, b)
	clock.waitTimer(t)
	for i := 1; i <= 7; i++ {
		b.Add(rd(i))
	}
	out.wait(t)
	out.wait(t)
	b.AddEvent(reading.Event{Time: clock.Now(), Kind: "alarm.fire", Message: "loop open"})
	// The batcher re-arms its timer after each cut, and how many cuts the
	// seven readings took is up to the scheduler: advance until the timer
	// that is armed now fires and the rest is cut.
	advanceUntilAppended(t, clock, out, 10*time.Second)
	for seq, want := range [][]int64{{1, 2, 3}, {4, 5, 6}, {7}} {
		got := out.open(t, uint64(seq+1), pub)
		if diff := cmp.Diff(want, values(got)); diff != "" {
			t.Errorf("batch %d readings (-want +got):\n%s", seq+1, diff)
		}
		if got.Site != "p1" || got.Gateway != "gw-1" || got.Version != reading.CurrentVersion {
			t.Errorf("batch %d header %+v", seq+1, got)
		}
	}
	if ev := out.open(t, 3, pub).Events; len(ev) != 1 || ev[0].Kind != "alarm.fire" {
		t.Errorf("batch 3 events %+v", ev)
	}
	if sent := out.open(t, 3, pub).Sent; !sent.Equal(clock.Now()) {
		t.Errorf("batch 3 sent %v, want the clock's %v", sent, clock.Now())
	}
	b.Add(rd(8))
	stop() // flushes the rest
	if got := values(out.open(t, 4, pub)); !slices.Equal(got, []int64{8}) {
		t.Errorf("final flush %v", got)
	}
}

func TestBatcherKeepsReadingsWhenOutboxRefuses(t *testing.T) {
	out := newFakeAppender()
	out.failNext, out.failWith = 2, fmt.Errorf("wrapped: %w", outbox.ErrFull)
	log, logs := newLogSink(t)
	b, pub := newTestBatcher(t, BatcherConfig{MaxReadings: 10, MaxBuffered: 5, Clock: newFakeClock(), Log: log}, out)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		b.Add(rd(i))
	}
	if err := b.Flush(ctx); !errors.Is(err, outbox.ErrFull) {
		t.Fatalf("Flush = %v, want ErrFull", err)
	}
	for i := 4; i <= 8; i++ {
		b.Add(rd(i)) // 8 held, bound 5: the 3 oldest go
	}
	if err := b.Flush(ctx); !errors.Is(err, outbox.ErrFull) {
		t.Fatalf("second Flush = %v, want ErrFull", err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := values(out.open(t, 1, pub)); !slices.Equal(got, []int64{4, 5, 6, 7, 8}) {
		t.Fatalf("stored %v, want the 5 newest in order", got)
	}
	if st := b.Stats(); st.Dropped != 3 || st.Sampled != 8 {
		t.Fatalf("stats %+v, want 3 dropped of 8 sampled (log: %v)", st, logs())
	}
}

func TestBatcherWithOutbox(t *testing.T) {
	box := openBox(t)
	b, pub := newTestBatcher(t, BatcherConfig{MaxReadings: 2, Clock: newFakeClock()}, box)
	for i := 1; i <= 5; i++ {
		b.Add(rd(i))
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := box.ReadFrom(1, 10)
	if err != nil || len(recs) != 3 {
		t.Fatalf("outbox holds %d records (%v), want 3", len(recs), err)
	}
	for _, r := range recs {
		got, _, err := reading.Open(r.Data, func(string) (ed25519.PublicKey, error) { return pub, nil })
		if err != nil || got.Seq != r.Seq {
			t.Fatalf("record %d: seq %d, %v", r.Seq, got.Seq, err)
		}
	}
}

func TestNewBatcherChecksConfig(t *testing.T) {
	if _, err := NewBatcher(BatcherConfig{Site: "p1", Gateway: "gw"}, newFakeAppender()); err == nil {
		t.Fatal("accepted a config without a key")
	}
}
