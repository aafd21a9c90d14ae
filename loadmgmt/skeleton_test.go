package loadmgmt_test

import (
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// TestAllocateSkeletonIgnoresBrokenCircuitsBelowIt: under nested
// unbalance limits (dist's, and circuit u's below it) the grid is in the
// skeleton, whose linear program also sees circuit c's phase L3 break,
// collapsed into the grid's bounds. That is a closed-form condition,
// which fixes the car on it (x, below the unbalance limit of circuit w);
// the skeleton must not also fix a car it does not hold: the three-phase
// eco car y must reach its maximum, and z (whose minimum is higher) take
// what is left of circuit d, not y's share.
func TestAllocateSkeletonIgnoresBrokenCircuitsBelowIt(t *testing.T) {
	site := loadmgmt.Site{
		Nodes: []loadmgmt.Node{
			{ID: "grid", FuseMA: phases(1000, 1000, 1000)},
			{ID: "dist", Parent: "grid", FuseMA: phases(500, 500, 500), UnbalanceMA: 15_000},
			{ID: "u", Parent: "dist", FuseMA: phases(60, 60, 60), UnbalanceMA: 15_000},
			{ID: "d", Parent: "dist", FuseMA: phases(40, 40, 40)},
			{ID: "c", Parent: "grid", FuseMA: phases(60, 60, 10)},
			{ID: "w", Parent: "c", FuseMA: phases(60, 60, 60), UnbalanceMA: 15_000},
		},
		Points: []loadmgmt.ChargePoint{
			threePhase("y", "d", 18),
			{ID: "z", Node: "d", Phases: 3, MinCurrentMA: 12_000, MaxCurrentMA: 32_000},
			onePhase("x", "w", 2, 32),
		},
	}
	y, z, x := car("y", 3, 18, loadmgmt.Eco), car("z", 3, 32, loadmgmt.Eco), car("x", 1, 32, loadmgmt.Eco)
	y.ConnectedSince = t0.Add(-2 * time.Hour) // y ranks first
	demands := []loadmgmt.Demand{y, z, x}
	wantTarget(t, site, demands, map[string]float64{"y": 18, "z": 22, "x": 10})
	allocateAndJudge(t, site, demands)
}
