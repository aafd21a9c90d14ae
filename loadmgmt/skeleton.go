package loadmgmt

import (
	"math"

	"github.com/parkgrid/parkgrid/loadmgmt/internal/simplex"
)

// The skeleton: nested unbalance limits, and power bounds below an
// unbalance limit, which the closed forms do not reach (tree.go). Its
// nodes' limits are kept by a small linear program over z, the
// single-phase load each skeleton node adds per phase from its own cars
// and the collapsed subtrees below it (an interval per phase, from eval):
// a skeleton node's load on a phase is the sum of z over the skeleton
// nodes at or below it. Everything is in amperes in the LP; levels and
// loads stay in mA outside it.

// affine is a bound that moves with the LP's extra variable x:
// base + coef·x (A).
type affine struct{ base, coef float64 }

// skelParams are the skeleton's inputs for one LP.
type skelParams struct {
	lo, hi [][3]affine // bounds of z per skeleton node and phase
	s      []affine    // three-phase load below each skeleton node
}

type skeleton struct {
	fl    *filler
	scale float64   // largest limit of a skeleton node, A: the LP's scale
	slack []float64 // per skeleton node: how far its rows are relaxed, A
	nodes []int     // tree.skel: children before parents
	index []int     // per tree node: its index in nodes, -1 if not in the skeleton
	below [][]int   // per skeleton node: the skeleton nodes at or below it (indices)
}

func newSkeleton(fl *filler) *skeleton {
	tr := fl.tr
	sk := &skeleton{fl: fl, nodes: tr.skel, index: make([]int, len(tr.lim)), below: make([][]int, len(tr.skel))}
	for i := range sk.index {
		sk.index[i] = -1
	}
	sk.scale = 1
	for k, a := range sk.nodes {
		sk.index[a] = k
		lim := &tr.lim[a]
		sk.scale = max(sk.scale, float64(max(lim.cap[0], lim.cap[1], lim.cap[2]))/mAPerA)
		if lim.total < unlimited {
			sk.scale = max(sk.scale, float64(lim.total)/mAPerA)
		}
	}
	for k, a := range sk.nodes {
		for b := a; b >= 0; b = tr.parent[b] {
			sk.below[sk.index[b]] = append(sk.below[sk.index[b]], k)
		}
	}
	// Levels are whole mA: a car fixed at a level sits up to 1 mA below
	// the crossing it was fixed at, and under an unbalance limit a phase
	// lighter by that can leave the next level's LP a hair infeasible. The
	// LP's node rows are relaxed by roundSlackMA per running car below the
	// node: the target may overstep a limit by that, which rounding down by
	// roundSlackMA per car takes back.
	sk.slack = make([]float64, len(sk.nodes))
	for ci := range fl.cars {
		if c := &fl.cars[ci]; c.running {
			for _, a := range c.path {
				if k := sk.index[a]; k >= 0 {
					sk.slack[k] += roundSlackMA / mAPerA
				}
			}
		}
	}
	return sk
}

const mAPerA = 1000.0

// params reads the skeleton's inputs from the last eval, as functions of
// the level x (A) by their left slopes at the level t it was evaluated at.
func (sk *skeleton) params(t int64) *skelParams {
	ls := sk.fl.ls
	par := &skelParams{lo: make([][3]affine, len(sk.nodes)), hi: make([][3]affine, len(sk.nodes)), s: make([]affine, len(sk.nodes))}
	at := func(l lin) affine {
		return affine{base: float64(l.v-l.s*t) / mAPerA, coef: float64(l.s)}
	}
	for k, a := range sk.nodes {
		for p := range 3 {
			par.lo[k][p] = at(ls[a].m[p])
			par.hi[k][p] = at(ls[a].sumM[p])
		}
		par.s[k] = at(ls[a].s)
	}
	return par
}

// problem is the LP: maximize x over [xLo, xHi] subject to the skeleton's
// rows for par. Variables: z (three per skeleton node), then x.
func (sk *skeleton) problem(par *skelParams, xLo, xHi float64) simplex.Problem {
	return sk.problemCost(par, xLo, xHi, 0)
}

// problemCost is problem with the objective x − zCost·Σz.
func (sk *skeleton) problemCost(par *skelParams, xLo, xHi, zCost float64) simplex.Problem {
	tr := sk.fl.tr
	nz := 3 * len(sk.nodes)
	x := nz
	p := simplex.Problem{C: make([]float64, nz+1), Lo: make([]float64, nz+1), Hi: make([]float64, nz+1)}
	p.C[x] = 1
	for j := range nz {
		p.C[j] = -zCost
		p.Hi[j] = math.Inf(1)
	}
	p.Lo[x], p.Hi[x] = xLo, xHi
	add := func(row []float64, rhs float64) {
		p.Rows = append(p.Rows, row)
		p.RHS = append(p.RHS, rhs)
	}
	for k := range sk.nodes {
		for ph := range 3 {
			r := make([]float64, nz+1)
			r[3*k+ph], r[x] = -1, par.lo[k][ph].coef
			add(r, -par.lo[k][ph].base)
			r = make([]float64, nz+1)
			r[3*k+ph], r[x] = 1, -par.hi[k][ph].coef
			add(r, par.hi[k][ph].base)
		}
	}
	for k, a := range sk.nodes {
		lim := &tr.lim[a]
		s := par.s[k]
		for ph := range 3 {
			r := make([]float64, nz+1)
			for _, d := range sk.below[k] {
				r[3*d+ph] = 1
			}
			r[x] = s.coef
			add(r, float64(lim.cap[ph])/mAPerA-s.base+sk.slack[k])
		}
		if lim.total < unlimited {
			r := make([]float64, nz+1)
			for _, d := range sk.below[k] {
				r[3*d], r[3*d+1], r[3*d+2] = 1, 1, 1
			}
			r[x] = 3 * s.coef
			add(r, float64(lim.total)/mAPerA-3*s.base+3*sk.slack[k])
		}
		if lim.unb > 0 {
			for ph := range 3 {
				for q := range 3 {
					if ph == q {
						continue
					}
					r := make([]float64, nz+1)
					for _, d := range sk.below[k] {
						r[3*d+ph], r[3*d+q] = 1, -1
					}
					add(r, float64(lim.unb)/mAPerA+sk.slack[k])
				}
			}
		}
	}
	return p
}

// solve returns the largest x, or false if no x in [xLo, xHi] is feasible.
func (sk *skeleton) solve(par *skelParams, xLo, xHi float64) (float64, []float64, bool) {
	sol, err := simplex.Maximize(sk.problem(par, xLo, xHi))
	if err != nil {
		// Infeasible, or (never seen) no optimum: either way not a
		// level the LP can vouch for.
		return 0, nil, false
	}
	return sol.X[3*len(sk.nodes)], sol.X, true
}

// maxLevel is the highest level in [lo, hi] (mA) at which the skeleton's
// limits can be kept; the closed-form conditions hold on all of it. The
// LP uses the skeleton's inputs linearised at the current guess: below
// it, the least loads only grow faster and the most loads only fall
// faster than their tangents, so the LP's answer is at or above the true
// one, and each round starts from a lower guess (Newton from above).
func (sk *skeleton) maxLevel(lo, hi int64) int64 {
	t := hi
	for range 64 {
		if t <= lo {
			return lo
		}
		sk.fl.eval(t, nil)
		x, _, ok := sk.solve(sk.params(t), float64(lo)/mAPerA, float64(t)/mAPerA)
		if !ok {
			return lo
		}
		xm := x * mAPerA
		if xm >= float64(t)-0.5 {
			return t
		}
		t = max(lo, int64(math.Floor(xm+1e-6)))
	}
	return t
}

// dirKey is the way a rising car moves the skeleton's inputs: how the
// lower and upper bounds of z at skeleton node k move with it (+1, 0, −1
// per phase), and whether it adds three-phase load. A car below a
// collapsed simple unbalance node moves both bounds alike: that node
// passes up exactly what its window needs.
type dirKey struct {
	k          int
	lo, hi     [3]int8
	threePhase bool
}

// markBlocked marks the rising cars the skeleton blocks at level t, given
// its inputs at t and at t+1 mA (eval has last run at t+1). It reports
// whether the skeleton binds there.
func (sk *skeleton) markBlocked(t int64, atT, atT1 *skelParams, mark *marks) bool {
	if _, _, ok := sk.solve(widen(flatten(atT1, float64(t+1)/mAPerA)), 0, 0); ok {
		return false
	}
	// The crossing level τ in [t, t+1] mA, with the inputs moving linearly
	// between the two evaluations.
	between := interpolate(atT, atT1, t)
	tau := float64(t) / mAPerA
	if x, _, ok := sk.solve(between, float64(t)/mAPerA, float64(t+1)/mAPerA); ok {
		tau = x
	}
	base := widen(flatten(between, tau))
	groups := map[dirKey][]int{}
	cuts := map[[2]int][]bool{}
	for ci := range sk.fl.cars {
		if sk.fl.status[ci] == stRising {
			key := sk.direction(ci, cuts)
			groups[key] = append(groups[key], ci)
		}
	}
	// τ is exact to the LP's tolerance; the binding limit's slack left at
	// τ, at most one tolerance per rising car, is room a blocked direction
	// may seem to have.
	rising := 0
	for _, cars := range groups {
		rising += len(cars)
	}
	blockedBelow := max(1e-5, float64(rising+1)*8*simplex.Tolerance*sk.scale)
	var least []int
	leastRoom := math.Inf(1)
	blocked := false
	for key, cars := range groups {
		par := withDirection(base, key, sk)
		s, _, ok := sk.solve(par, 0, 1)
		if !ok {
			s = 0
		}
		if s < blockedBelow {
			blocked = true
			for _, ci := range cars {
				mark.set(ci)
			}
		}
		if s < leastRoom || (s == leastRoom && cars[0] < least[0]) {
			least, leastRoom = cars, s
		}
	}
	if !blocked {
		// The skeleton binds, so in exact arithmetic some direction is
		// blocked: the one with the least room.
		for _, ci := range least {
			mark.set(ci)
		}
	}
	return true
}

// flatten fixes the inputs at level x: constants, no longer moving.
func flatten(par *skelParams, x float64) *skelParams {
	out := &skelParams{lo: make([][3]affine, len(par.lo)), hi: make([][3]affine, len(par.hi)), s: make([]affine, len(par.s))}
	for k := range par.lo {
		for p := range 3 {
			out.lo[k][p] = affine{base: par.lo[k][p].base + par.lo[k][p].coef*x}
			out.hi[k][p] = affine{base: par.hi[k][p].base + par.hi[k][p].coef*x}
		}
		out.s[k] = affine{base: par.s[k].base + par.s[k].coef*x}
	}
	return out
}

// widen raises an upper bound of z that fell below its lower bound to it.
// A collapsed subtree whose least load exceeds what it can carry is a
// broken closed-form condition, which fixBlocked handles by itself; the
// skeleton's own rows are judged without it.
func widen(par *skelParams) *skelParams {
	for k := range par.lo {
		for p := range 3 {
			if hi := &par.hi[k][p]; hi.base < par.lo[k][p].base {
				hi.base = par.lo[k][p].base
			}
		}
	}
	return par
}

// interpolate is the inputs as linear functions of the level (A) through
// their values at t and t+1 mA.
func interpolate(a, b *skelParams, t int64) *skelParams {
	x0 := float64(t) / mAPerA
	line := func(u, v affine) affine {
		y0, y1 := u.base+u.coef*x0, v.base+v.coef*(x0+1/mAPerA)
		slope := (y1 - y0) * mAPerA
		return affine{base: y0 - slope*x0, coef: slope}
	}
	out := &skelParams{lo: make([][3]affine, len(a.lo)), hi: make([][3]affine, len(a.hi)), s: make([]affine, len(a.s))}
	for k := range a.lo {
		for p := range 3 {
			out.lo[k][p] = line(a.lo[k][p], b.lo[k][p])
			out.hi[k][p] = line(a.hi[k][p], b.hi[k][p])
		}
		out.s[k] = line(a.s[k], b.s[k])
	}
	return out
}

// withDirection makes the constant inputs base move with x the way a car
// of direction key would move them.
func withDirection(base *skelParams, key dirKey, sk *skeleton) *skelParams {
	out := &skelParams{lo: append([][3]affine(nil), base.lo...), hi: append([][3]affine(nil), base.hi...), s: append([]affine(nil), base.s...)}
	for p := range 3 {
		out.lo[key.k][p].coef = float64(key.lo[p])
		out.hi[key.k][p].coef = float64(key.hi[p])
	}
	if key.threePhase {
		for k := range sk.nodes {
			for _, d := range sk.below[k] {
				if d == key.k {
					out.s[k].coef = 1
				}
			}
		}
	}
	return out
}

// direction is how rising car ci moves the skeleton's inputs (eval has
// last run just above the level). cuts caches activeCutFrom.
func (sk *skeleton) direction(ci int, cuts map[[2]int][]bool) dirKey {
	fl := sk.fl
	tr := fl.tr
	c := &fl.cars[ci]
	d := tr.anchor[c.node]
	key := dirKey{k: sk.index[d], threePhase: !c.onePhase}
	// The collapsed child of d the car sits in, if any.
	child := -1
	for i, a := range c.path {
		if a == d && i > 0 {
			child = c.path[i-1]
		}
	}
	if c.onePhase {
		b := tr.uAbove[c.node]
		for p := range 3 {
			switch {
			case b >= 0 && tr.depth[b] > tr.depth[d]:
				if fl.movesNeed(b, p, c.phase) {
					key.lo[p], key.hi[p] = 1, 1
				}
			case p == c.phase:
				key.lo[p] = 1
			}
		}
		return key
	}
	if child >= 0 {
		for p := range 3 {
			cut, ok := cuts[[2]int{child, p}]
			if !ok {
				cut = fl.activeCutFrom(child, p)
				cuts[[2]int{child, p}] = cut
			}
			if cut[c.node] {
				key.hi[p] = -1
			}
		}
	}
	return key
}

// integerLoads finds skeleton loads z (A, three per skeleton node) in
// whole amperes within par's bounds that keep the skeleton's limits, as
// low as it finds them (no load beyond what the limits need): depth-first
// branch and bound on the LP, at most maxNodes LPs.
func (sk *skeleton) integerLoads(par *skelParams, maxNodes int) ([]float64, bool) {
	nz := 3 * len(sk.nodes)
	solved := 0
	var search func(par *skelParams) ([]float64, bool)
	search = func(par *skelParams) ([]float64, bool) {
		if solved++; solved > maxNodes {
			return nil, false
		}
		sol, err := simplex.Maximize(sk.problemCost(par, 0, 0, 1))
		if err != nil {
			return nil, false
		}
		x := sol.X
		for j := range nz {
			v := x[j]
			if f := v - math.Floor(v); f > 1e-6 && f < 1-1e-6 {
				k, p := j/3, j%3
				down := flatten(par, 0)
				down.hi[k][p].base = math.Floor(v)
				if z, ok := search(down); ok {
					return z, true
				}
				up := flatten(par, 0)
				up.lo[k][p].base = math.Ceil(v)
				return search(up)
			}
		}
		z := make([]float64, nz)
		for j := range z {
			z[j] = math.Round(x[j])
		}
		return z, true
	}
	return search(par)
}
