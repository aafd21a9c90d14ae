// Package store keeps the dashboard's users, sessions, audit log and white
// label on SQL: SQLite (modernc.org/sqlite) or PostgreSQL (pgx through
// database/sql), one implementation for both, with its own migration set
// per dialect (migrations/<dialect>/NNNN_name.sql, tracked in
// dashboard_schema_migrations). Queries are written with ? placeholders and
// rebound to $n for PostgreSQL. Times are stored as Unix microseconds.
// storetest holds the conformance suite every implementation passes,
// memory the in-memory implementation tests use.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"modernc.org/sqlite"               // database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/brand"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// Dialect is the SQL flavour of a DB.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the dashboard store on one database.
type DB struct {
	db      *sql.DB
	dialect Dialect
}

// Interface guards.
var (
	_ auth.UserStore    = (*DB)(nil)
	_ auth.SessionStore = (*DB)(nil)
	_ auth.AuditLog     = (*DB)(nil)
	_ brand.Store       = (*DB)(nil)
)

// OpenSQLite opens (creating) the SQLite file at path and migrates it.
func OpenSQLite(ctx context.Context, path string, now time.Time) (*DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("dashboard store: open %s: %w", path, err)
	}
	return open(ctx, db, SQLite, now)
}

// OpenPostgres connects to dsn and migrates the dashboard tables.
func OpenPostgres(ctx context.Context, dsn string, now time.Time) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("dashboard store: open postgres: %w", err)
	}
	return open(ctx, db, Postgres, now)
}

func open(ctx context.Context, db *sql.DB, d Dialect, now time.Time) (*DB, error) {
	s := &DB{db: db, dialect: d}
	if err := s.migrate(ctx, now); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// migrationSet is the dashboard tables' migration set ("dashbord" in
// ASCII is its PostgreSQL advisory lock).
func migrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "dashboard", Table: "dashboard_schema_migrations", LockID: 0x64617368626f7264}
}

func (s *DB) migrate(ctx context.Context, now time.Time) error {
	ms, err := sqlmigrate.Load(migrationFiles, path.Join("migrations", string(s.dialect)), "dashboard")
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("dashboard migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	apply := sqlmigrate.SQLite
	if s.dialect == Postgres {
		apply = sqlmigrate.PostgresSQL
	}
	if err := apply(ctx, tx, migrationSet(), ms, now, nil); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dashboard migrate: commit: %w", err)
	}
	return nil
}

// q rebinds ? placeholders to $1, $2 … for PostgreSQL.
func (s *DB) q(query string) string { return sqldb.Bind(string(s.dialect), query) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// isUnique reports a unique-constraint violation in either dialect.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, auth.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
