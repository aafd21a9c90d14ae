package loadmgmt_test

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
	"github.com/parkgrid/parkgrid/loadmgmt/internal/lpref"
)

// refModel turns a site, its effective limits at now and the demands into
// the reference's model, in amperes, worked out from the site's definition
// alone. Only cars that may run at all (maximum at least the minimum)
// enter it; idx maps the model's cars to the demands.
func refModel(now time.Time, site loadmgmt.Site, demands []loadmgmt.Demand) (lpref.Model, []int) {
	lim := loadmgmt.EffectiveLimits(now, site)
	nodeIdx := map[string]int{}
	for i, n := range site.Nodes {
		nodeIdx[n.ID] = i
	}
	var m lpref.Model
	for i, n := range site.Nodes {
		node := lpref.Node{Parent: -1, Total: float64(lim[i].TotalMA) / 1000, Unbalance: float64(lim[i].UnbalanceMA) / 1000}
		if n.Parent != "" {
			node.Parent = nodeIdx[n.Parent]
		}
		for p := range 3 {
			node.Cap[p] = float64(lim[i].LimitMA[p]) / 1000
		}
		m.Nodes = append(m.Nodes, node)
	}
	var idx []int
	for i, c := range modelCars(site, demands) {
		// Whole amperes: the minimum rounds up, the maximum down.
		lo := math.Ceil(float64(c.min) / 1000)
		hi := math.Floor(float64(c.max) / 1000)
		if hi < lo {
			continue
		}
		car := lpref.Car{Node: c.path[0], Phases: c.phases, Min: lo, Max: hi, Premium: c.class == loadmgmt.Premium}
		m.Cars = append(m.Cars, car)
		idx = append(idx, i)
	}
	return m, idx
}

// slackA absorbs the reference's floating-point error.
const slackA = 1e-3

// maxCountPoints is the largest site on which checkAgainstReference asks
// the reference for the largest running set (an integer program): the
// engine proves it the most possible up to there (doc.go, Guarantees).
const maxCountPoints = 30

// checkAgainstReference judges a plan by the exact reference: if every car
// fits at its minimum, every car runs; otherwise (on up to maxCountPoints
// points) the running cars are as many as possible (premium first, then in
// all); each running
// car is at most one step (1 A) below its target for that running set;
// and the amperes a car holds beyond one step above its target cost
// nobody: with each such car back at its target rounded up, no car below
// its target could take one more ampere.
func checkAgainstReference(now time.Time, site loadmgmt.Site, demands []loadmgmt.Demand, plan loadmgmt.Plan) error {
	m, idx := refModel(now, site, demands)
	run := lpref.Running{Premium: -1}
	if _, err := m.Target(); err == nil {
		run = lpref.Running{Total: len(m.Cars)}
		for _, c := range m.Cars {
			if c.Premium {
				run.Premium++
			}
		}
	} else if !errors.Is(err, lpref.ErrNotAllFit) {
		return fmt.Errorf("reference: %w", err)
	} else if len(site.Points) <= maxCountPoints {
		// The plan's choice is a start the search need not prove again.
		hint := make([]bool, len(m.Cars))
		for k, i := range idx {
			hint[k] = plan.Allocations[i].CurrentMA > 0
		}
		if run, err = m.MaxRunning(100_000, hint); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	prem, total := 0, 0
	running := lpref.Model{Nodes: m.Nodes}
	var on []int // model car indices that run in the plan
	for k, i := range idx {
		if plan.Allocations[i].CurrentMA > 0 {
			total++
			if m.Cars[k].Premium {
				prem++
			}
			running.Cars = append(running.Cars, m.Cars[k])
			on = append(on, k)
		}
	}
	if run.Premium >= 0 && (prem != run.Premium || total != run.Total) {
		return fmt.Errorf("%d premium and %d cars in all run; the most that can run is %d premium and %d in all", prem, total, run.Premium, run.Total)
	}
	target, err := running.Target()
	if errors.Is(err, lpref.ErrNotAllFit) {
		return fmt.Errorf("the running cars do not fit at their minimum")
	}
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	x := make([]float64, len(on))
	for r, k := range on {
		x[r] = float64(plan.Allocations[idx[k]].CurrentMA) / 1000
		if x[r] < target[r]-1-slackA {
			return fmt.Errorf("%s (%v) at %g A, more than a step below its target %.3f A; plan %v, target %v",
				demands[idx[k]].Point, demands[idx[k]].Class, x[r], target[r], currentsA(plan), targetsOf(demands, idx, on, target))
		}
	}
	back := append([]float64(nil), x...)
	for r := range x {
		if x[r] > target[r]+1+slackA {
			back[r] = math.Ceil(target[r] - slackA)
		}
	}
	for r := range x {
		if x[r] >= target[r]-slackA || x[r]+1 > running.Cars[r].Max {
			continue
		}
		back[r]++
		err := running.Feasible(back, 1e-9)
		back[r]--
		if err == nil {
			return fmt.Errorf("%s at %g A, below its target %.3f A, could take one more ampere if the cars more than a step above their targets gave theirs back; plan %v, target %v",
				demands[idx[on[r]]].Point, x[r], target[r], currentsA(plan), targetsOf(demands, idx, on, target))
		}
	}
	return nil
}

func currentsA(plan loadmgmt.Plan) []string {
	var out []string
	for _, a := range plan.Allocations {
		out = append(out, fmt.Sprintf("%s:%d", a.Point, a.CurrentMA/1000))
	}
	return out
}

func targetsOf(demands []loadmgmt.Demand, idx, on []int, target []float64) []string {
	var out []string
	for r, k := range on {
		out = append(out, fmt.Sprintf("%s:%.2f", demands[idx[k]].Point, target[r]))
	}
	return out
}
