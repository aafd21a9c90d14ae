package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	invoicesqlite "github.com/parkgrid/parkgrid/central/invoice/sqlite"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

func micros(t time.Time) int64 { return t.UnixMicro() }

// Migrate applies the invoice migrations and then the pending session
// migrations in one write transaction.
func Migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	if err := invoicesqlite.Migrate(ctx, db, now); err != nil {
		return fmt.Errorf("session migrate: %w", err)
	}
	ms, err := session.Migrations("sqlite")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("session migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := sqlmigrate.SQLite(ctx, tx, session.MigrationSet(), ms, now, nil); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("session migrate: commit: %w", err)
	}
	return nil
}

// Store is the session.Store on one database handle. Run Migrate first.
type Store struct {
	db *sql.DB
}

var _ session.Store = (*Store)(nil)

// New returns a store on db.
func New(db *sql.DB) *Store { return &Store{db: db} }

func encode(s session.Session) (string, error) {
	s.InvoiceNumber = 0 // the invoices table holds it
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("session %s: encode: %w", s.ID, err)
	}
	return string(b), nil
}

func insertTransition(ctx context.Context, tx *sql.Tx, tr session.Transition) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO session_transitions (session, version, from_state, to_state, cause, at)
		VALUES (?, ?, ?, ?, ?, ?)`, tr.Session, tr.Version, string(tr.From), string(tr.To), tr.Cause, micros(tr.At))
	if err != nil {
		return fmt.Errorf("session %s: log transition %s → %s: %w", tr.Session, tr.From, tr.To, err)
	}
	return nil
}

// inTx runs fn in one write transaction and commits.
func (st *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// Create implements session.Store.
func (st *Store) Create(ctx context.Context, s session.Session, tr session.Transition) error {
	if err := session.CheckCreate(s, tr); err != nil {
		return err
	}
	data, err := encode(s)
	if err != nil {
		return err
	}
	return st.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, operator, state, version, todo, created_at, updated_at, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			s.ID, s.Operator, string(s.State), s.Version, s.Todo(), micros(s.CreatedAt), micros(s.UpdatedAt), data)
		if err != nil {
			return fmt.Errorf("sqlite: create session %s: %w", s.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("sqlite: create session %s: %w", s.ID, errors.Join(session.ErrExists, err))
		}
		return insertTransition(ctx, tx, tr)
	})
}

// update is the versioned write of Update and Invoice, inside tx.
func update(ctx context.Context, tx *sql.Tx, s session.Session, tr *session.Transition) error {
	data, err := encode(s)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET state = ?, version = ?, todo = ?, updated_at = ?, data = ?
		WHERE id = ? AND version = ?`, string(s.State), s.Version, s.Todo(), micros(s.UpdatedAt), data, s.ID, s.Version-1)
	if err != nil {
		return fmt.Errorf("sqlite: update session %s: %w", s.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		var have int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM sessions WHERE id = ?`, s.ID).Scan(&have)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: update session %s: %w", s.ID, session.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update session %s: %w", s.ID, err)
		}
		return fmt.Errorf("sqlite: update session %s to version %d: %w: stored version is %d", s.ID, s.Version, session.ErrConflict, have)
	}
	if tr != nil {
		return insertTransition(ctx, tx, *tr)
	}
	return nil
}

// Update implements session.Store.
func (st *Store) Update(ctx context.Context, s session.Session, tr *session.Transition) error {
	if err := session.CheckUpdate(s, tr); err != nil {
		return err
	}
	return st.inTx(ctx, func(tx *sql.Tx) error { return update(ctx, tx, s, tr) })
}

// Invoice implements session.Store.
func (st *Store) Invoice(ctx context.Context, s session.Session, tr session.Transition, inv invoice.Invoice) (invoice.Invoice, error) {
	if err := session.CheckUpdate(s, &tr); err != nil {
		return invoice.Invoice{}, err
	}
	return invoicesqlite.Complete(ctx, st.db, inv, func(ctx context.Context, tx *sql.Tx) error { return update(ctx, tx, s, &tr) })
}

const selectSession = `SELECT s.data, coalesce(i.number, 0) FROM sessions s LEFT JOIN invoices i ON i.session = s.id`

type scanner interface{ Scan(dest ...any) error }

func scan(row scanner) (session.Session, error) {
	var (
		s    session.Session
		data string
		n    int64
	)
	if err := row.Scan(&data, &n); err != nil {
		return session.Session{}, err
	}
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		return session.Session{}, fmt.Errorf("decode: %w", err)
	}
	s.InvoiceNumber = n
	return s, nil
}

// Session implements session.Store.
func (st *Store) Session(ctx context.Context, id string) (session.Session, error) {
	s, err := scan(st.db.QueryRowContext(ctx, selectSession+` WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return session.Session{}, fmt.Errorf("sqlite: session %s: %w", id, session.ErrNotFound)
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("sqlite: session %s: %w", id, err)
	}
	return s, nil
}

// Transitions implements session.Store.
func (st *Store) Transitions(ctx context.Context, id string) ([]session.Transition, error) {
	rows, err := st.db.QueryContext(ctx, `SELECT session, version, from_state, to_state, cause, at
		FROM session_transitions WHERE session = ? ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: transitions of %s: %w", id, err)
	}
	defer rows.Close()
	var log []session.Transition
	for rows.Next() {
		var (
			tr session.Transition
			at int64
		)
		if err := rows.Scan(&tr.Session, &tr.Version, &tr.From, &tr.To, &tr.Cause, &at); err != nil {
			return nil, fmt.Errorf("sqlite: transitions of %s: %w", id, err)
		}
		tr.At = time.UnixMicro(at).UTC()
		log = append(log, tr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: transitions of %s: %w", id, err)
	}
	if len(log) == 0 {
		if _, err := st.Session(ctx, id); err != nil {
			return nil, err
		}
	}
	return log, nil
}

// List implements session.Store.
func (st *Store) List(ctx context.Context, f session.Filter) ([]session.Session, error) {
	if len(f.States) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(f.States)+2)
	for _, s := range f.States {
		args = append(args, string(s))
	}
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	args = append(args, f.Todo, f.Operator, f.Operator, limit)
	q := selectSession + ` WHERE s.state IN (?` + strings.Repeat(", ?", len(f.States)-1) + `) AND (s.todo OR NOT ?) AND (? = '' OR s.operator = ?)
		ORDER BY s.updated_at, s.id LIMIT ?`
	rows, err := st.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	defer rows.Close()
	var out []session.Session
	for rows.Next() {
		s, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list sessions: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	return out, nil
}
