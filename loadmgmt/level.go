package loadmgmt

// lin is a piecewise-linear function of the common level t, known at one
// t: its value there (mA) and its slope just below it (the left
// derivative, in mA per mA of level: the number of rising cars it moves
// with).
type lin struct{ v, s int64 }

func (a lin) add(b lin) lin     { return lin{a.v + b.v, a.s + b.s} }
func (a lin) sub(b lin) lin     { return lin{a.v - b.v, a.s - b.s} }
func (a lin) minus(c int64) lin { return lin{a.v - c, a.s} }
func (a lin) times(k int64) lin { return lin{a.v * k, a.s * k} }

// linMax is the larger; at a tie, the one that is larger just below t.
func linMax(a, b lin) lin {
	switch {
	case a.v > b.v:
		return a
	case b.v > a.v:
		return b
	}
	return lin{a.v, min(a.s, b.s)}
}

// linMin is the smaller; at a tie, the one that is smaller just below t.
func linMin(a, b lin) lin {
	switch {
	case a.v < b.v:
		return a
	case b.v < a.v:
		return b
	}
	return lin{a.v, max(a.s, b.s)}
}

// checkKind names a closed-form condition of feasibility.
type checkKind uint8

const (
	checkCap    checkKind = iota // a node phase: minimal load + three-phase load ≤ limit
	checkWindow                  // an unbalance node phase: the load the window needs ≤ what the subtree can carry
	checkTotal                   // a node's sum of phases ≤ its bound
)

// check is one failing condition found by eval.
type check struct {
	kind  checkKind
	node  int
	phase int
}

// nodeLevel holds a node's loads as functions of the level, as eval last
// computed them. A plain leaf leaves m and sumM unset (m is its up, and
// its sumM comes from its cars: see sumOf).
type nodeLevel struct {
	s     lin    // three-phase load below the node
	m     [3]lin // least single-phase load per phase below the node
	sumM  [3]lin // most single-phase load the children and own cars can carry, before the node's own limit
	up    [3]lin // least single-phase load the node passes to its parent (with its unbalance window)
	upMax [3]lin // most single-phase load the node passes to its parent
	rise  int64  // rising cars below the node
}

// eval computes every node's loads at level t from the cars' contributions
// (fl.agg) and returns the least slack over the closed-form conditions
// (negative if one is broken) with its left slope. With fails set it also
// lists the conditions broken at t.
//
// A node with no rising car below it whose cars have not changed since it
// was last computed keeps its loads (they do not depend on the level) and
// its conditions, which held at the level reached: it is skipped.
func (fl *filler) eval(t int64, fails *[]check) lin {
	tr := fl.tr
	g := lin{v: unlimited}
	for _, a := range tr.order {
		nl := &fl.ls[a]
		if !fl.dirty[a] && nl.rise == 0 {
			continue
		}
		fl.dirty[a] = false
		ag := &fl.agg[a]
		lim := &tr.lim[a]
		if tr.plainLeaf[a] {
			// Most nodes: a circuit with only cars below it, a limit per
			// phase and nothing else.
			s := lin{ag.fix3 + ag.rise3*t, ag.rise3}
			nl.s, nl.rise = s, ag.rise3+ag.rise1[0]+ag.rise1[1]+ag.rise1[2]
			for p := range 3 {
				m := lin{ag.fix1[p] + ag.rise1[p]*t, ag.rise1[p]}
				free := lin{lim.cap[p] - s.v, -s.s}
				sum := lin{ag.hi1[p], 0}
				nl.up[p], nl.upMax[p] = m, linMin(free, sum) // m and sumM: see sumOf
				slack := free.sub(m)
				g = linMin(g, slack)
				if fails != nil && slack.v < 0 {
					*fails = append(*fails, check{checkCap, a, p})
				}
			}
			continue
		}
		s := lin{ag.fix3 + ag.rise3*t, ag.rise3}
		rise := ag.rise3 + ag.rise1[0] + ag.rise1[1] + ag.rise1[2]
		var m, sum [3]lin
		for p := range 3 {
			m[p] = lin{ag.fix1[p] + ag.rise1[p]*t, ag.rise1[p]}
			sum[p] = lin{ag.hi1[p], 0}
		}
		for _, c := range tr.children[a] {
			cl := &fl.ls[c]
			s = s.add(cl.s)
			rise += cl.rise
			if tr.inK[c] {
				continue
			}
			for p := range 3 {
				m[p] = m[p].add(cl.up[p])
				sum[p] = sum[p].add(cl.upMax[p])
			}
		}
		nl.s, nl.m, nl.sumM, nl.rise = s, m, sum, rise
		var slack [3]lin
		kind := checkCap
		switch {
		case tr.inK[a]:
			// The skeleton's linear program keeps this node's limits.
			nl.up, nl.upMax = m, sum
			continue
		case tr.simpleU[a]:
			kind = checkWindow
			heavy := linMax(linMax(m[0], m[1]), m[2]).minus(lim.unb)
			for p := range 3 {
				need := linMax(m[p], heavy)
				most := linMin(lin{lim.cap[p] - s.v, -s.s}, sum[p])
				slack[p] = most.sub(need)
				nl.up[p], nl.upMax[p] = need, need
			}
		default:
			for p := range 3 {
				free := lin{lim.cap[p] - s.v, -s.s}
				slack[p] = free.sub(m[p])
				nl.up[p], nl.upMax[p] = m[p], linMin(free, sum[p])
			}
		}
		for p := range 3 {
			g = linMin(g, slack[p])
			if fails != nil && slack[p].v < 0 {
				*fails = append(*fails, check{kind, a, p})
			}
		}
		if lim.total < unlimited {
			up := &nl.up
			total := lin{lim.total, 0}.sub(s.times(3)).sub(up[0]).sub(up[1]).sub(up[2])
			g = linMin(g, total)
			if fails != nil && total.v < 0 {
				*fails = append(*fails, check{checkTotal, a, 0})
			}
		}
	}
	return g
}

// sumOf is node a's most single-phase load on phase p from its children and
// own cars, before its own limit (nodeLevel.sumM), at the last eval.
func (fl *filler) sumOf(a, p int) int64 {
	if fl.tr.plainLeaf[a] {
		return fl.agg[a].hi1[p]
	}
	return fl.ls[a].sumM[p].v
}
