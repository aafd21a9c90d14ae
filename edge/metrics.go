package edge

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/metrics"
	"github.com/parkgrid/parkgrid/edge/tsdb"
	"github.com/parkgrid/parkgrid/edge/uplink"
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
	if d.uplink != nil {
		if err := reg.Register(&uplinkCollector{u: d.uplink}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// uplinkCollector exports the uplink's, outbox's and sessions' figures at
// each scrape.
type uplinkCollector struct{ u *edgeUplink }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descUp            = desc("parkgrid_edge_uplink_up", "1 while the uplink is connected to central's broker and subscribed to acks, else 0.")
	descSinceAck      = desc("parkgrid_edge_uplink_seconds_since_ack", "Seconds since an ack from central last moved the outbox (since the uplink started when none came yet); 0 with nothing pending.")
	descReconnects    = desc("parkgrid_edge_uplink_connects_total", "Connections to central's broker made.")
	descAcksIgnored   = desc("parkgrid_edge_uplink_acks_ignored_total", "Acks ignored, by reason: unsigned (or forged, malformed), gateway, epoch, ahead (beyond what was sent).", "reason")
	descNoAck         = desc("parkgrid_edge_uplink_no_ack_alarm", "1 while records have waited no_ack_alarm without an ack.")
	descHead          = desc("parkgrid_edge_outbox_head_seq", "Last durable seq of the outbox, by epoch.", "epoch")
	descAcked         = desc("parkgrid_edge_outbox_acked_seq", "Highest seq central acknowledged, by epoch.", "epoch")
	descPendingBytes  = desc("parkgrid_edge_outbox_pending_bytes", "Bytes in the outbox not yet acknowledged by central.")
	descPendingRecs   = desc("parkgrid_edge_outbox_pending_records", "Records in the outbox not yet acknowledged by central.")
	descOldest        = desc("parkgrid_edge_outbox_oldest_unacked_seconds", "Age of the oldest record central has not acknowledged (by its signed time); 0 when none.")
	descAlarm         = desc("parkgrid_edge_outbox_alarm", "1 while the outbox is above its alarm threshold (80 % of its cap).")
	descSegBytes      = desc("parkgrid_edge_outbox_segment_bytes", "Bytes of the outbox's segment files on disk.")
	descHoles         = desc("parkgrid_edge_outbox_holes", "Seqs the outbox cannot deliver (damaged or missing records), above the acked head.")
	descUndeclared    = desc("parkgrid_edge_outbox_holes_undeclared", "Of those, seqs no gap record covers yet.")
	descAppendErrors  = desc("parkgrid_edge_outbox_append_errors_total", "Records the outbox refused (full, disk full, closed); they are kept and retried.")
	descSampled       = desc("parkgrid_edge_readings_sampled_total", "Meter readings put into batches.")
	descDropped       = desc("parkgrid_edge_readings_dropped_total", "Plain readings dropped because the outbox refused batches for too long (snapshots and events are never dropped).")
	descBuffered      = desc("parkgrid_edge_readings_buffered", "Readings and events waiting in memory for their batch.")
	descSessions      = desc("parkgrid_edge_sessions_open", "Charging sessions open.")
	descSnapPending   = desc("parkgrid_edge_snapshots_pending", "OCMF snapshots needed and not yet stored in the outbox.")
	descSnapStored    = desc("parkgrid_edge_snapshots_stored_total", "OCMF snapshots stored in the outbox.")
	descSnapRecovered = desc("parkgrid_edge_snapshots_recovered_total", "OCMF snapshots read back from the meter after a restart.")
	descSnapFailures  = desc("parkgrid_edge_snapshot_failures_total", "Failed meter calls and refused stores of snapshots and session events (retried).")
)

var ignoredReasons = [...]string{uplink.IgnoredUnsigned: "unsigned", uplink.IgnoredGateway: "gateway", uplink.IgnoredEpoch: "epoch", uplink.IgnoredAhead: "ahead"}

// Describe implements prometheus.Collector.
func (c *uplinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descSinceAck, descReconnects, descAcksIgnored, descNoAck, descHead, descAcked,
		descPendingBytes, descPendingRecs, descOldest, descAlarm, descSegBytes, descHoles, descUndeclared, descAppendErrors,
		descSampled, descDropped, descBuffered, descSessions, descSnapPending, descSnapStored, descSnapRecovered, descSnapFailures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *uplinkCollector) Collect(ch chan<- prometheus.Metric) {
	u := c.u
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if !u.started() {
		gauge(descUp, 0)
		return
	}
	now := u.d.clk.Now()
	st := u.box.Stats()
	us := u.up.Status()
	bs := u.batcher.Stats()
	ss := u.sessions.Stats()
	gauge(descUp, b2f(us.Connected))
	u.mu.Lock()
	since, raised := u.waitingSince, u.noAckRaised
	u.mu.Unlock()
	var sinceAck float64
	if !since.IsZero() {
		sinceAck = now.Sub(since).Seconds()
	}
	gauge(descSinceAck, sinceAck)
	counter(descReconnects, float64(us.Reconnects))
	for i, n := range us.AcksIgnored {
		counter(descAcksIgnored, float64(n), ignoredReasons[i])
	}
	gauge(descNoAck, b2f(raised))
	gauge(descHead, float64(st.Head), st.Epoch)
	gauge(descAcked, float64(st.Acked), st.Epoch)
	gauge(descPendingBytes, float64(st.PendingBytes))
	gauge(descPendingRecs, float64(st.PendingRecords))
	var oldest float64
	if t := u.oldestUnacked(); !t.IsZero() {
		oldest = max(0, now.Sub(t).Seconds())
	}
	gauge(descOldest, oldest)
	gauge(descAlarm, b2f(st.Alarm))
	gauge(descSegBytes, float64(st.SegmentBytes))
	gauge(descHoles, float64(st.Holes))
	gauge(descUndeclared, float64(st.Undeclared))
	counter(descAppendErrors, float64(u.appendErrors.Load()))
	counter(descSampled, float64(bs.Sampled))
	counter(descDropped, float64(bs.Dropped))
	gauge(descBuffered, float64(bs.Buffered))
	gauge(descSessions, float64(ss.Open))
	gauge(descSnapPending, float64(ss.Pending))
	counter(descSnapStored, float64(ss.Stored))
	counter(descSnapRecovered, float64(ss.Recovered))
	counter(descSnapFailures, float64(ss.Failures))
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
