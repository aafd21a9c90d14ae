package loadmgmt

// tree is the site's node tree as the engine works on it: parents,
// children, an order with every child before its parent, the effective
// limits in whole amperes, and which limits the closed forms cover.
//
// Every current is a whole number of amperes, so a node limit of 31.5 A
// allows exactly what 31 A allows: limits are rounded down to whole
// amperes once, here, and the target is computed against them.
//
// Closed forms cover every node limit except where unbalance limits nest:
// an unbalance node may need a phase raised somewhere below it, and when
// that somewhere has an unbalance limit or a power bound of its own, what
// the subtree can offer is no longer a box per phase. Such nodes ("core")
// and all their ancestors form the skeleton, whose limits a small linear
// program keeps (skeleton.go); everything below the skeleton is collapsed
// into intervals per phase.
type tree struct {
	parent   []int
	children [][]int
	depth    []int
	order    []int // children before parents
	lim      []treeLimit

	simpleU   []bool // unbalance node kept by the closed form
	plainLeaf []bool // no children, no skeleton, only a limit per phase
	inK       []bool // skeleton node
	skel      []int  // skeleton nodes, children before parents
	anchor    []int  // nearest skeleton node at or above each node, -1 if none
	uAbove    []int  // nearest simple unbalance node at or above each node, -1 if none
}

// treeLimit is a node's effective limit in whole amperes (mA).
type treeLimit struct {
	cap   [3]int64
	total int64 // bound on the sum of the phases; unlimited if none
	unb   int64 // 0: none
}

func floorA(ma int64) int64 {
	if ma <= 0 {
		return 0
	}
	return ma / StepMA * StepMA
}

func ceilA(ma int64) int64 {
	if ma <= 0 {
		return -(-ma / StepMA * StepMA)
	}
	return (ma + StepMA - 1) / StepMA * StepMA
}

func newTree(topo *topology, lim []NodeLimit) *tree {
	n := len(lim)
	t := &tree{parent: topo.parent, children: make([][]int, n), lim: make([]treeLimit, n),
		simpleU: make([]bool, n), inK: make([]bool, n), anchor: make([]int, n), uAbove: make([]int, n)}
	for i := range n {
		if p := topo.parent[i]; p >= 0 {
			t.children[p] = append(t.children[p], i)
		}
		l := &t.lim[i]
		for p := range 3 {
			l.cap[p] = floorA(lim[i].LimitMA[p])
		}
		l.total = unlimited
		if lim[i].TotalMA > 0 {
			l.total = floorA(lim[i].TotalMA)
		}
		l.unb = floorA(lim[i].UnbalanceMA)
	}
	// Post-order from the root.
	var walk func(a int)
	walk = func(a int) {
		for _, c := range t.children[a] {
			walk(c)
		}
		t.order = append(t.order, a)
	}
	walk(topo.root)

	isU := func(a int) bool { return t.lim[a].unb > 0 }
	hasTotal := func(a int) bool { return t.lim[a].total < unlimited }
	uDesc := make([]bool, n)   // an unbalance node strictly below
	totDesc := make([]bool, n) // a power bound strictly below
	for _, a := range t.order {
		for _, c := range t.children[a] {
			uDesc[a] = uDesc[a] || uDesc[c] || isU(c)
			totDesc[a] = totDesc[a] || totDesc[c] || hasTotal(c)
		}
	}
	uAnc := make([]bool, n) // an unbalance node strictly above
	for i := len(t.order) - 1; i >= 0; i-- {
		a := t.order[i]
		if p := t.parent[a]; p >= 0 {
			uAnc[a] = uAnc[p] || isU(p)
		}
	}
	core := func(a int) bool {
		return (isU(a) && (uAnc[a] || uDesc[a] || totDesc[a])) || (hasTotal(a) && uAnc[a])
	}
	for _, a := range t.order {
		if core(a) {
			for b := a; b >= 0 && !t.inK[b]; b = t.parent[b] {
				t.inK[b] = true
			}
		}
		t.simpleU[a] = isU(a) && !core(a)
	}
	t.plainLeaf = make([]bool, n)
	for _, a := range t.order {
		if t.inK[a] {
			t.skel = append(t.skel, a)
		}
		t.plainLeaf[a] = len(t.children[a]) == 0 && !t.inK[a] && !t.simpleU[a] && !hasTotal(a)
	}
	t.depth = make([]int, n)
	for i := len(t.order) - 1; i >= 0; i-- {
		a := t.order[i]
		if p := t.parent[a]; p >= 0 {
			t.depth[a] = t.depth[p] + 1
		}
		t.anchor[a], t.uAbove[a] = -1, -1
		if p := t.parent[a]; p >= 0 {
			t.anchor[a], t.uAbove[a] = t.anchor[p], t.uAbove[p]
		}
		if t.inK[a] {
			t.anchor[a] = a
		}
		if t.simpleU[a] {
			t.uAbove[a] = a
		}
	}
	return t
}

func (t *tree) complex() bool { return len(t.skel) > 0 }
