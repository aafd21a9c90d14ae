package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// fallbackSite is a site file with n three-phase charge points, each
// falling back to fallbackA, below a grid connection of 100 A with a
// metered safe budget of budgetA.
func fallbackSite(n, fallbackA, budgetA int) string {
	var b strings.Builder
	b.WriteString(`site: fb
gateway: gw-fb
buses:
  - id: lan
    tcp: 127.0.0.1:1502
    devices:
      - {id: grid, driver: sdm630, unit: 1}
      - {id: di, driver: diinput, unit: 2}
`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - {id: cc-%d, driver: phoenix, unit: %d}\n", i, 100+i)
	}
	fmt.Fprintf(&b, `grid:
  limit_a: 100
  meter: grid
  safe_budget_a: %d
  distributions:
    - id: ud-1
      limit_a: 80
      circuits:
        - {id: c-1, limit_a: 80}
charge_points:
`, budgetA)
	rot := []string{"L1L2L3", "L2L3L1", "L3L1L2"}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {id: cp-%d, circuit: c-1, controller: cc-%d, rotation: %s, max_a: 32, fallback_a: %d}\n", i, i, rot[(i-1)%3], fallbackA)
	}
	b.WriteString("safety:\n  fire_loop: {device: di, input: 0}\n")
	return b.String()
}

// TestFallbacksWithinTheSafeBudget: the fallback currents of a grid
// connection must fit its safe budget, not only its fuse: with the edge
// silent the grid meter's reading is as good as stale.
func TestFallbacksWithinTheSafeBudget(t *testing.T) {
	_, err := LoadBytes("fb.yaml", []byte(fallbackSite(10, 6, 40)))
	want := `node "grid": fallback currents of its charge points add up to 60 A on L1, above its safe budget of 40 A`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("10 × 6 A against a 40 A safe budget: err %v\nwant one containing %q", err, want)
	}
	if _, err := LoadBytes("fb.yaml", []byte(fallbackSite(6, 6, 40))); err != nil {
		t.Errorf("6 × 6 A (36 A) against 40 A: %v", err)
	}
}

// TestStateFileDefaultsToDataDir: the latch survives restarts by default.
func TestStateFileDefaultsToDataDir(t *testing.T) {
	s, err := LoadBytes("fb.yaml", []byte(fallbackSite(1, 0, 40)))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(DefaultDataDir, "safety.json"); s.Safety.StateFile != want {
		t.Errorf("state file %q, want %q", s.Safety.StateFile, want)
	}
	s, err = LoadBytes("/etc/parkgrid/site.yaml", []byte(fallbackSite(1, 0, 40)+"data_dir: data\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "/etc/parkgrid/data/safety.json"; s.Safety.StateFile != want || s.DataDir != "/etc/parkgrid/data" {
		t.Errorf("data_dir relative to the site file: state file %q, data dir %q; want %q", s.Safety.StateFile, s.DataDir, want)
	}
}
