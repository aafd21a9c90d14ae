// Package postgres is the mail outbox (mail.Store) on PostgreSQL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parkgrid/parkgrid/central/mail"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// DB is what the store needs; *pgxpool.Pool has it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Migrate applies pending mail migrations (internal/sqlmigrate, under the
// set's advisory lock), recorded in mail_schema_migrations with applied
// time now.
func Migrate(ctx context.Context, db DB, now time.Time) error {
	ms, err := mail.Migrations("postgres")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return sqlmigrate.Postgres(ctx, tx, mail.MigrationSet(), ms, now, nil)
	})
}

// Store is the outbox on db. Run Migrate first.
type Store struct{ db DB }

var _ mail.Store = (*Store)(nil)

// New returns a store on db.
func New(db DB) *Store { return &Store{db: db} }

// Enqueue implements mail.Store.
func (s *Store) Enqueue(ctx context.Context, id string, b mail.Built, now time.Time) (bool, error) {
	tag, err := s.db.Exec(ctx, `INSERT INTO mail_outbox (id, recipient, sender, message, state, next_attempt, created_at)
		VALUES ($1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT (id) DO NOTHING`, id, b.To, b.From, b.Raw, now)
	if err != nil {
		return false, fmt.Errorf("postgres: enqueue mail %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

const columns = `id, recipient, sender, message, state, attempts, next_attempt, last_error, created_at, sent_at`

func scan(r pgx.Row) (mail.Item, error) {
	var (
		it   mail.Item
		sent *time.Time
	)
	if err := r.Scan(&it.ID, &it.Built.To, &it.Built.From, &it.Built.Raw, &it.State, &it.Attempts,
		&it.NextAttempt, &it.LastError, &it.CreatedAt, &sent); err != nil {
		return mail.Item{}, err
	}
	it.NextAttempt, it.CreatedAt = it.NextAttempt.UTC(), it.CreatedAt.UTC()
	if sent != nil {
		it.SentAt = sent.UTC()
	}
	return it, nil
}

// Lease implements mail.Store: SKIP LOCKED lets replicas lease disjoint
// messages at once.
func (s *Store) Lease(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]mail.Item, error) {
	rows, err := s.db.Query(ctx, `UPDATE mail_outbox SET leased_until = $2 WHERE id IN (
			SELECT id FROM mail_outbox
			WHERE state = 'pending' AND next_attempt <= $1 AND (leased_until IS NULL OR leased_until <= $1)
			ORDER BY next_attempt, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+columns, now, now.Add(lease), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: lease mail: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mail.Item, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: lease mail: %w", err)
	}
	slices.SortFunc(items, func(a, b mail.Item) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return items, nil
}

func (s *Store) exists(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM mail_outbox WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: mail %s: %w", id, mail.ErrNotFound)
	}
	return err
}

// MarkSent implements mail.Store.
func (s *Store) MarkSent(ctx context.Context, id string, now time.Time) error {
	tag, err := s.db.Exec(ctx, `UPDATE mail_outbox SET state = 'sent', sent_at = $2, leased_until = NULL
		WHERE id = $1 AND state = 'pending'`, id, now)
	if err != nil {
		return fmt.Errorf("postgres: mark mail %s sent: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return s.exists(ctx, id)
	}
	return nil
}

// MarkFailed implements mail.Store.
func (s *Store) MarkFailed(ctx context.Context, id, errText string, next time.Time, dead bool) error {
	tag, err := s.db.Exec(ctx, `UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, next_attempt = $3,
		state = CASE WHEN $4 THEN 'dead' ELSE 'pending' END, leased_until = NULL
		WHERE id = $1 AND state = 'pending'`, id, errText, next, dead)
	if err != nil {
		return fmt.Errorf("postgres: mark mail %s failed: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return s.exists(ctx, id)
	}
	return nil
}

// Get implements mail.Store.
func (s *Store) Get(ctx context.Context, id string) (mail.Item, error) {
	it, err := scan(s.db.QueryRow(ctx, `SELECT `+columns+` FROM mail_outbox WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return mail.Item{}, fmt.Errorf("postgres: mail %s: %w", id, mail.ErrNotFound)
	}
	if err != nil {
		return mail.Item{}, fmt.Errorf("postgres: mail %s: %w", id, err)
	}
	return it, nil
}

// Purge implements mail.Store.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM mail_outbox WHERE state IN ('sent', 'dead') AND created_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge mail: %w", err)
	}
	return tag.RowsAffected(), nil
}
