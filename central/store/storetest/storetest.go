// Package storetest is the conformance suite every store.Store
// implementation runs: the same behaviour, checked the same way, on
// PostgreSQL and on SQLite.
package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// T0 is the time the suite's readings start at.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)

// Run runs the suite. open returns a new, empty, migrated store for each
// subtest; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SaveBatchIdempotent", testSaveBatchIdempotent},
		{"SaveBatchesOutcomes", testSaveBatchesOutcomes},
		{"SaveBatchesAtomicOnInvalid", testSaveBatchesAtomic},
		{"HighestContiguousSeq", testContiguous},
		{"ReadingsRoundTrip", testReadingsRoundTrip},
		{"ReadingsFilter", testReadingsFilter},
		{"Snapshots", testSnapshots},
		{"BatchKeepsSignedBytes", testBatchBytes},
		{"Gateways", testGateways},
		{"MeterKeys", testMeterKeys},
		{"Rejections", testRejections},
		{"Counts", testCounts},
		{"ConcurrentWriters", testConcurrent},
	}
	tests = append(tests, keyTests...)
	tests = append(tests, epochTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// Batch builds a batch of n readings (the first one an OCMF snapshot when
// ocmf is not empty) and the JSON body it travels as.
func Batch(gateway, site string, seq uint64, n int, ocmf string) (reading.Batch, []byte) {
	b := reading.Batch{
		Version: reading.CurrentVersion, Site: site, Gateway: gateway, Seq: seq,
		Sent: t0.Add(time.Duration(seq) * time.Second),
	}
	for i := range n {
		r := reading.Reading{
			Time:     t0.Add(time.Duration(seq)*time.Second + time.Duration(i)*time.Millisecond),
			Device:   fmt.Sprintf("meter-%d", i%3),
			Point:    fmt.Sprintf("cp-%d", i%3),
			Quantity: reading.QEnergyWh,
			Value:    int64(seq)*1000 + int64(i),
		}
		if i == 0 && ocmf != "" {
			r.Quantity, r.OCMF, r.Session = reading.QSnapshot, ocmf, "sess-1"
		}
		if i == 1 {
			r.Stale, r.Value = true, 0
		}
		b.Readings = append(b.Readings, r)
	}
	body, err := json.Marshal(b)
	if err != nil {
		panic(err) // a Batch of these fields always encodes
	}
	return b, body
}

func item(gateway, site string, seq uint64, n int) store.Item {
	b, body := Batch(gateway, site, seq, n, "")
	return store.Item{Gateway: gateway, Seq: seq, Batch: b, Body: body, Sig: []byte("sig-" + gateway)}
}

// changed returns it with other body bytes for the same (gateway, seq).
func changed(it store.Item) store.Item {
	it.Batch.Readings = slices.Clone(it.Batch.Readings)
	it.Batch.Readings[0].Value += 7
	body, err := json.Marshal(it.Batch)
	if err != nil {
		panic(err)
	}
	it.Body = body
	return it
}

func ctx(t *testing.T) context.Context { return t.Context() }

func save(t *testing.T, s store.Store, items ...store.Item) []store.Outcome {
	t.Helper()
	out, err := s.SaveBatches(ctx(t), items)
	if err != nil {
		t.Fatalf("SaveBatches: %v", err)
	}
	return out
}

func contiguous(t *testing.T, s store.Store, gw string) uint64 {
	t.Helper()
	n, err := s.HighestContiguousSeq(ctx(t), gw, "")
	if err != nil {
		t.Fatalf("HighestContiguousSeq(%q): %v", gw, err)
	}
	return n
}

func count(t *testing.T, s store.Store, f store.ReadingFilter) int64 {
	t.Helper()
	n, err := s.CountReadings(ctx(t), f)
	if err != nil {
		t.Fatalf("CountReadings: %v", err)
	}
	return n
}

func testSaveBatchIdempotent(t *testing.T, s store.Store) {
	it := item("gw-1", "site-a", 1, 5)
	stored, err := s.SaveBatch(ctx(t), it.Gateway, it.Seq, it.Batch, it.Body)
	if err != nil || !stored {
		t.Fatalf("first SaveBatch = %v, %v; want true, nil", stored, err)
	}
	stored, err = s.SaveBatch(ctx(t), it.Gateway, it.Seq, it.Batch, it.Body)
	if err != nil || stored {
		t.Fatalf("repeated SaveBatch = %v, %v; want false, nil", stored, err)
	}
	c := changed(it)
	stored, err = s.SaveBatch(ctx(t), c.Gateway, c.Seq, c.Batch, c.Body)
	if !errors.Is(err, store.ErrConflict) || stored {
		t.Fatalf("SaveBatch with other bytes = %v, %v; want false, ErrConflict", stored, err)
	}
	if n := count(t, s, store.ReadingFilter{}); n != 5 {
		t.Errorf("%d readings stored, want 5", n)
	}
	rs, err := s.Readings(ctx(t), store.ReadingFilter{Device: "meter-0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Value != 1000 {
		t.Errorf("meter-0 readings = %+v; want the first-stored values (1000, 1003)", rs)
	}
	if got := contiguous(t, s, "gw-1"); got != 1 {
		t.Errorf("contiguous = %d, want 1", got)
	}
}

func testSaveBatchesOutcomes(t *testing.T, s store.Store) {
	save(t, s, item("gw-1", "site-a", 1, 2), item("gw-1", "site-a", 2, 2))

	a3 := item("gw-1", "site-a", 3, 2)
	b1 := item("gw-2", "site-b", 1, 3)
	items := []store.Item{
		a3,                                    // new
		item("gw-1", "site-a", 1, 2),          // stored before, same bytes
		changed(item("gw-1", "site-a", 2, 2)), // stored before, other bytes
		b1,                                    // new, other gateway
		a3,                                    // repeat within the call
		changed(b1),                           // other bytes within the call
	}
	got := save(t, s, items...)
	want := []store.Outcome{store.Stored, store.Duplicate, store.Conflict, store.Stored, store.Duplicate, store.Conflict}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if n := count(t, s, store.ReadingFilter{}); n != 2+2+2+3 {
		t.Errorf("%d readings stored, want 9", n)
	}
	if got := contiguous(t, s, "gw-1"); got != 3 {
		t.Errorf("gw-1 contiguous = %d, want 3", got)
	}
	if got := contiguous(t, s, "gw-2"); got != 1 {
		t.Errorf("gw-2 contiguous = %d, want 1", got)
	}
	// The whole call again: nothing new.
	got = save(t, s, items...)
	want = []store.Outcome{store.Duplicate, store.Duplicate, store.Conflict, store.Duplicate, store.Duplicate, store.Conflict}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes of the repeated call (-want +got):\n%s", diff)
	}
	if got, err := s.SaveBatches(ctx(t), nil); err != nil || len(got) != 0 {
		t.Errorf("SaveBatches(nil) = %v, %v", got, err)
	}
}

func testSaveBatchesAtomic(t *testing.T, s store.Store) {
	good := item("gw-1", "site-a", 1, 2)
	bad := []struct {
		name string
		it   store.Item
	}{
		{"seq 0", func() store.Item { it := item("gw-1", "site-a", 2, 1); it.Seq, it.Batch.Seq = 0, 0; return it }()},
		{"gateway mismatch", func() store.Item { it := item("gw-1", "site-a", 2, 1); it.Gateway = "gw-9"; return it }()},
		{"seq mismatch", func() store.Item { it := item("gw-1", "site-a", 2, 1); it.Seq = 3; return it }()},
		{"seq beyond int64", func() store.Item {
			it := item("gw-1", "site-a", 2, 1)
			it.Seq, it.Batch.Seq = 1<<63, 1<<63
			return it
		}()},
		{"no body", func() store.Item { it := item("gw-1", "site-a", 2, 1); it.Body = nil; return it }()},
		{"no site", func() store.Item { it := item("gw-1", "", 2, 1); return it }()},
		{"NUL in a device", func() store.Item {
			it := item("gw-1", "site-a", 2, 1)
			it.Batch.Readings[0].Device = "m\x00"
			return it
		}()},
		{"NUL in an event attribute", func() store.Item {
			it := item("gw-1", "site-a", 2, 1)
			it.Batch.Events = []reading.Event{{Kind: "k", Attrs: map[string]string{"a": "\x00"}}}
			return it
		}()},
	}
	for _, b := range bad {
		if _, err := s.SaveBatches(ctx(t), []store.Item{good, b.it}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", b.name, err)
		}
	}
	if n := count(t, s, store.ReadingFilter{}); n != 0 {
		t.Errorf("%d readings stored after refused calls, want 0", n)
	}
	if got := contiguous(t, s, "gw-1"); got != 0 {
		t.Errorf("contiguous = %d, want 0", got)
	}
}

func testContiguous(t *testing.T, s store.Store) {
	if got := contiguous(t, s, "nobody"); got != 0 {
		t.Errorf("unknown gateway: %d, want 0", got)
	}
	steps := []struct {
		seqs []uint64
		want uint64
	}{
		{[]uint64{2}, 0}, // gap at 1
		{[]uint64{1, 4}, 2},
		{[]uint64{6, 5}, 2},
		{[]uint64{3}, 6},
		{[]uint64{3, 2}, 6}, // repeats
		{[]uint64{8, 9, 7}, 9},
	}
	for _, st := range steps {
		var items []store.Item
		for _, q := range st.seqs {
			items = append(items, item("gw-1", "site-a", q, 1))
		}
		save(t, s, items...)
		if got := contiguous(t, s, "gw-1"); got != st.want {
			t.Errorf("after storing %v: contiguous = %d, want %d", st.seqs, got, st.want)
		}
	}
}

func testReadingsRoundTrip(t *testing.T, s store.Store) {
	b, body := Batch("gw-1", "site-a", 1, 4, "OCMF|{}|{}")
	save(t, s, store.Item{Gateway: "gw-1", Seq: 1, Batch: b, Body: body, OCMFVerified: true})
	got, err := s.Readings(ctx(t), store.ReadingFilter{Gateway: "gw-1"})
	if err != nil {
		t.Fatal(err)
	}
	var want []store.StoredReading
	for i, r := range b.Readings {
		r.Time = store.UTC(r.Time)
		want = append(want, store.StoredReading{Gateway: "gw-1", Seq: 1, Index: i, Site: "site-a", Reading: r})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readings (-want +got):\n%s", diff)
	}
}

func testReadingsFilter(t *testing.T, s store.Store) {
	for q := uint64(1); q <= 4; q++ {
		save(t, s, item("gw-1", "site-a", q, 6), item("gw-2", "site-b", q, 3))
	}
	from := t0.Add(2 * time.Second)
	to := t0.Add(4 * time.Second)
	cases := []struct {
		name string
		f    store.ReadingFilter
		want int64
	}{
		{"all", store.ReadingFilter{}, 4*6 + 4*3},
		{"gateway", store.ReadingFilter{Gateway: "gw-2"}, 12},
		{"site", store.ReadingFilter{Site: "site-a"}, 24},
		{"device", store.ReadingFilter{Site: "site-a", Device: "meter-1"}, 8},
		{"point", store.ReadingFilter{Point: "cp-2"}, 8 + 4},
		{"quantity", store.ReadingFilter{Quantity: reading.QPowerW}, 0},
		{"time range", store.ReadingFilter{Gateway: "gw-1", From: from, To: to}, 12},
		{"session", store.ReadingFilter{Session: "none"}, 0},
	}
	for _, c := range cases {
		if got := count(t, s, c.f); got != c.want {
			t.Errorf("%s: CountReadings = %d, want %d", c.name, got, c.want)
		}
		rs, err := s.Readings(ctx(t), c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if int64(len(rs)) != c.want {
			t.Errorf("%s: %d readings, want %d", c.name, len(rs), c.want)
		}
		for _, r := range rs {
			if !c.f.From.IsZero() && (r.Time.Before(c.f.From) || !r.Time.Before(c.f.To)) {
				t.Errorf("%s: reading at %v outside [%v, %v)", c.name, r.Time, c.f.From, c.f.To)
			}
		}
	}
	rs, err := s.Readings(ctx(t), store.ReadingFilter{Gateway: "gw-1", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 {
		t.Fatalf("limit 5: %d readings", len(rs))
	}
	for i, r := range rs {
		if r.Seq != 1 || r.Index != i {
			t.Errorf("reading %d is seq %d index %d; want ordered by seq, index", i, r.Seq, r.Index)
		}
	}
}

func testSnapshots(t *testing.T, s store.Store) {
	b1, body1 := Batch("gw-1", "site-a", 1, 3, "OCMF|{\"a\":1}|{}")
	b2, body2 := Batch("gw-1", "site-a", 2, 3, "OCMF|{\"a\":2}|{}")
	save(t, s, store.Item{Gateway: "gw-1", Seq: 1, Batch: b1, Body: body1, OCMFVerified: true})
	if _, err := s.SaveBatch(ctx(t), "gw-1", 2, b2, body2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Snapshots(ctx(t), store.SnapshotFilter{Session: "sess-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Snapshot{
		{Gateway: "gw-1", Seq: 1, Index: 0, Site: "site-a", Meter: "meter-0", Session: "sess-1",
			Time: store.UTC(b1.Readings[0].Time), OCMF: "OCMF|{\"a\":1}|{}", Verified: true},
		{Gateway: "gw-1", Seq: 2, Index: 0, Site: "site-a", Meter: "meter-0", Session: "sess-1",
			Time: store.UTC(b2.Readings[0].Time), OCMF: "OCMF|{\"a\":2}|{}", Verified: false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshots (-want +got):\n%s", diff)
	}
	for _, f := range []store.SnapshotFilter{{Meter: "meter-1"}, {Site: "site-b"}, {Gateway: "gw-2"}} {
		if got, err := s.Snapshots(ctx(t), f); err != nil || len(got) != 0 {
			t.Errorf("Snapshots(%+v) = %d, %v; want none", f, len(got), err)
		}
	}
	if got, err := s.Snapshots(ctx(t), store.SnapshotFilter{Meter: "meter-0", Limit: 1}); err != nil || len(got) != 1 {
		t.Errorf("limit 1: %d snapshots, %v", len(got), err)
	}
}

func testBatchBytes(t *testing.T, s store.Store) {
	it := item("gw-1", "site-a", 7, 2)
	it.Batch.Events = []reading.Event{{Time: t0, Kind: "alarm", Device: "fire-1", Message: "loop open", Attrs: map[string]string{"k": "v"}}}
	body, _ := json.Marshal(it.Batch)
	it.Body = append(body, ' ') // any bytes: the store keeps them exactly
	save(t, s, it)
	got, err := s.Batch(ctx(t), "gw-1", "", 7)
	if err != nil {
		t.Fatal(err)
	}
	want := store.StoredBatch{
		Gateway: "gw-1", Seq: 7, Site: "site-a", Version: reading.CurrentVersion,
		Sent: store.UTC(it.Batch.Sent), Body: it.Body, BodySHA256: sha256.Sum256(it.Body), Sig: it.Sig,
		Readings: 2, Events: 1,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.StoredBatch{}, "Received")); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
	if got.Received.IsZero() {
		t.Error("Received not set")
	}
	if _, err := s.Batch(ctx(t), "gw-1", "", 8); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing batch: err = %v, want ErrNotFound", err)
	}
}

func key(b byte) ed25519.PublicKey {
	k := make(ed25519.PublicKey, ed25519.PublicKeySize)
	for i := range k {
		k[i] = b
	}
	return k
}

func testGateways(t *testing.T, s store.Store) {
	if _, err := s.GatewayKey(ctx(t), "gw-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown gateway: err = %v, want ErrNotFound", err)
	}
	if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)}); err != nil {
		t.Fatal(err)
	}
	g, err := s.Gateway(ctx(t), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)}, g,
		cmpopts.IgnoreFields(store.Gateway{}, "Enrolled", "Keys")); diff != "" || g.Enrolled.IsZero() || len(g.Keys) != 1 {
		t.Errorf("gateway (-want +got):\n%s (enrolled %v)", diff, g.Enrolled)
	}
	// Re-enrolling the same is a no-op; a new key replaces the old.
	if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(2)}); err != nil {
		t.Fatal(err)
	}
	k, err := s.GatewayKey(ctx(t), "gw-1")
	if err != nil || !k.Equal(key(2)) {
		t.Errorf("key after rotation = %x, %v; want %x", k, err, key(2))
	}
	for _, bad := range []store.Gateway{
		{ID: "", Site: "s", PublicKey: key(1)},
		{ID: "g", Site: "", PublicKey: key(1)},
		{ID: "g", Site: "s", PublicKey: key(1)[:31]},
	} {
		if err := s.EnrollGateway(ctx(t), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("EnrollGateway(%q, %q, %d-byte key) = %v, want ErrInvalid", bad.ID, bad.Site, len(bad.PublicKey), err)
		}
	}
}

func testMeterKeys(t *testing.T, s store.Store) {
	if _, err := s.MeterKey(ctx(t), "site-a", "meter-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown meter: err = %v, want ErrNotFound", err)
	}
	for _, k := range []string{"3059aa", "3059bb"} {
		if err := s.SetMeterKey(ctx(t), store.MeterKey{Site: "site-a", Device: "meter-1", PublicKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	k, err := s.MeterKey(ctx(t), "site-a", "meter-1")
	if err != nil || k.PublicKey != "3059bb" || k.Updated.IsZero() || k.Site != "site-a" || k.Device != "meter-1" {
		t.Errorf("MeterKey = %+v, %v; want the replaced key 3059bb", k, err)
	}
	if _, err := s.MeterKey(ctx(t), "site-b", "meter-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("meter of another site: err = %v, want ErrNotFound", err)
	}
	if err := s.SetMeterKey(ctx(t), store.MeterKey{Site: "site-a", Device: "meter-1"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty key: err = %v, want ErrInvalid", err)
	}
}

func testRejections(t *testing.T, s store.Store) {
	big := make([]byte, store.MaxRejectionHead+10)
	rs := []store.Rejection{
		store.NewRejection("parkgrid/v1/site-a/up/batch", "gw-1", 3, "signature", "gateway signature does not verify", []byte("{...}")),
		store.NewRejection("parkgrid/v1/site-a/up/batch", "", 0, "oversized", "too big", big),
		store.NewRejection("parkgrid/v1/site-a/up/batch", "gw-1", 1<<63, "conflict", "", []byte("x")),
		{Topic: "t", Gateway: "gw\x00\xff", Reason: "malformed", Detail: "bad \xff\x00 bytes"},
	}
	if err := s.RecordRejections(ctx(t), rs); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRejections(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rejections(ctx(t), store.RejectionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rs[2].Seq = 0 // beyond the stored range: kept as unknown
	rs[3] = rs[3].Clean()
	if rs[3].Gateway != "gw\uFFFD\uFFFD" || rs[3].Detail != "bad \uFFFD\uFFFD bytes" {
		t.Errorf("Clean: gateway %q, detail %q", rs[3].Gateway, rs[3].Detail)
	}
	// bytes.Equal for the messages (megabytes; cmp would walk them byte by
	// byte), which also equates nil and empty.
	if diff := cmp.Diff(rs, got, cmpopts.IgnoreFields(store.Rejection{}, "ID", "Received"), cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("rejections (-want +got):\n%s", diff)
	}
	if len(got) == 3 && (got[0].ID >= got[1].ID || got[0].Received.IsZero() || len(got[1].Head) != store.MaxRejectionHead || got[1].Size != len(big)) {
		t.Errorf("ids %d, %d; received %v; head %d bytes of %d", got[0].ID, got[1].ID, got[0].Received, len(got[1].Head), got[1].Size)
	}
	for _, c := range []struct {
		f    store.RejectionFilter
		want int
	}{
		{store.RejectionFilter{Gateway: "gw-1"}, 2},
		{store.RejectionFilter{Reason: "oversized"}, 1},
		{store.RejectionFilter{Reason: "malformed"}, 1},
		{store.RejectionFilter{Gateway: "gw-1", Reason: "oversized"}, 0},
		{store.RejectionFilter{Limit: 1}, 1},
	} {
		if got, err := s.Rejections(ctx(t), c.f); err != nil || len(got) != c.want {
			t.Errorf("Rejections(%+v) = %d, %v; want %d", c.f, len(got), err, c.want)
		}
	}
}

func testCounts(t *testing.T, s store.Store) {
	b, body := Batch("gw-1", "site-a", 1, 4, "OCMF|{}|{}")
	b.Events = []reading.Event{{Time: t0, Kind: "trip"}, {Time: t0, Kind: "reset"}}
	save(t, s, store.Item{Gateway: "gw-1", Seq: 1, Batch: b, Body: body}, item("gw-1", "site-a", 2, 3))
	if err := s.RecordRejections(ctx(t), []store.Rejection{store.NewRejection("t", "g", 0, "malformed", "", nil)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Counts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := store.Counts{Batches: 2, Readings: 7, Snapshots: 1, Events: 2, Rejections: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// testConcurrent stores the same batches from several writers at once, in
// different orders and groups, as replicas behind a shared subscription do
// after redeliveries: every batch is stored exactly once and the contiguous
// seq of each gateway ends at the top.
func testConcurrent(t *testing.T, s store.Store) {
	const (
		writers  = 4
		gateways = 3
		seqs     = 30
		group    = 8
	)
	var all []store.Item
	for q := uint64(1); q <= seqs; q++ {
		for g := range gateways {
			all = append(all, item(fmt.Sprintf("gw-%d", g), "site-a", q, 2))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	stored := make([]int, writers)
	for w := range writers {
		order := make([]store.Item, 0, len(all))
		for i := range all {
			order = append(order, all[(i+w*17)%len(all)])
		}
		if w%2 == 1 {
			slices.Reverse(order)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range slices.Chunk(order, group) {
				out, err := s.SaveBatches(ctx(t), chunk)
				if err != nil {
					errs <- err
					return
				}
				for _, o := range out {
					if o == store.Stored {
						stored[w]++
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent SaveBatches: %v", err)
	}
	total := 0
	for _, n := range stored {
		total += n
	}
	c, err := s.Counts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if total != len(all) || c.Batches != int64(len(all)) || c.Readings != 2*int64(len(all)) {
		t.Errorf("writers stored %d batches; store holds %d batches, %d readings; want %d, %d",
			total, c.Batches, c.Readings, len(all), 2*len(all))
	}
	for g := range gateways {
		gw := fmt.Sprintf("gw-%d", g)
		if got := contiguous(t, s, gw); got != seqs {
			t.Errorf("%s: contiguous = %d, want %d", gw, got, seqs)
		}
	}
}
