package loadmgmt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// simulateHour runs Allocate once a second for an hour of simulated time,
// carrying each car's rotation state from plan to plan, and returns each
// car's share of the hour it was granted current, in per mille. The limits
// do not change, so no car may be paused before its minimum on time or
// restarted before its minimum off time.
func simulateHour(t *testing.T, site loadmgmt.Site, demands []loadmgmt.Demand) []int64 {
	t.Helper()
	const step = time.Second
	now := t0
	for range 3600 {
		plan := loadmgmt.Allocate(now, site, demands)
		if err := checkPlan(now, site, demands, plan); err != nil {
			t.Fatalf("at %v: %v", now.Sub(t0), err)
		}
		for i, d := range demands {
			a := plan.Allocations[i]
			since := now.Sub(d.SwitchedAt)
			if d.Running && !a.Running && since < site.Rotation.MinOn {
				t.Fatalf("at %v: %s paused after running only %v", now.Sub(t0), d.Point, since)
			}
			if !d.Running && a.Running && !d.SwitchedAt.IsZero() && since < site.Rotation.MinOff {
				t.Fatalf("at %v: %s restarted after a pause of only %v", now.Sub(t0), d.Point, since)
			}
			demands[i] = d.Advance(a, now, step)
		}
		now = now.Add(step)
	}
	shares := make([]int64, len(demands))
	for i, d := range demands {
		shares[i] = int64(d.ChargedFor * 1000 / time.Hour)
	}
	return shares
}

func minMax(v []int64) (int64, int64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// TestScarcityRotation: ten three-phase cars on a connection that holds five
// at 6 A. Over an hour, with 1 min minimum on and 3 min minimum off time,
// every car charges about half the time.
func TestScarcityRotation(t *testing.T) {
	site := smallSite(30, 63)
	site.Rotation = loadmgmt.RotationRules{MinOn: time.Minute, MinOff: 3 * time.Minute}
	site.Points = nil
	var demands []loadmgmt.Demand
	for i := range 10 {
		id := fmt.Sprintf("cp-%d", i+1)
		site.Points = append(site.Points, loadmgmt.ChargePoint{ID: id, Node: fmt.Sprintf("circuit-%d", i%2+1), MaxCurrentMA: 32_000})
		demands = append(demands, car(id, 3, 32, loadmgmt.Eco))
	}
	shares := simulateHour(t, site, demands)
	lo, hi := minMax(shares)
	t.Logf("charging time share per car over 1 h (‰): %v; min %d‰, max %d‰", shares, lo, hi)
	if lo == 0 {
		t.Fatal("a car never charged")
	}
	// Five of ten slots: 500 ‰ each if perfectly fair. Rotation works in
	// whole minimum-on periods, so allow a margin.
	if lo < 400 || hi > 600 {
		t.Errorf("shares %d‰..%d‰, want within 400‰..600‰", lo, hi)
	}
}

// TestScarcityRotationMixed: premium cars always charge; eco cars share
// the rest, and none waits the whole hour. Cars that need the same phases
// get about the same share; a single-phase car on a less loaded phase may
// charge more than one on a busy phase, since it takes no room from it.
func TestScarcityRotationMixed(t *testing.T) {
	site := smallSite(40, 63)
	site.Nodes[0].UnbalanceMA = 20_000
	site.Rotation = loadmgmt.RotationRules{MinOn: time.Minute, MinOff: 3 * time.Minute}
	site.Points = nil
	var demands []loadmgmt.Demand
	rot := []loadmgmt.Rotation{loadmgmt.RotationL1L2L3, loadmgmt.RotationL2L3L1, loadmgmt.RotationL3L1L2}
	group := map[int]string{}
	for i := range 15 {
		id := fmt.Sprintf("cp-%d", i+1)
		site.Points = append(site.Points, loadmgmt.ChargePoint{ID: id, Node: fmt.Sprintf("circuit-%d", i%2+1), Rotation: rot[i%3], MaxCurrentMA: 32_000})
		class := loadmgmt.Eco
		if i < 2 {
			class = loadmgmt.Premium
		}
		phases := 1 + 2*(i%2)
		demands = append(demands, car(id, phases, 32, class))
		group[i] = "3-phase"
		if phases == 1 {
			group[i] = fmt.Sprintf("1-phase on L%d", rot[i%3].GridPhase(0)+1)
		}
	}
	shares := simulateHour(t, site, demands)
	for i, s := range shares[:2] {
		if s != 1000 {
			t.Errorf("premium car %d charged %d‰ of the hour, want all of it", i, s)
		}
	}
	byGroup := map[string][]int64{}
	for i := 2; i < len(shares); i++ {
		byGroup[group[i]] = append(byGroup[group[i]], shares[i])
	}
	for g, s := range byGroup {
		lo, hi := minMax(s)
		t.Logf("eco %s: shares %v ‰", g, s)
		if lo == 0 {
			t.Errorf("eco %s: a car never charged", g)
		}
		if hi-lo > 200 {
			t.Errorf("eco %s: shares %d‰..%d‰, want within 200‰ of each other", g, lo, hi)
		}
	}
}
