package loadmgmt

import (
	"cmp"
	"math/bits"
	"slices"
	"time"
)

// car is a demand the engine plans for, in the engine's terms.
type car struct {
	path      []int     // node indices from the car's node up to the root
	minMA     int64     // whole amperes
	maxMA     int64     // whole amperes
	why       LimitKind // why an ineligible car may not run
	demand    int
	node      int
	nph       int64 // 1 or 3
	phase     int   // grid phase if onePhase
	onePhase  bool
	class     Class
	eligible  bool // may run: max ≥ min and not inside its minimum off time
	running   bool // admitted
	protected bool // running, inside its minimum on time
}

type invalidDemand struct {
	demand int
	reason Reason
}

// engine holds one Allocate call's work.
type engine struct {
	site    Site
	lim     []NodeLimit // effective limits, for the reasons
	tr      *tree
	cars    []car     // in admission order (rank); the index breaks ties
	sub     [][]int32 // cars below each node
	invalid []invalidDemand
	scarce  bool
}

// waitingMS is t in milliseconds since 1970, clamped to ±2^41 ms (about
// ±70 years), so the zero time sorts first.
func waitingMS(t time.Time) int64 {
	return min(max(t.UnixMilli(), -1<<41), 1<<41-1)
}

// clampMS clamps v to [0, hi] as an unsigned sort key.
func clampMS(v int64, hi uint64) uint64 {
	if v < 0 {
		return 0
	}
	return min(uint64(v), hi)
}

// newEngine turns the demands into cars ranked for admission: premium
// before eco; within a class, running cars still inside their minimum on
// time first, then the least charging time, then the longest waiting, then
// the point's order in the site.
func newEngine(now time.Time, site Site, topo *topology, tr *tree, lim []NodeLimit, demands []Demand) *engine {
	e := &engine{site: site, lim: lim, tr: tr}
	// Admission priority packed into two integers: tier and time charged
	// (ms), then waiting since (ms) and point index. Sort first, then
	// build the cars in that order.
	rules := site.Rotation
	demandOf := make([]int32, len(site.Points)) // demand index + 1 of each point
	protectedAt := make([]bool, len(site.Points))
	keys := make([]rankKey, 0, len(demands))
	next := 0 // demands usually come in the site's order of points
	for i, d := range demands {
		pi, ok := next, next < len(site.Points) && site.Points[next].ID == d.Point
		if !ok {
			pi, ok = topo.pointIndex[d.Point]
		}
		next = pi + 1
		if !ok || demandOf[pi] != 0 {
			e.invalid = append(e.invalid, invalidDemand{i, Reason{Limit: LimitInvalid}})
			continue
		}
		demandOf[pi] = int32(i + 1)
		protected := d.Running && !d.SwitchedAt.IsZero() && now.Sub(d.SwitchedAt) < rules.MinOn
		tier := uint64(3)
		switch {
		case d.Class == Premium && protected:
			tier = 0
		case d.Class == Premium:
			tier = 1
		case protected:
			tier = 2
		}
		waiting := d.ConnectedSince
		if !d.Running && !d.SwitchedAt.IsZero() {
			waiting = d.SwitchedAt
		}
		protectedAt[pi] = protected
		keys = append(keys, rankKey{
			hi: tier<<tierShift | clampMS(int64(d.ChargedFor/time.Millisecond), 1<<tierShift-1),
			lo: clampMS(waitingMS(waiting)+1<<41, 1<<42-1)<<pointBits | uint64(pi),
		})
	}
	e.cars = make([]car, len(keys))
	for ci, pi := range rankOrder(keys) {
		di := int(demandOf[pi] - 1)
		d := &demands[di]
		p := &site.Points[pi]
		c := &e.cars[ci]
		path := topo.path(int(pi))
		*c = car{demand: di, node: path[0], path: path, minMA: p.minMA(), class: d.Class, eligible: true, protected: protectedAt[pi]}
		c.onePhase = p.phases() == 1 || d.Phases == 1
		c.nph = 3
		if c.onePhase {
			c.nph = 1
			c.phase = p.Rotation.GridPhase(0)
		}
		c.maxMA = roundDownToStep(p.MaxCurrentMA)
		if d.MaxCurrentMA > 0 && d.MaxCurrentMA < c.maxMA {
			c.maxMA = roundDownToStep(d.MaxCurrentMA)
		}
		switch {
		case c.maxMA < c.minMA:
			c.eligible = false
			c.why = LimitCarMax
		case !d.Running && !d.SwitchedAt.IsZero() && now.Sub(d.SwitchedAt) < rules.MinOff:
			c.eligible = false
			c.why = LimitMinOffTime
		}
	}

	e.sub = make([][]int32, len(site.Nodes))
	counts := make([]int, len(site.Nodes))
	for i := range e.cars {
		for _, a := range e.cars[i].path {
			counts[a]++
		}
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	flat := make([]int32, total)
	for a, c := range counts {
		e.sub[a], flat = flat[:0:c], flat[c:]
	}
	for i := range e.cars {
		for _, a := range e.cars[i].path {
			e.sub[a] = append(e.sub[a], int32(i))
		}
	}
	return e
}

// rankKey is a car's admission priority packed into two words: hi is the
// tier and the time charged, lo the time waiting and, in its low 22 bits,
// the point index, so no two keys are equal.
type rankKey struct{ hi, lo uint64 }

// pointBits is the width of lo's point index, tierShift the place of hi's
// tier.
const (
	pointBits = 22
	tierShift = 61
)

// rankOrder returns the point indices of keys sorted by (hi, lo); it sorts
// keys. Where the keys' spread fits in one word (it does unless charging
// times or waiting times span years), it sorts words, which is several
// times faster than comparing pairs.
func rankOrder(keys []rankKey) []int32 {
	order := make([]int32, len(keys))
	if packed, width, ok := packKeys(keys); ok {
		radixSort(packed, width)
		for i, k := range packed {
			order[i] = int32(k & (1<<pointBits - 1))
		}
		return order
	}
	slices.SortFunc(keys, func(a, b rankKey) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	})
	for i, k := range keys {
		order[i] = int32(k.lo & (1<<pointBits - 1))
	}
	return order
}

// packKeys maps every key to one word in the same order, with the point
// index in its low pointBits bits, if the spread of the keys allows: the
// tier (hi's top bits), then the time charged above the least, then lo
// above the least (whose low bits are the point index).
// It also returns how many low bits the words use.
func packKeys(keys []rankKey) ([]uint64, int, bool) {
	if len(keys) == 0 {
		return nil, 0, true
	}
	const chargedMask = 1<<tierShift - 1
	var tierMax uint64
	cMin, cMax := uint64(chargedMask), uint64(0)
	loMin, loMax := keys[0].lo, keys[0].lo
	for _, k := range keys {
		tierMax = max(tierMax, k.hi>>tierShift)
		cMin, cMax = min(cMin, k.hi&chargedMask), max(cMax, k.hi&chargedMask)
		loMin, loMax = min(loMin, k.lo), max(loMax, k.lo)
	}
	loMin &^= 1<<pointBits - 1 // keep the point index whole
	loBits := max(bits.Len64(loMax-loMin), pointBits)
	cBits := bits.Len64(cMax - cMin)
	width := bits.Len64(tierMax) + cBits + loBits
	if width > 64 {
		return nil, 0, false
	}
	packed := make([]uint64, len(keys))
	for i, k := range keys {
		packed[i] = (k.hi>>tierShift)<<(cBits+loBits) | (k.hi&chargedMask-cMin)<<loBits | (k.lo - loMin)
	}
	return packed, width, true
}

// radixSort sorts words whose bits above width are zero: least
// significant byte first, a counting pass per byte.
func radixSort(a []uint64, width int) {
	if len(a) < 64 {
		slices.Sort(a)
		return
	}
	src, dst := a, make([]uint64, len(a))
	for shift := 0; shift < width; shift += 8 {
		var start [257]int
		for _, v := range src {
			start[(v>>shift)&0xff+1]++
		}
		for d := 1; d < len(start); d++ {
			start[d] += start[d-1]
		}
		for _, v := range src {
			d := (v >> shift) & 0xff
			dst[start[d]] = v
			start[d]++
		}
		src, dst = dst, src
	}
	copy(a, src)
}
