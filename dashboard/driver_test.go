package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/dashboard/dashtest"
)

// start fills the driver form of p1 and returns the response.
func (b *browser) start(point string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	_, _, page := b.get("/c/" + point)
	form.Set("csrf", csrf(b.t, page))
	return b.post("/c/"+point+"/start", form)
}

func TestPointPageShowsPricesInAFIROrder(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	code, _, body := b.get("/c/p1")
	if code != http.StatusOK {
		t.Fatalf("GET /c/p1: %d", code)
	}
	// eco: per kWh, then per minute after the free time; premium: per kWh, start fee, cap.
	for _, want := range [][]string{
		{"€0.39", "per kWh", "€0.10", "per minute after 240 min"},
		{"€0.59", "per kWh", "€1.00", "per session", "€50.00", "at most per session"},
	} {
		at := 0
		for _, w := range want {
			i := strings.Index(body[at:], w)
			if i < 0 {
				t.Fatalf("%q missing or out of order after byte %d", w, at)
			}
			at += i + len(w)
		}
	}
	b.lang = "de-DE,de;q=0.9,en;q=0.5"
	_, _, body = b.get("/c/p1")
	for _, w := range []string{"0,39 €", "pro kWh", "Hier laden", `lang="de"`} {
		if !strings.Contains(body, w) {
			t.Errorf("German page lacks %q", w)
		}
	}
	_, _, body = b.get("/c/p1?lang=en") // the switch wins and sticks
	_, _, body2 := b.get("/c/p1")
	if !strings.Contains(body, "Charge here") || !strings.Contains(body2, "Charge here") {
		t.Error("?lang=en did not switch to English and keep it")
	}
}

func TestDriverErrorPages(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name  string
		path  string
		form  url.Values
		code  int
		words string
	}{
		{"offline", "/c/p2", nil, http.StatusServiceUnavailable, "offline right now"},
		{"faulted", "/c/p3", nil, http.StatusServiceUnavailable, "has a fault"},
		{"unknown", "/c/nope", nil, http.StatusNotFound, "no charge point with this code"},
		{"expired code", "/c/p1", url.Values{"email": {"d@example.com"}, "class": {"eco"}, "method": {"code"}, "code": {dashtest.ExpiredCode}}, http.StatusForbidden, "expired or is used up"},
		{"unknown code", "/c/p1", url.Values{"email": {"d@example.com"}, "class": {"eco"}, "method": {"code"}, "code": {"NOPE"}}, http.StatusForbidden, "not known"},
		{"bad e-mail", "/c/p1", url.Values{"email": {"Eve <e@x.de>"}, "class": {"eco"}, "method": {"card"}}, http.StatusBadRequest, "check your entries"},
		{"bad class", "/c/p1", url.Values{"email": {"d@example.com"}, "class": {"turbo"}, "method": {"card"}}, http.StatusBadRequest, "check your entries"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := e.browser(t)
			var code int
			var body string
			if c.form == nil {
				code, _, body = b.get(c.path)
			} else {
				code, _, body = b.start(strings.TrimPrefix(c.path, "/c/"), c.form)
			}
			if code != c.code || !strings.Contains(body, c.words) {
				t.Errorf("got %d, want %d with %q:\n%.400s", code, c.code, c.words, body)
			}
		})
	}
	t.Run("occupied", func(t *testing.T) {
		e.fx.Driver.SetState("p1", "occupied")
		defer e.fx.Driver.SetState("p1", "available")
		code, _, body := e.browser(t).get("/c/p1")
		if code != http.StatusConflict || !strings.Contains(body, "in use") {
			t.Errorf("got %d:\n%.300s", code, body)
		}
	})
}

func TestStartNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.get("/c/p1") // sets the CSRF cookie
	form := url.Values{"email": {"d@example.com"}, "class": {"eco"}, "method": {"card"}}
	for _, tok := range []string{"", "forged-token-forged-token-forged-token-xx"} {
		form.Set("csrf", tok)
		if code, _, _ := b.post("/c/p1/start", form); code != http.StatusForbidden {
			t.Errorf("start with token %q: %d, want 403", tok, code)
		}
	}
	if n := len(e.fx.Driver.Sessions()); n != 0 {
		t.Errorf("%d sessions started without a valid token", n)
	}
}

func TestPaymentDeclined(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	code, h, _ := b.start("p1", url.Values{"email": {"d@example.com"}, "class": {"premium"}, "method": {"paypal"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), e.pay.URL+"/pay/") {
		t.Fatalf("start: %d → %q", code, h.Get("Location"))
	}
	_, h, _ = b.post(h.Get("Location"), url.Values{"result": {"decline"}})
	_, h, _ = b.get(h.Get("Location")) // /c/p1/return
	code, _, body := b.get(h.Get("Location"))
	if code != http.StatusPaymentRequired || !strings.Contains(body, "payment was declined") {
		t.Errorf("after decline: %d\n%.400s", code, body)
	}
}

// TestDriverFlow: form → hosted payment → return → SSE progress within
// 2 s of a reading → stop → receipt; another browser sees nothing.
func TestDriverFlow(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	code, h, _ := b.start("p1", url.Values{"email": {"Driver@Example.com"}, "class": {"eco"}, "method": {"card"}})
	if code != http.StatusSeeOther {
		t.Fatalf("start: %d", code)
	}
	_, h, _ = b.post(h.Get("Location"), url.Values{"result": {"pay"}})
	if want := e.srv.URL + "/c/p1/return"; h.Get("Location") != want {
		t.Fatalf("payment page returns to %q, want %q", h.Get("Location"), want)
	}
	_, h, _ = b.get(h.Get("Location"))
	sessPath := h.Get("Location")
	sid := strings.TrimPrefix(sessPath, "/s/")
	code, _, body := b.get(sessPath)
	if code != http.StatusOK || !strings.Contains(body, "Ready: plug in") {
		t.Fatalf("session page: %d\n%.400s", code, body)
	}

	other := e.browser(t)
	for _, p := range []string{sessPath, sessPath + "/events", sessPath + "/receipt"} {
		if code, _, _ := other.get(p); code != http.StatusNotFound {
			t.Errorf("another browser GET %s: %d, want 404", p, code)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+sessPath+"/events", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	events := make(chan map[string]any, 8)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if json.Unmarshal([]byte(d), &m) == nil {
					events <- m
				}
			}
		}
		close(events)
	}()
	next := func(what string) map[string]any {
		select {
		case m, ok := <-events:
			if !ok {
				t.Fatalf("%s: stream ended", what)
			}
			return m
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: no event within 2 s", what)
		}
		return nil
	}
	if m := next("first"); m["state"] != "authorized" {
		t.Fatalf("first event %v", m)
	}
	e.clock.Add(10 * time.Minute)
	if err := e.fx.Driver.Meter(sid, 1234, 11000); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(5 * time.Minute)
	if err := e.fx.Driver.Meter(sid, 2500, 10000); err != nil {
		t.Fatal(err)
	}
	next("charging")
	m := next("reading")
	if m["state"] != "charging" || m["energy"] != "2.50 kWh" || m["power"] != "10.00 kW" || m["duration"] != "0:05:00" || m["cost"] != "€0.98" {
		t.Errorf("progress %v", m)
	}

	_, _, body = b.get(sessPath)
	tok := csrf(t, body)
	if code, _, _ := b.post(sessPath+"/stop", url.Values{"csrf": {"x" + tok}}); code != http.StatusForbidden {
		t.Errorf("stop with a wrong token: %d", code)
	}
	if code, _, _ := b.post(sessPath+"/stop", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("stop: %d", code)
	}
	if m := next("stopped"); m["state"] != "invoiced" || m["receipt"] != true {
		t.Errorf("after stop %v", m)
	}
	code, h, body = b.get(sessPath + "/receipt")
	if code != http.StatusOK || h.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(body, "%PDF") ||
		!strings.Contains(h.Get("Content-Disposition"), "receipt-"+sid+".pdf") {
		t.Errorf("receipt: %d %q %q", code, h.Get("Content-Type"), h.Get("Content-Disposition"))
	}
}

func TestAccessCodeStartsWithoutPaymentPage(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	code, h, _ := b.start("p1", url.Values{"email": {"d@example.com"}, "class": {"premium"}, "method": {"code"}, "code": {dashtest.ValidCode}})
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/s/") {
		t.Fatalf("code start: %d → %q", code, h.Get("Location"))
	}
	if _, _, body := b.get(h.Get("Location")); !strings.Contains(body, "Ready: plug in") {
		t.Errorf("session page:\n%.300s", body)
	}
}

func TestPWA(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	code, h, body := b.get("/manifest.webmanifest")
	var m struct {
		Name    string `json:"name"`
		Display string `json:"display"`
		Icons   []struct{ Src, Sizes string }
	}
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m.Display != "standalone" || len(m.Icons) != 2 {
		t.Fatalf("manifest %d %v %+v", code, err, m)
	}
	for _, ic := range m.Icons {
		code, h, body = b.get(ic.Src)
		if code != 200 || h.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG") {
			t.Errorf("icon %s: %d %s", ic.Src, code, h.Get("Content-Type"))
		}
	}
	if code, _, body = b.get("/sw.js"); code != 200 || !strings.Contains(body, "/offline.html") || strings.Contains(body, "__VERSION__") {
		t.Errorf("sw.js: %d", code)
	}
	if code, _, body = b.get("/offline.html"); code != 200 || !strings.Contains(body, "no connection") {
		t.Errorf("offline page: %d", code)
	}
	_, h, _ = b.get("/c/p1")
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security headers: %v", h)
	}
}

// TestPaymentRedirectChecked: a payment page URL that is not http(s) is
// never sent to the browser.
func TestPaymentRedirectChecked(t *testing.T) {
	e := newEnv(t)
	e.fx.Driver.PayURL = "javascript:alert(1)//"
	code, h, _ := e.browser(t).start("p1", url.Values{"email": {"d@example.com"}, "class": {"eco"}, "method": {"card"}})
	if code != http.StatusBadGateway || h.Get("Location") != "" {
		t.Errorf("got %d → %q, want 502 and no redirect", code, h.Get("Location"))
	}
}
