package control

import (
	"slices"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// maxWaves bounds the rounds of writes one group (the cuts, or the raises)
// takes: each round waits for the writes before it, a Modbus round trip,
// and a cut that a fuse needs must not wait long. What remains after the
// last round is written at once.
const maxWaves = 8

// phasesOf is the number of grid phases p's car draws on: what the plan
// took, else what the meter showed, else the charger's.
func (l *Loop) phasesOf(p *pointState) int {
	switch {
	case p.hasDemand && p.alloc.Phases != 0:
		return p.alloc.Phases
	case p.carPhases != 0:
		return p.carPhases
	case len(p.GridPhases) == 1:
		return 1
	}
	return 3
}

// drawPhases are the grid phases p's car draws on.
func (l *Loop) drawPhases(p *pointState) []int {
	if l.phasesOf(p) == 1 && len(p.GridPhases) > 0 {
		return p.GridPhases[:1]
	}
	return p.GridPhases
}

// sortByWrites orders xs as StabilizeSite ordered its writes (cuts first,
// each group so that every write keeps the unbalance limits where some
// order can); points it did not write (a read-back that differs from the
// setpoint) keep their order after them.
func sortByWrites(xs []*view, order []loadmgmt.Setpoint) {
	pos := make(map[string]int, len(order))
	for i, w := range order {
		if _, ok := pos[w.Point]; !ok {
			pos[w.Point] = i
		}
	}
	at := func(x *view) int {
		if i, ok := pos[x.p.ID]; ok {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(xs, func(a, b *view) int { return at(a) - at(b) })
}

// waves splits a step's writes into rounds such that, whatever subset of
// a round has landed when the chargers are sampled, no unbalance limit is
// broken further than before the round. It works on what the chargers hold
// (truthMA) and what they are told (desired), on the phases each car draws
// on.
type waves struct {
	l     *Loop
	nodes []int      // node indices with an unbalance limit
	limMA []int64    // their limits, by node index
	load  [][3]int64 // per node index: what the chargers hold now
}

// newWaves takes the state before a step's writes from its views.
func (l *Loop) newWaves(vs []view, lim []loadmgmt.NodeLimit) *waves {
	w := &waves{l: l, limMA: make([]int64, len(lim)), load: make([][3]int64, len(lim))}
	for i, nl := range lim {
		if nl.UnbalanceMA > 0 {
			w.nodes = append(w.nodes, i)
			w.limMA[i] = nl.UnbalanceMA
		}
	}
	if len(w.nodes) == 0 {
		return w
	}
	for i := range vs {
		x := &vs[i]
		if x.blocked != "" || x.noCar {
			continue
		}
		w.add(x, x.truthMA)
	}
	return w
}

// add adds ma drawn by x's car to the loads.
func (w *waves) add(x *view, ma int64) {
	if ma == 0 {
		return
	}
	phases := w.l.drawPhases(x.p)
	for _, ni := range w.l.pathOf[x.p.ID] {
		for _, gp := range phases {
			w.load[ni][gp] += ma
		}
	}
}

// split cuts xs (in write order) into waves.
func (w *waves) split(xs []*view) [][]*view {
	if len(xs) == 0 {
		return nil
	}
	if len(w.nodes) == 0 {
		return [][]*view{xs}
	}
	var out [][]*view
	state := make([][3]int64, len(w.load))
	copy(state, w.load)
	start := 0
	for start < len(xs) && len(out) < maxWaves-1 {
		end := start + 1
		for end < len(xs) && w.keeps(state, xs[start:end+1]) {
			end++
		}
		out = append(out, xs[start:end])
		for _, x := range xs[start:end] {
			w.shift(state, x, x.desired-x.truthMA)
		}
		start = end
	}
	if start < len(xs) {
		out = append(out, xs[start:])
	}
	return out
}

// keeps reports whether every subset of the writes xs, applied to state,
// leaves every unbalance node within its limit, or no further beyond it
// than state already is: per phase the load lies between the sum of
// the lowering writes and the sum of the raising ones.
func (w *waves) keeps(state [][3]int64, xs []*view) bool {
	for _, ni := range w.nodes {
		lo, hi := state[ni], state[ni]
		for _, x := range xs {
			if !onPath(w.l.pathOf[x.p.ID], ni) {
				continue
			}
			d := x.desired - x.truthMA
			phases := w.l.drawPhases(x.p)
			if len(phases) == 3 {
				continue // all three phases move together: no unbalance
			}
			for _, gp := range phases {
				if d < 0 {
					lo[gp] += d
				} else {
					hi[gp] += d
				}
			}
		}
		allowed := max(w.limMA[ni], spread(state[ni], state[ni]))
		if spread(lo, hi) > allowed {
			return false
		}
	}
	return true
}

// apply moves the loads by a written wave (as told; a failed write is
// read back later and counts at the higher value meanwhile, so this is
// only the order's estimate).
func (w *waves) apply(xs []*view) {
	if len(w.nodes) == 0 {
		return
	}
	for _, x := range xs {
		w.shift(w.load, x, x.desired-x.truthMA)
	}
}

func (w *waves) shift(state [][3]int64, x *view, d int64) {
	if d == 0 {
		return
	}
	phases := w.l.drawPhases(x.p)
	for _, ni := range w.l.pathOf[x.p.ID] {
		for _, gp := range phases {
			state[ni][gp] += d
		}
	}
}

// spread is the largest difference between a phase's highest possible load
// (hi) and another phase's lowest (lo).
func spread(lo, hi [3]int64) int64 {
	var s int64
	for p := range 3 {
		for q := range 3 {
			if p != q {
				s = max(s, hi[p]-lo[q])
			}
		}
	}
	return s
}

func onPath(path []int, ni int) bool { return slices.Contains(path, ni) }
