package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/dashboard/store"
	"github.com/parkgrid/parkgrid/dashboard/store/storetest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var now = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "dash.db"), now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		s, err := store.OpenPostgres(context.Background(), svctest.PostgresDSN(t), now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestMigrateTwice opens the same file again: the migrations are recorded
// and not applied twice.
func TestMigrateTwice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dash.db")
	for i := range 2 {
		s, err := store.OpenSQLite(context.Background(), p, now)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		_ = s.Close()
	}
}
