package loadmgmt

import "math/bits"

// The two queues the fill loop draws cars from.

// carHeap is a binary heap of car indices: premium first, then the lowest
// current, then the lowest index (admission priority).
type carHeap struct {
	items []int32
	cars  []car
}

func (h *carHeap) less(a, b int32) bool {
	ca, cb := &h.cars[a], &h.cars[b]
	if ca.class != cb.class {
		return ca.class > cb.class
	}
	if ca.cur != cb.cur {
		return ca.cur < cb.cur
	}
	return a < b
}

// fix restores the heap order after items changed.
func (h *carHeap) fix() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *carHeap) push(x int32) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *carHeap) pop() int32 {
	x := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	h.down(0)
	return x
}

func (h *carHeap) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			return
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}

// levelQueue orders cars like carHeap (premium first, lowest current,
// lowest index) in O(1) per operation: one bitset of car indices per class
// and current level (whole amperes).
type levelQueue struct {
	cars   []car
	words  int         // uint64 words per level
	levels int         // current levels: 0 .. levels-1 amperes
	bits   [2][]uint64 // per class: levels × words
	hint   [2][]int32  // per class and level: lowest word that may be non-zero
	minL   [2]int      // per class: lowest level that may be non-empty
	queued []bool
}

func (q *levelQueue) init(cars []car, levels int) {
	q.cars = cars
	q.words = (len(cars) + 63) / 64
	q.levels = levels
	for c := range 2 {
		q.bits[c] = make([]uint64, levels*q.words)
		q.hint[c] = make([]int32, levels)
	}
	q.queued = make([]bool, len(cars))
}

func (q *levelQueue) clear() {
	for c := range 2 {
		clear(q.bits[c])
		for l := range q.hint[c] {
			q.hint[c][l] = 0
		}
		q.minL[c] = q.levels
	}
	clear(q.queued)
}

// add queues car ci at its current level.
func (q *levelQueue) add(ci int32) {
	c := &q.cars[ci]
	cl, l, w := int(c.class&1), int(c.cur/StepMA), int32(ci>>6)
	q.bits[cl][l*q.words+int(w)] |= 1 << (ci & 63)
	q.hint[cl][l] = min(q.hint[cl][l], w)
	q.minL[cl] = min(q.minL[cl], l)
	q.queued[ci] = true
}

// moved re-queues car ci, if queued, after its current changed from oldMA.
func (q *levelQueue) moved(ci int32, oldMA int64) {
	if !q.queued[ci] {
		return
	}
	c := &q.cars[ci]
	q.bits[c.class&1][int(oldMA/StepMA)*q.words+int(ci>>6)] &^= 1 << (ci & 63)
	q.add(ci)
}

// pop removes and returns the first car: premium before eco, then the
// lowest level, then the lowest index.
func (q *levelQueue) pop() (int32, bool) {
	for _, cl := range [2]int{int(Premium), int(Eco)} {
		for l := q.minL[cl]; l < q.levels; l++ {
			row := q.bits[cl][l*q.words : (l+1)*q.words]
			for w := int(q.hint[cl][l]); w < q.words; w++ {
				if row[w] != 0 {
					b := bits.TrailingZeros64(row[w])
					row[w] &^= 1 << b
					q.hint[cl][l] = int32(w)
					q.minL[cl] = l
					ci := int32(w*64 + b)
					q.queued[ci] = false
					return ci, true
				}
			}
			q.hint[cl][l] = int32(q.words)
		}
		q.minL[cl] = q.levels
	}
	return 0, false
}
