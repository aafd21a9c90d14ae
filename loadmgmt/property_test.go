package loadmgmt_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parkgrid/parkgrid/loadmgmt"
	"pgregory.net/rapid"
)

type siteOpts struct {
	minPoints  int // 0 means 1
	maxPoints  int
	everyPoint bool // a car at every point
	minFuseA   int  // least fuse below the grid connection
	gridMinA   int  // least grid connection fuse per point and phase
	unbalance  bool // allow unbalance limits (grid connection, sometimes a distribution)
	nested     bool // circuits may hang below circuits and have unbalance limits of their own
	minUnbA    int  // least unbalance limit drawn, A; 0 means 1
	totalLimit bool // allow an EMS power limit at the grid connection (whole amperes)
	maxCarA    int
}

// genSite draws a random tree: a grid connection, 0–3 distributions, 1–4
// circuits each, and points with random rotations, phases and limits.
func genSite(o siteOpts) *rapid.Generator[loadmgmt.Site] {
	return rapid.Custom(func(t *rapid.T) loadmgmt.Site {
		fuse := func(label string, lo, hi int) [3]int64 {
			if rapid.Bool().Draw(t, label+"-symmetric") {
				f := int64(rapid.IntRange(lo, hi).Draw(t, label)) * 1000
				return [3]int64{f, f, f}
			}
			var out [3]int64
			for p := range 3 {
				out[p] = int64(rapid.IntRange(lo, hi).Draw(t, fmt.Sprintf("%s-L%d", label, p+1))) * 1000
			}
			return out
		}
		nPoints := rapid.IntRange(max(1, o.minPoints), o.maxPoints).Draw(t, "points")
		s := loadmgmt.Site{Nodes: []loadmgmt.Node{{ID: "grid", FuseMA: fuse("grid", max(6, o.minFuseA, o.gridMinA*nPoints), max(6, o.minFuseA, o.gridMinA*nPoints, 40*nPoints))}}}
		if o.unbalance && rapid.Bool().Draw(t, "grid-unbalanced") {
			s.Nodes[0].UnbalanceMA = int64(rapid.IntRange(max(1, o.minUnbA), 40).Draw(t, "grid-unbalance")) * 1000
		}
		if o.totalLimit && rapid.IntRange(0, 3).Draw(t, "ems") == 0 {
			// A multiple of 230 W: the bound is whole amperes.
			s.Limits.EMS = []loadmgmt.EMSLimit{{MaxPowerW: 230 * int64(rapid.IntRange(5, 40*o.maxPoints).Draw(t, "ems-a")), Expires: t0.Add(time.Second)}}
		}
		parents := []string{"grid"}
		for d := range rapid.IntRange(0, 3).Draw(t, "dists") {
			id := fmt.Sprintf("dist-%d", d+1)
			n := loadmgmt.Node{ID: id, Parent: "grid", FuseMA: fuse(id, max(o.minFuseA, o.gridMinA*nPoints/2), max(o.minFuseA, o.gridMinA*nPoints/2, 30*nPoints))}
			if o.unbalance && rapid.IntRange(0, 3).Draw(t, id+"-unbalanced") == 0 {
				n.UnbalanceMA = int64(rapid.IntRange(max(1, o.minUnbA), 40).Draw(t, id+"-unbalance")) * 1000
			}
			s.Nodes = append(s.Nodes, n)
			parents = append(parents, id)
		}
		var circuits []string
		for c := range rapid.IntRange(max(1, nPoints/8), max(4*len(parents), nPoints/4)).Draw(t, "circuits") {
			id := fmt.Sprintf("circuit-%d", c+1)
			above := parents
			if o.nested && len(circuits) > 0 && rapid.IntRange(0, 3).Draw(t, id+"-nested") == 0 {
				above = circuits
			}
			parent := rapid.SampledFrom(above).Draw(t, id+"-parent")
			n := loadmgmt.Node{ID: id, Parent: parent, FuseMA: fuse(id, o.minFuseA, 100)}
			if o.nested && o.unbalance && rapid.IntRange(0, 5).Draw(t, id+"-unbalanced") == 0 {
				n.UnbalanceMA = int64(rapid.IntRange(max(1, o.minUnbA), max(20, o.minUnbA)).Draw(t, id+"-unbalance")) * 1000
			}
			s.Nodes = append(s.Nodes, n)
			circuits = append(circuits, id)
		}
		// Points may also hang directly below a distribution or the grid.
		hangs := append(slices.Clone(circuits), parents...)
		for i := range nPoints {
			id := fmt.Sprintf("cp-%d", i+1)
			p := loadmgmt.ChargePoint{
				ID:           id,
				Node:         rapid.SampledFrom(hangs).Draw(t, id+"-node"),
				Rotation:     loadmgmt.Rotation(rapid.IntRange(0, 5).Draw(t, id+"-rotation")),
				Phases:       rapid.SampledFrom([]int{0, 1, 3}).Draw(t, id+"-phases"),
				MinCurrentMA: int64(rapid.SampledFrom([]int{0, 6, 6, 8}).Draw(t, id+"-min")) * 1000,
			}
			p.MaxCurrentMA = int64(rapid.IntRange(max(6, int(p.MinCurrentMA/1000)), o.maxCarA).Draw(t, id+"-max")) * 1000
			s.Points = append(s.Points, p)
		}
		return s
	})
}

// genDemands draws a car for a random subset of the site's points.
func genDemands(site loadmgmt.Site, o siteOpts) *rapid.Generator[[]loadmgmt.Demand] {
	maxCarA := o.maxCarA
	return rapid.Custom(func(t *rapid.T) []loadmgmt.Demand {
		var out []loadmgmt.Demand
		for _, p := range site.Points {
			if !o.everyPoint && !rapid.Bool().Draw(t, p.ID+"-occupied") {
				continue
			}
			d := loadmgmt.Demand{
				Point:          p.ID,
				Phases:         rapid.SampledFrom([]int{0, 1, 3}).Draw(t, p.ID+"-car-phases"),
				MaxCurrentMA:   int64(rapid.SampledFrom([]int{0, 1, 6, 10, 16, maxCarA}).Draw(t, p.ID+"-car-max")) * 1000,
				Class:          loadmgmt.Class(rapid.IntRange(0, 1).Draw(t, p.ID+"-class")),
				ConnectedSince: t0.Add(-time.Duration(rapid.IntRange(0, 7200).Draw(t, p.ID+"-since")) * time.Second),
			}
			out = append(out, d)
		}
		// Any order of demands.
		if len(out) > 1 {
			perm := rapid.Permutation(out).Draw(t, "order")
			out = perm
		}
		return out
	})
}

// carModel is what a demand means for the limits, worked out independently
// of the package.
type carModel struct {
	path     []int
	phases   []int
	min, max int64
	class    loadmgmt.Class
}

func modelCars(site loadmgmt.Site, demands []loadmgmt.Demand) []carModel {
	nodeIdx := map[string]int{}
	for i, n := range site.Nodes {
		nodeIdx[n.ID] = i
	}
	pointIdx := map[string]int{}
	for i, p := range site.Points {
		pointIdx[p.ID] = i
	}
	out := make([]carModel, len(demands))
	for i, d := range demands {
		p := site.Points[pointIdx[d.Point]]
		m := carModel{min: max(p.MinCurrentMA, 6000), max: p.MaxCurrentMA, class: d.Class}
		if d.MaxCurrentMA > 0 {
			m.max = min(m.max, d.MaxCurrentMA)
		}
		if p.Phases == 1 || d.Phases == 1 {
			m.phases = []int{p.Rotation.GridPhase(0)}
		} else {
			m.phases = []int{0, 1, 2}
		}
		for n := nodeIdx[p.Node]; ; n = nodeIdx[site.Nodes[n].Parent] {
			m.path = append(m.path, n)
			if site.Nodes[n].Parent == "" {
				break
			}
		}
		out[i] = m
	}
	return out
}

// feasible reports whether currents (mA, one per car) break no limit.
func feasible(lim []loadmgmt.NodeLimit, cars []carModel, cur []int64) bool {
	load := make([][3]int64, len(lim))
	for i, c := range cars {
		for _, n := range c.path {
			for _, p := range c.phases {
				load[n][p] += cur[i]
			}
		}
	}
	for n, l := range load {
		nl := lim[n]
		for p := range 3 {
			if l[p] > nl.LimitMA[p] {
				return false
			}
		}
		if nl.TotalMA > 0 && l[0]+l[1]+l[2] > nl.TotalMA {
			return false
		}
		if nl.UnbalanceMA > 0 && max(l[0], l[1], l[2])-min(l[0], l[1], l[2]) > nl.UnbalanceMA {
			return false
		}
	}
	return true
}

func TestPropertyPlansAreSafeAndWorkConserving(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    siteOpts
	}{
		{"small", siteOpts{maxPoints: 12, unbalance: true, totalLimit: true, maxCarA: 32}},
		{"large", siteOpts{minPoints: 200, maxPoints: 1000, unbalance: true, totalLimit: true, maxCarA: 32}},
		{"large-roomy", siteOpts{minPoints: 200, maxPoints: 1000, unbalance: true, maxCarA: 32, minFuseA: 40, gridMinA: 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				site := genSite(tc.o).Draw(t, "site")
				demands := genDemands(site, tc.o).Draw(t, "demands")
				plan := loadmgmt.Allocate(t0, site, demands)
				if err := checkPlan(t0, site, demands, plan); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(plan, loadmgmt.Allocate(t0, site, demands)); diff != "" {
					t.Fatalf("same input, different plan (-first +second):\n%s", diff)
				}
				// Everyone runs whenever everyone fits at the minimum.
				cars := modelCars(site, demands)
				mins := make([]int64, len(cars))
				for i, c := range cars {
					if c.max >= c.min {
						mins[i] = c.min
					}
				}
				if feasible(plan.Limits, cars, mins) {
					for i, a := range plan.Allocations {
						if mins[i] > 0 && !a.Running {
							t.Fatalf("%s paused (%v) although every car fits at its minimum", a.Point, a.Reason)
						}
					}
				}
			})
		})
	}
}

// TestPropertyFairness checks, on sites without unbalance limits (where
// premium never needs eco to go higher): cars alike in class, phases,
// place and limits differ by at most one step; the running set is maximal;
// and premium is served first: with every eco car put back at its minimum,
// no premium car below its maximum could take one more step.
func TestPropertyFairness(t *testing.T) {
	o := siteOpts{maxPoints: 40, totalLimit: true, maxCarA: 32}
	rapid.Check(t, func(t *rapid.T) {
		site := genSite(o).Draw(t, "site")
		demands := genDemands(site, o).Draw(t, "demands")
		plan := loadmgmt.Allocate(t0, site, demands)
		cars := modelCars(site, demands)
		cur := make([]int64, len(cars))
		for i, a := range plan.Allocations {
			cur[i] = a.CurrentMA
		}
		for i := range cars {
			for j := range cars {
				a, b := cars[i], cars[j]
				if cur[i] == 0 || cur[j] == 0 || a.class != b.class || !slices.Equal(a.path, b.path) ||
					!slices.Equal(a.phases, b.phases) || a.max != b.max || a.min != b.min {
					continue
				}
				if cur[i]-cur[j] > 1000 {
					t.Fatalf("%s has %d mA, %s only %d mA: alike cars differ by more than a step",
						demands[i].Point, cur[i], demands[j].Point, cur[j])
				}
			}
		}
		// The running set is maximal: with every running car at its
		// minimum, no paused car would fit at its minimum as well.
		atMin := make([]int64, len(cars))
		for i, c := range cars {
			if cur[i] > 0 {
				atMin[i] = c.min
			}
		}
		for i, c := range cars {
			if cur[i] > 0 || c.max < c.min {
				continue
			}
			atMin[i] = c.min
			if feasible(plan.Limits, cars, atMin) {
				t.Fatalf("%s paused (%v) though it fits beside the running cars at their minimum", demands[i].Point, plan.Allocations[i].Reason)
			}
			atMin[i] = 0
		}
		for i, c := range cars {
			if c.class != loadmgmt.Premium || cur[i] == 0 || cur[i]+1000 > c.max {
				continue
			}
			// Premium is served first: with every eco car back at its
			// minimum, this premium car could still not take one more step.
			up := slices.Clone(cur)
			for j, e := range cars {
				if e.class == loadmgmt.Eco && up[j] > 0 {
					up[j] = e.min
				}
			}
			up[i] += 1000
			if feasible(plan.Limits, cars, up) {
				t.Fatalf("premium %s at %d mA could take one more step if eco cars were at their minimum: %v",
					demands[i].Point, cur[i], plan.Allocations)
			}
		}
	})
}
