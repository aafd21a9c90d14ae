package sqlite_test

import (
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
)

// TestMigrateToEpochsKeepsData: a database written before epochs (schema
// 2) keeps its batches as the legacy epoch "", with their progress.
func TestMigrateToEpochsKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := store.Migrations(store.DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("migration %d: %v", m.Version, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte(`{"v":1,"site":"site-a","gateway":"gw-1","seq":1,"sent":"2026-11-25T10:00:00Z"}`)
	h := sha256.Sum256(body)
	for _, q := range []string{
		`INSERT INTO batches VALUES ('gw-1', 1, 'site-a', 1, 1000, 2000, ?, ?, NULL, 1, 0)`,
		`INSERT INTO readings VALUES ('gw-1', 1, 0, 'site-a', 'm', 'p', 'power_w', 5, 0, 1000, '')`,
		`INSERT INTO gateway_seq VALUES ('gw-1', 1)`,
	} {
		args := []any{}
		if q[12:19] == "batches" {
			args = []any{body, h[:]}
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
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
	rs, err := s.Readings(t.Context(), store.ReadingFilter{Gateway: "gw-1"})
	if err != nil || len(rs) != 1 || rs[0].Epoch != "" || rs[0].Value != 5 {
		t.Errorf("readings after the migration: %+v, %v", rs, err)
	}
	ps, err := s.Progress(t.Context(), store.ProgressFilter{})
	if err != nil || len(ps) != 1 || ps[0].Held != 1 || ps[0].MaxSeq != 1 || ps[0].Contiguous != 1 {
		t.Errorf("progress after the migration: %+v, %v", ps, err)
	}
}
