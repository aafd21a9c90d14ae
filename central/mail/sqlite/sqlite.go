// Package sqlite is the mail outbox (mail.Store) on SQLite. Times are
// stored as microseconds since the epoch, UTC.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/mail"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

func micros(t time.Time) int64 { return t.UnixMicro() }

// Migrate applies pending mail migrations (internal/sqlmigrate) in one
// write transaction.
func Migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	ms, err := mail.Migrations("sqlite")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mail migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := sqlmigrate.SQLite(ctx, tx, mail.MigrationSet(), ms, now, nil); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mail migrate: commit: %w", err)
	}
	return nil
}

// Store is the outbox on db. Run Migrate first.
type Store struct{ db *sql.DB }

var _ mail.Store = (*Store)(nil)

// New returns a store on db.
func New(db *sql.DB) *Store { return &Store{db: db} }

// Enqueue implements mail.Store.
func (s *Store) Enqueue(ctx context.Context, id string, b mail.Built, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO mail_outbox (id, recipient, sender, message, state, next_attempt, created_at)
		VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (id) DO NOTHING`, id, b.To, b.From, b.Raw, micros(now), micros(now))
	if err != nil {
		return false, fmt.Errorf("sqlite: enqueue mail %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: enqueue mail %s: %w", id, err)
	}
	return n == 1, nil
}

const columns = `id, recipient, sender, message, state, attempts, next_attempt, last_error, created_at, sent_at`

type scanner interface{ Scan(dest ...any) error }

func scan(r scanner) (mail.Item, error) {
	var (
		it            mail.Item
		next, created int64
		sent          sql.NullInt64
	)
	if err := r.Scan(&it.ID, &it.Built.To, &it.Built.From, &it.Built.Raw, &it.State, &it.Attempts,
		&next, &it.LastError, &created, &sent); err != nil {
		return mail.Item{}, err
	}
	it.NextAttempt, it.CreatedAt = time.UnixMicro(next).UTC(), time.UnixMicro(created).UTC()
	if sent.Valid {
		it.SentAt = time.UnixMicro(sent.Int64).UTC()
	}
	return it, nil
}

// Lease implements mail.Store; SQLite's single writer makes the one
// UPDATE … RETURNING atomic.
func (s *Store) Lease(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]mail.Item, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE mail_outbox SET leased_until = ? WHERE id IN (
			SELECT id FROM mail_outbox
			WHERE state = 'pending' AND next_attempt <= ? AND (leased_until IS NULL OR leased_until <= ?)
			ORDER BY next_attempt, id LIMIT ?)
		RETURNING `+columns, micros(now.Add(lease)), micros(now), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lease mail: %w", err)
	}
	defer rows.Close()
	var items []mail.Item
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: lease mail: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: lease mail: %w", err)
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
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM mail_outbox WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: mail %s: %w", id, mail.ErrNotFound)
	}
	return err
}

func (s *Store) update(ctx context.Context, id, what, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: mark mail %s %s: %w", id, what, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("sqlite: mark mail %s %s: %w", id, what, err)
		}
		return s.exists(ctx, id)
	}
	return nil
}

// MarkSent implements mail.Store.
func (s *Store) MarkSent(ctx context.Context, id string, now time.Time) error {
	return s.update(ctx, id, "sent", `UPDATE mail_outbox SET state = 'sent', sent_at = ?, leased_until = NULL
		WHERE id = ? AND state = 'pending'`, micros(now), id)
}

// MarkFailed implements mail.Store.
func (s *Store) MarkFailed(ctx context.Context, id, errText string, next time.Time, dead bool) error {
	state := "pending"
	if dead {
		state = "dead"
	}
	return s.update(ctx, id, "failed", `UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ?,
		state = ?, leased_until = NULL WHERE id = ? AND state = 'pending'`, errText, micros(next), state, id)
}

// Get implements mail.Store.
func (s *Store) Get(ctx context.Context, id string) (mail.Item, error) {
	it, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM mail_outbox WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return mail.Item{}, fmt.Errorf("sqlite: mail %s: %w", id, mail.ErrNotFound)
	}
	if err != nil {
		return mail.Item{}, fmt.Errorf("sqlite: mail %s: %w", id, err)
	}
	return it, nil
}

// Purge implements mail.Store.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM mail_outbox WHERE state IN ('sent', 'dead') AND created_at < ?`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge mail: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge mail: %w", err)
	}
	return n, nil
}
