package loadmgmt_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parkgrid/parkgrid/loadmgmt"
	"pgregory.net/rapid"
)

func planOf(currents map[string]int64, order ...string) loadmgmt.Plan {
	var p loadmgmt.Plan
	for _, id := range order {
		p.Allocations = append(p.Allocations, loadmgmt.Allocation{Point: id, CurrentMA: currents[id], Running: currents[id] > 0})
	}
	return p
}

func TestStabilizeSequence(t *testing.T) {
	rules := loadmgmt.Rules{RaiseInterval: 10 * time.Second, DeadbandMA: 2000, MinOff: 3 * time.Minute}
	var st loadmgmt.State
	type step struct {
		at   time.Duration
		plan map[string]int64
		want []loadmgmt.Setpoint
	}
	steps := []step{
		{0, map[string]int64{"a": 10_000, "b": 16_000},
			[]loadmgmt.Setpoint{{Point: "a", CurrentMA: 10_000}, {Point: "b", CurrentMA: 16_000}}},
		// Raise of a within 10 s: held; cut of b: at once, and first.
		{5 * time.Second, map[string]int64{"a": 20_000, "b": 8_000},
			[]loadmgmt.Setpoint{{Point: "b", CurrentMA: 8_000, PreviousMA: 16_000}}},
		// After 10 s the raise goes through; b's 1 A raise is inside the deadband.
		{10 * time.Second, map[string]int64{"a": 20_000, "b": 9_000},
			[]loadmgmt.Setpoint{{Point: "a", CurrentMA: 20_000, PreviousMA: 10_000}}},
		// a stops (cut first), b's raise of 2 A passes the deadband.
		{20 * time.Second, map[string]int64{"a": 0, "b": 11_000},
			[]loadmgmt.Setpoint{{Point: "a", PreviousMA: 20_000}, {Point: "b", CurrentMA: 11_000, PreviousMA: 8_000}}},
		// a may not restart within 3 min of its stop.
		{time.Minute, map[string]int64{"a": 6_000, "b": 11_000}, nil},
		// b leaves the plan: cut to 0. a restarts after its minimum off time.
		{200 * time.Second, map[string]int64{"a": 6_000},
			[]loadmgmt.Setpoint{{Point: "b", PreviousMA: 11_000}, {Point: "a", CurrentMA: 6_000}}},
	}
	for _, s := range steps {
		ids := []string{"a", "b"}
		if _, ok := s.plan["b"]; !ok {
			ids = []string{"a"}
		}
		var got []loadmgmt.Setpoint
		got, st = loadmgmt.Stabilize(t0.Add(s.at), st, planOf(s.plan, ids...), rules)
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Fatalf("at %v: setpoints (-want +got):\n%s", s.at, diff)
		}
	}
}

// TestPropertyStabilizeNeverAbovePlan: whatever the history, a setpoint is
// never above the plan, never 1–5 A, and cuts come before raises.
func TestPropertyStabilizeNeverAbovePlan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rules := loadmgmt.Rules{
			RaiseInterval: time.Duration(rapid.IntRange(0, 30).Draw(t, "interval")) * time.Second,
			DeadbandMA:    int64(rapid.IntRange(0, 3).Draw(t, "deadband")) * 1000,
			RaiseStepMA:   int64(rapid.IntRange(0, 4).Draw(t, "step")) * 1000,
			MinOff:        time.Duration(rapid.IntRange(0, 300).Draw(t, "minoff")) * time.Second,
		}
		ids := []string{"a", "b", "c"}
		var st loadmgmt.State
		now := t0
		for i := range rapid.IntRange(1, 40).Draw(t, "cycles") {
			now = now.Add(time.Duration(rapid.IntRange(1, 20).Draw(t, "dt")) * time.Second)
			plan := map[string]int64{}
			var order []string
			for _, id := range ids {
				if rapid.IntRange(0, 5).Draw(t, "present") == 0 {
					continue
				}
				c := rapid.IntRange(5, 32).Draw(t, "current")
				if c == 5 {
					c = 0
				}
				plan[id] = int64(c) * 1000
				order = append(order, id)
			}
			var writes []loadmgmt.Setpoint
			writes, st = loadmgmt.Stabilize(now, st, planOf(plan, order...), rules)
			raising := false
			for _, w := range writes {
				if w.Cut() && raising {
					t.Fatalf("cycle %d: cut %+v after a raise: %+v", i, w, writes)
				}
				raising = raising || !w.Cut()
			}
			for _, id := range ids {
				set := st.Points[id].SetpointMA
				if set > plan[id] {
					t.Fatalf("cycle %d: %s set to %d mA above the plan's %d mA", i, id, set, plan[id])
				}
				if set > 0 && set < 6000 {
					t.Fatalf("cycle %d: %s set to %d mA", i, id, set)
				}
			}
		}
	})
}
