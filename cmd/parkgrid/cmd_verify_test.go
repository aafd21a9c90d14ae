package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

type katRecord struct {
	OCMF   string `json:"ocmf"`
	Key    string `json:"public_key_hex"`
	Expect string `json:"expect"`
	Curve  string `json:"curve"`
}

// TestVerifyCommandOnRealRecords runs `parkgrid verify` on every record of
// the shared known-answer set: exit 0 and "valid" exactly for the valid ones.
func TestVerifyCommandOnRealRecords(t *testing.T) {
	dir := svctest.SharedDir(t, "testdata/ocmf")
	b, err := os.ReadFile(filepath.Join(dir, "kat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []katRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		f := filepath.Join(t.TempDir(), "rec.ocmf")
		if err := os.WriteFile(f, []byte(r.OCMF), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "verify", "--pubkey", r.Key, f)
		valid := code == 0 && out == "valid\n"
		if valid != (r.Expect == "valid") {
			t.Errorf("kat[%d] (%s): exit %d, out %q, err %q; want %s", i, r.Curve, code, out, errOut, r.Expect)
		}
		if !valid && (code != 1 || !strings.HasPrefix(out, "invalid: ")) {
			t.Errorf("kat[%d]: an invalid record must print 'invalid: <reason>' and exit 1, got %d %q", i, code, out)
		}
	}
}

func TestVerifyCommandUsage(t *testing.T) {
	if code, _, _ := run(t, "verify", "x"); code != 2 {
		t.Errorf("no key source: exit %d, want 2", code)
	}
	if code, _, errOut := run(t, "verify", "--pubkey", "00", filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	code, out, _ := run(t, "verify", "--pubkey", "00", "-")
	if code != 1 || !strings.HasPrefix(out, "invalid: ") {
		t.Errorf("empty stdin: exit %d, out %q", code, out)
	}
}
