package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/postgres"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// pool opens a pool on dsn and migrates it.
func pool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := postgres.Migrate(context.Background(), p, sessiontest.T0); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return p
}

// schemas hands out one fresh schema per call in one test database.
func schemas(t *testing.T) func(t *testing.T) string {
	dsn := svctest.PostgresDSN(t)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	n := 0
	return func(t *testing.T) string {
		n++
		schema := fmt.Sprintf("s_%d", n)
		if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		return dsn + "&search_path=" + schema
	}
}

func TestConformance(t *testing.T) {
	next := schemas(t)
	sessiontest.Run(t, func(t *testing.T) session.Store { return postgres.New(pool(t, next(t))) })
}

// TestTransitionLogAppendOnly: the database itself refuses to change or
// delete a logged transition.
func TestTransitionLogAppendOnly(t *testing.T) {
	db := pool(t, schemas(t)(t))
	st := postgres.New(db)
	s, tr := sessiontest.New("s-1", "op", sessiontest.T0)
	if err := st.Create(t.Context(), s, tr); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE session_transitions SET cause = 'rewritten'`,
		`DELETE FROM session_transitions`,
	} {
		if _, err := db.Exec(t.Context(), q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}

// TestMigrateTwice: replicas starting together both migrate; the second
// finds the schema current.
func TestMigrateTwice(t *testing.T) {
	dsn := schemas(t)(t)
	pool(t, dsn)
	db := pool(t, dsn)
	var v int
	if err := db.QueryRow(t.Context(), `SELECT max(version) FROM session_schema_migrations`).Scan(&v); err != nil || v != 1 {
		t.Errorf("session schema version %d, %v; want 1", v, err)
	}
}
