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
