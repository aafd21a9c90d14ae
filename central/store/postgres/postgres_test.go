package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/central/store/storetest"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestConformance runs the suite with one database and a fresh schema per
// subtest (creating a database per subtest costs about a second each).
func TestConformance(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		schema := fmt.Sprintf("conformance_%d", n)
		if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(t.Context(), dsn+"&search_path="+schema, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen applies the migrations once, also when two replicas start at
// the same time against an empty database.
func TestReopen(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	errs := make(chan error, 2)
	stores := make(chan *postgres.Store, 2)
	for range 2 {
		go func() {
			s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
			errs <- err
			stores <- s
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
		s := <-stores
		s.Close()
	}
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	ms, err := store.Migrations(store.DialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Errorf("schema_migrations rows = %d, %v; want %d, one per migration", n, err, len(ms))
	}
}

// TestBinaryCopyValues: the hand-encoded binary COPY stores what pgx's own
// encoding would: times before 2000 and below the microsecond, negative
// values, non-ASCII text, stale flags.
func TestBinaryCopyValues(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	times := []time.Time{
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 123456789, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 10, 0, 0, 1500, time.FixedZone("x", 3600)),
	}
	b := reading.Batch{Version: 1, Site: "sité", Gateway: "gw-ü", Seq: 1, Sent: times[3]}
	for i, tm := range times {
		b.Readings = append(b.Readings, reading.Reading{Time: tm, Device: fmt.Sprintf("m-%d€", i), Point: "cp",
			Quantity: reading.QPowerW, Value: int64(-1 << (60 - i)), Stale: i%2 == 0, Session: "s✓"})
	}
	b.Readings = append(b.Readings, reading.Reading{Time: times[1], Device: "m", Quantity: reading.QSnapshot,
		OCMF: "OCMF|{\"x\":\"ä\"}|{}", Session: "sess"})
	if _, err := s.SaveBatches(t.Context(), []store.Item{{Gateway: b.Gateway, Seq: 1, Batch: b, Body: []byte("{}"), OCMFVerified: true}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Readings(t.Context(), store.ReadingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(b.Readings) {
		t.Fatalf("%d readings, want %d", len(got), len(b.Readings))
	}
	for _, r := range got {
		w := b.Readings[r.Index]
		if r.Gateway != b.Gateway || r.Seq != 1 || r.Site != b.Site || r.Device != w.Device || r.Point != w.Point ||
			r.Quantity != w.Quantity || r.Value != w.Value || r.Stale != w.Stale || r.Session != w.Session ||
			!r.Time.Equal(w.Time.Truncate(time.Microsecond)) || r.OCMF != w.OCMF {
			t.Errorf("reading %d: got %+v, want %+v", r.Index, r, w)
		}
	}
	snaps, err := s.Snapshots(t.Context(), store.SnapshotFilter{})
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %+v, %v", snaps, err)
	}
	if sn := snaps[0]; sn.Meter != "m" || sn.Session != "sess" || sn.OCMF != b.Readings[4].OCMF || !sn.Verified ||
		!sn.Time.Equal(times[1].Truncate(time.Microsecond)) || sn.Index != 4 || sn.Site != b.Site {
		t.Errorf("snapshot %+v", sn)
	}
}
