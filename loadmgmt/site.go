package loadmgmt

import (
	"errors"
	"fmt"
	"time"
)

// Rotation says how a charger's phases are wired to the grid phases. The
// zero value is L1-L2-L3: charger L1 on grid L1, and so on.
type Rotation uint8

// The six possible wirings. The cyclic ones (L1L2L3, L2L3L1, L3L1L2) keep the
// rotating field's direction and are what installers use to spread
// single-phase cars over the grid phases.
const (
	RotationL1L2L3 Rotation = iota
	RotationL2L3L1
	RotationL3L1L2
	RotationL1L3L2
	RotationL2L1L3
	RotationL3L2L1
)

// wiring maps charger phases to grid phases (0 = L1 …).
func (r Rotation) wiring() [3]int {
	switch r {
	case RotationL2L3L1:
		return [3]int{1, 2, 0}
	case RotationL3L1L2:
		return [3]int{2, 0, 1}
	case RotationL1L3L2:
		return [3]int{0, 2, 1}
	case RotationL2L1L3:
		return [3]int{1, 0, 2}
	case RotationL3L2L1:
		return [3]int{2, 1, 0}
	}
	return [3]int{0, 1, 2}
}

// GridPhase returns the grid phase (0 = L1, 1 = L2, 2 = L3) that charger
// phase chargerPhase (0 = L1 …) is wired to.
func (r Rotation) GridPhase(chargerPhase int) int {
	return r.wiring()[chargerPhase]
}

func (r Rotation) valid() bool { return r <= RotationL3L2L1 }

func (r Rotation) String() string {
	if !r.valid() {
		return fmt.Sprintf("Rotation(%d)", uint8(r))
	}
	t := r.wiring()
	return fmt.Sprintf("L%d-L%d-L%d", t[0]+1, t[1]+1, t[2]+1)
}

// Class is a car's priority class. Premium cars are served before eco cars.
type Class uint8

// Priority classes; the zero value is Eco.
const (
	Eco Class = iota
	Premium
)

func (c Class) String() string {
	if c == Premium {
		return "premium"
	}
	return "eco"
}

// Derating reduces a node's limit with its temperature: full limit up to
// StartDeciC, linearly less above it, and 0 at or above StopDeciC.
type Derating struct {
	StartDeciC int32 // °C × 10
	StopDeciC  int32 // °C × 10; must be above StartDeciC
}

// Node is one element of the site tree: the grid connection (no parent), a
// sub-distribution or a circuit. Limits are per grid phase.
type Node struct {
	ID     string
	Parent string // "" for the grid connection; exactly one node has none

	FuseMA [3]int64 // static per-phase limit, grid phases L1..L3

	// UnbalanceMA bounds the difference between the most and the least
	// loaded phase of this node: NoUnbalanceLimit (0) for none, otherwise
	// at least 1 A (Validate rejects less: whole-ampere currents of
	// single-phase cars cannot keep it). VDE-AR-N 4100 allows 20 A at many
	// grid connections.
	UnbalanceMA int64

	// Metered nodes have a meter whose reading (Limits.Meters) must be fresh;
	// without a fresh reading the node falls back to SafeBudgetMA.
	Metered      bool
	SafeBudgetMA [3]int64

	Derating *Derating // nil: no thermal derating
}

// ChargePoint is one charger, hanging below a node (normally a circuit).
type ChargePoint struct {
	ID       string
	Node     string   // the node it hangs below
	Rotation Rotation // wiring of its phases to the grid phases
	Phases   int      // phases the charger has: 1 or 3; 0 means 3

	MinCurrentMA int64 // lowest current it may be set to above 0; 0 means 6 A
	MaxCurrentMA int64 // highest current it may be set to

	// FallbackCurrentMA is what the charger draws on its own when the edge
	// goes silent (communication watchdog). Validate checks that fallbacks
	// never overload a node.
	FallbackCurrentMA int64
}

// RotationRules govern who runs when not every car fits at its minimum.
type RotationRules struct {
	// MinOn is the time a car that was started keeps running before it may
	// be paused to let another car charge (unless a limit forces it).
	MinOn time.Duration
	// MinOff is the time a paused car stays paused before it may restart.
	MinOff time.Duration
}

// Site is the static description of a car park plus the live limit inputs.
type Site struct {
	Nodes    []Node
	Points   []ChargePoint
	Limits   Limits        // live limit inputs; the zero value means fuses only
	Rotation RotationRules // scarcity rotation
	// MeterStaleAfter is how old a meter reading may be; 0 means 3 s.
	MeterStaleAfter time.Duration
	// MeterMarginMA is kept free below a metered node's headroom on every
	// phase (limit = fuse − other load − margin): the other load is the
	// grid meter's reading minus the chargers' own, read at different
	// moments, so it lags what is drawn by up to one reading's change. 0
	// means none; about 1 A covers a 1 s cycle of a busy site.
	MeterMarginMA int64
	// Para14aDevices is the number of steerable consumers (§14a EnWG)
	// behind the grid connection, for the floor of a DSO reduction; 0 means
	// the number of charge points.
	Para14aDevices int
}

// NoUnbalanceLimit is Node.UnbalanceMA for a node without an unbalance
// limit.
const NoUnbalanceLimit int64 = 0

// MinUnbalanceMA is the least unbalance limit a node may have.
const MinUnbalanceMA = 1000

// MinCurrentMA is the IEC 61851 minimum charging current.
const MinCurrentMA = 6000

// StepMA is the granularity of every allocated current: chargers take whole
// amperes.
const StepMA = 1000

// maxLimitMA bounds every configured current (1 MA), far above any car
// park, so that sums and products of currents cannot overflow.
const maxLimitMA = 1_000_000_000

// ErrInvalidSite is wrapped by every error Validate returns.
var ErrInvalidSite = errors.New("invalid site")

func (p ChargePoint) phases() int {
	if p.Phases == 1 {
		return 1
	}
	return 3
}

func (p ChargePoint) minMA() int64 {
	if p.MinCurrentMA <= MinCurrentMA {
		return MinCurrentMA
	}
	return roundUpToStep(p.MinCurrentMA)
}

// Validate checks the tree: one root, unique IDs, known parents, no cycles,
// sane limits, and that the fallback currents below every node fit within
// its fuse on every phase. Each error names the node or point.
func (s Site) Validate() error {
	_, err := buildTopology(s)
	return err
}

// topology is the site resolved to indices.
type topology struct {
	nodeIndex  map[string]int
	pointIndex map[string]int
	parent     []int   // -1 for the root
	root       int     // index of the grid connection
	pointNode  []int   // per point: the node it hangs below
	nodePath   [][]int // per node: node indices from it up to the root
}

func buildTopology(s Site) (*topology, error) {
	t := &topology{
		nodeIndex:  make(map[string]int, len(s.Nodes)),
		pointIndex: make(map[string]int, len(s.Points)),
		parent:     make([]int, len(s.Nodes)),
		root:       -1,
	}
	if len(s.Points) >= 1<<pointBits {
		return nil, fmt.Errorf("%w: %d charge points, at most %d", ErrInvalidSite, len(s.Points), 1<<pointBits-1)
	}
	for i, n := range s.Nodes {
		if n.ID == "" {
			return nil, fmt.Errorf("%w: node #%d has no id", ErrInvalidSite, i)
		}
		if t.nodeIndex[n.ID] = i; len(t.nodeIndex) != i+1 {
			return nil, fmt.Errorf("%w: node %q defined twice", ErrInvalidSite, n.ID)
		}
		for ph, f := range n.FuseMA {
			if f < 0 || f > maxLimitMA {
				return nil, fmt.Errorf("%w: node %q: fuse L%d is %d mA, not in 0..%d mA", ErrInvalidSite, n.ID, ph+1, f, int64(maxLimitMA))
			}
		}
		if n.UnbalanceMA < 0 {
			return nil, fmt.Errorf("%w: node %q: unbalance limit %d mA must be >= 0", ErrInvalidSite, n.ID, n.UnbalanceMA)
		}
		if n.UnbalanceMA != NoUnbalanceLimit && n.UnbalanceMA < MinUnbalanceMA {
			return nil, fmt.Errorf("%w: node %q: unbalance limit %d mA is below 1 A (NoUnbalanceLimit, 0, means none)", ErrInvalidSite, n.ID, n.UnbalanceMA)
		}
		if d := n.Derating; d != nil && d.StopDeciC <= d.StartDeciC {
			return nil, fmt.Errorf("%w: node %q: derating stop %d must be above start %d (0.1 °C)", ErrInvalidSite, n.ID, d.StopDeciC, d.StartDeciC)
		}
	}
	for i, n := range s.Nodes {
		if n.Parent == "" {
			if t.root >= 0 {
				return nil, fmt.Errorf("%w: nodes %q and %q both have no parent; a site has one grid connection", ErrInvalidSite, s.Nodes[t.root].ID, n.ID)
			}
			t.root = i
			t.parent[i] = -1
			continue
		}
		p, ok := t.nodeIndex[n.Parent]
		if !ok {
			return nil, fmt.Errorf("%w: node %q: unknown parent %q", ErrInvalidSite, n.ID, n.Parent)
		}
		t.parent[i] = p
	}
	if t.root < 0 && len(s.Nodes) > 0 {
		return nil, fmt.Errorf("%w: every node has a parent: cycle, no grid connection", ErrInvalidSite)
	}
	if len(s.Nodes) == 0 {
		return nil, fmt.Errorf("%w: no nodes", ErrInvalidSite)
	}
	if s.MeterMarginMA < 0 || s.MeterMarginMA > maxLimitMA {
		return nil, fmt.Errorf("%w: meter margin %d mA not in 0..%d mA", ErrInvalidSite, s.MeterMarginMA, int64(maxLimitMA))
	}
	// Cycle check: every node must reach the root within len(Nodes) steps.
	for i := range s.Nodes {
		j, steps := i, 0
		for j != t.root {
			j = t.parent[j]
			steps++
			if steps > len(s.Nodes) {
				return nil, fmt.Errorf("%w: node %q is in a cycle", ErrInvalidSite, s.Nodes[i].ID)
			}
		}
	}
	// Paths from each node up to the root, shared by the points below it.
	nodePath := make([][]int, len(s.Nodes))
	var pathOf func(i int) []int
	pathOf = func(i int) []int {
		if nodePath[i] != nil {
			return nodePath[i]
		}
		var p []int
		if t.parent[i] < 0 {
			p = []int{i}
		} else {
			up := pathOf(t.parent[i])
			p = make([]int, 0, len(up)+1)
			p = append(p, i)
			p = append(p, up...)
		}
		nodePath[i] = p
		return p
	}
	for i := range s.Nodes {
		pathOf(i)
	}
	own := make([][3]int64, len(s.Nodes)) // fallback current of each node's own points
	t.pointNode = make([]int, len(s.Points))
	for i, p := range s.Points {
		if p.ID == "" {
			return nil, fmt.Errorf("%w: point #%d has no id", ErrInvalidSite, i)
		}
		if t.pointIndex[p.ID] = i; len(t.pointIndex) != i+1 {
			return nil, fmt.Errorf("%w: point %q defined twice", ErrInvalidSite, p.ID)
		}
		n, ok := t.nodeIndex[p.Node]
		if !ok {
			return nil, fmt.Errorf("%w: point %q: unknown node %q", ErrInvalidSite, p.ID, p.Node)
		}
		if !p.Rotation.valid() {
			return nil, fmt.Errorf("%w: point %q: unknown rotation %d", ErrInvalidSite, p.ID, p.Rotation)
		}
		if p.Phases != 0 && p.Phases != 1 && p.Phases != 3 {
			return nil, fmt.Errorf("%w: point %q: %d phases, want 1 or 3", ErrInvalidSite, p.ID, p.Phases)
		}
		if p.MaxCurrentMA > maxLimitMA || p.MinCurrentMA > maxLimitMA {
			return nil, fmt.Errorf("%w: point %q: currents above %d mA", ErrInvalidSite, p.ID, int64(maxLimitMA))
		}
		if p.MaxCurrentMA < p.minMA() {
			return nil, fmt.Errorf("%w: point %q: max current %d mA below its minimum %d mA", ErrInvalidSite, p.ID, p.MaxCurrentMA, p.minMA())
		}
		if p.FallbackCurrentMA < 0 || p.FallbackCurrentMA > p.MaxCurrentMA {
			return nil, fmt.Errorf("%w: point %q: fallback current %d mA not in 0..%d mA", ErrInvalidSite, p.ID, p.FallbackCurrentMA, p.MaxCurrentMA)
		}
		t.pointNode[i] = n
		if p.FallbackCurrentMA > 0 {
			for cp := 0; cp < p.phases(); cp++ {
				own[n][p.Rotation.GridPhase(cp)] += p.FallbackCurrentMA
			}
		}
	}
	t.nodePath = nodePath
	fallback := make([][3]int64, len(s.Nodes))
	for i := range s.Nodes {
		if own[i] == ([3]int64{}) {
			continue
		}
		for _, a := range nodePath[i] {
			for ph := range 3 {
				fallback[a][ph] += own[i][ph]
			}
		}
	}
	for i, n := range s.Nodes {
		for ph := 0; ph < 3; ph++ {
			if fallback[i][ph] > n.FuseMA[ph] {
				return nil, fmt.Errorf("%w: node %q: fallback currents on L%d sum to %d mA, over its fuse of %d mA",
					ErrInvalidSite, n.ID, ph+1, fallback[i][ph], n.FuseMA[ph])
			}
		}
	}
	return t, nil
}

func roundUpToStep(ma int64) int64 {
	return (ma + StepMA - 1) / StepMA * StepMA
}

func roundDownToStep(ma int64) int64 {
	if ma <= 0 {
		return 0
	}
	return ma / StepMA * StepMA
}

// path is point pi's node indices from its node up to the root.
func (t *topology) path(pi int) []int { return t.nodePath[t.pointNode[pi]] }
