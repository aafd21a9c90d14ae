package loadmgmt

// Which rising cars are blocked at level t: those that cannot go above t
// while every other rising car stays at t. They are exactly the cars whose
// own rise would break a condition that is tight at the level, so fixBlocked
// evaluates the conditions 1 mA higher and, for each one that breaks, finds
// the rising cars that move it (its right-hand derivative in that car's
// current is positive):
//
//   - a node phase: the three-phase cars below the node and the
//     single-phase cars on that phase, or, below a simple unbalance node,
//     those that move the load the window asks of that phase: the cars on
//     the phase while its own load sets it, the cars on the most loaded
//     phases while the window sets it;
//   - an unbalance window: the single-phase cars that move what the window
//     needs, and the three-phase cars below a node whose limit caps what
//     the subtree can carry on that phase (the active cut);
//   - a sum of phases: every car below the node that moves its load.
//
// Pieces of a max or min that are within a few mA per rising car of each
// other count as tied, so a car is never missed; a car fixed that could
// have risen a little further loses at most those few mA. The skeleton's
// linear program marks its blocked cars the same way (skeleton.go).

// tieMA is the per-car width within which two pieces count as tied.
const tieMA = 2

func (fl *filler) tie(a int) int64 { return tieMA * (fl.ls[a].rise + 1) }

// fixBlocked fixes at t every rising car that cannot go above it. progressed
// says whether this round already fixed or joined a car; if not, and a
// condition binds but no car was found to move it (arithmetic can only
// under-report by the ties), every rising car below it is fixed, so the
// filling always moves on.
func (fl *filler) fixBlocked(t int64, progressed bool) bool {
	var atT, atT1 *skelParams
	if fl.sk != nil {
		fl.eval(t, nil)
		atT = fl.sk.params(t)
	}
	var fails []check
	fl.eval(t+1, &fails)
	mark := fl.marks
	mark.reset()
	for _, ck := range fails {
		fl.markCheck(ck, mark)
	}
	lpBinds := false
	if fl.sk != nil {
		atT1 = fl.sk.params(t + 1)
		lpBinds = fl.sk.markBlocked(t, atT, atT1, mark)
	}
	if len(mark.list) == 0 && !progressed {
		for _, ck := range fails {
			for _, ci := range fl.sub[ck.node] {
				mark.set(int(ci))
			}
		}
		if lpBinds || len(fails) == 0 {
			for ci := range fl.cars {
				mark.set(ci)
			}
		}
	}
	fixed := false
	for _, ci := range mark.list {
		if fl.status[ci] == stRising {
			fl.setStatus(ci, stFixed, t)
			fixed = true
		}
	}
	return fixed
}

// marks is a set of cars.
type marks struct {
	on   []bool
	list []int
}

func (m *marks) set(ci int) {
	if !m.on[ci] {
		m.on[ci] = true
		m.list = append(m.list, ci)
	}
}

func (m *marks) reset() {
	for _, ci := range m.list {
		m.on[ci] = false
	}
	m.list = m.list[:0]
}

// markCheck marks the rising cars that move a broken closed-form condition.
func (fl *filler) markCheck(ck check, mark *marks) {
	tr := fl.tr
	a, p := ck.node, ck.phase
	var cut []bool
	if ck.kind == checkWindow {
		cut = fl.activeCut(a, p)
	}
	for _, ci32 := range fl.sub[a] {
		ci := int(ci32)
		if fl.status[ci] != stRising {
			continue
		}
		c := &fl.cars[ci]
		b := tr.uAbove[c.node]
		moves := false
		switch ck.kind {
		case checkCap:
			switch {
			case !c.onePhase:
				moves = true
			case b >= 0 && tr.depth[b] > tr.depth[a]:
				moves = fl.movesNeed(b, p, c.phase)
			default:
				moves = c.phase == p
			}
		case checkWindow:
			if c.onePhase {
				moves = fl.movesNeed(a, p, c.phase)
			} else {
				moves = cut[c.node]
			}
		case checkTotal:
			moves = !c.onePhase || b < 0 || tr.depth[b] < tr.depth[a] ||
				fl.movesNeed(b, 0, c.phase) || fl.movesNeed(b, 1, c.phase) || fl.movesNeed(b, 2, c.phase)
		}
		if moves {
			mark.set(ci)
		}
	}
}

// movesNeed reports whether raising a single-phase car on phase r below
// the simple unbalance node b raises the load b's window needs on phase p.
func (fl *filler) movesNeed(b, p, r int) bool {
	m := &fl.ls[b].m
	tie := fl.tie(b)
	most := max(m[0].v, m[1].v, m[2].v)
	heavy := most - fl.tr.lim[b].unb
	own := m[p].v >= heavy-tie    // the phase's own load sets the need
	window := heavy >= m[p].v-tie // the most loaded phase sets it
	return (r == p && own) || (window && m[r].v >= most-tie)
}

// activeCut marks the nodes below which a three-phase car lowers the most
// single-phase load on phase p that the subtree of from can carry: the
// nodes at or below a node whose own limit sets that most (reached from
// from through nodes where the children's sum sets it). A simple
// unbalance node below from passes up only what its window needs, not
// what its subtree could carry, so the cut stops there.
func (fl *filler) activeCut(from, p int) []bool {
	tr, ls := fl.tr, fl.ls
	under := make([]bool, len(tr.lim)) // the caller keeps it; only from's subtree is set
	var walk func(e int, reach, above bool)
	walk = func(e int, reach, above bool) {
		capTerm := tr.lim[e].cap[p] - ls[e].s.v
		sumTerm := fl.sumOf(e, p)
		tie := fl.tie(e)
		under[e] = above || (reach && capTerm <= sumTerm+tie)
		reach = reach && sumTerm <= capTerm+tie
		for _, c := range tr.children[e] {
			walk(c, reach && !tr.simpleU[c], under[e])
		}
	}
	walk(from, true, false)
	return under
}

// activeCutFrom is activeCut for what node c passes up to its parent: below
// a simple unbalance node nothing moves that, for its window passes up only
// what it needs.
func (fl *filler) activeCutFrom(c, p int) []bool {
	if fl.tr.simpleU[c] {
		return make([]bool, len(fl.tr.lim))
	}
	return fl.activeCut(c, p)
}
