package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/invoice"
	invoicepg "github.com/parkgrid/parkgrid/central/invoice/postgres"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// Migrate applies the invoice migrations and then the pending session
// migrations, recording them in session_schema_migrations with applied
// time now.
func Migrate(ctx context.Context, db *pgxpool.Pool, now time.Time) error {
	if err := invoicepg.Migrate(ctx, db, now); err != nil {
		return fmt.Errorf("session migrate: %w", err)
	}
	ms, err := session.Migrations("postgres")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return sqlmigrate.Postgres(ctx, tx, session.MigrationSet(), ms, now, nil)
	})
}

// Store is the session.Store on one pool. Run Migrate first.
type Store struct {
	db *pgxpool.Pool
}

var _ session.Store = (*Store)(nil)

// New returns a store on db.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func encode(s session.Session) ([]byte, error) {
	s.InvoiceNumber = 0 // the invoices table holds it
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("session %s: encode: %w", s.ID, err)
	}
	return b, nil
}

func insertTransition(ctx context.Context, tx execer, tr session.Transition) error {
	_, err := tx.Exec(ctx, `INSERT INTO session_transitions (session, version, from_state, to_state, cause, at)
		VALUES ($1, $2, $3, $4, $5, $6)`, tr.Session, tr.Version, string(tr.From), string(tr.To), tr.Cause, tr.At)
	if err != nil {
		return fmt.Errorf("session %s: log transition %s → %s: %w", tr.Session, tr.From, tr.To, err)
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
	return pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO sessions (id, operator, state, version, todo, created_at, updated_at, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
			s.ID, s.Operator, string(s.State), s.Version, s.Todo(), s.CreatedAt, s.UpdatedAt, data)
		if err != nil {
			return fmt.Errorf("postgres: create session %s: %w", s.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: create session %s: %w", s.ID, session.ErrExists)
		}
		return insertTransition(ctx, tx, tr)
	})
}

// update is the versioned write of Update and Invoice, inside tx.
func update(ctx context.Context, tx execer, s session.Session, tr *session.Transition) error {
	data, err := encode(s)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE sessions SET state = $2, version = $3, todo = $4, updated_at = $5, data = $6
		WHERE id = $1 AND version = $3 - 1`, s.ID, string(s.State), s.Version, s.Todo(), s.UpdatedAt, data)
	if err != nil {
		return fmt.Errorf("postgres: update session %s: %w", s.ID, err)
	}
	if tag.RowsAffected() == 0 {
		var have int64
		err := tx.QueryRow(ctx, `SELECT version FROM sessions WHERE id = $1`, s.ID).Scan(&have)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: update session %s: %w", s.ID, session.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: update session %s: %w", s.ID, err)
		}
		return fmt.Errorf("postgres: update session %s to version %d: %w: stored version is %d", s.ID, s.Version, session.ErrConflict, have)
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
	return pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error { return update(ctx, tx, s, tr) })
}

// Invoice implements session.Store.
func (st *Store) Invoice(ctx context.Context, s session.Session, tr session.Transition, inv invoice.Invoice) (invoice.Invoice, error) {
	if err := session.CheckUpdate(s, &tr); err != nil {
		return invoice.Invoice{}, err
	}
	return invoicepg.Complete(ctx, st.db, inv, func(ctx context.Context, tx pgx.Tx) error { return update(ctx, tx, s, &tr) })
}

const selectSession = `SELECT s.data, coalesce(i.number, 0) FROM sessions s LEFT JOIN invoices i ON i.session = s.id`

func scan(row pgx.Row) (session.Session, error) {
	var (
		s    session.Session
		data []byte
		n    int64
	)
	if err := row.Scan(&data, &n); err != nil {
		return session.Session{}, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return session.Session{}, fmt.Errorf("decode: %w", err)
	}
	s.InvoiceNumber = n
	return s, nil
}

// Session implements session.Store.
func (st *Store) Session(ctx context.Context, id string) (session.Session, error) {
	s, err := scan(st.db.QueryRow(ctx, selectSession+` WHERE s.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return session.Session{}, fmt.Errorf("postgres: session %s: %w", id, session.ErrNotFound)
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("postgres: session %s: %w", id, err)
	}
	return s, nil
}

// Transitions implements session.Store.
func (st *Store) Transitions(ctx context.Context, id string) ([]session.Transition, error) {
	rows, err := st.db.Query(ctx, `SELECT session, version, from_state, to_state, cause, at
		FROM session_transitions WHERE session = $1 ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: transitions of %s: %w", id, err)
	}
	log, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (session.Transition, error) {
		var tr session.Transition
		err := r.Scan(&tr.Session, &tr.Version, &tr.From, &tr.To, &tr.Cause, &tr.At)
		tr.At = tr.At.UTC()
		return tr, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: transitions of %s: %w", id, err)
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
	states := make([]string, len(f.States))
	for i, s := range f.States {
		states[i] = string(s)
	}
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	rows, err := st.db.Query(ctx, selectSession+` WHERE s.state = ANY($1) AND (s.todo OR NOT $2) AND ($4 = '' OR s.operator = $4)
		ORDER BY s.updated_at, s.id LIMIT $3`, states, f.Todo, limit, f.Operator)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (session.Session, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	return out, nil
}
