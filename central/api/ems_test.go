package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/command"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// siteFake is the fake edge's side of the site commands: the limit
// commands and resets it got, and what it answers.
type siteFake struct {
	mu     sync.Mutex // protects the fields below
	calls  []string
	limits []command.Limit
	err    error // returned by both
}

var _ api.SiteCommands = (*fakeEdge)(nil)

func (e *fakeEdge) SetLimit(_ context.Context, site string, l command.Limit) (command.Effective, error) {
	e.site.mu.Lock()
	defer e.site.mu.Unlock()
	e.site.calls = append(e.site.calls, "set-limit "+site)
	e.site.limits = append(e.site.limits, l)
	if e.site.err != nil {
		return command.Effective{}, e.site.err
	}
	if l.TTL == 0 {
		return command.Effective{Source: "fuse", MaxCurrentMA: [3]int64{63_000, 63_000, 63_000}}, nil
	}
	return command.Effective{Source: "ems", MaxCurrentMA: *l.MaxCurrentMA, Expires: time.Date(2026, 12, 6, 15, 10, 0, 0, time.UTC), RequestID: "central/c1"}, nil
}

func (e *fakeEdge) ResetSafety(_ context.Context, site, who, why string) error {
	e.site.mu.Lock()
	defer e.site.mu.Unlock()
	e.site.calls = append(e.site.calls, "reset "+site+" "+who+": "+why)
	return e.site.err
}

func (e *fakeEdge) SiteCalls() []string {
	e.site.mu.Lock()
	defer e.site.mu.Unlock()
	return append([]string(nil), e.site.calls...)
}

// fakeReadings holds stored readings and answers a filter by site,
// quantity and time as the store does.
type fakeReadings struct {
	rs  []store.StoredReading
	err error
}

func (f *fakeReadings) Readings(_ context.Context, flt store.ReadingFilter) ([]store.StoredReading, error) {
	var out []store.StoredReading
	for _, r := range f.rs {
		if (flt.Site == "" || r.Site == flt.Site) && (flt.Quantity == "" || r.Quantity == flt.Quantity) && !r.Time.Before(flt.From) {
			out = append(out, r)
		}
	}
	return out, f.err
}

// add stores one sample of a meter: currents per phase and power at t.
func (f *fakeReadings) add(site, device, point string, t time.Time, ma [3]int64, w int64, stale bool) {
	for q, v := range map[string]int64{reading.QCurrentL1MA: ma[0], reading.QCurrentL2MA: ma[1], reading.QCurrentL3MA: ma[2], reading.QPowerW: w} {
		r := store.StoredReading{Site: site, Reading: reading.Reading{Time: t, Device: device, Point: point, Quantity: q, Value: v, Stale: stale}}
		if stale {
			r.Value = 0
		}
		f.rs = append(f.rs, r)
	}
}

func TestSiteLoad(t *testing.T) {
	e := newEnv(t, true)
	now := e.now
	e.readings.add("site-a", "grid", "", now.Add(-20*time.Second), [3]int64{99_000, 99_000, 99_000}, 60_000, false) // outside the window
	e.readings.add("site-a", "grid", "", now.Add(-2*time.Second), [3]int64{40_000, 38_000, 41_000}, 27_000, false)
	e.readings.add("site-a", "grid", "", now.Add(-3*time.Second), [3]int64{1, 1, 1}, 1, false) // older: arrives later in a batch
	e.readings.add("site-a", "p1.meter", "p1", now.Add(-time.Second), [3]int64{16_000, 16_000, 16_000}, 11_000, false)
	e.readings.add("site-a", "p2.meter", "p2", now.Add(-time.Second), [3]int64{10_000, 0, 0}, 2_300, false)
	e.readings.add("site-a", "p3.meter", "p3", now.Add(-5*time.Second), [3]int64{7_000, 7_000, 7_000}, 4_800, false)
	e.readings.add("site-a", "p3.meter", "p3", now.Add(-time.Second), [3]int64{}, 0, true) // stale since
	e.readings.add("site-b", "grid-b", "", now.Add(-time.Second), [3]int64{5, 5, 5}, 5, false)

	var got api.SiteLoad
	e.json("GET", "/api/v1/operator/sites/site-a/load", e.tokens["a"], nil, http.StatusOK, &got)
	want := api.SiteLoad{
		Site: "site-a", At: now,
		EV: api.Load{CurrentMA: [3]int64{26_000, 16_000, 16_000}, PowerW: 13_300},
		Points: []api.MeterLoad{
			{Device: "p1.meter", Point: "p1", At: now.Add(-time.Second), CurrentMA: [3]int64{16_000, 16_000, 16_000}, PowerW: 11_000},
			{Device: "p2.meter", Point: "p2", At: now.Add(-time.Second), CurrentMA: [3]int64{10_000, 0, 0}, PowerW: 2_300},
			{Device: "p3.meter", Point: "p3", At: now.Add(-time.Second), CurrentMA: [3]int64{7_000, 7_000, 7_000}, PowerW: 4_800, Stale: true},
		},
		Meters: []api.MeterLoad{{Device: "grid", At: now.Add(-2 * time.Second), CurrentMA: [3]int64{40_000, 38_000, 41_000}, PowerW: 27_000}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("load (-want +got):\n%s", diff)
	}

	// Nothing stored: empty lists, zero sums.
	e.json("GET", "/api/v1/operator/sites/site-b/load", e.tokens["b"], nil, http.StatusOK, &got)
	if len(got.Meters) != 1 || len(got.Points) != 0 || got.EV != (api.Load{}) {
		t.Errorf("site-b load %+v", got)
	}
	e.readings.err = errors.New("database gone")
	if code, b := e.do("GET", "/api/v1/operator/sites/site-a/load", e.tokens["a"], nil); code != http.StatusInternalServerError || strings.Contains(string(b), "database gone") {
		t.Errorf("store error: %d %s", code, b)
	}
}

func TestSiteLimit(t *testing.T) {
	e := newEnv(t, true)
	tok := e.tokens["a"]
	var got api.LimitAnswer
	e.json("PUT", "/api/v1/operator/sites/site-a/limit", tok, api.LimitRequest{MaxCurrentA: []float64{20, 20, 19.9996}, Scope: "ev", TTLS: 600}, http.StatusOK, &got)
	exp := time.Date(2026, 12, 6, 15, 10, 0, 0, time.UTC)
	want := api.LimitAnswer{Site: "site-a", Effective: api.EffectiveLimit{Source: "ems", MaxCurrentMA: [3]int64{20_000, 20_000, 20_000}, ExpiresAt: &exp, RequestID: "central/c1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	ma := [3]int64{20_000, 20_000, 20_000}
	if diff := cmp.Diff([]command.Limit{{MaxCurrentMA: &ma, Scope: "ev", TTL: 10 * time.Minute}}, e.edge.site.limits); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	got = api.LimitAnswer{}
	e.json("DELETE", "/api/v1/operator/sites/site-a/limit", tok, nil, http.StatusOK, &got)
	if got.Effective.Source != "fuse" || got.Effective.ExpiresAt != nil || e.edge.site.limits[1].TTL != 0 || e.edge.site.limits[1].MaxCurrentMA != nil {
		t.Errorf("withdraw answered %+v, sent %+v", got, e.edge.site.limits[1])
	}

	w := int64(-1)
	for name, body := range map[string]any{
		"no ttl":        api.LimitRequest{MaxCurrentA: []float64{1, 1, 1}},
		"ttl too long":  api.LimitRequest{MaxCurrentA: []float64{1, 1, 1}, TTLS: 86_401},
		"two phases":    api.LimitRequest{MaxCurrentA: []float64{1, 1}, TTLS: 60},
		"negative A":    api.LimitRequest{MaxCurrentA: []float64{1, -1, 1}, TTLS: 60},
		"absurd A":      api.LimitRequest{MaxCurrentA: []float64{1e12, 1, 1}, TTLS: 60},
		"negative W":    api.LimitRequest{MaxPowerW: &w, TTLS: 60},
		"no dimension":  api.LimitRequest{TTLS: 60},
		"scope":         api.LimitRequest{MaxCurrentA: []float64{1, 1, 1}, Scope: "house", TTLS: 60},
		"unknown field": map[string]any{"maxCurrentA": []float64{1, 1, 1}, "ttlS": 60, "start": "2026-12-07T00:00:00Z"},
		"string ttl":    map[string]any{"maxCurrentA": []float64{1, 1, 1}, "ttlS": "60"},
	} {
		if code, b := e.do("PUT", "/api/v1/operator/sites/site-a/limit", tok, body); code != http.StatusBadRequest || errCode(b) != "bad_request" {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
	if n := len(e.edge.site.limits); n != 2 {
		t.Errorf("%d limits sent; bad requests must not reach the edge", n)
	}
}

// TestSiteCommandErrors: the commander's errors map to statuses an
// operator can act on, with the edge's reason when it refused.
func TestSiteCommandErrors(t *testing.T) {
	e := newEnv(t, true)
	tok := e.tokens["a"]
	limit := api.LimitRequest{MaxCurrentA: []float64{20, 20, 20}, TTLS: 60}
	for _, tc := range []struct {
		err  error
		code int
		kind string
	}{
		{fmt.Errorf("set limit: %w: alarm still present: fire-alarm loop open", command.ErrRefused), http.StatusConflict, "refused"},
		{fmt.Errorf("x: %w", command.ErrNoReply), http.StatusGatewayTimeout, "edge_no_reply"},
		{fmt.Errorf("x: %w", command.ErrNoGateway), http.StatusServiceUnavailable, "no_gateway"},
		{fmt.Errorf("x: %w: ttl", command.ErrInvalid), http.StatusBadRequest, "bad_request"},
		{errors.New("broker on fire"), http.StatusInternalServerError, "internal"},
	} {
		e.edge.site.err = tc.err
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"PUT", "/api/v1/operator/sites/site-a/limit", limit},
			{"DELETE", "/api/v1/operator/sites/site-a/limit", nil},
			{"POST", "/api/v1/operator/sites/site-a/alarms/reset", api.ResetRequest{Why: "all clear"}},
		} {
			code, b := e.do(req.method, req.path, tok, req.body)
			if code != tc.code || errCode(b) != tc.kind {
				t.Errorf("%v: %s %s: %d %s, want %d %s", tc.err, req.method, req.path, code, b, tc.code, tc.kind)
			}
			if tc.code == http.StatusConflict && !strings.Contains(string(b), "fire-alarm loop open") {
				t.Errorf("refusal without the edge's reason: %s", b)
			}
		}
	}
}

func TestAlarmReset(t *testing.T) {
	e := newEnv(t, true)
	tok := e.tokens["a"]
	e.json("POST", "/api/v1/operator/sites/site-a/alarms/reset", tok, api.ResetRequest{Why: "fire brigade gave the all-clear"}, http.StatusOK, nil)
	e.json("POST", "/api/v1/operator/sites/site-a/alarms/reset", tok, api.ResetRequest{Who: "j.meier", Why: "loop checked"}, http.StatusOK, nil)
	// The token is named "test" (helpers_test.go): who is the token's name.
	want := []string{"reset site-a test: fire brigade gave the all-clear", "reset site-a test (j.meier): loop checked"}
	if diff := cmp.Diff(want, e.edge.SiteCalls()); diff != "" {
		t.Errorf("resets (-want +got):\n%s", diff)
	}
	for name, body := range map[string]any{
		"no why":        api.ResetRequest{Who: "x"},
		"control char":  api.ResetRequest{Why: "a\x00b"},
		"long why":      api.ResetRequest{Why: strings.Repeat("x", 513)},
		"long who":      api.ResetRequest{Who: strings.Repeat("x", 80), Why: "y"},
		"unknown field": map[string]any{"why": "x", "force": true},
	} {
		if code, b := e.do("POST", "/api/v1/operator/sites/site-a/alarms/reset", tok, body); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
	if n := len(e.edge.SiteCalls()); n != 2 {
		t.Errorf("%d resets sent; bad requests must not reach the edge", n)
	}
}

// TestSiteRoutesTenants: each EMS route with another operator's site, an
// unknown site, no token or a driver token reaches no edge.
func TestSiteRoutesTenants(t *testing.T) {
	e := newEnv(t, true)
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/load", nil},
		{"PUT", "/limit", api.LimitRequest{MaxCurrentA: []float64{0, 0, 0}, TTLS: 60}},
		{"DELETE", "/limit", nil},
		{"POST", "/alarms/reset", api.ResetRequest{Why: "x"}},
	}
	for _, r := range routes {
		for _, tc := range []struct {
			site, token string
			code        int
		}{
			{"site-a", e.tokens["b"], http.StatusNotFound},
			{"site-b", e.tokens["a"], http.StatusNotFound},
			{"nowhere", e.tokens["a"], http.StatusNotFound},
			{"site-a", "", http.StatusUnauthorized},
			{"site-a", "pgo_forged", http.StatusUnauthorized},
			{"site-a", api.DriverTokenPrefix + "x", http.StatusForbidden},
		} {
			if code, b := e.do(r.method, "/api/v1/operator/sites/"+tc.site+r.path, tc.token, r.body); code != tc.code {
				t.Errorf("%s %s on %s: %d %s, want %d", r.method, r.path, tc.site, code, b, tc.code)
			}
		}
	}
	if calls := e.edge.SiteCalls(); len(calls) != 0 {
		t.Errorf("reached the edge: %v", calls)
	}
}
