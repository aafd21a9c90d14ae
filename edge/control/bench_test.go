package control

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/site"
)

// BenchmarkStep500 is one control cycle of deploy/site-large.yaml (500
// charge points, 3 sub-distributions) with every other point charging,
// fresh readings and cars that draw what they are given; writes go to an
// in-memory fake, so this is the loop's own cost (allocation included).
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
	l, err := New(ConfigFrom(cfg, nil), state, out, &fakeSafety{blocked: map[string]string{}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	refresh := func() {
		var grid [3]int64
		for i, cp := range cfg.ChargePoints {
			st := drivers.StateA
			if i%2 == 0 {
				st = drivers.StateC
			}
			state.PutCharger(cp.Controller, now, drivers.ChargerStatus{State: st})
			a := out.current[cp.ID]
			c := [3]int64{a, a, a}
			state.PutMeter(cp.Meter, now, drivers.MeterSample{CurrentMA: c})
			for ph := range 3 {
				grid[ph] += a
			}
		}
		state.PutMeter(cfg.Grid.Meter, now, drivers.MeterSample{CurrentMA: [3]int64{grid[0] + 80000, grid[1] + 70000, grid[2] + 90000}})
	}
	for range 15 { // settle: first writes, ramps
		now = now.Add(time.Second)
		refresh()
		l.Step(ctx, now)
	}
	durs := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		now = now.Add(time.Second)
		refresh()
		b.StartTimer()
		t := time.Now()
		l.Step(ctx, now)
		durs = append(durs, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durs[min(len(durs)-1, len(durs)*99/100)].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(durs[len(durs)-1].Microseconds())/1000, "max-ms")
	if st := l.Status(); st.Charging == 0 {
		b.Fatal("nothing charging")
	}
}
