package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/poll"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/internal/svctest"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// These tests run the edge wiring (config → buses → drivers → poll →
// safety → control) against the simulator of deploy/sim-small.yaml over
// real Modbus TCP on a free port, with the edge's wall clock.

// simSmall starts the simulated small car park without random cars.
func simSmall(t *testing.T) *sim.Sim {
	t.Helper()
	cfg, err := sim.LoadConfig(filepath.Join(svctest.RepoRoot(t), "deploy", "sim-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.API = "127.0.0.1:0", "off"
	cfg.Cars.ArrivalsPerHour, cfg.Cars.ConnectedAtStart = 0, 0
	s, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// edgeRun is an edge daemon running against a simulator, with channels
// that tell a test what happened.
type edgeRun struct {
	t      *testing.T
	d      *Daemon
	sim    *sim.Sim
	steps  chan time.Time
	trips  chan safety.Event // every safety event
	devs   chan poll.Event
	cancel context.CancelFunc
	done   chan error
}

// startEdge loads deploy/site-small.yaml, points its bus at the simulator,
// lets mod change it, and runs the edge without its EMS API and uplink.
func startEdge(t *testing.T, s *sim.Sim, mod func(*config.Site)) *edgeRun {
	t.Helper()
	return startEdgeWith(t, s, mod, nil)
}

// startEdgeWith is startEdge whose options (EMS API, uplink: all "off" by
// default) withOpts may change.
func startEdgeWith(t *testing.T, s *sim.Sim, mod func(*config.Site), withOpts func(*Options)) *edgeRun {
	t.Helper()
	cfg, err := config.Load(filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Buses[0].TCP = s.ModbusAddr(sim.MainListener)
	cfg.DataDir = t.TempDir() // the latch of one test must not start the next latched
	cfg.Safety.StateFile = filepath.Join(cfg.DataDir, "safety.json")
	if mod != nil {
		mod(cfg)
	}
	r := &edgeRun{t: t, sim: s, steps: make(chan time.Time, 100), trips: make(chan safety.Event, 1000), devs: make(chan poll.Event, 1000), done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() && os.Getenv("PARKGRID_EDGE_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	opt := Options{
		Logger:        log,
		OnStep:        func(now time.Time, _ time.Duration) { send(r.steps, now) },
		OnSafetyEvent: func(e safety.Event) { send(r.trips, e) },
		OnDeviceEvent: func(e poll.Event) { send(r.devs, e) },
		RESTListen:    Off,
		EMSBroker:     Off,
		UplinkBroker:  Off,
	}
	if withOpts != nil {
		withOpts(&opt)
	}
	r.d, err = New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.d.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func send[T any](c chan T, v T) {
	select {
	case c <- v:
	default:
	}
}

// stop stops the edge and waits for it (idempotent).
func (r *edgeRun) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if !errors.Is(err, context.Canceled) {
			r.t.Errorf("edge run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Error("edge did not stop within 10 s")
	}
}

// liveness stretches a test's deadline for something that must happen:
// under -race on a loaded 2-core machine (CI runs the e2e package beside
// this one) a step or a safety check can lag by seconds. How fast it
// happens is a benchmark's question, not these tests'.
func liveness(within time.Duration) time.Duration { return max(within, time.Minute) }

// untilStep checks cond after every control step until it holds.
func (r *edgeRun) untilStep(what string, within time.Duration, cond func(sim.State) bool) sim.State {
	r.t.Helper()
	within = liveness(within)
	deadline := time.After(within)
	for {
		select {
		case <-r.steps:
			if st := r.sim.State(); cond(st) {
				return st
			}
		case <-deadline:
			r.t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// untilSafetyAll waits for safety events of every given kind, in any order.
func (r *edgeRun) untilSafetyAll(within time.Duration, kinds ...safety.EventKind) {
	r.t.Helper()
	within = liveness(within)
	deadline := time.After(within)
	want := map[safety.EventKind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	var seen []string
	for len(want) > 0 {
		select {
		case e := <-r.trips:
			delete(want, e.Kind)
			seen = append(seen, fmt.Sprintf("%s %s %s", e.Kind, e.Point, e.Detail))
		case <-deadline:
			r.t.Fatalf("not every safety event of %q within %s; saw %q", kinds, within, seen)
		}
	}
}

// untilSafety waits for a safety event of the given kind.
func (r *edgeRun) untilSafety(kind safety.EventKind, within time.Duration) safety.Event {
	r.t.Helper()
	within = liveness(within)
	deadline := time.After(within)
	var seen []string
	for {
		select {
		case e := <-r.trips:
			if e.Kind == kind {
				return e
			}
			seen = append(seen, fmt.Sprintf("%s %s %s", e.Kind, e.Point, e.Detail))
		case <-deadline:
			r.t.Fatalf("no safety event %q within %s; saw %q", kind, within, seen)
		}
	}
}

func points(st sim.State, names ...string) []sim.PointState {
	var out []sim.PointState
	for _, p := range st.Points {
		for _, n := range names {
			if p.Name == n {
				out = append(out, p)
			}
		}
	}
	return out
}

func charging(names ...string) func(sim.State) bool {
	return func(st sim.State) bool {
		ps := points(st, names...)
		for _, p := range ps {
			if !p.Enabled || p.SetpointA < 6 || p.OfferedA < 6 {
				return false
			}
		}
		return len(ps) == len(names)
	}
}

// allCut: every controller disabled and offering nothing. (The EV-ETH map
// has no 0 A setting: a cut disables; holding 528 keeps its value.)
func allCut(st sim.State) bool {
	for _, p := range st.Points {
		if p.Enabled || p.OfferedA != 0 {
			return false
		}
	}
	return true
}

var cars = []string{"p01", "p02", "p05", "p08"}

func plugCars(t *testing.T, s *sim.Sim) {
	t.Helper()
	for i, p := range cars {
		c := sim.Car{Phases: 3, MaxA: 16}
		if i == 1 {
			c = sim.Car{Phases: 1, MaxA: 32}
		}
		if err := s.PlugCar(p, c); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEdgeFireAlarmOnSim(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))

	if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultFireLoopOpen}); err != nil {
		t.Fatal(err)
	}
	trip := r.untilSafety(safety.EventTrip, 5*time.Second)
	if trip.Cause != safety.CauseFireLoop {
		t.Errorf("trip cause %q", trip.Cause)
	}
	r.untilSafety(safety.EventCutDone, 15*time.Second) // a liveness deadline; the speed is a benchmark
	st := s.State()
	if !allCut(st) {
		t.Fatalf("after the cut: %+v", st.Points)
	}
	var last time.Time
	for _, p := range st.Points {
		if p.LastEnable != nil && p.LastEnable.Wall.After(last) {
			last = p.LastEnable.Wall
		}
	}
	t.Logf("fire loop opened → last charger disabled: %s", last.Sub(st.FireLoopOpenedAt.Wall))

	// Latched: the control loop raises nothing, for several steps.
	for range 3 {
		r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
	}
	if st := s.State(); !allCut(st) || !r.d.Safety().Latched() {
		t.Fatalf("raised while latched: %+v", st.Points)
	}
	if p, _ := r.d.Control().Point("p01"); !strings.HasPrefix(p.Reason, "safety: latch") {
		t.Errorf("p01 reason %q", p.Reason)
	}
	if err := r.d.Safety().Reset("test", "loop still open", time.Now()); !errors.Is(err, safety.ErrAlarmPresent) {
		t.Errorf("reset with the loop open: %v", err)
	}

	// The loop closes; an operator resets; charging resumes.
	if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultClear}); err != nil {
		t.Fatal(err)
	}
	r.untilStep("reset accepted", 5*time.Second, func(sim.State) bool {
		return r.d.Safety().Reset("test", "drill over", time.Now()) == nil
	})
	if st := r.d.Safety().Status(); st.Latched || st.LastReset.Who != "test" {
		t.Errorf("after reset: %+v", st)
	}
	r.untilStep("charging after reset", 10*time.Second, charging(cars...))
}

func TestEdgeWireBreakAndUnreadableModuleTrip(t *testing.T) {
	for _, tc := range []struct {
		fault sim.FaultKind
		cause safety.Cause
	}{
		{sim.FaultWireBreak, safety.CauseWireBreak},
		{sim.FaultOffline, safety.CauseDIOffline},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			s := simSmall(t)
			plugCars(t, s)
			r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
			r.untilStep("cars charging", 15*time.Second, charging(cars...))
			start := time.Now()
			if err := s.InjectFault(sim.Fault{Device: "di", Kind: tc.fault}); err != nil {
				t.Fatal(err)
			}
			trip := r.untilSafety(safety.EventTrip, 5*time.Second)
			if trip.Cause != tc.cause {
				t.Errorf("trip cause %q, want %q", trip.Cause, tc.cause)
			}
			r.untilSafety(safety.EventCutDone, 15*time.Second) // a liveness deadline; the speed is a benchmark
			t.Logf("%s → every charger at 0 A: %s", tc.fault, time.Since(start))
			if st := s.State(); !allCut(st) {
				t.Errorf("after the cut: %+v", st.Points)
			}
		})
	}
}

func TestEdgeGridMeterSilentFallsBackToSafeBudget(t *testing.T) {
	s := simSmall(t)
	for _, p := range cars {
		if err := s.PlugCar(p, sim.Car{Phases: 3, MaxA: 32}); err != nil {
			t.Fatal(err)
		}
	}
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	if st := r.d.Control().Status(); st.Grid == nil || st.Grid.Stale {
		t.Fatalf("grid before the fault: %+v", st.Grid)
	}
	silent := time.Now()
	if err := s.InjectFault(sim.Fault{Device: "grid", Kind: sim.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	r.untilStep("safe budget in force", 10*time.Second, func(sim.State) bool {
		st := r.d.Control().Status()
		return len(st.Limits) > 0 && st.Limits[0].Kind[0] == loadmgmt.LimitSafeBudget
	})
	took := time.Since(silent)
	t.Logf("grid meter silent → safe budget in force: %s", took)
	// The last answer came at most one poll (1 s) before the fault; stale
	// after 2 s (the default); the next 1 s step applies the safe budget:
	// within 3 s, plus slack for a loaded machine.
	if took > 3750*time.Millisecond {
		t.Errorf("safe budget after %s, want within 3 s", took)
	}
	st := s.State()
	var sum [3]int
	for _, p := range points(st, cars...) {
		for ph := range 3 {
			sum[ph] += p.SetpointA
		}
	}
	for ph := range 3 {
		if sum[ph] > 40 {
			t.Errorf("setpoints on L%d add up to %d A under a 40 A safe budget", ph+1, sum[ph])
		}
	}
}

// TestEdgeDeadEdgeChargersKeepTheirLastSetpoint: the Phoenix EV-ETH map
// has no communication watchdog, so nothing is set at start and a dead edge
// leaves every charger at its last setpoint: the one the allocation kept
// within every fuse (docs/failsafe.md). The edge reports the points as
// having no device failsafe.
func TestEdgeDeadEdgeChargersKeepTheirLastSetpoint(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	st := r.untilStep("cars charging", 15*time.Second, charging(cars...))
	for _, p := range r.d.Control().Status().Points {
		if p.Failsafe != control.FailsafeNone {
			t.Errorf("%s: failsafe %q, want %q (the map has no watchdog)", p.ID, p.Failsafe, control.FailsafeNone)
		}
	}
	for _, w := range st.Writes {
		if w.What != "setpoint" && w.What != "enable" && w.What != "snapshot" && w.What != "identification" {
			t.Errorf("write %+v to a register outside the vendor map", w)
		}
	}
	r.stop() // the edge dies: nothing talks to the controllers any more
	before := map[string]int{}
	for _, p := range points(s.State(), cars...) {
		before[p.Name] = p.OfferedA
	}
	s.Step(time.Hour)
	var sum [3]int
	for _, p := range s.State().Points {
		if p.Enabled {
			for _, g := range gridPhases(p) {
				sum[g] += p.SetpointA
			}
		}
		if b, ok := before[p.Name]; ok && p.Car != nil && p.OfferedA != b {
			t.Errorf("%s offers %d A an hour after the edge died, was %d A", p.Name, p.OfferedA, b)
		}
	}
	for ph, a := range sum {
		if a > 80 { // ud1's limit in deploy/site-small.yaml
			t.Errorf("enabled setpoints on L%d add up to %d A, above ud1's 80 A", ph+1, a)
		}
	}
}

// gridPhases are the grid phases (0..2) a simulated point loads.
func gridPhases(p sim.PointState) []int {
	switch p.Rotation {
	case "L2L3L1":
		return []int{1, 2, 0}
	case "L3L1L2":
		return []int{2, 0, 1}
	}
	return []int{0, 1, 2}
}

// TestEdgeSPDAndOverTemperatureStopTheDistribution: an open SPD contact or
// a thermometer above the stop threshold stops ud1's points (all ten)
// without latching; they charge again when the condition clears.
func TestEdgeSPDAndOverTemperatureStopTheDistribution(t *testing.T) {
	for _, tc := range []struct {
		fault  sim.Fault
		stop   safety.EventKind
		clear  safety.EventKind
		reason string
	}{
		{sim.Fault{Device: "ud1", Kind: sim.FaultSPDTripped}, safety.EventSPDTripped, safety.EventSPDCleared, "safety: spd: ud1"},
		{sim.Fault{Device: "ud1.temp", Kind: sim.FaultOverTemperature}, safety.EventOvertemp, safety.EventOvertempClear, "safety: temperature: ud1"},
	} {
		t.Run(string(tc.fault.Kind), func(t *testing.T) {
			s := simSmall(t)
			plugCars(t, s)
			r := startEdge(t, s, func(c *config.Site) {
				c.Control.RaiseEvery = 0
				for i, d := range c.Buses[0].Devices {
					if d.ID == "ud1.temp" {
						c.Buses[0].Devices[i].Poll = 200 * time.Millisecond
					}
				}
			})
			r.untilStep("cars charging", 15*time.Second, charging(cars...))
			if err := s.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			// The cut starts before the trip is reported (a cut waits for
			// nothing), so its cut-done may come first.
			r.untilSafetyAll(15*time.Second, tc.stop, safety.EventCutDone) // a liveness deadline; the speed is a benchmark
			// A cut-done may belong to an earlier batch of the same trip
			// (the distribution's points are cut in parallel batches):
			// wait, with a deadline, until every charger of ud1 is stopped.
			r.untilStep("ud1 stopped", 5*time.Second, allCut)
			if r.d.Safety().Latched() {
				t.Error("the fire latch was set")
			}
			r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
			if p, _ := r.d.Control().Point("p01"); p.Reason != tc.reason {
				t.Errorf("p01 reason %q, want %q", p.Reason, tc.reason)
			}
			if err := s.InjectFault(sim.Fault{Device: tc.fault.Device, Kind: sim.FaultClear}); err != nil {
				t.Fatal(err)
			}
			r.untilSafety(tc.clear, 5*time.Second)
			r.untilStep("charging again", 10*time.Second, charging(cars...))
		})
	}
}

// TestEdgeControllerOfflineIsReported: a charge controller that stops
// answering is reported (device event, health) and reserved by the control
// loop; the edge keeps running, and the controller is back when it answers.
func TestEdgeControllerOfflineIsReported(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	if err := s.InjectFault(sim.Fault{Device: "p05", Kind: sim.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for offline := false; !offline; {
		select {
		case e := <-r.devs:
			offline = e.Kind == poll.EventOffline && e.Device == "p05"
		case <-deadline:
			t.Fatal("no offline event for p05")
		}
	}
	if h, ok := r.d.State().DeviceHealth("p05"); !ok || !h.Offline || h.Failures < 3 {
		t.Errorf("p05 health %+v", h)
	}
	r.untilStep("p05 reserved", 10*time.Second, func(sim.State) bool {
		p, _ := r.d.Control().Point("p05")
		return p.Reason == "controller not answering"
	})
	if err := s.InjectFault(sim.Fault{Device: "p05", Kind: sim.FaultClear}); err != nil {
		t.Fatal(err)
	}
	deadline = time.After(15 * time.Second)
	for online := false; !online; {
		select {
		case e := <-r.devs:
			online = e.Kind == poll.EventOnline && e.Device == "p05"
		case <-deadline:
			t.Fatal("no online event for p05")
		}
	}
	r.untilStep("charging again", 10*time.Second, charging(cars...))
}

// TestEdgeStatusReadsAfterAMinuteOfCharging: on the vendor map input 102 is
// the charge time; after more than 63 s of charging every status read must
// still work, or every point goes stale and no limit reaches the chargers.
func TestEdgeStatusReadsAfterAMinuteOfCharging(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	s.Step(5 * time.Minute) // the cars have been charging for minutes
	for range 3 {
		r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
	}
	for _, p := range r.d.Control().Status().Points {
		if p.ControllerStale || p.State == "?" {
			t.Errorf("%s after minutes of charging: %+v", p.ID, p)
		}
	}
	for _, h := range r.d.State().Health() {
		if h.Offline || (h.LastErr != "" && strings.Contains(h.LastErr, "phoenix")) {
			t.Errorf("%s: %+v", h.Device, h)
		}
	}
}

// TestEdgeRebootedChargerIsCutAgainWhileLatched: a controller that reboots
// to its power-on defaults (enabled, 16 A) while the fire latch holds is cut
// again at once.
func TestEdgeRebootedChargerIsCutAgainWhileLatched(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultFireLoopOpen}); err != nil {
		t.Fatal(err)
	}
	r.untilSafety(safety.EventCutDone, 15*time.Second) // a liveness deadline; the speed is a benchmark
	if err := s.InjectFault(sim.Fault{Device: "p02", Kind: sim.FaultReboot}); err != nil {
		t.Fatal(err)
	}
	if p := points(s.State(), "p02")[0]; !p.Enabled || p.OfferedA == 0 {
		t.Fatalf("p02 after its reboot: %+v", p)
	}
	e := r.untilSafety(safety.EventReasserted, 5*time.Second)
	if e.Point != "p02" {
		t.Errorf("re-asserted %+v", e)
	}
	r.untilStep("p02 cut again", 5*time.Second, func(st sim.State) bool { return allCut(st) })
}

// TestEdgeDeadControllersBesideTheModuleDoNotTrip: deploy/site-small.yaml
// has everything on one bus. Six controllers that stop answering there
// must not keep the fire-alarm module unread long enough to trip the
// latch: its requests go first and interrupt a dead unit's.
func TestEdgeDeadControllersBesideTheModuleDoNotTrip(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	for range 3 { // every command read back: a silent controller counts at what it was confirmed at
		r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
	}
	for _, p := range []string{"p03", "p04", "p06", "p07", "p09", "p10"} {
		if err := s.InjectFault(sim.Fault{Device: p, Kind: sim.FaultOffline}); err != nil {
			t.Fatal(err)
		}
	}
	for range 8 {
		r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
	}
	if r.d.Safety().Latched() {
		t.Fatalf("latched with six dead controllers on the module's bus: %+v", r.d.Safety().Status())
	}
	if !charging(cars...)(s.State()) {
		for _, p := range r.d.Control().Status().Points {
			t.Logf("%s: %s (setpoint %d mA, held %d mA, stale %v)", p.ID, p.Reason, p.SetpointMA, p.HeldMA, p.ControllerStale)
		}
		t.Logf("grid %+v, safety %+v", r.d.Control().Status().Grid, r.d.Safety().Status().Events)
		t.Errorf("cars stopped")
	}
}

// TestEdgeRefusedCutCountsAtWhatItDraws: a controller that refuses every
// write while its reads work keeps its current; under an EMS limit on the
// connection the others make room for it, and the grid connection stays
// within the limit.
func TestEdgeRefusedCutCountsAtWhatItDraws(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	for range 3 {
		r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
	}
	if err := s.InjectFault(sim.Fault{Device: "p01", Kind: sim.FaultRefuseWrites}); err != nil {
		t.Fatal(err)
	}
	held := points(s.State(), "p01")[0].OfferedA
	const limitA = 45
	ma := [3]int64{limitA * 1000, limitA * 1000, limitA * 1000}
	r.d.Control().SetEMSLimit(control.EMSLimit{RequestID: "t", MaxCurrentMA: &ma, TTL: time.Minute}, time.Now())
	var st sim.State
	for range 6 {
		st = r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
	}
	if p := points(st, "p01")[0]; p.OfferedA != held || !p.RefusesWrites {
		t.Fatalf("p01 %+v, want it still at %d A", p, held)
	}
	if p, _ := r.d.Control().Point("p01"); !p.Unconfirmed {
		t.Errorf("p01 in control: %+v, want unconfirmed", p)
	}
	for ph, a := range st.Grid.CurrentA {
		if a > limitA+0.5 {
			t.Errorf("grid L%d draws %.1f A under a %d A connection limit (p01 stuck at %d A)", ph+1, a, limitA, held)
		}
	}
}

// TestEdgeReversedCTIsAnAlarm: a grid meter reading a negative current is
// no headroom: the site runs on its safe budget and raises an alarm.
func TestEdgeReversedCTIsAnAlarm(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdge(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	v := 1.0
	if err := s.InjectFault(sim.Fault{Device: "grid", Kind: sim.FaultReversedCT, Value: &v}); err != nil {
		t.Fatal(err)
	}
	r.untilStep("reversed CT seen", 5*time.Second, func(sim.State) bool {
		g := r.d.Control().Status().Grid
		return g != nil && g.Reversed && g.Stale
	})
	found := false
	for _, a := range r.d.Alarms() {
		found = found || a.ID == "grid-meter-reversed"
	}
	if !found {
		t.Errorf("alarms %+v, want grid-meter-reversed", r.d.Alarms())
	}
	for _, l := range r.d.Control().Status().Limits {
		if l.Node == r.d.site.Grid.ID && l.LimitMA[0] > 40_000 {
			t.Errorf("grid limit %+v with a reversed CT, want the 40 A safe budget at most", l)
		}
	}
}
