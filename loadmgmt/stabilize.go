package loadmgmt

import (
	"slices"
	"time"
)

// Rules govern how plans become charger setpoints.
type Rules struct {
	// RaiseInterval is the least time between two raises of one point,
	// e.g. 10 s. Cuts are never delayed.
	RaiseInterval time.Duration
	// DeadbandMA: a raise smaller than this waits for a larger one, e.g.
	// 1 A. Cuts are never delayed.
	DeadbandMA int64
	// RaiseStepMA is the largest raise at once above a running setpoint;
	// 0 means straight to the plan.
	RaiseStepMA int64
	// MinOff is the least time a point stays at 0 after a stop before it
	// starts again, e.g. 3 min. (Allocate keeps cars running for their
	// minimum on time; Stabilize may only ever lower a plan, never hold a
	// current above it, so it cannot.)
	MinOff time.Duration
}

// PointState is what Stabilize remembers about one point.
type PointState struct {
	SetpointMA int64
	RaisedAt   time.Time // last raise or start
	StoppedAt  time.Time // last switch to 0 A; zero: never
}

// State is Stabilize's memory between cycles; the zero value is a site
// where every point is at 0 A.
type State struct {
	Points map[string]PointState
}

// Setpoint is one write to a charger.
type Setpoint struct {
	Point      string
	CurrentMA  int64
	PreviousMA int64
}

// Cut reports whether the write lowers the current.
func (s Setpoint) Cut() bool { return s.CurrentMA < s.PreviousMA }

// Stabilize turns a plan into setpoint writes: cuts at once, raises held
// back by the rules. The writes come cuts first, then raises, each group in
// the order of the plan; points without a change get no write. A setpoint is
// never above the plan's allocation for its point, and points missing from
// the plan go to 0 A.
func Stabilize(now time.Time, prev State, plan Plan, rules Rules) ([]Setpoint, State) {
	next := State{Points: make(map[string]PointState, len(plan.Allocations))}
	var cuts, raises []Setpoint
	inPlan := make(map[string]bool, len(plan.Allocations))
	for _, a := range plan.Allocations {
		if a.Point == "" || inPlan[a.Point] {
			continue
		}
		inPlan[a.Point] = true
		st := prev.Points[a.Point]
		target := max(a.CurrentMA, 0)
		set := st.SetpointMA
		switch {
		case target < set:
			set = target
			if set == 0 {
				st.StoppedAt = now
			}
		case target > set && set == 0:
			if st.StoppedAt.IsZero() || now.Sub(st.StoppedAt) >= rules.MinOff {
				set = target
				st.RaisedAt = now
			}
		case target > set:
			if target-set >= rules.DeadbandMA && (st.RaisedAt.IsZero() || now.Sub(st.RaisedAt) >= rules.RaiseInterval) {
				set = target
				if rules.RaiseStepMA > 0 {
					set = min(target, st.SetpointMA+rules.RaiseStepMA)
				}
				st.RaisedAt = now
			}
		}
		if set != st.SetpointMA {
			w := Setpoint{Point: a.Point, CurrentMA: set, PreviousMA: st.SetpointMA}
			if w.Cut() {
				cuts = append(cuts, w)
			} else {
				raises = append(raises, w)
			}
		}
		st.SetpointMA = set
		next.Points[a.Point] = st
	}
	// Points no longer in the plan: to 0 A; remembered while their
	// minimum off time runs.
	var gone []string
	for id := range prev.Points {
		if !inPlan[id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		st := prev.Points[id]
		if st.SetpointMA > 0 {
			cuts = append(cuts, Setpoint{Point: id, PreviousMA: st.SetpointMA})
			st.SetpointMA = 0
			st.StoppedAt = now
		}
		if !st.StoppedAt.IsZero() && now.Sub(st.StoppedAt) < rules.MinOff {
			next.Points[id] = st
		}
	}
	return append(cuts, raises...), next
}
