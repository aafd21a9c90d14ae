package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanCommandPrintsTableAndCSV(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "plan.csv")
	code, out, errOut := run(t, "plan", "--site", "../../deploy/site-small.yaml", "--hours", "4", "--sweep", "63,100,160", "--csv", csv)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"delivered kWh", "sweep of grid connection sizes", "63/63/63", "160/160/160", "Poisson", "binding limit"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "connection_l1_ma,") {
		t.Errorf("CSV: want a header and 3 rows, got:\n%s", b)
	}
}

// TestPlanCommandWritesNoFileUnasked: without --csv (or --svg) plan writes
// nothing, and each row of the sweep names its binding limit.
func TestPlanCommandWritesNoFileUnasked(t *testing.T) {
	dir := t.TempDir()
	site, err := filepath.Abs("../../deploy/site-small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, out, errOut := run(t, "plan", "--site", site, "--hours", "2", "--sweep", "63,400")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("plan wrote %v without being asked", entries)
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "63/63/63") || strings.Contains(line, "400/400/400") {
			rows++
			if !strings.Contains(line, " at ") && !strings.Contains(line, "none (cars at their max)") {
				t.Errorf("row names no binding limit: %q", line)
			}
		}
	}
	if rows == 0 {
		t.Errorf("no sweep rows in:\n%s", out)
	}
}

func TestPlanCommandRejectsBadInput(t *testing.T) {
	if code, _, errOut := run(t, "plan", "--site", "../../deploy/site-small.yaml", "--sweep", "abc", "--csv", ""); code != 1 || !strings.Contains(errOut, "not a positive whole number") {
		t.Errorf("bad sweep: exit %d, %s", code, errOut)
	}
	if code, _, _ := run(t, "plan", "--site", "no/such/site.yaml"); code != 1 {
		t.Errorf("missing site: exit %d", code)
	}
}
