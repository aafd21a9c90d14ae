package postgres_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestMigrateToEpochsKeepsData: a database written before epochs (schema
// 2) keeps its batches as the legacy epoch "", with their progress.
func TestMigrateToEpochsKeepsData(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	const schema = "migrate_epochs"
	if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn+"&search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := store.Migrations(store.DialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if _, err := conn.Exec(t.Context(), m.SQL); err != nil {
			t.Fatalf("migration %d: %v", m.Version, err)
		}
		if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations VALUES ($1, $2, now())`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte(`{"v":1,"site":"site-a","gateway":"gw-1","seq":1,"sent":"2026-11-25T10:00:00Z"}`)
	h := sha256.Sum256(body)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(t.Context(), `INSERT INTO batches VALUES ('gw-1', 1, 'site-a', 1, $1, $1, $2, $3, NULL, 1, 0)`, t0, body, h[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO readings VALUES ('gw-1', 1, 0, 'site-a', 'm', 'p', 'power_w', 5, false, $1, '')`, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO gateway_seq VALUES ('gw-1', 1)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())

	s, err := postgres.Open(t.Context(), dsn+"&search_path="+schema, postgres.Options{})
	if err != nil {
		t.Fatalf("open and migrate: %v", err)
	}
	defer s.Close()
	if n, err := s.HighestContiguousSeq(t.Context(), "gw-1", ""); err != nil || n != 1 {
		t.Errorf("contiguous after the migration = %d, %v; want 1", n, err)
	}
	if b, err := s.Batch(t.Context(), "gw-1", "", 1); err != nil || string(b.Body) != string(body) {
		t.Errorf("batch after the migration: %+v, %v", b, err)
	}
	ps, err := s.Progress(t.Context(), store.ProgressFilter{})
	if err != nil || len(ps) != 1 || ps[0].Held != 1 || ps[0].MaxSeq != 1 || !ps[0].FirstSeen.Equal(t0) {
		t.Errorf("progress after the migration: %+v, %v", ps, err)
	}
}
