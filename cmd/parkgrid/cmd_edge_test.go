package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

func TestEdgeCheckFlag(t *testing.T) {
	code, out, errOut := run(t, "edge", "--check", "--config", filepath.Join(svctest.RepoRoot(t), "deploy", "site-large.yaml"))
	if code != 0 || !strings.Contains(out, `site "sim-large", 7 buses`) || !strings.Contains(out, "500 charge points: ok") {
		t.Errorf("code %d, out %q, err %q", code, out, errOut)
	}
	bad := filepath.Join(svctest.RepoRoot(t), "edge", "testdata", "config", "bad", "unit_range.yaml")
	if code, _, errOut := run(t, "edge", "--config", bad); code != 1 || !strings.Contains(errOut, "modbus unit 300 not in 1..247") {
		t.Errorf("bad config: code %d, stderr %q", code, errOut)
	}
	if code, _, _ := run(t, "edge"); code != 2 {
		t.Errorf("no --config: code %d, want 2", code)
	}
}

// TestEdgeCheckReportsFailsafe: --check prints the site's fail-safe: per
// node the sum of the fallback currents against its limit (and the safe
// budget at the grid connection), and the controllers without a device
// failsafe.
func TestEdgeCheckReportsFailsafe(t *testing.T) {
	code, out, errOut := run(t, "edge", "--check", "--config", filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	flat := strings.Join(strings.Fields(out), " ") // columns are padded
	for _, want := range []string{
		"fail-safe:",
		"grid-connection fallbacks 0/0/0 A limit 100/100/100 A safe budget 40/40/40 A",
		"ud1-c1 fallbacks 0/0/0 A limit 63/63/63 A",
		"10 controllers without a device failsafe (phoenix): p01, p02, p03, p04, p05, p06 and 4 more",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
