package control

import (
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

// TestOtherLoadFromAGridReadingOlderThanARaise: the grid meter was read
// before a charger was raised and the charger's own meter after, so the
// grid reading holds less of its current than its meter says. The other
// load must not come out lower by the raise (issue 14: a phase at its limit
// went 0.88 A over because of meters read at different moments).
func TestOtherLoadFromAGridReadingOlderThanARaise(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.step(0, 30000, true)
	f.car(1, drivers.StateC)
	f.step(time.Second, 30000, true) // grid read (30 A other, cp-1 at 0), then cp-1 raised
	if a := f.out.amps("cp-1"); a != 32 {
		t.Fatalf("cp-1 at %d A, want 32 (62 A less 30 A other load)", a)
	}
	// Half a second later: cp-1's controller and meter are read again (32
	// A), the grid meter not yet: its reading is from before the raise.
	f.clk.Advance(500 * time.Millisecond)
	now := f.clk.Now()
	f.state.PutCharger("cc-1", now, drivers.ChargerStatus{State: drivers.StateC, Enabled: true, MaxCurrentA: 32, OfferedA: 32})
	f.state.PutMeter("m-1", now, drivers.MeterSample{CurrentMA: [3]int64{32000, 32000, 32000}})
	f.state.PutCharger("cc-2", now, drivers.ChargerStatus{State: drivers.StateC})
	f.loop.Step(f.ctx, now)
	if a, b := f.out.amps("cp-1"), f.out.amps("cp-2"); a+b > 32 {
		t.Errorf("cp-1 %d A + cp-2 %d A with 30 A other load on 62 A: the other load was taken as %v",
			a, b, f.loop.Status().Grid.OtherLoadMA)
	}
	if got := f.loop.Status().Grid.OtherLoadMA; got != [3]int64{30000, 30000, 30000} {
		t.Errorf("other load %v, want 30 A on every phase", got)
	}
}
