package emsapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/emsapi/emsapitest"
	"github.com/parkgrid/parkgrid/edge/emsapi/token"
)

// tokenSet is an emsapi.Authenticator over fixed entries.
type tokenSet []token.Entry

func (s tokenSet) Authenticate(presented string) (token.Entry, bool) {
	return token.Lookup(s, presented)
}

// secretOf is a fixed, well-formed token per name.
func secretOf(name string) string {
	seed := sha256.Sum256([]byte(name))
	s, _, err := token.New(bytes.NewReader(seed[:]))
	if err != nil {
		panic(err)
	}
	return s
}

// The test tokens: one per scope alone, one per scope missing, and all.
var testTokens = func() tokenSet {
	var set tokenSet
	add := func(name string, scopes ...token.Scope) {
		set = append(set, token.Entry{Name: name, Scopes: scopes, Hash: token.Hash(secretOf(name))})
	}
	for _, s := range token.Scopes {
		add(string(s)+"-only", s)
		var others []token.Scope
		for _, o := range token.Scopes {
			if o != s {
				others = append(others, o)
			}
		}
		add("all-but-"+string(s), others...)
	}
	add("all", token.Scopes...)
	return set
}()

func tokenWith(scope string) string    { return secretOf(scope + "-only") }
func tokenWithout(scope string) string { return secretOf("all-but-" + scope) }

func bearer(secret string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + secret}
}

// authFixture is newFixture with the test tokens required.
func authFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, func(o *emsapi.Options) { o.Auth = testTokens })
}

// TestRESTAuthMatrix calls every operation of the OpenAPI document with no
// token, a well-formed unknown token, a malformed header, a read-only token,
// a token with every scope but the operation's, one with only its scope and
// one with all: 401, 401, 401, 2xx-or-403, 403, 2xx, 2xx. Nothing reaches
// the controller without the scope.
func TestRESTAuthMatrix(t *testing.T) {
	d := loadOpenAPI(t)
	type variant struct {
		name    string
		headers map[string]string
		allowed func(scope string) bool // the call succeeds
		code    int                     // when it does not
	}
	variants := []variant{
		{"no token", nil, func(string) bool { return false }, 401},
		{"unknown token", bearer(secretOf("nobody")), func(string) bool { return false }, 401},
		{"malformed header", map[string]string{"Authorization": "Bearer " + secretOf("all")[:20]}, func(string) bool { return false }, 401},
		{"basic auth", map[string]string{"Authorization": "Basic YWxsOmFsbA=="}, func(string) bool { return false }, 401},
		{"read-only token", bearer(tokenWith("read")), func(s string) bool { return s == "read" }, 403},
		{"every scope but the operation's", nil, func(string) bool { return false }, 403},
		{"only the operation's scope", nil, func(string) bool { return true }, 0},
		{"all scopes", bearer(secretOf("all")), func(string) bool { return true }, 0},
	}
	n := 0
	for p, ops := range d.Paths {
		for m, op := range ops {
			path := p
			for _, prm := range op.Parameters {
				if prm.In == "path" {
					path = strings.ReplaceAll(path, "{"+prm.Name+"}", fmt.Sprint(prm.Example))
				}
			}
			var body string
			if op.RequestBody != nil {
				b, _ := json.Marshal(op.RequestBody.Content["application/json"].Example)
				body = string(b)
			}
			method := strings.ToUpper(m)
			for _, v := range variants {
				headers := v.headers
				switch v.name {
				case "every scope but the operation's":
					headers = bearer(tokenWithout(op.Scope))
				case "only the operation's scope":
					headers = bearer(tokenWith(op.Scope))
				}
				if op.Scope == "" { // public: the document itself
					if v.name == "every scope but the operation's" || v.name == "only the operation's scope" {
						continue
					}
				}
				f := authFixture(t)
				code, resp := f.doHeaders(t, method, path, body, headers)
				n++
				want := v.code
				ok := op.Scope == "" || v.allowed(op.Scope)
				if ok {
					want = 200
				}
				if code != want {
					t.Errorf("%s %s with %s: %d %s, want %d", method, path, v.name, code, resp, want)
				}
				if !ok && (len(f.ctrl.Limits()) != 0 || len(f.ctrl.Resets()) != 0) {
					t.Errorf("%s %s with %s reached the controller", method, path, v.name)
				}
				if code == 401 && !strings.Contains(f.lastHeader.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s with %s: 401 without WWW-Authenticate: Bearer", method, path, v.name)
				}
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d calls; the document lost operations", n)
	}
}

// TestRESTCrossSiteResetRefused is the attack: a web page in the
// operator's browser posts an alarm reset as text/plain (no CORS preflight)
// from another origin. On a loopback edge without tokens, the Origin check
// and the content-type check each refuse it; a DNS-rebinding page (Host:
// its own name) is refused too. The latch is never reset.
func TestRESTCrossSiteResetRefused(t *testing.T) {
	body := `{"who":"attacker","why":"lol"}`
	for name, tc := range map[string]struct {
		h    map[string]string
		want int
	}{
		"text/plain from evil.example": {map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403},
		"json from evil.example":       {map[string]string{"Origin": "http://evil.example"}, 403},
		"origin null":                  {map[string]string{"Origin": "null"}, 403},
		"same host, other port":        {map[string]string{"Origin": "http://127.0.0.1:8091"}, 403},
		"https origin for http":        {map[string]string{"Origin": "https://127.0.0.1:8090"}, 403},
		"sec-fetch-site cross-site":    {map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		"text/plain without origin":    {map[string]string{"Content-Type": "text/plain"}, 415},
		"form without origin":          {map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		"no content type":              {map[string]string{"Content-Type": ""}, 415},
		"DNS rebinding":                {map[string]string{"Host": "evil.example:8090"}, 403},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil)
			code, resp := f.doHeaders(t, "POST", "/api/v1/alarms/reset", body, tc.h)
			if code != tc.want {
				t.Errorf("status %d %s, want %d", code, resp, tc.want)
			}
			if n := len(f.ctrl.Resets()); n != 0 {
				t.Errorf("%d resets reached the controller", n)
			}
		})
	}

	// The API's own origin, a configured origin and a configured host name
	// are served.
	f := newFixture(t, func(o *emsapi.Options) {
		o.AllowedOrigins = []string{"https://ems.example"}
		o.AllowedHosts = []string{"gw-7.garage.example"}
	})
	for name, h := range map[string]map[string]string{
		"same origin":       {"Origin": "http://127.0.0.1:8090"},
		"configured origin": {"Origin": "https://ems.example"},
		"configured host":   {"Host": "GW-7.garage.example:8090"},
		"same-site fetch":   {"Sec-Fetch-Site": "same-origin"},
	} {
		if code, resp := f.doHeaders(t, "POST", "/api/v1/alarms/reset", body, h); code != 200 {
			t.Errorf("%s: %d %s, want 200", name, code, resp)
		}
	}
}

// TestRESTResetRecordsTokenName: with authentication, the audit's who is
// the token's name, and a who in the body is kept beside it.
func TestRESTResetRecordsTokenName(t *testing.T) {
	f := authFixture(t)
	h := bearer(tokenWith("reset"))
	if code, resp := f.doHeaders(t, "POST", "/api/v1/alarms/reset", `{"why":"all clear"}`, h); code != 200 {
		t.Fatalf("reset: %d %s", code, resp)
	}
	if code, resp := f.doHeaders(t, "POST", "/api/v1/alarms/reset", `{"who":"j.meier","why":"drill"}`, h); code != 200 {
		t.Fatalf("reset naming an operator: %d %s", code, resp)
	}
	if code, resp := f.doHeaders(t, "POST", "/api/v1/alarms/reset", `{"who":"reset-only"}`, h); code != 400 || !strings.Contains(string(resp), "why is required") {
		t.Errorf("reset without why: %d %s", code, resp)
	}
	want := []emsapitest.ResetCall{{Who: "reset-only", Why: "all clear", Now: t0}, {Who: "reset-only (j.meier)", Why: "drill", Now: t0}}
	if diff := cmp.Diff(want, f.ctrl.Resets()); diff != "" {
		t.Errorf("resets (-want +got):\n%s", diff)
	}
}

// TestOpenAPIDocumentsSecurity: the document says how to authenticate and
// where the API is, and every operation names its scope or is public.
func TestOpenAPIDocumentsSecurity(t *testing.T) {
	var d struct {
		Servers    []struct{ URL string } `json:"servers"`
		Security   []map[string][]string  `json:"security"`
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string } `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(emsapi.OpenAPI(), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Servers) != 1 || d.Servers[0].URL != "/" {
		t.Errorf("servers %+v: want the relative server /, so the document is right on every port", d.Servers)
	}
	if s := d.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" || len(d.Security) != 1 {
		t.Errorf("security scheme %+v, security %v", s, d.Security)
	}
	for p, ops := range loadOpenAPI(t).Paths {
		for m, op := range ops {
			public := op.Security != nil && len(*op.Security) == 0
			switch {
			case public && op.Scope != "":
				t.Errorf("%s %s is public but names scope %q", m, p, op.Scope)
			case !public && !slices.Contains([]string{"read", "limit", "reset"}, op.Scope):
				t.Errorf("%s %s: scope %q, want read, limit or reset", m, p, op.Scope)
			case !public && (op.Responses["401"].Ref == "" || op.Responses["403"].Ref == ""):
				t.Errorf("%s %s: 401 and 403 not documented", m, p)
			}
		}
	}
}

// TestNewMQTTRefusesCredentialsInURL: a broker URL with user:password@
// would end up in logs; it is refused without repeating the password.
func TestNewMQTTRefusesCredentialsInURL(t *testing.T) {
	o := emsapi.Options{Source: &emsapitest.Source{}, Controller: &emsapitest.Controller{}}
	_, err := emsapi.NewMQTT(emsapi.MQTTOptions{Options: o, Site: "s", Broker: "tcp://ems:hunter2@127.0.0.1:1883"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("NewMQTT with credentials in the URL: %v", err)
	}
	if _, err := emsapi.NewMQTT(emsapi.MQTTOptions{Options: o, Site: "s", Broker: "ssl://127.0.0.1:8883", Username: "ems", Password: "hunter2"}); err != nil {
		t.Errorf("NewMQTT with a login: %v", err)
	}
}
