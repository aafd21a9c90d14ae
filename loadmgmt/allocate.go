package loadmgmt

import (
	"fmt"
	"time"
)

// Demand is a connected car that wants current, as seen at a charge point.
type Demand struct {
	Point        string
	Phases       int   // phases the car draws on: 1, or 3 (any other value: as many as the charger has)
	MaxCurrentMA int64 // the car's maximum; 0 means the charger's
	Class        Class
	// EnergyWantedWh is what the driver asked for, 0 if unknown. It is
	// carried for reporting and simulation; the allocation does not use it.
	EnergyWantedWh int64
	ConnectedSince time.Time

	// Rotation state, carried from one plan to the next (see Advance).
	Running    bool          // the car was granted current in the last plan
	SwitchedAt time.Time     // when Running last changed; zero: long ago
	ChargedFor time.Duration // time granted current since it connected
}

// Advance returns the demand's rotation state after a, the car's allocation
// in a plan made at planAt, has been in force for elapsed.
func (d Demand) Advance(a Allocation, planAt time.Time, elapsed time.Duration) Demand {
	if a.Running != d.Running {
		d.Running = a.Running
		d.SwitchedAt = planAt
	}
	if a.Running {
		d.ChargedFor += elapsed
	}
	return d
}

// Reason says what keeps a car at its current: the limit that would be
// broken by one more step. Node and Phase are empty/0 where not applicable;
// Phase is the grid phase, 1..3.
type Reason struct {
	Limit LimitKind
	Node  string
	Phase int
}

func (r Reason) String() string {
	s := string(r.Limit)
	if r.Node != "" {
		s += " at " + r.Node
	}
	if r.Phase > 0 {
		s += fmt.Sprintf(" L%d", r.Phase)
	}
	return s
}

// Allocation is the plan for one demand.
type Allocation struct {
	Point     string
	CurrentMA int64 // 0, or between the point's minimum and the car's maximum, in whole amperes
	Running   bool
	Reason    Reason
	// Phases is the number of grid phases the plan took the car to draw
	// on (1 or 3); 0 for a demand that was not planned (unknown point,
	// duplicate, invalid site). StabilizeSite reads it.
	Phases int
}

// NodeLoad is the load a plan puts on a node, per grid phase.
type NodeLoad struct {
	Node   string
	LoadMA [3]int64
}

// Plan is the outcome of Allocate.
type Plan struct {
	At          time.Time
	Allocations []Allocation // one per demand, in the order of the demands
	Limits      []NodeLimit  // effective limits, in the order of the site's nodes
	Loads       []NodeLoad   // in the order of the site's nodes
	// Scarce is set when some car that may run was paused because not
	// every car fits at its minimum current.
	Scarce bool
	// Err is set when the site is invalid; every allocation is then 0 A.
	Err error
}

// LoadMA returns the plan's load on the node with the given ID.
func (p Plan) LoadMA(node string) [3]int64 {
	for _, l := range p.Loads {
		if l.Node == node {
			return l.LoadMA
		}
	}
	return [3]int64{}
}

// Current returns the current planned for a point, 0 if it has no demand.
func (p Plan) Current(point string) int64 {
	for _, a := range p.Allocations {
		if a.Point == point {
			return a.CurrentMA
		}
	}
	return 0
}

// Allocate plans the current of every demanding car at now. It is pure: no
// I/O, no clock. See the package documentation for the rules it follows.
func Allocate(now time.Time, site Site, demands []Demand) Plan {
	plan := Plan{At: now, Allocations: make([]Allocation, len(demands))}
	for i, d := range demands {
		plan.Allocations[i].Point = d.Point
	}
	topo, err := buildTopology(site)
	if err != nil {
		plan.Err = err
		for i := range plan.Allocations {
			plan.Allocations[i].Reason = Reason{Limit: LimitInvalid}
		}
		return plan
	}
	plan.Limits = EffectiveLimits(now, site)
	tr := newTree(topo, plan.Limits)
	e := newEngine(now, site, topo, tr, plan.Limits, demands)
	fl := e.target()
	cur, ld := e.round(fl)
	e.fill(cur, ld, fl.val)
	e.results(cur, ld, plan.Allocations)
	plan.Scarce = e.scarce
	plan.Loads = make([]NodeLoad, len(site.Nodes))
	for i, n := range site.Nodes {
		plan.Loads[i] = NodeLoad{Node: n.ID, LoadMA: ld.phase(i)}
	}
	return plan
}

// unlimited stands for "no limit" in sums of currents.
const unlimited = int64(1) << 60
