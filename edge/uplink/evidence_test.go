package uplink

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// TestBatcherNeverDropsSnapshots: while the outbox refuses batches (disk
// full), the batcher's bounded memory drops plain readings first; a signed
// OCMF snapshot and events are never dropped to make room.
func TestBatcherNeverDropsSnapshots(t *testing.T) {
	out := newFakeAppender()
	out.failNext, out.failWith = 1, fmt.Errorf("wrapped: %w", outbox.ErrNoSpace)
	b, pub := newTestBatcher(t, BatcherConfig{MaxReadings: 100, MaxBuffered: 5, Clock: newFakeClock()}, out)
	ctx := context.Background()
	snap := reading.Reading{Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Device: "p01.meter", Point: "p01",
		Quantity: reading.QSnapshot, OCMF: `OCMF|{}|{}`, Session: "s-1"}
	b.Add(snap)
	if err := b.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded on a refusing outbox")
	}
	for i := 1; i <= 20; i++ {
		b.Add(rd(i))
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := out.open(t, 1, pub)
	if !slices.ContainsFunc(got.Readings, func(r reading.Reading) bool { return r.OCMF == snap.OCMF }) {
		t.Fatalf("the snapshot was dropped; stored %d readings: %v", len(got.Readings), values(got))
	}
}

// TestDefaultsBoundDelayAndBackoff: readings wait at most 1 s for their
// batch, and a reconnect waits at most 10 s.
func TestDefaultsBoundDelayAndBackoff(t *testing.T) {
	b, _ := newTestBatcher(t, BatcherConfig{}, newFakeAppender())
	if b.cfg.MaxDelay != time.Second {
		t.Errorf("default batch delay %s, want 1s", b.cfg.MaxDelay)
	}
	var c Config
	c.defaults()
	if c.MaxBackoff > 10*time.Second {
		t.Errorf("default reconnect backoff cap %s, want ≤ 10s", c.MaxBackoff)
	}
}

// TestUnsignedAckDeletesNothing: an ack without central's signature, as
// anyone on the broker can publish it, moves nothing.
func TestUnsignedAckDeletesNothing(t *testing.T) {
	b := startBroker(t)
	f := newFixture(t, "unsigned-p1")
	c := startCentral(t, b.url(), f.site, f.gw, f.pub)
	c.mu.Lock()
	c.ackOn = false
	c.mu.Unlock()
	log, logs := newLogSink(t)
	f.add(t, 10)
	f.run(t, f.withCentralKey(Config{Broker: b.url(), Log: log}))
	c.waitFor("all 10", 10*time.Second, func(c *central) bool { return c.contig == 10 })
	msg := fmt.Sprintf(`{"v":1,"gateway":%q,"seq":8}`, f.gw)
	if err := b.srv.Publish(reading.AckTopic(f.site), []byte(msg), false, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.up.Status().AcksIgnored[IgnoredUnsigned] == 0 {
		if time.Now().After(deadline) || f.box.Acked() != 0 {
			t.Fatalf("acked %d after an unsigned ack; log:\n%s", f.box.Acked(), strings.Join(logs(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := f.box.Acked(); got != 0 {
		t.Fatalf("an unsigned ack moved the acked head to %d", got)
	}
}
