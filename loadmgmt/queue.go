package loadmgmt

import "math/bits"

// carQueue orders cars premium first, then by the lowest current (whole
// amperes), then by the lowest index (admission priority), in O(1) per
// operation: one bitset of car indices per class and current.
type carQueue struct {
	cars   []car
	cur    []int64
	words  int         // uint64 words per level
	levels int         // current levels: 0 .. levels-1 amperes
	bits   [2][]uint64 // per class: levels × words
	minL   [2]int      // per class: lowest level that may be non-empty
}

func newCarQueue(cars []car, cur []int64) *carQueue {
	q := &carQueue{cars: cars, cur: cur, words: (len(cars) + 63) / 64}
	for ci := range cars {
		q.levels = max(q.levels, int(cars[ci].maxMA/StepMA)+2)
	}
	for c := range 2 {
		q.bits[c] = make([]uint64, q.levels*q.words)
		q.minL[c] = q.levels
	}
	return q
}

// push queues car ci at its current.
func (q *carQueue) push(ci int32) {
	cl, l := int(q.cars[ci].class&1), int(q.cur[ci]/StepMA)
	q.bits[cl][l*q.words+int(ci>>6)] |= 1 << (ci & 63)
	q.minL[cl] = min(q.minL[cl], l)
}

// pop removes and returns the first car, or false if none is queued.
func (q *carQueue) pop() (int32, bool) {
	for _, cl := range [2]int{int(Premium), int(Eco)} {
		for l := q.minL[cl]; l < q.levels; l++ {
			row := q.bits[cl][l*q.words : (l+1)*q.words]
			for w, v := range row {
				if v != 0 {
					b := bits.TrailingZeros64(v)
					row[w] &^= 1 << b
					q.minL[cl] = l
					return int32(w*64 + b), true
				}
			}
		}
		q.minL[cl] = q.levels
	}
	return 0, false
}
