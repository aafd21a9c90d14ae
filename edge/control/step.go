package control

import (
	"context"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// demanding states: a car is connected and may draw current.
func demanding(s drivers.ChargeState) bool {
	return s == drivers.StateB || s == drivers.StateC || s == drivers.StateD
}

// overDrawMA is how far a point's metered current may exceed what its
// charger offers before it counts as drawing more (meter and car lag).
const overDrawMA = 1000

// disobeyAfter is how long a point may draw more than its charger offers
// before the loop pauses it: IEC 61851-1 gives a car 5 s to follow a lower
// offer.
const disobeyAfter = 10 * time.Second

// reversedMA: a grid phase current below minus this is no measurement to
// trust (a reversed current transformer).
const reversedMA = 1000

// view is what one step knows of a point.
type view struct {
	p        *pointState
	st       *PointStatus
	stale    bool
	blocked  string
	demand   bool     // a car that may draw current, not held by safety
	readBack bool     // the last reading was sent after the last command returned
	truthMA  int64    // what the charger holds: its read-back, or the higher of that and a command not read back yet
	countMA  [3]int64 // per grid phase: the higher of metered current and truthMA
	unsettle string   // why its current is not confirmed ("" when it is)
	desired  int64
	cut      bool
	noCar    bool     // the controller reports no car (IEC 61851 state A, E or F)
	capped   bool     // a per-point limit is in force (cap)
	cap      pointCap // the lowest per-point limit; cap.maxMA 0: the point gets no current
}

// offByLimit reports whether a per-point limit of 0 keeps a connected car
// out of the demands.
func (x *view) offByLimit() bool { return x.capped && x.cap.maxMA == 0 }

// Step runs one control cycle at now: limits, allocation, stability,
// writes. It returns when the writes are done.
//
// Each charger's read-back (the controller's own report of its enable and
// current limit, read by the poller after the last write returned) is the
// truth a step works from. A point is settled when a read-back confirms its
// last command and it draws no more than it offers. An unsettled point (cut
// not confirmed, read-back not in yet, drawing more than offered) counts at
// the higher of its metered current and what it may hold, and is never
// raised. Cuts are written first; raises are then admitted by a second
// allocation in which every other point counts at what it really draws, so
// that a raise never uses current a cut has not yet been confirmed to free.
func (l *Loop) Step(ctx context.Context, now time.Time) {
	start := l.clk.Now()
	s := l.site // copy; its points carry no fallbacks (see withoutFallbacks)

	l.mu.Lock()
	ems := l.ems
	s.Limits.Para14a = l.para14a
	classes := l.classes
	plim := l.limits
	l.mu.Unlock()
	if l.safety != nil {
		s.Limits.Temperatures = l.safety.Temperatures()
	}

	// Measure: EV currents per grid phase, truths, demands, reserves.
	var evMA [3]int64
	views := make([]PointStatus, len(l.points))
	if cap(l.vs) < len(l.points) {
		l.vs = make([]view, len(l.points))
	}
	vs := l.vs[:len(l.points)]           // the loop goroutine's; every entry is rewritten below
	base := make(reserves, len(s.Nodes)) // silent, held and idle chargers that still draw
	for i, p := range l.points {
		vs[i] = l.measure(p, now, &views[i], &evMA)
		vs[i].st = &views[i]
		x := &vs[i]
		if x.noCar {
			p.carPhases = 0 // the next car is a new one
		}
		if x.demand {
			x.cap, x.capped = capFor(plim, p, now)
			if x.offByLimit() {
				// Not a car wanting current: out of the demands, cut to 0
				// at once like a stop.
				x.demand = false
				views[i].Reason = x.cap.String()
			}
		}
		// Back from silence, or at its power-on defaults (a reboot): its
		// failsafe may be gone too.
		if p.Failsafe != nil && ((p.wasStale && !x.stale) || x.unsettle == "cut not confirmed") {
			p.recheck.Store(true)
		}
		p.wasStale = x.stale
		switch {
		case x.stale:
			base.add(l.pathOf[p.ID], p.GridPhases, l.silentReserve(p, views[i].CurrentMA))
		case x.blocked != "", x.offByLimit():
			// Safety owns the point and re-cuts it until the cut took, or a
			// point limit of 0 cuts it; until then it counts at what it
			// offers or draws.
			base.add(l.pathOf[p.ID], p.GridPhases, x.countMA)
		case !x.demand:
			// No car: what it offers is written down to 0; only what a
			// meter still sees counts.
			base.add(l.pathOf[p.ID], p.GridPhases, views[i].CurrentMA)
		}
	}

	// Grid-meter headroom. A phase current below zero is a current
	// transformer mounted the wrong way round (or a wiring fault): the
	// reading is no headroom, the site runs on its safe budget and says so.
	//
	// The other load is the grid reading less the chargers' metered
	// current, but the meters are read at other moments than the grid
	// meter: a charger written after the grid meter's reading may show its
	// new current on its own meter while the grid reading still holds the
	// old one, and a raise would make the other load come out too low by
	// the raise. Such a charger counts at the lower of what its meter reads
	// now and read at the last step, so the other load errs on the high
	// side.
	var grid *GridStatus
	var other [3]int64
	if l.cfg.GridMeter != "" {
		gm := l.state.Meter(l.cfg.GridMeter, now)
		evLow := evMA
		for i := range vs {
			p := vs[i].p
			if !p.cmdDone.IsZero() && !gm.At.After(p.cmdDone) { // at the same instant counts as before
				for ph := range 3 {
					evLow[ph] -= views[i].CurrentMA[ph] - min(views[i].CurrentMA[ph], p.meteredMA[ph])
				}
			}
		}
		grid = &GridStatus{Meter: l.cfg.GridMeter, At: gm.At, Stale: gm.Age(now) > s.MeterStaleAfter || gm.At.IsZero()}
		if !gm.At.IsZero() {
			grid.CurrentMA = gm.Value.CurrentMA
			grid.PowerW = gm.Value.PowerW
			for ph := range 3 {
				other[ph] = max(0, gm.Value.CurrentMA[ph]-evLow[ph])
				if gm.Value.CurrentMA[ph] < -reversedMA {
					grid.Reversed = true
				}
			}
			grid.OtherLoadMA = other
			if grid.Reversed {
				grid.Stale = true
				if !l.reversed {
					l.log.Error("grid meter reads a negative current: current transformer reversed? running on the safe budget", "meter", l.cfg.GridMeter, "current_ma", gm.Value.CurrentMA)
				}
			} else {
				s.Limits.Meters = []loadmgmt.MeterReading{{Node: l.rootNode, OtherLoadMA: other, At: gm.At}}
			}
			l.reversed = grid.Reversed
		}
	}
	for i := range vs {
		vs[i].p.meteredMA = views[i].CurrentMA // for the next step's estimate
	}
	limits := l.compose(now, s, ems, other)

	// Plan. A settled point is planned around everything the loop cannot
	// steer: silent, held and idle chargers (base) and the unsettled points
	// at what they may draw. An unsettled point is planned with everyone
	// (the plan it would have if it obeyed) only to know how far to cut it;
	// it is never raised.
	demands := make([]loadmgmt.Demand, 0, len(l.points))
	demandOf := make([]*view, 0, len(l.points))
	unsettled := make(reserves, len(s.Nodes))
	for i := range vs {
		x := &vs[i]
		if !x.demand {
			x.p.hasDemand = false
			continue
		}
		d := l.demandFor(x.p, now, classes, l.stab.Points[x.p.ID])
		if x.capped && (d.MaxCurrentMA == 0 || x.cap.maxMA < d.MaxCurrentMA) {
			d.MaxCurrentMA = x.cap.maxMA
		}
		demands = append(demands, d)
		demandOf = append(demandOf, x)
		if x.unsettle != "" {
			unsettled.add(l.pathOf[x.p.ID], x.p.GridPhases, x.countMA)
		}
	}
	settledD := make([]loadmgmt.Demand, 0, len(demands))
	settledOf := make([]int, 0, len(demands)) // index into demands
	for i, x := range demandOf {
		if x.unsettle == "" {
			settledD = append(settledD, demands[i])
			settledOf = append(settledOf, i)
		}
	}
	allocs0 := make([]loadmgmt.Allocation, len(demands))
	var planErr error
	var scarce bool
	if len(settledD) < len(demands) {
		p0 := l.allocate(now, s, limits, base, demands)
		copy(allocs0, p0.Allocations)
		planErr, scarce = p0.Err, p0.Scarce
	}
	held := make(reserves, len(base))
	for i := range base {
		for ph := range 3 {
			held[i][ph] = base[i][ph] + unsettled[i][ph]
		}
	}
	plan := l.allocate(now, s, limits, held, settledD)
	for k, i := range settledOf {
		allocs0[i] = plan.Allocations[k]
	}
	if plan.Err != nil {
		planErr = plan.Err
	}
	scarce = scarce || plan.Scarce
	if planErr != nil {
		l.log.Error("allocation failed; every charger to 0 A", "err", planErr)
	}
	targets := make(map[*pointState]int64, len(demands))
	for i, x := range demandOf {
		a := allocs0[i]
		if planErr != nil {
			a.CurrentMA = 0
		}
		if x.unsettle != "" {
			a.CurrentMA = min(a.CurrentMA, x.p.cmdMA)
		}
		x.p.alloc, x.p.allocAt = a, now
		targets[x.p] = a.CurrentMA
		x.p.demand, x.p.hasDemand = demands[i], true
	}

	// Stability: loadmgmt.StabilizeSite turns the plan into setpoints (cuts
	// at once; raises after RaiseEvery, above the deadband, not within
	// MinOff of a stop) and keeps the unbalance limits in the state after
	// the cuts and the state after the raises. Points safety holds enter it
	// at 0 A without counting as a stop, and points that do not answer keep
	// their setpoint, so neither starts a minimum off time of its own; each
	// carries the phases its car draws on, so the balancer knows where it
	// loads. An unsettled point is never raised; one that draws more than it
	// is offered for disobeyAfter is paused.
	prev := l.stab
	if prev.Points == nil {
		prev.Points = map[string]loadmgmt.PointState{}
	}
	allocs := make([]loadmgmt.Allocation, 0, len(l.points))
	for _, x := range demandOf {
		a := x.p.alloc
		if l.disobeys(x.p, now) {
			a.CurrentMA = 0
		}
		if a.Phases == 0 { // not planned (a failed plan): what the loop knows
			a.Phases = l.phasesOf(x.p)
		}
		allocs = append(allocs, a)
	}
	for i := range vs {
		x := &vs[i]
		switch {
		case x.stale:
			allocs = append(allocs, loadmgmt.Allocation{Point: x.p.ID, CurrentMA: prev.Points[x.p.ID].SetpointMA, Phases: l.phasesOf(x.p)})
		case x.blocked != "":
			ps := prev.Points[x.p.ID]
			ps.SetpointMA = 0
			prev.Points[x.p.ID] = ps
			allocs = append(allocs, loadmgmt.Allocation{Point: x.p.ID, Phases: l.phasesOf(x.p)})
		}
	}
	stabSite := withReserves(now, s, limits, held)
	order, next := loadmgmt.StabilizeSite(now, prev, stabSite, loadmgmt.Plan{Allocations: allocs}, l.rules)
	cuts, raises := l.classify(vs, targets, next, now)

	// Raises are admitted against what the chargers really draw when a cut
	// this step may have freed current that the plan handed on: the plan
	// itself counted every other point at its confirmed current. A raise
	// held back changes the state the step ends in, so StabilizeSite
	// balances the step again with the raises capped at what is admitted
	// and every other point's plan at its setpoint: it may hold back or
	// cut, but raise nothing the admission did not see.
	var admitted map[*pointState]int64
	if len(raises) > 0 && len(cuts) > 0 {
		admitted = l.admit(now, s, limits, base, vs, raises, demands, demandOf)
		caps := map[string]int64{}  // raises held back, by point
		allow := map[string]int64{} // what each point's plan is capped at
		for _, x := range raises {
			a, ok := admitted[x.p]
			c := prev.Points[x.p.ID].SetpointMA
			if ok {
				c = max(c, a)
			}
			allow[x.p.ID] = c
			if !ok || a < x.desired {
				caps[x.p.ID] = c
			}
		}
		if len(caps) > 0 {
			for i := range allocs {
				c, ok := allow[allocs[i].Point]
				if !ok {
					c = prev.Points[allocs[i].Point].SetpointMA
				}
				allocs[i].CurrentMA = min(allocs[i].CurrentMA, c)
			}
			order, next = loadmgmt.StabilizeSite(now, prev, stabSite, loadmgmt.Plan{Allocations: allocs}, l.rules)
			// Held back by the admission, not by the rules: the rest of
			// the raise may follow at the next step.
			for id := range caps {
				if st, ok := next.Points[id]; ok {
					st.RaisedAt = prev.Points[id].RaisedAt
					next.Points[id] = st
				}
			}
			cuts, raises = l.classify(vs, targets, next, now)
		}
	}
	l.stab = next

	// In StabilizeSite's order, in waves: a write of a later wave waits for
	// the earlier ones where writing them together could break an
	// unbalance limit on the way.
	sortByWrites(cuts, order)
	sortByWrites(raises, order)
	w := l.newWaves(vs, limits)
	busOf := func(x *view) string { return x.p.Bus }
	for _, wave := range w.split(cuts) {
		parallelByBus(l.cfg.MaxParallel, wave, busOf, func(x *view) { l.write(ctx, now, x) })
		w.apply(wave)
	}

	// Raises, as admitted.
	if admitted != nil {
		n := 0
		for _, x := range raises {
			a, ok := admitted[x.p]
			if !ok || a < x.desired {
				x.st.Reason = "raise waits for confirmed headroom"
			}
			if ok && a > x.truthMA {
				x.desired = min(x.desired, a)
				raises[n] = x
				n++
			}
		}
		raises = raises[:n]
	}
	for _, wave := range w.split(raises) {
		parallelByBus(l.cfg.MaxParallel, wave, busOf, func(x *view) { l.write(ctx, now, x) })
		w.apply(wave)
	}

	// Status.
	took := l.clk.Now().Sub(start)
	st := Status{At: now, Grid: grid, Scarce: scarce, StepDuration: took, Points: views}
	for i := range vs {
		x := &vs[i]
		p, v := x.p, &st.Points[i]
		v.SetpointMA = p.cmdMA
		v.HeldMA = p.holdsMA
		v.SetpointKnown = p.known
		if v.Blocked != "" {
			v.SetpointMA = 0 // safety's cut
			v.SetpointKnown = false
		}
		v.Unconfirmed = x.unsettle != ""
		v.TargetMA = targets[p] // the plan's; the setpoint follows by the stability rules
		v.CarPhases = p.carPhases
		v.LastError = p.lastErr
		if p.cmdErr && !v.ControllerStale && v.Blocked == "" && x.unsettle == "" {
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
	st.Limits = make([]NodeLimitStatus, len(s.Nodes))
	for i := range s.Nodes {
		st.Limits[i] = NodeLimitStatus{NodeLimit: limits[i], ReservedMA: held[i]}
		if i < len(plan.Loads) {
			st.Limits[i].Load = plan.Loads[i].LoadMA // in the order of the nodes
		}
	}
	if ems != nil && now.Before(ems.expires) {
		e := ems.public
		st.EMS = &e
	}
	l.mu.Lock()
	for i, p := range l.points {
		st.Points[i].Failsafe = l.failsafeOf(p)
	}
	if l.ems != nil && !now.Before(l.ems.expires) {
		l.log.Info("EMS limit expired", "request", l.ems.public.RequestID)
		l.ems = nil
	}
	if l.para14a != nil && !l.para14a.Expires.IsZero() && !now.Before(l.para14a.Expires) {
		l.para14a = nil
	}
	l.limits = l.limits.withExpiredDropped(now)
	l.status = st
	l.stepDur = took
	l.mu.Unlock()
	if l.OnStep != nil {
		l.OnStep(now, took)
	}
}

// measure reads one point's controller and meter at now into v, adds its
// metered current to evMA and returns what the step knows of it.
func (l *Loop) measure(p *pointState, now time.Time, v *PointStatus, evMA *[3]int64) view {
	ch := l.state.Charger(p.Controller, now)
	*v = PointStatus{ID: p.ID, State: "?", ControllerStale: ch.Stale}
	x := view{p: p, stale: ch.Stale}
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
	if !ch.Stale {
		// Sent after the write returned: a read-back of it. A reading sent
		// at the same instant counts as older (the safe side).
		x.readBack = ch.Sent.After(p.cmdDone)
		if x.readBack {
			p.holdsMA, p.readAt = int64(ch.Value.OfferedA)*1000, ch.Sent
			if p.cmdDone.IsZero() {
				p.cmdMA = p.holdsMA // never commanded: it holds what it says
			}
		}
		x.truthMA = p.holdsMA
		if !x.readBack {
			x.truthMA = max(p.holdsMA, p.cmdMA)
		}
		p.known = x.readBack && !p.cmdDone.IsZero() && p.holdsMA == p.cmdMA
	}
	for _, gp := range p.GridPhases {
		x.countMA[gp] = max(pointMA[gp], x.truthMA)
	}
	if l.safety != nil {
		x.blocked = l.safety.Blocked(p.ID)
		v.Blocked = x.blocked
	}
	switch {
	case x.stale:
		v.Reason = "controller not answering"
	case x.blocked != "":
		v.Reason = "safety: " + x.blocked
	case !demanding(ch.Value.State):
		v.Reason = "no car"
		x.noCar = !ch.Stale && !ch.At.IsZero()
	default:
		x.demand = true
	}
	metered := max(pointMA[0], pointMA[1], pointMA[2])
	switch {
	case x.stale:
	case metered > x.truthMA+overDrawMA:
		if p.overSince.IsZero() {
			p.overSince = now
		}
	default:
		p.overSince = time.Time{}
	}
	if x.demand {
		switch {
		case !x.readBack:
			x.unsettle = "waiting for read-back"
		case p.holdsMA > p.cmdMA:
			x.unsettle = "cut not confirmed"
		case !p.overSince.IsZero():
			x.unsettle = "draws more than offered"
		}
	}
	return x
}

// silentReserve is what a point whose controller does not answer may
// draw, per grid phase: what it last held or was told, its own fallback if
// it has a watchdog to fall back on, its maximum if it never answered, and
// at least what its meter still sees.
func (l *Loop) silentReserve(p *pointState, meteredMA [3]int64) [3]int64 {
	r := max(p.holdsMA, p.cmdMA)
	if p.Failsafe != nil {
		r = max(r, int64(p.FallbackA)*1000)
	}
	if p.readAt.IsZero() && p.cmdDone.IsZero() {
		r = max(r, p.static.MaxCurrentMA)
	}
	var ma [3]int64
	for _, gp := range p.GridPhases {
		ma[gp] = max(r, meteredMA[gp])
	}
	return ma
}

// disobeys reports whether p has drawn more than its charger offers for
// disobeyAfter: a charger ignoring its setpoint, or a welded contactor.
func (l *Loop) disobeys(p *pointState, now time.Time) bool {
	return !p.overSince.IsZero() && now.Sub(p.overSince) >= disobeyAfter
}

// reason fills the point's status reason for this step.
func (l *Loop) reason(x *view, targets map[*pointState]int64, next loadmgmt.State, now time.Time) {
	target, planned := targets[x.p]
	if !planned {
		return
	}
	v := x.st
	v.Reason = x.p.alloc.Reason.String()
	if x.capped && x.p.alloc.Reason.Limit == loadmgmt.LimitCarMax && x.cap.maxMA < x.p.static.MaxCurrentMA {
		v.Reason = x.cap.String() // the point limit is what binds, not the charger
	}
	stop := next.Points[x.p.ID].StoppedAt
	switch {
	case l.disobeys(x.p, now):
		v.Reason = "draws more than offered: paused"
	case x.unsettle != "":
		v.Reason = x.unsettle
	case x.p.alloc.Reason.Limit == loadmgmt.LimitMinOffTime:
		v.Reason = string(loadmgmt.LimitMinOffTime)
	case x.desired >= target:
	case x.desired == 0 && !stop.IsZero() && now.Sub(stop) < l.rules.MinOff:
		v.Reason = string(loadmgmt.LimitMinOffTime)
	case target-x.desired < l.rules.DeadbandMA:
		v.Reason = "deadband"
	default:
		v.Reason = "ramp"
	}
}
