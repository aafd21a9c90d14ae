package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// epochTests are the conformance tests of outbox epochs and gap records
// (contract v2, issue 12).
var epochTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"EpochsAreSeparateStreams", testEpochs},
	{"GapRecordsAdvanceContiguous", testGapRecords},
	{"Progress", testProgress},
}

const (
	epochA = "0123456789abcdef0123456789abcdef"
	epochB = "fedcba9876543210fedcba9876543210"
)

// epochItem is item in an epoch.
func epochItem(gateway, epoch string, seq uint64, n int) store.Item {
	it := item(gateway, "site-a", seq, n)
	it.Batch.Epoch = epoch
	body, err := json.Marshal(it.Batch)
	if err != nil {
		panic(err)
	}
	it.Body = body
	return it
}

// gapItem is a gap record of epoch declaring from..to lost.
func gapItem(gateway, epoch string, seq, from, to uint64) store.Item {
	b := reading.Batch{Version: reading.CurrentVersion, Site: "site-a", Gateway: gateway, Epoch: epoch, Seq: seq,
		Sent: t0.Add(time.Duration(seq) * time.Second), Gap: &reading.Gap{From: from, To: to, Reason: reading.GapCorrupt, Detail: "bad CRC"}}
	body, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return store.Item{Gateway: gateway, Seq: seq, Batch: b, Body: body}
}

func contiguousIn(t *testing.T, s store.Store, gw, epoch string) uint64 {
	t.Helper()
	n, err := s.HighestContiguousSeq(ctx(t), gw, epoch)
	if err != nil {
		t.Fatalf("HighestContiguousSeq(%q, %q): %v", gw, epoch, err)
	}
	return n
}

// testEpochs: a new outbox (epoch) starts at seq 1 again; its batches are
// new data, stored beside the old epoch's, never duplicates or conflicts.
func testEpochs(t *testing.T, s store.Store) {
	var items []store.Item
	for q := uint64(1); q <= 3; q++ {
		items = append(items, item("gw-1", "site-a", q, 2), epochItem("gw-1", epochA, q, 3))
	}
	out := save(t, s, items...)
	for i, o := range out {
		if o != store.Stored {
			t.Errorf("item %d: %v, want stored", i, o)
		}
	}
	// The same seqs in a third epoch, and repeats of the second.
	out = save(t, s, epochItem("gw-1", epochB, 1, 1), epochItem("gw-1", epochA, 2, 3), changed(epochItem("gw-1", epochA, 3, 3)))
	if diff := cmp.Diff([]store.Outcome{store.Stored, store.Duplicate, store.Conflict}, out); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		epoch string
		want  uint64
	}{{"", 3}, {epochA, 3}, {epochB, 1}, {"ffffffffffffffffffffffffffffffff", 0}} {
		if got := contiguousIn(t, s, "gw-1", c.epoch); got != c.want {
			t.Errorf("epoch %q: contiguous %d, want %d", c.epoch, got, c.want)
		}
	}
	b, err := s.Batch(ctx(t), "gw-1", epochA, 2)
	if err != nil || b.Epoch != epochA || b.Readings != 3 {
		t.Fatalf("Batch(epoch A, 2) = %+v, %v", b, err)
	}
	if b, err := s.Batch(ctx(t), "gw-1", "", 2); err != nil || b.Epoch != "" || b.Readings != 2 {
		t.Fatalf("Batch(legacy epoch, 2) = %+v, %v", b, err)
	}
	rs, err := s.Readings(ctx(t), store.ReadingFilter{Gateway: "gw-1"})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, r := range rs {
		per[r.Epoch]++
	}
	if diff := cmp.Diff(map[string]int{"": 6, epochA: 9, epochB: 1}, per); diff != "" {
		t.Errorf("readings per epoch (-want +got):\n%s", diff)
	}
}

// testGapRecords: seqs a gap record declares lost count as accounted for,
// so the contiguous seq (what central acks) moves past them once the gap
// record is stored, and not before.
func testGapRecords(t *testing.T, s store.Store) {
	var items []store.Item
	for _, q := range []uint64{1, 2, 5, 6, 7} { // 3 and 4 damaged on the edge
		items = append(items, epochItem("gw-1", epochA, q, 1))
	}
	save(t, s, items...)
	if got := contiguousIn(t, s, "gw-1", epochA); got != 2 {
		t.Fatalf("contiguous %d before the gap record, want 2", got)
	}
	// The gap record of 3..4, at seq 9; 8 is still on its way.
	save(t, s, gapItem("gw-1", epochA, 9, 3, 4))
	if got := contiguousIn(t, s, "gw-1", epochA); got != 7 {
		t.Fatalf("contiguous %d after the gap record, want 7 (8 missing)", got)
	}
	save(t, s, epochItem("gw-1", epochA, 8, 1))
	if got := contiguousIn(t, s, "gw-1", epochA); got != 9 {
		t.Fatalf("contiguous %d, want 9", got)
	}
	// A gap record over a seq that is stored after all changes nothing
	// stored; a redelivered gap record is a duplicate.
	out := save(t, s, gapItem("gw-1", epochA, 10, 8, 8), gapItem("gw-1", epochA, 9, 3, 4))
	if diff := cmp.Diff([]store.Outcome{store.Stored, store.Duplicate}, out); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if got := contiguousIn(t, s, "gw-1", epochA); got != 10 {
		t.Fatalf("contiguous %d, want 10", got)
	}
	epoch := epochA
	gaps, err := s.Gaps(ctx(t), "gw-1", &epoch)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Gap{
		{Stream: store.Stream{Gateway: "gw-1", Epoch: epochA}, Seq: 9, From: 3, To: 4, Reason: reading.GapCorrupt, Detail: "bad CRC"},
		{Stream: store.Stream{Gateway: "gw-1", Epoch: epochA}, Seq: 10, From: 8, To: 8, Reason: reading.GapCorrupt, Detail: "bad CRC"},
	}
	if diff := cmp.Diff(want, gaps, cmpopts.IgnoreFields(store.Gap{}, "Received")); diff != "" {
		t.Errorf("gaps (-want +got):\n%s", diff)
	}
	if all, err := s.Gaps(ctx(t), "gw-1", nil); err != nil || len(all) != 2 {
		t.Errorf("Gaps(all epochs) = %d, %v", len(all), err)
	}
}

// testProgress: per gateway and epoch, what is held and what was declared
// lost.
func testProgress(t *testing.T, s store.Store) {
	save(t, s, epochItem("gw-1", epochA, 1, 1), epochItem("gw-1", epochA, 2, 1), epochItem("gw-1", epochA, 4, 1),
		gapItem("gw-1", epochA, 5, 3, 3), item("gw-2", "site-a", 1, 1))
	save(t, s, epochItem("gw-1", epochA, 2, 1)) // a repeat: seen, not held twice
	ps, err := s.Progress(ctx(t), store.ProgressFilter{Gateway: "gw-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Progress{{Stream: store.Stream{Gateway: "gw-1", Epoch: epochA}, Contiguous: 5, MaxSeq: 5, Held: 4, Declared: 1, GapRecords: 1}}
	if diff := cmp.Diff(want, ps, cmpopts.IgnoreFields(store.Progress{}, "FirstSeen", "LastSeen")); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if len(ps) == 1 && (ps[0].FirstSeen.IsZero() || ps[0].LastSeen.Before(ps[0].FirstSeen)) {
		t.Errorf("first seen %v, last seen %v", ps[0].FirstSeen, ps[0].LastSeen)
	}
	all, err := s.Progress(ctx(t), store.ProgressFilter{})
	if err != nil || len(all) != 2 || all[1].Gateway != "gw-2" || all[1].Held != 1 || all[1].Contiguous != 1 {
		t.Errorf("Progress(all) = %+v, %v", all, err)
	}
}
