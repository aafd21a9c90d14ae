package loadmgmt_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// The smallest sites that showed the defects of issue 14. Each test
// judges the plan by the exact reference (checkAgainstReference) and
// checks that the reference's target is the one the issue names.

// onePhase is a 32 A point below node whose charger L1 sits on grid phase
// gridPhase (0 = L1).
func onePhase(id, node string, gridPhase int, maxA int64) loadmgmt.ChargePoint {
	rot := []loadmgmt.Rotation{loadmgmt.RotationL1L2L3, loadmgmt.RotationL2L3L1, loadmgmt.RotationL3L1L2}[gridPhase]
	return loadmgmt.ChargePoint{ID: id, Node: node, Rotation: rot, Phases: 1, MaxCurrentMA: maxA * 1000}
}

func threePhase(id, node string, maxA int64) loadmgmt.ChargePoint {
	return loadmgmt.ChargePoint{ID: id, Node: node, Phases: 3, MaxCurrentMA: maxA * 1000}
}

// wantTarget checks the reference's target for the running cars against
// the figures (A, by point).
func wantTarget(t *testing.T, site loadmgmt.Site, demands []loadmgmt.Demand, want map[string]float64) {
	t.Helper()
	m, idx := refModel(t0, site, demands)
	target, err := m.Target()
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	for k, i := range idx {
		if w, ok := want[demands[i].Point]; ok && math.Abs(target[k]-w) > 0.01 {
			t.Errorf("reference target of %s: %.3f A, the issue says %.2f A", demands[i].Point, target[k], w)
		}
	}
}

func allocateAndJudge(t *testing.T, site loadmgmt.Site, demands []loadmgmt.Demand) loadmgmt.Plan {
	t.Helper()
	plan := loadmgmt.Allocate(t0, site, demands)
	if err := checkPlan(t0, site, demands, plan); err != nil {
		t.Fatal(err)
	}
	if err := checkAgainstReference(t0, site, demands, plan); err != nil {
		t.Errorf("%v\nplan: %v", err, currentsA(plan))
	}
	return plan
}

// Defect 1: when a node phase had less than 1 A left per rising car, the
// engine froze them all and let other cars use the room the frozen
// three-phase cars needed.
func TestAllocateFrozenThreePhaseCarsKeepTheirRoom(t *testing.T) {
	t.Run("circuit with a narrow phase", func(t *testing.T) {
		site := loadmgmt.Site{
			Nodes: []loadmgmt.Node{
				{ID: "grid", FuseMA: phases(100, 100, 100)},
				{ID: "c1", Parent: "grid", FuseMA: phases(30, 20, 100)},
			},
			Points: []loadmgmt.ChargePoint{
				threePhase("a1", "c1", 32), threePhase("a2", "c1", 32),
				onePhase("b", "c1", 1, 32), onePhase("c", "c1", 0, 32),
			},
		}
		demands := []loadmgmt.Demand{car("a1", 3, 32, loadmgmt.Eco), car("a2", 3, 32, loadmgmt.Eco), car("b", 1, 32, loadmgmt.Eco), car("c", 1, 32, loadmgmt.Eco)}
		wantTarget(t, site, demands, map[string]float64{"a1": 20.0 / 3, "a2": 20.0 / 3, "b": 20.0 / 3, "c": 50.0 / 3})
		allocateAndJudge(t, site, demands)
	})
	t.Run("five premium cars within a step", func(t *testing.T) {
		site := loadmgmt.Site{
			Nodes: []loadmgmt.Node{
				{ID: "grid", FuseMA: phases(26, 26, 26), UnbalanceMA: 9000},
				{ID: "c1", Parent: "grid", FuseMA: phases(30, 30, 30)},
			},
			Points: []loadmgmt.ChargePoint{
				threePhase("cp-1", "c1", 10), onePhase("cp-2", "c1", 0, 9), threePhase("cp-3", "c1", 13),
				onePhase("cp-4", "c1", 1, 13), threePhase("cp-5", "c1", 9),
			},
		}
		demands := []loadmgmt.Demand{
			car("cp-1", 3, 10, loadmgmt.Premium), car("cp-2", 1, 9, loadmgmt.Premium), car("cp-3", 3, 13, loadmgmt.Premium),
			car("cp-4", 1, 13, loadmgmt.Premium), car("cp-5", 3, 9, loadmgmt.Premium),
		}
		wantTarget(t, site, demands, map[string]float64{"cp-1": 6.5, "cp-2": 6.5, "cp-3": 6.5, "cp-4": 6.5, "cp-5": 6.5})
		plan := allocateAndJudge(t, site, demands)
		for _, a := range plan.Allocations {
			if a.CurrentMA != 6000 && a.CurrentMA != 7000 {
				t.Errorf("%s: %d mA, want 6 or 7 A", a.Point, a.CurrentMA)
			}
		}
	})
}

// Defect 2: the helper that lifts the least loaded phase for an unbalance
// limit ignored class: premium is raised first, and an eco car helps only
// where no premium car can, and only from where it costs premium nothing.
func TestAllocatePremiumBeforeEcoHelpers(t *testing.T) {
	t.Run("premium helper before eco helper", func(t *testing.T) {
		site := loadmgmt.Site{
			Nodes: []loadmgmt.Node{{ID: "grid", FuseMA: phases(1000, 1000, 1000), UnbalanceMA: 5000}},
			Points: []loadmgmt.ChargePoint{
				onePhase("A1", "grid", 0, 32), onePhase("A2", "grid", 0, 32),
				onePhase("B", "grid", 1, 32), onePhase("E", "grid", 1, 32), onePhase("H", "grid", 2, 32),
			},
		}
		demands := []loadmgmt.Demand{
			car("A1", 1, 32, loadmgmt.Premium), car("A2", 1, 32, loadmgmt.Premium), car("B", 1, 32, loadmgmt.Premium),
			car("E", 1, 32, loadmgmt.Eco), car("H", 1, 32, loadmgmt.Eco),
		}
		wantTarget(t, site, demands, map[string]float64{"A1": 18.5, "A2": 18.5, "B": 31, "E": 6, "H": 32})
		allocateAndJudge(t, site, demands)
	})
	t.Run("helper outside the premium car's circuit", func(t *testing.T) {
		site := loadmgmt.Site{
			Nodes: []loadmgmt.Node{
				{ID: "grid", FuseMA: phases(1000, 1000, 1000), UnbalanceMA: 5000},
				{ID: "c1", Parent: "grid", FuseMA: phases(30, 30, 30)},
			},
			Points: []loadmgmt.ChargePoint{
				onePhase("P", "grid", 0, 32), threePhase("Q", "c1", 32), onePhase("E1", "c1", 1, 32),
				onePhase("E2", "grid", 1, 32), onePhase("E3", "grid", 2, 32),
			},
		}
		demands := []loadmgmt.Demand{
			car("P", 1, 32, loadmgmt.Premium), car("Q", 3, 32, loadmgmt.Premium),
			car("E1", 1, 32, loadmgmt.Eco), car("E2", 1, 32, loadmgmt.Eco), car("E3", 1, 32, loadmgmt.Eco),
		}
		wantTarget(t, site, demands, map[string]float64{"P": 32, "Q": 24, "E1": 6, "E2": 31, "E3": 32})
		allocateAndJudge(t, site, demands)
	})
}

// Defect 3: an eco car held by an unbalance limit got no helpers.
func TestAllocateHelpersForEcoHeldByUnbalance(t *testing.T) {
	site := loadmgmt.Site{
		Nodes: []loadmgmt.Node{
			{ID: "grid", FuseMA: phases(1000, 1000, 1000), UnbalanceMA: 10_000},
			{ID: "c1", Parent: "grid", FuseMA: phases(1000, 1000, 40)},
		},
		Points: []loadmgmt.ChargePoint{
			onePhase("P", "grid", 0, 32), onePhase("X", "grid", 0, 32), onePhase("G", "grid", 1, 32),
			onePhase("H", "c1", 2, 32), threePhase("T", "c1", 32),
		},
	}
	demands := []loadmgmt.Demand{
		car("P", 1, 32, loadmgmt.Premium), car("X", 1, 32, loadmgmt.Eco), car("G", 1, 32, loadmgmt.Eco),
		car("H", 1, 32, loadmgmt.Eco), car("T", 3, 32, loadmgmt.Eco),
	}
	wantTarget(t, site, demands, map[string]float64{"P": 32, "X": 9, "T": 9, "H": 31, "G": 32})
	allocateAndJudge(t, site, demands)
}

// Defect 4: under scarcity, admission was greedy in fairness order.
func TestAllocateRunsTheMostCars(t *testing.T) {
	t.Run("three-phase cars with higher minimums first", func(t *testing.T) {
		site := loadmgmt.Site{Nodes: []loadmgmt.Node{{ID: "grid", FuseMA: phases(30, 30, 30)}}}
		var demands []loadmgmt.Demand
		for i := range 10 {
			p := threePhase(fmt.Sprintf("cp-%d", i+1), "grid", 32)
			if i < 3 {
				p.MinCurrentMA = 9000 // waiting longest, ranked first
			}
			site.Points = append(site.Points, p)
			d := car(p.ID, 3, 32, loadmgmt.Eco)
			d.ConnectedSince = t0.Add(-time.Duration(10-i) * time.Minute)
			demands = append(demands, d)
		}
		plan := allocateAndJudge(t, site, demands)
		if n := runningCount(plan); n != 5 {
			t.Errorf("%d cars run, five fit: %v", n, currentsA(plan))
		}
	})
	t.Run("single-phase cars under an unbalance limit", func(t *testing.T) {
		site := loadmgmt.Site{
			Nodes: []loadmgmt.Node{{ID: "grid", FuseMA: phases(11, 40, 40), UnbalanceMA: 1000}},
			Points: []loadmgmt.ChargePoint{
				onePhase("a", "grid", 0, 8), onePhase("b", "grid", 0, 17), onePhase("c", "grid", 1, 16),
				onePhase("d", "grid", 2, 7), onePhase("e", "grid", 2, 15),
			},
		}
		var demands []loadmgmt.Demand
		for i, p := range site.Points {
			d := car(p.ID, 1, 32, loadmgmt.Eco)
			d.ConnectedSince = t0.Add(-time.Duration(10-i) * time.Minute)
			demands = append(demands, d)
		}
		plan := allocateAndJudge(t, site, demands)
		if n := runningCount(plan); n != 4 {
			t.Errorf("%d cars run, four fit: %v", n, currentsA(plan))
		}
	})
}

func runningCount(plan loadmgmt.Plan) int {
	n := 0
	for _, a := range plan.Allocations {
		if a.Running {
			n++
		}
	}
	return n
}

// Defect 5: unbalance limits below 1 A were accepted and stalled
// single-phase cars.
func TestValidateRejectsUnbalanceBelowOneAmpere(t *testing.T) {
	site := loadmgmt.Site{
		Nodes:  []loadmgmt.Node{{ID: "grid", FuseMA: phases(100, 100, 100), UnbalanceMA: 500}},
		Points: []loadmgmt.ChargePoint{onePhase("cp-1", "grid", 0, 32), onePhase("cp-2", "grid", 1, 32), onePhase("cp-3", "grid", 2, 32)},
	}
	err := site.Validate()
	if err == nil || !strings.Contains(err.Error(), `node "grid": unbalance limit 500 mA is below 1 A`) {
		t.Errorf("Validate: %v, want an error naming the node and the limit", err)
	}
	plan := loadmgmt.Allocate(t0, site, []loadmgmt.Demand{car("cp-1", 1, 32, loadmgmt.Premium)})
	if plan.Err == nil {
		t.Errorf("Allocate accepted a 500 mA unbalance limit: %v", currentsA(plan))
	}
}
