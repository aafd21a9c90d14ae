package safety

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/edge/clock"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// Charger is what safety needs of a charge controller.
type Charger interface {
	SetMaxCurrentA(ctx context.Context, a int) error
	SetEnabled(ctx context.Context, on bool) error
}

// State is what safety reads of the site state.
type State interface {
	Contacts(id string, now time.Time) site.Reading[site.Contacts]
	TemperatureDeciC(id string, now time.Time) site.Reading[int64]
}

// Input is one contact of a DI module.
type Input struct {
	Device string
	Input  int
}

// Point is a charge point safety may cut.
type Point struct {
	ID      string
	Nodes   []string // the nodes it hangs below, from its circuit up to the grid
	Charger Charger
}

// SPD is a surge-protection auxiliary contact (normally closed) guarding
// the charge points below Node.
type SPD struct {
	Node  string
	Input Input
}

// Thermal is a node's temperature sensors and stop threshold.
type Thermal struct {
	Node            string
	Sensors         []string
	StopDeciC       int64 // stop the node's points at or above
	HysteresisDeciC int64 // restart below StopDeciC − HysteresisDeciC
}

// Config describes what a Watcher watches and commands.
type Config struct {
	Site         string
	FireLoop     Input
	Supervision  *Input        // nil: no supervision contact
	OfflineAfter time.Duration // DI module unread this long = alarm; default 300 ms
	SPDs         []SPD
	Thermal      []Thermal
	Points       []Point
	StateFile    string // "" keeps the latch in memory only

	Interval     time.Duration // contact check; default 100 ms
	RetryEvery   time.Duration // re-command failed cuts; default 1 s
	WriteTimeout time.Duration // per charger write; default 2 s
	MaxParallel  int           // concurrent cuts; 0 = all at once
	MaxEvents    int           // events kept for Status; default 100
}

// Cause is why the latch tripped. Causes cross to the EMS API and readings:
// append only.
type Cause string

// Trip causes.
const (
	CauseFireLoop  Cause = "fire-loop-open"
	CauseWireBreak Cause = "wire-break"
	CauseDIOffline Cause = "di-module-unreadable"
	CauseRestart   Cause = "latched-before-restart"
)

// EventKind names a safety event. Append only.
type EventKind string

// Event kinds.
const (
	EventTrip          EventKind = "trip"           // latch set
	EventReset         EventKind = "reset"          // latch released by an operator
	EventResetRefused  EventKind = "reset-refused"  // alarm still present
	EventSPDTripped    EventKind = "spd-tripped"    // distribution stopped
	EventSPDCleared    EventKind = "spd-cleared"    //
	EventOvertemp      EventKind = "overtemp-stop"  // node stopped
	EventOvertempClear EventKind = "overtemp-clear" //
	EventSensorOffline EventKind = "sensor-offline" // no fresh temperature for a node
	EventSensorOnline  EventKind = "sensor-online"  //
	EventCutFailed     EventKind = "cut-failed"     // a charger did not take 0 A; retried
	EventCutDone       EventKind = "cut-done"       // every charger of a cut took 0 A
)

// Event is something safety saw or did.
type Event struct {
	At     time.Time `json:"at"`
	Kind   EventKind `json:"kind"`
	Cause  Cause     `json:"cause,omitempty"`
	Node   string    `json:"node,omitempty"`
	Point  string    `json:"point,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// ResetRecord is one operator reset, kept for audit.
type ResetRecord struct {
	Who       string    `json:"who"`
	Why       string    `json:"why"`
	At        time.Time `json:"at"`
	Cause     Cause     `json:"cause"`
	TrippedAt time.Time `json:"tripped_at"`
}

// Errors Reset and SetCurrentMA return.
var (
	ErrNotLatched   = errors.New("safety latch is not set")
	ErrAlarmPresent = errors.New("alarm still present")
	ErrBlocked      = errors.New("charge point held at 0 A by safety")
	ErrUnknownPoint = errors.New("unknown charge point")
)

// point is a charge point with its write gate.
type point struct {
	Point
	below map[string]bool // nodes it hangs below

	mu      sync.Mutex // held for one write to the charger; protects enabled
	enabled int8       // -1 unknown, 0 off, 1 on

	// protected by Watcher.mu:
	needsCut bool      // a cut failed; retry
	cutFails int       // consecutive failed cuts
	retryAt  time.Time // next retry, backing off: a dead unit costs its bus a timeout
}

// Watcher watches the safety inputs and gates charger writes.
type Watcher struct {
	cfg   Config
	state State
	clk   clock.Clock
	log   *slog.Logger
	wake  chan struct{}
	diDev map[string]bool

	points []*point
	byID   map[string]*point

	wg sync.WaitGroup // cut fan-outs

	// OnEvent, if set before Run, is called for every event; it must not
	// block.
	OnEvent func(Event)

	mu        sync.RWMutex // protects the fields below
	started   time.Time
	latched   bool
	cause     Cause
	trippedAt time.Time
	resets    []ResetRecord
	spdOpen   map[string]bool  // node → SPD open
	hot       map[string]bool  // node → stopped for temperature
	noSensor  map[string]bool  // node → no fresh sensor
	sensorRep map[string]bool  // node → sensor-offline event emitted, no sensor-online since
	fireSeen  bool             // the fire loop (and supervision) was read healthy at least once
	temps     map[string]int64 // node → hottest fresh sensor, 0.1 °C
	events    []Event
}

// New returns a watcher. It reads the state file, if any, so a latch set
// before a restart holds.
func New(cfg Config, state State, clk clock.Clock, log *slog.Logger) (*Watcher, error) {
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 300 * time.Millisecond
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 100
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.FireLoop.Device == "" {
		return nil, fmt.Errorf("safety site %q: no fire-loop input", cfg.Site)
	}
	w := &Watcher{
		cfg: cfg, state: state, clk: clock.OrReal(clk), log: log.With("site", cfg.Site),
		wake:    make(chan struct{}, 1),
		diDev:   map[string]bool{cfg.FireLoop.Device: true},
		byID:    map[string]*point{},
		spdOpen: map[string]bool{}, hot: map[string]bool{}, noSensor: map[string]bool{},
		sensorRep: map[string]bool{}, temps: map[string]int64{},
	}
	if cfg.Supervision != nil {
		w.diDev[cfg.Supervision.Device] = true
	}
	for _, s := range cfg.SPDs {
		w.diDev[s.Input.Device] = true
	}
	for _, p := range cfg.Points {
		if p.Charger == nil {
			return nil, fmt.Errorf("safety site %q: charge point %q has no charger", cfg.Site, p.ID)
		}
		if _, dup := w.byID[p.ID]; dup {
			return nil, fmt.Errorf("safety site %q: charge point %q listed twice", cfg.Site, p.ID)
		}
		pt := &point{Point: p, below: map[string]bool{}, enabled: -1}
		for _, n := range p.Nodes {
			pt.below[n] = true
		}
		w.points = append(w.points, pt)
		w.byID[p.ID] = pt
	}
	if cfg.StateFile != "" {
		f, err := readStateFile(cfg.StateFile)
		if err != nil {
			return nil, fmt.Errorf("safety site %q: %w", cfg.Site, err)
		}
		w.resets = f.Resets
		if f.Latched {
			w.latched, w.cause, w.trippedAt = true, f.Cause, f.TrippedAt
			if w.cause == "" {
				w.cause = CauseRestart
			}
		}
	}
	w.started = w.clk.Now()
	return w, nil
}

// IsDI reports whether device is a DI module safety watches: the poller's
// OnPoll hook calls Wake for those.
func (w *Watcher) IsDI(device string) bool { return w.diDev[device] }

// Wake asks the watcher to look at the contacts now (e.g. right after the
// DI module was read). It never blocks.
func (w *Watcher) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run watches until ctx ends, then waits for cuts in flight and returns
// ctx's error. If the watcher starts latched, it cuts every charger first.
func (w *Watcher) Run(ctx context.Context) error {
	w.mu.Lock()
	w.started = w.clk.Now()
	latched := w.latched
	cause := w.cause
	w.mu.Unlock()
	defer w.wg.Wait()
	if latched {
		w.log.Warn("starting latched: cutting every charger", "cause", cause)
		w.cut(ctx, w.points, "latch: "+string(cause))
	}
	ticker, tick := w.clk.NewTicker(w.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		case <-w.wake:
		}
		w.Check(ctx, w.clk.Now())
	}
}

// alarm returns the fire-alarm condition at now, "" if healthy. With
// grace, a DI module not read yet counts as healthy until OfflineAfter after
// started (Check: no trip before the first poll was due); without it, "not
// read yet" is an alarm (Reset, Present: nothing is released or shown
// healthy on no evidence).
func (w *Watcher) alarm(now, started time.Time, grace bool) (Cause, string) {
	check := func(in Input, open Cause) (Cause, string) {
		r := w.state.Contacts(in.Device, now)
		since := r.At
		if since.IsZero() {
			if !grace {
				return CauseDIOffline, fmt.Sprintf("DI module %q not read yet", in.Device)
			}
			since = started // grace after start for the first read
		}
		if now.Sub(since) > w.cfg.OfflineAfter {
			return CauseDIOffline, fmt.Sprintf("DI module %q not read for %s", in.Device, now.Sub(since).Round(time.Millisecond))
		}
		if r.At.IsZero() {
			return "", ""
		}
		closed, ok := r.Value.IsClosed(in.Input)
		if !ok {
			return CauseDIOffline, fmt.Sprintf("DI module %q does not report input %d", in.Device, in.Input)
		}
		if !closed {
			return open, fmt.Sprintf("DI module %q input %d open", in.Device, in.Input)
		}
		return "", ""
	}
	// A broken supervision wire opens the loop too: name the wire break.
	if w.cfg.Supervision != nil {
		if c, d := check(*w.cfg.Supervision, CauseWireBreak); c != "" {
			return c, d
		}
	}
	return check(w.cfg.FireLoop, CauseFireLoop)
}

// Present returns the fire-alarm condition at now ("" when healthy),
// whether or not the latch is set: the EMS API shows a latched alarm as
// active while its input is still open. A DI module not read yet counts as
// an alarm (CauseDIOffline), start-up grace or not.
func (w *Watcher) Present(now time.Time) (Cause, string) {
	w.mu.RLock()
	started := w.started
	w.mu.RUnlock()
	return w.alarm(now, started, false)
}

// Check evaluates every input once at now and acts on what it finds. Run
// calls it every Interval and on Wake; tests call it directly.
func (w *Watcher) Check(ctx context.Context, now time.Time) {
	w.mu.RLock()
	started, latched := w.started, w.latched
	w.mu.RUnlock()
	cause, detail := w.alarm(now, started, true)
	if cause != "" && !latched {
		w.trip(ctx, now, cause, detail)
	}
	if cause == "" {
		// Control may raise only once the fire loop has been read: the
		// start-up grace keeps the latch from tripping, not the chargers
		// from charging.
		w.mu.RLock()
		seen := w.fireSeen
		w.mu.RUnlock()
		if !seen {
			if c, _ := w.alarm(now, started, false); c == "" {
				w.mu.Lock()
				w.fireSeen = true
				w.mu.Unlock()
			}
		}
	}
	w.checkSPDs(ctx, now)
	w.checkThermal(ctx, now)
	w.retryCuts(ctx, now)
}

func (w *Watcher) trip(ctx context.Context, now time.Time, cause Cause, detail string) {
	w.mu.Lock()
	if w.latched {
		w.mu.Unlock()
		return
	}
	w.latched, w.cause, w.trippedAt = true, cause, now
	w.mu.Unlock()
	// The event first (in memory, so that it precedes the cut's events),
	// then the command, then the log and the file.
	w.event(Event{At: now, Kind: EventTrip, Cause: cause, Detail: detail})
	w.cut(ctx, w.points, "latch: "+string(cause))
	w.log.Error("SAFETY TRIP: every charger commanded to 0 A and latched", "cause", cause, "detail", detail)
	if err := w.persist(); err != nil {
		w.log.Error("safety state file not written; the latch holds in memory", "err", err)
	}
}

func (w *Watcher) checkSPDs(ctx context.Context, now time.Time) {
	w.mu.RLock()
	started := w.started
	w.mu.RUnlock()
	for _, s := range w.cfg.SPDs {
		// An SPD contact that cannot be read protects nothing: its
		// distribution stops as if it were open. Its module need not be the
		// fire loop's, so the latch does not cover it. A module not read yet
		// has the start-up grace the fire loop has.
		// On the fire loop's own module, an unreadable module trips the
		// latch (after OfflineAfter) instead: an SPD cut first would queue
		// writes on the module's bus and starve its next read.
		r := w.state.Contacts(s.Input.Device, now)
		var open bool
		var detail string
		closed, ok := r.Value.IsClosed(s.Input.Input)
		since := r.At
		if since.IsZero() {
			since = started
		}
		unread := now.Sub(since) > w.cfg.OfflineAfter
		switch {
		case w.alarmDev(s.Input.Device) && (r.At.IsZero() || r.Stale || unread):
			continue // the latch covers it
		case r.At.IsZero() && !unread:
			continue // grace: the first read is not due yet
		case r.At.IsZero():
			open, detail = true, fmt.Sprintf("DI module %q not read: SPD state unknown", s.Input.Device)
		case unread:
			open, detail = true, fmt.Sprintf("DI module %q not read for %s: SPD state unknown", s.Input.Device, r.Age(now).Round(time.Millisecond))
		case !ok:
			open, detail = true, fmt.Sprintf("DI module %q does not report input %d: SPD state unknown", s.Input.Device, s.Input.Input)
		case !closed:
			open, detail = true, fmt.Sprintf("DI module %q input %d open", s.Input.Device, s.Input.Input)
		}
		w.mu.Lock()
		was := w.spdOpen[s.Node]
		w.spdOpen[s.Node] = open
		w.mu.Unlock()
		switch {
		case open && !was:
			pts := w.below(s.Node)
			w.cut(ctx, pts, "spd: "+s.Node)
			w.log.Error("SPD tripped: distribution stopped", "node", s.Node, "points", len(pts), "detail", detail)
			w.event(Event{At: now, Kind: EventSPDTripped, Node: s.Node, Detail: detail})
		case !open && was:
			w.log.Warn("SPD contact closed again", "node", s.Node)
			w.event(Event{At: now, Kind: EventSPDCleared, Node: s.Node})
		}
	}
}

func (w *Watcher) checkThermal(ctx context.Context, now time.Time) {
	for _, th := range w.cfg.Thermal {
		hottest, fresh := int64(0), false
		for _, id := range th.Sensors {
			r := w.state.TemperatureDeciC(id, now)
			if r.Stale {
				continue
			}
			if !fresh || r.Value > hottest {
				hottest, fresh = r.Value, true
			}
		}
		w.mu.Lock()
		wasHot, reported := w.hot[th.Node], w.sensorRep[th.Node]
		started := w.started
		// A node without a fresh sensor is reported once the start-up
		// minute is over, whether its sensors died then or never answered.
		offline := !fresh && !reported && now.Sub(started) > time.Minute
		online := fresh && reported
		if offline || online {
			w.sensorRep[th.Node] = offline
		}
		w.noSensor[th.Node] = !fresh
		if fresh {
			w.temps[th.Node] = hottest
		} else {
			delete(w.temps, th.Node)
		}
		hot := wasHot
		switch {
		case fresh && hottest >= th.StopDeciC:
			hot = true
		case fresh && hottest < th.StopDeciC-th.HysteresisDeciC:
			hot = false
		}
		w.hot[th.Node] = hot
		w.mu.Unlock()
		switch {
		case offline:
			w.event(Event{At: now, Kind: EventSensorOffline, Node: th.Node, Detail: "no fresh temperature"})
		case online:
			w.event(Event{At: now, Kind: EventSensorOnline, Node: th.Node})
		}
		switch {
		case hot && !wasHot:
			w.cut(ctx, w.below(th.Node), "temperature: "+th.Node)
			w.log.Error("over-temperature: node stopped", "node", th.Node, "deci_c", hottest)
			w.event(Event{At: now, Kind: EventOvertemp, Node: th.Node, Detail: fmt.Sprintf("%.1f °C ≥ %.1f °C", float64(hottest)/10, float64(th.StopDeciC)/10)})
		case !hot && wasHot:
			w.log.Warn("temperature back below the stop threshold", "node", th.Node, "deci_c", hottest)
			w.event(Event{At: now, Kind: EventOvertempClear, Node: th.Node, Detail: fmt.Sprintf("%.1f °C", float64(hottest)/10)})
		}
	}
}

// alarmDev reports whether device carries the fire loop or its supervision.
func (w *Watcher) alarmDev(device string) bool {
	return device == w.cfg.FireLoop.Device || w.cfg.Supervision != nil && device == w.cfg.Supervision.Device
}

// below returns the points hanging below node.
func (w *Watcher) below(node string) []*point {
	var out []*point
	for _, p := range w.points {
		if p.below[node] {
			out = append(out, p)
		}
	}
	return out
}

// blockReason says what holds p at 0 A, "" if nothing. Caller holds w.mu
// (read).
func (w *Watcher) blockReasonLocked(p *point) string {
	if w.latched {
		return "latch: " + string(w.cause)
	}
	if !w.fireSeen {
		return BlockAwaitingFireLoop
	}
	for n := range p.below {
		if w.spdOpen[n] {
			return "spd: " + n
		}
		if w.hot[n] {
			return "temperature: " + n
		}
	}
	return ""
}

// BlockAwaitingFireLoop is the block reason until the fire loop (and its
// supervision contact) has been read healthy once.
const BlockAwaitingFireLoop = "awaiting first fire-loop reading"

// Blocked reports what holds a point at 0 A ("" if nothing).
func (w *Watcher) Blocked(pointID string) string {
	p, ok := w.byID[pointID]
	if !ok {
		return ""
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.blockReasonLocked(p)
}

// Latched reports whether the fire-alarm latch is set.
func (w *Watcher) Latched() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.latched
}

// cut commands pts to 0 A and disabled, all in parallel (bounded by
// MaxParallel), in the background; failures are retried by retryCuts.
func (w *Watcher) cut(ctx context.Context, pts []*point, why string) {
	if len(pts) == 0 {
		return
	}
	par := w.cfg.MaxParallel
	if par <= 0 || par > len(pts) {
		par = len(pts)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		sem := make(chan struct{}, par)
		var wg sync.WaitGroup
		var mu sync.Mutex // protects failed
		failed := 0
		for _, p := range pts {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				err := w.cutOne(ctx, p)
				w.mu.Lock()
				p.needsCut = err != nil
				if err != nil {
					p.cutFails++
					p.retryAt = w.clk.Now().Add(w.cfg.RetryEvery << min(p.cutFails-1, 5))
				} else {
					p.cutFails = 0
				}
				w.mu.Unlock()
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					if ctx.Err() == nil {
						w.log.Error("charger did not take 0 A; retrying", "point", p.ID, "err", err)
						w.event(Event{At: w.clk.Now(), Kind: EventCutFailed, Point: p.ID, Detail: err.Error()})
					}
				}
			}()
		}
		wg.Wait()
		if failed == 0 {
			w.event(Event{At: w.clk.Now(), Kind: EventCutDone, Detail: fmt.Sprintf("%s: %d chargers at 0 A", why, len(pts))})
		}
	}()
}

// cutOne writes 0 A, then disables the charger.
func (w *Watcher) cutOne(ctx context.Context, p *point) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	defer cancel()
	if err := p.Charger.SetMaxCurrentA(wctx, 0); err != nil {
		return fmt.Errorf("site %q point %q: set 0 A: %w", w.cfg.Site, p.ID, err)
	}
	if err := p.Charger.SetEnabled(wctx, false); err != nil {
		p.enabled = -1
		return fmt.Errorf("site %q point %q: disable: %w", w.cfg.Site, p.ID, err)
	}
	p.enabled = 0
	return nil
}

// retryCuts re-commands blocked points whose last cut failed: RetryEvery
// after the first failure, doubling up to 32 × RetryEvery.
func (w *Watcher) retryCuts(ctx context.Context, now time.Time) {
	w.mu.Lock()
	var pts []*point
	for _, p := range w.points {
		if p.needsCut && !now.Before(p.retryAt) && w.blockReasonLocked(p) != "" {
			pts = append(pts, p)
			p.needsCut = false // set again if this attempt fails
		}
	}
	w.mu.Unlock()
	w.cut(ctx, pts, "retry")
}

// SetCurrentMA writes a control setpoint to a charge point, enabling the
// charger first if needed. Anything above 0 A is refused (ErrBlocked) while
// safety holds the point; 0 A always passes. The setpoint is floored to
// whole amperes.
func (w *Watcher) SetCurrentMA(ctx context.Context, pointID string, mA int64) error {
	p, ok := w.byID[pointID]
	if !ok {
		return fmt.Errorf("site %q point %q: %w", w.cfg.Site, pointID, ErrUnknownPoint)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := int(mA / 1000)
	if a > 0 {
		w.mu.RLock()
		reason := w.blockReasonLocked(p)
		w.mu.RUnlock()
		if reason != "" {
			return fmt.Errorf("site %q point %q: %w (%s)", w.cfg.Site, pointID, ErrBlocked, reason)
		}
		if p.enabled != 1 {
			if err := p.Charger.SetEnabled(ctx, true); err != nil {
				p.enabled = -1
				return fmt.Errorf("site %q point %q: enable: %w", w.cfg.Site, pointID, err)
			}
			p.enabled = 1
		}
	}
	if err := p.Charger.SetMaxCurrentA(ctx, a); err != nil {
		return fmt.Errorf("site %q point %q: set %d A: %w", w.cfg.Site, pointID, a, err)
	}
	return nil
}

// Reset releases the fire-alarm latch on an operator's word. It is refused
// when the latch is not set, when who or why is empty, while the alarm
// condition is still present, or when the reset cannot be stored.
func (w *Watcher) Reset(who, why string, now time.Time) error {
	if who == "" || why == "" {
		return fmt.Errorf("safety reset at site %q: who and why are required", w.cfg.Site)
	}
	w.mu.Lock()
	if !w.latched {
		w.mu.Unlock()
		return fmt.Errorf("safety reset at site %q: %w", w.cfg.Site, ErrNotLatched)
	}
	started := w.started
	w.mu.Unlock()
	if cause, detail := w.alarm(now, started, false); cause != "" {
		w.event(Event{At: now, Kind: EventResetRefused, Cause: cause, Detail: fmt.Sprintf("%s (by %s: %s)", detail, who, why)})
		w.log.Warn("safety reset refused: alarm still present", "who", who, "cause", cause, "detail", detail)
		return fmt.Errorf("safety reset at site %q: %w: %s", w.cfg.Site, ErrAlarmPresent, detail)
	}
	w.mu.Lock()
	rec := ResetRecord{Who: who, Why: why, At: now, Cause: w.cause, TrippedAt: w.trippedAt}
	prev := stateFile{Latched: true, Cause: w.cause, TrippedAt: w.trippedAt, Resets: w.resets}
	next := prev
	next.Latched, next.Cause, next.TrippedAt = false, "", time.Time{}
	next.Resets = append(append([]ResetRecord(nil), w.resets...), rec)
	if len(next.Resets) > maxResets {
		next.Resets = next.Resets[len(next.Resets)-maxResets:]
	}
	if w.cfg.StateFile != "" {
		if err := writeStateFile(w.cfg.StateFile, next); err != nil {
			w.mu.Unlock()
			return fmt.Errorf("safety reset at site %q not stored, latch kept: %w", w.cfg.Site, err)
		}
	}
	w.latched, w.cause, w.trippedAt, w.resets = false, "", time.Time{}, next.Resets
	w.mu.Unlock()
	w.log.Warn("safety latch reset by operator", "who", who, "why", why, "cause", rec.Cause)
	w.event(Event{At: now, Kind: EventReset, Cause: rec.Cause, Detail: fmt.Sprintf("by %s: %s", who, why)})
	return nil
}

func (w *Watcher) persist() error {
	if w.cfg.StateFile == "" {
		return nil
	}
	w.mu.RLock()
	f := stateFile{Latched: w.latched, Cause: w.cause, TrippedAt: w.trippedAt, Resets: w.resets}
	w.mu.RUnlock()
	return writeStateFile(w.cfg.StateFile, f)
}

func (w *Watcher) event(e Event) {
	w.mu.Lock()
	w.events = append(w.events, e)
	if len(w.events) > w.cfg.MaxEvents {
		w.events = append(w.events[:0], w.events[len(w.events)-w.cfg.MaxEvents:]...)
	}
	w.mu.Unlock()
	if w.OnEvent != nil {
		w.OnEvent(e)
	}
}

// Status is safety's state for the control loop and the EMS API.
type Status struct {
	Latched    bool
	Cause      Cause
	TrippedAt  time.Time
	LastReset  *ResetRecord
	SPDTripped []string         // nodes stopped by an open SPD contact
	Overtemp   []string         // nodes stopped for temperature
	NoSensor   []string         // nodes without a fresh temperature
	TempsDeciC map[string]int64 // node → hottest fresh sensor
	Events     []Event          // latest last
}

// Status returns a snapshot.
func (w *Watcher) Status() Status {
	w.mu.RLock()
	defer w.mu.RUnlock()
	s := Status{Latched: w.latched, Cause: w.cause, TrippedAt: w.trippedAt, TempsDeciC: map[string]int64{}}
	if n := len(w.resets); n > 0 {
		r := w.resets[n-1]
		s.LastReset = &r
	}
	for _, th := range w.cfg.Thermal {
		if w.hot[th.Node] {
			s.Overtemp = append(s.Overtemp, th.Node)
		}
		if w.noSensor[th.Node] {
			s.NoSensor = append(s.NoSensor, th.Node)
		}
	}
	for _, sp := range w.cfg.SPDs {
		if w.spdOpen[sp.Node] {
			s.SPDTripped = append(s.SPDTripped, sp.Node)
		}
	}
	for n, t := range w.temps {
		s.TempsDeciC[n] = t
	}
	s.Events = append(s.Events, w.events...)
	return s
}

// Temperatures returns each node's hottest fresh temperature, for the
// control loop's thermal derating.
func (w *Watcher) Temperatures() []loadmgmt.Temperature {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]loadmgmt.Temperature, 0, len(w.temps))
	for _, th := range w.cfg.Thermal {
		if t, ok := w.temps[th.Node]; ok {
			out = append(out, loadmgmt.Temperature{Node: th.Node, DeciC: int32(t)})
		}
	}
	return out
}
