package loadmgmt

import (
	"math"
	"slices"
)

// Admission: who runs. If every eligible car fits at its minimum, all run.
// Otherwise the running set is the one with the most premium cars, and
// among those the most cars in all (FIELD.md); among equally many, the
// cars ranked first (rotation: least charged, longest waiting) are
// preferred, so the paused cars take their turn as the others charge.
//
// Two greedy passes give a first answer: one in rank order, one that takes
// the cars needing the least room first (single-phase before three-phase,
// low minimum before high), each within a class, premium first. On up to
// exactCars eligible cars, branch and bound on the linear relaxation then
// searches for more in at most maxLPs relaxations; when it ends within
// them (in the property tests, always on sites up to 30 points) the answer
// is proven the most possible.

// exactCars is the largest number of eligible cars admission searches
// exactly, in at most maxLPs linear relaxations.
const (
	exactCars = 48
	maxLPs    = 1000
)

// selection is a running set and its counts.
type selection struct {
	in          []bool
	prem, total int
}

func (s selection) beats(o selection) bool {
	return s.prem > o.prem || (s.prem == o.prem && s.total > o.total)
}

// target admits the cars that run and computes their target.
func (e *engine) target() *filler {
	fl := newFiller(e.tr, e.cars, e.sub)
	if !e.tr.complex() {
		// The common case, every eligible car fits: one pass of the closed
		// forms tells.
		for ci := range e.cars {
			e.cars[ci].running = e.cars[ci].eligible
		}
		fl.start()
		if fl.fitsAtStart() {
			fl.run()
			return fl
		}
		fl.reset()
	}
	e.admit()
	fl.start()
	fl.run()
	return fl
}

func (e *engine) admit() {
	f := newFitter(e.tr, e.cars)
	var elig []int
	for ci := range e.cars {
		if e.cars[ci].eligible {
			elig = append(elig, ci)
		}
	}
	f.setAll(func(ci int) int64 { return e.eligibleMA(ci, e.cars[ci].minMA) }, func(ci int) int64 { return e.eligibleMA(ci, e.cars[ci].maxMA) })
	if f.ok() {
		for _, ci := range elig {
			e.cars[ci].running = true
		}
		return
	}
	e.scarce = true
	best := e.greedy(f, elig)
	if alt := e.greedy(f, e.bySize(elig)); alt.beats(best) {
		best = alt
	}
	if len(elig) <= exactCars {
		best = e.search(elig, best, true)
	}
	for _, ci := range elig {
		e.cars[ci].running = best.in[ci]
	}
}

// bySize orders the cars, stably, by the room they need: premium before
// eco, then single-phase before three-phase, then the lower minimum first.
// It sorts words (class, phases, minimum in A, place), which is faster than
// a stable sort by comparison.
func (e *engine) bySize(elig []int) []int {
	keys := make([]uint64, len(elig))
	for k, ci := range elig {
		c := &e.cars[ci]
		w := uint64(0) // class, then phases
		if c.class != Premium {
			w = 2
		}
		if !c.onePhase {
			w |= 1
		}
		minA := min(uint64(c.minMA/mAPerA), 1<<20-1)
		keys[k] = w<<62 | minA<<pointBits | uint64(k)
	}
	slices.Sort(keys)
	out := make([]int, len(elig))
	for k, key := range keys {
		out[k] = elig[key&(1<<pointBits-1)]
	}
	return out
}

// eligibleMA is v for an eligible car, 0 for another.
func (e *engine) eligibleMA(ci int, v int64) int64 {
	if e.cars[ci].eligible {
		return v
	}
	return 0
}

// greedy adds the cars in order, each if it fits beside those already in
// (twice over, since a car that helps balance may let an earlier one in),
// until the grid connection is full.
func (e *engine) greedy(f *fitter, order []int) selection {
	f.setAll(func(int) int64 { return 0 }, func(int) int64 { return 0 })
	sel := selection{in: make([]bool, len(e.cars))}
	least := int64(unlimited)
	for _, ci := range order {
		least = min(least, e.cars[ci].minMA)
	}
	for range 2 {
		for _, ci := range order {
			c := &e.cars[ci]
			if sel.in[ci] {
				continue
			}
			if f.full(least) {
				return sel
			}
			if f.noRoom(ci) {
				continue
			}
			f.set(ci, c.minMA, c.maxMA)
			if !f.ok() {
				f.set(ci, 0, 0)
				continue
			}
			sel.in[ci] = true
			sel.total++
			if c.class == Premium {
				sel.prem++
			}
		}
	}
	return sel
}

// search is branch and bound on the linear relaxation (countLP), starting
// from best: it splits the range of a group whose count is fractional (the
// larger counts first), prunes where the relaxation cannot beat the best
// found, and takes a node whose relaxation has every count whole as a
// candidate, running the top-ranked cars of each group. The objective
// counts premium cars above all others, then cars, then by a weight below
// one car in all the groups whose cars rank first, so among equally many
// the rotation's choice wins.
//
// A first pass prunes every branch that cannot run more cars (the counts
// are whole, the rank weights add up to less than one car); when it ends
// within maxLPs relaxations, the counts are proven the most possible, and
// a second pass spends the rest of the budget on the rank among equally
// many. With keepProtected, cars inside their minimum on time keep running
// (they rank first in their group), unless that cannot be.
func (e *engine) search(elig []int, best selection, keepProtected bool) selection {
	lp := e.newCountLP(elig)
	n := len(lp.groups)
	lo, hi := make([]int, n), make([]int, n)
	protected := false
	for g, cars := range lp.groups {
		hi[g] = len(cars)
		for _, ci := range cars {
			if keepProtected && e.cars[ci].protected {
				lo[g]++
				protected = true
			}
		}
	}
	b := &branching{e: e, lp: lp, lo: lo, hi: hi, best: best, bestObj: lp.objective(lp.counts(best.in))}
	if protected && !b.solve().ok {
		return e.search(elig, best, false)
	}
	b.countsOnly = true
	b.visit()
	if b.solved < maxLPs {
		b.countsOnly = false
		b.visit()
	}
	return b.best
}

// branching is the state of search's branch and bound.
type branching struct {
	e          *engine
	lp         *countLP
	lo, hi     []int // bounds on each group's count
	best       selection
	bestObj    float64
	solved     int  // relaxations solved
	countsOnly bool // prune what cannot run more cars
	depth      int
	root       *relaxed // the root's relaxation, solved once for both passes
}

// relaxed is a solved relaxation.
type relaxed struct {
	y   []float64
	obj float64
	ok  bool
}

// solve solves the relaxation at the current bounds.
func (b *branching) solve() relaxed {
	if b.depth == 0 && b.root != nil {
		return *b.root
	}
	b.solved++
	y, obj, ok := b.lp.solve(b.lo, b.hi)
	r := relaxed{y: y, obj: obj, ok: ok}
	if b.depth == 0 {
		b.root = &relaxed{y: slices.Clone(y), obj: obj, ok: ok}
	}
	return r
}

// whole is the count part of an objective: its rank weights add up to
// less than one car.
func whole(obj float64) float64 { return math.Floor(obj + 1e-6) }

func (b *branching) visit() {
	if b.solved >= maxLPs {
		return
	}
	r := b.solve()
	y, obj, ok := r.y, r.obj, r.ok
	if !ok || obj <= b.bestObj+1e-9 || (b.countsOnly && whole(obj) <= whole(b.bestObj)) {
		return
	}
	for g := range y { // the simplex's rounding
		y[g] = min(max(y[g], float64(b.lo[g])), float64(b.hi[g]))
	}
	frac, fracDist := -1, 0.0
	for g, v := range y {
		if d := math.Min(v-math.Floor(v), math.Ceil(v)-v); d > 1e-6 && d > fracDist {
			frac, fracDist = g, d
		}
	}
	if frac < 0 {
		b.take(y)
		return
	}
	v := y[frac]
	oldLo, oldHi := b.lo[frac], b.hi[frac]
	b.depth++
	b.lo[frac] = int(math.Ceil(v))
	b.visit()
	b.lo[frac], b.hi[frac] = oldLo, int(math.Floor(v))
	b.visit()
	b.hi[frac] = oldHi
	b.depth--
}

// take makes whole counts y the best selection if they beat it.
func (b *branching) take(y []float64) {
	counts := make([]int, len(y))
	for g, v := range y {
		counts[g] = int(math.Round(v))
	}
	obj := b.lp.objective(counts)
	if obj <= b.bestObj+1e-9 {
		return
	}
	sel := selection{in: make([]bool, len(b.e.cars))}
	for g, cars := range b.lp.groups {
		for _, ci := range cars[:counts[g]] {
			sel.in[ci] = true
			sel.total++
			if b.e.cars[ci].class == Premium {
				sel.prem++
			}
		}
	}
	b.best, b.bestObj = sel, obj
}
