package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/session/sqlite"
)

// open opens a fresh, migrated database file as central/store/sqlite does
// (WAL, writers BEGIN IMMEDIATE, busy timeout).
func open(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(4)
	if err := sqlite.Migrate(t.Context(), db, sessiontest.T0); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return sqlite.New(open(t)) })
}

// TestTransitionLogAppendOnly: the database itself refuses to change or
// delete a logged transition.
func TestTransitionLogAppendOnly(t *testing.T) {
	db := open(t)
	s, tr := sessiontest.New("s-1", "op", sessiontest.T0)
	if err := sqlite.New(db).Create(t.Context(), s, tr); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE session_transitions SET cause = 'rewritten'`,
		`DELETE FROM session_transitions`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}

// TestMigrateTwice: a second Migrate finds the schema current.
func TestMigrateTwice(t *testing.T) {
	db := open(t)
	if err := sqlite.Migrate(t.Context(), db, sessiontest.T0); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRowContext(t.Context(), `SELECT max(version) FROM session_schema_migrations`).Scan(&v); err != nil || v != 1 {
		t.Errorf("session schema version %d, %v; want 1", v, err)
	}
}
