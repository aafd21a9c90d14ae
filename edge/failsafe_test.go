package edge

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestCheckFailsafe: a Phoenix EV-ETH controller has no device failsafe, so
// its fallback_a is never applied and counts on no node; the report says so.
func TestCheckFailsafe(t *testing.T) {
	cfg, err := config.Load(filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ChargePoints[0].FallbackA = 6
	r := CheckFailsafe(cfg)
	if len(r.Nodes) != 4 || r.Nodes[0].ID != "grid-connection" || r.Nodes[0].SafeBudgetA == nil || *r.Nodes[0].SafeBudgetA != [3]int{40, 40, 40} {
		t.Fatalf("nodes %+v", r.Nodes)
	}
	for _, n := range r.Nodes {
		if n.FallbackA != [3]int{} {
			t.Errorf("%s: fallbacks %v counted for controllers that cannot apply them", n.ID, n.FallbackA)
		}
	}
	if len(r.Without[config.Phoenix]) != 10 || !slices.Equal(r.Unapplied, []string{"p01"}) {
		t.Errorf("without %v, unapplied %v", r.Without, r.Unapplied)
	}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "fallback_a set but never applied (no device failsafe): p01") {
		t.Errorf("report:\n%s", b.String())
	}
}
