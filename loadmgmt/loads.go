package loadmgmt

// loads are the node loads of a whole-ampere allocation.
type loads struct {
	one   [][3]int64 // single-phase load per grid phase below each node, mA
	three []int64    // three-phase load below each node, mA per phase
}

func newLoads(n int) *loads {
	return &loads{one: make([][3]int64, n), three: make([]int64, n)}
}

// add adds delta mA to car c's current.
func (l *loads) add(c *car, delta int64) {
	for _, a := range c.path {
		if c.onePhase {
			l.one[a][c.phase] += delta
		} else {
			l.three[a] += delta
		}
	}
}

// phase is node a's load per grid phase.
func (l *loads) phase(a int) [3]int64 {
	return [3]int64{l.one[a][0] + l.three[a], l.one[a][1] + l.three[a], l.one[a][2] + l.three[a]}
}

func (l *loads) total(a int) int64 {
	return l.one[a][0] + l.one[a][1] + l.one[a][2] + 3*l.three[a]
}

type blockKind uint8

const (
	blockNone blockKind = iota
	blockCarMax
	blockPhase
	blockTotal
	blockUnbalance
)

// block is what stops a car from taking one more step.
type block struct {
	kind  blockKind
	node  int
	phase int
}

// step says whether car ci, at cur, can take one more step (1 A), and if
// not, what stops it: its maximum, or the first limit on its way from its
// node up to the grid connection. With windows false, unbalance limits
// are not checked.
func (e *engine) step(ci int, cur int64, ld *loads, windows bool) block {
	c := &e.cars[ci]
	if cur+StepMA > c.maxMA {
		return block{kind: blockCarMax}
	}
	for _, a := range c.path {
		lim := &e.tr.lim[a]
		load := ld.phase(a)
		if c.onePhase {
			if load[c.phase]+StepMA > lim.cap[c.phase] {
				return block{blockPhase, a, c.phase}
			}
		} else {
			for p := range 3 {
				if load[p]+StepMA > lim.cap[p] {
					return block{blockPhase, a, p}
				}
			}
		}
		if lim.total < unlimited && ld.total(a)+StepMA*c.nph > lim.total {
			return block{blockTotal, a, 0}
		}
		if windows && c.onePhase && lim.unb > 0 {
			if load[c.phase]+StepMA-min(load[0], load[1], load[2]) > lim.unb {
				return block{blockUnbalance, a, c.phase}
			}
		}
	}
	return block{}
}

// broken returns a node whose limit the loads break (and the grid phase, for
// a phase limit or the most loaded phase of an unbalance limit), or -1.
func (e *engine) broken(ld *loads) (int, block) {
	for _, a := range e.tr.order {
		lim := &e.tr.lim[a]
		load := ld.phase(a)
		for p := range 3 {
			if load[p] > lim.cap[p] {
				return a, block{blockPhase, a, p}
			}
		}
		if lim.total < unlimited && ld.total(a) > lim.total {
			return a, block{blockTotal, a, 0}
		}
		if lim.unb > 0 && max(load[0], load[1], load[2])-min(load[0], load[1], load[2]) > lim.unb {
			hi := 0
			for p := 1; p < 3; p++ {
				if load[p] > load[hi] {
					hi = p
				}
			}
			return a, block{blockUnbalance, a, hi}
		}
	}
	return -1, block{}
}
