package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	"github.com/parkgrid/parkgrid/central/invoice/postgres"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// replicas opens two separate pools on dsn (two central replicas), with the
// invoice schema and a completions table standing in for the session rows.
func replicas(t testing.TB, dsn string) [2]*pgxpool.Pool {
	t.Helper()
	var pools [2]*pgxpool.Pool
	for i := range pools {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 8
		p, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools[i] = p
	}
	// Both replicas migrate at once, as replicas starting together do.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range pools {
		wg.Go(func() { errs[i] = postgres.Migrate(context.Background(), p, invoicetest.T0) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	if _, err := pools[0].Exec(context.Background(), `CREATE TABLE IF NOT EXISTS completions (session text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return pools
}

func completionWrite(session string) func(ctx context.Context, tx pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO completions (session) VALUES ($1) ON CONFLICT (session) DO NOTHING`, session)
		return err
	}
}

func backend(pools [2]*pgxpool.Pool) invoicetest.Backend {
	return invoicetest.Backend{
		Complete: func(ctx context.Context, r int, inv invoice.Invoice) (invoice.Invoice, error) {
			return postgres.Complete(ctx, pools[r], inv, completionWrite(inv.Session))
		},
		Abort: func(ctx context.Context, r int, inv invoice.Invoice) error {
			return pgx.BeginFunc(ctx, pools[r], func(tx pgx.Tx) error {
				if err := completionWrite(inv.Session)(ctx, tx); err != nil {
					return err
				}
				if _, err := postgres.Issue(ctx, tx, inv); err != nil {
					return err
				}
				return invoicetest.ErrAbort
			})
		},
		Numbers: func(ctx context.Context, op string) ([]int64, error) {
			rows, err := pools[1].Query(ctx, `SELECT number FROM invoices WHERE operator = $1 ORDER BY number`, op)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, pgx.RowTo[int64])
		},
		Completions: func(ctx context.Context) (int, error) {
			var n int
			err := pools[0].QueryRow(ctx, `SELECT count(*) FROM completions`).Scan(&n)
			return n, err
		},
		Get: func(ctx context.Context, op string, n int64) (invoice.Invoice, error) {
			return postgres.Get(ctx, pools[0], op, n)
		},
	}
}

// TestNumbersGapFreeAcrossReplicas runs the invoice suite on PostgreSQL,
// one schema per subtest in one database, through two pools.
func TestNumbersGapFreeAcrossReplicas(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	n := 0
	invoicetest.Run(t, func(t *testing.T) invoicetest.Backend {
		n++
		schema := fmt.Sprintf("invoice_%d", n)
		if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		return backend(replicas(t, dsn+"&search_path="+schema))
	})
}

// TestMigrateIsIdempotent: a second Migrate finds the schema current.
func TestMigrateIsIdempotent(t *testing.T) {
	pools := replicas(t, svctest.PostgresDSN(t))
	if err := postgres.Migrate(t.Context(), pools[1], time.Now()); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := pools[0].QueryRow(t.Context(), `SELECT max(version) FROM invoice_schema_migrations`).Scan(&v); err != nil || v != 1 {
		t.Errorf("invoice schema version %d, %v; want 1", v, err)
	}
}

// BenchmarkIssue measures invoices issued per second: each one a
// committed transaction with a completion write and the number, from
// 4×GOMAXPROCS goroutines over two pools (two replicas). one-operator is
// the serial case (every issuer waits on the operator's counter row);
// 8-operators spreads the same load over eight counters. raw-commit is the
// ceiling of the same machine in the same run: one transaction with one
// INSERT, no counter.
func BenchmarkIssue(b *testing.B) {
	pools := replicas(b, svctest.PostgresDSN(b))
	var (
		mu sync.Mutex
		i  int
	)
	next := func() int { mu.Lock(); defer mu.Unlock(); i++; return i }
	run := func(b *testing.B, operators int) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := next()
				inv := invoicetest.Sample(fmt.Sprintf("op-%d", k%operators), fmt.Sprintf("sess-%d", k))
				if _, err := postgres.Complete(context.Background(), pools[k%2], inv, completionWrite(inv.Session)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "invoices/s")
	}
	b.Run("one-operator", func(b *testing.B) { run(b, 1) })
	b.Run("8-operators", func(b *testing.B) { run(b, 8) })
	b.Run("raw-commit", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := next()
				ctx := context.Background()
				err := pgx.BeginFunc(ctx, pools[k%2], func(tx pgx.Tx) error { return completionWrite(fmt.Sprintf("raw-%d", k))(ctx, tx) })
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	})
}
