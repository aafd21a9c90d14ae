package loadmgmt_test

import (
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// A grid connection of 32 A per phase with a 20 A unbalance limit, one
// circuit of 25 A, three chargers wired with rotated phases. A premium
// three-phase car and two eco cars, one of them single-phase.
func ExampleAllocate() {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	site := loadmgmt.Site{
		Nodes: []loadmgmt.Node{
			{ID: "grid", FuseMA: [3]int64{32_000, 32_000, 32_000}, UnbalanceMA: 20_000},
			{ID: "circuit-1", Parent: "grid", FuseMA: [3]int64{25_000, 25_000, 25_000}},
		},
		Points: []loadmgmt.ChargePoint{
			{ID: "cp-1", Node: "circuit-1", Rotation: loadmgmt.RotationL1L2L3, MaxCurrentMA: 32_000},
			{ID: "cp-2", Node: "circuit-1", Rotation: loadmgmt.RotationL2L3L1, MaxCurrentMA: 32_000},
			{ID: "cp-3", Node: "grid", Rotation: loadmgmt.RotationL3L1L2, MaxCurrentMA: 16_000},
		},
	}
	if err := site.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	demands := []loadmgmt.Demand{
		{Point: "cp-1", Phases: 3, Class: loadmgmt.Premium},
		{Point: "cp-2", Phases: 3},
		{Point: "cp-3", Phases: 1}, // loads grid L3 (its charger's L1)
	}
	plan := loadmgmt.Allocate(now, site, demands)
	for _, a := range plan.Allocations {
		fmt.Printf("%s: %2d A (%v)\n", a.Point, a.CurrentMA/1000, a.Reason)
	}
	fmt.Println("grid load mA:", plan.LoadMA("grid"))
	// Output:
	// cp-1: 19 A (fuse at circuit-1 L1)
	// cp-2:  6 A (fuse at circuit-1 L1)
	// cp-3:  7 A (fuse at grid L3)
	// grid load mA: [25000 25000 32000]
}
