// Package postgres is the jobs.Locker of central replicas sharing one
// PostgreSQL database: a session-level pg_try_advisory_lock per job, held
// on one pooled connection for the run, and under it a job_runs row with
// the last tick run.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/jobs"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationSet names the jobs' migration set: its bookkeeping table and
// its advisory lock ("jobruns" in ASCII).
func MigrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "jobs", Table: "jobs_schema_migrations", LockID: 0x6a6f6272756e73}
}

// Migrate applies the pending jobs migrations (internal/sqlmigrate),
// recorded with applied time now.
func Migrate(ctx context.Context, db *pgxpool.Pool, now time.Time) error {
	ms, err := sqlmigrate.Load(migrationFiles, "migrations", "jobs")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return sqlmigrate.Postgres(ctx, tx, MigrationSet(), ms, now, nil)
	})
}

// Locker claims job ticks on db.
type Locker struct {
	db     *pgxpool.Pool
	runner string // this replica's name, recorded with the tick
}

var _ jobs.Locker = (*Locker)(nil)

// NewLocker returns a Locker on db; runner names this replica in job_runs.
func NewLocker(db *pgxpool.Pool, runner string) *Locker { return &Locker{db: db, runner: runner} }

// lockKey is the advisory lock key of a job: FNV-1a of "parkgrid-job:"+name,
// in a key space apart from the migration locks' ASCII ids.
func lockKey(job string) int64 {
	h := fnv.New64a()
	h.Write([]byte("parkgrid-job:" + job))
	return int64(h.Sum64())
}

// Claim implements jobs.Locker.
func (l *Locker) Claim(ctx context.Context, job string, tick time.Time) (func(), bool, error) {
	conn, err := l.db.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("claim %s: %w", job, err)
	}
	key := lockKey(job)
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&locked); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("claim %s: lock: %w", job, err)
	}
	if !locked {
		conn.Release()
		return nil, false, nil
	}
	unlock := func() {
		// A fresh context: the run's may be cancelled, and the lock must
		// still go (or the connection with it).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			conn.Conn().Close(ctx) //nolint:errcheck // closing the session drops its locks
		}
		conn.Release()
	}
	tag, err := conn.Exec(ctx, `INSERT INTO job_runs (job, last_tick, runner) VALUES ($1, $2, $3)
		ON CONFLICT (job) DO UPDATE SET last_tick = $2, runner = $3 WHERE job_runs.last_tick < $2`, job, tick, l.runner)
	if err != nil {
		unlock()
		return nil, false, fmt.Errorf("claim %s at %v: %w", job, tick, err)
	}
	if tag.RowsAffected() == 0 {
		unlock()
		return nil, false, nil // this tick, or a later one, ran already
	}
	return unlock, true, nil
}
