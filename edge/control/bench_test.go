package control

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock/clocktest"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/site"
)

// BenchmarkStep500 is one control cycle of deploy/site-large.yaml (500
// charge points, 3 sub-distributions) with about half the points charging,
// fresh readings, and every controller reading back what was last written
// to it (enable and current limit): the step settles points on their
// read-backs, plans the settled ones around the rest, writes cuts and
// admits raises against what the chargers really draw. Each cycle 10 cars
// arrive and 10 leave, so every cycle has cuts, raises and points waiting
// for their read-back. Writes go to an in-memory fake, so this is the
// loop's own cost (loadmgmt.Allocate and Stabilize included).
//
//	go test -run '^$' -bench Step500 -benchtime 2000x ./edge/control
func BenchmarkStep500(b *testing.B) {
	cfg, err := config.Load("../../deploy/site-large.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var specs []site.Spec
	for _, d := range cfg.Devices() {
		specs = append(specs, site.Spec{ID: d.ID, Bus: d.Bus, Interval: d.Poll})
	}
	state := site.New(specs)
	out := &outputs{current: map[string]int64{}, fail: map[string]error{}}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clk := clocktest.New(now) // the poller's and the loop's clock: read-backs are told from writes by it
	l, err := New(ConfigFrom(cfg, nil), state, out, &fakeSafety{blocked: map[string]string{}}, clk, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	n := len(cfg.ChargePoints)
	car := make([]bool, n)
	for i := range car {
		car[i] = i%2 == 0
	}
	turn := 0
	refresh := func() {
		// 10 cars leave, 10 arrive, at points spread over the site.
		for k := range 10 {
			car[(turn*37+k*53)%n] = false
			car[(turn*41+k*59+7)%n] = true
		}
		turn++
		var grid [3]int64
		for i, cp := range cfg.ChargePoints {
			st := drivers.StateA
			if car[i] {
				st = drivers.StateC
			}
			a := out.current[cp.ID] / 1000
			// The read-back: what was written last, sent after the write.
			state.PutCharger(cp.Controller, now, drivers.ChargerStatus{State: st, Enabled: a > 0, MaxCurrentA: int(a), OfferedA: int(a)})
			ma := a * 1000
			if !car[i] {
				ma = 0
			}
			state.PutMeter(cp.Meter, now, drivers.MeterSample{CurrentMA: [3]int64{ma, ma, ma}})
			for ph := range 3 {
				grid[ph] += ma
			}
		}
		state.PutMeter(cfg.Grid.Meter, now, drivers.MeterSample{CurrentMA: [3]int64{grid[0] + 80000, grid[1] + 70000, grid[2] + 90000}})
	}
	for range 15 { // settle: first writes, read-backs, ramps
		clk.Advance(time.Second)
		now = clk.Now()
		refresh()
		l.Step(ctx, now)
	}
	durs := make([]time.Duration, 0, b.N)
	unconfirmed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clk.Advance(time.Second)
		now = clk.Now()
		refresh()
		b.StartTimer()
		t := time.Now()
		l.Step(ctx, now)
		durs = append(durs, time.Since(t))
		b.StopTimer()
		for _, p := range l.Status().Points {
			if p.Unconfirmed {
				unconfirmed++
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durs[min(len(durs)-1, len(durs)*99/100)].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(durs[len(durs)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(unconfirmed)/float64(b.N), "unconfirmed/step")
	if st := l.Status(); st.Charging == 0 {
		b.Fatal("nothing charging")
	}
}
