package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
)

func TestPreview(t *testing.T) {
	e := newEnv(t, true)
	var ans api.PreviewAnswer
	e.json("GET", "/api/v1/points/site-a/p1/tariffs", "", nil, http.StatusOK, &ans)
	if len(ans.Tariffs) != 2 || ans.Tariffs[0].TariffID != "eco" || ans.Tariffs[1].TariffID != "premium" || ans.HoldMinor != 5000 {
		t.Fatalf("preview %+v", ans)
	}
	kinds := []tariff.LineKind{}
	for _, c := range ans.Tariffs[0].Components {
		kinds = append(kinds, c.Kind)
	}
	if diff := cmp.Diff([]tariff.LineKind{tariff.LineEnergy, tariff.LineTime, tariff.LineStart}, kinds); diff != "" {
		t.Errorf("AFIR order (-want +got):\n%s", diff)
	}
	if code, b := e.do("GET", "/api/v1/points/site-a/nope/tariffs", "", nil); code != http.StatusNotFound || errCode(b) != "not_found" {
		t.Errorf("unknown point: %d %s", code, b)
	}
}

// TestDriverFlow: start with the fake provider → the point is authorised
// with the class and the hold's energy cap → a retry returns the same
// session and token → status → stop → completion → receipt PDF.
func TestDriverFlow(t *testing.T) {
	e := newEnv(t, true)
	ans := e.start("a", "client-0000000001")
	s := ans.Session
	if s.State != session.StateAuthorized || ans.Edge != "authorised" || !strings.HasPrefix(ans.Token, api.DriverTokenPrefix) {
		t.Fatalf("start: %+v", ans)
	}
	calls := e.edge.Calls()
	// The edge gets the hold's cap less the stopping margin (50 Wh).
	if len(calls) != 1 || calls[0] != (edgeCall{"authorize", "site-a", "p1", s.ID, "eco", s.EnergyCapWh - 50}) || s.EnergyCapWh <= 500 {
		t.Fatalf("edge calls %+v (cap %d)", calls, s.EnergyCapWh)
	}

	var again api.StartAnswer
	e.json("POST", "/api/v1/sessions", "", api.StartRequest{ClientID: "client-0000000001", Site: "site-a", Point: "p1", Tariff: "eco",
		Email: "driver@example.com", Payment: "fake"}, http.StatusOK, &again)
	if again.Session.ID != s.ID || again.Token != ans.Token {
		t.Errorf("retry gave session %s token match %v; want the first", again.Session.ID, again.Token == ans.Token)
	}

	var st api.SessionView
	e.json("GET", "/api/v1/sessions/"+s.ID, ans.Token, nil, http.StatusOK, &st)
	if st.State != session.StateAuthorized || st.Tariff.ID != "eco" || st.EnergyWh != nil {
		t.Errorf("status %+v", st)
	}
	if code, _ := e.do("GET", "/api/v1/sessions/"+s.ID+"/receipt.pdf", ans.Token, nil); code != http.StatusConflict {
		t.Errorf("receipt before invoicing: %d", code)
	}

	if _, err := e.sessions.Charging(t.Context(), s.ID, "begin snapshot", e.now); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(30 * time.Minute)
	e.json("GET", "/api/v1/sessions/"+s.ID, ans.Token, nil, http.StatusOK, &st)
	if !st.Estimate || st.EnergyWh == nil || *st.EnergyWh != 12_345 || st.Cost == nil || st.Cost.GrossMinor != 100+481 {
		t.Errorf("while charging: estimate %v energy %v cost %+v; want 12345 Wh, 5.81", st.Estimate, st.EnergyWh, st.Cost)
	}
	e.finish(ans, 20_000)
	e.json("GET", "/api/v1/sessions/"+s.ID, ans.Token, nil, http.StatusOK, &st)
	if st.State != session.StateInvoiced || st.EnergyWh == nil || *st.EnergyWh != 20_000 || st.Cost == nil || st.Cost.GrossMinor != 880 {
		t.Fatalf("after completion %+v", st)
	}
	if last := e.edge.Calls()[len(e.edge.Calls())-1]; last.Kind != "stop" || last.Session != s.ID {
		t.Errorf("last edge call %+v, want stop", last)
	}
	code, pdf := e.do("GET", "/api/v1/sessions/"+s.ID+"/receipt.pdf", ans.Token, nil)
	if code != http.StatusOK || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("receipt: %d %.40q", code, pdf)
	}
	if code, _ := e.do("POST", "/api/v1/sessions/"+s.ID+"/stop", ans.Token, nil); code != http.StatusConflict {
		t.Errorf("stop after invoicing: %d, want 409", code)
	}
}

// TestStopBeforeCharging: an authorised session stopped before the car
// draws energy is cancelled and its hold released; the edge is told.
func TestStopBeforeCharging(t *testing.T) {
	e := newEnv(t, true)
	ans := e.start("a", "client-0000000002")
	var out struct {
		Session api.SessionView `json:"session"`
		Edge    string          `json:"edge"`
	}
	e.json("POST", "/api/v1/sessions/"+ans.Session.ID+"/stop", ans.Token, nil, http.StatusOK, &out)
	if out.Session.State != session.StateCancelled || out.Edge != "stopped" {
		t.Errorf("stop: %+v", out)
	}
	got, _ := e.memory.Session(t.Context(), ans.Session.ID)
	if !got.HoldReleased {
		t.Error("hold not released")
	}
}

func TestStartRefusals(t *testing.T) {
	e := newEnv(t, true)
	ok := api.StartRequest{ClientID: "client-0000000003", Site: "site-a", Point: "p1", Tariff: "eco", Email: "d@example.com", Payment: "fake"}
	for name, tc := range map[string]struct {
		edit func(r *api.StartRequest)
		want int
	}{
		"short client id":   {func(r *api.StartRequest) { r.ClientID = "x" }, http.StatusBadRequest},
		"no email":          {func(r *api.StartRequest) { r.Email = "nope" }, http.StatusBadRequest},
		"payment and code":  {func(r *api.StartRequest) { r.Code = "abc" }, http.StatusBadRequest},
		"neither":           {func(r *api.StartRequest) { r.Payment = "" }, http.StatusBadRequest},
		"other provider":    {func(r *api.StartRequest) { r.Payment = "stripe" }, http.StatusBadRequest},
		"tariff not here":   {func(r *api.StartRequest) { r.Tariff = "gold" }, http.StatusBadRequest},
		"unknown point":     {func(r *api.StartRequest) { r.Point = "p9" }, http.StatusNotFound},
		"unknown code":      {func(r *api.StartRequest) { r.Payment, r.Code = "", "guess" }, http.StatusForbidden},
		"another operators": {func(r *api.StartRequest) { r.Site = "site-b"; r.Tariff = "eco" }, http.StatusCreated},
	} {
		r := ok
		r.ClientID = "client-" + strings.ReplaceAll(name, " ", "-") + "-0000000"
		tc.edit(&r)
		if code, b := e.do("POST", "/api/v1/sessions", "", r); code != tc.want {
			t.Errorf("%s: %d %s, want %d", name, code, b, tc.want)
		}
	}
	if code, _ := e.do("POST", "/api/v1/sessions", "", map[string]any{"clientId": "client-0000000004", "extra": 1}); code != http.StatusBadRequest {
		t.Errorf("unknown field: %d", code)
	}
}

// TestEdgeErrorThenConfirm: an edge that cannot be reached leaves the
// session authorised and says so; confirm sends the authorisation again.
func TestEdgeErrorThenConfirm(t *testing.T) {
	e := newEnv(t, true)
	e.edge.Err = errEdge
	ans := e.start("a", "client-0000000005")
	if !strings.HasPrefix(ans.Edge, "error: ") || ans.Session.State != session.StateAuthorized {
		t.Fatalf("start with the edge down: %+v", ans)
	}
	e.edge.Err = nil
	var out struct {
		Edge string `json:"edge"`
	}
	e.json("POST", "/api/v1/sessions/"+ans.Session.ID+"/confirm", ans.Token, nil, http.StatusOK, &out)
	if out.Edge != "authorised" || len(e.edge.Calls()) != 2 {
		t.Errorf("confirm: %+v, calls %d", out, len(e.edge.Calls()))
	}
}

// TestTariffVersionKeptBySession: a tariff changed by the API while a
// session runs leaves the session's price alone; new sessions get the new
// one.
func TestTariffVersionKeptBySession(t *testing.T) {
	e := newEnv(t, true)
	first := e.start("a", "client-0000000006")
	var v2 api.TariffBody
	e.json("PUT", "/api/v1/operator/tariffs/eco", e.tokens["a"], api.TariffBody{ID: "eco", Class: tariff.ClassEco, Currency: "EUR",
		EnergyPerKWhMinor: 99, VATRateBP: 1900}, http.StatusOK, &v2)
	if v2.Version != 2 {
		t.Fatalf("new version %d", v2.Version)
	}
	e.now = e.now.Add(time.Minute)
	second := e.start("a", "client-0000000007")
	var st api.SessionView
	e.json("GET", "/api/v1/sessions/"+first.Session.ID, first.Token, nil, http.StatusOK, &st)
	if st.Tariff.EnergyPerKWhMinor != 39 || second.Session.Tariff.EnergyPerKWhMinor != 99 {
		t.Errorf("running session at %d, new one at %d; want 39, 99", st.Tariff.EnergyPerKWhMinor, second.Session.Tariff.EnergyPerKWhMinor)
	}
}
