package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// Failsafe sets a charger's own fallback: fallbackA when no Modbus request
// reaches it for watchdog.
type Failsafe interface {
	SetFailsafe(ctx context.Context, fallbackA int, watchdog time.Duration) error
}

// Point is a charge point as the loop sees it.
type Point struct {
	ID         string
	Controller string   // charge-controller device id in the state
	Meter      string   // meter device id; "" if none
	GridPhases []int    // grid phase (0 = L1) of each charger phase
	FallbackA  int      // fallback current, A
	Failsafe   Failsafe // nil: the controller has no watchdog to set
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

	MaxParallel   int           // concurrent writes per group; default 32
	RaiseEvery    time.Duration // least time between raises of a point; 0: no wait
	DeadbandMA    int64         // least raise written; 0: every raise
	MinOff        time.Duration // least pause after a stop; 0: none
	RetryFailed   time.Duration // wait after a failed write; default 5 s
	FailsafeRetry time.Duration // wait after a failed failsafe setup; default 10 s
	WriteTimeout  time.Duration // per write; default 2 s
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

	stab loadmgmt.State // Stabilize's memory; owned by the loop goroutine

	mu      sync.Mutex // protects the fields below
	ems     *emsState
	para14a *loadmgmt.Para14aSignal
	classes map[string]loadmgmt.Class
	status  Status
	stepDur time.Duration

	// OnStep, if set, is called after every step with its duration; for
	// metrics and benchmarks. It must not block.
	OnStep func(now time.Time, took time.Duration)
}

type pointState struct {
	Point
	static loadmgmt.ChargePoint

	// Owned by the loop goroutine.
	known       bool      // setpointMA is what the charger holds
	rewrite     bool      // write the setpoint again once the controller answers
	setpointMA  int64     // last written
	triedMA     int64     // highest setpoint tried since the last good write; the charger may hold it
	nextTry     time.Time // after a failed write
	demand      *loadmgmt.Demand
	alloc       loadmgmt.Allocation
	allocAt     time.Time
	failsafeOK  bool
	failsafeTry time.Time
	lastErr     string
	reason      string
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
	if len(l.points) != len(cfg.Site.Points) {
		return nil, fmt.Errorf("control site %q: %d points configured, the site model has %d", cfg.SiteID, len(l.points), len(cfg.Site.Points))
	}
	return l, nil
}

// Run configures the chargers' failsafe, then runs a Step every Interval
// until ctx ends; it returns ctx's error.
func (l *Loop) Run(ctx context.Context) error {
	l.ConfigureFailsafe(ctx, l.clk.Now())
	ticker, tick := l.clk.NewTicker(l.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		}
		now := l.clk.Now()
		l.ConfigureFailsafe(ctx, now)
		l.Step(ctx, now)
	}
}

// ConfigureFailsafe sets fallback current and watchdog on every charger
// that has not taken them yet (and whose last try is FailsafeRetry old).
func (l *Loop) ConfigureFailsafe(ctx context.Context, now time.Time) {
	var todo []*pointState
	for _, p := range l.points {
		if p.Failsafe != nil && !p.failsafeOK && !now.Before(p.failsafeTry) {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return
	}
	parallel(l.cfg.MaxParallel, todo, func(p *pointState) {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		defer cancel()
		if err := p.Failsafe.SetFailsafe(wctx, p.FallbackA, l.cfg.Watchdog); err != nil {
			p.failsafeTry = now.Add(l.cfg.FailsafeRetry)
			if ctx.Err() == nil {
				l.log.Warn("charger failsafe not set; retrying", "point", p.ID, "fallback_a", p.FallbackA, "watchdog", l.cfg.Watchdog, "err", err)
			}
			return
		}
		p.failsafeOK = true
	})
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

// demanding states: a car is connected and may draw current.
func demanding(s drivers.ChargeState) bool {
	return s == drivers.StateB || s == drivers.StateC || s == drivers.StateD
}

// Step runs one control cycle at now: limits, allocation, stability,
// writes. It returns when the writes are done.
func (l *Loop) Step(ctx context.Context, now time.Time) {
	start := l.clk.Now()
	s := l.site // copy; Nodes are copied below where changed
	s.Nodes = append([]loadmgmt.Node(nil), l.site.Nodes...)

	l.mu.Lock()
	ems := l.ems
	s.Limits.Para14a = l.para14a
	classes := l.classes
	l.mu.Unlock()
	if ems != nil {
		s.Limits.EMS = []loadmgmt.EMSLimit{ems.limit}
	}
	if l.safety != nil {
		s.Limits.Temperatures = l.safety.Temperatures()
	}

	// Measure: EV currents per grid phase, demands, reserves.
	var evMA [3]int64
	var demands []loadmgmt.Demand
	var demandOf []*pointState
	views := make([]PointStatus, len(l.points))
	for i, p := range l.points {
		ch := l.state.Charger(p.Controller, now)
		v := PointStatus{ID: p.ID, State: "?", ControllerStale: ch.Stale}
		if !ch.At.IsZero() {
			v.State = ch.Value.State.String()
			v.OfferedA = ch.Value.OfferedA
			v.ErrorCode = ch.Value.ErrorCode
		}
		var pointMA [3]int64
		if p.Meter != "" {
			m := l.state.Meter(p.Meter, now)
			v.MeterStale = m.Stale
			if !m.Stale {
				for cp, gp := range p.GridPhases {
					pointMA[gp] += m.Value.CurrentMA[cp]
				}
				v.PowerW = m.Value.PowerW
				v.EnergyWh = m.Value.ImportWh
				for ph := range 3 {
					evMA[ph] += pointMA[ph]
				}
			}
			v.CurrentMA = pointMA
		}
		blocked := ""
		if l.safety != nil {
			blocked = l.safety.Blocked(p.ID)
		}
		if blocked != "" {
			// Safety owns the point: it cut it (and re-cuts until the cut
			// took). What the charger holds is no longer what the loop
			// wrote, so the loop rewrites it once safety lets go.
			p.known = false
			v.Blocked = blocked
		}
		switch {
		case ch.Stale:
			// Unreachable: it may draw its last setpoint or its fallback.
			// Nothing is written to it (a dead unit costs its bus a
			// timeout per request); once it answers, it is written again.
			p.rewrite = true
			reserve := max(p.setpointMA, int64(p.FallbackA)*1000)
			if !p.known {
				reserve = max(reserve, p.static.MaxCurrentMA)
			}
			l.reserve(&s, p, reserve)
			p.demand = nil
			v.Reason = "controller not answering"
		case blocked != "":
			p.demand = nil
			v.Reason = "safety: " + blocked
		case !demanding(ch.Value.State):
			p.demand = nil
			v.Reason = "no car"
		default:
			d := l.demandFor(p, now, ch.Value, pointMA, classes)
			demands = append(demands, d)
			demandOf = append(demandOf, p)
		}
		views[i] = v
	}

	// Grid-meter headroom.
	var grid *GridStatus
	if l.cfg.GridMeter != "" {
		gm := l.state.Meter(l.cfg.GridMeter, now)
		grid = &GridStatus{Meter: l.cfg.GridMeter, At: gm.At, Stale: gm.Age(now) > s.MeterStaleAfter || gm.At.IsZero()}
		if !gm.At.IsZero() {
			grid.CurrentMA = gm.Value.CurrentMA
			grid.PowerW = gm.Value.PowerW
			var other [3]int64
			for ph := range 3 {
				other[ph] = max(0, gm.Value.CurrentMA[ph]-evMA[ph])
			}
			grid.OtherLoadMA = other
			s.Limits.Meters = []loadmgmt.MeterReading{{Node: l.rootNode, OtherLoadMA: other, At: gm.At}}
		}
	}

	plan := loadmgmt.Allocate(now, s, demands)
	targets := make(map[*pointState]int64, len(demands))
	if plan.Err != nil {
		l.log.Error("allocation failed; every charger to 0 A", "err", plan.Err)
	}
	for i, p := range demandOf {
		a := plan.Allocations[i]
		p.alloc, p.allocAt = a, now
		targets[p] = a.CurrentMA
		if plan.Err != nil {
			targets[p] = 0
		}
		d := demands[i]
		p.demand = &d
	}

	// Stability: loadmgmt.Stabilize turns the plan into setpoints (cuts at
	// once; raises after RaiseEvery, above the deadband, not within MinOff of
	// a stop). Points safety holds enter it at 0 A without counting as a
	// stop, and points that do not answer keep their setpoint, so neither
	// starts a minimum off time of its own.
	prev := l.stab
	if prev.Points == nil {
		prev.Points = map[string]loadmgmt.PointState{}
	}
	allocs := make([]loadmgmt.Allocation, 0, len(l.points))
	for _, p := range demandOf {
		a := p.alloc
		if plan.Err != nil {
			a.CurrentMA = 0
		}
		allocs = append(allocs, a)
	}
	for i, p := range l.points {
		switch {
		case views[i].Blocked != "":
			ps := prev.Points[p.ID]
			ps.SetpointMA = 0
			prev.Points[p.ID] = ps
			allocs = append(allocs, loadmgmt.Allocation{Point: p.ID})
		case views[i].ControllerStale:
			allocs = append(allocs, loadmgmt.Allocation{Point: p.ID, CurrentMA: prev.Points[p.ID].SetpointMA})
		}
	}
	changes, next := loadmgmt.Stabilize(now, prev, loadmgmt.Plan{Allocations: allocs}, l.rules)
	l.stab = next
	changed := make(map[string]bool, len(changes))
	for _, c := range changes {
		changed[c.Point] = true
	}

	// Writes: what Stabilize changed, plus what a charger may not hold (never
	// written, a failed write, back from silence, drawing more than set);
	// cuts first, then raises. Nothing goes to a point safety holds or whose
	// controller does not answer.
	var cuts, raises []*pointState
	want := make(map[*pointState]int64, len(l.points))
	for i, p := range l.points {
		v := &views[i]
		desired := next.Points[p.ID].SetpointMA
		want[p] = desired
		target := targets[p]
		if _, planned := targets[p]; planned {
			v.Reason = p.alloc.Reason.String()
			switch {
			case desired >= target:
			case desired == 0 && !next.Points[p.ID].StoppedAt.IsZero() && now.Sub(next.Points[p.ID].StoppedAt) < l.rules.MinOff:
				v.Reason = "min-off"
			case target-desired < l.rules.DeadbandMA:
				v.Reason = "deadband"
			default:
				v.Reason = "ramp"
			}
		}
		// A cut is anything that may lower what the charger draws. After a
		// failed write the charger holds the last good setpoint, or the
		// one that failed (a write can time out after it landed), or what
		// it reports offering: below any of them is a cut. Cuts are tried
		// every step (never held back by RetryFailed) and go before raises:
		// Stabilize has already handed what they free to other points.
		held := p.setpointMA
		if !p.known {
			held = max(held, p.triedMA, int64(v.OfferedA)*1000)
		}
		cut := desired == 0 || desired < held
		drawingMore := int64(v.OfferedA)*1000 > desired+l.cfg.DeadbandMA
		switch {
		case v.ControllerStale, v.Blocked != "":
		case now.Before(p.nextTry) && !cut:
			v.Reason = "retry after failed write"
		case changed[p.ID] || !p.known || p.rewrite || drawingMore:
			if cut {
				cuts = append(cuts, p)
			} else {
				raises = append(raises, p)
			}
		}
	}
	write := func(p *pointState) {
		target := want[p]
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		defer cancel()
		err := l.out.SetCurrentMA(wctx, p.ID, target)
		if err != nil {
			p.known = false
			p.triedMA = max(p.triedMA, target)
			p.nextTry = now.Add(l.cfg.RetryFailed) // cuts do not wait for it
			p.lastErr = err.Error()
			if ctx.Err() == nil {
				l.log.Warn("setpoint not written", "point", p.ID, "ma", target, "err", err)
			}
			return
		}
		p.known, p.rewrite, p.setpointMA, p.lastErr, p.nextTry, p.triedMA = true, false, target, "", time.Time{}, 0
	}
	parallel(l.cfg.MaxParallel, cuts, write)
	parallel(l.cfg.MaxParallel, raises, write)

	// Status.
	took := l.clk.Now().Sub(start)
	st := Status{At: now, Grid: grid, Scarce: plan.Scarce, StepDuration: took, Points: views}
	for i, p := range l.points {
		v := &st.Points[i]
		v.SetpointMA = p.setpointMA
		v.SetpointKnown = p.known
		if v.Blocked != "" {
			v.SetpointMA = 0 // safety's cut
		}
		v.TargetMA = targets[p] // the plan's; the setpoint follows by the stability rules
		v.LastError = p.lastErr
		if !p.known && p.lastErr != "" && !v.ControllerStale && v.Blocked == "" {
			v.Reason = "write failed"
		}
		st.EVCurrentMA[0] += v.CurrentMA[0]
		st.EVCurrentMA[1] += v.CurrentMA[1]
		st.EVCurrentMA[2] += v.CurrentMA[2]
		st.EVPowerW += v.PowerW
		if v.SetpointMA > 0 {
			st.Charging++
		}
	}
	for i, n := range s.Nodes {
		if i < len(plan.Limits) {
			st.Limits = append(st.Limits, NodeLimitStatus{NodeLimit: plan.Limits[i], Load: plan.LoadMA(n.ID)})
		}
	}
	if ems != nil && now.Before(ems.limit.Expires) {
		e := ems.public
		st.EMS = &e
	}
	l.mu.Lock()
	if l.ems != nil && !now.Before(l.ems.limit.Expires) {
		l.log.Info("EMS limit expired", "request", l.ems.public.RequestID)
		l.ems = nil
	}
	if l.para14a != nil && !l.para14a.Expires.IsZero() && !now.Before(l.para14a.Expires) {
		l.para14a = nil
	}
	l.status = st
	l.stepDur = took
	l.mu.Unlock()
	if l.OnStep != nil {
		l.OnStep(now, took)
	}
}

// reserve lowers the fuse of every node above p by ma on p's grid phases,
// for a charger that may draw ma without the loop's say.
func (l *Loop) reserve(s *loadmgmt.Site, p *pointState, ma int64) {
	if ma <= 0 {
		return
	}
	for _, ni := range l.pathOf[p.ID] {
		for _, gp := range p.GridPhases {
			s.Nodes[ni].FuseMA[gp] = max(0, s.Nodes[ni].FuseMA[gp]-ma)
		}
	}
}

// demandFor builds the point's demand, carrying its rotation state.
func (l *Loop) demandFor(p *pointState, now time.Time, ch drivers.ChargerStatus, pointMA [3]int64, classes map[string]loadmgmt.Class) loadmgmt.Demand {
	var d loadmgmt.Demand
	if p.demand != nil {
		d = p.demand.Advance(p.alloc, p.allocAt, now.Sub(p.allocAt))
	} else {
		d = loadmgmt.Demand{Point: p.ID, ConnectedSince: now}
	}
	d.Class = classes[p.ID]
	d.Phases = 0
	// One-phase car on a three-phase charger: current on charger L1 only.
	if len(p.GridPhases) == 3 && p.Meter != "" && ch.State == drivers.StateC && p.known && p.setpointMA > 0 {
		m := l.state.Meter(p.Meter, now)
		if !m.Stale {
			const flowing = 2000 // mA
			c := m.Value.CurrentMA
			if c[0] >= flowing && c[1] < flowing/2 && c[2] < flowing/2 {
				d.Phases = 1
			}
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
