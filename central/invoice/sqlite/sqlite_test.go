package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	"github.com/parkgrid/parkgrid/central/invoice/sqlite"
)

// open opens the database file as central/store/sqlite does (WAL, writers
// BEGIN IMMEDIATE, busy timeout).
func open(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func completionWrite(session string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO completions (session) VALUES (?) ON CONFLICT (session) DO NOTHING`, session)
		return err
	}
}

// TestNumbersGapFreeAcrossHandles runs the invoice suite on one SQLite file
// reached through two separate *sql.DB handles, each with a small pool.
func TestNumbersGapFreeAcrossHandles(t *testing.T) {
	invoicetest.Run(t, func(t *testing.T) invoicetest.Backend {
		path := filepath.Join(t.TempDir(), "central.db")
		dbs := [2]*sql.DB{open(t, path), open(t, path)}
		for _, db := range dbs {
			db.SetMaxOpenConns(4)
			if err := sqlite.Migrate(t.Context(), db, invoicetest.T0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := dbs[0].ExecContext(t.Context(), `CREATE TABLE completions (session TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		return invoicetest.Backend{
			Complete: func(ctx context.Context, r int, inv invoice.Invoice) (invoice.Invoice, error) {
				return sqlite.Complete(ctx, dbs[r], inv, completionWrite(inv.Session))
			},
			Abort: func(ctx context.Context, r int, inv invoice.Invoice) error {
				tx, err := dbs[r].BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback() //nolint:errcheck // the point of the test
				if err := completionWrite(inv.Session)(ctx, tx); err != nil {
					return err
				}
				if _, err := sqlite.Issue(ctx, tx, inv); err != nil {
					return err
				}
				return invoicetest.ErrAbort
			},
			Numbers: func(ctx context.Context, op string) ([]int64, error) {
				rows, err := dbs[1].QueryContext(ctx, `SELECT number FROM invoices WHERE operator = ? ORDER BY number`, op)
				if err != nil {
					return nil, err
				}
				defer rows.Close()
				var ns []int64
				for rows.Next() {
					var n int64
					if err := rows.Scan(&n); err != nil {
						return nil, err
					}
					ns = append(ns, n)
				}
				return ns, rows.Err()
			},
			Completions: func(ctx context.Context) (int, error) {
				var n int
				err := dbs[0].QueryRowContext(ctx, `SELECT count(*) FROM completions`).Scan(&n)
				return n, err
			},
			Get: func(ctx context.Context, op string, n int64) (invoice.Invoice, error) {
				return sqlite.Get(ctx, dbs[0], op, n)
			},
		}
	})
}
