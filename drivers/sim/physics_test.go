package sim

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// quietSite has no noise, no random cars and three points with the three
// rotations.
const quietSite = `
listen: 127.0.0.1:0
api: "off"
start: ` + fixedStart + `
seed: 7
voltage: {noise_v: -1}
grid: {unit: 1, base_load_w: [1000, 2000, 3000]}
di: {unit: 2}
chargers: {max_current_a: 32}
sub_distributions:
  - name: ud1
    meter: {unit: 3}
    temperature: {unit: 4}
    points:
      - {name: p, count: 3, unit: 11, meter_unit: 21, rotation: cycle}
`

func TestEnergyIntegratesExactly(t *testing.T) {
	s := newSim(t, quietSite)
	if err := s.PlugCar("p1", Car{Phases: 3, MaxA: 16, SocPct: 20, BatteryWh: 60000}); err != nil {
		t.Fatal(err)
	}
	// 3 × 230 V × 16 A = 11040 W for one hour, cut into uneven steps.
	var total time.Duration
	for _, d := range []time.Duration{333 * time.Millisecond, 17 * time.Minute, 1500 * time.Millisecond} {
		s.Step(d)
		total += d
	}
	s.Step(time.Hour - total)
	p := pointState(t, s, "p1")
	if p.PowerW != 11040 {
		t.Fatalf("power %d W, want 11040", p.PowerW)
	}
	if p.EnergyWh != 11040 {
		t.Errorf("energy after 1 h: %d Wh, want 11040", p.EnergyWh)
	}
	// The battery got the same energy: 12000 + 11040 Wh of 60000.
	if got, want := p.Car.SocPct, 100*float64(12000+11040)/60000; math.Abs(got-want) > 0.01 {
		t.Errorf("SoC %.2f %%, want %.2f %%", got, want)
	}
	s.mu.Lock()
	mJ := s.points[0].energy.mJ
	s.mu.Unlock()
	if mJ != 11040*3_600_000 {
		t.Errorf("counter %d mWs, want exactly %d", mJ, 11040*3_600_000)
	}
}

func TestStepChunkingDoesNotChangeTheOutcome(t *testing.T) {
	const yml = `
api: "off"
start: ` + fixedStart + `
seed: 42
grid: {unit: 1, base_load_w: [500, 500, 500]}
cars: {arrivals_per_hour: 2, connected_at_start: 0.5}
sub_distributions:
  - name: ud1
    meter: {unit: 3}
    points: [{name: p, count: 20, unit: 11, meter_unit: 41, rotation: cycle}]
`
	a, b := newSim(t, yml), newSim(t, yml)
	a.Step(2 * time.Hour)
	for range 7200 / 4 {
		b.Step(1500 * time.Millisecond)
		b.Step(2500 * time.Millisecond)
	}
	sa, sb := a.State(), b.State()
	if diff := cmp.Diff(sa.Points, sb.Points); diff != "" {
		t.Errorf("one 2 h step vs many small ones (-one +many):\n%s", diff)
	}
	if sa.Grid.ImportWh != sb.Grid.ImportWh || sa.Grid.ImportWh == 0 {
		t.Errorf("grid import %d vs %d Wh", sa.Grid.ImportWh, sb.Grid.ImportWh)
	}
	arrived := 0
	for _, p := range sa.Points {
		if p.EnergyWh > 0 {
			arrived++
		}
	}
	if arrived < 5 {
		t.Errorf("only %d of 20 points charged in 2 h with 2 arrivals/h", arrived)
	}
}

func TestGridMeterIsBasePlusChargersWithRotation(t *testing.T) {
	s := newSim(t, quietSite)
	// p1 L1L2L3: 1-phase 16 A → grid L1.
	// p2 L2L3L1: 1-phase 32 A → charger L1 is grid L2.
	// p3 L3L1L2: 3-phase 16 A → all grid phases.
	for _, c := range []struct {
		point string
		car   Car
	}{
		{"p1", Car{Phases: 1, MaxA: 16}},
		{"p2", Car{Phases: 1, MaxA: 32}},
		{"p3", Car{Phases: 3, MaxA: 16}},
	} {
		if err := s.PlugCar(c.point, c.car); err != nil {
			t.Fatal(err)
		}
	}
	s.Step(time.Hour)
	st := s.State()
	wantA := [3]float64{1000.0/230 + 16 + 16, 2000.0/230 + 32 + 16, 3000.0/230 + 16}
	wantW := [3]float64{1000 + 230*32, 2000 + 230*48, 3000 + 230*16}
	for g := range 3 {
		if math.Abs(st.Grid.CurrentA[g]-wantA[g]) > 0.001 {
			t.Errorf("grid L%d current %.3f A, want %.3f", g+1, st.Grid.CurrentA[g], wantA[g])
		}
		if math.Abs(st.Grid.PowerW[g]-wantW[g]) > 0.05 {
			t.Errorf("grid L%d power %.1f W, want %.1f", g+1, st.Grid.PowerW[g], wantW[g])
		}
	}
	if want := int64(6000 + 230*(16+32+48)); st.Grid.ImportWh != want {
		t.Errorf("grid energy after 1 h %d Wh, want %d", st.Grid.ImportWh, want)
	}
	sub := st.Subs[0].Meter
	for g, want := range [3]float64{32, 48, 16} {
		if math.Abs(sub.CurrentA[g]-want) > 0.001 {
			t.Errorf("sub-meter L%d %.3f A, want %.3f", g+1, sub.CurrentA[g], want)
		}
	}
	if want := int64(230 * (16 + 32 + 48)); sub.ImportWh != want {
		t.Errorf("sub-meter energy %d Wh, want %d", sub.ImportWh, want)
	}
	// The grid meter's registers say the same.
	if st.Grid.TotalPowerW != 6000+230*96 {
		t.Errorf("total power %.0f W", st.Grid.TotalPowerW)
	}
}

func TestTaperNearFull(t *testing.T) {
	s := newSim(t, quietSite)
	// 10 kWh battery at 79 %: 16 A on 3 phases until 80 %, then tapering.
	if err := s.PlugCar("p1", Car{Phases: 3, MaxA: 16, SocPct: 79, BatteryWh: 10000}); err != nil {
		t.Fatal(err)
	}
	prev := 17.0
	var full bool
	for range 4 * 60 {
		s.Step(time.Minute)
		p := pointState(t, s, "p1")
		a := p.CurrentA[0]
		if a > prev+1e-9 {
			t.Fatalf("current rose from %.3f to %.3f A at SoC %.2f %%", prev, a, p.Car.SocPct)
		}
		if soc := p.Car.SocPct; soc > 80.5 && soc < 99 {
			want := 16 * (100 - soc) / 20
			if math.Abs(a-want) > 0.2 {
				t.Errorf("at SoC %.2f %%: %.3f A, want about %.3f A (taper)", soc, a, want)
			}
		}
		prev = a
		if p.State == "B" {
			full = true
			if p.Car.SocPct < 99 {
				t.Errorf("stopped at SoC %.2f %%", p.Car.SocPct)
			}
			e := p.EnergyWh
			s.Step(time.Hour)
			if got := pointState(t, s, "p1").EnergyWh; got != e {
				t.Errorf("a full car still charged: %d → %d Wh", e, got)
			}
			break
		}
		if p.State != "C" {
			t.Fatalf("state %s while charging", p.State)
		}
	}
	if !full {
		t.Errorf("the car never became full")
	}
}

func TestStatesFollowCarAndController(t *testing.T) {
	s := newSim(t, quietSite)
	if got := pointState(t, s, "p1").State; got != "A" {
		t.Errorf("no car: state %s, want A", got)
	}
	if err := s.PlugCar("p1", Car{}); err != nil {
		t.Fatal(err)
	}
	s.Step(time.Second)
	if got := pointState(t, s, "p1").State; got != "C" {
		t.Errorf("charging: state %s, want C", got)
	}
	s.mu.Lock()
	s.points[0].ctl.enabled = false
	s.dirty = true
	s.mu.Unlock()
	s.Step(time.Second)
	if p := pointState(t, s, "p1"); p.State != "B" || p.CurrentA != [3]float64{} {
		t.Errorf("disabled: state %s current %v, want B and 0", p.State, p.CurrentA)
	}
	if err := s.InjectFault(Fault{Device: "p1", Kind: FaultEV}); err != nil {
		t.Fatal(err)
	}
	if p := pointState(t, s, "p1"); p.State != "F" || p.ErrorCode != 1 {
		t.Errorf("EV fault: state %s code %d", p.State, p.ErrorCode)
	}
	if err := s.PlugCar("p1", Car{}); err == nil {
		t.Errorf("plugging into an occupied point succeeded")
	}
	if err := s.UnplugCar("p1"); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectFault(Fault{Device: "p1", Kind: FaultClear}); err != nil {
		t.Fatal(err)
	}
	if got := pointState(t, s, "p1").State; got != "A" {
		t.Errorf("unplugged: state %s, want A", got)
	}
}

func TestSimulatedTimeFollowsTheWallClock(t *testing.T) {
	var mu sync.Mutex
	wall := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
	advance := func(d time.Duration) { mu.Lock(); wall = wall.Add(d); mu.Unlock() }

	cfg, err := ParseConfig([]byte(strings.Replace(quietSite, "start: "+fixedStart, "speed: 2", 1)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	advance(time.Minute) // New → Start takes a while
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Now(); !got.Equal(now()) {
		t.Errorf("at start: simulated %v, wall %v", got, now())
	}
	advance(10 * time.Second)
	if got, want := s.Now(), now().Add(10*time.Second); !got.Equal(want) {
		t.Errorf("10 s later at speed 2: simulated %v, want %v", got, want)
	}
	s.Step(time.Hour)
	if got, want := s.Now(), now().Add(10*time.Second+time.Hour); !got.Equal(want) {
		t.Errorf("after Step(1h): simulated %v, want %v", got, want)
	}
}
