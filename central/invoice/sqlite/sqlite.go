package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// Tx is what Issue needs of a transaction; *sql.Tx has it.
type Tx interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

// Migrate applies pending invoice migrations in one write transaction.
func Migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	ms, err := invoice.Migrations("sqlite")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("invoice migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := sqlmigrate.SQLite(ctx, tx, invoice.MigrationSet(), ms, now, nil); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("invoice migrate: commit: %w", err)
	}
	return nil
}

// Next allocates operator's next invoice number inside tx; a rollback
// gives it back.
func Next(ctx context.Context, tx Tx, operator string) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, `INSERT INTO invoice_counters (operator, last_number) VALUES (?, 1)
		ON CONFLICT (operator) DO UPDATE SET last_number = last_number + 1
		RETURNING last_number`, operator).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next invoice number of %q: %w", operator, err)
	}
	return n, nil
}

// Issue allocates the next number of inv.Operator and stores inv with it,
// inside tx; it returns inv with Number set. A session invoiced before is
// ErrAlreadyIssued, and the caller must roll tx back.
func Issue(ctx context.Context, tx Tx, inv invoice.Invoice) (invoice.Invoice, error) {
	if err := inv.Validate(); err != nil {
		return invoice.Invoice{}, err
	}
	n, err := Next(ctx, tx, inv.Operator)
	if err != nil {
		return invoice.Invoice{}, err
	}
	inv.Number = n
	receipt, err := json.Marshal(inv.Receipt)
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: receipt: %w", n, inv.Operator, err)
	}
	p := inv.Receipt.Price
	res, err := tx.ExecContext(ctx, `INSERT INTO invoices
		(operator, number, session, issued_at, currency, gross_minor, net_minor, vat_minor, vat_rate_bp, receipt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (session) DO NOTHING`,
		inv.Operator, n, inv.Session, micros(inv.IssuedAt), p.Currency, p.GrossMinor, p.NetMinor, p.VATMinor, p.VATRateBP, string(receipt))
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: insert: %w", n, inv.Operator, err)
	}
	if k, err := res.RowsAffected(); err != nil || k == 0 {
		return invoice.Invoice{}, fmt.Errorf("invoice for session %q: %w", inv.Session, errors.Join(invoice.ErrAlreadyIssued, err))
	}
	return inv, nil
}

// Complete runs the caller's completion write and then Issue in one
// transaction on db, and commits; nothing is stored unless both succeed.
func Complete(ctx context.Context, db *sql.DB, inv invoice.Invoice, write func(ctx context.Context, tx *sql.Tx) error) (invoice.Invoice, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("complete session %q: begin: %w", inv.Session, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := write(ctx, tx); err != nil {
		return invoice.Invoice{}, fmt.Errorf("complete session %q: completion write: %w", inv.Session, err)
	}
	issued, err := Issue(ctx, tx, inv)
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("complete session %q: %w", inv.Session, err)
	}
	if err := tx.Commit(); err != nil {
		return invoice.Invoice{}, fmt.Errorf("complete session %q: commit: %w", inv.Session, err)
	}
	return issued, nil
}

// Querier reads; *sql.DB and *sql.Tx are ones.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Get returns the invoice (operator, number).
func Get(ctx context.Context, q Querier, operator string, number int64) (invoice.Invoice, error) {
	inv := invoice.Invoice{Operator: operator, Number: number}
	var (
		issued  int64
		receipt string
	)
	err := q.QueryRowContext(ctx, `SELECT session, issued_at, receipt FROM invoices WHERE operator = ? AND number = ?`,
		operator, number).Scan(&inv.Session, &issued, &receipt)
	if errors.Is(err, sql.ErrNoRows) {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: %w", number, operator, invoice.ErrNotFound)
	}
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: %w", number, operator, err)
	}
	if err := json.Unmarshal([]byte(receipt), &inv.Receipt); err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: receipt: %w", number, operator, err)
	}
	inv.IssuedAt = time.UnixMicro(issued).UTC()
	return inv, nil
}
