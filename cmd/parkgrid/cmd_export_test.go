package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
)

func TestExportAuditor(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "central.db")
	st, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if err := st.EnrollGateway(t.Context(), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(cfg, []byte("store: {driver: sqlite, path: "+db+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "audit")
	code, stdout, stderr := run(t, "export", "--auditor", "--config", cfg, "--gateway", "gw-1", "--from", "2026-11-01", "--to", "2026-12-01T00:00:00Z", "--out", out)
	if code != 0 || !strings.Contains(stdout, "0 batches") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	for _, f := range []string{"README.md", "verify.sh", "SHA256SUMS", "gateway/keys.csv", "gateway/key-1.pem"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("export lacks %s: %v", f, err)
		}
	}
	for _, bad := range [][]string{
		{"export", "--config", cfg, "--gateway", "gw-1", "--out", out + "2"},                             // no --auditor
		{"export", "--auditor", "--config", cfg, "--gateway", "gw-1", "--out", out + "3", "--from", "x"}, // bad time
	} {
		if code, _, _ := run(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	if code, _, errOut := run(t, "export", "--auditor", "--config", cfg, "--gateway", "gw-9", "--out", out+"4"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown gateway: exit %d, %s", code, errOut)
	}
}
