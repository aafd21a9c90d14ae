package sqlite_test

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
)

// TestMigrateKeyHistory: a database made before the key history (schema
// 1, with an enrolled gateway and a meter key) is migrated: the current
// keys become the first entries of the history, the audit log says so,
// and enrolling the same keys again changes nothing.
func TestMigrateKeyHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	ms, err := store.Migrations(store.DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.PublicKey(bytes.Repeat([]byte{7}, 32))
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		ms[0].SQL,
		`INSERT INTO schema_migrations VALUES (1, 'init', 0)`,
		`INSERT INTO gateways VALUES ('gw-1', 'site-a', x'` + string(bytes.Repeat([]byte("07"), 32)) + `', 1000)`,
		`INSERT INTO meter_keys VALUES ('site-a', 'm-1', '3059aabb', 2000)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db.Close()

	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := s.Gateway(t.Context(), "gw-1")
	if err != nil || len(g.Keys) != 1 || !bytes.Equal(g.Keys[0].PublicKey, pub) || g.Keys[0].ValidFrom.UnixMicro() != 1000 {
		t.Fatalf("migrated gateway %+v, %v", g, err)
	}
	if es, err := s.Audit(t.Context(), store.AuditFilter{}); err != nil || len(es) != 1 || es[0].Action != store.ActionMigrated {
		t.Errorf("audit after migration: %+v, %v", es, err)
	}
	if err := s.EnrollGateway(t.Context(), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: pub}); err != nil {
		t.Errorf("enrolling the migrated key again: %v", err)
	}
	if err := s.SetMeterKey(t.Context(), store.MeterKey{Site: "site-a", Device: "m-1", PublicKey: "3059AABB"}); err != nil {
		t.Errorf("enrolling the migrated meter key again (other case): %v", err)
	}
	if ks, err := s.MeterKeys(t.Context(), "site-a", "m-1"); err != nil || len(ks) != 1 {
		t.Errorf("meter history %+v, %v: want one key", ks, err)
	}
	if err := s.SetMeterKey(t.Context(), store.MeterKey{Site: "site-b", Device: "m-7", PublicKey: "3059aabb"}); err == nil {
		t.Error("the migrated meter key was enrolled for another meter")
	}
}
