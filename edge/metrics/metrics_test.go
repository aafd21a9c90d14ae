package metrics_test

import (
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"

	"github.com/parkgrid/parkgrid/edge/metrics"
)

func i64(v int64) *int64 { return &v }

func busStats() []metrics.BusStats {
	return []metrics.BusStats{{
		Bus: "lan", Requests: 100, Errors: 3, Timeouts: 2, Exceptions: 1, Reconnects: 1, DialErrors: 4,
		Latency: metrics.Histogram{
			Bounds: []time.Duration{time.Millisecond, 10 * time.Millisecond},
			Counts: []uint64{50, 40, 7}, // ≤1ms, ≤10ms, above
			Count:  97, Sum: 970 * time.Millisecond,
		},
	}}
}

func snapshot() metrics.Snapshot {
	return metrics.Snapshot{
		CurrentMA: [3]int64{61000, 58000, 60500}, PowerW: 41200,
		Points: []metrics.Point{{ID: "cp-01", CurrentMA: [3]int64{16000, 15500, 0}, SetpointMA: 16000, PowerW: 7300, EnergyWh: 1234567}},
		Limits: []metrics.Limit{
			{Source: "fuse", MaxCurrentMA: &[3]int64{250000, 250000, 250000}},
			{Source: "ems", MaxPowerW: i64(40000), ExpiresAt: time.Date(2026, 11, 24, 10, 5, 0, 0, time.UTC)},
		},
		SafeBudget: true, AlarmsActive: 1, AlarmLatched: true,
	}
}

func newRegistry(t *testing.T) (*prometheus.Registry, *metrics.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{Buses: busStats, Snapshot: snapshot})
	if err != nil {
		t.Fatal(err)
	}
	return reg, m
}

func TestBusMetrics(t *testing.T) {
	reg, _ := newRegistry(t)
	want := `
# HELP parkgrid_edge_bus_errors_total Modbus requests that failed, by kind (all counts every failure).
# TYPE parkgrid_edge_bus_errors_total counter
parkgrid_edge_bus_errors_total{bus="lan",kind="all"} 3
parkgrid_edge_bus_errors_total{bus="lan",kind="dial"} 4
parkgrid_edge_bus_errors_total{bus="lan",kind="exception"} 1
parkgrid_edge_bus_errors_total{bus="lan",kind="timeout"} 2
# HELP parkgrid_edge_bus_request_duration_seconds Modbus request latency, send to reply, of requests that got a reply.
# TYPE parkgrid_edge_bus_request_duration_seconds histogram
parkgrid_edge_bus_request_duration_seconds_bucket{bus="lan",le="0.001"} 50
parkgrid_edge_bus_request_duration_seconds_bucket{bus="lan",le="0.01"} 90
parkgrid_edge_bus_request_duration_seconds_bucket{bus="lan",le="+Inf"} 97
parkgrid_edge_bus_request_duration_seconds_sum{bus="lan"} 0.97
parkgrid_edge_bus_request_duration_seconds_count{bus="lan"} 97
# HELP parkgrid_edge_bus_requests_total Modbus requests a bus executed.
# TYPE parkgrid_edge_bus_requests_total counter
parkgrid_edge_bus_requests_total{bus="lan"} 100
`
	if diff := cmp.Diff(strings.TrimPrefix(want, "\n"), exposition(t, reg, "parkgrid_edge_bus_errors_total", "parkgrid_edge_bus_request_duration_seconds", "parkgrid_edge_bus_requests_total")); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
}

func TestStateMetrics(t *testing.T) {
	reg, _ := newRegistry(t)
	want := `
# HELP parkgrid_edge_alarm_latched 1 while a latched alarm holds every charger at 0 A.
# TYPE parkgrid_edge_alarm_latched gauge
parkgrid_edge_alarm_latched 1
# HELP parkgrid_edge_point_current_amperes Charge-point current per charger phase.
# TYPE parkgrid_edge_point_current_amperes gauge
parkgrid_edge_point_current_amperes{phase="L1",point="cp-01"} 16
parkgrid_edge_point_current_amperes{phase="L2",point="cp-01"} 15.5
parkgrid_edge_point_current_amperes{phase="L3",point="cp-01"} 0
# HELP parkgrid_edge_point_energy_watthours_total Charge-point meter energy register.
# TYPE parkgrid_edge_point_energy_watthours_total counter
parkgrid_edge_point_energy_watthours_total{point="cp-01"} 1.234567e+06
# HELP parkgrid_edge_site_limit_current_amperes Current limit in force per phase, by what sets it.
# TYPE parkgrid_edge_site_limit_current_amperes gauge
parkgrid_edge_site_limit_current_amperes{phase="L1",source="fuse"} 250
parkgrid_edge_site_limit_current_amperes{phase="L2",source="fuse"} 250
parkgrid_edge_site_limit_current_amperes{phase="L3",source="fuse"} 250
# HELP parkgrid_edge_site_limit_expiry_timestamp_seconds When a limit in force expires (Unix time).
# TYPE parkgrid_edge_site_limit_expiry_timestamp_seconds gauge
parkgrid_edge_site_limit_expiry_timestamp_seconds{source="ems"} 1.7955147e+09
# HELP parkgrid_edge_site_limit_power_watts Power limit in force, by what sets it.
# TYPE parkgrid_edge_site_limit_power_watts gauge
parkgrid_edge_site_limit_power_watts{source="ems"} 40000
# HELP parkgrid_edge_site_safe_budget 1 while the grid meter is stale and the safe budget applies.
# TYPE parkgrid_edge_site_safe_budget gauge
parkgrid_edge_site_safe_budget 1
`
	if diff := cmp.Diff(strings.TrimPrefix(want, "\n"), exposition(t, reg, "parkgrid_edge_alarm_latched", "parkgrid_edge_point_current_amperes", "parkgrid_edge_point_energy_watthours_total",
		"parkgrid_edge_site_limit_current_amperes", "parkgrid_edge_site_limit_expiry_timestamp_seconds",
		"parkgrid_edge_site_limit_power_watts", "parkgrid_edge_site_safe_budget")); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	if n != 28 {
		t.Errorf("gathered %d series, want 28", n)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestLoopDuration(t *testing.T) {
	reg, m := newRegistry(t)
	m.ObserveLoop(3*time.Millisecond, time.Second)
	m.ObserveLoop(1500*time.Millisecond, time.Second)
	want := `
# HELP parkgrid_edge_control_loop_overruns_total Control-loop iterations that took longer than the loop interval.
# TYPE parkgrid_edge_control_loop_overruns_total counter
parkgrid_edge_control_loop_overruns_total 1
`
	if diff := cmp.Diff(strings.TrimPrefix(want, "\n"), exposition(t, reg, "parkgrid_edge_control_loop_overruns_total")); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "parkgrid_edge_control_loop_duration_seconds" {
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 2 || h.GetSampleSum() != 1.503 {
				t.Errorf("loop histogram count %d sum %g, want 2 and 1.503", h.GetSampleCount(), h.GetSampleSum())
			}
			return
		}
	}
	t.Error("no loop duration histogram")
}

func TestBadHistogramDoesNotHideTheRest(t *testing.T) {
	reg := prometheus.NewRegistry()
	bad := func() []metrics.BusStats {
		return []metrics.BusStats{{Bus: "rs485", Requests: 5, Latency: metrics.Histogram{Bounds: []time.Duration{time.Millisecond}}}}
	}
	if _, err := metrics.New(reg, metrics.Options{Buses: bad, Snapshot: snapshot}); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	metrics.Handler(reg, nil).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, s := range []string{`parkgrid_edge_bus_requests_total{bus="rs485"} 5`, `parkgrid_edge_site_power_watts 41200`} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %q despite one broken histogram:\n%s", s, body)
		}
	}
}

func TestHandlerServesRegistry(t *testing.T) {
	reg, m := newRegistry(t)
	m.ObserveLoop(time.Millisecond, time.Second)
	w := httptest.NewRecorder()
	metrics.Handler(reg, nil).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("GET /metrics: %d", w.Code)
	}
	body := w.Body.String()
	for _, s := range []string{"parkgrid_edge_control_loop_duration_seconds_count 1", `parkgrid_edge_point_setpoint_amperes{point="cp-01"} 16`, `parkgrid_edge_site_current_amperes{phase="L1"} 61`} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
}

func TestNewRefusesDoubleRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, metrics.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg, metrics.Options{}); err == nil {
		t.Error("second New on one registry succeeded")
	}
}

// exposition renders the named metric families of g in the text format
// (families sorted by name, series by labels, as Gather returns them).
func exposition(t *testing.T, g prometheus.Gatherer, names ...string) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if slices.Contains(names, mf.GetName()) {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b.String()
}
