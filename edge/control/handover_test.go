package control

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// handoverFixture: four single-phase points in c-1, whose L1 fuse is 10 A:
// cp-1 and cp-2 on L1 (only one of them fits at 6 A), cp-3 on L2, cp-4 on
// L3; a 10 A unbalance limit at the grid. Cars take turns on L1 (minimum
// on and off time 1 min), and each handover stops one L1 car and starts
// the other.
func handoverFixture(t *testing.T) *fixture {
	return newFixture(t, func(c *Config) {
		c.RaiseEvery = 10 * time.Second
		c.MinOff = time.Minute
		c.Site.Rotation = loadmgmt.RotationRules{MinOn: time.Minute, MinOff: time.Minute}
		c.Site.Nodes[0].UnbalanceMA = 10000
		c.Site.Nodes[2].FuseMA = [3]int64{10000, 62000, 62000}
		rot := []loadmgmt.Rotation{loadmgmt.RotationL1L2L3, loadmgmt.RotationL1L2L3, loadmgmt.RotationL2L3L1, loadmgmt.RotationL3L1L2}
		for i := range c.Site.Points {
			c.Site.Points[i].Phases = 1
			c.Site.Points[i].Rotation = rot[i]
			c.Site.Points[i].FallbackCurrentMA = 0
			c.Points[i].FallbackA = 0
		}
	})
}

// gridPhaseOf is the handover fixture's wiring.
var gridPhaseOf = map[string]int{"cp-1": 0, "cp-2": 0, "cp-3": 1, "cp-4": 2}

// unbalanceA is the grid's unbalance (A) of the setpoints in held.
func unbalanceA(held map[string]int64) int64 {
	var ph [3]int64
	for p, a := range held {
		ph[gridPhaseOf[p]] += a
	}
	return max(ph[0], ph[1], ph[2]) - min(ph[0], ph[1], ph[2])
}

// TestRotationHandoverKeepsTheUnbalanceLimit: at every handover the state
// after the cuts (raises not yet written) and the state after the step keep
// the 10 A unbalance limit. Cuts apply at once and raises wait, so a plain
// Stabilize leaves L1 empty beside 20 A on L2 and L3.
func TestRotationHandoverKeepsTheUnbalanceLimit(t *testing.T) {
	f := handoverFixture(t)
	for i := 1; i <= 4; i++ {
		f.car(i, drivers.StateC)
	}
	held := map[string]int64{}
	handovers := 0
	for s := range 400 {
		f.out.mu.Lock()
		f.out.writes = nil
		f.out.mu.Unlock()
		before := unbalanceA(held)
		f.step(time.Second, 0, true)
		f.out.mu.Lock()
		writes := append([]string(nil), f.out.writes...)
		f.out.mu.Unlock()
		// Replay the step's writes in order: the cuts come first.
		afterCuts := int64(-1)
		stopped := false
		for k, w := range writes {
			p, v, _ := strings.Cut(w, "=")
			a, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if a < held[p] && afterCuts >= 0 {
				t.Fatalf("step %d: cut %s after a raise: %v", s, w, writes)
			}
			if a > held[p] && afterCuts < 0 {
				afterCuts = unbalanceA(held)
			}
			if a == 0 && held[p] > 0 && gridPhaseOf[p] == 0 {
				stopped = true
			}
			held[p] = a
			_ = k
		}
		if afterCuts < 0 {
			afterCuts = unbalanceA(held)
		}
		after := unbalanceA(held)
		if stopped {
			handovers++
		}
		// Up to the first handover the chargers start from 0 together; no
		// order of single writes keeps the limit then (checked after it).
		if handovers == 0 {
			continue
		}
		if afterCuts > 10 && afterCuts > before {
			t.Fatalf("step %d (t+%ds): the state after the cuts is %d A unbalanced (limit 10 A); writes %v, setpoints now %v",
				s, s+1, afterCuts, writes, fmtHeld(held))
		}
		if after > 10 {
			t.Fatalf("step %d (t+%ds): the state after the step is %d A unbalanced (limit 10 A); writes %v, setpoints now %v",
				s, s+1, after, writes, fmtHeld(held))
		}
	}
	if handovers < 3 {
		t.Fatalf("%d handovers in 400 s, want at least 3: the fixture does not rotate", handovers)
	}
}

func fmtHeld(h map[string]int64) string {
	return fmt.Sprintf("cp-1 %d, cp-2 %d, cp-3 %d, cp-4 %d A", h["cp-1"], h["cp-2"], h["cp-3"], h["cp-4"])
}

// TestStaleAndHeldPointsCarryTheirPhases: the allocations the loop adds for
// a point that does not answer or that safety holds carry the phases its car
// draws on, so that StabilizeSite balances around them.
func TestStaleAndHeldPointsCarryTheirPhases(t *testing.T) {
	f := handoverFixture(t)
	f.car(3, drivers.StateC)
	f.step(0, 0, true)
	f.step(time.Second, 0, true)
	p := f.loop.byID["cp-3"]
	if got := f.loop.phasesOf(p); got != 1 {
		t.Errorf("phases of a single-phase charger's car: %d", got)
	}
	three := newFixture(t, nil)
	three.car(1, drivers.StateC)
	three.step(0, 0, true)
	three.step(time.Second, 0, true)
	three.state.PutMeter("m-1", three.clk.Now(), drivers.MeterSample{CurrentMA: [3]int64{16000, 0, 0}})
	three.loop.Step(three.ctx, three.clk.Now())
	q := three.loop.byID["cp-1"]
	// The car stays known as single-phase while it is connected, paused or
	// not, and is forgotten when it leaves.
	if q.carPhases != 1 || three.loop.phasesOf(q) != 1 {
		t.Fatalf("cp-1: car phases %d, phasesOf %d, want 1", q.carPhases, three.loop.phasesOf(q))
	}
	three.saf.block("latch: test", "cp-1")
	three.step(time.Second, 0, true)
	if three.loop.phasesOf(q) != 1 {
		t.Errorf("held cp-1: phasesOf %d, want 1", three.loop.phasesOf(q))
	}
	three.saf.block("", "cp-1")
	three.car(1, drivers.StateA)
	three.step(time.Second, 0, true)
	if q.carPhases != 0 {
		t.Errorf("after the car left: car phases %d", q.carPhases)
	}
}

// TestWavesKeepTheUnbalanceLimitWhateverLandsFirst: a write whose
// landing before or after the others of its round could break the limit
// waits for a round of its own; writes that cannot go together.
func TestWavesKeepTheUnbalanceLimitWhateverLandsFirst(t *testing.T) {
	f := handoverFixture(t)
	vs := make([]view, 4)
	truth := []int64{10000, 0, 20000, 20000} // L1 10 A, L2 20 A, L3 20 A
	for i, p := range f.loop.points {
		vs[i] = view{p: p, truthMA: truth[i], desired: truth[i]}
	}
	lim := loadmgmt.EffectiveLimits(t0, f.loop.site)
	w := f.loop.newWaves(vs, lim)
	// Cut L2 and L3 to 10 A, then L1 to 0: together the L1 cut could land
	// while L2 and L3 still draw 20 A (20 A apart).
	vs[2].desired, vs[3].desired, vs[0].desired = 10000, 10000, 0
	got := w.split([]*view{&vs[2], &vs[3], &vs[0]})
	var ids [][]string
	for _, wave := range got {
		var ws []string
		for _, x := range wave {
			ws = append(ws, x.p.ID)
		}
		ids = append(ids, ws)
	}
	if fmt.Sprint(ids) != "[[cp-3 cp-4] [cp-1]]" {
		t.Errorf("waves %v, want [[cp-3 cp-4] [cp-1]]", ids)
	}
	// Without an unbalance limit everything goes at once.
	three := newFixture(t, func(c *Config) { c.Site.Nodes[0].UnbalanceMA = 0 })
	vs3 := make([]view, 4)
	for i, p := range three.loop.points {
		vs3[i] = view{p: p, truthMA: 20000, desired: 6000 * int64(i)}
	}
	w3 := three.loop.newWaves(vs3, loadmgmt.EffectiveLimits(t0, three.loop.site))
	if got := w3.split([]*view{&vs3[0], &vs3[1], &vs3[2]}); len(got) != 1 || len(got[0]) != 3 {
		t.Errorf("no unbalance limit: %d waves", len(got))
	}
}
