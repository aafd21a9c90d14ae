package safety

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock/clocktest"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/edge/site/sitetest"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// healthy: loop, supervision, SPD ud-1, SPD ud-2 closed.
var healthy = site.Contacts{Closed: 0b1111, N: 4}

// Contact inputs as docs/registers.md lays them out.
const (
	loop   = 0
	superv = 1
	spd1   = 2
	spd2   = 3
)

type fixture struct {
	t        *testing.T
	state    *site.State
	clk      *clocktest.Fake
	w        *Watcher
	chargers map[string]*sitetest.Charger
	ctx      context.Context
	mu       sync.Mutex // protects events
	events   []Event
}

// newFixture: grid → ud-1 (c-1: cp-1, cp-2; c-2: cp-3) and ud-2 (c-3: cp-4).
func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: clocktest.New(t0), chargers: map[string]*sitetest.Charger{}}
	f.state = site.New([]site.Spec{
		{ID: "di", Interval: 100 * time.Millisecond},
		{ID: "di-2", Interval: 100 * time.Millisecond}, // read only by tests that use it
		{ID: "t1", Interval: 10 * time.Second},
		{ID: "t2", Interval: 10 * time.Second},
		{ID: "cp-1", Interval: time.Second}, {ID: "cp-2", Interval: time.Second}, // controllers, named as their points
		{ID: "cp-3", Interval: time.Second}, {ID: "cp-4", Interval: time.Second},
	})
	cfg := Config{
		Site:        "test",
		FireLoop:    Input{Device: "di", Input: loop},
		Supervision: &Input{Device: "di", Input: superv},
		SPDs:        []SPD{{Node: "ud-1", Input: Input{"di", spd1}}, {Node: "ud-2", Input: Input{"di", spd2}}},
		Thermal:     []Thermal{{Node: "c-2", Sensors: []string{"t1", "t2"}, StopDeciC: 550, HysteresisDeciC: 50}},
	}
	for _, p := range []struct{ id, c, d string }{{"cp-1", "c-1", "ud-1"}, {"cp-2", "c-1", "ud-1"}, {"cp-3", "c-2", "ud-1"}, {"cp-4", "c-3", "ud-2"}} {
		ch := sitetest.NewCharger(drivers.StateC)
		f.chargers[p.id] = ch
		cfg.Points = append(cfg.Points, Point{ID: p.id, Nodes: []string{p.c, p.d, "grid"}, Charger: ch})
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := New(cfg, f.state, f.clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.OnEvent = func(e Event) { f.mu.Lock(); f.events = append(f.events, e); f.mu.Unlock() }
	f.w = w
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	f.ctx = ctx
	f.contacts(healthy)
	f.check() // the first fire-loop reading: control may raise from here
	return f
}

func (f *fixture) contacts(c site.Contacts) {
	f.state.PutContacts("di", f.clk.Now(), c)
}

func (f *fixture) open(input int) {
	f.contacts(site.Contacts{Closed: healthy.Closed &^ (1 << input), N: 4})
}

// check runs one Check and waits for the cuts it started.
func (f *fixture) check() {
	f.w.Check(f.ctx, f.clk.Now())
	f.w.wg.Wait()
}

// setAll gives every point a setpoint through the gate, as control would.
func (f *fixture) setAll(a int) error {
	var errs []error
	for id := range f.chargers {
		errs = append(errs, f.w.SetCurrentMA(f.ctx, id, int64(a)*1000))
	}
	return errors.Join(errs...)
}

func (f *fixture) currents() map[string]string {
	out := map[string]string{}
	for id, c := range f.chargers {
		a, on := c.Current()
		out[id] = fmt.Sprintf("%dA/%v", a, on)
	}
	return out
}

func (f *fixture) kinds() []EventKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	var k []EventKind
	for _, e := range f.events {
		k = append(k, e.Kind)
	}
	return k
}

func allAt(t *testing.T, f *fixture, want string) {
	t.Helper()
	for id, got := range f.currents() {
		if got != want {
			t.Errorf("%s at %s, want %s", id, got, want)
		}
	}
}

func TestFireLoopTripsLatchesAndResets(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.setAll(16); err != nil {
		t.Fatal(err)
	}
	allAt(t, f, "16A/true")
	f.check()
	if f.w.Latched() {
		t.Fatal("latched while healthy")
	}

	f.open(loop)
	f.check()
	allAt(t, f, "0A/false")
	st := f.w.Status()
	if !st.Latched || st.Cause != CauseFireLoop || !st.TrippedAt.Equal(t0) {
		t.Fatalf("status = %+v", st)
	}
	if err := f.setAll(10); !errors.Is(err, ErrBlocked) {
		t.Errorf("raise while latched: %v, want ErrBlocked", err)
	}
	if err := f.w.SetCurrentMA(f.ctx, "cp-1", 0); err != nil {
		t.Errorf("0 A while latched: %v", err)
	}
	allAt(t, f, "0A/false")

	// Refused while the loop is still open.
	if err := f.w.Reset("alice", "drill over", f.clk.Now()); !errors.Is(err, ErrAlarmPresent) {
		t.Errorf("reset with loop open: %v, want ErrAlarmPresent", err)
	}
	if err := f.w.Reset("", "", f.clk.Now()); err == nil {
		t.Error("reset without who/why accepted")
	}
	// The loop closes: still latched until someone resets.
	f.clk.Advance(time.Second)
	f.contacts(healthy)
	f.check()
	if !f.w.Latched() {
		t.Fatal("latch released by itself")
	}
	if err := f.w.Reset("alice", "drill over", f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	st = f.w.Status()
	if st.Latched || st.LastReset == nil || st.LastReset.Who != "alice" || st.LastReset.Why != "drill over" ||
		st.LastReset.Cause != CauseFireLoop || !st.LastReset.At.Equal(t0.Add(time.Second)) {
		t.Errorf("after reset: %+v / %+v", st, st.LastReset)
	}
	if err := f.w.Reset("bob", "again", f.clk.Now()); !errors.Is(err, ErrNotLatched) {
		t.Errorf("second reset: %v", err)
	}
	if err := f.setAll(16); err != nil {
		t.Errorf("raise after reset: %v", err)
	}
	allAt(t, f, "16A/true")
	k := f.kinds()
	for _, want := range []EventKind{EventTrip, EventCutDone, EventResetRefused, EventReset} {
		if !slices.Contains(k, want) {
			t.Errorf("events %v lack %s", k, want)
		}
	}
}

func TestWireBreakTrips(t *testing.T) {
	f := newFixture(t, nil)
	// A broken wire opens the loop as well: the cause is the wire break.
	f.contacts(site.Contacts{Closed: healthy.Closed &^ (1<<loop | 1<<superv), N: 4})
	f.check()
	if st := f.w.Status(); !st.Latched || st.Cause != CauseWireBreak {
		t.Fatalf("status = %+v", st)
	}
	allAt(t, f, "0A/false")
}

func TestUnreadableModuleTrips(t *testing.T) {
	f := newFixture(t, nil)
	f.clk.Advance(300 * time.Millisecond)
	f.check()
	if f.w.Latched() {
		t.Fatal("tripped at exactly OfflineAfter")
	}
	f.clk.Advance(time.Millisecond)
	f.check()
	if st := f.w.Status(); !st.Latched || st.Cause != CauseDIOffline {
		t.Fatalf("status = %+v", st)
	}
	allAt(t, f, "0A/false")
	// Reset refused while the module stays silent.
	if err := f.w.Reset("alice", "module replaced", f.clk.Now()); !errors.Is(err, ErrAlarmPresent) {
		t.Errorf("reset: %v", err)
	}
	f.contacts(healthy)
	if err := f.w.Reset("alice", "module replaced", f.clk.Now()); err != nil {
		t.Errorf("reset: %v", err)
	}
}

func TestNeverReadModuleTripsAfterGrace(t *testing.T) {
	f := newFixture(t, nil)
	f.state = site.New([]site.Spec{{ID: "di", Interval: 100 * time.Millisecond}})
	f.w.state = f.state
	f.check()
	if f.w.Latched() {
		t.Fatal("tripped before the first read was due")
	}
	f.clk.Advance(301 * time.Millisecond)
	f.check()
	if !f.w.Latched() {
		t.Fatal("a DI module never read did not trip")
	}
}

func TestMissingInputTrips(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FireLoop.Input = 40 })
	f.check()
	if st := f.w.Status(); !st.Latched || st.Cause != CauseDIOffline {
		t.Fatalf("status = %+v", st)
	}
}

// at once, without waiting for the 100 ms tick.
func TestRunWakesOnContacts(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := f.clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cut := make(chan struct{}, 10)
	for _, c := range f.chargers {
		c.OnWrite = func(w sitetest.Write) {
			if w.What == "enable" && w.Value == 0 {
				cut <- struct{}{}
			}
		}
	}
	f.open(loop)
	if !f.w.IsDI("di") {
		t.Fatal("IsDI(di) = false")
	}
	f.w.Wake()
	for range f.chargers {
		select {
		case <-cut:
		case <-ctx.Done():
			t.Fatal("Wake did not lead to a cut")
		}
	}
}

// TestSPDOnUnreadModuleStopsItsDistribution: an SPD contact on a module of
// its own (not the fire loop's) that is never read, or goes silent, stops
// its distribution and says so; the latch does not cover it.
func TestSPDOnUnreadModuleStopsItsDistribution(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SPDs[1].Input = Input{Device: "di-2", Input: 0} })
	if r := f.w.Blocked("cp-4"); r != "" {
		t.Fatalf("cp-4 blocked within the start-up grace: %q", r)
	}
	if err := f.setAll(16); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(301 * time.Millisecond)
	f.contacts(healthy)
	f.check()
	if r := f.w.Blocked("cp-4"); r != "spd: ud-2" {
		t.Errorf("cp-4 below an SPD never read: blocked %q, want spd: ud-2", r)
	}
	if a, on := f.chargers["cp-4"].Current(); a != 0 || on {
		t.Errorf("cp-4 at %d A %v, want cut", a, on)
	}
	if a, _ := f.chargers["cp-1"].Current(); a != 16 {
		t.Errorf("cp-1 (other distribution) at %d A", a)
	}
	if f.w.Latched() {
		t.Error("latched for an SPD module")
	}
	if !slices.Contains(f.kinds(), EventSPDTripped) {
		t.Errorf("no %s event: %v", EventSPDTripped, f.kinds())
	}
	// Read and closed: released.
	f.state.PutContacts("di-2", f.clk.Now(), site.Contacts{Closed: 1, N: 1})
	f.check()
	if r := f.w.Blocked("cp-4"); r != "" {
		t.Errorf("still blocked: %q", r)
	}
	// Silent again (stale): stopped again.
	n := len(f.kinds())
	f.clk.Advance(time.Second)
	f.contacts(healthy)
	f.check()
	if r := f.w.Blocked("cp-4"); r != "spd: ud-2" {
		t.Errorf("cp-4 below a silent SPD module: blocked %q", r)
	}
	if !slices.Contains(f.kinds()[n:], EventSPDTripped) {
		t.Errorf("no %s event for the stale module: %v", EventSPDTripped, f.kinds()[n:])
	}
	// A module that does not report the input: stopped too.
	f.state.PutContacts("di-2", f.clk.Now(), site.Contacts{Closed: 1, N: 1})
	f.check()
	f.w.cfg.SPDs[1].Input.Input = 5
	f.check()
	if r := f.w.Blocked("cp-4"); r != "spd: ud-2" {
		t.Errorf("cp-4 below a missing SPD input: blocked %q", r)
	}
}

// TestRestoredLatchNotResetBeforeFirstRead: within the start-up grace, no
// reading is no evidence: the restored latch holds and the alarm shows.
func TestRestoredLatchNotResetBeforeFirstRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "safety.json")
	if err := writeStateFile(path, stateFile{Latched: true, Cause: CauseFireLoop, TrippedAt: t0}); err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(t0)
	state := site.New([]site.Spec{{ID: "di", Interval: 100 * time.Millisecond}})
	w, err := New(Config{Site: "test", FireLoop: Input{Device: "di", Input: loop}, StateFile: path}, state, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * time.Millisecond)
	if c, _ := w.Present(clk.Now()); c != CauseDIOffline {
		t.Errorf("Present before the first read = %q, want %q", c, CauseDIOffline)
	}
	if err := w.Reset("mallory", "quick", clk.Now()); !errors.Is(err, ErrAlarmPresent) {
		t.Fatalf("reset before the first read: %v, want ErrAlarmPresent", err)
	}
	if !w.Latched() {
		t.Fatal("latch released")
	}
	// The grace still keeps Check from tripping anew before the first poll.
	w.Check(context.Background(), clk.Now())
	state.PutContacts("di", clk.Now(), healthy)
	if c, _ := w.Present(clk.Now()); c != "" {
		t.Errorf("Present after a healthy read = %q", c)
	}
	if err := w.Reset("alice", "all clear", clk.Now()); err != nil {
		t.Errorf("reset after a healthy read: %v", err)
	}
}

// TestSensorDeadFromStartIsReported: a node whose sensors never answer is
// reported once the start-up minute is over, once, and back online once.
func TestSensorDeadFromStartIsReported(t *testing.T) {
	f := newFixture(t, nil)
	count := func(k EventKind) int {
		n := 0
		for _, e := range f.kinds() {
			if e == k {
				n++
			}
		}
		return n
	}
	for range 4 {
		f.clk.Advance(30 * time.Second)
		f.contacts(healthy)
		f.check()
	}
	if n := count(EventSensorOffline); n != 1 {
		t.Errorf("%d %s events for a sensor dead from start, want 1: %v", n, EventSensorOffline, f.kinds())
	}
	f.state.PutTemperature("t1", f.clk.Now(), 300)
	f.check()
	if n := count(EventSensorOnline); n != 1 {
		t.Errorf("%d %s events, want 1: %v", n, EventSensorOnline, f.kinds())
	}
}

// TestNoRaiseBeforeFirstFireLoopRead: before the fire loop has been read
// once, nothing above 0 A passes, though the grace keeps the latch off.
func TestNoRaiseBeforeFirstFireLoopRead(t *testing.T) {
	clk := clocktest.New(t0)
	state := site.New([]site.Spec{{ID: "di", Interval: 100 * time.Millisecond}})
	ch := sitetest.NewCharger(drivers.StateC)
	w, err := New(Config{Site: "test", FireLoop: Input{Device: "di", Input: loop},
		Points: []Point{{ID: "cp-1", Nodes: []string{"grid"}, Charger: ch}}}, state, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w.Check(ctx, clk.Now())
	if r := w.Blocked("cp-1"); r != BlockAwaitingFireLoop {
		t.Errorf("Blocked before the first read = %q, want %q", r, BlockAwaitingFireLoop)
	}
	if err := w.SetCurrentMA(ctx, "cp-1", 16000); !errors.Is(err, ErrBlocked) {
		t.Errorf("raise before the first read: %v, want ErrBlocked", err)
	}
	if err := w.SetCurrentMA(ctx, "cp-1", 0); err != nil {
		t.Errorf("0 A before the first read: %v", err)
	}
	if w.Latched() {
		t.Fatal("latched within the grace")
	}
	clk.Advance(100 * time.Millisecond)
	state.PutContacts("di", clk.Now(), healthy)
	w.Check(ctx, clk.Now())
	if r := w.Blocked("cp-1"); r != "" {
		t.Errorf("Blocked after a healthy read = %q", r)
	}
	if err := w.SetCurrentMA(ctx, "cp-1", 16000); err != nil {
		t.Errorf("raise after the first read: %v", err)
	}
	w.wg.Wait()
}

// TestCutDisablesEvenWhenZeroAmpsIsRefused: the fire cut writes 0 A and the
// disable independently; a controller that refuses the 0 A write (or whose
// write hangs) is still disabled, within its own timeout.
func TestCutDisablesEvenWhenZeroAmpsIsRefused(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.WriteTimeout = 100 * time.Millisecond })
	if err := f.setAll(16); err != nil {
		t.Fatal(err)
	}
	f.chargers["cp-1"].SetWriteErrFor("current", errors.New("modbus exception 3 (illegal data value)"))
	release := f.chargers["cp-2"].HoldKind("current") // its 0 A write never returns
	defer release()
	f.open(loop)
	f.check()
	for _, id := range []string{"cp-1", "cp-2", "cp-3", "cp-4"} {
		if _, on := f.chargers[id].Current(); on {
			t.Errorf("%s still enabled after the fire cut", id)
		}
	}
}

// TestRaiseWritesCurrentBeforeEnable: a raise sets the current first and
// enables after, so a charger never runs at a stale current.
func TestRaiseWritesCurrentBeforeEnable(t *testing.T) {
	f := newFixture(t, nil)
	ch := f.chargers["cp-1"]
	if err := f.w.SetCurrentMA(f.ctx, "cp-1", 16000); err != nil {
		t.Fatal(err)
	}
	got := ch.Writes()
	if len(got) < 2 || got[0] != (sitetest.Write{What: "current", Value: 16}) || got[len(got)-1] != (sitetest.Write{What: "enable", Value: 1}) {
		t.Errorf("writes %+v, want current 16 A, then enable", got)
	}
}

// TestLatchReassertedOnRebootedCharger: while latched, a charger that
// reports itself enabled, offering current or charging (a controller that
// rebooted to its power-on defaults) is cut again at once, with an event.
func TestLatchReassertedOnRebootedCharger(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.setAll(16); err != nil {
		t.Fatal(err)
	}
	f.open(loop)
	f.check()
	allAt(t, f, "0A/false")
	// cp-3 reboots: enabled at 16 A, its car charging again; the poller
	// reads it a second later.
	f.clk.Advance(time.Second)
	f.contacts(site.Contacts{Closed: healthy.Closed &^ (1 << loop), N: 4})
	f.chargers["cp-3"].Seed(16, true)
	f.state.PutCharger("cp-3", f.clk.Now(), drivers.ChargerStatus{State: drivers.StateC, Enabled: true, MaxCurrentA: 16, OfferedA: 16})
	for _, id := range []string{"cp-1", "cp-2", "cp-4"} {
		f.state.PutCharger(id, f.clk.Now(), drivers.ChargerStatus{State: drivers.StateB})
	}
	f.check()
	allAt(t, f, "0A/false")
	if !slices.Contains(f.kinds(), EventReasserted) {
		t.Errorf("events %v, want latch-reasserted", f.kinds())
	}
}

// TestUnreadableStateFileStartsLatched: a state file that exists but cannot
// be read (here: a directory in its place) starts the edge latched, as a
// corrupt one does, instead of refusing to start.
func TestUnreadableStateFileStartsLatched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "safety.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	state := site.New(nil)
	w, err := New(Config{Site: "test", FireLoop: Input{Device: "di"}, StateFile: path}, state, clocktest.New(t0), nil)
	if err != nil {
		t.Fatalf("refused to start: %v", err)
	}
	if st := w.Status(); !st.Latched || st.Cause != CauseStateUnreadable {
		t.Errorf("status = %+v, want latched for an unreadable state file", st)
	}
}

// racyState is the site state whose first Contacts read (the one Check
// makes) lets an operator's Reset run, waits for it up to a deadline, and
// then lets the alarm arrive: the reset and the trip race.
type racyState struct {
	*site.State
	first   atomic.Bool
	onFirst func()
}

func (r *racyState) Contacts(id string, now time.Time) site.Reading[site.Contacts] {
	if r.first.CompareAndSwap(false, true) {
		r.onFirst()
	}
	return r.State.Contacts(id, now)
}

// TestResetRacingATripKeepsTheLatch: an alarm that arrives while an
// operator's reset is under way must leave the site latched: Check and
// Reset decide under one lock.
func TestResetRacingATripKeepsTheLatch(t *testing.T) {
	f := newFixture(t, nil)
	f.open(loop)
	f.check()
	f.contacts(healthy) // the loop closed again: a reset may go through
	rs := &racyState{State: f.state}
	f.w.state = rs
	var resetErr error
	done := make(chan struct{})
	rs.onFirst = func() {
		go func() { resetErr = f.w.Reset("dave", "all clear", f.clk.Now()); close(done) }()
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond): // blocked behind Check: as it should be
		}
		f.open(loop) // the alarm arrives during the reset
	}
	f.check()
	if !f.w.Latched() {
		t.Error("an alarm that arrived during the reset left the site unlatched")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reset never returned")
	}
	if !errors.Is(resetErr, ErrAlarmPresent) || !f.w.Latched() {
		t.Errorf("reset during the alarm: %v, latched %v; want refused, latched", resetErr, f.w.Latched())
	}
}

// TestDeadSensorKeepsItsDerating: when a node's sensors stop reading, its
// derating stays at the last temperature read, never back to the full
// fuse, and the node is reported without a sensor (an alarm).
func TestDeadSensorKeepsItsDerating(t *testing.T) {
	f := newFixture(t, nil)
	f.state.PutTemperature("t1", f.clk.Now(), 480)
	f.state.PutTemperature("t2", f.clk.Now(), 300)
	f.check()
	f.clk.Advance(2 * time.Minute) // both sensors silent since
	f.contacts(healthy)
	f.check()
	temps := f.w.Temperatures()
	if len(temps) != 1 || temps[0].Node != "c-2" || temps[0].DeciC < 480 {
		t.Errorf("Temperatures = %+v, want c-2 kept at 48.0 °C or hotter", temps)
	}
	if st := f.w.Status(); !slices.Equal(st.NoSensor, []string{"c-2"}) {
		t.Errorf("NoSensor = %v", st.NoSensor)
	}
}

// TestSensorDeadFromStartIsDerated: a node whose sensors never read is
// derated for its lost temperature (default halfway between derating and
// stop), never given the full fuse.
func TestSensorDeadFromStartIsDerated(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Thermal[0].DerateDeciC = 400 })
	f.check()
	if temps := f.w.Temperatures(); len(temps) != 1 || temps[0].DeciC != 475 {
		t.Errorf("Temperatures = %+v, want c-2 at 47.5 °C (halfway between 40 and 55)", temps)
	}
	g := newFixture(t, func(c *Config) { c.Thermal[0].LostDeciC = 500 })
	g.state.PutTemperature("t1", g.clk.Now(), 420)
	g.check()
	g.clk.Advance(time.Minute)
	g.contacts(healthy)
	g.check()
	if temps := g.w.Temperatures(); len(temps) != 1 || temps[0].DeciC != 500 {
		t.Errorf("Temperatures = %+v, want the configured 50.0 °C (hotter than the last 42.0 °C)", temps)
	}
}

// readFor reads the DI module every 100 ms for d with contacts c, checking
// after each read.
func (f *fixture) readFor(d time.Duration, c site.Contacts) {
	for end := f.clk.Now().Add(d); f.clk.Now().Before(end); {
		f.clk.Advance(100 * time.Millisecond)
		f.contacts(c)
		f.check()
	}
}

// TestUnreadableModuleResumesByItself: a latch tripped only because the DI
// module could not be read releases itself once the module has read
// healthy (loop closed, supervision intact) for OfflineResumeAfter: no fire
// was seen. The release is audited like an operator's reset.
func TestUnreadableModuleResumesByItself(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OfflineResumeAfter = 10 * time.Second })
	f.clk.Advance(time.Second) // no reading: unreadable
	f.check()
	if st := f.w.Status(); !st.Latched || st.Cause != CauseDIOffline {
		t.Fatalf("status = %+v", st)
	}
	f.readFor(9*time.Second, healthy)
	if !f.w.Latched() {
		t.Fatal("released before the module read healthy for 10 s")
	}
	f.readFor(1200*time.Millisecond, healthy)
	st := f.w.Status()
	if st.Latched || st.LastReset == nil || st.LastReset.Who != "parkgrid" || st.LastReset.Cause != CauseDIOffline {
		t.Errorf("after 10 s healthy: %+v (last reset %+v), want released by parkgrid", st, st.LastReset)
	}
}

// TestOpenLoopDuringAnOfflineLatchWaitsForAnOperator: once the module is
// read again with the loop open (a fire, or a wire break), the latch is the
// fire alarm's and only an operator releases it.
func TestOpenLoopDuringAnOfflineLatchWaitsForAnOperator(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OfflineResumeAfter = 10 * time.Second })
	f.clk.Advance(time.Second)
	f.check()
	f.readFor(time.Second, site.Contacts{Closed: healthy.Closed &^ (1 << loop), N: 4})
	f.readFor(30*time.Second, healthy)
	if st := f.w.Status(); !st.Latched || st.Cause != CauseFireLoop {
		t.Errorf("status = %+v, want still latched for the open loop", st)
	}
}
