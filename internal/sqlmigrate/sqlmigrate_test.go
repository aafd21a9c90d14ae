package sqlmigrate_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var at = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    int
		wantErr string
	}{
		{"ordered", fstest.MapFS{"m/0002_b.sql": file("B"), "m/0001_a.sql": file("A"), "m/README": file("x")}, 2, ""},
		{"gap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, 0, "version 3 where 2 was expected"},
		{"bad name", fstest.MapFS{"m/first.sql": file("A")}, 0, "name must be"},
		{"no label", fstest.MapFS{"m/0001_.sql": file("A")}, 0, "name must be"},
		{"zero", fstest.MapFS{"m/0000_a.sql": file("A")}, 0, "name must be"},
		{"none", fstest.MapFS{"m/README": file("x")}, 0, "none"},
		{"no dir", fstest.MapFS{}, 0, "test migrations m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := sqlmigrate.Load(tc.fs, "m", "test")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(ms) != tc.want {
				t.Fatalf("got %d migrations, %v; want %d", len(ms), err, tc.want)
			}
			for i, m := range ms {
				if m.Version != i+1 {
					t.Errorf("migration %d has version %d", i, m.Version)
				}
			}
			if ms[0].Name != "a" || ms[0].SQL != "A" {
				t.Errorf("first = %+v", ms[0])
			}
		})
	}
}

var set = sqlmigrate.Set{What: "test", Table: "test_schema_migrations", LockID: 0x7465737473}

func migrations(extra ...string) []sqlmigrate.Migration {
	ms := []sqlmigrate.Migration{
		{Version: 1, Name: "t", SQL: `CREATE TABLE t (id INTEGER PRIMARY KEY)`},
		{Version: 2, Name: "u", SQL: `CREATE TABLE u (id INTEGER PRIMARY KEY)`},
	}
	for i, s := range extra {
		ms = append(ms, sqlmigrate.Migration{Version: 3 + i, Name: "x", SQL: s})
	}
	return ms
}

func sqliteApply(t *testing.T, db *sql.DB, ms []sqlmigrate.Migration) ([]int, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var got []int
	if err := sqlmigrate.SQLite(ctx, tx, set, ms, at, func(m sqlmigrate.Migration) { got = append(got, m.Version) }); err != nil {
		return got, err
	}
	return got, tx.Commit()
}

func TestSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := sqliteApply(t, db, migrations()); err != nil || len(got) != 2 {
		t.Fatalf("first run applied %v, %v", got, err)
	}
	if got, err := sqliteApply(t, db, migrations()); err != nil || len(got) != 0 {
		t.Fatalf("second run applied %v, %v; want nothing", got, err)
	}
	// A failing migration leaves neither its change nor its row.
	if _, err := sqliteApply(t, db, migrations(`CREATE TABLE v (id INTEGER)`, `NOT SQL`)); err == nil || !strings.Contains(err.Error(), "test migration 0004_x") {
		t.Fatalf("broken migration: err = %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM test_schema_migrations`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after the failed run = %d, %v; want 2", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'v'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("table of the rolled back run exists: %d, %v", n, err)
	}
	// A database newer than the build is refused.
	if _, err := sqliteApply(t, db, migrations()[:1]); err == nil || !strings.Contains(err.Error(), "this build knows up to 1") {
		t.Fatalf("older build: err = %v", err)
	}
	var applied int64
	if err := db.QueryRow(`SELECT applied_at FROM test_schema_migrations WHERE version = 1`).Scan(&applied); err != nil || applied != at.UnixMicro() {
		t.Fatalf("applied_at = %d, %v; want %d", applied, err, at.UnixMicro())
	}
}

func TestBadTableName(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	bad := sqlmigrate.Set{What: "x", Table: "t; DROP TABLE y"}
	if err := sqlmigrate.SQLite(context.Background(), tx, bad, migrations(), at, nil); err == nil {
		t.Fatal("a table name with SQL in it was accepted")
	}
}

func TestPostgres(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	apply := func(ms []sqlmigrate.Migration) ([]int, error) {
		var got []int
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return sqlmigrate.Postgres(ctx, tx, set, ms, at, func(m sqlmigrate.Migration) { got = append(got, m.Version) })
		})
		return got, err
	}
	// Two replicas at once: the lock lets one apply, the other finds it done.
	errs := make(chan error, 2)
	counts := make(chan int, 2)
	for range 2 {
		go func() {
			got, err := apply(migrations())
			counts <- len(got)
			errs <- err
		}()
	}
	total := 0
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		total += <-counts
	}
	if total != 2 {
		t.Fatalf("two replicas applied %d migrations in all, want 2", total)
	}
	if _, err := apply(migrations(`NOT SQL`)); err == nil || !strings.Contains(err.Error(), "test migration 0003_x") {
		t.Fatalf("broken migration: err = %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM test_schema_migrations`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows = %d, %v; want 2", n, err)
	}
}

func TestPostgresSQL(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	apply := func(ms []sqlmigrate.Migration) (int, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback() //nolint:errcheck // no-op after commit
		n := 0
		if err := sqlmigrate.PostgresSQL(ctx, tx, set, ms, at, func(sqlmigrate.Migration) { n++ }); err != nil {
			return n, err
		}
		return n, tx.Commit()
	}
	if n, err := apply(migrations()); err != nil || n != 2 {
		t.Fatalf("first run applied %d, %v", n, err)
	}
	if n, err := apply(migrations()); err != nil || n != 0 {
		t.Fatalf("second run applied %d, %v", n, err)
	}
	if _, err := apply(migrations()[:1]); err == nil || !strings.Contains(err.Error(), "this build knows up to 1") {
		t.Fatalf("older build: err = %v", err)
	}
}
