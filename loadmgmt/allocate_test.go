package loadmgmt_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func phases(a, b, c int64) [3]int64 { return [3]int64{a * 1000, b * 1000, c * 1000} }

// smallSite is a grid connection with two circuits of three 32 A points each.
func smallSite(gridA, circuitA int64) loadmgmt.Site {
	return loadmgmt.Site{
		Nodes: []loadmgmt.Node{
			{ID: "grid", FuseMA: phases(gridA, gridA, gridA)},
			{ID: "circuit-1", Parent: "grid", FuseMA: phases(circuitA, circuitA, circuitA)},
			{ID: "circuit-2", Parent: "grid", FuseMA: phases(circuitA, circuitA, circuitA)},
		},
		Points: []loadmgmt.ChargePoint{
			{ID: "cp-1", Node: "circuit-1", MaxCurrentMA: 32_000},
			{ID: "cp-2", Node: "circuit-1", Rotation: loadmgmt.RotationL2L3L1, MaxCurrentMA: 32_000},
			{ID: "cp-3", Node: "circuit-1", Rotation: loadmgmt.RotationL3L1L2, MaxCurrentMA: 32_000},
			{ID: "cp-4", Node: "circuit-2", MaxCurrentMA: 32_000},
			{ID: "cp-5", Node: "circuit-2", Rotation: loadmgmt.RotationL2L3L1, MaxCurrentMA: 32_000},
			{ID: "cp-6", Node: "circuit-2", Rotation: loadmgmt.RotationL3L1L2, MaxCurrentMA: 32_000},
		},
	}
}

func car(point string, ph int, maxA int64, class loadmgmt.Class) loadmgmt.Demand {
	return loadmgmt.Demand{Point: point, Phases: ph, MaxCurrentMA: maxA * 1000, Class: class, ConnectedSince: t0.Add(-time.Hour)}
}

type want struct {
	currentA int64
	reason   loadmgmt.Reason // checked when Limit is set
}

func TestAllocateCases(t *testing.T) {
	withEMS := func(s loadmgmt.Site, maxA int64, expires time.Time) loadmgmt.Site {
		s.Limits.EMS = []loadmgmt.EMSLimit{{MaxCurrentMA: phases(maxA, maxA, maxA), Expires: expires}}
		return s
	}
	metered := func(s loadmgmt.Site, readingAge time.Duration, otherA int64) loadmgmt.Site {
		s.Nodes[0].Metered = true
		s.Nodes[0].SafeBudgetMA = phases(12, 12, 12)
		s.Limits.Meters = []loadmgmt.MeterReading{{Node: "grid", OtherLoadMA: phases(otherA, otherA, otherA), At: t0.Add(-readingAge)}}
		return s
	}
	unbalanced := func(s loadmgmt.Site, unbA int64) loadmgmt.Site {
		s.Nodes[0].UnbalanceMA = unbA * 1000
		return s
	}
	tests := []struct {
		name    string
		site    loadmgmt.Site
		demands []loadmgmt.Demand
		want    []want
		load    map[string][3]int64 // expected node loads, mA
	}{
		{
			name:    "single-phase car on rotated charger loads grid L2",
			site:    smallSite(100, 16),
			demands: []loadmgmt.Demand{car("cp-2", 1, 32, loadmgmt.Eco)},
			want:    []want{{16, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 2}}},
			load:    map[string][3]int64{"grid": phases(0, 16, 0), "circuit-1": phases(0, 16, 0)},
		},
		{
			name: "one full circuit among free ones",
			site: smallSite(200, 20),
			demands: []loadmgmt.Demand{
				car("cp-1", 3, 32, loadmgmt.Eco), car("cp-2", 3, 32, loadmgmt.Eco), car("cp-3", 3, 32, loadmgmt.Eco),
				car("cp-4", 3, 16, loadmgmt.Eco),
			},
			want: []want{
				{7, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
				{7, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
				{6, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
				{16, loadmgmt.Reason{Limit: loadmgmt.LimitCarMax}},
			},
		},
		{
			name:    "EMS limit in force",
			site:    withEMS(smallSite(100, 63), 10, t0.Add(time.Second)),
			demands: []loadmgmt.Demand{car("cp-1", 3, 32, loadmgmt.Eco)},
			want:    []want{{10, loadmgmt.Reason{Limit: loadmgmt.LimitEMS, Node: "grid", Phase: 1}}},
		},
		{
			name:    "EMS limit expired at now",
			site:    withEMS(smallSite(100, 63), 10, t0),
			demands: []loadmgmt.Demand{car("cp-1", 3, 32, loadmgmt.Eco)},
			want:    []want{{32, loadmgmt.Reason{Limit: loadmgmt.LimitCarMax}}},
		},
		{
			name:    "fresh grid meter: headroom",
			site:    metered(smallSite(40, 63), 2*time.Second, 20),
			demands: []loadmgmt.Demand{car("cp-1", 3, 32, loadmgmt.Eco)},
			want:    []want{{20, loadmgmt.Reason{Limit: loadmgmt.LimitMeter, Node: "grid", Phase: 1}}},
		},
		{
			name:    "stale grid meter: safe budget",
			site:    metered(smallSite(40, 63), 4*time.Second, 0),
			demands: []loadmgmt.Demand{car("cp-1", 3, 32, loadmgmt.Eco)},
			want:    []want{{12, loadmgmt.Reason{Limit: loadmgmt.LimitSafeBudget, Node: "grid", Phase: 1}}},
		},
		{
			name: "scarcity: two of three run",
			site: smallSite(13, 63),
			demands: []loadmgmt.Demand{
				car("cp-1", 3, 32, loadmgmt.Eco), car("cp-2", 3, 32, loadmgmt.Eco), car("cp-4", 3, 32, loadmgmt.Eco),
			},
			want: []want{
				{7, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "grid", Phase: 1}},
				{6, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "grid", Phase: 1}},
				{0, loadmgmt.Reason{Limit: loadmgmt.LimitPaused}},
			},
		},
		{
			name: "unbalance limit bites a single-phase car",
			site: unbalanced(smallSite(100, 63), 10),
			demands: []loadmgmt.Demand{
				car("cp-1", 1, 32, loadmgmt.Eco), car("cp-4", 3, 32, loadmgmt.Eco),
			},
			want: []want{
				{10, loadmgmt.Reason{Limit: loadmgmt.LimitUnbalance, Node: "grid", Phase: 1}},
				{32, loadmgmt.Reason{Limit: loadmgmt.LimitCarMax}},
			},
		},
		{
			name: "premium before eco",
			site: smallSite(100, 30),
			demands: []loadmgmt.Demand{
				car("cp-1", 3, 32, loadmgmt.Eco), car("cp-2", 3, 32, loadmgmt.Premium), car("cp-3", 3, 32, loadmgmt.Eco),
			},
			want: []want{
				{6, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
				{18, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
				{6, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
			},
		},
		{
			// Two premium cars on L1 are held by the 20 A unbalance limit;
			// the eco cars on L2 and L3 go to their maximum, above premium,
			// because that is what lets premium reach 26 A.
			name: "eco above premium under unbalance",
			site: unbalanced(smallSite(200, 63), 20),
			demands: []loadmgmt.Demand{
				car("cp-1", 1, 32, loadmgmt.Premium), car("cp-4", 1, 32, loadmgmt.Premium),
				car("cp-2", 1, 32, loadmgmt.Eco), car("cp-3", 1, 32, loadmgmt.Eco),
			},
			want: []want{
				{26, loadmgmt.Reason{Limit: loadmgmt.LimitUnbalance, Node: "grid", Phase: 1}},
				{26, loadmgmt.Reason{Limit: loadmgmt.LimitUnbalance, Node: "grid", Phase: 1}},
				{32, loadmgmt.Reason{Limit: loadmgmt.LimitCarMax}},
				{32, loadmgmt.Reason{Limit: loadmgmt.LimitCarMax}},
			},
		},
		{
			// Premium on L1 shares circuit-1 with a 3-phase eco car and is
			// held by the 10 A unbalance limit until the eco cars on L2 and
			// L3 are raised for it; the eco car beside it stays at 6 A.
			// (Without raising the other phases first, premium ends at 16 A
			// and the eco car beside it at 14 A.)
			name: "eco raised on other phases to lift premium",
			site: unbalanced(smallSite(200, 30), 10),
			demands: []loadmgmt.Demand{
				car("cp-1", 1, 32, loadmgmt.Premium), car("cp-2", 3, 32, loadmgmt.Eco),
				car("cp-5", 1, 32, loadmgmt.Eco), car("cp-6", 1, 32, loadmgmt.Eco),
			},
			want: []want{
				{24, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
				{6, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-1", Phase: 1}},
				{30, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-2", Phase: 2}},
				{30, loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "circuit-2", Phase: 3}},
			},
		},
		{
			name: "thermal derating of a hot circuit",
			site: func() loadmgmt.Site {
				s := smallSite(100, 32)
				s.Nodes[1].Derating = &loadmgmt.Derating{StartDeciC: 400, StopDeciC: 600}
				s.Limits.Temperatures = []loadmgmt.Temperature{{Node: "circuit-1", DeciC: 550}}
				return s
			}(),
			demands: []loadmgmt.Demand{car("cp-1", 3, 32, loadmgmt.Eco)},
			want:    []want{{8, loadmgmt.Reason{Limit: loadmgmt.LimitThermal, Node: "circuit-1", Phase: 1}}},
		},
		{
			name: "paused car waits out its minimum off time",
			site: func() loadmgmt.Site {
				s := smallSite(100, 32)
				s.Rotation.MinOff = 3 * time.Minute
				return s
			}(),
			demands: []loadmgmt.Demand{
				{Point: "cp-1", SwitchedAt: t0.Add(-time.Minute)},
				{Point: "cp-2", SwitchedAt: t0.Add(-3 * time.Minute)},
			},
			want: []want{
				{0, loadmgmt.Reason{Limit: loadmgmt.LimitMinOffTime}},
				{32, loadmgmt.Reason{Limit: loadmgmt.LimitCarMax}},
			},
		},
		{
			name: "power limit bounds the sum of the phases",
			site: func() loadmgmt.Site {
				s := smallSite(100, 63)
				s.Limits.EMS = []loadmgmt.EMSLimit{{MaxPowerW: 23_000, Expires: t0.Add(time.Minute)}}
				return s
			}(),
			demands: []loadmgmt.Demand{car("cp-1", 3, 32, loadmgmt.Eco), car("cp-4", 1, 32, loadmgmt.Eco)},
			// 23 kW / 230 V = 100 A over the phases: 3·x + y ≤ 100 with x = y = 25.
			want: []want{
				{25, loadmgmt.Reason{Limit: loadmgmt.LimitEMS, Node: "grid"}},
				{25, loadmgmt.Reason{Limit: loadmgmt.LimitEMS, Node: "grid"}},
			},
		},
		{
			name: "6 A each before anyone gets more",
			site: smallSite(100, 20),
			demands: []loadmgmt.Demand{
				car("cp-1", 3, 32, loadmgmt.Premium), car("cp-2", 3, 32, loadmgmt.Eco), car("cp-3", 3, 32, loadmgmt.Eco),
			},
			want: []want{{8, loadmgmt.Reason{}}, {6, loadmgmt.Reason{}}, {6, loadmgmt.Reason{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := loadmgmt.Allocate(t0, tt.site, tt.demands)
			if err := checkPlan(t0, tt.site, tt.demands, plan); err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				a := plan.Allocations[i]
				if a.CurrentMA != w.currentA*1000 {
					t.Errorf("%s: %d mA, want %d A (reason %v)", a.Point, a.CurrentMA, w.currentA, a.Reason)
				}
				if w.reason.Limit != "" {
					if diff := cmp.Diff(w.reason, a.Reason); diff != "" {
						t.Errorf("%s: reason (-want +got):\n%s", a.Point, diff)
					}
				}
			}
			for node, l := range tt.load {
				if got := plan.LoadMA(node); got != l {
					t.Errorf("load on %s: %v mA, want %v", node, got, l)
				}
			}
		})
	}
}

func TestAllocateDeterministic(t *testing.T) {
	site := smallSite(40, 25)
	site.Nodes[0].UnbalanceMA = 10_000
	demands := []loadmgmt.Demand{
		car("cp-1", 1, 32, loadmgmt.Eco), car("cp-2", 3, 16, loadmgmt.Premium), car("cp-3", 1, 32, loadmgmt.Eco),
		car("cp-5", 1, 32, loadmgmt.Premium), car("cp-6", 3, 32, loadmgmt.Eco),
	}
	first := loadmgmt.Allocate(t0, site, demands)
	for range 5 {
		if diff := cmp.Diff(first, loadmgmt.Allocate(t0, site, demands)); diff != "" {
			t.Fatalf("second plan differs (-first +again):\n%s", diff)
		}
	}
}

func TestAllocateInvalidInput(t *testing.T) {
	site := smallSite(100, 32)
	plan := loadmgmt.Allocate(t0, site, []loadmgmt.Demand{
		car("cp-1", 3, 32, loadmgmt.Eco), car("nope", 3, 32, loadmgmt.Eco), car("cp-1", 3, 32, loadmgmt.Eco),
	})
	got := []loadmgmt.LimitKind{plan.Allocations[0].Reason.Limit, plan.Allocations[1].Reason.Limit, plan.Allocations[2].Reason.Limit}
	if diff := cmp.Diff([]loadmgmt.LimitKind{loadmgmt.LimitCarMax, loadmgmt.LimitInvalid, loadmgmt.LimitInvalid}, got); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if plan.Allocations[1].CurrentMA != 0 || plan.Allocations[2].CurrentMA != 0 {
		t.Errorf("unknown or duplicate demands got current: %+v", plan.Allocations)
	}

	site.Nodes[1].Parent = "nowhere"
	plan = loadmgmt.Allocate(t0, site, []loadmgmt.Demand{car("cp-1", 3, 32, loadmgmt.Eco)})
	if !errors.Is(plan.Err, loadmgmt.ErrInvalidSite) || plan.Allocations[0].CurrentMA != 0 {
		t.Errorf("invalid site: err %v, allocation %+v; want ErrInvalidSite and 0 A", plan.Err, plan.Allocations[0])
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*loadmgmt.Site)
		want   string // substring of the error; "" means valid
	}{
		{"good", func(*loadmgmt.Site) {}, ""},
		{"unknown parent", func(s *loadmgmt.Site) { s.Nodes[1].Parent = "dist-9" }, `node "circuit-1": unknown parent "dist-9"`},
		{"cycle", func(s *loadmgmt.Site) {
			s.Nodes = append(s.Nodes, loadmgmt.Node{ID: "a", Parent: "b"}, loadmgmt.Node{ID: "b", Parent: "a"})
		}, `node "a" is in a cycle`},
		{"two roots", func(s *loadmgmt.Site) { s.Nodes[2].Parent = "" }, `both have no parent`},
		{"duplicate node", func(s *loadmgmt.Site) { s.Nodes[2].ID = "circuit-1" }, `node "circuit-1" defined twice`},
		{"unknown node of point", func(s *loadmgmt.Site) { s.Points[0].Node = "x" }, `point "cp-1": unknown node "x"`},
		{"fallbacks over a circuit fuse", func(s *loadmgmt.Site) {
			for i := range 3 {
				s.Points[i].FallbackCurrentMA = 8_000
			}
		}, `node "circuit-1": fallback currents on L1 sum to 24000 mA, over its fuse of 20000 mA`},
		{"single-phase fallbacks spread by rotation fit", func(s *loadmgmt.Site) {
			for i := range 3 {
				s.Points[i].Phases = 1
				s.Points[i].FallbackCurrentMA = 16_000
			}
		}, ""},
		{"absurd fuse", func(s *loadmgmt.Site) { s.Nodes[0].FuseMA[2] = 1 << 62 }, `node "grid": fuse L3 is 4611686018427387904 mA, not in 0..1000000000 mA`},
		{"max below 6 A", func(s *loadmgmt.Site) { s.Points[3].MaxCurrentMA = 5_000 }, `point "cp-4": max current 5000 mA below its minimum 6000 mA`},
		{"derating stop below start", func(s *loadmgmt.Site) {
			s.Nodes[1].Derating = &loadmgmt.Derating{StartDeciC: 400, StopDeciC: 400}
		}, `node "circuit-1": derating stop`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smallSite(100, 20)
			tt.change(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v, want an error containing %q", err, tt.want)
			case tt.want != "" && !errors.Is(err, loadmgmt.ErrInvalidSite):
				t.Fatalf("Validate: %v does not wrap ErrInvalidSite", err)
			}
		})
	}
}

func TestEffectiveLimits(t *testing.T) {
	site := smallSite(100, 63)
	site.Nodes[1].Derating = &loadmgmt.Derating{StartDeciC: 400, StopDeciC: 600}
	site.Para14aDevices = 10
	site.Limits = loadmgmt.Limits{
		Temperatures: []loadmgmt.Temperature{{Node: "circuit-1", DeciC: 500}, {Node: "circuit-2", DeciC: 650}},
		EMS: []loadmgmt.EMSLimit{
			{MaxCurrentMA: phases(90, 200, 200), MaxPowerW: 100_000, Expires: t0.Add(time.Minute)},
			{MaxCurrentMA: phases(1, 1, 1), Expires: t0.Add(-time.Second)}, // expired
		},
		Para14a: &loadmgmt.Para14aSignal{MaxPowerW: 1000},
	}
	got := loadmgmt.EffectiveLimits(t0, site)
	floorW := loadmgmt.Para14aFloorW(10) // 4.2 kW + 9 · 0.45 · 4.2 kW = 21,210 W
	if floorW != 21_210 {
		t.Errorf("§14a floor for 10 devices: %d W, want 21210 W", floorW)
	}
	want := []loadmgmt.NodeLimit{
		{Node: "grid", LimitMA: phases(90, 100, 100), Kind: [3]loadmgmt.LimitKind{"ems", "fuse", "fuse"},
			TotalMA: floorW * 1000 / 230, TotalKind: loadmgmt.LimitPara14a},
		{Node: "circuit-1", LimitMA: [3]int64{31_500, 31_500, 31_500}, Kind: [3]loadmgmt.LimitKind{"thermal", "thermal", "thermal"}},
		{Node: "circuit-2", LimitMA: phases(63, 63, 63), Kind: [3]loadmgmt.LimitKind{"fuse", "fuse", "fuse"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EffectiveLimits (-want +got):\n%s", diff)
	}
	// Thermal stop above the stop temperature applies only to derated nodes.
	site.Nodes[2].Derating = &loadmgmt.Derating{StartDeciC: 400, StopDeciC: 600}
	if got := loadmgmt.EffectiveLimits(t0, site)[2].LimitMA; got != [3]int64{} {
		t.Errorf("circuit-2 at 65 °C: %v, want 0 on every phase", got)
	}
}

func TestPara14aFloor(t *testing.T) {
	for n, w := range map[int]int64{1: 4200, 2: 7560, 8: 18900, 9: 19320, 20: 40110} {
		if got := loadmgmt.Para14aFloorW(n); got != w {
			t.Errorf("Para14aFloorW(%d) = %d, want %d", n, got, w)
		}
	}
}
