package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/central/store/storetest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestConformance runs the suite with one database and a fresh schema per
// subtest (creating a database per subtest costs about a second each).
func TestConformance(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		schema := fmt.Sprintf("conformance_%d", n)
		if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(t.Context(), dsn+"&search_path="+schema, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen applies the migrations once, also when two replicas start at
// the same time against an empty database.
func TestReopen(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	errs := make(chan error, 2)
	stores := make(chan *postgres.Store, 2)
	for range 2 {
		go func() {
			s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
			errs <- err
			stores <- s
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
		s := <-stores
		s.Close()
	}
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	var n int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != 1 {
		t.Errorf("schema_migrations rows = %d, %v; want 1", n, err)
	}
}
