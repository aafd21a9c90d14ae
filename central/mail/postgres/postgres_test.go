package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/mail"
	"github.com/parkgrid/parkgrid/central/mail/mailtest"
	"github.com/parkgrid/parkgrid/central/mail/postgres"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestConformance runs the outbox suite on PostgreSQL, one schema per
// subtest.
func TestConformance(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	n := 0
	mailtest.RunStore(t, func(t *testing.T) mail.Store {
		n++
		schema := fmt.Sprintf("mail_%d", n)
		if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		db, err := pgxpool.New(t.Context(), dsn+"&search_path="+schema)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		for range 2 { // a second replica finds the schema current
			if err := postgres.Migrate(t.Context(), db, mailtest.T0); err != nil {
				t.Fatal(err)
			}
		}
		return postgres.New(db)
	})
}
