package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock/clocktest"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/edge/site/sitetest"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// outputs records setpoint writes in order.
type outputs struct {
	mu      sync.Mutex // protects the fields below
	writes  []string
	current map[string]int64
	fail    map[string]error
	tries   []string // every write, failed or not
}

func (o *outputs) SetCurrentMA(_ context.Context, point string, mA int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tries = append(o.tries, fmt.Sprintf("%s=%d", point, mA/1000))
	if err := o.fail[point]; err != nil {
		return err
	}
	o.writes = append(o.writes, fmt.Sprintf("%s=%d", point, mA/1000))
	o.current[point] = mA
	return nil
}

func (o *outputs) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.writes
	o.writes = nil
	slices.Sort(w)
	return w
}

// held returns the amperes last written to point, and whether any was.
func (o *outputs) held(point string) (int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ma, ok := o.current[point]
	return ma / 1000, ok
}

func (o *outputs) amps(point string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.current[point] / 1000
}

// fakeSafety holds points and reports temperatures as a test sets them.
type fakeSafety struct {
	mu      sync.Mutex // protects the fields below
	blocked map[string]string
	temps   []loadmgmt.Temperature
}

func (f *fakeSafety) Blocked(p string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[p]
}

func (f *fakeSafety) Temperatures() []loadmgmt.Temperature {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]loadmgmt.Temperature(nil), f.temps...)
}

func (f *fakeSafety) block(reason string, points ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range points {
		f.blocked[p] = reason
	}
}

type fixture struct {
	t     *testing.T
	clk   *clocktest.Fake
	state *site.State
	out   *outputs
	saf   *fakeSafety
	loop  *Loop
	ctx   context.Context
	fs    map[string]*sitetest.Charger
	draw  map[string]int64 // A a point's meter reads regardless of its setpoint
}

// newFixture: grid 62 A (meter "gm", safe budget 20 A) → ud-1 62 A → c-1
// 62 A with four 3-phase 32 A points cp-1..cp-4 (cp-4 falls back to 6 A),
// each with controller cc-N and meter m-N.
func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: clocktest.New(t0), out: &outputs{current: map[string]int64{}, fail: map[string]error{}},
		saf: &fakeSafety{blocked: map[string]string{}}, fs: map[string]*sitetest.Charger{}, draw: map[string]int64{}}
	specs := []site.Spec{{ID: "gm", Interval: time.Second}}
	ls := loadmgmt.Site{
		Nodes: []loadmgmt.Node{
			{ID: "grid", FuseMA: [3]int64{62000, 62000, 62000}, UnbalanceMA: 20000, Metered: true, SafeBudgetMA: [3]int64{20000, 20000, 20000}},
			{ID: "ud-1", Parent: "grid", FuseMA: [3]int64{62000, 62000, 62000}},
			{ID: "c-1", Parent: "ud-1", FuseMA: [3]int64{62000, 62000, 62000}},
		},
		MeterStaleAfter: 3 * time.Second,
	}
	cfg := Config{SiteID: "test", GridMeter: "gm", Watchdog: 15 * time.Second, RaiseEvery: 10 * time.Second, DeadbandMA: 1000}
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("cp-%d", i)
		fb := 0
		if i == 4 {
			fb = 6
		}
		ls.Points = append(ls.Points, loadmgmt.ChargePoint{ID: id, Node: "c-1", Phases: 3, MaxCurrentMA: 32000, FallbackCurrentMA: int64(fb) * 1000})
		ch := sitetest.NewCharger(drivers.StateA)
		f.fs[id] = ch
		cfg.Points = append(cfg.Points, Point{ID: id, Controller: fmt.Sprintf("cc-%d", i), Meter: fmt.Sprintf("m-%d", i), FallbackA: fb, Failsafe: ch})
		specs = append(specs, site.Spec{ID: fmt.Sprintf("cc-%d", i), Interval: time.Second}, site.Spec{ID: fmt.Sprintf("m-%d", i), Interval: time.Second})
	}
	cfg.Site = ls
	if mod != nil {
		mod(&cfg)
	}
	f.state = site.New(specs)
	l, err := New(cfg, f.state, f.out, f.saf, f.clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.loop = l
	for i := 1; i <= 4; i++ {
		f.car(i, drivers.StateA)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	f.ctx = ctx
	return f
}

// car sets a point's controller state (and a fresh reading) at now.
func (f *fixture) car(i int, s drivers.ChargeState) {
	f.state.PutCharger(fmt.Sprintf("cc-%d", i), f.clk.Now(), drivers.ChargerStatus{State: s})
}

// refresh re-reads every controller and meter at now with their last
// values, as the poller would; the grid meter reads gridMA on every phase
// plus the points' metered load.
func (f *fixture) refresh(otherMA int64, gridAlive bool) {
	now := f.clk.Now()
	var ev [3]int64
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("cc-%d", i)
		r := f.state.Charger(id, now)
		if !r.At.IsZero() {
			// The read-back: what the charger holds is what was last
			// written to it successfully.
			v := r.Value
			if a, ok := f.out.held(fmt.Sprintf("cp-%d", i)); ok {
				v.Enabled, v.MaxCurrentA, v.OfferedA = a > 0, int(a), int(a)
			}
			f.state.PutCharger(id, now, v)
		}
		a := f.out.amps(fmt.Sprintf("cp-%d", i))
		if d, ok := f.draw[fmt.Sprintf("cp-%d", i)]; ok {
			a = d // the car draws this, whatever it is offered
		}
		c := [3]int64{a * 1000, a * 1000, a * 1000}
		f.state.PutMeter(fmt.Sprintf("m-%d", i), now, drivers.MeterSample{CurrentMA: c})
		for ph := range 3 {
			ev[ph] += c[ph]
		}
	}
	if gridAlive {
		f.state.PutMeter("gm", now, drivers.MeterSample{CurrentMA: [3]int64{otherMA + ev[0], otherMA + ev[1], otherMA + ev[2]}})
	}
}

// step advances the clock by d, refreshes the readings and runs one Step.
func (f *fixture) step(d time.Duration, otherMA int64, gridAlive bool) {
	f.clk.Advance(d)
	f.refresh(otherMA, gridAlive)
	f.loop.Step(f.ctx, f.clk.Now())
}

func TestFirstStepWritesZeroEverywhereThenServesCars(t *testing.T) {
	f := newFixture(t, nil)
	f.step(0, 0, true)
	if got, want := f.out.take(), []string{"cp-1=0", "cp-2=0", "cp-3=0", "cp-4=0"}; !slices.Equal(got, want) {
		t.Fatalf("first step wrote %v, want %v (0 A unless granted)", got, want)
	}
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateB)
	f.step(time.Second, 0, true)
	if got, want := f.out.take(), []string{"cp-1=31", "cp-2=31"}; !slices.Equal(got, want) {
		t.Errorf("two cars on 62 A: wrote %v, want %v", got, want)
	}
	st := f.loop.Status()
	if st.Grid == nil || st.Grid.Stale || st.Points[0].SetpointMA != 31000 || st.Points[2].Reason != "no car" {
		t.Errorf("status = %+v", st)
	}
	// Steady state: nothing to write.
	f.step(time.Second, 0, true)
	if got := f.out.take(); len(got) != 0 {
		t.Errorf("steady state wrote %v", got)
	}
	// The car leaves: cut at once.
	f.car(2, drivers.StateA)
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-2=0"}) {
		t.Errorf("car left: wrote %v", got)
	}
}

func TestCutsBeforeRaisesAndRamp(t *testing.T) {
	f := newFixture(t, nil)
	f.car(1, drivers.StateC)
	f.step(0, 0, true)
	f.out.take()
	if a := f.out.amps("cp-1"); a != 32 {
		t.Fatalf("cp-1 at %d A", a)
	}
	// A second car: cp-1 is cut to make room, and that cut is written first.
	f.car(2, drivers.StateC)
	var order []string
	f.out.mu.Lock()
	f.out.writes = nil
	f.out.mu.Unlock()
	f.step(time.Second, 0, true)
	f.out.mu.Lock()
	order = append(order, f.out.writes...)
	f.out.mu.Unlock()
	// cp-2 gets only what is free while cp-1 still counts at 32 A: the cut
	// frees its 1 A once a read-back confirms it.
	if !slices.Equal(order, []string{"cp-1=31", "cp-2=30"}) {
		t.Errorf("write order %v, want the cut of cp-1 before the raise of cp-2 to 30 A", order)
	}
	f.out.take()
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-2=31"}) {
		t.Errorf("after the cut was read back: %v, want cp-2=31", got)
	}
	// Other load appears, then leaves: cut at once, raise only after 10 s.
	f.step(time.Second, 20000, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=21", "cp-2=21"}) {
		t.Fatalf("other load 20 A: %v", got)
	}
	f.step(time.Second, 0, true)
	if got := f.out.take(); len(got) != 0 {
		t.Errorf("raised within 10 s of the last raise: %v", got)
	}
	if p, _ := f.loop.Point("cp-1"); p.Reason != "ramp" || p.TargetMA != 31000 {
		t.Errorf("cp-1 status %+v", p)
	}
	f.step(8*time.Second, 0, true) // 10 s after cp-2's first raise
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=31", "cp-2=31"}) {
		t.Errorf("after 10 s: %v", got)
	}
}

func TestEMSLimitTakesEffectAndExpires(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0; c.MaxTTL = 10 * time.Minute })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	f.step(0, 0, true)
	f.out.take()
	eff := f.loop.SetEMSLimit(EMSLimit{RequestID: "r1", MaxCurrentMA: &[3]int64{20000, 20000, 20000}, TTL: time.Minute}, f.clk.Now())
	if eff.RequestID != "r1" || !eff.Expires.Equal(t0.Add(time.Minute)) || eff.GridLimitMA != [3]int64{20000, 20000, 20000} || eff.GridLimitKind[0] != loadmgmt.LimitEMS {
		t.Fatalf("effective = %+v", eff)
	}
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=10", "cp-2=10"}) {
		t.Fatalf("under a 20 A EMS limit: %v", got)
	}
	if st := f.loop.Status(); st.EMS == nil || st.EMS.RequestID != "r1" || st.Limits[0].Kind[0] != loadmgmt.LimitEMS {
		t.Errorf("status EMS = %+v, limits %+v", st.EMS, st.Limits)
	}
	f.step(58*time.Second, 0, true) // t = 59 s: still in force
	if got := f.out.take(); len(got) != 0 {
		t.Errorf("before expiry: %v", got)
	}
	f.step(time.Second, 0, true) // t = 60 s: expired
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=31", "cp-2=31"}) {
		t.Errorf("after expiry: %v", got)
	}
	if st := f.loop.Status(); st.EMS != nil {
		t.Errorf("EMS still reported: %+v", st.EMS)
	}
	// TTL above the maximum is clamped; TTL 0 withdraws.
	w := int64(23000)
	eff = f.loop.SetEMSLimit(EMSLimit{MaxPowerW: &w, TTL: time.Hour}, f.clk.Now())
	if !eff.TTLClamped || !eff.Expires.Equal(f.clk.Now().Add(10*time.Minute)) || eff.GridTotalKind != loadmgmt.LimitEMS {
		t.Errorf("clamped: %+v", eff)
	}
	eff = f.loop.SetEMSLimit(EMSLimit{RequestID: "r3"}, f.clk.Now())
	if !eff.Expires.IsZero() || eff.GridLimitKind[0] == loadmgmt.LimitEMS {
		t.Errorf("withdrawn: %+v", eff)
	}
}

func TestGridMeterSilentFallsBackToSafeBudget(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	f.step(0, 0, true)
	f.out.take()
	// The meter answers for the last time at t0+1 s.
	f.step(time.Second, 0, true)
	for i := 1; i <= 3; i++ {
		f.step(time.Second, 0, false) // t0+2..4 s: reading 1..3 s old
		if got := f.out.take(); len(got) != 0 {
			t.Fatalf("%d s after the last reading: wrote %v", i, got)
		}
	}
	f.step(100*time.Millisecond, 0, false) // 3.1 s old: stale
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=10", "cp-2=10"}) {
		t.Fatalf("stale grid meter: wrote %v, want the 20 A safe budget shared", got)
	}
	st := f.loop.Status()
	if !st.Grid.Stale || st.Limits[0].Kind[0] != loadmgmt.LimitSafeBudget {
		t.Errorf("grid %+v, limit %+v", st.Grid, st.Limits[0])
	}
	// It answers again: full power again.
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=31", "cp-2=31"}) {
		t.Errorf("meter back: %v", got)
	}
}

func TestSafetyHoldMeansNoRaise(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	f.step(0, 0, true)
	f.out.take()
	f.saf.block("latch: fire-loop-open", "cp-1", "cp-2", "cp-3", "cp-4")
	f.out.current["cp-1"], f.out.current["cp-2"] = 0, 0 // safety cut them
	for range 5 {
		f.step(time.Second, 0, true)
		if got := f.out.take(); len(got) != 0 {
			t.Fatalf("wrote %v while safety holds every point", got)
		}
	}
	if p, _ := f.loop.Point("cp-1"); p.Reason != "safety: latch: fire-loop-open" || p.SetpointMA != 0 || p.Blocked == "" {
		t.Errorf("cp-1 = %+v", p)
	}
	// Released: the read-backs show what safety's cut left (0 A), so the
	// cars are raised again and the idle points, at 0 A already, are not
	// written.
	f.saf.block("", "cp-1", "cp-2", "cp-3", "cp-4")
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=31", "cp-2=31"}) {
		t.Errorf("after reset: %v", got)
	}
	f.step(time.Second, 0, true)
	if got := f.out.take(); len(got) != 0 {
		t.Errorf("second step after reset wrote %v", got)
	}
}

func TestThermalDerating(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.RaiseEvery = 0
		c.Site.Nodes[2].Derating = &loadmgmt.Derating{StartDeciC: 400, StopDeciC: 550}
	})
	f.car(1, drivers.StateC)
	f.saf.temps = []loadmgmt.Temperature{{Node: "c-1", DeciC: 475}} // half way: 31.5 A
	f.step(0, 0, true)
	if a := f.out.amps("cp-1"); a != 31 {
		t.Errorf("derated to %d A, want 31", a)
	}
}

func TestFailsafeConfiguredAndRetried(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FailsafeRetry = 10 * time.Second })
	f.fs["cp-2"].SetWriteErr(drivers.ErrTimeout)
	f.loop.ConfigureFailsafe(f.ctx, f.clk.Now())
	for id, ch := range f.fs {
		fb, wd := ch.FailsafeSet()
		want := 0
		if id == "cp-4" {
			want = 6
		}
		if id == "cp-2" {
			continue
		}
		if fb != want || wd != 15*time.Second {
			t.Errorf("%s failsafe = %d A / %s", id, fb, wd)
		}
	}
	f.fs["cp-2"].SetWriteErr(nil)
	f.clk.Advance(5 * time.Second)
	f.loop.ConfigureFailsafe(f.ctx, f.clk.Now())
	if len(f.fs["cp-2"].Writes()) != 0 {
		t.Error("retried before FailsafeRetry")
	}
	f.clk.Advance(5 * time.Second)
	f.loop.ConfigureFailsafe(f.ctx, f.clk.Now())
	if _, wd := f.fs["cp-2"].FailsafeSet(); wd != 15*time.Second {
		t.Error("cp-2 failsafe not retried")
	}
	n := len(f.fs["cp-1"].Writes())
	f.clk.Advance(time.Minute)
	f.loop.ConfigureFailsafe(f.ctx, f.clk.Now())
	if len(f.fs["cp-1"].Writes()) != n {
		t.Error("failsafe rewritten though it was taken")
	}
}

func TestUnreachableChargerIsReserved(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.car(4, drivers.StateC)
	f.step(0, 0, true)
	f.out.take()
	if a := f.out.amps("cp-4"); a != 31 {
		t.Fatalf("cp-4 at %d A", a)
	}
	// cp-4's controller stops answering: it may keep drawing 31 A.
	// Drop every reading but cp-1's and cp-2's.
	var specs []site.Spec
	for _, id := range []string{"gm", "cc-1", "m-1", "cc-2", "m-2", "cc-4", "m-4"} {
		specs = append(specs, site.Spec{ID: id, Interval: time.Second})
	}
	f.state = site.New(specs)
	f.loop.state = f.state
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	f.step(time.Second, 0, true)
	f.step(time.Second, 0, true) // cp-1's cut read back: cp-2 gets what it freed
	if a, b := f.out.amps("cp-1"), f.out.amps("cp-2"); a+b != 31 {
		t.Errorf("cp-1 at %d A, cp-2 at %d A; want 31 A together (62 − 31 reserved for cp-4)", a, b)
	}
	if p, _ := f.loop.Point("cp-4"); p.Reason != "controller not answering" {
		t.Errorf("cp-4 = %+v", p)
	}
	for _, w := range f.out.take() {
		if strings.HasPrefix(w, "cp-4=") {
			t.Errorf("wrote %s to a controller that does not answer", w)
		}
	}
	// It answers again, its car gone: it is written once more.
	f.car(4, drivers.StateA)
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Contains(got, "cp-4=0") {
		t.Errorf("controller back: wrote %v, want cp-4=0", got)
	}
}

func TestFailedWriteIsRetried(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0; c.RetryFailed = 5 * time.Second })
	f.car(1, drivers.StateC)
	f.out.fail["cp-1"] = errors.New("bus unavailable")
	f.step(0, 0, true)
	if p, _ := f.loop.Point("cp-1"); p.SetpointKnown || p.LastError == "" {
		t.Fatalf("cp-1 = %+v", p)
	}
	delete(f.out.fail, "cp-1")
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 0 {
		t.Errorf("raise retried after 1 s")
	}
	f.step(4*time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 32 {
		t.Errorf("cp-1 at %d A after the retry, want 32", a)
	}
}

func TestOnePhaseCarIsPlannedOnOnePhase(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.step(0, 0, true)
	f.step(time.Second, 0, true) // the read-back confirms 32 A
	f.state.PutMeter("m-1", f.clk.Now(), drivers.MeterSample{CurrentMA: [3]int64{16000, 0, 0}})
	f.loop.Step(f.ctx, f.clk.Now())
	for _, l := range f.loop.Status().Limits {
		if l.Node == "c-1" && (l.Load[0] == 0 || l.Load[1] != 0) {
			t.Errorf("c-1 planned load %v, want L1 only", l.Load)
		}
	}
}

func TestRunStepsEverySecond(t *testing.T) {
	f := newFixture(t, nil)
	steps := make(chan time.Time, 10)
	f.loop.OnStep = func(now time.Time, _ time.Duration) { steps <- now }
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	if err := f.clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		f.clk.Advance(time.Second)
		select {
		case at := <-steps:
			if !at.Equal(t0.Add(time.Duration(i) * time.Second)) {
				t.Errorf("step %d at %v", i, at)
			}
		case <-ctx.Done():
			t.Fatal("no step")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	if _, wd := f.fs["cp-1"].FailsafeSet(); wd != 15*time.Second {
		t.Error("Run did not configure the failsafe")
	}
}

// TestMinOffAfterAStopButNotAfterSafety: a point the plan stopped waits
// MinOff before it starts again; one that safety held starts at once when
// safety lets go.
func TestMinOffAfterAStopButNotAfterSafety(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0; c.MinOff = 3 * time.Minute })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	f.step(0, 0, true)
	f.out.take()
	// cp-1's car pauses (state A) and comes back a minute later.
	f.car(1, drivers.StateA)
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Contains(got, "cp-1=0") {
		t.Fatalf("car left: %v", got)
	}
	f.car(1, drivers.StateC)
	f.step(time.Minute, 0, true)
	if a := f.out.amps("cp-1"); a != 0 {
		t.Errorf("restarted %d A within MinOff", a)
	}
	if p, _ := f.loop.Point("cp-1"); p.Reason != string(loadmgmt.LimitMinOffTime) {
		t.Errorf("reason %q, want min-off", p.Reason)
	}
	f.step(2*time.Minute, 0, true)
	if a := f.out.amps("cp-1"); a < 6 {
		t.Errorf("not restarted after MinOff: %d A", a)
	}
	// cp-2 held by safety for a while: back at once.
	f.saf.block("spd: ud-1", "cp-2")
	f.out.current["cp-2"] = 0
	f.step(time.Second, 0, true)
	f.saf.block("", "cp-2")
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-2"); a < 6 {
		t.Errorf("cp-2 not restarted after safety let go: %d A", a)
	}
}

// TestFailedWriteCutIsRetriedAtOnceBeforeRaises: a reduction of a point
// whose last write failed is a cut all the same. Stabilize has handed the
// current it frees to others, so it is tried every step, not after
// RetryFailed, and written before the raises.
func TestFailedWriteCutIsRetriedAtOnceBeforeRaises(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0; c.RetryFailed = 5 * time.Second })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	f.step(0, 0, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=31", "cp-2=31", "cp-3=0", "cp-4=0"}) {
		t.Fatalf("two cars: %v", got)
	}
	// A third car: cp-1 is to go down, but its write fails.
	f.out.fail["cp-1"] = errors.New("bus unavailable")
	f.car(3, drivers.StateC)
	f.step(time.Second, 0, true)
	f.out.take()
	if p, _ := f.loop.Point("cp-1"); p.SetpointKnown {
		t.Fatalf("cp-1 = %+v", p)
	}
	// Still failing: tried again the next step.
	f.out.mu.Lock()
	f.out.tries = nil
	f.out.mu.Unlock()
	f.step(time.Second, 0, true)
	f.out.mu.Lock()
	tries := slices.Clone(f.out.tries)
	f.out.mu.Unlock()
	if !slices.ContainsFunc(tries, func(s string) bool { return strings.HasPrefix(s, "cp-1=") }) {
		t.Errorf("cut of cp-1 not retried within RetryFailed: tried %v", tries)
	}
	// The bus is back and a fourth car arrives: cp-1's cut goes with the
	// cuts; cp-4 is raised once the read-backs confirm the current freed.
	delete(f.out.fail, "cp-1")
	f.car(4, drivers.StateC)
	f.out.take()
	f.out.mu.Lock()
	f.out.writes = nil
	f.out.mu.Unlock()
	f.step(time.Second, 0, true)
	f.out.mu.Lock()
	order := slices.Clone(f.out.writes)
	f.out.mu.Unlock()
	i1 := slices.IndexFunc(order, func(s string) bool { return strings.HasPrefix(s, "cp-1=") })
	if i1 < 0 {
		t.Errorf("write order %v: want cp-1's cut", order)
	}
	if a := f.out.amps("cp-1"); a > 16 {
		t.Errorf("cp-1 at %d A with four cars on 62 A", a)
	}
	if sum, each := f.drawnA(); sum > 62 {
		t.Errorf("chargers hold %v A = %d A on 62 A", each, sum)
	}
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-4"); a < 6 {
		t.Errorf("cp-4 at %d A after the cuts were read back", a)
	}
	if sum, each := f.drawnA(); sum > 62 {
		t.Errorf("chargers hold %v A = %d A on 62 A", each, sum)
	}
}

// TestUnknownSetpointBelowOfferedIsACut: a charger whose setpoint is not
// known but which offers more than the plan grants is cut, not raised.
func TestUnknownSetpointBelowOfferedIsACut(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.out.fail["cp-1"] = errors.New("bus unavailable")
	f.car(1, drivers.StateC)
	f.step(0, 0, true) // cp-1's first write fails: nothing known
	f.out.take()
	delete(f.out.fail, "cp-1")
	// cp-1 offers 32 A on its own; a second car halves the share.
	f.state.PutCharger("cc-1", f.clk.Now(), drivers.ChargerStatus{State: drivers.StateC, OfferedA: 32})
	f.car(2, drivers.StateC)
	f.out.mu.Lock()
	f.out.writes = nil
	f.out.mu.Unlock()
	f.step(time.Second, 0, true)
	f.out.mu.Lock()
	order := slices.Clone(f.out.writes)
	f.out.mu.Unlock()
	if len(order) < 2 || !strings.HasPrefix(order[0], "cp-1=") {
		t.Errorf("write order %v: want cp-1 (offering 32 A) cut first", order)
	}
}
