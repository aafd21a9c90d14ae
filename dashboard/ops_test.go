package dashboard_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/dashboard/dashtest"
)

func TestLoginNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.get("/ops/login")
	code, _, _ := b.post("/ops/login", url.Values{"email": {dashtest.AdminEmail}, "password": {dashtest.Password}})
	if code != http.StatusForbidden || b.cookie("pg_session") != "" {
		t.Errorf("login without token: %d, session %q", code, b.cookie("pg_session"))
	}
}

func TestLoginCookieAndFixation(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	// An attacker plants a session id of their own (a valid one) before the victim logs in.
	attacker := e.browser(t)
	attacker.login(dashtest.ViewerEmail)
	planted := attacker.cookie("pg_session")
	u, _ := url.Parse(e.srv.URL + "/ops/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "pg_session", Value: planted, Path: "/ops"}})

	_, _, page := b.get("/ops/login")
	code, h, _ := b.post("/ops/login", url.Values{"csrf": {csrf(t, page)}, "email": {dashtest.AdminEmail}, "password": {dashtest.Password}})
	if code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	sc := h.Get("Set-Cookie")
	for _, want := range []string{"pg_session=", "HttpOnly", "SameSite=Lax", "Path=/ops"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Secure on a plain-http test server: %q", sc)
	}
	now := b.cookie("pg_session")
	if now == "" || now == planted {
		t.Fatalf("session id not rotated at login: %q", now)
	}
	// The planted id is gone: the attacker's browser is logged out.
	if code, h, _ := attacker.get("/ops/"); code != http.StatusSeeOther || h.Get("Location") != "/ops/login" {
		t.Errorf("planted id still works: %d %s", code, h.Get("Location"))
	}
	if _, _, body := b.get("/ops/"); !strings.Contains(body, dashtest.AdminEmail) {
		t.Error("victim not logged in")
	}
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	e := newEnv(t)
	fx := e.fx
	_ = fx
	// A public https URL sets Secure even when TLS ends at a proxy.
	d, err := newServerWithURL(e, "https://charge.example.com")
	if err != nil {
		t.Fatal(err)
	}
	rec := doRec(d, http.MethodGet, "/ops/login", nil)
	if sc := rec.Header().Get("Set-Cookie"); !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") {
		t.Errorf("cookie %q lacks Secure or HttpOnly", sc)
	}
	if rec.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS behind https")
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	for i := range 5 {
		_, _, page := b.get("/ops/login")
		code, _, _ := b.post("/ops/login", url.Values{"csrf": {csrf(t, page)}, "email": {dashtest.AdminEmail}, "password": {"wrong password " + string(rune('a'+i))}})
		if code != http.StatusUnauthorized {
			t.Fatalf("try %d: %d", i, code)
		}
	}
	_, _, page := b.get("/ops/login")
	code, _, body := b.post("/ops/login", url.Values{"csrf": {csrf(t, page)}, "email": {dashtest.AdminEmail}, "password": {dashtest.Password}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many attempts") {
		t.Errorf("6th try: %d", code)
	}
}

func TestAlarmReset(t *testing.T) {
	e := newEnv(t)
	viewer, op, other := e.browser(t), e.browser(t), e.browser(t)
	viewer.login(dashtest.ViewerEmail)
	op.login(dashtest.OperatorEmail)
	other.login(dashtest.OtherEmail)

	_, _, page := op.get("/ops/alarms")
	tok := csrf(t, page)
	if code, _, _ := op.post("/ops/alarms/a1/reset", url.Values{}); code != http.StatusForbidden {
		t.Errorf("reset without CSRF token: %d, want 403", code)
	}
	_, _, vpage := viewer.get("/ops/alarms")
	if strings.Contains(vpage, `id="reset-a1"`) {
		t.Error("a viewer sees the reset button")
	}
	if code, _, _ := viewer.post("/ops/alarms/a1/reset", url.Values{"csrf": {csrf(t, vpage)}}); code != http.StatusForbidden {
		t.Errorf("viewer reset: %d, want 403", code)
	}
	_, _, opage := other.get("/ops/alarms")
	if strings.Contains(opage, `data-alarm="a1"`) || !strings.Contains(opage, `data-alarm="b1"`) {
		t.Error("op2 sees op1's alarm")
	}
	if code, _, _ := other.post("/ops/alarms/a1/reset", url.Values{"csrf": {csrf(t, opage)}}); code != http.StatusNotFound {
		t.Errorf("op2 resets op1's alarm: %d, want 404", code)
	}
	if len(e.fx.Ops.Resets) != 0 {
		t.Fatalf("resets before the operator's: %v", e.fx.Ops.Resets)
	}
	code, h, _ := op.post("/ops/alarms/a1/reset", url.Values{"csrf": {tok}})
	if code != http.StatusSeeOther {
		t.Fatalf("operator reset: %d", code)
	}
	if _, _, body := op.get(h.Get("Location")); !strings.Contains(body, "Alarm reset.") || strings.Contains(body, `id="reset-a1"`) {
		t.Errorf("after reset:\n%.500s", body)
	}
	if got := e.fx.Ops.Resets; len(got) != 1 || got[0] != "op1/a1 by "+dashtest.OperatorEmail {
		t.Errorf("resets %v", got)
	}
	es, _ := e.fx.Store.Entries(context.Background(), "op1", 10)
	if len(es) == 0 || es[0].Action != "alarm.reset" || es[0].UserID != "u-ops" || es[0].Target != "a1" || es[0].At.IsZero() {
		t.Errorf("audit %+v", es)
	}
}

func TestTariffChange(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login(dashtest.OperatorEmail)
	_, _, page := b.get("/ops/tariffs")
	form := url.Values{"csrf": {csrf(t, page)}, "site": {"s1"}, "id": {"eco"}, "class": {"eco"}, "currency": {"EUR"},
		"energy": {"0,42"}, "start": {""}, "perMinute": {"0.10"}, "freeMin": {"180"}, "cap": {""}, "vat": {"19"}}
	code, h, _ := b.post("/ops/tariffs", form)
	if code != http.StatusSeeOther {
		t.Fatalf("save: %d", code)
	}
	if _, _, body := b.get(h.Get("Location")); !strings.Contains(body, "Tariff saved.") || !strings.Contains(body, `value="0.42"`) {
		t.Errorf("after save:\n%.300s", body)
	}
	ts, _ := e.fx.Ops.Tariffs(context.Background(), "op1")
	if ts[0].Tariff.EnergyPerKWhMinor != 42 || ts[0].Tariff.FreeTime.Minutes() != 180 || ts[0].Tariff.VATRateBP != 1900 {
		t.Errorf("stored %+v", ts[0].Tariff)
	}
	for _, bad := range []struct{ field, v string }{{"energy", "-1"}, {"energy", "0.425"}, {"vat", "abc"}, {"freeMin", "x"}, {"energy", "0"}} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set(bad.field, bad.v)
		if code, _, _ := b.post("/ops/tariffs", f); code != http.StatusBadRequest {
			t.Errorf("%s=%q: %d, want 400", bad.field, bad.v, code)
		}
	}
	es, _ := e.fx.Store.Entries(context.Background(), "op1", 10)
	if es[0].Action != "tariff.update" || !strings.Contains(es[0].Detail, "0.42") {
		t.Errorf("audit %+v", es[0])
	}
}

func pngBytes(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (b *browser) upload(fields map[string]string, files map[string][]byte) (int, http.Header, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for k, v := range files {
		fw, _ := mw.CreateFormFile(k, k+".bin")
		fw.Write(v)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+"/ops/branding", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

func TestBrandingUpload(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login(dashtest.OperatorEmail)
	_, _, page := b.get("/ops/branding")
	fields := map[string]string{"csrf": csrf(t, page), "name": "Stadtwerke Freiburg", "primary": "#123456", "accent": "#abcdef", "imprint": "https://example.com/impressum"}
	for _, c := range []struct {
		name  string
		files map[string][]byte
		code  int
	}{
		{"svg logo", map[string][]byte{"logo": []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)}, http.StatusUnsupportedMediaType},
		{"html as png", map[string][]byte{"logo": []byte("<html><script>alert(1)</script>")}, http.StatusUnsupportedMediaType},
		{"oversize logo", map[string][]byte{"logo": append(pngBytes(t, 2, 2), make([]byte, 300<<10)...)}, http.StatusRequestEntityTooLarge},
		{"oversize form", map[string][]byte{"background": make([]byte, 3<<20)}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, _, body := b.upload(fields, c.files); code != c.code {
				t.Errorf("got %d, want %d\n%.300s", code, c.code, body)
			}
		})
	}
	bad := map[string]string{}
	for k, v := range fields {
		bad[k] = v
	}
	bad["primary"] = "red;}</style><script>"
	if code, _, _ := b.upload(bad, nil); code != http.StatusBadRequest {
		t.Errorf("bad colour: %d", code)
	}
	if code, _, _ := b.upload(fields, map[string][]byte{"logo": pngBytes(t, 64, 32)}); code != http.StatusSeeOther {
		t.Fatalf("good upload: %d", code)
	}
	_, _, body := e.browser(t).get("/c/p1") // the driver app of op1 wears the new label
	i := strings.Index(body, `/brand/asset/`)
	if i < 0 || !strings.Contains(body, "Stadtwerke Freiburg") || !strings.Contains(body, "#123456") || !strings.Contains(body, "https://example.com/impressum") {
		t.Fatalf("driver page without the white label:\n%.900s", body)
	}
	assetURL := body[i : i+len("/brand/asset/")+64]
	code, h, img := b.get(assetURL)
	if code != 200 || h.Get("Content-Type") != "image/png" || !strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("ETag") == "" || !strings.HasPrefix(img, "\x89PNG") {
		t.Fatalf("asset: %d %v", code, h)
	}
	req, _ := http.NewRequest(http.MethodGet, b.base+assetURL, nil)
	req.Header.Set("If-None-Match", h.Get("ETag"))
	if code, _, _ := b.do(req); code != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", code)
	}
	if code, _, _ := b.get("/brand/asset/../../etc/passwd"); code == 200 {
		t.Error("path traversal served")
	}
	viewer := e.browser(t)
	viewer.login(dashtest.ViewerEmail)
	if code, _, _ := viewer.get("/ops/branding"); code != http.StatusForbidden {
		t.Errorf("viewer branding page: %d, want 403", code)
	}
}

func TestOperatorPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login(dashtest.AdminEmail)
	for _, c := range []struct{ path, want string }{
		{"/ops/", "RCD tripped"},
		{"/ops/sessions", "12.34"},
		{"/ops/load", "grid meter headroom"},
		{"/ops/codes", dashtest.ValidCode},
		{"/ops/users", dashtest.ViewerEmail},
		{"/ops/reports", "kwh-per-site-2026-11.csv"},
		{"/ops/reports", "2026-12-05"}, // the chart's last day
		{"/ops/reports", "246.00 kWh"}, // 180 + 0 + 66 kWh on day 6
		{"/ops/audit", "login"},
	} {
		code, _, body := b.get(c.path)
		if code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d, want %q", c.path, code, c.want)
		}
	}
	code, h, body := b.get("/ops/reports/0")
	if code != 200 || h.Get("Content-Type") != "text/csv" || !strings.Contains(body, "s1,1234.5") {
		t.Errorf("report: %d %s", code, h.Get("Content-Type"))
	}
	code, h, body = b.get("/ops/qr-sheet.pdf")
	if code != 200 || h.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(body, "%PDF") {
		t.Errorf("qr sheet: %d %s", code, h.Get("Content-Type"))
	}
	other := e.browser(t)
	other.login(dashtest.OtherEmail)
	for _, p := range []string{"/ops/", "/ops/users", "/ops/codes", "/ops/audit"} {
		if _, _, body := other.get(p); strings.Contains(body, "Parkhaus am Markt") || strings.Contains(body, dashtest.ViewerEmail) || strings.Contains(body, dashtest.ValidCode) {
			t.Errorf("op2 sees op1's data on %s", p)
		}
	}
	if code, _, _ := other.get("/ops/reports/0"); code != http.StatusNotFound {
		t.Errorf("op2 downloads op1's report: %d", code)
	}
	viewer := e.browser(t)
	viewer.login(dashtest.ViewerEmail)
	for _, p := range []string{"/ops/users", "/ops/audit"} {
		if code, _, _ := viewer.get(p); code != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403", p, code)
		}
	}
	if code, h, _ := e.browser(t).get("/ops/alarms"); code != http.StatusSeeOther || h.Get("Location") != "/ops/login" {
		t.Errorf("anonymous: %d %s", code, h.Get("Location"))
	}
	_, _, page := b.get("/ops/users")
	code, _, _ = b.post("/ops/users", url.Values{"csrf": {csrf(t, page)}, "email": {"new@example.com"}, "name": {"New"}, "role": {"viewer"}, "password": {"a fine long password"}})
	if code != http.StatusSeeOther {
		t.Errorf("create user: %d", code)
	}
	nb := e.browser(t)
	_, _, lp := nb.get("/ops/login")
	if code, _, _ := nb.post("/ops/login", url.Values{"csrf": {csrf(t, lp)}, "email": {"new@example.com"}, "password": {"a fine long password"}}); code != http.StatusSeeOther {
		t.Errorf("new user login: %d", code)
	}
	_, _, page = b.get("/ops/")
	if code, h, _ := b.post("/ops/logout", url.Values{"csrf": {csrf(t, page)}}); code != http.StatusSeeOther || h.Get("Location") != "/ops/login" {
		t.Errorf("logout: %d", code)
	}
	if code, _, _ := b.get("/ops/"); code != http.StatusSeeOther {
		t.Errorf("after logout: %d", code)
	}
}

func TestUserUpdateEndsSessions(t *testing.T) {
	e := newEnv(t)
	admin, viewer := e.browser(t), e.browser(t)
	admin.login(dashtest.AdminEmail)
	viewer.login(dashtest.ViewerEmail)
	_, _, page := admin.get("/ops/users")
	tok := csrf(t, page)
	if code, _, _ := admin.post("/ops/users/u-admin", url.Values{"csrf": {tok}, "role": {"viewer"}}); code != http.StatusBadRequest {
		t.Errorf("admin demotes themselves: %d, want 400", code)
	}
	if code, _, _ := admin.post("/ops/users/u-other", url.Values{"csrf": {tok}, "role": {"viewer"}, "disabled": {"on"}}); code != http.StatusNotFound {
		t.Errorf("admin changes another operator's user: %d, want 404", code)
	}
	if code, _, _ := admin.post("/ops/users/u-view", url.Values{"csrf": {tok}, "role": {"viewer"}, "disabled": {"on"}}); code != http.StatusSeeOther {
		t.Fatalf("disable viewer: %d", code)
	}
	if code, _, _ := viewer.get("/ops/"); code != http.StatusSeeOther {
		t.Errorf("disabled viewer still logged in: %d", code)
	}
	_, _, lp := viewer.get("/ops/login")
	if code, _, _ := viewer.post("/ops/login", url.Values{"csrf": {csrf(t, lp)}, "email": {dashtest.ViewerEmail}, "password": {dashtest.Password}}); code != http.StatusUnauthorized {
		t.Errorf("disabled viewer logs in: %d", code)
	}
	other, _ := e.fx.Store.UserByID(context.Background(), "u-other")
	if other.Disabled || other.Role != "admin" {
		t.Errorf("op2's user changed: %+v", other)
	}
	es, _ := e.fx.Store.Entries(context.Background(), "op1", 5)
	if es[0].Action != "login.failed" || es[1].Action != "user.update" || es[1].Target != "u-view" || es[1].UserID != "u-admin" {
		t.Errorf("audit %+v", es[:2])
	}
}

// TestBodyLimits: no form is read past its limit, even with a valid token.
func TestBodyLimits(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login(dashtest.OperatorEmail)
	_, _, page := b.get("/ops/tariffs")
	form := url.Values{"csrf": {csrf(t, page)}, "pad": {strings.Repeat("x", 100<<10)}, "site": {"s1"}, "id": {"eco"}}
	if code, _, _ := b.post("/ops/tariffs", form); code != http.StatusRequestEntityTooLarge {
		t.Errorf("100 KiB tariff form: %d, want 413", code)
	}
	_, _, lp := e.browser(t).get("/ops/login")
	anon := e.browser(t)
	anon.get("/ops/login")
	if code, _, _ := anon.post("/ops/login", url.Values{"csrf": {csrf(t, lp)}, "email": {strings.Repeat("a", 100<<10)}}); code != http.StatusForbidden {
		t.Errorf("100 KiB login form: %d, want 403", code)
	}
}
