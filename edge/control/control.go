package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// State is what the loop reads of the site state.
type State interface {
	Meter(id string, now time.Time) site.Reading[drivers.MeterSample]
	Charger(id string, now time.Time) site.Reading[drivers.ChargerStatus]
}

// Outputs writes setpoints; safety.Watcher is the one in production, so
// that nothing above 0 A passes while safety holds a point.
type Outputs interface {
	SetCurrentMA(ctx context.Context, point string, mA int64) error
}

// Safety is what the loop asks safety.
type Safety interface {
	// Blocked says what holds a point at 0 A, "" if nothing.
	Blocked(point string) string
	// Temperatures are the nodes' hottest fresh temperatures.
	Temperatures() []loadmgmt.Temperature
}

// Failsafe is a charger's own fallback (drivers.Failsafe): fallbackA when
// no Modbus request reaches it for watchdog, set and read back.
type Failsafe interface {
	SetFailsafe(ctx context.Context, fallbackA int, watchdog time.Duration) error
	Failsafe(ctx context.Context) (fallbackA int, watchdog time.Duration, err error)
}

// Point is a charge point as the loop sees it.
type Point struct {
	ID         string
	Controller string   // charge-controller device id in the state
	Meter      string   // meter device id; "" if none
	Bus        string   // the controller's bus: writes queue per bus
	GridPhases []int    // grid phase (0 = L1) of each charger phase
	FallbackA  int      // fallback current, A
	Failsafe   Failsafe // nil: the controller has no documented watchdog (see docs/failsafe.md)
}

// Config is what a Loop controls and how.
type Config struct {
	SiteID    string
	Site      loadmgmt.Site // the static site: nodes, points, rotation rules
	Points    []Point       // same ids as Site.Points
	GridMeter string        // device id; "" if none
	Interval  time.Duration // default 1 s
	Watchdog  time.Duration // charger communication watchdog; 0 leaves it off
	MaxTTL    time.Duration // longest EMS limit; default 1 h

	MaxParallel    int           // concurrent writes per group; default 32
	RaiseEvery     time.Duration // least time between raises of a point; 0: no wait
	DeadbandMA     int64         // least raise written; 0: every raise
	MinOff         time.Duration // least pause after a stop; 0: none
	RetryFailed    time.Duration // wait after a failed write; default 5 s
	FailsafeRetry  time.Duration // wait after a failed failsafe setup; default 10 s
	FailsafeVerify time.Duration // read the failsafe back this often; default 5 min
	WriteTimeout   time.Duration // per write; default 2 s
}

// Loop is the control loop.
type Loop struct {
	cfg    Config
	state  State
	out    Outputs
	safety Safety
	clk    clock.Clock
	log    *slog.Logger

	site   loadmgmt.Site // static part, copied each step
	rules  loadmgmt.Rules
	points []*pointState
	byID   map[string]*pointState
	// fuse per node, for the reserve of unreachable chargers
	nodeIdx  map[string]int
	pathOf   map[string][]int // point → node indices up to the root
	rootNode string

	stab     loadmgmt.State // Stabilize's memory; owned by the loop goroutine
	vs       []view         // a step's views, reused; owned by the loop goroutine
	reversed bool           // the grid meter read a negative current at the last step; owned by the loop goroutine

	mu       sync.Mutex // protects the fields below
	ems      *emsState
	para14a  *loadmgmt.Para14aSignal
	classes  map[string]loadmgmt.Class
	limits   pointLimits // per-point limits by source (pointlimits.go); copy on write
	status   Status
	stepDur  time.Duration
	failsafe map[string]string // point → FailsafeStatus value

	// OnStep, if set, is called after every step with its duration; for
	// metrics and benchmarks. It must not block.
	OnStep func(now time.Time, took time.Duration)
}

type pointState struct {
	Point
	static loadmgmt.ChargePoint

	// Owned by the loop goroutine.
	cmdMA     int64           // last setpoint commanded (written, or tried)
	cmdDone   time.Time       // clock time the last write returned; zero: never commanded
	cmdErr    bool            // the last write failed
	holdsMA   int64           // what the charger offered at its last read-back
	readAt    time.Time       // when that read-back was sent; zero: none yet
	known     bool            // a read-back after the last command shows it
	overSince time.Time       // since when it draws more than it offers; zero: it does not
	nextTry   time.Time       // after a failed raise
	demand    loadmgmt.Demand // the last plan's demand, if hasDemand
	hasDemand bool
	alloc     loadmgmt.Allocation
	allocAt   time.Time
	lastErr   string

	wasStale bool // the controller did not answer at the last step
	// meteredMA is what the point's meter read at the last step, per grid
	// phase: what it drew before a write of this step's predecessor.
	meteredMA [3]int64
	// carPhases is what the meter showed the connected car to draw on (1
	// or 3), kept while the car stays connected, so that a paused car
	// restarts planned on the phases it really loads; 0: not seen yet.
	carPhases int

	// The failsafe worker's (see failsafe.go); recheck is set by Step.
	failsafeOK     bool
	failsafeTry    time.Time
	failsafeVerify time.Time
	recheck        atomic.Bool
}

// New returns a loop. It checks the configuration, not the devices.
func New(cfg Config, state State, out Outputs, safety Safety, clk clock.Clock, log *slog.Logger) (*Loop, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.MaxParallel <= 0 {
		cfg.MaxParallel = 32
	}
	cfg.RaiseEvery = max(0, cfg.RaiseEvery)
	cfg.DeadbandMA = max(0, cfg.DeadbandMA)
	cfg.MinOff = max(0, cfg.MinOff)
	if cfg.RetryFailed <= 0 {
		cfg.RetryFailed = 5 * time.Second
	}
	if cfg.FailsafeRetry <= 0 {
		cfg.FailsafeRetry = 10 * time.Second
	}
	if cfg.FailsafeVerify <= 0 {
		cfg.FailsafeVerify = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Site.Validate(); err != nil {
		return nil, fmt.Errorf("control site %q: %w", cfg.SiteID, err)
	}
	l := &Loop{
		cfg: cfg, state: state, out: out, safety: safety, clk: clock.OrReal(clk), log: log.With("site", cfg.SiteID),
		site: cfg.Site, byID: map[string]*pointState{}, nodeIdx: map[string]int{}, pathOf: map[string][]int{},
		rules:   loadmgmt.Rules{RaiseInterval: cfg.RaiseEvery, DeadbandMA: cfg.DeadbandMA, MinOff: cfg.MinOff},
		classes: map[string]loadmgmt.Class{},
	}
	parent := map[string]string{}
	for i, n := range cfg.Site.Nodes {
		l.nodeIdx[n.ID] = i
		parent[n.ID] = n.Parent
		if n.Parent == "" {
			l.rootNode = n.ID
		}
	}
	static := map[string]loadmgmt.ChargePoint{}
	for _, p := range cfg.Site.Points {
		static[p.ID] = p
	}
	for _, p := range cfg.Points {
		sp, ok := static[p.ID]
		if !ok {
			return nil, fmt.Errorf("control site %q: point %q is not in the site model", cfg.SiteID, p.ID)
		}
		if _, dup := l.byID[p.ID]; dup {
			return nil, fmt.Errorf("control site %q: point %q listed twice", cfg.SiteID, p.ID)
		}
		if len(p.GridPhases) == 0 {
			for cp := range 3 {
				if sp.Phases == 1 && cp > 0 {
					break
				}
				p.GridPhases = append(p.GridPhases, sp.Rotation.GridPhase(cp))
			}
		}
		ps := &pointState{Point: p, static: sp}
		l.points = append(l.points, ps)
		l.byID[p.ID] = ps
		for n := sp.Node; n != ""; n = parent[n] {
			l.pathOf[p.ID] = append(l.pathOf[p.ID], l.nodeIdx[n])
		}
	}
	// Fallback currents were checked above (Validate); each step reserves
	// what a silent charger may draw instead, once.
	l.site.Points = withoutFallbacks(cfg.Site.Points)
	// One minimum off time: the one Stabilize holds a stopped point for is
	// the one loadmgmt keeps a paused car out of the plan for.
	l.site.Rotation.MinOff = max(l.site.Rotation.MinOff, cfg.MinOff)
	if len(l.points) != len(cfg.Site.Points) {
		return nil, fmt.Errorf("control site %q: %d points configured, the site model has %d", cfg.SiteID, len(l.points), len(cfg.Site.Points))
	}
	return l, nil
}

// Run runs a Step every Interval until ctx ends; it returns ctx's error.
// Beside the steps, a worker of its own sets and reads back the chargers'
// failsafe (ConfigureFailsafe), so that a controller that does not answer
// never delays a step.
func (l *Loop) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { l.runFailsafe(ctx) })
	ticker, tick := l.clk.NewTicker(l.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		}
		l.Step(ctx, l.clk.Now())
	}
}

// parallelByBus runs f for every item, the items of each bus (by bus)
// apart, at most n at once per bus, and waits: a bus whose writes hang
// never holds back the writes on another.
func parallelByBus[T any](n int, items []T, bus func(T) string, f func(T)) {
	groups := map[string][]T{}
	var order []string
	for _, it := range items {
		b := bus(it)
		if _, ok := groups[b]; !ok {
			order = append(order, b)
		}
		groups[b] = append(groups[b], it)
	}
	if len(order) == 1 {
		parallel(n, items, f)
		return
	}
	var wg sync.WaitGroup
	for _, b := range order {
		wg.Go(func() { parallel(n, groups[b], f) })
	}
	wg.Wait()
}

// parallel runs f for every item, at most n at once, and waits.
func parallel[T any](n int, items []T, f func(T)) {
	if len(items) == 0 {
		return
	}
	sem := make(chan struct{}, max(1, min(n, len(items))))
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(it)
		}()
	}
	wg.Wait()
}

// demandFor builds the point's demand, carrying its rotation state. A
// point that Stabilize keeps stopped for its minimum off time enters as a
// paused car (not running since it stopped), so that loadmgmt gives its
// share to the cars that may run instead of planning current it cannot use.
func (l *Loop) demandFor(p *pointState, now time.Time, classes map[string]loadmgmt.Class, stab loadmgmt.PointState) loadmgmt.Demand {
	var d loadmgmt.Demand
	if p.hasDemand {
		d = p.demand.Advance(p.alloc, p.allocAt, now.Sub(p.allocAt))
	} else {
		d = loadmgmt.Demand{Point: p.ID, ConnectedSince: now}
	}
	d.Class = classes[p.ID]
	d.Phases = p.carPhases
	d.MaxCurrentMA = 0 // the car's own is not known; a point limit is applied by the caller
	if stab.SetpointMA == 0 && !stab.StoppedAt.IsZero() && now.Sub(stab.StoppedAt) < l.rules.MinOff {
		if d.Running || d.SwitchedAt.Before(stab.StoppedAt) {
			d.Running, d.SwitchedAt = false, stab.StoppedAt
		}
	}
	// One-phase car on a three-phase charger: current on charger L1 only.
	// Whatever the charger was told last, a meter that shows current on L1
	// alone (or on all three) tells the car's phases.
	if len(p.GridPhases) == 3 && p.Meter != "" && max(p.holdsMA, p.cmdMA) > 0 {
		m := l.state.Meter(p.Meter, now)
		if !m.Stale {
			const flowing = 2000 // mA
			c := m.Value.CurrentMA
			switch {
			case c[0] >= flowing && c[1] < flowing/2 && c[2] < flowing/2:
				p.carPhases = 1
			case c[0] >= flowing && c[1] >= flowing && c[2] >= flowing:
				p.carPhases = 3
			}
			d.Phases = p.carPhases
		}
	}
	return d
}

// SetClass sets a point's priority class (from its session).
func (l *Loop) SetClass(point string, c loadmgmt.Class) error {
	if _, ok := l.byID[point]; !ok {
		return fmt.Errorf("control site %q: %w %q", l.cfg.SiteID, ErrUnknownPoint, point)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next := make(map[string]loadmgmt.Class, len(l.classes)+1)
	for k, v := range l.classes {
		next[k] = v
	}
	next[point] = c
	l.classes = next // copy on write: Step reads it without the lock
	return nil
}

// ErrUnknownPoint is returned for a charge point id the site lacks.
var ErrUnknownPoint = errors.New("unknown charge point")
