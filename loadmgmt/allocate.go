package loadmgmt

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Demand is a connected car that wants current, as seen at a charge point.
type Demand struct {
	Point        string
	Phases       int   // phases the car draws on: 1, or 3 (any other value: as many as the charger has)
	MaxCurrentMA int64 // the car's maximum; 0 means the charger's
	Class        Class
	// EnergyWantedWh is what the driver asked for, 0 if unknown. It is
	// carried for reporting and simulation; the allocation does not use it.
	EnergyWantedWh int64
	ConnectedSince time.Time

	// Rotation state, carried from one plan to the next (see Advance).
	Running    bool          // the car was granted current in the last plan
	SwitchedAt time.Time     // when Running last changed; zero: long ago
	ChargedFor time.Duration // time granted current since it connected
}

// Advance returns the demand's rotation state after a, the car's allocation
// in a plan made at planAt, has been in force for elapsed.
func (d Demand) Advance(a Allocation, planAt time.Time, elapsed time.Duration) Demand {
	if a.Running != d.Running {
		d.Running = a.Running
		d.SwitchedAt = planAt
	}
	if a.Running {
		d.ChargedFor += elapsed
	}
	return d
}

// Reason says what keeps a car at its current: the limit that would be
// broken by one more step. Node and Phase are empty/0 where not applicable;
// Phase is the grid phase, 1..3.
type Reason struct {
	Limit LimitKind
	Node  string
	Phase int
}

func (r Reason) String() string {
	s := string(r.Limit)
	if r.Node != "" {
		s += " at " + r.Node
	}
	if r.Phase > 0 {
		s += fmt.Sprintf(" L%d", r.Phase)
	}
	return s
}

// Allocation is the plan for one demand.
type Allocation struct {
	Point     string
	CurrentMA int64 // 0, or between the point's minimum and the car's maximum, in whole amperes
	Running   bool
	Reason    Reason
}

// NodeLoad is the load a plan puts on a node, per grid phase.
type NodeLoad struct {
	Node   string
	LoadMA [3]int64
}

// Plan is the outcome of Allocate.
type Plan struct {
	At          time.Time
	Allocations []Allocation // one per demand, in the order of the demands
	Limits      []NodeLimit  // effective limits, in the order of the site's nodes
	Loads       []NodeLoad   // in the order of the site's nodes
	// Scarce is set when some car that may run was paused because not
	// every car fits at its minimum current.
	Scarce bool
	// Err is set when the site is invalid; every allocation is then 0 A.
	Err error
}

// LoadMA returns the plan's load on the node with the given ID.
func (p Plan) LoadMA(node string) [3]int64 {
	for _, l := range p.Loads {
		if l.Node == node {
			return l.LoadMA
		}
	}
	return [3]int64{}
}

// Current returns the current planned for a point, 0 if it has no demand.
func (p Plan) Current(point string) int64 {
	for _, a := range p.Allocations {
		if a.Point == point {
			return a.CurrentMA
		}
	}
	return 0
}

// Allocate plans the current of every demanding car at now. It is pure: no
// I/O, no clock. See the package documentation for the rules it follows.
func Allocate(now time.Time, site Site, demands []Demand) Plan {
	plan := Plan{At: now, Allocations: make([]Allocation, len(demands))}
	for i, d := range demands {
		plan.Allocations[i].Point = d.Point
	}
	topo, err := buildTopology(site)
	if err != nil {
		plan.Err = err
		for i := range plan.Allocations {
			plan.Allocations[i].Reason = Reason{Limit: LimitInvalid}
		}
		return plan
	}
	plan.Limits = EffectiveLimits(now, site)
	e := newEngine(now, site, topo, plan.Limits, demands)
	e.run()
	e.results(plan.Allocations)
	for _, inv := range e.invalid {
		plan.Allocations[inv.demand].Reason = inv.reason
	}
	plan.Scarce = e.scarce
	plan.Loads = make([]NodeLoad, len(site.Nodes))
	for i, n := range site.Nodes {
		plan.Loads[i] = NodeLoad{Node: n.ID, LoadMA: e.nodes[i].load}
	}
	return plan
}

const unlimited = int64(1) << 60

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

type nodeState struct {
	cap       [3]int64
	total     int64 // bound on the sum of the phases; unlimited if none
	unb       int64 // 0: none
	kind      [3]LimitKind
	totalKind LimitKind
	load      [3]int64
	loadTotal int64

	// Jump phase: active weight per phase, active one-phase cars per phase,
	// active weight over all phases.
	k, k1 [3]int64
	kT    int64
}

type car struct {
	demand   int
	path     []int // node indices from the car's node up to the root
	onePhase bool
	phase    int   // grid phase if onePhase
	nph      int64 // 1 or 3
	minMA    int64
	maxMA    int64
	class    Class
	cur      int64
	why      LimitKind // why an ineligible car may not run

	eligible bool // may run (not in min-off, max ≥ min, not excluded)
	admitted bool
	excluded bool // dropped to repair an unbalance
	active   bool // jump: rising with the level
}

type invalidDemand struct {
	demand int
	reason Reason
}

type engine struct {
	site    Site
	nodes   []nodeState
	cars    []car // sorted by admission priority; the index breaks ties
	invalid []invalidDemand
	scarce  bool

	unbNodes []int     // nodes with an unbalance limit, deepest first
	sub      [][]int32 // per node: cars below it

	// per (node with unbalance limit, phase): one-phase admitted cars, a
	// round-robin cursor, exhaustion flag and parked cars.
	onPhase   map[int]*[3][]int32
	rr        map[int]*[3]int
	exhausted map[int]*[3]bool
	parked    map[int]*[3]carHeap
	nParked   map[int]int

	queue levelQueue
}

func newEngine(now time.Time, site Site, topo *topology, lim []NodeLimit, demands []Demand) *engine {
	e := &engine{site: site, nodes: make([]nodeState, len(site.Nodes))}
	depth := make([]int, len(site.Nodes))
	for i := range site.Nodes {
		n := &e.nodes[i]
		n.cap = lim[i].LimitMA
		n.kind = lim[i].Kind
		n.total = unlimited
		if lim[i].TotalMA > 0 {
			n.total = lim[i].TotalMA
			n.totalKind = lim[i].TotalKind
		}
		n.unb = lim[i].UnbalanceMA
		for j := i; topo.parent[j] >= 0; j = topo.parent[j] {
			depth[i]++
		}
		if n.unb > 0 {
			e.unbNodes = append(e.unbNodes, i)
		}
	}
	slices.SortStableFunc(e.unbNodes, func(a, b int) int { return cmp.Compare(depth[b], depth[a]) })

	// Admission priority packed into two integers: tier and time charged
	// (ms), then waiting since (ms) and point index. Sort first, then
	// build the cars in that order.
	type key struct {
		hi, lo        uint64
		demand, point int32
	}
	rules := site.Rotation
	seen := make([]bool, len(site.Points))
	keys := make([]key, 0, len(demands))
	for i, d := range demands {
		pi, ok := topo.pointIndex[d.Point]
		if !ok || seen[pi] {
			e.invalid = append(e.invalid, invalidDemand{i, Reason{Limit: LimitInvalid}})
			continue
		}
		seen[pi] = true
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
		keys = append(keys, key{
			hi:     tier<<61 | clampMS(int64(d.ChargedFor/time.Millisecond), 1<<61-1),
			lo:     clampMS(waitingMS(waiting)+1<<41, 1<<42-1)<<22 | uint64(pi)&(1<<22-1),
			demand: int32(i),
			point:  int32(pi),
		})
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.hi != b.hi {
			return cmp.Compare(a.hi, b.hi)
		}
		return cmp.Compare(a.lo, b.lo)
	})
	e.cars = make([]car, len(keys))
	for ci, k := range keys {
		d := &demands[k.demand]
		p := &site.Points[k.point]
		c := &e.cars[ci]
		*c = car{demand: int(k.demand), path: topo.pointPath[k.point], minMA: p.minMA(), class: d.Class, eligible: true}
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
	levels := 0
	for i := range e.cars {
		levels = max(levels, int(e.cars[i].maxMA/StepMA)+1)
	}
	e.queue.init(e.cars, levels)
	return e
}

// run admits, fills and, if an unbalance limit cannot be met, drops a car
// and starts over.
func (e *engine) run() {
	for attempt := 0; attempt <= len(e.cars); attempt++ {
		e.reset()
		e.admit()
		e.jump(Premium)
		e.fill(true)
		e.jump(Eco)
		e.fill(false)
		node, phase := e.unbalanced()
		if node < 0 {
			break
		}
		if !e.dropOne(node, phase) {
			// Nothing left to drop; pause everyone below the node.
			for _, ci := range e.sub[node] {
				e.cars[ci].excluded = true
			}
		}
	}
}

func (e *engine) reset() {
	for i := range e.nodes {
		e.nodes[i].load = [3]int64{}
		e.nodes[i].loadTotal = 0
	}
	for i := range e.cars {
		e.cars[i].cur = 0
		e.cars[i].admitted = false
	}
	e.scarce = false
	e.onPhase = map[int]*[3][]int32{}
	e.rr = map[int]*[3]int{}
	e.exhausted = map[int]*[3]bool{}
	e.parked = map[int]*[3]carHeap{}
	e.nParked = map[int]int{}
}

// fitsAtMin reports whether car c can be added at its minimum current
// without breaking a capacity limit, and, if strict, without breaking an
// unbalance limit either.
func (e *engine) fitsAtMin(c *car, strict bool) bool {
	m := c.minMA
	for _, a := range c.path {
		n := &e.nodes[a]
		if c.onePhase {
			if n.load[c.phase]+m > n.cap[c.phase] {
				return false
			}
		} else {
			for p := range 3 {
				if n.load[p]+m > n.cap[p] {
					return false
				}
			}
		}
		if n.loadTotal+m*c.nph > n.total {
			return false
		}
		if strict && c.onePhase && n.unb > 0 {
			l := n.load
			l[c.phase] += m
			if max3(l)-min3(l) > n.unb {
				return false
			}
		}
	}
	return true
}

func (e *engine) add(c *car, delta int64) {
	c.cur += delta
	for _, a := range c.path {
		n := &e.nodes[a]
		if c.onePhase {
			n.load[c.phase] += delta
		} else {
			n.load[0] += delta
			n.load[1] += delta
			n.load[2] += delta
		}
		n.loadTotal += delta * c.nph
	}
}

// admit chooses who runs, in priority order, each at its minimum current:
// first every car that fits by capacity; then, while an unbalance limit is
// broken even after raising the least loaded phases (repair), it drops the
// lowest-priority single-phase car on the most loaded phase; last, cars
// refused for capacity get a second chance if they fit as they are.
func (e *engine) admit() {
	var skipped []int
	for i := range e.cars {
		c := &e.cars[i]
		if !c.eligible || c.excluded {
			continue
		}
		if e.fitsAtMin(c, false) {
			c.admitted = true
			e.add(c, c.minMA)
		} else {
			skipped = append(skipped, i)
		}
	}
	if len(e.unbNodes) > 0 {
		for range e.cars {
			e.indexPhases()
			e.repair()
			a, p := e.unbalanced()
			if a < 0 {
				break
			}
			// The light phases cannot rise further, so the heavy phase
			// must come down by the excess: drop that many cars at once
			// (each carries at least 6 A).
			n := &e.nodes[a]
			excess := max3(n.load) - min3(n.load) - n.unb
			dropped := false
			for range (excess + MinCurrentMA - 1) / MinCurrentMA {
				if !e.dropOne(a, p) {
					break
				}
				dropped = true
			}
			if !dropped {
				break
			}
			e.restartAtMin()
		}
	}
	for _, i := range skipped {
		if c := &e.cars[i]; e.fitsAtMin(c, true) {
			c.admitted = true
			e.add(c, c.minMA)
		}
	}
	e.indexPhases()
	for i := range e.cars {
		if c := &e.cars[i]; c.eligible && !c.admitted {
			e.scarce = true
		}
	}
}

// restartAtMin puts every admitted car back at its minimum current.
func (e *engine) restartAtMin() {
	for i := range e.nodes {
		e.nodes[i].load = [3]int64{}
		e.nodes[i].loadTotal = 0
	}
	for i := range e.cars {
		c := &e.cars[i]
		c.cur = 0
		if c.admitted {
			e.add(c, c.minMA)
		}
	}
}

// indexPhases lists, for every node with an unbalance limit, the admitted
// single-phase cars below it by grid phase.
func (e *engine) indexPhases() {
	for _, a := range e.unbNodes {
		lists := &[3][]int32{}
		for _, ci := range e.sub[a] {
			c := &e.cars[ci]
			if c.admitted && c.onePhase {
				lists[c.phase] = append(lists[c.phase], ci)
			}
		}
		e.onPhase[a] = lists
		e.rr[a] = &[3]int{}
		e.exhausted[a] = &[3]bool{}
		e.parked[a] = &[3]carHeap{{cars: e.cars}, {cars: e.cars}, {cars: e.cars}}
	}
}

type blockKind uint8

const (
	blockNone blockKind = iota
	blockCarMax
	blockPhase
	blockTotal
	blockUnbalance
)

type block struct {
	kind  blockKind
	node  int
	phase int
}

// check says whether car c can take one more step, and if not, what stops it.
func (e *engine) check(c *car) block {
	if c.cur+StepMA > c.maxMA {
		return block{kind: blockCarMax}
	}
	for _, a := range c.path {
		n := &e.nodes[a]
		if c.onePhase {
			if n.load[c.phase]+StepMA > n.cap[c.phase] {
				return block{blockPhase, a, c.phase}
			}
		} else {
			for p := range 3 {
				if n.load[p]+StepMA > n.cap[p] {
					return block{blockPhase, a, p}
				}
			}
		}
		if n.loadTotal+StepMA*c.nph > n.total {
			return block{blockTotal, a, 0}
		}
		if c.onePhase && n.unb > 0 {
			lo, hi := min3(n.load), max3(n.load)
			if n.load[c.phase]+StepMA > max(lo+n.unb, hi) {
				return block{blockUnbalance, a, c.phase}
			}
		}
	}
	return block{}
}

func min3(v [3]int64) int64 { return min(v[0], v[1], v[2]) }
func max3(v [3]int64) int64 { return max(v[0], v[1], v[2]) }

func argmin3(v [3]int64) int {
	q := 0
	for p := 1; p < 3; p++ {
		if v[p] < v[q] {
			q = p
		}
	}
	return q
}

// raisePhase raises one one-phase car on grid phase q below node a by one
// step, taking the cars in turn. It reports whether it found one.
func (e *engine) raisePhase(a, q int) (int, bool) {
	ex := e.exhausted[a]
	if ex == nil || ex[q] {
		return 0, false
	}
	list := e.onPhase[a][q]
	rr := e.rr[a]
	for k := range list {
		j := (rr[q] + k) % len(list)
		ci := list[j]
		c := &e.cars[ci]
		if e.check(c).kind == blockNone {
			e.add(c, StepMA)
			rr[q] = (j + 1) % len(list)
			return int(ci), true
		}
	}
	ex[q] = true
	return 0, false
}

// repair raises the least loaded phases of every node whose unbalance the
// minimum currents already break.
func (e *engine) repair() {
	for _, a := range e.unbNodes {
		n := &e.nodes[a]
		for max3(n.load)-min3(n.load) > n.unb {
			if _, ok := e.raisePhase(a, argmin3(n.load)); !ok {
				break
			}
		}
	}
}

// unbalanced returns a node (and its most loaded phase) whose unbalance
// limit the plan breaks, or -1.
func (e *engine) unbalanced() (int, int) {
	for _, a := range e.unbNodes {
		n := &e.nodes[a]
		if max3(n.load)-min3(n.load) > n.unb {
			hi := 0
			for p := 1; p < 3; p++ {
				if n.load[p] > n.load[hi] {
					hi = p
				}
			}
			return a, hi
		}
	}
	return -1, 0
}

// dropOne excludes the lowest-priority admitted one-phase car on phase p
// below node a.
func (e *engine) dropOne(a, p int) bool {
	sub := e.sub[a]
	for k := len(sub) - 1; k >= 0; k-- {
		c := &e.cars[sub[k]]
		if c.admitted && c.onePhase && c.phase == p {
			c.excluded = true
			c.admitted = false
			return true
		}
	}
	return false
}

// fill raises cars one step at a time, always the one with the lowest
// current (premium before eco), until none can take another step.
func (e *engine) fill(premiumOnly bool) {
	q := &e.queue
	q.clear()
	for i := range e.cars {
		c := &e.cars[i]
		if c.admitted && (!premiumOnly || c.class == Premium) {
			q.add(int32(i))
		}
	}
	for {
		ci, ok := q.pop()
		if !ok {
			// Work-conserving, whatever unpark missed: requeue every
			// parked car that has room now, and go on if there was one.
			if !e.requeueParked() {
				break
			}
			continue
		}
		c := &e.cars[ci]
		b := e.check(c)
		switch b.kind {
		case blockNone:
			e.add(c, StepMA)
			q.add(ci)
			e.unpark(c)
		case blockUnbalance:
			if c.class == Premium {
				// Raise the least loaded phase, which may be what lets
				// this car go higher.
				if j, ok := e.raisePhase(b.node, argmin3(e.nodes[b.node].load)); ok {
					q.moved(int32(j), e.cars[j].cur-StepMA)
					e.unpark(&e.cars[j])
					q.add(ci)
					continue
				}
			}
			e.parked[b.node][b.phase].push(ci)
			e.nParked[b.node]++
			// It may have been unparked into room it cannot use: pass
			// the room on.
			e.unpark(c)
		default:
			e.unpark(c)
		}
	}
	for _, a := range e.unbNodes {
		for p := range 3 {
			e.parked[a][p].items = e.parked[a][p].items[:0]
		}
		e.nParked[a] = 0
	}
}

// requeueParked moves every parked car that could take a step now back to
// the queue, and reports whether there was one.
func (e *engine) requeueParked() bool {
	found := false
	for _, a := range e.unbNodes {
		for p := range 3 {
			ph := &e.parked[a][p]
			kept := ph.items[:0]
			for _, ci := range ph.items {
				if e.check(&e.cars[ci]).kind == blockNone {
					e.queue.add(ci)
					e.nParked[a]--
					found = true
				} else {
					kept = append(kept, ci)
				}
			}
			ph.items = kept
			ph.fix()
		}
	}
	return found
}

// unpark moves cars parked for unbalance back to the queue where a raise of
// car c has made room for them.
func (e *engine) unpark(c *car) {
	if !c.onePhase {
		return
	}
	for _, a := range c.path {
		if e.nParked[a] == 0 {
			continue
		}
		n := &e.nodes[a]
		ceil := max(min3(n.load)+n.unb, max3(n.load))
		for p := range 3 {
			ph := &e.parked[a][p]
			for room := ceil - n.load[p]; room >= StepMA && len(ph.items) > 0; room -= StepMA {
				e.queue.add(ph.pop())
				e.nParked[a]--
			}
		}
	}
}

// results writes every car's current, and what stops it from taking one
// more step, into out (indexed like the demands).
func (e *engine) results(out []Allocation) {
	for i := range e.cars {
		c := &e.cars[i]
		a := &out[c.demand]
		a.CurrentMA, a.Running = c.cur, c.cur > 0
		if !c.admitted {
			a.Reason = Reason{Limit: c.why}
			if c.why == LimitNone {
				a.Reason.Limit = LimitPaused
			}
			continue
		}
		b := e.check(c)
		switch b.kind {
		case blockCarMax:
			a.Reason = Reason{Limit: LimitCarMax}
		case blockPhase:
			a.Reason = Reason{Limit: e.nodes[b.node].kind[b.phase], Node: e.site.Nodes[b.node].ID, Phase: b.phase + 1}
		case blockTotal:
			a.Reason = Reason{Limit: e.nodes[b.node].totalKind, Node: e.site.Nodes[b.node].ID}
		case blockUnbalance:
			a.Reason = Reason{Limit: LimitUnbalance, Node: e.site.Nodes[b.node].ID, Phase: b.phase + 1}
		}
	}
}
