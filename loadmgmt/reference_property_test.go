package loadmgmt_test

import (
	"testing"

	"github.com/parkgrid/parkgrid/loadmgmt"
	"pgregory.net/rapid"
)

// The engine judged by the exact reference (package lpref, successive
// LPs) on random sites: trees with distributions, circuits (some below
// circuits), points below any node, 1- and 3-phase cars on rotated
// chargers, unbalance limits that nest, a power bound at the grid
// connection; checkAgainstReference says what is checked.

// TestPropertyMatchesExactReference: sites up to 200 points, most of
// them with room for every car at its minimum.
func TestPropertyMatchesExactReference(t *testing.T) {
	o := siteOpts{maxPoints: 200, unbalance: true, nested: true, totalLimit: true, maxCarA: 32, minFuseA: 60, gridMinA: 14, minUnbA: 15}
	rapid.Check(t, func(t *rapid.T) {
		site := genSite(o).Draw(t, "site")
		demands := genDemands(site, o).Draw(t, "demands")
		plan := loadmgmt.Allocate(t0, site, demands)
		if err := checkPlan(t0, site, demands, plan); err != nil {
			t.Fatal(err)
		}
		if err := checkAgainstReference(t0, site, demands, plan); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPropertyScarceRunsTheMost: sites up to 30 points where not every car
// may fit: as many premium cars run as possible, then as many in all, and
// the running cars get the target for that set.
func TestPropertyScarceRunsTheMost(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    siteOpts
	}{
		{"random", siteOpts{maxPoints: 30, unbalance: true, nested: true, totalLimit: true, maxCarA: 32}},
		{"full", siteOpts{minPoints: 8, maxPoints: 30, everyPoint: true, unbalance: true, nested: true, totalLimit: true, maxCarA: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				site := genSite(tc.o).Draw(t, "site")
				demands := genDemands(site, tc.o).Draw(t, "demands")
				plan := loadmgmt.Allocate(t0, site, demands)
				if err := checkPlan(t0, site, demands, plan); err != nil {
					t.Fatal(err)
				}
				if err := checkAgainstReference(t0, site, demands, plan); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
