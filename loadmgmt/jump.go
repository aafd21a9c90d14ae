package loadmgmt

import (
	"cmp"
	"slices"
)

// jump is water-filling in whole steps for the admitted cars of one class:
// a common level rises, cars join it when it reaches their current, and a
// car stops rising when it reaches its maximum or when a node phase (or
// total) it loads has no room for one more step for every rising car there.
// Instead of one step per car at a time it jumps straight to the next
// event, so its cost grows with the number of events (at most a few per
// node), not with the amperes handed out. It stops at the first level at
// which an unbalance limit would bind; fill takes over from there, one step
// at a time.
func (e *engine) jump(cls Class) {
	var cand, byMax []int32
	for i := range e.cars {
		c := &e.cars[i]
		c.active = false
		if c.admitted && c.class == cls && c.cur < c.maxMA {
			cand = append(cand, int32(i))
		}
	}
	if len(cand) == 0 {
		return
	}
	for i := range e.nodes {
		n := &e.nodes[i]
		n.k, n.k1, n.kT = [3]int64{}, [3]int64{}, 0
	}
	slices.SortFunc(cand, func(a, b int32) int { return cmp.Compare(e.cars[a].cur, e.cars[b].cur) })
	byMax = slices.Clone(cand)
	slices.SortFunc(byMax, func(a, b int32) int { return cmp.Compare(e.cars[a].maxMA, e.cars[b].maxMA) })

	level := e.cars[cand[0]].cur
	nextJoin, nextMax, nActive := 0, 0, 0
	frozenAt := func(ci int32) {
		c := &e.cars[ci]
		c.active = false
		c.cur = level
		nActive--
		for _, a := range c.path {
			n := &e.nodes[a]
			if c.onePhase {
				n.k[c.phase]--
				n.k1[c.phase]--
			} else {
				n.k[0]--
				n.k[1]--
				n.k[2]--
			}
			n.kT -= c.nph
		}
	}
	// A rising car's cur stays at its joining level until it stops; the
	// node loads follow the level at every jump.
	for {
		for nextJoin < len(cand) && e.cars[cand[nextJoin]].cur <= level {
			c := &e.cars[cand[nextJoin]]
			nextJoin++
			c.active = true
			nActive++
			for _, a := range c.path {
				n := &e.nodes[a]
				if c.onePhase {
					n.k[c.phase]++
					n.k1[c.phase]++
				} else {
					n.k[0]++
					n.k[1]++
					n.k[2]++
				}
				n.kT += c.nph
			}
		}
		// Walk the cars by maximum: freeze those at their maximum, skip
		// those already frozen (current ≤ level), stop at one still rising
		// or not yet joined (current > level).
		for nextMax < len(byMax) {
			c := &e.cars[byMax[nextMax]]
			if c.active {
				if c.maxMA > level {
					break
				}
				frozenAt(byMax[nextMax])
			} else if c.cur > level {
				break
			}
			nextMax++
		}
		if nActive == 0 {
			if nextJoin == len(cand) {
				break
			}
			level = e.cars[cand[nextJoin]].cur
			continue
		}

		// The next event: a join, a car's maximum, a saturated node, or an
		// unbalance limit.
		delta := unlimited
		if nextJoin < len(cand) {
			delta = e.cars[cand[nextJoin]].cur - level
		}
		if nextMax < len(byMax) {
			delta = min(delta, e.cars[byMax[nextMax]].maxMA-level)
		}
		saturated := false
		for a := range e.nodes {
			n := &e.nodes[a]
			if n.kT == 0 {
				continue
			}
			for p := range 3 {
				if n.k[p] > 0 {
					d := roundDownToStep((n.cap[p] - n.load[p]) / n.k[p])
					if d == 0 {
						e.freezeBelow(a, p, frozenAt)
						saturated = true
					}
					delta = min(delta, d)
				}
			}
			if n.kT > 0 && n.total < unlimited {
				d := roundDownToStep((n.total - n.loadTotal) / n.kT)
				if d == 0 {
					e.freezeBelow(a, -1, frozenAt)
					saturated = true
				}
				delta = min(delta, d)
			}
		}
		if saturated {
			continue
		}
		stop := false
		for _, a := range e.unbNodes {
			n := &e.nodes[a]
			for p := range 3 {
				for q := range 3 {
					rate := n.k1[p] - n.k1[q]
					if rate <= 0 {
						continue
					}
					d := roundDownToStep((n.unb - (n.load[p] - n.load[q])) / rate)
					if d <= delta {
						delta, stop = max(d, 0), true
					}
				}
			}
		}
		if delta > 0 {
			level += delta
			for a := range e.nodes {
				n := &e.nodes[a]
				if n.kT == 0 {
					continue
				}
				for p := range 3 {
					n.load[p] += n.k[p] * delta
				}
				n.loadTotal += n.kT * delta
			}
		}
		if stop {
			break
		}
	}
	for _, ci := range cand {
		if c := &e.cars[ci]; c.active {
			c.cur = level
			c.active = false
		}
	}
}

// freezeBelow stops every rising car below node a that loads phase p (or
// any phase if p < 0).
func (e *engine) freezeBelow(a, p int, freeze func(int32)) {
	for _, ci := range e.sub[a] {
		c := &e.cars[ci]
		if !c.active {
			continue
		}
		if p < 0 || !c.onePhase || c.phase == p {
			freeze(ci)
		}
	}
}
