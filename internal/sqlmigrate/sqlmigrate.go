// Package sqlmigrate applies versioned SQL migrations, one schema set at a
// time, for PostgreSQL (pgx) and SQLite (database/sql).
//
// A set is a directory of files <version>_<name>.sql (versions from 1, no
// gaps) and a bookkeeping table of its own (version, name, applied_at), so
// several sets — the ingest store, invoices, sessions, … — live in one
// database and move at their own pace. Pending migrations are applied in
// version order inside the caller's transaction, each with its bookkeeping
// row: a migration either lands with its row or not at all. On PostgreSQL
// the set's advisory transaction lock serialises replicas starting at once;
// SQLite callers begin an immediate (write) transaction.
package sqlmigrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Set names a schema set: What in errors and logs ("invoice"), Table its
// bookkeeping table ("invoice_schema_migrations"), LockID its PostgreSQL
// advisory lock (unique per set).
type Set struct {
	What   string
	Table  string
	LockID int64
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func (s Set) check() error {
	if s.What == "" || !tableName.MatchString(s.Table) {
		return fmt.Errorf("migration set %q: table %q is not a plain lower-case SQL name", s.What, s.Table)
	}
	return nil
}

// Load reads the migrations in dir of fsys in version order. Versions must
// start at 1 without gaps, so a missing file is noticed; what names the set
// in errors.
func Load(fsys fs.FS, dir, what string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%s migrations %s: %w", what, dir, err)
	}
	var ms []Migration
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok || e.IsDir() {
			continue
		}
		num, label, ok := strings.Cut(stem, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || label == "" {
			return nil, fmt.Errorf("%s migration %s/%s: name must be <version>_<name>.sql", what, dir, e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%s migration %s/%s: %w", what, dir, e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: label, SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s migrations %s: version %d where %d was expected", what, dir, m.Version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%s migrations %s: none", what, dir)
	}
	return ms, nil
}

// Applied is told of each migration as it is applied (for a log line); nil
// is fine.
type Applied func(Migration)

// Postgres applies the pending migrations of set inside tx, under the set's
// advisory transaction lock, recording each with applied time now.
func Postgres(ctx context.Context, tx pgx.Tx, set Set, ms []Migration, now time.Time, applied Applied) error {
	if err := set.check(); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, set.LockID); err != nil {
		return fmt.Errorf("%s migrate: lock: %w", set.What, err)
	}
	r := runner{
		exec: func(q string, args ...any) error { _, err := tx.Exec(ctx, q, args...); return err },
		have: func(q string) (int, error) {
			var n int
			err := tx.QueryRow(ctx, q).Scan(&n)
			return n, err
		},
		create: postgresTable(set),
		insert: `INSERT INTO ` + set.Table + ` (version, name, applied_at) VALUES ($1, $2, $3)`,
	}
	return r.apply(set, ms, now, applied)
}

// PostgresSQL is Postgres for a database/sql transaction on PostgreSQL
// (the pgx stdlib driver).
func PostgresSQL(ctx context.Context, tx *sql.Tx, set Set, ms []Migration, now time.Time, applied Applied) error {
	if err := set.check(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, set.LockID); err != nil {
		return fmt.Errorf("%s migrate: lock: %w", set.What, err)
	}
	r := stdRunner(ctx, tx)
	r.create = postgresTable(set)
	r.insert = `INSERT INTO ` + set.Table + ` (version, name, applied_at) VALUES ($1, $2, $3)`
	return r.apply(set, ms, now, applied)
}

// SQLite applies the pending migrations of set inside tx (begun as the
// database's one writer), recording each with applied time now in
// microseconds since the epoch, as the SQLite schemas store times.
func SQLite(ctx context.Context, tx *sql.Tx, set Set, ms []Migration, now time.Time, applied Applied) error {
	if err := set.check(); err != nil {
		return err
	}
	r := stdRunner(ctx, tx)
	r.create = `CREATE TABLE IF NOT EXISTS ` + set.Table + ` (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`
	r.insert = `INSERT INTO ` + set.Table + ` (version, name, applied_at) VALUES (?, ?, ?)`
	return r.apply(set, ms, now.UnixMicro(), applied)
}

type runner struct {
	exec           func(q string, args ...any) error
	have           func(q string) (int, error)
	create, insert string
}

func (r runner) apply(set Set, ms []Migration, at any, applied Applied) error {
	if err := r.exec(r.create); err != nil {
		return fmt.Errorf("%s migrate: %s: %w", set.What, set.Table, err)
	}
	have, err := r.have(`SELECT coalesce(max(version), 0) FROM ` + set.Table)
	if err != nil {
		return fmt.Errorf("%s migrate: read version: %w", set.What, err)
	}
	if have > len(ms) {
		return fmt.Errorf("%s migrate: database is at %s schema version %d, this build knows up to %d", set.What, set.What, have, len(ms))
	}
	for _, m := range ms[have:] {
		if err := r.exec(m.SQL); err != nil {
			return fmt.Errorf("%s migration %04d_%s: %w", set.What, m.Version, m.Name, err)
		}
		if err := r.exec(r.insert, m.Version, m.Name, at); err != nil {
			return fmt.Errorf("%s migration %04d_%s: record: %w", set.What, m.Version, m.Name, err)
		}
		if applied != nil {
			applied(m)
		}
	}
	return nil
}

func postgresTable(set Set) string {
	return `CREATE TABLE IF NOT EXISTS ` + set.Table + ` (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`
}

func stdRunner(ctx context.Context, tx *sql.Tx) runner {
	return runner{
		exec: func(q string, args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err },
		have: func(q string) (int, error) {
			var n int
			err := tx.QueryRowContext(ctx, q).Scan(&n)
			return n, err
		},
	}
}
