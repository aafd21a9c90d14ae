package safety

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
	// Charger is a controller's status with its read-back of enable and
	// current, for re-asserting a hold.
	Charger(id string, now time.Time) site.Reading[drivers.ChargerStatus]
}

// Input is one contact of a DI module.
type Input struct {
	Device string
	Input  int
}

// Point is a charge point safety may cut.
type Point struct {
	ID         string
	Controller string   // its controller's device id in the state; default ID
	Bus        string   // its controller's bus: cuts queue per bus
	Nodes      []string // the nodes it hangs below, from its circuit up to the grid
	Charger    Charger
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
	DerateDeciC     int64 // derating starts here (for the default LostDeciC)
	// LostDeciC is the least temperature the node is derated for while no
	// sensor of it reads: the derating keeps the hotter of this and the
	// last reading. 0: halfway between DerateDeciC and StopDeciC.
	LostDeciC int64
}

// lostDeciC is the temperature th's node is derated for without a sensor,
// given the last hottest reading (ok false: none since start).
func (th Thermal) lostDeciC(last int64, ok bool) int64 {
	lost := th.LostDeciC
	if lost == 0 {
		lost = (th.DerateDeciC + th.StopDeciC) / 2
	}
	if ok {
		return max(lost, last)
	}
	return lost
}

// Config describes what a Watcher watches and commands.
type Config struct {
	Site         string
	FireLoop     Input
	Supervision  *Input        // nil: no supervision contact
	OfflineAfter time.Duration // DI module unread this long = alarm; default 300 ms
	// OfflineResumeAfter releases a latch tripped only by an unreadable DI
	// module once the module has read healthy this long; 0: an operator
	// resets it. An open loop or wire break seen meanwhile makes it the
	// fire alarm's latch, which only an operator releases.
	OfflineResumeAfter time.Duration
	SPDs               []SPD
	Thermal            []Thermal
	Points             []Point
	StateFile          string // "" keeps the latch in memory only

	Interval     time.Duration // contact check; default 100 ms
	RetryEvery   time.Duration // re-command failed cuts; default 1 s
	WriteTimeout time.Duration // per charger write; default 2 s
	MaxParallel  int           // concurrent cuts per bus; 0 = all at once
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
	// CauseStateUnreadable: the state file exists but cannot be read or
	// parsed; whether the site was latched is unknown, so it is.
	CauseStateUnreadable Cause = "state-file-unreadable"
)

// EventKind names a safety event. Append only.
type EventKind string

// Event kinds.
const (
	EventTrip          EventKind = "trip"             // latch set
	EventReset         EventKind = "reset"            // latch released by an operator
	EventResetRefused  EventKind = "reset-refused"    // alarm still present
	EventSPDTripped    EventKind = "spd-tripped"      // distribution stopped
	EventSPDCleared    EventKind = "spd-cleared"      //
	EventOvertemp      EventKind = "overtemp-stop"    // node stopped
	EventOvertempClear EventKind = "overtemp-clear"   //
	EventSensorOffline EventKind = "sensor-offline"   // no fresh temperature for a node
	EventSensorOnline  EventKind = "sensor-online"    //
	EventCutFailed     EventKind = "cut-failed"       // a charger did not take 0 A; retried
	EventCutDone       EventKind = "cut-done"         // every charger of a cut took 0 A
	EventReasserted    EventKind = "latch-reasserted" // a held charger reported itself on again: cut again
	EventAutoReset     EventKind = "auto-reset"       // an unreadable-module latch released itself: the module read healthy
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

	mu sync.Mutex // held for one command to the charger (its writes)

	// protected by Watcher.mu:
	needsCut   bool      // a cut failed; retry
	cutFails   int       // consecutive failed cuts
	retryAt    time.Time // next retry, backing off: a dead unit costs its bus a timeout
	cutting    bool      // a cut is in flight
	cutAt      time.Time // when the last cut returned
	reasserted bool      // re-cut since it last read back stopped (one event per episode)
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
	lastCheck time.Time // clock time of the last Check
	latched   bool
	cause     Cause
	trippedAt time.Time
	resets    []ResetRecord
	spdOpen   map[string]bool  // node → SPD open
	hot       map[string]bool  // node → stopped for temperature
	noSensor  map[string]bool  // node → no fresh sensor
	sensorRep map[string]bool  // node → sensor-offline event emitted, no sensor-online since
	fireSeen  bool             // the fire loop (and supervision) was read healthy at least once
	okSince   time.Time        // latched for CauseDIOffline: since when the module reads healthy
	temps     map[string]int64 // node → temperature derating uses, 0.1 °C: hottest fresh sensor, else as lostDeciC says
	lastTemp  map[string]int64 // node → hottest fresh sensor when last read
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
		sensorRep: map[string]bool{}, temps: map[string]int64{}, lastTemp: map[string]int64{},
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
		if p.Controller == "" {
			p.Controller = p.ID
		}
		pt := &point{Point: p, below: map[string]bool{}}
		for _, n := range p.Nodes {
			pt.below[n] = true
		}
		w.points = append(w.points, pt)
		w.byID[p.ID] = pt
	}
	if cfg.StateFile != "" {
		f, err := readStateFile(cfg.StateFile)
		if err != nil {
			// Whether the site was latched is unknown: come up latched
			// (fail-safe) rather than not at all; an operator resets it.
			w.log.Error("safety state file unreadable: starting latched", "file", cfg.StateFile, "err", err)
			f = stateFile{Latched: true, Cause: CauseStateUnreadable}
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
// calls it every Interval and on Wake; tests call it directly. The fire
// alarm is judged and the latch set under the watcher's lock, the lock
// Reset judges and releases it under: an alarm arriving during a reset
// either makes the reset refuse or trips right after it.
func (w *Watcher) Check(ctx context.Context, now time.Time) {
	w.mu.Lock()
	w.lastCheck = w.clk.Now()
	cause, detail := w.alarm(now, w.started, true)
	tripped := cause != "" && !w.latched
	if tripped {
		w.latched, w.cause, w.trippedAt = true, cause, now
	}
	healthy := false
	if cause == "" {
		// Read healthy, no grace: control may raise only once the fire
		// loop has been read; the start-up grace keeps the latch from
		// tripping, not the chargers from charging.
		c, _ := w.alarm(now, w.started, false)
		healthy = c == ""
		w.fireSeen = w.fireSeen || healthy
	}
	escalated, resume := w.offlineLatchLocked(now, cause, healthy)
	w.mu.Unlock()
	if tripped {
		w.tripped(ctx, now, cause, detail)
	}
	if escalated {
		w.log.Error("DI module read again with the loop open: the latch is the fire alarm's now", "cause", cause, "detail", detail)
		w.event(Event{At: now, Kind: EventTrip, Cause: cause, Detail: detail + " (was latched: DI module unreadable)"})
		if err := w.persist(); err != nil {
			w.log.Error("safety state file not written; the latch holds in memory", "err", err)
		}
	}
	if resume {
		why := fmt.Sprintf("DI module read healthy for %s with the loop closed: no fire seen", w.cfg.OfflineResumeAfter)
		if _, err := w.release(autoResetWho, why, now); err != nil {
			w.log.Error("unreadable-module latch not released by itself", "err", err)
		} else {
			w.log.Warn("safety latch released by itself: the DI module reads healthy again", "after", w.cfg.OfflineResumeAfter)
			w.event(Event{At: now, Kind: EventAutoReset, Cause: CauseDIOffline, Detail: why})
		}
	}
	w.checkSPDs(ctx, now)
	w.checkThermal(ctx, now)
	w.reassert(ctx, now)
	w.retryCuts(ctx, now)
}

// autoResetWho is who a latch that released itself names in the audit.
const autoResetWho = "parkgrid"

// offlineLatchLocked follows a latch tripped by an unreadable DI module:
// an alarm read from the module (open loop, wire break) makes it that
// alarm's latch (escalated); a module read healthy for OfflineResumeAfter
// releases it (resume, done by the caller through release). The caller
// holds w.mu; cause is the alarm now, healthy whether the module read
// healthy without grace.
func (w *Watcher) offlineLatchLocked(now time.Time, cause Cause, healthy bool) (escalated, resume bool) {
	if !w.latched || w.cause != CauseDIOffline {
		w.okSince = time.Time{}
		return false, false
	}
	switch {
	case cause == CauseFireLoop || cause == CauseWireBreak:
		w.cause, w.okSince = cause, time.Time{}
		return true, false
	case !healthy || w.cfg.OfflineResumeAfter <= 0:
		w.okSince = time.Time{}
	case w.okSince.IsZero():
		w.okSince = now
	case now.Sub(w.okSince) >= w.cfg.OfflineResumeAfter:
		return false, true
	}
	return false, false
}

// tripped acts on a latch Check has just set: the event first (in memory,
// so that it precedes the cut's events), then the command, then the log
// and the file.
func (w *Watcher) tripped(ctx context.Context, now time.Time, cause Cause, detail string) {
	w.event(Event{At: now, Kind: EventTrip, Cause: cause, Detail: detail})
	w.cut(ctx, w.points, "latch: "+string(cause))
	w.log.Error("SAFETY TRIP: every charger commanded to 0 A and latched", "cause", cause, "detail", detail)
	if err := w.persist(); err != nil {
		w.log.Error("safety state file not written; the latch holds in memory", "err", err)
	}
}

// reassert cuts again, at once, every held point whose controller reports
// itself enabled, offering current or charging in a reading sent after its
// last cut: a controller that rebooted to its power-on defaults, or one
// that someone switched on by hand.
func (w *Watcher) reassert(ctx context.Context, now time.Time) {
	type recut struct {
		p      *point
		why    string
		detail string
	}
	var todo []recut
	w.mu.Lock()
	for _, p := range w.points {
		why := w.blockReasonLocked(p)
		if why == "" || p.cutting {
			continue
		}
		r := w.state.Charger(p.Controller, now)
		if r.At.IsZero() || r.Stale || !r.Sent.After(p.cutAt) {
			continue
		}
		st := r.Value
		if !st.Enabled && st.OfferedA == 0 && st.State != drivers.StateC {
			p.reasserted = false
			continue
		}
		first := !p.reasserted
		p.reasserted, p.cutting = true, true
		d := ""
		if first {
			d = fmt.Sprintf("%s: reports enabled=%t, offering %d A, state %s", why, st.Enabled, st.OfferedA, st.State)
		}
		todo = append(todo, recut{p, why, d})
	}
	w.mu.Unlock()
	for _, r := range todo {
		if r.detail != "" {
			w.log.Error("held charger is on again: cutting it again", "point", r.p.ID, "detail", r.detail)
			w.event(Event{At: now, Kind: EventReasserted, Point: r.p.ID, Detail: r.detail})
		}
		w.cut(ctx, []*point{r.p}, "reassert: "+r.why)
	}
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

// LastCheck is when Check last ran (clock time): the edge tells systemd it
// is alive only while safety keeps checking.
func (w *Watcher) LastCheck() time.Time {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.lastCheck
}

// Latched reports whether the fire-alarm latch is set.
func (w *Watcher) Latched() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.latched
}
