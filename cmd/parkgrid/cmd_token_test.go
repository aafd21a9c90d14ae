package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/edge/emsapi/token"
)

// TestTokenCommand: the token is printed once, the file keeps only its
// hash with the name and scopes, a name is not given twice.
func TestTokenCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ems.tokens")
	code, out, errOut := run(t, "token", "--file", file, "--name", "ems-main", "--scopes", "limit,read")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	secret := strings.TrimSpace(out)
	if _, ok := token.ParseBearer("Bearer " + secret); !ok {
		t.Fatalf("printed %q, not a token", out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Error("the token file holds the token itself")
	}
	es, err := token.Load(file)
	if err != nil || len(es) != 1 || es[0].Name != "ems-main" || !es[0].Has(token.Read) || !es[0].Has(token.Limit) || es[0].Has(token.Reset) {
		t.Fatalf("token file entries %+v, %v", es, err)
	}
	if e, ok := token.Lookup(es, secret); !ok || e.Name != "ems-main" {
		t.Error("the printed token does not match its hash")
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %04o", fi.Mode().Perm())
	}
	if code, _, errOut := run(t, "token", "--file", file, "--name", "ems-main"); code == 0 || !strings.Contains(errOut, "exists") {
		t.Errorf("second token of the same name: exit %d, %s", code, errOut)
	}
	for _, bad := range [][]string{
		{"token", "--file", file, "--name", "x", "--scopes", "admin"},
		{"token", "--file", file, "--name", "a b"},
		{"token", "--name", "x"},
	} {
		if code, _, _ := run(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestOperatorTokenCommand: an operator token is printed once on stdout;
// stderr has the api.tokens line with its hash, never the token.
func TestOperatorTokenCommand(t *testing.T) {
	code, out, errOut := run(t, "token", "--operator", "demo-op", "--name", "ops")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "pgo_") || strings.Contains(errOut, secret) {
		t.Fatalf("token %q, stderr %q", secret, errOut)
	}
	if !strings.Contains(errOut, "{id: ops, operator: demo-op, name: ops, hash: "+catalog.HashSecret(secret)+"}") {
		t.Errorf("stderr %q lacks the config line", errOut)
	}
	if code, _, _ := run(t, "token", "--operator", "demo-op"); code == 0 {
		t.Error("no --name accepted")
	}
}
