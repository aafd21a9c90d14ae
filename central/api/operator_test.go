package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
)

func TestTariffCRUD(t *testing.T) {
	e := newEnv(t, true)
	tok := e.tokens["a"]
	body := api.TariffBody{ID: "night", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 29, FreeMinutes: 60, TimeFeePerMinuteMinor: 5, VATRateBP: 1900}
	var got api.TariffBody
	e.json("POST", "/api/v1/operator/tariffs", tok, body, http.StatusCreated, &got)
	if got.Version != 1 || got.FreeMinutes != 60 {
		t.Errorf("created %+v", got)
	}
	if code, _ := e.do("POST", "/api/v1/operator/tariffs", tok, body); code != http.StatusConflict {
		t.Errorf("create twice: %d", code)
	}
	e.json("GET", "/api/v1/operator/tariffs/night", tok, nil, http.StatusOK, &got)
	body.EnergyPerKWhMinor = 31
	e.json("PUT", "/api/v1/operator/tariffs/night", tok, body, http.StatusOK, &got)
	if got.Version != 2 || got.EnergyPerKWhMinor != 31 {
		t.Errorf("updated %+v", got)
	}
	var list struct {
		Tariffs []api.TariffBody `json:"tariffs"`
	}
	e.json("GET", "/api/v1/operator/tariffs", tok, nil, http.StatusOK, &list)
	if len(list.Tariffs) != 3 {
		t.Errorf("tariffs %+v", list.Tariffs)
	}
	e.json("DELETE", "/api/v1/operator/tariffs/night", tok, nil, http.StatusNoContent, nil)
	if code, _ := e.do("GET", "/api/v1/operator/tariffs/night", tok, nil); code != http.StatusNotFound {
		t.Errorf("retired tariff: %d", code)
	}
	for name, b := range map[string]api.TariffBody{
		"zero per kWh": {ID: "z", Class: tariff.ClassEco, Currency: "EUR", VATRateBP: 1900},
		"bad class":    {ID: "z", Class: "gold", Currency: "EUR", EnergyPerKWhMinor: 1},
		"bad currency": {ID: "z", Class: tariff.ClassEco, Currency: "XXX1", EnergyPerKWhMinor: 1},
		"bad id":       {ID: "a b", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 1},
		"version set":  {ID: "z", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 1, Version: 7},
	} {
		if code, b := e.do("POST", "/api/v1/operator/tariffs", tok, b); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
}

// TestAccessCodes: a visitor code starts sessions without a card, with the
// configured energy cap and no provider hold; its uses are counted once per
// session; used up or revoked it is refused.
func TestAccessCodes(t *testing.T) {
	e := newEnv(t, true)
	tok := e.tokens["a"]
	var made api.CodeAnswer
	e.json("POST", "/api/v1/operator/codes", tok, api.CodeRequest{ID: "guest-1", Kind: accesscode.KindVisitor, Label: "Besuch", MaxUses: 2},
		http.StatusCreated, &made)
	if made.Secret == "" || made.Code.Uses != 0 {
		t.Fatalf("made %+v", made)
	}
	start := func(client string) (int, api.StartAnswer, []byte) {
		var ans api.StartAnswer
		r := api.StartRequest{ClientID: client, Site: "site-a", Point: "p1", Tariff: "premium", Email: "g@example.com", Code: made.Secret}
		code, b := e.do("POST", "/api/v1/sessions", "", r)
		if code < 300 {
			if err := jsonUnmarshal(b, &ans); err != nil {
				t.Fatal(err)
			}
		}
		return code, ans, b
	}
	code, ans, b := start("code-client-000001")
	if code != http.StatusCreated || ans.Session.State != session.StateAuthorized || ans.Edge != "authorised" || ans.ClientSecret != "" {
		t.Fatalf("code start: %d %s", code, b)
	}
	if !strings.HasPrefix(ans.Session.Payment, accesscode.HoldPrefix) {
		t.Errorf("code session hold %q went to a provider", ans.Session.Payment)
	}
	calls := e.edge.Calls()
	if c := calls[len(calls)-1]; c.CapWh != codeCapWh-50 || c.Class != "premium" {
		t.Errorf("edge authorised %+v, want cap %d premium", c, codeCapWh-50)
	}
	if code, again, _ := start("code-client-000001"); code != http.StatusOK || again.Session.ID != ans.Session.ID {
		t.Errorf("retry: %d", code)
	}
	if code, _, b := start("code-client-000002"); code != http.StatusCreated {
		t.Fatalf("second use: %d %s", code, b)
	}
	if code, _, b := start("code-client-000003"); code != http.StatusForbidden || errCode(b) != "code_refused" {
		t.Errorf("third use: %d %s", code, b)
	}
	var uses struct {
		Count int64            `json:"count"`
		Uses  []accesscode.Use `json:"uses"`
	}
	e.json("GET", "/api/v1/operator/codes/guest-1/uses", tok, nil, http.StatusOK, &uses)
	if uses.Count != 2 || len(uses.Uses) != 2 {
		t.Errorf("uses %+v", uses)
	}

	// A cost-centre code: invoiced like any session, no money moved.
	var cc api.CodeAnswer
	e.json("POST", "/api/v1/operator/codes", tok, api.CodeRequest{ID: "kst-1", Kind: accesscode.KindCostCentre, CostCentre: "KST-4711"}, http.StatusCreated, &cc)
	var ccAns api.StartAnswer
	e.json("POST", "/api/v1/sessions", "", api.StartRequest{ClientID: "code-client-000004", Site: "site-a", Point: "p1", Tariff: "eco",
		Email: "f@example.com", Code: cc.Secret}, http.StatusCreated, &ccAns)
	e.finish(ccAns, 10_000)
	s, _ := e.memory.Session(t.Context(), ccAns.Session.ID)
	if s.State != session.StateInvoiced || !strings.HasPrefix(s.CaptureID, "booked:") {
		t.Errorf("cost-centre session %s, capture %q", s.State, s.CaptureID)
	}

	var revoked accesscode.Code
	e.json("POST", "/api/v1/operator/codes/kst-1/revoke", tok, nil, http.StatusOK, &revoked)
	if !revoked.Revoked {
		t.Error("not revoked")
	}
	code, b = e.do("POST", "/api/v1/sessions", "", api.StartRequest{ClientID: "code-client-000005", Site: "site-a", Point: "p1", Tariff: "eco",
		Email: "f@example.com", Code: cc.Secret})
	if code != http.StatusForbidden {
		t.Errorf("revoked code: %d %s", code, b)
	}
	var list struct {
		Codes []accesscode.Code `json:"codes"`
	}
	e.json("GET", "/api/v1/operator/codes", tok, nil, http.StatusOK, &list)
	if len(list.Codes) != 2 || bytes.Contains(mustJSON(t, list), []byte(made.Secret)) {
		t.Errorf("codes %+v", list.Codes)
	}
	if code, _ := e.do("POST", "/api/v1/operator/codes", tok, api.CodeRequest{ID: "bad", Kind: accesscode.KindFlatrate}); code != http.StatusBadRequest {
		t.Errorf("flatrate without period: %d", code)
	}
	e.json("GET", "/api/v1/operator/codes/guest-1", tok, nil, http.StatusOK, nil)
	var edited accesscode.Code
	e.json("PUT", "/api/v1/operator/codes/guest-1", tok, accesscode.Edit{Label: "one more", MaxUses: 3}, http.StatusOK, &edited)
	if edited.MaxUses != 3 || edited.Uses != 2 || edited.Label != "one more" {
		t.Errorf("edited %+v", edited)
	}
	if code, _, b := start("code-client-000006"); code != http.StatusCreated {
		t.Errorf("use after raising the limit: %d %s", code, b)
	}
	if code, b := e.do("PUT", "/api/v1/operator/codes/guest-1", tok, accesscode.Edit{}); code != http.StatusBadRequest {
		t.Errorf("visitor code without limit: %d %s", code, b)
	}
}

// TestCodeGroups: a code's user group is set at creation, read back by
// get and list (filtered by ?group=), changed by PUT and validated; the
// usage report groups by it, sessions without a code in group public.
func TestCodeGroups(t *testing.T) {
	e := newEnv(t, true)
	tok := e.tokens["a"]
	for _, r := range []api.CodeRequest{
		{ID: "van-1", Kind: accesscode.KindVisitor, MaxUses: 9, Group: "fleet"},
		{ID: "van-2", Kind: accesscode.KindVisitor, MaxUses: 9, Group: "fleet"},
		{ID: "staff-1", Kind: accesscode.KindVisitor, MaxUses: 9, Group: "employees"},
		{ID: "plain", Kind: accesscode.KindVisitor, MaxUses: 9},
	} {
		var made api.CodeAnswer
		e.json("POST", "/api/v1/operator/codes", tok, r, http.StatusCreated, &made)
		if made.Code.Group != r.Group {
			t.Errorf("made %s in group %q, want %q", r.ID, made.Code.Group, r.Group)
		}
	}
	for _, g := range []string{"public", " fleet", strings.Repeat("x", 41), "a\tb"} {
		if code, b := e.do("POST", "/api/v1/operator/codes", tok, api.CodeRequest{ID: "bad-group", Kind: accesscode.KindVisitor, MaxUses: 1, Group: g}); code != http.StatusBadRequest {
			t.Errorf("group %q: %d %s", g, code, b)
		}
	}
	var list struct {
		Codes []accesscode.Code `json:"codes"`
	}
	e.json("GET", "/api/v1/operator/codes?group=fleet", tok, nil, http.StatusOK, &list)
	if len(list.Codes) != 2 || list.Codes[0].ID != "van-1" || list.Codes[1].ID != "van-2" {
		t.Errorf("fleet codes %+v", list.Codes)
	}
	e.json("GET", "/api/v1/operator/codes?group=", tok, nil, http.StatusOK, &list)
	if len(list.Codes) != 1 || list.Codes[0].ID != "plain" {
		t.Errorf("codes without a group %+v", list.Codes)
	}
	var got accesscode.Code
	e.json("PUT", "/api/v1/operator/codes/plain", tok, accesscode.Edit{MaxUses: 9, Group: "visitors"}, http.StatusOK, &got)
	e.json("GET", "/api/v1/operator/codes/plain", tok, nil, http.StatusOK, &got)
	if got.Group != "visitors" {
		t.Errorf("regrouped code %+v", got)
	}
	if code, b := e.do("PUT", "/api/v1/operator/codes/plain", tok, accesscode.Edit{MaxUses: 9, Group: "PUBLIC"}); code != http.StatusBadRequest {
		t.Errorf("regroup to public: %d %s", code, b)
	}
	if code, b := e.do("GET", "/api/v1/operator/codes?group=fleet", e.tokens["b"], nil); code != http.StatusOK || bytes.Contains(b, []byte("van-")) {
		t.Errorf("b lists a's fleet: %d %s", code, b)
	}
	ans := e.start("a", "client-0000000020")
	e.finish(ans, 2_000)
	code, b := e.do("GET", "/api/v1/operator/reports/usage?from=2026-11-01&to=2027-01-01&by=group&period=all&format=csv", tok, nil)
	if code != http.StatusOK || !bytes.Contains(b, []byte(",public,1,2.000,")) {
		t.Errorf("usage by group: %d %s", code, b)
	}
}

func TestOperatorSessions(t *testing.T) {
	e := newEnv(t, true)
	ans := e.start("a", "client-0000000010")
	e.finish(ans, 5_000)
	var list struct {
		Sessions []api.SessionView `json:"sessions"`
	}
	e.json("GET", "/api/v1/operator/sessions", e.tokens["a"], nil, http.StatusOK, &list)
	if len(list.Sessions) != 1 || list.Sessions[0].ID != ans.Session.ID {
		t.Fatalf("sessions %+v", list.Sessions)
	}
	var v api.SessionView
	e.json("GET", "/api/v1/operator/sessions/"+ans.Session.ID, e.tokens["a"], nil, http.StatusOK, &v)
	want := []session.State{session.StateCreated, session.StateAuthorized, session.StateCharging, session.StateStopping, session.StateCompleted, session.StateInvoiced}
	if len(v.Transitions) != len(want) || v.Start == nil || v.Start.Email != "driver@example.com" {
		t.Fatalf("detail %+v", v)
	}
	for i, tr := range v.Transitions {
		if tr.To != want[i] {
			t.Errorf("transition %d to %s, want %s", i, tr.To, want[i])
		}
	}
	if code, _ := e.do("GET", "/api/v1/operator/sessions?limit=0", e.tokens["a"], nil); code != http.StatusBadRequest {
		t.Errorf("limit 0: %d", code)
	}
	var points struct {
		Points []map[string]any `json:"points"`
	}
	e.json("GET", "/api/v1/operator/points", e.tokens["a"], nil, http.StatusOK, &points)
	if len(points.Points) != 1 {
		t.Errorf("points %+v", points)
	}
	if code, b := e.do("GET", "/api/v1/operator/reports/usage?from=2026-11-01&to=2027-01-01&by=site&format=csv", e.tokens["a"], nil); code != http.StatusOK || !bytes.Contains(b, []byte("site-a")) {
		t.Errorf("usage report: %d %s", code, b)
	}
	if code, b := e.do("GET", "/api/v1/operator/reports/sessions/"+ans.Session.ID+"/safe.xml", e.tokens["a"], nil); code != http.StatusOK {
		t.Errorf("safe export of an own session: %d %s", code, b)
	}
}

// TestAuthFailures: every operator route refuses a missing, unknown or
// driver token (401/403, JSON), and a token in the URL is never read;
// every driver session route refuses a missing, wrong or operator token.
func TestAuthFailures(t *testing.T) {
	e := newEnv(t, true)
	ans := e.start("a", "client-0000000020")
	for _, r := range e.api.Routes() {
		method, path, _ := strings.Cut(r, " ")
		path = strings.NewReplacer("{id}", ans.Session.ID, "{site}", "site-a", "{point}", "p1", "{provider}", "fake").Replace(path)
		switch {
		case strings.HasPrefix(path, "/api/v1/operator/"):
			for name, tc := range map[string]struct {
				token string
				want  int
			}{
				"none":         {"", http.StatusUnauthorized},
				"unknown":      {api.OperatorTokenPrefix + "x", http.StatusUnauthorized},
				"driver token": {ans.Token, http.StatusForbidden},
			} {
				code, b := e.do(method, path, tc.token, nil)
				if code != tc.want || (errCode(b) != "unauthorized" && errCode(b) != "forbidden") {
					t.Errorf("%s %s with %s token: %d %s, want %d", method, path, name, code, b, tc.want)
				}
			}
			if code, _ := e.do(method, path+"?access_token="+e.tokens["a"]+"&token="+e.tokens["a"], "", nil); code != http.StatusUnauthorized {
				t.Errorf("%s %s with the token in the URL: %d, want 401", method, path, code)
			}
		case strings.HasPrefix(path, "/api/v1/sessions/"):
			for name, tc := range map[string]struct {
				token string
				want  int
			}{
				"none":           {"", http.StatusUnauthorized},
				"wrong":          {api.DriverTokenPrefix + "AAAA", http.StatusForbidden},
				"operator token": {e.tokens["a"], http.StatusForbidden},
			} {
				if code, b := e.do(method, path, tc.token, nil); code != tc.want {
					t.Errorf("%s %s with %s token: %d %s, want %d", method, path, name, code, b, tc.want)
				}
			}
		}
	}
}

// TestTenantMatrix: operator b's token on every operator endpoint with
// operator a's ids succeeds 0 times, and b's lists never show a's rows;
// b's driver token never opens a's session.
func TestTenantMatrix(t *testing.T) {
	e := newEnv(t, true)
	ta, tb := e.tokens["a"], e.tokens["b"]
	e.json("POST", "/api/v1/operator/tariffs", ta, api.TariffBody{ID: "a-only", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 10, VATRateBP: 1900}, http.StatusCreated, nil)
	e.json("POST", "/api/v1/operator/codes", ta, api.CodeRequest{ID: "code-a", Kind: accesscode.KindVisitor, MaxUses: 5, Group: "fleet"}, http.StatusCreated, nil)
	sa := e.start("a", "client-0000000030")
	e.finish(sa, 1_000)
	sb := e.start("b", "client-0000000031")

	ids := map[string]string{"tariffs": "a-only", "codes": "code-a", "sessions": sa.Session.ID, "sites": "site-a"}
	tariffBody := api.TariffBody{ID: "a-only", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 11, VATRateBP: 1900}
	tried := 0
	for _, r := range e.api.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(path, "/api/v1/operator/") || !strings.Contains(path, "{id}") {
			continue
		}
		kind := strings.Split(strings.TrimPrefix(path, "/api/v1/operator/"), "/")[0]
		id := ids[kind]
		if kind == "reports" {
			id = sa.Session.ID
		}
		var body any
		switch {
		case method == "PUT" && kind == "tariffs":
			body = tariffBody
		case method == "PUT" && kind == "codes":
			body = accesscode.Edit{Label: "b was here", MaxUses: 99}
		case method == "PUT" && kind == "sites":
			body = api.LimitRequest{MaxCurrentA: []float64{0, 0, 0}, TTLS: 60}
		case method == "POST" && kind == "sites":
			body = api.ResetRequest{Why: "b was here"}
		}
		tried++
		code, b := e.do(method, strings.ReplaceAll(path, "{id}", id), tb, body)
		if code < 300 {
			t.Errorf("b: %s %s on a's id: %d %s", method, path, code, b)
		}
	}
	if len(e.edge.SiteCalls()) != 0 {
		t.Errorf("b's requests on a's site reached the edge: %v", e.edge.SiteCalls())
	}
	if tried != 13 {
		t.Errorf("tried %d id routes; the matrix lost routes", tried)
	}
	for _, path := range []string{"/api/v1/operator/tariffs", "/api/v1/operator/codes", "/api/v1/operator/sessions", "/api/v1/operator/points",
		"/api/v1/operator/reports/usage?from=2026-11-01&to=2027-01-01&by=point&format=csv", "/api/v1/operator/codes?group=fleet"} {
		code, b := e.do("GET", path, tb, nil)
		if code != http.StatusOK || bytes.Contains(b, []byte("a-only")) || bytes.Contains(b, []byte("code-a")) ||
			bytes.Contains(b, []byte(sa.Session.ID)) || bytes.Contains(b, []byte("site-a")) {
			t.Errorf("b lists %s: %d %s", path, code, b)
		}
	}
	// a's rows are unchanged.
	var tf api.TariffBody
	e.json("GET", "/api/v1/operator/tariffs/a-only", ta, nil, http.StatusOK, &tf)
	var code accesscode.Code
	e.json("GET", "/api/v1/operator/codes/code-a", ta, nil, http.StatusOK, &code)
	if tf.Version != 1 || code.Revoked || code.MaxUses != 5 || code.Group != "fleet" {
		t.Errorf("a's rows changed by b: tariff version %d, code revoked %v", tf.Version, code.Revoked)
	}
	for _, p := range []string{"", "/confirm", "/stop", "/receipt.pdf"} {
		method := "POST"
		if p == "" || p == "/receipt.pdf" {
			method = "GET"
		}
		if c, b := e.do(method, "/api/v1/sessions/"+sa.Session.ID+p, sb.Token, nil); c != http.StatusForbidden {
			t.Errorf("b's driver token on a's session %s: %d %s", p, c, b)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, true)
	req := httptest.NewRequest("GET", "/api/v1/openapi.yaml", nil)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte("openapi: 3")) {
		t.Errorf("openapi.yaml: %d %.20q", rec.Code, rec.Body.Bytes())
	}
	if code, b := e.do("GET", "/api/v1/nothing", "", nil); code != http.StatusNotFound || errCode(b) != "not_found" {
		t.Errorf("unknown route: %d %s", code, b)
	}
}

// TestFlatrateSessionCostsNothing: a session started with a flatrate code
// is priced at 0 (its receipt names the code), shows its energy and moves
// no money.
func TestFlatrateSessionCostsNothing(t *testing.T) {
	e := newEnv(t, true)
	tok := e.tokens["a"]
	var made api.CodeAnswer
	e.json("POST", "/api/v1/operator/codes", tok, api.CodeRequest{ID: "fleet", Kind: accesscode.KindFlatrate, Label: "Fleet",
		ValidUntil: e.now.Add(30 * 24 * time.Hour)}, http.StatusCreated, &made)
	var ans api.StartAnswer
	e.json("POST", "/api/v1/sessions", "", api.StartRequest{ClientID: "flat-client-000001", Site: "site-a", Point: "p1", Tariff: "eco",
		Email: "fleet@example.com", Code: made.Secret}, http.StatusCreated, &ans)
	e.finish(ans, 7_500) // completes and bills
	s, err := e.memory.Session(t.Context(), ans.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != session.StateInvoiced || s.Billing == nil || s.Billing.Price.GrossMinor != 0 || s.Billing.EnergyWh != 7_500 {
		t.Fatalf("flatrate session: state %s, billing %+v", s.State, s.Billing)
	}
	if s.Tariff.CoveredBy != "flatrate code fleet" || s.CaptureID != "" {
		t.Errorf("flatrate session: covered by %q, capture %q", s.Tariff.CoveredBy, s.CaptureID)
	}
}
