package loadmgmt

import (
	"cmp"
	"math"
	"slices"
)

// From the target (mA, exact to a few mA) to whole amperes. Every car
// starts at its target rounded down, which keeps every node and power limit
// but may break an unbalance limit: rounding down many cars on one phase
// loses up to an ampere each, on another phase nothing. The least loaded
// phases of each unbalance window are then raised just enough, by cars on
// them, taken first from those still below their target; where the target
// says so this is always possible (the window's least loads, rounded, are
// at most the target's loads). Under nested windows the skeleton's loads
// are made whole by a small integer program first. A last pass lowers cars
// if anything still breaks a limit, which only arithmetic at the edges
// could cause: the plan never breaks one.

// roundSlackMA is how far below its target a car is rounded from, so that
// arithmetic error never lifts it over what the target allows.
const roundSlackMA = 3

func (e *engine) round(fl *filler) ([]int64, *loads) {
	cur := make([]int64, len(e.cars))
	ld := newLoads(len(e.tr.lim))
	for ci := range e.cars {
		c := &e.cars[ci]
		if !c.running {
			continue
		}
		x := max(c.minMA, floorA(fl.val[ci]-roundSlackMA))
		if fl.atMax[ci] {
			x = c.maxMA
		}
		cur[ci] = x
		ld.add(c, x)
	}
	for _, b := range e.tr.order {
		if e.tr.simpleU[b] {
			one := ld.one[b]
			heavy := max(one[0], one[1], one[2]) - e.tr.lim[b].unb
			for p := range 3 {
				e.lift(b, p, heavy-one[p], cur, ld, fl.val, func(ci int) bool { return true })
			}
		}
	}
	if e.tr.complex() {
		e.wholeSkeleton(cur, ld, fl.val)
	}
	e.keepLimits(cur, ld)
	return cur, ld
}

// lift raises single-phase cars on phase p below node a, one ampere at a
// time and in turn, by need mA in all: first only cars below their target
// (furthest below first) up to their target rounded up, then any (eco
// before premium, the lowest current first). Only cars for which ok holds
// are raised; unbalance limits are not checked (lift is how they are met).
func (e *engine) lift(a, p int, need int64, cur []int64, ld *loads, target []int64, ok func(ci int) bool) {
	if need <= 0 {
		return
	}
	var cand []int
	for _, ci32 := range e.sub[a] {
		ci := int(ci32)
		if c := &e.cars[ci]; c.running && c.onePhase && c.phase == p && ok(ci) {
			cand = append(cand, ci)
		}
	}
	slices.SortStableFunc(cand, func(x, y int) int {
		if gx, gy := target[x]-cur[x], target[y]-cur[y]; gx != gy && (gx > 0 || gy > 0) {
			return cmp.Compare(gy, gx)
		}
		if e.cars[x].class != e.cars[y].class {
			return cmp.Compare(e.cars[x].class, e.cars[y].class)
		}
		return cmp.Compare(cur[x], cur[y])
	})
	for _, toTarget := range []bool{true, false} {
		for moved := true; moved && need > 0; {
			moved = false
			for _, ci := range cand {
				if need <= 0 {
					return
				}
				if toTarget && cur[ci] >= ceilA(target[ci]-roundSlackMA) {
					continue
				}
				if e.step(ci, cur[ci], ld, false).kind == blockNone {
					cur[ci] += StepMA
					ld.add(&e.cars[ci], StepMA)
					need -= StepMA
					moved = true
				}
			}
		}
	}
}

// wholeSkeleton makes the skeleton's loads whole amperes that keep its
// limits (an integer program: branch and bound on the LP), then lifts the
// cars to them.
func (e *engine) wholeSkeleton(cur []int64, ld *loads, target []int64) {
	tr := e.tr
	sk := newSkeleton(&filler{tr: tr})
	// Most single-phase load per phase each node outside the skeleton can
	// pass up, its cars at their maximum, three-phase cars as they are, a
	// simple unbalance node as it is.
	most := make([][3]int64, len(tr.lim))
	own := make([][3]int64, len(tr.lim))
	for ci := range e.cars {
		if c := &e.cars[ci]; c.running && c.onePhase {
			own[c.node][c.phase] += c.maxMA
		}
	}
	par := &skelParams{lo: make([][3]affine, len(sk.nodes)), hi: make([][3]affine, len(sk.nodes)), s: make([]affine, len(sk.nodes))}
	for _, a := range tr.order {
		sum := own[a]
		for _, c := range tr.children[a] {
			if tr.inK[c] {
				continue
			}
			for p := range 3 {
				if tr.simpleU[c] {
					sum[p] += ld.one[c][p]
				} else {
					sum[p] += most[c][p]
				}
			}
		}
		for p := range 3 {
			most[a][p] = min(tr.lim[a].cap[p]-ld.three[a], sum[p])
		}
		if k := sk.index[a]; k >= 0 {
			for p := range 3 {
				lo := ld.one[a][p]
				for _, c := range tr.children[a] {
					if tr.inK[c] {
						lo -= ld.one[c][p]
					}
				}
				par.lo[k][p] = affine{base: float64(lo) / mAPerA}
				par.hi[k][p] = affine{base: float64(max(lo, sum[p])) / mAPerA}
			}
			par.s[k] = affine{base: float64(ld.three[a]) / mAPerA}
		}
	}
	liftable := func(d int) func(ci int) bool {
		return func(ci int) bool { return tr.anchor[e.cars[ci].node] == d && tr.uAbove[e.cars[ci].node] < 0 }
	}
	// First try to lift only cars below their target, up to it rounded up.
	toTarget := flatten(par, 0)
	for k, d := range sk.nodes {
		var room [3]int64
		ok := liftable(d)
		for _, ci32 := range e.sub[d] {
			ci := int(ci32)
			if c := &e.cars[ci]; c.running && c.onePhase && ok(ci) {
				room[c.phase] += max(0, ceilA(target[ci]-roundSlackMA)-cur[ci])
			}
		}
		for p := range 3 {
			toTarget.hi[k][p].base = min(par.hi[k][p].base, par.lo[k][p].base+float64(room[p])/mAPerA)
		}
	}
	z, ok := sk.integerLoads(toTarget, 256)
	if !ok {
		if z, ok = sk.integerLoads(par, 256); !ok {
			return
		}
	}
	for k, d := range sk.nodes {
		for p := range 3 {
			need := int64(math.Round(z[3*k+p]*mAPerA)) - int64(math.Round(par.lo[k][p].base*mAPerA))
			e.lift(d, p, need, cur, ld, target, liftable(d))
		}
	}
}

// keepLimits lowers cars, an ampere at a time (pausing a car at its
// minimum), while a limit is broken: eco before premium, the highest
// current first, among the cars that load the broken limit.
func (e *engine) keepLimits(cur []int64, ld *loads) {
	for range 1 << 20 {
		a, b := e.broken(ld)
		if a < 0 {
			return
		}
		best := -1
		for _, ci32 := range e.sub[a] {
			ci := int(ci32)
			c := &e.cars[ci]
			if cur[ci] == 0 {
				continue
			}
			loadsIt := true
			switch b.kind {
			case blockPhase:
				loadsIt = !c.onePhase || c.phase == b.phase
			case blockUnbalance:
				loadsIt = c.onePhase && c.phase == b.phase
			}
			if !loadsIt {
				continue
			}
			if best < 0 || c.class < e.cars[best].class || (c.class == e.cars[best].class && cur[ci] > cur[best]) {
				best = ci
			}
		}
		if best < 0 {
			return
		}
		c := &e.cars[best]
		down := int64(StepMA)
		if cur[best]-StepMA < c.minMA {
			down = cur[best]
			c.running = false
			e.scarce = true
		}
		cur[best] -= down
		ld.add(c, -down)
	}
}
