package loadmgmt

import (
	"errors"
	"math"

	"github.com/parkgrid/parkgrid/loadmgmt/internal/simplex"
)

// countLP is the linear relaxation of admission. Cars alike for the limits
// (same node, same phases, same minimum and maximum, same class) form a
// group; a group has a variable y ∈ [0, size] (how many of its cars run).
// Its load is min·y, except for a single-phase group below an unbalance
// limit: there a car above its minimum may be what lets another run, so
// the group's current is a variable x ∈ [min·y, max·y] (A). Every node
// limit bounds the loads, and the objective weighs a premium car above all
// eco cars together, a car above the rank weights (below one car in all),
// which favour the groups whose best car ranks first. Its optimum bounds
// how many cars can run (premium, then in all) once some groups are
// bounded.
//
// Rows that cannot bind (even every car at its maximum keeps them) are
// left out; per node phase, a cut bounds the running cars that load it by
// how many minimums fit, which makes the relaxation whole in the common
// case of cars of one minimum competing for a fuse.
type countLP struct {
	groups [][]int // eligible cars per group, in rank order
	xOf    []int   // per group: its x variable, or −1 if its load is min·y
	vars   int     // y (one per group, first), then the x variables
	rows   [][]float64
	rhs    []float64
	weight []float64 // per variable: y weigh the cars, x weigh 0
}

type groupKey struct {
	node, phase  int // phase −1: three-phase
	minMA, maxMA int64
	class        Class
}

func (e *engine) newCountLP(elig []int) *countLP {
	lp := &countLP{}
	index := map[groupKey]int{}
	for _, ci := range elig {
		c := &e.cars[ci]
		key := groupKey{node: c.node, phase: -1, minMA: c.minMA, maxMA: c.maxMA, class: c.class}
		if c.onePhase {
			key.phase = c.phase
		}
		g, ok := index[key]
		if !ok {
			g = len(lp.groups)
			index[key] = g
			lp.groups = append(lp.groups, nil)
		}
		lp.groups[g] = append(lp.groups[g], ci)
	}
	n := len(lp.groups)
	lp.vars = n
	lp.xOf = make([]int, n)
	for g, cars := range lp.groups {
		lp.xOf[g] = -1
		if c := &e.cars[cars[0]]; c.onePhase && e.underUnbalance(c) {
			lp.xOf[g] = lp.vars
			lp.vars++
		}
	}
	lp.weight = make([]float64, lp.vars)
	w := float64(len(elig) + 1)
	for g, cars := range lp.groups {
		// elig is in rank order: the group's best car's place there.
		best := 0
		for k, ci := range elig {
			if ci == cars[0] {
				best = k
				break
			}
		}
		rank := float64(len(elig)-best) / float64(2*(len(elig)+1)*(len(elig)+1))
		c := &e.cars[cars[0]]
		lp.weight[g] = 1 + rank
		if c.class == Premium {
			lp.weight[g] = w + 1 + rank
		}
		if x := lp.xOf[g]; x >= 0 {
			up, down := lp.row(), lp.row()
			up[x], up[g] = 1, -float64(c.maxMA)/mAPerA
			down[x], down[g] = -1, float64(c.minMA)/mAPerA
			lp.add(up, 0)
			lp.add(down, 0)
		}
	}
	tr := e.tr
	for a := range tr.lim {
		lim := &tr.lim[a]
		var most, most1 [3]int64 // most load per phase: all cars, 1-phase cars
		var mostTotal int64
		var below []int // groups below a
		for g, cars := range lp.groups {
			c := &e.cars[cars[0]]
			for _, b := range c.path {
				if b != a {
					continue
				}
				below = append(below, g)
				size := int64(len(cars))
				if c.onePhase {
					most[c.phase] += size * c.maxMA
					most1[c.phase] += size * c.maxMA
				} else {
					for p := range 3 {
						most[p] += size * c.maxMA
					}
				}
				mostTotal += size * c.nph * c.maxMA
			}
		}
		for p := range 3 {
			if most[p] <= lim.cap[p] {
				continue
			}
			r, cut := lp.row(), lp.row()
			least, loading := int64(unlimited), 0
			for _, g := range below {
				if c := &e.cars[lp.groups[g][0]]; !c.onePhase || c.phase == p {
					lp.load(r, g, 1, c)
					cut[g] = 1
					least = min(least, c.minMA)
					loading += len(lp.groups[g])
				}
			}
			lp.add(r, float64(lim.cap[p])/mAPerA)
			if fit := lim.cap[p] / least; fit < int64(loading) {
				lp.add(cut, float64(fit))
			}
		}
		if lim.total < unlimited && mostTotal > lim.total {
			r := lp.row()
			for _, g := range below {
				c := &e.cars[lp.groups[g][0]]
				lp.load(r, g, float64(c.nph), c)
			}
			lp.add(r, float64(lim.total)/mAPerA)
		}
		if lim.unb > 0 {
			lp.unbalanceCuts(e, below, lim.unb, most1)
			for p := range 3 {
				for q := range 3 {
					if p == q || most[p] <= lim.unb {
						continue
					}
					r := lp.row()
					for _, g := range below {
						if c := &e.cars[lp.groups[g][0]]; c.onePhase && c.phase == p {
							lp.load(r, g, 1, c)
						} else if c.onePhase && c.phase == q {
							lp.load(r, g, -1, c)
						}
					}
					lp.add(r, float64(lim.unb)/mAPerA)
				}
			}
		}
	}
	return lp
}

// underUnbalance tells whether a node on the car's path has an unbalance
// limit.
func (e *engine) underUnbalance(c *car) bool {
	for _, a := range c.path {
		if e.tr.lim[a].unb > 0 {
			return true
		}
	}
	return false
}

func (lp *countLP) row() []float64 { return make([]float64, lp.vars) }

func (lp *countLP) add(r []float64, rhs float64) {
	lp.rows = append(lp.rows, r)
	lp.rhs = append(lp.rhs, rhs)
}

// load adds coef times group g's load (of its cars, like c) to row r.
func (lp *countLP) load(r []float64, g int, coef float64, c *car) {
	if x := lp.xOf[g]; x >= 0 {
		r[x] += coef
		return
	}
	r[g] += coef * float64(c.minMA) / mAPerA
}

// unbalanceCuts bounds, per phase p of a node with unbalance limit unb,
// how many single-phase cars on p run: their load is at most unb above
// that of the single-phase cars on any other phase q, which is at most
// most1[q], and each draws at least the least minimum among them.
func (lp *countLP) unbalanceCuts(e *engine, below []int, unb int64, most1 [3]int64) {
	for p := range 3 {
		room := int64(unlimited)
		for q := range 3 {
			if q != p {
				room = min(room, unb+most1[q])
			}
		}
		cut := lp.row()
		least, loading := int64(unlimited), 0
		for _, g := range below {
			if c := &e.cars[lp.groups[g][0]]; c.onePhase && c.phase == p {
				cut[g] = 1
				least = min(least, c.minMA)
				loading += len(lp.groups[g])
			}
		}
		if loading == 0 {
			continue
		}
		if fit := room / least; fit < int64(loading) {
			lp.add(cut, float64(fit))
		}
	}
}

// counts is how many cars of each group the selection runs.
func (lp *countLP) counts(in []bool) []int {
	out := make([]int, len(lp.groups))
	for g, cars := range lp.groups {
		for _, ci := range cars {
			if in[ci] {
				out[g]++
			}
		}
	}
	return out
}

// objective is the relaxation's objective for the group counts.
func (lp *countLP) objective(counts []int) float64 {
	obj := 0.0
	for g, k := range counts {
		obj += float64(k) * lp.weight[g]
	}
	return obj
}

// solve solves the relaxation with each group's count y in [lo, hi]. It
// returns y and the optimum, or false if even the relaxation is
// infeasible. Should the LP fail otherwise, it returns an optimum of +Inf
// and y halfway, so the search branches rather than prunes.
func (lp *countLP) solve(lo, hi []int) ([]float64, float64, bool) {
	n := len(lp.groups)
	p := simplex.Problem{C: lp.weight, Rows: lp.rows, RHS: lp.rhs, Lo: make([]float64, lp.vars), Hi: make([]float64, lp.vars)}
	for g := range n {
		p.Lo[g], p.Hi[g] = float64(lo[g]), float64(hi[g])
	}
	for v := n; v < lp.vars; v++ {
		p.Hi[v] = math.Inf(1)
	}
	sol, err := simplex.Maximize(p)
	switch {
	case errors.Is(err, simplex.ErrInfeasible):
		return nil, 0, false
	case err != nil:
		y := make([]float64, n)
		for g := range y {
			y[g] = float64(lo[g]+hi[g]) / 2
		}
		return y, math.Inf(1), true
	}
	return sol.X[:n], sol.Objective, true
}
