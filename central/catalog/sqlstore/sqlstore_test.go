package sqlstore_test

import (
	"testing"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/catalog/catalogtest"
	"github.com/parkgrid/parkgrid/central/catalog/sqlstore"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqldb/sqldbtest"
)

func TestConformanceSQLite(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Store {
		db := sqldbtest.SQLite(t)
		if err := sqlstore.Migrate(t.Context(), db, sqldb.SQLite, catalogtest.T0); err != nil {
			t.Fatal(err)
		}
		return sqlstore.New(db, sqldb.SQLite)
	})
}

func TestConformancePostgres(t *testing.T) {
	open := sqldbtest.Postgres(t)
	catalogtest.Run(t, func(t *testing.T) catalog.Store {
		db := open(t)
		if err := sqlstore.Migrate(t.Context(), db, sqldb.Postgres, catalogtest.T0); err != nil {
			t.Fatal(err)
		}
		return sqlstore.New(db, sqldb.Postgres)
	})
}

// TestMigrateTwice: a second Migrate finds the schema current, on both.
func TestMigrateTwice(t *testing.T) {
	db := sqldbtest.SQLite(t)
	for range 2 {
		if err := sqlstore.Migrate(t.Context(), db, sqldb.SQLite, catalogtest.T0); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM catalog_schema_migrations`).Scan(&n); err != nil || n != 1 {
		t.Errorf("applied migrations %d (%v), want 1", n, err)
	}
}
