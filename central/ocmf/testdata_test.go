package ocmf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// readShared reads a file of the shared OCMF test data, read in place
// (never copied into the repository): ../shared/testdata/ocmf beside the
// repository, or $PARKGRID_SHARED/testdata/ocmf. Without it the test is
// skipped locally and fails under CI=true (svctest decides).
func readShared(tb testing.TB, name string) []byte {
	tb.Helper()
	path := filepath.Join(svctest.SharedDir(tb, "testdata/ocmf"), name)
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("shared OCMF test data: %v", err)
	}
	return b
}

type katRecord struct {
	Source    string `json:"source"`
	Curve     string `json:"curve"`
	OCMF      string `json:"ocmf"`
	KeyHex    string `json:"public_key_hex"`
	Published string `json:"public_key_as_published"`
	Expect    string `json:"expect"`
	Note      string `json:"note"`
	Origin    string `json:"origin"`
}

func loadKAT(tb testing.TB) []katRecord {
	tb.Helper()
	var recs []katRecord
	if err := json.Unmarshal(readShared(tb, "kat.json"), &recs); err != nil {
		tb.Fatalf("decode kat.json: %v", err)
	}
	if len(recs) != 57 {
		tb.Fatalf("kat.json has %d records, want 57", len(recs))
	}
	return recs
}

type conformanceCase struct {
	ID          string `json:"id"`
	Group       string `json:"group"`
	Description string `json:"description"`
	Record      string `json:"record"`
	Key         string `json:"key"`
	Expect      struct {
		Parses   bool  `json:"parses"`
		Verifies *bool `json:"verifies"`
		Readings *int  `json:"readings"`
	} `json:"expect"`
}

func loadConformance(tb testing.TB) []conformanceCase {
	tb.Helper()
	var suite struct {
		Cases []conformanceCase `json:"cases"`
	}
	if err := json.Unmarshal(readShared(tb, "conformance.json"), &suite); err != nil {
		tb.Fatalf("decode conformance.json: %v", err)
	}
	if len(suite.Cases) != 162 {
		tb.Fatalf("conformance.json has %d cases, want 162", len(suite.Cases))
	}
	return suite.Cases
}
