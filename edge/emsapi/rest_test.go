package emsapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/emsapi/emsapitest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // process-wide; cmd/parkgrid sets ReleaseMode
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// fixture is a router over fakes filled with a small site.
type fixture struct {
	src  *emsapitest.Source
	ctrl *emsapitest.Controller
	h    http.Handler

	lastHeader http.Header // of the last response
}

func newFixture(t *testing.T, mod func(*emsapi.Options)) *fixture {
	t.Helper()
	f := &fixture{src: &emsapitest.Source{}, ctrl: &emsapitest.Controller{}}
	exp := t0.Add(5 * time.Minute)
	f.src.SetSite(emsapi.SiteState{
		Site: "garage-north", At: t0, CurrentMA: [3]int64{61000, 58000, 60500}, PowerW: 41200,
		Limits: []emsapi.Limit{
			{Source: "fuse", MaxCurrentMA: phases(250000, 250000, 250000)},
			{Source: "ems", MaxPowerW: i64(40000), ExpiresAt: &exp, RequestID: "r-17"},
		},
	})
	f.src.SetPoints(
		emsapi.PointState{ID: "cp-01", At: t0, State: "C", CurrentMA: [3]int64{15900, 16010, 15950}, SetpointMA: 16000, PowerW: 11020, EnergyWh: 1234567, Limiting: "ems"},
		emsapi.PointState{ID: "cp-02", At: t0, State: "A"},
	)
	f.src.SetAlarms(emsapi.Alarm{ID: "fire", Kind: "fire", Message: "fire-alarm loop open", Since: t0.Add(-time.Minute), Latched: true})
	o := emsapi.Options{
		Source: f.src, Controller: f.ctrl, Config: emsapitest.Config{V: map[string]any{"site": "garage-north"}},
		MaxTTL: time.Hour, Now: func() time.Time { return t0 },
	}
	if mod != nil {
		mod(&o)
	}
	r, err := emsapi.NewRouter(o)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	f.h = r
	return f
}

// do sends one request through the real router.
func (f *fixture) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	return f.doHeaders(t, method, path, body, nil)
}

// doHeaders sends one request with extra headers ("Content-Type": "" drops
// the JSON content type a body gets by default).
func (f *fixture) doHeaders(t *testing.T, method, path, body string, h map[string]string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:8090"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	f.lastHeader = w.Header()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return w.Code, w.Body.Bytes()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestRESTReads(t *testing.T) {
	f := newFixture(t, nil)

	code, body := f.do(t, "GET", "/api/v1/site", "")
	if code != 200 {
		t.Fatalf("GET site: %d %s", code, body)
	}
	if diff := cmp.Diff(f.src.Site(), decode[emsapi.SiteState](t, body)); diff != "" {
		t.Errorf("GET site (-want +got):\n%s", diff)
	}

	code, body = f.do(t, "GET", "/api/v1/points", "")
	if code != 200 {
		t.Fatalf("GET points: %d %s", code, body)
	}
	if diff := cmp.Diff(emsapi.PointList{Points: f.src.Points()}, decode[emsapi.PointList](t, body)); diff != "" {
		t.Errorf("GET points (-want +got):\n%s", diff)
	}

	code, body = f.do(t, "GET", "/api/v1/points/cp-02", "")
	if code != 200 {
		t.Fatalf("GET points/cp-02: %d %s", code, body)
	}
	if diff := cmp.Diff(f.src.Points()[1], decode[emsapi.PointState](t, body)); diff != "" {
		t.Errorf("GET points/cp-02 (-want +got):\n%s", diff)
	}

	code, body = f.do(t, "GET", "/api/v1/points/cp-99", "")
	if code != 404 || !strings.Contains(decode[map[string]string](t, body)["error"], `"cp-99": not found`) {
		t.Errorf("GET points/cp-99: %d %s, want 404 naming cp-99", code, body)
	}

	code, body = f.do(t, "GET", "/api/v1/alarms", "")
	if code != 200 {
		t.Fatalf("GET alarms: %d %s", code, body)
	}
	if diff := cmp.Diff(emsapi.AlarmList{Alarms: f.src.Alarms()}, decode[emsapi.AlarmList](t, body)); diff != "" {
		t.Errorf("GET alarms (-want +got):\n%s", diff)
	}

	code, body = f.do(t, "GET", "/api/v1/config", "")
	if code != 200 || string(body) != `{"site":"garage-north"}` {
		t.Errorf("GET config: %d %s", code, body)
	}

	code, body = f.do(t, "GET", "/api/v1/openapi.json", "")
	if code != 200 || string(body) != string(emsapi.OpenAPI()) {
		t.Errorf("GET openapi.json: %d, %d bytes", code, len(body))
	}
}

func TestRESTEmptyListsAreArrays(t *testing.T) {
	f := newFixture(t, nil)
	f.src.SetSite(emsapi.SiteState{Site: "s"})
	f.src.SetPoints()
	f.src.SetAlarms()
	for path, want := range map[string]string{
		"/api/v1/points": `{"points":[]}`,
		"/api/v1/alarms": `{"alarms":[]}`,
	} {
		if _, body := f.do(t, "GET", path, ""); string(body) != want {
			t.Errorf("GET %s = %s, want %s", path, body, want)
		}
	}
	if _, body := f.do(t, "GET", "/api/v1/site", ""); !strings.Contains(string(body), `"limits":[]`) {
		t.Errorf("GET site = %s, want limits []", body)
	}
}

func TestRESTSetLimit(t *testing.T) {
	f := newFixture(t, nil)
	code, body := f.do(t, "POST", "/api/v1/limit", `{"requestId":"r-1","maxPowerW":22000,"maxCurrentA":[32,32,16],"ttlS":300,"comment":"ignored"}`)
	if code != 200 {
		t.Fatalf("POST limit: %d %s", code, body)
	}
	exp := t0.Add(300 * time.Second)
	want := emsapi.LimitReply{RequestID: "r-1", OK: true, Effective: &emsapi.Limit{
		Source: "ems", MaxPowerW: i64(22000), MaxCurrentMA: phases(32000, 32000, 16000), ExpiresAt: &exp, RequestID: "r-1",
	}}
	if diff := cmp.Diff(want, decode[emsapi.LimitReply](t, body)); diff != "" {
		t.Errorf("POST limit reply (-want +got):\n%s", diff)
	}
	wantCalls := []emsapitest.LimitCall{{
		Req: emsapi.LimitRequest{RequestID: "r-1", MaxPowerW: i64(22000), MaxCurrentMA: phases(32000, 32000, 16000), TTL: 300 * time.Second},
		Now: t0,
	}}
	if diff := cmp.Diff(wantCalls, f.ctrl.Limits()); diff != "" {
		t.Errorf("controller calls (-want +got):\n%s", diff)
	}
}

func TestRESTSetLimitRejected(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		ctrlErr  error
		wantCode int
		wantErr  string
	}{
		{"bad JSON", `{"requestId":`, nil, 400, "bad JSON"},
		{"wrong array length", `{"requestId":"r","maxCurrentA":[16,16],"ttlS":60}`, nil, 400, "maxCurrentA has 2 values"},
		{"negative", `{"requestId":"r","maxPowerW":-5,"ttlS":60}`, nil, 400, "maxPowerW -5"},
		{"wrong type", `{"requestId":"r","maxPowerW":"5","ttlS":60}`, nil, 400, "field maxPowerW"},
		{"ttl above max", `{"requestId":"r","maxPowerW":5,"ttlS":7200}`, nil, 400, "ttlS 7200 not in 1..3600"},
		{"no ttl", `{"requestId":"r","maxPowerW":5}`, nil, 400, "ttlS is required"},
		{"too large", `{"requestId":"r","maxPowerW":5,"ttlS":60,"x":"` + strings.Repeat("y", 70000) + `"}`, nil, 400, "request body too large"},
		{"controller says invalid", `{"requestId":"r","maxPowerW":5,"ttlS":60}`, fmt.Errorf("below the site's minimum: %w", emsapi.ErrInvalid), 400, "below the site's minimum"},
		{"controller refuses", `{"requestId":"r","maxPowerW":5,"ttlS":60}`, fmt.Errorf("safety latch: %w", emsapi.ErrConflict), 409, `limit request "r": safety latch: refused`},
		{"controller too slow", `{"requestId":"r","maxPowerW":5,"ttlS":60}`, context.DeadlineExceeded, 503, "deadline exceeded"},
		{"controller broken", `{"requestId":"r","maxPowerW":5,"ttlS":60}`, errors.New("disk on fire"), 500, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.ctrl.SetLimitFn = func(context.Context, emsapi.LimitRequest, time.Time) (emsapi.Limit, error) {
				return emsapi.Limit{}, tt.ctrlErr
			}
			code, body := f.do(t, "POST", "/api/v1/limit", tt.body)
			if code != tt.wantCode {
				t.Errorf("status %d (%s), want %d", code, body, tt.wantCode)
			}
			if got := decode[map[string]string](t, body); len(got) != 1 || !strings.Contains(got["error"], tt.wantErr) {
				t.Errorf("body %s, want only error containing %q", body, tt.wantErr)
			}
			if calls := f.ctrl.Limits(); len(calls) != 0 {
				t.Errorf("controller changed: %+v", calls)
			}
		})
	}
}

func TestRESTResetAlarm(t *testing.T) {
	f := newFixture(t, nil)
	code, body := f.do(t, "POST", "/api/v1/alarms/reset", `{"who":"j.meier","why":"all clear"}`)
	if code != 200 || string(body) != `{"ok":true}` {
		t.Fatalf("POST alarms/reset: %d %s", code, body)
	}
	if diff := cmp.Diff([]emsapitest.ResetCall{{Who: "j.meier", Why: "all clear", Now: t0}}, f.ctrl.Resets()); diff != "" {
		t.Errorf("resets (-want +got):\n%s", diff)
	}

	code, body = f.do(t, "POST", "/api/v1/alarms/reset", `{"who":"j.meier"}`)
	if code != 400 || !strings.Contains(string(body), "who and why are required") {
		t.Errorf("reset without why: %d %s", code, body)
	}

	f.ctrl.ResetAlarmFn = func(context.Context, string, string, time.Time) error {
		return fmt.Errorf("fire-alarm loop still open: %w", emsapi.ErrConflict)
	}
	code, body = f.do(t, "POST", "/api/v1/alarms/reset", `{"who":"j.meier","why":"try again"}`)
	if code != 409 || !strings.Contains(string(body), "fire-alarm loop still open") {
		t.Errorf("refused reset: %d %s", code, body)
	}
	if n := len(f.ctrl.Resets()); n != 1 {
		t.Errorf("%d resets recorded, want 1", n)
	}
}

func TestRESTErrorsAreJSON(t *testing.T) {
	f := newFixture(t, func(o *emsapi.Options) { o.Config = nil })
	for _, tt := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/v1/nope", 404},
		{"GET", "/", 404},
		{"DELETE", "/api/v1/site", 405},
		{"GET", "/api/v1/limit", 405},
		{"GET", "/api/v1/config", 404},
	} {
		code, body := f.do(t, tt.method, tt.path, "")
		if code != tt.code || decode[map[string]string](t, body)["error"] == "" {
			t.Errorf("%s %s: %d %s, want %d with an error", tt.method, tt.path, code, body, tt.code)
		}
	}
}

// panicSource panics, as a buggy adapter might.
type panicSource struct{ *emsapitest.Source }

func (panicSource) Site() emsapi.SiteState { panic("adapter bug") }

func TestRESTPanicIsJSON500(t *testing.T) {
	f := newFixture(t, func(o *emsapi.Options) { o.Source = panicSource{&emsapitest.Source{}} })
	code, body := f.do(t, "GET", "/api/v1/site", "")
	if code != 500 || decode[map[string]string](t, body)["error"] != "internal error" {
		t.Errorf("GET site with panicking source: %d %s", code, body)
	}
}

func TestNewRouterChecksOptions(t *testing.T) {
	src, ctrl := &emsapitest.Source{}, &emsapitest.Controller{}
	for name, o := range map[string]emsapi.Options{
		"no source":     {Controller: ctrl},
		"no controller": {Source: src},
		"negative ttl":  {Source: src, Controller: ctrl, MaxTTL: -time.Second},
		"tiny ttl":      {Source: src, Controller: ctrl, MaxTTL: time.Millisecond},
	} {
		if _, err := emsapi.NewRouter(o); err == nil {
			t.Errorf("%s: NewRouter accepted %+v", name, o)
		}
	}
}
