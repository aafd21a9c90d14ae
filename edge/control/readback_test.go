package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// drawnA is what the four points of the fixture hold, in A: what was last
// written to them successfully (a failed write leaves the charger where it
// was).
func (f *fixture) drawnA() (sum int64, each [4]int64) {
	for i := range each {
		each[i] = f.out.amps("cp-" + string(rune('1'+i)))
		sum += each[i]
	}
	return sum, each
}

// TestFailedCutBlocksRaises: a charger whose reduction does not land (its
// writes fail, its reads work) still draws what it held. It counts at that
// current against the fuse until a read-back confirms the cut, so the
// others are not raised into the current it was meant to free.
func TestFailedCutBlocksRaises(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.step(0, 0, true)
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 32 {
		t.Fatalf("cp-1 alone at %d A, want 32", a)
	}
	f.out.fail["cp-1"] = errors.New("modbus exception 4 (server device failure)")
	f.car(2, drivers.StateC)
	f.car(3, drivers.StateC)
	for i := range 5 {
		f.step(time.Second, 0, true)
		if sum, each := f.drawnA(); sum > 62 {
			t.Fatalf("step %d: chargers hold %v A = %d A on the 62 A fuse (cp-1's cut failed)", i, each, sum)
		}
	}
	if p, _ := f.loop.Point("cp-1"); p.SetpointKnown {
		t.Errorf("cp-1 reported as known: %+v", p)
	}
	// The cut lands and is read back: the others get the current it frees.
	delete(f.out.fail, "cp-1")
	for range 3 {
		f.step(time.Second, 0, true)
	}
	sum, each := f.drawnA()
	if sum > 62 || each[1] < 18 || each[2] < 18 || each[0] > 22 {
		t.Errorf("after the cut landed: %v A (sum %d), want about 20 A each", each, sum)
	}
}

// TestFailedCutCountsAgainstSafeBudget: with the grid meter stale the site
// runs on the safe budget; a charger whose cut fails counts at what it
// holds against that budget too.
func TestFailedCutCountsAgainstSafeBudget(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.step(0, 0, true)
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 32 {
		t.Fatalf("cp-1 alone at %d A, want 32", a)
	}
	// The grid meter goes silent (safe budget 20 A) and cp-1 stops taking
	// writes: it keeps its 32 A, over the budget already.
	f.out.fail["cp-1"] = errors.New("modbus exception 4 (server device failure)")
	f.car(2, drivers.StateC)
	for range 6 {
		f.step(time.Second, 0, false)
	}
	if st := f.loop.Status(); st.Grid == nil || !st.Grid.Stale {
		t.Fatalf("grid meter not stale: %+v", st.Grid)
	}
	if a := f.out.amps("cp-2"); a != 0 {
		t.Errorf("cp-2 raised to %d A while cp-1 holds 32 A against a 20 A safe budget", a)
	}
}

// TestSilentChargerDoesNotStopTheSite: a charger that stops answering is
// reserved at what it may still draw, once; the fallback currents of the
// site's points are a start-up check, not a second reserve, so the other
// chargers keep charging (the allocation used to fail, putting everyone at
// 0 A).
func TestSilentChargerDoesNotStopTheSite(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.RaiseEvery = 0
		for i := range c.Site.Points { // 4 × 15 A fallback = 60 A on the 62 A circuit
			c.Site.Points[i].FallbackCurrentMA = 15000
			c.Points[i].FallbackA = 15
		}
	})
	f.car(1, drivers.StateC)
	f.step(0, 0, true)
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 32 {
		t.Fatalf("cp-1 alone at %d A, want 32", a)
	}
	// cp-1's controller goes silent (no more readings); two more cars come.
	f.car(2, drivers.StateC)
	f.car(3, drivers.StateC)
	f.clk.Advance(5 * time.Second)
	now := f.clk.Now()
	for _, i := range []int{2, 3, 4} {
		id := "cc-" + string(rune('0'+i))
		r := f.state.Charger(id, now)
		f.state.PutCharger(id, now, r.Value)
	}
	f.state.PutMeter("m-1", now, drivers.MeterSample{CurrentMA: [3]int64{32000, 32000, 32000}}) // its meter still answers
	f.state.PutMeter("gm", now, drivers.MeterSample{CurrentMA: [3]int64{32000, 32000, 32000}})
	f.loop.Step(f.ctx, now)
	if p, _ := f.loop.Point("cp-1"); !p.ControllerStale {
		t.Fatalf("cp-1 not stale: %+v", p)
	}
	a2, a3 := f.out.amps("cp-2"), f.out.amps("cp-3")
	if a2+a3 != 30 || a2 < 6 || a3 < 6 {
		t.Errorf("cp-2 %d A, cp-3 %d A; want 30 A between them (62 A − 32 A reserved for the silent cp-1)", a2, a3)
	}
	if err := f.loop.Status(); err.Points[1].Reason == "invalid" {
		t.Errorf("allocation failed: %+v", err.Points[1])
	}
}

// TestRebootedChargerIsCutBack: a controller that restarts comes back at
// its power-on defaults (enabled, 16 A here). The read-back shows more than
// the loop commanded: it counts at 16 A and is cut back at once.
func TestRebootedChargerIsCutBack(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	for i := 1; i <= 4; i++ {
		f.car(i, drivers.StateC)
	}
	const other = 20000 // 20 A of other load: 42 A for four cars
	for range 3 {
		f.step(time.Second, other, true)
	}
	sum, each := f.drawnA()
	if sum != 42 || each[0] > 11 {
		t.Fatalf("four cars: %v A", each)
	}
	was := each[0]
	f.out.mu.Lock()
	f.out.current["cp-1"] = 16000 // back from a reboot at its power-on 16 A
	f.out.mu.Unlock()
	f.out.take()
	f.step(time.Second, other, true)
	if p, _ := f.loop.Point("cp-1"); !p.Unconfirmed || p.HeldMA != 16000 {
		t.Errorf("cp-1 after reboot: %+v, want unconfirmed holding 16 A", p)
	}
	// cp-1 draws 16 A until its cut is read back: the others make room.
	if got := f.out.take(); !slices.Contains(got, fmt.Sprintf("cp-1=%d", was)) {
		t.Errorf("after the reboot wrote %v, want cp-1=%d (cut back)", got, was)
	}
	if sum, each := f.drawnA(); sum > 42 {
		t.Errorf("after the reboot: %v A = %d A on 42 A", each, sum)
	}
	f.step(time.Second, other, true)
	f.step(time.Second, other, true)
	if sum, each := f.drawnA(); sum != 42 {
		t.Errorf("once read back: %v A = %d A, want the 42 A used again", each, sum)
	}
	if p, _ := f.loop.Point("cp-1"); p.Unconfirmed || !p.SetpointKnown || p.HeldMA != was*1000 {
		t.Errorf("cp-1 once read back: %+v", p)
	}
}

// TestChargerDrawingMoreThanOffered: a point whose meter shows more than
// its charger offers (a controller ignoring its setpoint, a welded
// contactor) counts at its metered current, and after 10 s is paused.
func TestChargerDrawingMoreThanOffered(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	for range 3 {
		f.step(time.Second, 0, true)
	}
	if a := f.out.amps("cp-1"); a != 31 {
		t.Fatalf("cp-1 at %d A", a)
	}
	// A third car: cp-1 is cut to 21 A but its car keeps drawing 31 A.
	f.draw["cp-1"] = 31
	f.car(3, drivers.StateC)
	for i := range 12 {
		f.step(time.Second, 0, true)
		if sum := 31 + f.out.amps("cp-2") + f.out.amps("cp-3"); sum > 62 {
			t.Fatalf("step %d: %d A on 62 A with cp-1 drawing 31 A", i, sum)
		}
	}
	p, _ := f.loop.Point("cp-1")
	if !p.Unconfirmed || p.SetpointMA != 0 || p.Reason != "draws more than offered: paused" {
		t.Errorf("cp-1 = %+v, want paused for drawing more than offered", p)
	}
}

// TestHeadroomDuringMinOff: a car that stopped waits out min_off; the cars
// that run meanwhile get its share instead of leaving it unused.
func TestHeadroomDuringMinOff(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0; c.MinOff = 3 * time.Minute })
	for i := 1; i <= 4; i++ {
		f.car(i, drivers.StateC)
	}
	for range 3 {
		f.step(time.Second, 0, true)
	}
	if sum, each := f.drawnA(); sum != 62 {
		t.Fatalf("four cars: %v A", each)
	}
	// cp-4's car pauses (state A) and is back 10 s later: it must wait out
	// its minimum off time.
	f.car(4, drivers.StateA)
	f.step(time.Second, 0, true)
	f.clk.Advance(10 * time.Second)
	f.car(4, drivers.StateC)
	for range 3 {
		f.step(time.Second, 0, true)
	}
	sum, each := f.drawnA()
	if each[3] != 0 {
		t.Fatalf("cp-4 at %d A within its minimum off time", each[3])
	}
	if sum < 60 {
		t.Errorf("during cp-4's min-off the others hold %v A = %d A of 62 A", each, sum)
	}
	if p, _ := f.loop.Point("cp-4"); p.Reason != string(loadmgmt.LimitMinOffTime) {
		t.Errorf("cp-4 reason %q", p.Reason)
	}
	// After min_off it gets its share again.
	f.clk.Advance(3 * time.Minute)
	for range 3 {
		f.step(time.Second, 0, true)
	}
	if _, each := f.drawnA(); each[3] < 6 {
		t.Errorf("after min-off: %v A", each)
	}
}

// heldOutputs is outputs whose writes to some points block until released.
type heldOutputs struct {
	*outputs
	hold  map[string]chan struct{}
	wrote chan string
}

func (h *heldOutputs) SetCurrentMA(ctx context.Context, point string, mA int64) error {
	if g := h.hold[point]; g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := h.outputs.SetCurrentMA(ctx, point, mA)
	h.wrote <- point
	return err
}

// TestSlowBusDoesNotDelayCutsOnAnother: writes queue per bus, so a bus
// whose writes hang (a dead unit, a slow RTU line) never holds back the
// cuts on another bus.
func TestSlowBusDoesNotDelayCutsOnAnother(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.MaxParallel = 1
		c.WriteTimeout = time.Minute
		c.Points[0].Bus, c.Points[1].Bus = "rs485-a", "rs485-a"
		c.Points[2].Bus, c.Points[3].Bus = "lan-b", "lan-b"
	})
	release := make(chan struct{})
	h := &heldOutputs{outputs: f.out, hold: map[string]chan struct{}{"cp-1": release, "cp-2": release}, wrote: make(chan string, 10)}
	f.loop.out = h
	done := make(chan struct{})
	go func() { f.step(0, 0, true); close(done) }() // first step: every point to 0 A
	got := map[string]bool{}
	for !got["cp-3"] || !got["cp-4"] {
		select {
		case p := <-h.wrote:
			got[p] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("cuts on lan-b never written while rs485-a hangs (written: %v)", got)
		}
	}
	close(release)
	<-done
}
