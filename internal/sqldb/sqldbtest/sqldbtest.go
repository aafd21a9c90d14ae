// Package sqldbtest opens fresh database/sql handles for store tests:
// a SQLite file as central/store/sqlite opens it, and PostgreSQL schemas in
// one test database (svctest.PostgresDSN: skipped locally, failing in CI
// when PostgreSQL is missing).
package sqldbtest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// SQLite opens a new database file (WAL, writers BEGIN IMMEDIATE, busy
// timeout).
func SQLite(t testing.TB) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(4)
	return db
}

// Postgres returns a function that opens a handle on a fresh schema of one
// test database per call.
func Postgres(t *testing.T) func(t testing.TB) *sql.DB {
	dsn := svctest.PostgresDSN(t)
	n := 0
	return func(tt testing.TB) *sql.DB {
		tt.Helper()
		n++
		schema := fmt.Sprintf("s%d", n)
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			tt.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
			tt.Fatal(err)
		}
		db, err := sql.Open("pgx", dsn+"&search_path="+schema)
		if err != nil {
			tt.Fatal(err)
		}
		tt.Cleanup(func() { db.Close() })
		return db
	}
}
