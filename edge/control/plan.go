package control

import (
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// allocate plans demands on s within lim (the limits compose made) less res
// on every node. Reasons name the input that set the limit on s.
func (l *Loop) allocate(now time.Time, s loadmgmt.Site, lim []loadmgmt.NodeLimit, res reserves, demands []loadmgmt.Demand) loadmgmt.Plan {
	plan := loadmgmt.Allocate(now, withReserves(now, s, lim, res), demands)
	for i := range plan.Allocations {
		plan.Allocations[i].Reason = originalKind(plan.Allocations[i].Reason, l.nodeIdx, lim)
	}
	plan.Limits = lim
	return plan
}

// admit is a step's second allocation: the raise candidates are its only
// demands, and every other point counts at what it really draws (for a
// point cut this step: what it drew before the cut, until a read-back
// confirms the cut). It returns the most each candidate may be raised to.
func (l *Loop) admit(now time.Time, s loadmgmt.Site, lim []loadmgmt.NodeLimit, base reserves, vs []view, raises []*view, demands []loadmgmt.Demand, demandOf []*view) map[*pointState]int64 {
	res := make(reserves, len(base))
	copy(res, base)
	raising := make(map[*pointState]bool, len(raises))
	for _, x := range raises {
		raising[x.p] = true
	}
	for i := range vs {
		x := &vs[i]
		if x.demand && !raising[x.p] {
			res.add(l.pathOf[x.p.ID], x.p.GridPhases, x.countMA)
		}
	}
	var ds []loadmgmt.Demand
	var of []*pointState
	pts := make([]loadmgmt.ChargePoint, 0, len(raises))
	for i, x := range demandOf {
		if raising[x.p] {
			ds = append(ds, demands[i])
			of = append(of, x.p)
			sp := x.p.static
			sp.FallbackCurrentMA = 0 // a start-up check, not a reserve
			pts = append(pts, sp)
		}
	}
	s.Points = pts // the others are reserves now: loadmgmt need not know them
	plan := l.allocate(now, s, lim, res, ds)
	out := make(map[*pointState]int64, len(of))
	if plan.Err != nil {
		return out
	}
	for i, p := range of {
		out[p] = plan.Allocations[i].CurrentMA
	}
	return out
}
