package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// ---------------------------------------------------------------------------
// The check.

// exactlyOnce is what checkExactlyOnce found.
type exactlyOnce struct {
	Batches, Readings, Events, Snapshots, MeterKeyEvents int
}

// checkExactlyOnce checks central's store against an edge whose outbox head
// is head and whose every publish the tap saw:
//
//   - seqs 1..head are stored for the gateway, nothing above head, and
//     HighestContiguousSeq == head: nothing lost, nothing invented;
//   - every stored body verifies with the gateway key and its stored
//     signature, names its own seq, and is byte for byte the body published
//     for that seq (the tap saw each seq with one body only, and saw them
//     all): the content is what the edge signed, once;
//   - the store's row counts equal the sums over the stored bodies, so no
//     reading, event or snapshot is stored twice or missing;
//   - no reading appears in two batches;
//   - central rejected nothing.
func checkExactlyOnce(t *testing.T, st store.Store, f *edgeFiles, head uint64, tap *wireTap) exactlyOnce {
	t.Helper()
	return checkStreams(t, st, f, []stream{{epoch: f.Epoch, head: head}}, tap)
}

// stream is one outbox epoch of the edge as checkStreams sees it: its head,
// and the seqs its gap records declared lost (never stored, accounted for).
type stream struct {
	epoch string
	head  uint64
	lost  map[uint64]bool
}

// checkStreams is checkExactlyOnce over several epochs of the gateway,
// each with the seqs declared lost in it.
func checkStreams(t *testing.T, st store.Store, f *edgeFiles, streams []stream, tap *wireTap) exactlyOnce {
	t.Helper()
	ctx := context.Background()
	var res exactlyOnce
	type readingKey struct {
		device, point, q, session string
		t                         int64
		v                         int64
	}
	seen := map[readingKey]uint64{}
	dups := 0
	if tap != nil {
		tap.mu.Lock()
		defer tap.mu.Unlock()
		for _, c := range tap.conflicts {
			t.Error(c)
		}
		for _, b := range tap.bad[:min(len(tap.bad), 5)] {
			t.Errorf("published message does not open: %s", b)
		}
	}
	for _, sm := range streams {
		head := sm.head
		if head == 0 {
			t.Fatalf("epoch %q: the edge appended no batch at all", sm.epoch)
		}
		hc, err := st.HighestContiguousSeq(ctx, f.Gateway, sm.epoch)
		if err != nil {
			t.Fatal(err)
		}
		if hc != head {
			t.Errorf("epoch %q: central's highest contiguous seq is %d, the edge's outbox head %d", sm.epoch, hc, head)
		}
		if _, err := st.Batch(ctx, f.Gateway, sm.epoch, head+1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("epoch %q: batch %d (beyond the outbox head): %v, want not found", sm.epoch, head+1, err)
		}
		for seq := uint64(1); seq <= head; seq++ {
			sb, err := st.Batch(ctx, f.Gateway, sm.epoch, seq)
			if sm.lost[seq] {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("epoch %q: batch %d was declared lost but is stored (%v)", sm.epoch, seq, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("epoch %q: batch %d: %v", sm.epoch, seq, err)
				continue
			}
			res.Batches++
			if !ed25519.Verify(f.Pub, sb.Body, sb.Sig) {
				t.Errorf("batch %d: stored body does not verify with the gateway key", seq)
			}
			if sha256.Sum256(sb.Body) != sb.BodySHA256 {
				t.Errorf("batch %d: stored hash does not match the stored body", seq)
			}
			if tap != nil {
				if h, ok := tap.bodies[tapKey{sm.epoch, seq}]; !ok {
					t.Errorf("batch %d is stored but the tap never saw it published", seq)
				} else if h != sb.BodySHA256 {
					t.Errorf("batch %d: stored body differs from the body published", seq)
				}
			}
			b, err := reading.Decode(sb.Body)
			if err != nil {
				t.Errorf("batch %d: %v", seq, err)
				continue
			}
			if b.Seq != seq || b.Gateway != f.Gateway || b.Site != f.Site || b.Epoch != sm.epoch {
				t.Errorf("stored as %d: body says gateway %q site %q epoch %q seq %d", seq, b.Gateway, b.Site, b.Epoch, b.Seq)
			}
			if sb.Readings != len(b.Readings) || sb.Events != len(b.Events) {
				t.Errorf("batch %d: stored counts %d readings %d events, body has %d and %d", seq, sb.Readings, sb.Events, len(b.Readings), len(b.Events))
			}
			res.Readings += len(b.Readings)
			res.Events += len(b.Events)
			for _, r := range b.Readings {
				if r.OCMF != "" {
					res.Snapshots++
				}
				k := readingKey{r.Device, r.Point, r.Quantity, r.Session, r.Time.UnixNano(), r.Value}
				if prev, ok := seen[k]; ok && prev != seq {
					if dups++; dups <= 5 {
						t.Errorf("reading %+v is in batch %d and batch %d", r, prev, seq)
					}
				}
				seen[k] = seq
			}
			for _, e := range b.Events {
				if e.Kind == "meter-key" {
					res.MeterKeyEvents++
					if want, ok := f.Meters[e.Attrs["device"]]; ok && !strings.EqualFold(e.Attrs["pubkey"], want) {
						t.Errorf("batch %d: meter-key event of %s carries %s, the simulator's meter key is %s", seq, e.Attrs["device"], e.Attrs["pubkey"], want)
					}
				}
			}
		}
		if tap != nil {
			for k := range tap.bodies {
				if k.epoch == sm.epoch && k.seq > head {
					t.Errorf("epoch %q: seq %d was published but is beyond the outbox head %d", sm.epoch, k.seq, head)
				}
			}
		}
	}
	if dups > 5 {
		t.Errorf("… %d readings in two batches in all", dups)
	}
	n, err := st.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Counts{Batches: int64(res.Batches), Readings: int64(res.Readings), Snapshots: int64(res.Snapshots), Events: int64(res.Events),
		Rejections: n.Rejections}
	if n != want {
		t.Errorf("store counts %+v, the stored bodies hold %+v", n, want)
	}
	if cr, err := st.CountReadings(ctx, store.ReadingFilter{Gateway: f.Gateway}); err != nil || cr != int64(res.Readings) {
		t.Errorf("CountReadings(gateway) = %d, %v; want %d", cr, err, res.Readings)
	}
	// Central rejected nothing of this gateway. On a shared Mosquitto it may
	// have rejected other tests' batches (central's share group is fixed):
	// those are only logged.
	rej, err := st.Rejections(ctx, store.RejectionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	foreign := map[string]int{}
	for _, r := range rej {
		if r.Gateway == f.Gateway {
			t.Errorf("central rejected seq %d of the gateway: %s: %s", r.Seq, r.Reason, r.Detail)
			continue
		}
		foreign[r.Gateway+" ("+r.Reason+")"]++
	}
	if len(foreign) > 0 {
		t.Logf("central also received and rejected other gateways' batches (crosstalk on a shared broker): %v", foreign)
	}
	return res
}

// String is a one-line account for the test log.
func (r exactlyOnce) String() string {
	return fmt.Sprintf("%d batches, %d readings (%d OCMF snapshots), %d events (%d meter-key)",
		r.Batches, r.Readings, r.Snapshots, r.Events, r.MeterKeyEvents)
}
