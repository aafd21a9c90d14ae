// Package metrics exposes the edge daemon's state and health to Prometheus:
// Modbus bus latencies and errors, per-charge-point currents, the limits in
// force, alarms and the control loop's duration. It registers on the
// registry it is given (never the default one), reads state at scrape
// time through functions the caller passes in, and imports no other edge
// package; cmd/parkgrid adapts the buses and the control loop to it.
//
// Names and units follow Prometheus conventions (seconds, amperes, watts);
// energy stays in watt-hours as the meters count it. To label every series
// with the site, wrap the registerer:
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(prometheus.WrapRegistererWith(prometheus.Labels{"site": id}, reg), opts)
//	http.Handle("/metrics", metrics.Handler(reg, logger))
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Histogram is a latency histogram as a bus keeps it (the shape of
// drivers/modbus.Histogram): Counts[i] counts observations in
// (Bounds[i-1], Bounds[i]], Counts[len(Bounds)] those above the last bound.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// BusStats are one bus's counters since it started (the shape of
// drivers/modbus.Stats plus the bus id).
type BusStats struct {
	Bus        string
	Requests   uint64
	Errors     uint64
	Timeouts   uint64
	Exceptions uint64
	Reconnects uint64
	DialErrors uint64
	Latency    Histogram
}

// Point is one charge point's values at one moment.
type Point struct {
	ID         string
	CurrentMA  [3]int64
	SetpointMA int64
	PowerW     int64
	EnergyWh   int64
	Stale      bool
}

// Limit is one limit in force on the site; nil dimensions are not limited.
type Limit struct {
	Source       string
	MaxPowerW    *int64
	MaxCurrentMA *[3]int64
	ExpiresAt    time.Time // zero: does not expire
}

// Snapshot is the site's state at one moment.
type Snapshot struct {
	CurrentMA    [3]int64 // grid phases
	PowerW       int64
	Points       []Point
	Limits       []Limit
	SafeBudget   bool
	AlarmsActive int
	AlarmLatched bool
}

// Options say where the collectors read from; a nil func leaves its
// metrics out.
type Options struct {
	Buses    func() []BusStats // called at every scrape; must not block
	Snapshot func() Snapshot   // called at every scrape; must not block
}

// Metrics holds the metrics the control loop pushes.
type Metrics struct {
	loop     prometheus.Histogram
	overruns prometheus.Counter
}

// New makes the collectors and registers them on reg.
func New(reg prometheus.Registerer, o Options) (*Metrics, error) {
	m := &Metrics{
		loop: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parkgrid_edge_control_loop_duration_seconds",
			Help:    "Time one control-loop iteration took (limits, allocation, setpoints).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		overruns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_edge_control_loop_overruns_total",
			Help: "Control-loop iterations that took longer than the loop interval.",
		}),
	}
	cs := []prometheus.Collector{m.loop, m.overruns}
	if o.Buses != nil {
		cs = append(cs, busCollector{stats: o.Buses})
	}
	if o.Snapshot != nil {
		cs = append(cs, stateCollector{snap: o.Snapshot})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// ObserveLoop records one control-loop iteration that took d; interval is
// the loop's period (an iteration longer than it counts as an overrun).
func (m *Metrics) ObserveLoop(d, interval time.Duration) {
	m.loop.Observe(d.Seconds())
	if interval > 0 && d > interval {
		m.overruns.Inc()
	}
}

// Handler serves the registry's metrics in the Prometheus formats.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{log},
		ErrorHandling: promhttp.ContinueOnError, // one broken collector must not hide the rest
	})
}

// slogPrinter adapts slog to promhttp's Logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Error("metrics: "+fmt.Sprint(v...), "err", fmt.Sprint(v...))
}

// Amperes converts mA to A.
func Amperes(mA int64) float64 { return float64(mA) / 1000 }

var phaseLabels = [3]string{"L1", "L2", "L3"}

// busCollector reads bus counters at scrape time.
type busCollector struct {
	stats func() []BusStats
}

var (
	busRequests   = prometheus.NewDesc("parkgrid_edge_bus_requests_total", "Modbus requests a bus executed.", []string{"bus"}, nil)
	busErrors     = prometheus.NewDesc("parkgrid_edge_bus_errors_total", "Modbus requests that failed, by kind (all counts every failure).", []string{"bus", "kind"}, nil)
	busReconnects = prometheus.NewDesc("parkgrid_edge_bus_reconnects_total", "Successful dials after a bus lost its connection.", []string{"bus"}, nil)
	busLatency    = prometheus.NewDesc("parkgrid_edge_bus_request_duration_seconds", "Modbus request latency, send to reply, of requests that got a reply.", []string{"bus"}, nil)
)

func (c busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{busRequests, busErrors, busReconnects, busLatency} {
		ch <- d
	}
}

func (c busCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(busRequests, prometheus.CounterValue, float64(s.Requests), s.Bus)
		for kind, n := range map[string]uint64{"all": s.Errors, "timeout": s.Timeouts, "exception": s.Exceptions, "dial": s.DialErrors} {
			ch <- prometheus.MustNewConstMetric(busErrors, prometheus.CounterValue, float64(n), s.Bus, kind)
		}
		ch <- prometheus.MustNewConstMetric(busReconnects, prometheus.CounterValue, float64(s.Reconnects), s.Bus)
		ch <- histogramOf(busLatency, s.Latency, s.Bus)
	}
}

// histogramOf converts a bus histogram (per-bucket counts) to a Prometheus
// one (cumulative counts).
func histogramOf(d *prometheus.Desc, h Histogram, labels ...string) prometheus.Metric {
	if len(h.Counts) != len(h.Bounds)+1 {
		return prometheus.NewInvalidMetric(d, fmt.Errorf("histogram of %v: %d counts for %d bounds, want %d", labels, len(h.Counts), len(h.Bounds), len(h.Bounds)+1))
	}
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	m, err := prometheus.NewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// stateCollector reads the site state at scrape time.
type stateCollector struct {
	snap func() Snapshot
}

var (
	siteCurrent   = prometheus.NewDesc("parkgrid_edge_site_current_amperes", "Current at the grid connection per phase.", []string{"phase"}, nil)
	sitePower     = prometheus.NewDesc("parkgrid_edge_site_power_watts", "Active power at the grid connection.", nil, nil)
	pointCurrent  = prometheus.NewDesc("parkgrid_edge_point_current_amperes", "Charge-point current per charger phase.", []string{"point", "phase"}, nil)
	pointSetpoint = prometheus.NewDesc("parkgrid_edge_point_setpoint_amperes", "Current a charge point is allowed.", []string{"point"}, nil)
	pointPower    = prometheus.NewDesc("parkgrid_edge_point_power_watts", "Charge-point active power.", []string{"point"}, nil)
	pointEnergy   = prometheus.NewDesc("parkgrid_edge_point_energy_watthours_total", "Charge-point meter energy register.", []string{"point"}, nil)
	pointStale    = prometheus.NewDesc("parkgrid_edge_point_stale", "1 if the charge point's values are stale.", []string{"point"}, nil)
	limitPower    = prometheus.NewDesc("parkgrid_edge_site_limit_power_watts", "Power limit in force, by what sets it.", []string{"source"}, nil)
	limitCurrent  = prometheus.NewDesc("parkgrid_edge_site_limit_current_amperes", "Current limit in force per phase, by what sets it.", []string{"source", "phase"}, nil)
	limitExpiry   = prometheus.NewDesc("parkgrid_edge_site_limit_expiry_timestamp_seconds", "When a limit in force expires (Unix time).", []string{"source"}, nil)
	safeBudget    = prometheus.NewDesc("parkgrid_edge_site_safe_budget", "1 while the grid meter is stale and the safe budget applies.", nil, nil)
	alarmsActive  = prometheus.NewDesc("parkgrid_edge_alarms_active", "Alarms whose condition is present.", nil, nil)
	alarmLatched  = prometheus.NewDesc("parkgrid_edge_alarm_latched", "1 while a latched alarm holds every charger at 0 A.", nil, nil)
	stateDescs    = []*prometheus.Desc{siteCurrent, sitePower, pointCurrent, pointSetpoint, pointPower, pointEnergy, pointStale, limitPower, limitCurrent, limitExpiry, safeBudget, alarmsActive, alarmLatched}
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stateDescs {
		ch <- d
	}
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i, ph := range phaseLabels {
		gauge(siteCurrent, Amperes(s.CurrentMA[i]), ph)
	}
	gauge(sitePower, float64(s.PowerW))
	gauge(safeBudget, flag(s.SafeBudget))
	gauge(alarmsActive, float64(s.AlarmsActive))
	gauge(alarmLatched, flag(s.AlarmLatched))
	for _, p := range s.Points {
		for i, ph := range phaseLabels {
			gauge(pointCurrent, Amperes(p.CurrentMA[i]), p.ID, ph)
		}
		gauge(pointSetpoint, Amperes(p.SetpointMA), p.ID)
		gauge(pointPower, float64(p.PowerW), p.ID)
		ch <- prometheus.MustNewConstMetric(pointEnergy, prometheus.CounterValue, float64(p.EnergyWh), p.ID)
		gauge(pointStale, flag(p.Stale), p.ID)
	}
	for _, l := range s.Limits {
		if l.MaxPowerW != nil {
			gauge(limitPower, float64(*l.MaxPowerW), l.Source)
		}
		if l.MaxCurrentMA != nil {
			for i, ph := range phaseLabels {
				gauge(limitCurrent, Amperes(l.MaxCurrentMA[i]), l.Source, ph)
			}
		}
		if !l.ExpiresAt.IsZero() {
			gauge(limitExpiry, float64(l.ExpiresAt.UnixMilli())/1000, l.Source)
		}
	}
}
