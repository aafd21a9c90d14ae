package edge

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/metrics"
	"github.com/parkgrid/parkgrid/edge/tsdb"
)

// This file adapts the edge daemon to Prometheus metrics (edge/metrics,
// served on /metrics beside the EMS REST API) and feeds InfluxDB
// (edge/tsdb) once per control step.

// newEdgeMetrics registers the edge's collectors on reg.
func newEdgeMetrics(d *Daemon, reg prometheus.Registerer) (*metrics.Metrics, error) {
	m, err := metrics.New(reg, metrics.Options{
		Buses:    func() []metrics.BusStats { return busStats(d.site.Buses, d.buses) },
		Snapshot: func() metrics.Snapshot { return metricsSnapshot(d) },
	})
	if err != nil {
		return nil, err
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	up := d.uplink
	cs := []prometheus.Collector{
		counter("parkgrid_edge_outbox_append_errors_total", "Batches the outbox refused (full, disk full, closed); their readings are retried.",
			func() float64 { return float64(up.appendErrors.Load()) }),
		counter("parkgrid_edge_snapshot_failures_total", "OCMF snapshots that could not be taken.",
			func() float64 { return float64(up.snapFailures.Load()) }),
		gauge("parkgrid_edge_uplink_up", "1 while the uplink to central runs, 0 when it did not start (see the uplink alarm).",
			func() float64 { return b2f(up.started()) }),
		gauge("parkgrid_edge_outbox_pending_bytes", "Bytes in the outbox not yet acknowledged by central.",
			func() float64 { return float64(up.outboxStats().PendingBytes) }),
		gauge("parkgrid_edge_outbox_pending_records", "Batches in the outbox not yet acknowledged by central.",
			func() float64 { return float64(up.outboxStats().PendingRecords) }),
		gauge("parkgrid_edge_outbox_alarm", "1 while the outbox is above its alarm threshold (80 % of its cap).",
			func() float64 { return b2f(up.outboxStats().Alarm) }),
	}
	if up == nil {
		cs = cs[:0]
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func busStats(cfg []config.Bus, buses []*modbus.Bus) []metrics.BusStats {
	out := make([]metrics.BusStats, 0, len(buses))
	for i, b := range buses {
		s := b.Stats()
		out = append(out, metrics.BusStats{
			Bus: cfg[i].ID, Requests: s.Requests, Errors: s.Errors, Timeouts: s.Timeouts,
			Exceptions: s.Exceptions, Reconnects: s.Reconnects, DialErrors: s.DialErrors,
			Latency: metrics.Histogram{Bounds: s.Latency.Bounds, Counts: s.Latency.Counts, Count: s.Latency.Count, Sum: s.Latency.Sum},
		})
	}
	return out
}

func metricsSnapshot(d *Daemon) metrics.Snapshot {
	a := &emsAdapter{d: d}
	site := a.Site()
	out := metrics.Snapshot{CurrentMA: site.CurrentMA, PowerW: site.PowerW, SafeBudget: site.SafeBudget, AlarmLatched: site.AlarmLatched}
	for _, p := range a.Points() {
		out.Points = append(out.Points, metrics.Point{ID: p.ID, CurrentMA: p.CurrentMA, SetpointMA: p.SetpointMA, PowerW: p.PowerW, EnergyWh: p.EnergyWh, Stale: p.Stale})
	}
	for _, l := range site.Limits {
		ml := metrics.Limit{Source: l.Source, MaxPowerW: l.MaxPowerW, MaxCurrentMA: l.MaxCurrentMA}
		if l.ExpiresAt != nil {
			ml.ExpiresAt = *l.ExpiresAt
		}
		out.Limits = append(out.Limits, ml)
	}
	for _, al := range a.Alarms() {
		if al.Active {
			out.AlarmsActive++
		}
	}
	return out
}

// feedInflux writes the grid values and every point's current, power and
// energy after each control step (kick), until ctx ends. tsdb.Write never
// blocks; the writer's own Run drains to InfluxDB.
func feedInflux(ctx context.Context, d *Daemon, w *tsdb.Writer, kick <-chan struct{}) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		st := d.control.Status()
		if st.At.IsZero() || !st.At.After(last) {
			continue
		}
		last = st.At
		if g := st.Grid; g != nil && !g.Stale {
			_ = w.Write(tsdb.Point{Measurement: "grid", Time: g.At,
				Tags: map[string]string{"site": d.site.ID, "meter": g.Meter},
				Fields: map[string]any{
					"current_l1_ma": g.CurrentMA[0], "current_l2_ma": g.CurrentMA[1], "current_l3_ma": g.CurrentMA[2],
					"power_w": g.PowerW, "other_l1_ma": g.OtherLoadMA[0], "other_l2_ma": g.OtherLoadMA[1], "other_l3_ma": g.OtherLoadMA[2],
				}})
		}
		for _, p := range st.Points {
			if p.MeterStale {
				continue
			}
			_ = w.Write(tsdb.Point{Measurement: "point", Time: st.At,
				Tags: map[string]string{"site": d.site.ID, "point": p.ID},
				Fields: map[string]any{
					"current_l1_ma": p.CurrentMA[0], "current_l2_ma": p.CurrentMA[1], "current_l3_ma": p.CurrentMA[2],
					"power_w": p.PowerW, "energy_wh": p.EnergyWh, "setpoint_ma": p.SetpointMA, "state": p.State,
				}})
		}
	}
}
