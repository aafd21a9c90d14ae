// Package loadmgmttest builds sites and demands for tests, benchmarks and
// capacity planning of package loadmgmt.
package loadmgmttest

import (
	"math/rand/v2"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
	"github.com/parkgrid/parkgrid/loadmgmt/capacity"
)

// Site is capacity.GenerateSite: a three-level site of n charge points
// below a grid connection of connectionMA per phase.
func Site(n int, connectionMA int64) loadmgmt.Site {
	return capacity.GenerateSite(n, connectionMA)
}

// Demands returns a car for roughly occupiedPermille/1000 of the site's
// points: 40 % single-phase, half of them limited to 16 A, a fifth premium.
// The same seed gives the same demands.
func Demands(site loadmgmt.Site, occupiedPermille int, seed uint64, now time.Time) []loadmgmt.Demand {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var out []loadmgmt.Demand
	for _, p := range site.Points {
		if r.IntN(1000) >= occupiedPermille {
			continue
		}
		d := loadmgmt.Demand{Point: p.ID, Phases: 3, MaxCurrentMA: 32_000, ConnectedSince: now.Add(-time.Duration(r.IntN(3600)) * time.Second)}
		if r.IntN(10) < 4 {
			d.Phases = 1
		}
		if r.IntN(2) == 0 {
			d.MaxCurrentMA = 16_000
		}
		if r.IntN(5) == 0 {
			d.Class = loadmgmt.Premium
		}
		out = append(out, d)
	}
	return out
}
