package loadmgmt

import "slices"

// The target (FIELD.md, "The target allocation, precisely") by progressive
// filling, exactly up to 1 mA: premium first, then eco. The cars of a class
// not yet fixed rise together from their minimum (a car whose minimum is
// higher joins when the level reaches it); the cars of the other class are
// free in [min, max] while premium rises (eco may go above 6 A where that
// lets premium go higher) and fixed while eco rises. The level goes
// straight to the next event: a car's maximum, a car's minimum (join), or
// the highest level at which every limit can still be kept, found by
// Newton's method on the least slack, which is concave and falling in the
// level (eval). At that level the cars that cannot go higher while the
// others stay (blocked.go) are fixed, and the rest rise on.

// carStatus is a running car's part in the progressive filling.
type carStatus uint8

const (
	stFixed   carStatus = iota // at val
	stRising                   // at the level
	stWaiting                  // its class rises, but its minimum is above the level
	stFree                     // the other class while premium rises: anywhere in [min, max]
)

// agg is what the running cars at a node contribute, by kind.
type agg struct {
	fix1  [3]int64 // single-phase load of cars not rising, per phase
	rise1 [3]int64 // single-phase rising cars, per phase
	hi1   [3]int64 // most single-phase load of the cars, per phase
	fix3  int64    // three-phase load of cars not rising
	rise3 int64    // three-phase rising cars
}

// filler computes the target of the running cars.
type filler struct {
	tr     *tree
	cars   []car
	sub    [][]int32 // running cars below each node
	status []carStatus
	val    []int64     // fixed value (mA), for stFixed
	atMax  []bool      // fixed at its maximum
	agg    []agg       // per node
	ls     []nodeLevel // per node
	sk     *skeleton   // nil unless the tree has a skeleton
	marks  *marks      // cars fixBlocked found blocked
	dirty  []bool      // nodes whose cars changed since eval last computed them
}

func newFiller(tr *tree, cars []car, sub [][]int32) *filler {
	n := len(tr.lim)
	fl := &filler{tr: tr, cars: cars, sub: sub, status: make([]carStatus, len(cars)), val: make([]int64, len(cars)),
		atMax: make([]bool, len(cars)), agg: make([]agg, n), ls: make([]nodeLevel, n), marks: &marks{on: make([]bool, len(cars))}, dirty: make([]bool, n)}
	for a := range fl.dirty {
		fl.dirty[a] = true
	}
	if tr.complex() {
		fl.sk = newSkeleton(fl)
	}
	return fl
}

// reset takes every car out, as newFiller left it (before start).
func (fl *filler) reset() {
	clear(fl.agg)
	clear(fl.status)
	for a := range fl.dirty {
		fl.dirty[a] = true
	}
}

// contribute adds (sign +1) or removes (−1) car ci's part to the
// aggregates, given its status.
func (fl *filler) contribute(ci int, sign int64) {
	c := &fl.cars[ci]
	a := c.node
	for _, b := range c.path {
		fl.dirty[b] = true
	}
	var lo, hi int64
	rising := false
	switch fl.status[ci] {
	case stFixed:
		// Fixed at a whole-mA level below the exact crossing, a car may
		// be needed up to 1 mA higher (pinned there by a window from
		// below): it keeps that much room.
		lo, hi = fl.val[ci], min(fl.val[ci]+1, c.maxMA)
	case stRising:
		rising, hi = true, c.maxMA
	case stWaiting, stFree:
		lo, hi = c.minMA, c.maxMA
	}
	ag := &fl.agg[a]
	if c.onePhase {
		p := c.phase
		if rising {
			ag.rise1[p] += sign
		} else {
			ag.fix1[p] += sign * lo
		}
		ag.hi1[p] += sign * hi
		return
	}
	if rising {
		ag.rise3 += sign
	} else {
		ag.fix3 += sign * lo
	}
}

func (fl *filler) setStatus(ci int, st carStatus, val int64) {
	fl.contribute(ci, -1)
	fl.status[ci], fl.val[ci] = st, val
	fl.contribute(ci, +1)
}

// start puts every running car at its minimum: premium cars waiting to
// rise, eco cars free in [min, max].
func (fl *filler) start() {
	for ci := range fl.cars {
		if !fl.cars[ci].running {
			continue
		}
		fl.status[ci] = stFree
		if fl.cars[ci].class == Premium {
			fl.status[ci] = stWaiting
		}
		fl.contribute(ci, +1)
	}
}

// fitsAtStart reports whether the running cars fit at their minimum, as
// start put them, by the closed forms (the skeleton is not asked).
func (fl *filler) fitsAtStart() bool {
	return fl.eval(0, nil).v >= 0 // nothing rises yet: the level does not matter
}

// run computes the target of every running car into fl.val, from start.
func (fl *filler) run() {
	fl.fillClass(Premium)
	for ci := range fl.cars {
		if fl.cars[ci].running && fl.status[ci] == stFree {
			fl.setStatus(ci, stWaiting, 0)
		}
	}
	fl.fillClass(Eco)
}

// fillClass raises the waiting cars (all of one class) to their levels.
func (fl *filler) fillClass(cls Class) {
	var members []int
	level := unlimited
	for ci := range fl.cars {
		if fl.cars[ci].running && fl.cars[ci].class == cls && fl.status[ci] == stWaiting {
			members = append(members, ci)
			level = min(level, fl.cars[ci].minMA)
		}
	}
	for range 3*len(members) + 4 {
		if len(members) == 0 {
			return
		}
		fl.join(members, level)
		tHi, rising := unlimited, false
		for _, ci := range members {
			switch fl.status[ci] {
			case stRising:
				rising = true
				tHi = min(tHi, fl.cars[ci].maxMA)
			case stWaiting:
				tHi = min(tHi, fl.cars[ci].minMA)
			}
		}
		if !rising {
			level = tHi
			continue
		}
		t, slack := fl.maxLevel(level, tHi)
		progress := false
		for _, ci := range members {
			if fl.status[ci] == stRising && fl.cars[ci].maxMA <= t {
				fl.setStatus(ci, stFixed, fl.cars[ci].maxMA)
				fl.atMax[ci] = true
				progress = true
			}
		}
		progress = fl.join(members, t) || progress
		nRising := int64(0)
		for _, ci := range members {
			if fl.status[ci] == stRising {
				nRising++
			}
		}
		// A rising car moves any slack by at most 3 mA per mA of level:
		// with this much slack at an event, nothing binds 1 mA above it.
		if slack < 3*(nRising+1) {
			progress = fl.fixBlocked(t, progress) || progress
		}
		level = t
		members = slices.DeleteFunc(members, func(ci int) bool { return fl.status[ci] == stFixed })
	}
	// Unreachable with exact arithmetic: every round fixes or joins a car.
	for _, ci := range members {
		fl.setStatus(ci, stFixed, max(level, fl.cars[ci].minMA))
	}
}

// join makes the waiting members whose minimum is at most t rise.
func (fl *filler) join(members []int, t int64) bool {
	joined := false
	for _, ci := range members {
		if fl.status[ci] == stWaiting && fl.cars[ci].minMA <= t {
			fl.setStatus(ci, stRising, 0)
			joined = true
		}
	}
	return joined
}

// maxLevel is the highest level in [lo, hi] at which every limit can be
// kept (lo can). Newton's method from hi: the least slack g is concave and
// falling in the level, so the root of its tangent just below a level
// where g < 0 lies at or above the answer, and each step lands on a new
// linear piece.
//
// It also returns the least closed-form slack at the level found, if it
// was evaluated there (−1 if not).
func (fl *filler) maxLevel(lo, hi int64) (int64, int64) {
	t, slack := hi, int64(-1)
	for iter := 0; t > lo; iter++ {
		g := fl.eval(t, nil)
		if g.v >= 0 {
			slack = g.v
			break
		}
		if g.s >= 0 || iter > 64 {
			t = fl.bisect(lo, t)
			break
		}
		t = max(lo, t-ceilDiv(-g.v, -g.s))
	}
	if fl.sk != nil {
		t, slack = fl.sk.maxLevel(lo, t), -1
	}
	return t, slack
}

// bisect is the highest level in [lo, hi) at which the closed-form
// conditions hold.
func (fl *filler) bisect(lo, hi int64) int64 {
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fl.eval(mid, nil).v >= 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
