package control

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

// twoCars: cp-1 and cp-2 charging at 31 A each on the fixture's 62 A,
// every write taken.
func twoCars(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	f.step(0, 0, true)
	f.step(time.Second, 0, true)
	f.out.take()
	if a, b := f.out.amps("cp-1"), f.out.amps("cp-2"); a != 31 || b != 31 {
		t.Fatalf("start: cp-1 %d A, cp-2 %d A, want 31 each", a, b)
	}
	return f
}

func TestPointLimitLowersARunningCarWithinOneStep(t *testing.T) {
	f := twoCars(t)
	if err := f.loop.SetPointLimit("cp-1", "ocpp", 10500, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Contains(got, "cp-1=10") {
		t.Fatalf("after a 10.5 A limit: wrote %v, want cp-1=10 (whole amperes, rounded down)", got)
	}
	p, _ := f.loop.Point("cp-1")
	if p.Reason != "point limit ocpp: 10 A" || p.TargetMA != 10000 {
		t.Errorf("cp-1 status: reason %q target %d", p.Reason, p.TargetMA)
	}
	// The room it leaves goes to cp-2 (a raise, after the cut is confirmed).
	f.step(time.Second, 0, true)
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-2"); a != 32 {
		t.Errorf("cp-2 at %d A, want its charger's 32 A", a)
	}
	if ma, src, ok := f.loop.PointLimit("cp-1", f.clk.Now()); !ok || ma != 10500 || src != "ocpp" {
		t.Errorf("PointLimit = %d %q %v", ma, src, ok)
	}
}

func TestPointLimitZeroStopsAndLeavesTheDemands(t *testing.T) {
	f := twoCars(t)
	if err := f.loop.SetPointLimit("cp-1", "session", 0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.step(time.Second, 0, true)
	if got := f.out.take(); !slices.Equal(got, []string{"cp-1=0"}) {
		t.Fatalf("after a 0 A limit: wrote %v, want cp-1=0 alone (cut at once)", got)
	}
	p, _ := f.loop.Point("cp-1")
	if p.Reason != "point limit session: 0 A" || p.TargetMA != 0 {
		t.Errorf("cp-1 status: reason %q target %d", p.Reason, p.TargetMA)
	}
	// Not a car wanting current: the site is not scarce, and cp-2 gets the
	// whole charger once the cut is read back.
	f.step(time.Second, 0, true)
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-2"); a != 32 {
		t.Errorf("cp-2 at %d A, want 32", a)
	}
	// Below the minimum current is no current either.
	if err := f.loop.SetPointLimit("cp-2", "access", 5999, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-2"); a != 0 {
		t.Errorf("cp-2 under a 5.999 A limit at %d A, want 0", a)
	}
	if p, _ := f.loop.Point("cp-2"); p.Reason != "point limit access: 0 A" {
		t.Errorf("cp-2 reason %q", p.Reason)
	}
	if st := f.loop.Status(); st.Scarce || st.Charging != 0 {
		t.Errorf("status: scarce %v, charging %d", st.Scarce, st.Charging)
	}
}

func TestPointLimitExpiryRestores(t *testing.T) {
	f := twoCars(t)
	until := f.clk.Now().Add(10 * time.Second)
	if err := f.loop.SetPointLimit("cp-1", "ocpp", 16000, until); err != nil {
		t.Fatal(err)
	}
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 16 {
		t.Fatalf("cp-1 at %d A under a 16 A limit", a)
	}
	f.step(8*time.Second, 0, true) // 9 s: still in force
	if a := f.out.amps("cp-1"); a != 16 {
		t.Fatalf("cp-1 at %d A before expiry", a)
	}
	f.step(time.Second, 0, true) // 10 s: expired
	f.step(time.Second, 0, true)
	if a, b := f.out.amps("cp-1"), f.out.amps("cp-2"); a != 31 || b != 31 {
		t.Errorf("after expiry: cp-1 %d A, cp-2 %d A, want 31 each", a, b)
	}
	if _, _, ok := f.loop.PointLimit("cp-1", f.clk.Now()); ok {
		t.Error("an expired limit is still reported")
	}
	if p, _ := f.loop.Point("cp-1"); p.Reason == "point limit ocpp: 16 A" {
		t.Errorf("reason after expiry: %q", p.Reason)
	}
}

func TestPointLimitLowestSourceWins(t *testing.T) {
	f := twoCars(t)
	now := f.clk.Now()
	for _, l := range []struct {
		src string
		ma  int64
	}{{"session", 20000}, {"ocpp", 12000}, {"access", 25000}} {
		if err := f.loop.SetPointLimit("cp-1", l.src, l.ma, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if ma, src, ok := f.loop.PointLimit("cp-1", now); !ok || ma != 12000 || src != "ocpp" {
		t.Fatalf("PointLimit = %d %q %v, want 12000 from ocpp", ma, src, ok)
	}
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 12 {
		t.Errorf("cp-1 at %d A, want the lower limit's 12", a)
	}
	if err := f.loop.ClearPointLimit("cp-1", "ocpp"); err != nil {
		t.Fatal(err)
	}
	if ma, src, _ := f.loop.PointLimit("cp-1", now); ma != 20000 || src != "session" {
		t.Errorf("after clearing ocpp: %d from %q, want 20000 from session", ma, src)
	}
	// Clearing a source that set nothing is no error.
	if err := f.loop.ClearPointLimit("cp-1", "nobody"); err != nil {
		t.Errorf("clear of an absent source: %v", err)
	}
}

func TestPointLimitNeverRaisesAboveAFuse(t *testing.T) {
	f := twoCars(t)
	// 40 A on a point whose share of the 62 A circuit is 31 A and whose
	// charger takes 32 A: the limit changes nothing.
	if err := f.loop.SetPointLimit("cp-1", "ocpp", 40000, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.step(time.Second, 0, true)
	if got := f.out.take(); len(got) != 0 {
		t.Errorf("a limit above the fuse share wrote %v", got)
	}
	if p, _ := f.loop.Point("cp-1"); p.SetpointMA != 31000 || p.Reason == "point limit ocpp: 40 A" {
		t.Errorf("cp-1: setpoint %d reason %q", p.SetpointMA, p.Reason)
	}
	// Other load takes 30 A of the grid: the fuse binds, not the limit.
	f.step(time.Second, 30000, true)
	if a, b := f.out.amps("cp-1"), f.out.amps("cp-2"); a+b > 32 {
		t.Errorf("with 30 A other load: %d + %d A on 62 A", a, b)
	}
	// A limit never outlasts safety: a held point stays at 0.
	f.saf.block("latch: fire-loop-open", "cp-2")
	if err := f.loop.SetPointLimit("cp-2", "session", 32000, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.step(time.Second, 0, true)
	if p, _ := f.loop.Point("cp-2"); p.SetpointMA != 0 || p.Blocked == "" {
		t.Errorf("held cp-2: %+v", p)
	}
}

func TestPointLimitErrors(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.loop.SetPointLimit("cp-9", "ocpp", 0, time.Time{}); !errors.Is(err, ErrUnknownPoint) {
		t.Errorf("unknown point: %v", err)
	}
	if err := f.loop.ClearPointLimit("cp-9", "ocpp"); !errors.Is(err, ErrUnknownPoint) {
		t.Errorf("clear on an unknown point: %v", err)
	}
	if _, _, ok := f.loop.PointLimit("cp-9", t0); ok {
		t.Error("an unknown point has a limit")
	}
	if err := f.loop.SetPointLimit("cp-1", "", 10000, time.Time{}); !errors.Is(err, ErrBadPointLimit) {
		t.Errorf("no source: %v", err)
	}
	if err := f.loop.SetPointLimit("cp-1", "ocpp", -1, time.Time{}); !errors.Is(err, ErrBadPointLimit) {
		t.Errorf("negative: %v", err)
	}
}

// TestPointLimitCopyOnWrite: a step reads the limits without the lock while
// they are set and cleared from other goroutines (run with -race).
func TestPointLimitCopyOnWrite(t *testing.T) {
	f := twoCars(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			_ = f.loop.SetPointLimit("cp-1", "ocpp", int64(6000+i*100), time.Time{})
			_ = f.loop.ClearPointLimit("cp-1", "ocpp")
		}
	}()
	for range 20 {
		f.step(time.Second, 0, true)
	}
	<-done
}

func TestEffectivePointLimitTieAndExpiry(t *testing.T) {
	m := pointLimits{"p": {
		"b":   {maxMA: 10000},
		"a":   {maxMA: 10000},
		"old": {maxMA: 1000, until: t0},
	}}
	if ma, src, ok := m.effective("p", t0); !ok || ma != 10000 || src != "a" {
		t.Errorf("effective = %d %q %v, want 10000 from a (ties by name; old expired at t0)", ma, src, ok)
	}
	if ma, src, _ := m.effective("p", t0.Add(-time.Nanosecond)); ma != 1000 || src != "old" {
		t.Errorf("before expiry: %d %q", ma, src)
	}
	pruned := m.withExpiredDropped(t0)
	if _, ok := pruned["p"]["old"]; ok || len(pruned["p"]) != 2 {
		t.Errorf("pruned = %v", pruned)
	}
	if _, ok := m["p"]["old"]; !ok {
		t.Error("pruning changed the map a step may be reading")
	}
}

// TestCapBelowTheMinimumIsZero: a limit below the point's minimum current,
// as loadmgmt takes it (at least 6 A, whole amperes rounded up), is 0.
func TestCapBelowTheMinimumIsZero(t *testing.T) {
	tests := []struct {
		minMA, limitMA, want int64
	}{
		{0, 5999, 0},
		{0, 6000, 6000},
		{0, 10500, 10500},
		{6500, 6999, 0}, // the point's minimum is 7 A
		{6500, 7000, 7000},
		{8000, 7999, 0},
	}
	for _, tt := range tests {
		p := &pointState{Point: Point{ID: "p"}}
		p.static.MinCurrentMA = tt.minMA
		c, ok := capFor(pointLimits{"p": {"ocpp": {maxMA: tt.limitMA}}}, p, t0)
		if !ok || c.maxMA != tt.want || c.source != "ocpp" {
			t.Errorf("min %d mA, limit %d mA: cap %+v %v, want %d mA", tt.minMA, tt.limitMA, c, ok, tt.want)
		}
	}
	if _, ok := capFor(pointLimits{}, &pointState{Point: Point{ID: "p"}}, t0); ok {
		t.Error("a cap without a limit")
	}
}
