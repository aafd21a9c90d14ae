package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/central/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "central.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen applies the migrations once: a second Open of the same file
// finds the schema current and keeps the data.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, body := storetest.Batch("gw-1", "site-a", 1, 3, "")
	if _, err := s.SaveBatch(t.Context(), "gw-1", 1, b, body); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if n, err := s.HighestContiguousSeq(t.Context(), "gw-1", ""); err != nil || n != 1 {
		t.Errorf("after reopen: contiguous = %d, %v; want 1", n, err)
	}
}

func TestOpenRefusesMemoryAndQueryPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "/tmp/x.db?mode=ro"} {
		if _, err := sqlite.Open(t.Context(), p, sqlite.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}
