package loadmgmt

// fitter tells whether a set of cars can run at once: each car has bounds
// [lo, hi] (0, 0 for a car that does not run; lo = min for one that must;
// lo = 0 for one that may help but need not run), and the question is
// whether currents within them keep every limit. It is the closed form of
// eval (level.go) at a fixed level, kept up to date along one car's path
// when its bounds change, so trying a car costs O(tree depth); with a
// skeleton, a small LP answers for the skeleton's limits.
type fitter struct {
	tr   *tree
	cars []car
	lo   []int64
	hi   []int64

	fix1, hi1 [][3]int64 // own single-phase least and most load per phase
	fix3      []int64    // own three-phase load

	chS        []int64    // children's three-phase load
	chM, chSum [][3]int64 // non-skeleton children's least and most single-phase load passed up
	s          []int64
	m, sum     [][3]int64
	up, upMax  [][3]int64
	bad        []bool
	nBad       int
	sk         *skeleton
}

func newFitter(tr *tree, cars []car) *fitter {
	n := len(tr.lim)
	f := &fitter{tr: tr, cars: cars, lo: make([]int64, len(cars)), hi: make([]int64, len(cars)),
		fix1: make([][3]int64, n), hi1: make([][3]int64, n), fix3: make([]int64, n),
		chS: make([]int64, n), chM: make([][3]int64, n), chSum: make([][3]int64, n), s: make([]int64, n),
		m: make([][3]int64, n), sum: make([][3]int64, n), up: make([][3]int64, n), upMax: make([][3]int64, n), bad: make([]bool, n)}
	if tr.complex() {
		f.sk = newSkeleton(&filler{tr: tr})
	}
	f.rebuild()
	return f
}

// setAll gives every car ci the bounds [lo(ci), hi(ci)] at once: one pass
// over the tree instead of one walk up per car.
func (f *fitter) setAll(lo, hi func(ci int) int64) {
	for a := range f.fix1 {
		f.fix1[a], f.hi1[a], f.fix3[a] = [3]int64{}, [3]int64{}, 0
	}
	for ci := range f.cars {
		c := &f.cars[ci]
		f.lo[ci], f.hi[ci] = lo(ci), hi(ci)
		if c.onePhase {
			f.fix1[c.node][c.phase] += f.lo[ci]
			f.hi1[c.node][c.phase] += f.hi[ci]
		} else {
			f.fix3[c.node] += f.lo[ci]
		}
	}
	f.rebuild()
}

// rebuild recomputes every node from its own cars, children first.
func (f *fitter) rebuild() {
	tr := f.tr
	for a := range f.chS {
		f.chS[a], f.chM[a], f.chSum[a] = 0, [3]int64{}, [3]int64{}
	}
	for _, a := range tr.order {
		f.update(a, false)
		p := tr.parent[a]
		if p < 0 {
			continue
		}
		f.chS[p] += f.s[a]
		if !tr.inK[a] {
			for q := range 3 {
				f.chM[p][q] += f.up[a][q]
				f.chSum[p][q] += f.upMax[a][q]
			}
		}
	}
}

// set gives car ci the bounds [lo, hi].
func (f *fitter) set(ci int, lo, hi int64) {
	c := &f.cars[ci]
	a := c.node
	if c.onePhase {
		f.fix1[a][c.phase] += lo - f.lo[ci]
		f.hi1[a][c.phase] += hi - f.hi[ci]
	} else {
		f.fix3[a] += lo - f.lo[ci]
	}
	f.lo[ci], f.hi[ci] = lo, hi
	f.update(a, true)
}

// update recomputes node a (and, if up, its ancestors) from its own cars
// and its children's sums.
func (f *fitter) update(a int, up bool) {
	tr := f.tr
	for ; a >= 0; a = tr.parent[a] {
		oldS, oldUp, oldMax := f.s[a], f.up[a], f.upMax[a]
		lim := &tr.lim[a]
		s := f.fix3[a] + f.chS[a]
		var m, sum, most [3]int64
		for p := range 3 {
			m[p] = f.fix1[a][p] + f.chM[a][p]
			sum[p] = f.hi1[a][p] + f.chSum[a][p]
			most[p] = min(lim.cap[p]-s, sum[p])
		}
		f.s[a], f.m[a], f.sum[a] = s, m, sum
		bad := false
		switch {
		case tr.inK[a]:
			f.up[a], f.upMax[a] = m, sum
		case tr.simpleU[a]:
			heavy := max(m[0], m[1], m[2]) - lim.unb
			var need [3]int64
			for p := range 3 {
				need[p] = max(m[p], heavy)
				bad = bad || most[p] < need[p]
			}
			f.up[a], f.upMax[a] = need, need
		default:
			for p := range 3 {
				bad = bad || lim.cap[p]-s < m[p]
			}
			f.up[a], f.upMax[a] = m, most
		}
		if !tr.inK[a] && lim.total < unlimited {
			u := f.up[a]
			bad = bad || lim.total-3*s < u[0]+u[1]+u[2]
		}
		if bad != f.bad[a] {
			f.bad[a] = bad
			if bad {
				f.nBad++
			} else {
				f.nBad--
			}
		}
		p := tr.parent[a]
		if !up || p < 0 {
			return
		}
		f.chS[p] += f.s[a] - oldS
		if !tr.inK[a] {
			for q := range 3 {
				f.chM[p][q] += f.up[a][q] - oldUp[q]
				f.chSum[p][q] += f.upMax[a][q] - oldMax[q]
			}
		}
	}
}

// full reports whether no car of minimum least or more can be added: at
// the grid connection every phase has less than least left above the
// least load, or the bound on the sum of the phases has.
func (f *fitter) full(least int64) bool {
	root := f.tr.order[len(f.tr.order)-1]
	lim := &f.tr.lim[root]
	s, m := f.s[root], f.m[root]
	if lim.total < unlimited && lim.total-3*s-m[0]-m[1]-m[2] < least {
		return true
	}
	for p := range 3 {
		if lim.cap[p]-s-m[p] >= least {
			return false
		}
	}
	return true
}

// noRoom reports whether car ci cannot be added at its minimum, for lack
// of room at some node on its path above the least load already there: a
// quick answer that needs no update, and one that stays true as cars are
// added.
func (f *fitter) noRoom(ci int) bool {
	c := &f.cars[ci]
	for _, a := range c.path {
		lim := &f.tr.lim[a]
		s, m := f.s[a], &f.m[a]
		if lim.total < unlimited && lim.total-3*s-m[0]-m[1]-m[2] < c.nph*c.minMA {
			return true
		}
		if c.onePhase {
			if lim.cap[c.phase]-s-m[c.phase] < c.minMA {
				return true
			}
			continue
		}
		for p := range 3 {
			if lim.cap[p]-s-m[p] < c.minMA {
				return true
			}
		}
	}
	return false
}

// ok reports whether the cars fit within their bounds.
func (f *fitter) ok() bool {
	if f.nBad > 0 {
		return false
	}
	if f.sk == nil {
		return true
	}
	sk := f.sk
	par := &skelParams{lo: make([][3]affine, len(sk.nodes)), hi: make([][3]affine, len(sk.nodes)), s: make([]affine, len(sk.nodes))}
	for k, a := range sk.nodes {
		for p := range 3 {
			par.lo[k][p] = affine{base: float64(f.m[a][p]) / mAPerA}
			par.hi[k][p] = affine{base: float64(f.sum[a][p]) / mAPerA}
		}
		par.s[k] = affine{base: float64(f.s[a]) / mAPerA}
	}
	_, _, ok := sk.solve(par, 0, 0)
	return ok
}
