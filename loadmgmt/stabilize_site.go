package loadmgmt

import (
	"slices"
	"time"
)

// StabilizeSite is Stabilize for the points of site that also keeps the
// site's unbalance limits in the states a step leads through: the state
// after its cuts (raises not yet written) and the state after its raises,
// which stays while later raises are held back or ramped. Cuts apply at
// once and raises wait, so without this a rotation handover (a car on a
// phase stops, another on it starts) leaves that phase light for the raise
// interval.
//
// Where a limit would be broken it first holds back this step's raises on
// the most loaded phase, then lets held raises on the least loaded phase
// through (up to the plan), and if that is not enough, or the state after
// the cuts still breaks the limit, it cuts cars on the most loaded phase
// further for this step (to a lower current not under their minimum, or to
// 0). It never sets a point above the plan, so every node and phase limit
// the plan keeps holds in every state too. The writes come cuts first, then
// raises, each group ordered so that every write leaves the unbalance
// limits kept where some order can.
//
// A point is taken to draw on the phases of its allocation
// (Allocation.Phases), or on its charger's where that is 0. An invalid site
// gets Stabilize's writes.
func StabilizeSite(now time.Time, prev State, site Site, plan Plan, rules Rules) ([]Setpoint, State) {
	writes, next := Stabilize(now, prev, plan, rules)
	topo, err := buildTopology(site)
	if err != nil {
		return writes, next
	}
	b := newBalancer(topo, site, prev, plan, next)
	if len(b.unb) == 0 || len(b.pts) == 0 {
		return writes, next
	}
	b.balance()
	return b.result(now, prev, next, writes)
}

// balancer adjusts one step's setpoints to keep the unbalance limits.
type balancer struct {
	site Site
	unb  []int // nodes with an unbalance limit
	pts  []stabPoint
	n    int // nodes
}

type stabPoint struct {
	id     string
	path   []int
	phase  int // grid phase; -1 for three-phase
	minMA  int64
	planMA int64
	prevMA int64
	nextMA int64
}

func newBalancer(topo *topology, site Site, prev State, plan Plan, next State) *balancer {
	b := &balancer{site: site, n: len(site.Nodes)}
	for i, n := range site.Nodes {
		if n.UnbalanceMA > 0 {
			b.unb = append(b.unb, i)
		}
	}
	phasesOf := map[string]int{}
	planned := map[string]int64{}
	order := map[string]int{}
	for i, a := range plan.Allocations {
		if _, dup := order[a.Point]; dup || a.Point == "" {
			continue
		}
		order[a.Point] = i
		phasesOf[a.Point] = a.Phases
		planned[a.Point] = max(a.CurrentMA, 0)
	}
	ids := make([]string, 0, len(next.Points)+len(prev.Points))
	for id := range next.Points {
		ids = append(ids, id)
	}
	for id := range prev.Points {
		if _, ok := next.Points[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(x, y string) int {
		ox, okx := order[x]
		oy, oky := order[y]
		switch {
		case okx && oky:
			return ox - oy
		case okx:
			return -1
		case oky:
			return 1
		}
		if x < y {
			return -1
		}
		return 1
	})
	for _, id := range ids {
		pi, ok := topo.pointIndex[id]
		if !ok {
			continue // not a point of this site: nothing to balance it with
		}
		p := site.Points[pi]
		sp := stabPoint{id: id, path: topo.path(pi), phase: -1, minMA: p.minMA(), planMA: planned[id],
			prevMA: prev.Points[id].SetpointMA, nextMA: next.Points[id].SetpointMA}
		if ph := phasesOf[id]; ph == 1 || (ph == 0 && p.phases() == 1) {
			sp.phase = p.Rotation.GridPhase(0)
		}
		b.pts = append(b.pts, sp)
	}
	return b
}

// load is the load per node and phase of the setpoints value(i).
func (b *balancer) load(value func(i int) int64) [][3]int64 {
	out := make([][3]int64, b.n)
	for i := range b.pts {
		p := &b.pts[i]
		v := value(i)
		for _, a := range p.path {
			if p.phase < 0 {
				out[a][0] += v
				out[a][1] += v
				out[a][2] += v
			} else {
				out[a][p.phase] += v
			}
		}
	}
	return out
}

// violation finds a node whose unbalance limit the loads break: the node,
// its most and least loaded phases and the excess, or node -1.
func (b *balancer) violation(load [][3]int64) (int, int, int, int64) {
	for _, a := range b.unb {
		l := load[a]
		hi, lo := 0, 0
		for p := 1; p < 3; p++ {
			if l[p] > l[hi] {
				hi = p
			}
			if l[p] < l[lo] {
				lo = p
			}
		}
		if ex := l[hi] - l[lo] - b.site.Nodes[a].UnbalanceMA; ex > 0 {
			return a, hi, lo, ex
		}
	}
	return -1, 0, 0, 0
}

func (b *balancer) below(i, a int) bool { return slices.Contains(b.pts[i].path, a) }

// pick returns the point below node a on phase ph for which ok holds with
// the highest value, the first in plan order on a tie; -1 if none.
func (b *balancer) pick(a, ph int, ok func(i int) bool, value func(i int) int64) int {
	best := -1
	for i := range b.pts {
		if b.pts[i].phase != ph || !b.below(i, a) || !ok(i) {
			continue
		}
		if best < 0 || value(i) > value(best) {
			best = i
		}
	}
	return best
}

func (b *balancer) next(i int) int64 { return b.pts[i].nextMA }

func (b *balancer) after(i int) int64 { return min(b.pts[i].prevMA, b.pts[i].nextMA) }

// cutTo is v lowered by at least ex, kept at or above the point's minimum,
// or 0.
func (b *balancer) cutTo(i int, v, ex int64) int64 {
	v = roundDownToStep(v - ex)
	if v < b.pts[i].minMA {
		return 0
	}
	return v
}

// balance adjusts nextMA until the state after the cuts and the state after
// the step keep every unbalance limit.
func (b *balancer) balance() {
	// Hold back raises on the heavy phase, let raises of running points on
	// the light phase through, cut on the heavy phase: for the state after
	// the step.
	for range 4*len(b.pts) + 8 {
		a, hi, lo, ex := b.violation(b.load(b.next))
		if a < 0 {
			break
		}
		if i := b.pick(a, hi, func(i int) bool { return b.pts[i].nextMA > b.pts[i].prevMA }, b.next); i >= 0 {
			p := &b.pts[i]
			if p.prevMA == 0 {
				p.nextMA = 0
			} else {
				p.nextMA = max(p.prevMA, roundDownToStep(p.nextMA-ex))
			}
			continue
		}
		if i := b.pick(a, lo, func(i int) bool { return b.pts[i].nextMA > 0 && b.pts[i].nextMA < b.pts[i].planMA }, b.next); i >= 0 {
			p := &b.pts[i]
			p.nextMA = min(p.planMA, p.nextMA+roundUpToStep(ex))
			continue
		}
		b.cutHeavy(a, hi, ex, b.next)
	}
	// Only cuts from here on, so this ends: the state after the step, and
	// the state after the cuts (the lower of before and after for every
	// point), each keep every limit.
	for range 1 << 16 {
		if a, hi, _, ex := b.violation(b.load(b.next)); a >= 0 {
			if !b.cutHeavy(a, hi, ex, b.next) {
				return
			}
			continue
		}
		if a, hi, _, ex := b.violation(b.load(b.after)); a >= 0 {
			if !b.cutHeavy(a, hi, ex, b.after) {
				return
			}
			continue
		}
		return
	}
}

// cutHeavy cuts the point on phase hi below node a that carries most in
// state value by ex (or to 0), reporting whether there was one.
func (b *balancer) cutHeavy(a, hi int, ex int64, value func(i int) int64) bool {
	i := b.pick(a, hi, func(i int) bool { return value(i) > 0 }, value)
	if i < 0 {
		return false
	}
	p := &b.pts[i]
	p.nextMA = min(p.nextMA, b.cutTo(i, value(i), ex))
	return true
}

// result turns the adjusted setpoints into ordered writes and the next
// state; stab are Stabilize's writes, kept for points the site does not
// know.
func (b *balancer) result(now time.Time, prev, next State, stab []Setpoint) ([]Setpoint, State) {
	out := State{Points: make(map[string]PointState, len(next.Points))}
	for id, st := range next.Points {
		out.Points[id] = st
	}
	var cuts, raises []int
	for i := range b.pts {
		p := &b.pts[i]
		st, had := out.Points[p.id]
		before := prev.Points[p.id]
		st.SetpointMA = p.nextMA
		switch {
		case p.nextMA < p.prevMA:
			cuts = append(cuts, i)
			if p.nextMA == 0 {
				st.StoppedAt = now
			}
		case p.nextMA > p.prevMA:
			raises = append(raises, i)
			st.RaisedAt = now
		default:
			st.RaisedAt, st.StoppedAt = before.RaisedAt, before.StoppedAt
		}
		if had || p.nextMA > 0 {
			out.Points[p.id] = st
		}
	}
	known := make(map[string]bool, len(b.pts))
	for i := range b.pts {
		known[b.pts[i].id] = true
	}
	var writes, unknownRaises []Setpoint
	for _, w := range stab {
		switch {
		case known[w.Point]:
		case w.Cut():
			writes = append(writes, w)
		default:
			unknownRaises = append(unknownRaises, w)
		}
	}
	cur := b.load(func(i int) int64 { return b.pts[i].prevMA }) // per node and phase, as the writes so far leave it
	for _, group := range [][]int{cuts, raises} {
		for len(group) > 0 {
			k := b.safest(group, cur)
			i := group[k]
			writes = append(writes, Setpoint{Point: b.pts[i].id, CurrentMA: b.pts[i].nextMA, PreviousMA: b.pts[i].prevMA})
			b.shift(cur, i, b.pts[i].nextMA-b.pts[i].prevMA)
			group = slices.Delete(group, k, k+1)
		}
	}
	return append(writes, unknownRaises...), out
}

// safest is the first write of group (in plan order) after which the
// loads cur (per node and phase) keep every unbalance limit, or the first
// if none does.
func (b *balancer) safest(group []int, cur [][3]int64) int {
	for k, i := range group {
		d := b.pts[i].nextMA - b.pts[i].prevMA
		b.shift(cur, i, d)
		a, _, _, _ := b.violation(cur)
		b.shift(cur, i, -d)
		if a < 0 {
			return k
		}
	}
	return 0
}

// shift adds d to the loads of point i on its path.
func (b *balancer) shift(load [][3]int64, i int, d int64) {
	p := &b.pts[i]
	for _, a := range p.path {
		if p.phase < 0 {
			load[a][0] += d
			load[a][1] += d
			load[a][2] += d
		} else {
			load[a][p.phase] += d
		}
	}
}
