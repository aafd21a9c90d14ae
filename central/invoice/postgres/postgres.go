package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// Tx is what Issue needs of a transaction; pgx.Tx has it.
type Tx interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Beginner starts transactions; *pgxpool.Pool and *pgx.Conn are ones.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Migrate applies pending invoice migrations, recording them in
// invoice_schema_migrations with applied time now.
func Migrate(ctx context.Context, db Beginner, now time.Time) error {
	ms, err := invoice.Migrations("postgres")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return sqlmigrate.Postgres(ctx, tx, invoice.MigrationSet(), ms, now, nil)
	})
}

// Next allocates operator's next invoice number inside tx: the counter row
// stays locked until tx ends, and a rollback gives the number back.
func Next(ctx context.Context, tx Tx, operator string) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `INSERT INTO invoice_counters (operator, last_number) VALUES ($1, 1)
		ON CONFLICT (operator) DO UPDATE SET last_number = invoice_counters.last_number + 1
		RETURNING last_number`, operator).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next invoice number of %q: %w", operator, err)
	}
	return n, nil
}

// Issue allocates the next number of inv.Operator and stores inv with it,
// inside tx; it returns inv with Number set. A session invoiced before is
// ErrAlreadyIssued, and the caller must roll tx back (which returns the
// number).
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
	tag, err := tx.Exec(ctx, `INSERT INTO invoices
		(operator, number, session, issued_at, currency, gross_minor, net_minor, vat_minor, vat_rate_bp, receipt)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (session) DO NOTHING`,
		inv.Operator, n, inv.Session, inv.IssuedAt, p.Currency, p.GrossMinor, p.NetMinor, p.VATMinor, p.VATRateBP, receipt)
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: insert: %w", n, inv.Operator, err)
	}
	if tag.RowsAffected() == 0 {
		return invoice.Invoice{}, fmt.Errorf("invoice for session %q: %w", inv.Session, invoice.ErrAlreadyIssued)
	}
	return inv, nil
}

// Complete runs the caller's completion write and then Issue in one
// transaction on db, and commits. Nothing of either is stored unless both
// succeed. The number is allocated after write, so the counter's lock is
// held only for the insert and the commit.
func Complete(ctx context.Context, db Beginner, inv invoice.Invoice, write func(ctx context.Context, tx pgx.Tx) error) (invoice.Invoice, error) {
	var issued invoice.Invoice
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := write(ctx, tx); err != nil {
			return fmt.Errorf("completion write: %w", err)
		}
		var err error
		issued, err = Issue(ctx, tx, inv)
		return err
	})
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("complete session %q: %w", inv.Session, err)
	}
	return issued, nil
}

// Get returns the invoice (operator, number).
func Get(ctx context.Context, q Tx, operator string, number int64) (invoice.Invoice, error) {
	inv := invoice.Invoice{Operator: operator, Number: number}
	var receipt []byte
	err := q.QueryRow(ctx, `SELECT session, issued_at, receipt FROM invoices WHERE operator = $1 AND number = $2`,
		operator, number).Scan(&inv.Session, &inv.IssuedAt, &receipt)
	if errors.Is(err, pgx.ErrNoRows) {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: %w", number, operator, invoice.ErrNotFound)
	}
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: %w", number, operator, err)
	}
	if err := json.Unmarshal(receipt, &inv.Receipt); err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %d of %q: receipt: %w", number, operator, err)
	}
	inv.IssuedAt = inv.IssuedAt.UTC()
	return inv, nil
}
