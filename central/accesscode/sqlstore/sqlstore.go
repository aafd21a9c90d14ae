// Package sqlstore is the accesscode.Store on PostgreSQL (pgx's
// database/sql driver) and SQLite: one implementation, the dialects
// differing only in placeholders. Every query filters by operator.
package sqlstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// MigrationSet is the accesscode tables' migration set.
func MigrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "access_code", Table: "access_code_schema_migrations", LockID: 0x6163636f646573}
}

// Migrate applies the pending migrations of the accesscode tables.
func Migrate(ctx context.Context, db *sql.DB, dialect string, now time.Time) error {
	return sqldb.Migrate(ctx, db, dialect, MigrationSet(), accesscode.MigrationFiles, now)
}

// Store is the accesscode.Store on one handle. Run Migrate first.
type Store struct {
	db      *sql.DB
	dialect string
}

var _ accesscode.Store = (*Store)(nil)

// New returns a store on db of dialect (sqldb.Postgres, sqldb.SQLite).
func New(db *sql.DB, dialect string) *Store { return &Store{db: db, dialect: dialect} }

// stored keeps the hash, which accesscode.Code hides from JSON.
type stored struct {
	accesscode.Code
	Hash string `json:"hash"`
}

func encode(c accesscode.Code) (string, error) {
	b, err := json.Marshal(stored{Code: c, Hash: c.Hash})
	return string(b), err
}

func decode(data string, uses int64) (accesscode.Code, error) {
	var s stored
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		return accesscode.Code{}, fmt.Errorf("access code: decode: %w", err)
	}
	s.Code.Hash, s.Code.Uses = s.Hash, uses
	return s.Code, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) get(ctx context.Context, q querier, where string, args ...any) (accesscode.Code, error) {
	var (
		data string
		uses int64
	)
	err := q.QueryRowContext(ctx, sqldb.Bind(s.dialect, `SELECT data, uses FROM access_codes WHERE `+where), args...).Scan(&data, &uses)
	if errors.Is(err, sql.ErrNoRows) {
		return accesscode.Code{}, accesscode.ErrNotFound
	}
	if err != nil {
		return accesscode.Code{}, fmt.Errorf("access code: %w", err)
	}
	return decode(data, uses)
}

// Create implements accesscode.Store.
func (s *Store) Create(ctx context.Context, c accesscode.Code) error {
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := encode(c)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, sqldb.Bind(s.dialect, `INSERT INTO access_codes (operator, id, hash, uses, data) VALUES (?, ?, ?, 0, ?)`),
		c.Operator, c.ID, c.Hash, data); err != nil {
		if _, gerr := s.Code(ctx, c.Operator, c.ID); gerr == nil {
			return fmt.Errorf("access code %s: %w: id taken", c.ID, accesscode.ErrInvalid)
		}
		return fmt.Errorf("access code %s: create: %w", c.ID, err)
	}
	return nil
}

// Code implements accesscode.Store.
func (s *Store) Code(ctx context.Context, operator, id string) (accesscode.Code, error) {
	c, err := s.get(ctx, s.db, `operator = ? AND id = ?`, operator, id)
	if err != nil {
		return c, fmt.Errorf("access code %s: %w", id, err)
	}
	return c, nil
}

// Codes implements accesscode.Store.
func (s *Store) Codes(ctx context.Context, operator string) ([]accesscode.Code, error) {
	rows, err := s.db.QueryContext(ctx, sqldb.Bind(s.dialect, `SELECT data, uses FROM access_codes WHERE operator = ? ORDER BY id`), operator)
	if err != nil {
		return nil, fmt.Errorf("access codes: %w", err)
	}
	defer rows.Close()
	out := []accesscode.Code{}
	for rows.Next() {
		var (
			data string
			uses int64
		)
		if err := rows.Scan(&data, &uses); err != nil {
			return nil, fmt.Errorf("access codes: %w", err)
		}
		c, err := decode(data, uses)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Revoke implements accesscode.Store. Revoking twice keeps the first time.
func (s *Store) Revoke(ctx context.Context, operator, id string, now time.Time) (accesscode.Code, error) {
	var out accesscode.Code
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.get(ctx, tx, `operator = ? AND id = ?`, operator, id)
		if err != nil {
			return fmt.Errorf("revoke access code %s: %w", id, err)
		}
		if !c.Revoked {
			c.Revoked, c.RevokedAt = true, now.UTC()
			data, err := encode(c)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqldb.Bind(s.dialect, `UPDATE access_codes SET data = ? WHERE operator = ? AND id = ?`), data, operator, id); err != nil {
				return fmt.Errorf("revoke access code %s: %w", id, err)
			}
		}
		out = c
		return nil
	})
	return out, err
}

// Update implements accesscode.Store.
func (s *Store) Update(ctx context.Context, operator, id string, e accesscode.Edit) (accesscode.Code, error) {
	var out accesscode.Code
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.get(ctx, tx, `operator = ? AND id = ?`, operator, id)
		if err != nil {
			return fmt.Errorf("update access code %s: %w", id, err)
		}
		if out, err = c.Apply(e); err != nil {
			return err
		}
		data, err := encode(out)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqldb.Bind(s.dialect, `UPDATE access_codes SET data = ? WHERE operator = ? AND id = ?`), data, operator, id); err != nil {
			return fmt.Errorf("update access code %s: %w", id, err)
		}
		return nil
	})
	return out, err
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("access codes: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("access codes: commit: %w", err)
	}
	return nil
}

// Redeem implements accesscode.Store. The use count moves only from the
// value read (optimistic), so concurrent redemptions on PostgreSQL never
// exceed MaxUses; the loser retries on the new count. On SQLite the write
// transaction serialises them.
func (s *Store) Redeem(ctx context.Context, operator, hash, session string, now time.Time) (accesscode.Code, error) {
	if len(hash) != 64 || session == "" {
		return accesscode.Code{}, fmt.Errorf("redeem: %w: hash and session required", accesscode.ErrInvalid)
	}
	for attempt := 0; attempt < 10; attempt++ {
		var (
			out   accesscode.Code
			moved bool
		)
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			c, err := s.get(ctx, tx, `operator = ? AND hash = ?`, operator, hash)
			if err != nil {
				return fmt.Errorf("redeem: %w", err)
			}
			if subtle.ConstantTimeCompare([]byte(c.Hash), []byte(hash)) != 1 {
				return fmt.Errorf("redeem: %w", accesscode.ErrNotFound)
			}
			var n int
			if err := tx.QueryRowContext(ctx, sqldb.Bind(s.dialect, `SELECT count(*) FROM access_code_uses WHERE operator = ? AND code = ? AND session = ?`),
				operator, c.ID, session).Scan(&n); err != nil {
				return fmt.Errorf("redeem %s: %w", c.ID, err)
			}
			next, err := accesscode.Redeem(c, n > 0, now)
			if err != nil {
				return err
			}
			out = next
			if next.Uses == c.Uses {
				moved = true
				return nil
			}
			res, err := tx.ExecContext(ctx, sqldb.Bind(s.dialect, `UPDATE access_codes SET uses = ? WHERE operator = ? AND id = ? AND uses = ?`),
				next.Uses, operator, c.ID, c.Uses)
			if err != nil {
				return fmt.Errorf("redeem %s: %w", c.ID, err)
			}
			if k, err := res.RowsAffected(); err != nil || k != 1 {
				return nil // counted by another redemption meanwhile: retry
			}
			if _, err := tx.ExecContext(ctx, sqldb.Bind(s.dialect, `INSERT INTO access_code_uses (operator, code, session, at) VALUES (?, ?, ?, ?)`),
				operator, c.ID, session, now.UnixMicro()); err != nil {
				return fmt.Errorf("redeem %s: use: %w", c.ID, err)
			}
			moved = true
			return nil
		})
		if err != nil {
			return accesscode.Code{}, err
		}
		if moved {
			return out, nil
		}
	}
	return accesscode.Code{}, fmt.Errorf("redeem: contended ten times; try again")
}

// Uses implements accesscode.Store.
func (s *Store) Uses(ctx context.Context, operator, id string) ([]accesscode.Use, error) {
	rows, err := s.db.QueryContext(ctx, sqldb.Bind(s.dialect, `SELECT session, at FROM access_code_uses WHERE operator = ? AND code = ? ORDER BY at, session`), operator, id)
	if err != nil {
		return nil, fmt.Errorf("access code %s uses: %w", id, err)
	}
	defer rows.Close()
	out := []accesscode.Use{}
	for rows.Next() {
		u := accesscode.Use{Code: id}
		var at int64
		if err := rows.Scan(&u.Session, &at); err != nil {
			return nil, fmt.Errorf("access code %s uses: %w", id, err)
		}
		u.At = time.UnixMicro(at).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}
