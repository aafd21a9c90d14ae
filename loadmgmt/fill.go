package loadmgmt

// fill hands out the whole amperes rounding left, in two rounds, each
// premium first and then the lowest current first: first to the cars
// below their target, up to it rounded up; then to any car that can take
// one more ampere, until none can (the plan is work-conserving). An
// ampere beyond a car's target rounded up is thus only ever one that no
// car below its target could use.
func (e *engine) fill(cur []int64, ld *loads, target []int64) {
	// A car stopped by its maximum or a node limit in the first round stays
	// stopped: loads only grow.
	done := make([]bool, len(e.cars))
	q := newCarQueue(e.cars, cur)
	e.spread(q, cur, ld, done, func(ci int) bool { return cur[ci] < ceilA(target[ci]-roundSlackMA) })
	e.spread(q, cur, ld, done, func(ci int) bool { return !done[ci] })
}

// spread raises the cars for which may holds, one ampere at a time, while
// one can rise. A car held by an unbalance limit waits until the least
// loaded phase of that node rises.
// A car stopped by its maximum or a node limit is marked done.
func (e *engine) spread(q *carQueue, cur []int64, ld *loads, done []bool, may func(ci int) bool) {
	for ci := range e.cars {
		if cur[ci] > 0 && may(ci) {
			q.push(int32(ci))
		}
	}
	parked := map[int][]int32{}
	for {
		ci, ok := q.pop()
		if !ok {
			return
		}
		if !may(int(ci)) {
			continue
		}
		b := e.step(int(ci), cur[ci], ld, true)
		switch b.kind {
		case blockNone:
			c := &e.cars[ci]
			var least [8]int64 // least loaded phase of the first nodes on the way
			for k, a := range c.path[:min(len(c.path), len(least))] {
				l := ld.phase(a)
				least[k] = min(l[0], l[1], l[2])
			}
			cur[ci] += StepMA
			ld.add(c, StepMA)
			q.push(ci)
			if !c.onePhase {
				break
			}
			for k, a := range c.path {
				if len(parked[a]) == 0 {
					continue
				}
				l := ld.phase(a)
				if k < len(least) && min(l[0], l[1], l[2]) == least[k] {
					continue // the least loaded phase did not rise
				}
				for _, w := range parked[a] {
					q.push(w)
				}
				delete(parked, a)
			}
		case blockUnbalance:
			parked[b.node] = append(parked[b.node], ci)
		default:
			done[ci] = true
		}
	}
}
