package safety

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSPDStopsItsDistributionOnly(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.setAll(16); err != nil {
		t.Fatal(err)
	}
	f.open(spd1)
	f.check()
	got := f.currents()
	want := map[string]string{"cp-1": "0A/false", "cp-2": "0A/false", "cp-3": "0A/false", "cp-4": "16A/true"}
	for id := range want {
		if got[id] != want[id] {
			t.Errorf("%s: %s, want %s", id, got[id], want[id])
		}
	}
	if f.w.Latched() {
		t.Error("an SPD trip set the fire latch")
	}
	if err := f.w.SetCurrentMA(f.ctx, "cp-1", 10000); !errors.Is(err, ErrBlocked) {
		t.Errorf("raise below tripped SPD: %v", err)
	}
	if err := f.w.SetCurrentMA(f.ctx, "cp-4", 10000); err != nil {
		t.Errorf("raise elsewhere: %v", err)
	}
	if st := f.w.Status(); !slices.Equal(st.SPDTripped, []string{"ud-1"}) {
		t.Errorf("SPDTripped = %v", st.SPDTripped)
	}
	f.contacts(healthy)
	f.check()
	if r := f.w.Blocked("cp-1"); r != "" {
		t.Errorf("cp-1 still blocked by %q", r)
	}
	k := f.kinds()
	if !slices.Contains(k, EventSPDTripped) || !slices.Contains(k, EventSPDCleared) {
		t.Errorf("events = %v", k)
	}
}

func TestTemperatureStopAndHysteresis(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.setAll(16); err != nil {
		t.Fatal(err)
	}
	f.state.PutTemperature("t1", f.clk.Now(), 420)
	f.state.PutTemperature("t2", f.clk.Now(), 300)
	f.check()
	if temps := f.w.Temperatures(); len(temps) != 1 || temps[0].Node != "c-2" || temps[0].DeciC != 420 {
		t.Errorf("Temperatures = %+v", temps)
	}
	f.state.PutTemperature("t2", f.clk.Now(), 551)
	f.check()
	if a, on := f.chargers["cp-3"].Current(); a != 0 || on {
		t.Errorf("cp-3 at %d A over temperature", a)
	}
	if a, _ := f.chargers["cp-1"].Current(); a != 16 {
		t.Errorf("cp-1 (another circuit) cut: %d A", a)
	}
	f.state.PutTemperature("t2", f.clk.Now(), 510) // above stop − hysteresis
	f.check()
	if f.w.Blocked("cp-3") == "" {
		t.Error("released within the hysteresis")
	}
	f.state.PutTemperature("t2", f.clk.Now(), 499)
	f.check()
	if r := f.w.Blocked("cp-3"); r != "" {
		t.Errorf("still blocked: %s", r)
	}
	// Sensors going stale: no fresh temperature, an event after the start
	// grace; the derating keeps the last reading (TestDeadSensorKeepsItsDerating).
	f.clk.Advance(2 * time.Minute)
	f.contacts(healthy)
	f.check()
	if st := f.w.Status(); !slices.Equal(st.NoSensor, []string{"c-2"}) || len(f.w.Temperatures()) != 1 {
		t.Errorf("status = %+v", st)
	}
	if !slices.Contains(f.kinds(), EventSensorOffline) {
		t.Errorf("events = %v", f.kinds())
	}
}
