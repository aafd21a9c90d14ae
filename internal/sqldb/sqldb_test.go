package sqldb_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqldb/sqldbtest"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

func TestBind(t *testing.T) {
	for _, tc := range []struct{ dialect, in, want string }{
		{sqldb.Postgres, `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{sqldb.SQLite, `SELECT a FROM t WHERE b = ?`, `SELECT a FROM t WHERE b = ?`},
		{sqldb.Postgres, `SELECT 1`, `SELECT 1`},
	} {
		if got := sqldb.Bind(tc.dialect, tc.in); got != tc.want {
			t.Errorf("Bind(%s, %q) = %q, want %q", tc.dialect, tc.in, got, tc.want)
		}
	}
}

func TestMigrate(t *testing.T) {
	files := fstest.MapFS{
		"migrations/sqlite/0001_t.sql":   {Data: []byte(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`)},
		"migrations/postgres/0001_t.sql": {Data: []byte(`CREATE TABLE t (id integer PRIMARY KEY, v text)`)},
	}
	set := sqlmigrate.Set{What: "demo", Table: "demo_schema_migrations", LockID: 0x64656d6f}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	pg := sqldbtest.Postgres(t)
	for _, d := range []string{sqldb.SQLite, sqldb.Postgres} {
		t.Run(d, func(t *testing.T) {
			db := sqldbtest.SQLite(t)
			if d == sqldb.Postgres {
				db = pg(t)
			}
			ctx := context.Background()
			for range 2 { // the second run finds nothing to do
				if err := sqldb.Migrate(ctx, db, d, set, files, now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(ctx, sqldb.Bind(d, `INSERT INTO t (id, v) VALUES (?, ?)`), 1, "x"); err != nil {
				t.Fatal(err)
			}
		})
	}
	db := sqldbtest.SQLite(t)
	if err := sqldb.Migrate(context.Background(), db, "oracle", set, files, now); err == nil || !strings.Contains(err.Error(), "unknown dialect") {
		t.Fatalf("unknown dialect: %v", err)
	}
}
