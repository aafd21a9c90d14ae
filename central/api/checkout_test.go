package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/stripe"
	"github.com/parkgrid/parkgrid/central/payment/stripe/stripetest"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
)

// stripeEnv is newEnv with Stripe as the provider, on the stateful fake
// of Stripe's API.
func stripeEnv(t *testing.T) (*env, *stripe.Provider, *stripetest.Server) {
	t.Helper()
	e := newEnv(t, false)
	srv := stripetest.New(t, stripetest.Options{Now: func() time.Time { return e.now }})
	p, err := stripe.New(stripe.Config{SecretKey: "sk_test_api", URL: srv.URL, MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if e.sessions, err = session.New(session.Config{Store: e.memory, Payments: accesscode.Payments{Provider: p}, Snapshots: e.snaps, Issuers: sessiontest.Issuers{}}); err != nil {
		t.Fatal(err)
	}
	e.api, err = api.New(api.Config{
		Catalog: e.cat, Codes: e.codes, Sessions: e.sessions, SessionStore: e.memory, Invoices: memInvoices{e.memory},
		Edge: e.edge, Holds: p, Webhooks: map[string]payment.WebhookVerifier{"stripe": p}, Provider: "stripe",
		CodeCapWh: codeCapWh, TokenKey: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = e.api.Handler()
	return e, p, srv
}

// TestStripeCheckoutStart: a Stripe start with a return URL answers the
// hosted Checkout page to redirect to; the driver pays there and comes
// back; confirm then finds the hold authorised and authorises the point;
// the bill captures the price, within the hold.
func TestStripeCheckoutStart(t *testing.T) {
	e, p, _ := stripeEnv(t)
	const back = "https://parkgrid.example/c/site-a.p1/return"
	req := api.StartRequest{ClientID: "client-checkout-0001", Site: "site-a", Point: "p1", Tariff: "eco",
		Email: "driver@example.com", Payment: "stripe", ReturnURL: back, CancelURL: back}
	var ans api.StartAnswer
	e.json("POST", "/api/v1/sessions", "", req, http.StatusCreated, &ans)
	if ans.Session.State != session.StateCreated || ans.ApproveURL == "" || ans.ClientSecret != "" || ans.Edge != "pending" ||
		!strings.HasPrefix(ans.Session.Payment, "cs_") {
		t.Fatalf("start = %+v, want created with a Checkout URL", ans)
	}
	var again api.StartAnswer // a retry sends the session's very request: the same page
	e.json("POST", "/api/v1/sessions", "", req, http.StatusOK, &again)
	if again.ApproveURL != ans.ApproveURL {
		t.Errorf("retry answered %q, first %q", again.ApproveURL, ans.ApproveURL)
	}
	path := "/api/v1/sessions/" + ans.Session.ID + "/confirm"
	var conf struct {
		Session api.SessionView `json:"session"`
		Edge    string          `json:"edge"`
	}
	e.json("POST", path, ans.Token, nil, http.StatusOK, &conf)
	if conf.Session.State != session.StateCreated || conf.Edge != "pending" {
		t.Fatalf("confirm before paying: %+v", conf)
	}

	// The driver pays on the hosted page and is sent back.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(ans.ApproveURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back {
		t.Fatalf("hosted page answered %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), back)
	}

	e.json("POST", path, ans.Token, nil, http.StatusOK, &conf)
	if conf.Session.State != session.StateAuthorized || conf.Edge != "authorised" || !strings.HasPrefix(conf.Session.Payment, "pi_") {
		t.Fatalf("confirm after paying: %+v", conf)
	}
	if calls := e.edge.Calls(); len(calls) != 1 || calls[0].Kind != "authorize" || calls[0].Session != ans.Session.ID {
		t.Errorf("edge calls %+v, want one authorize", calls)
	}

	e.finish(ans, 7_000)
	s, err := e.memory.Session(t.Context(), ans.Session.ID)
	if err != nil || s.State != session.StateInvoiced || s.Billing == nil {
		t.Fatalf("session after finish: %+v, %v", s, err)
	}
	h, err := p.Confirm(t.Context(), payment.ConfirmRequest{HoldID: ans.Session.Payment})
	if err != nil || h.Status != payment.StatusCaptured || h.CapturedMinor != s.Billing.Price.GrossMinor || h.CapturedMinor > h.AmountMinor {
		t.Errorf("hold at Stripe: %+v, %v; price %d", h, err, s.Billing.Price.GrossMinor)
	}
}

// TestStripeCheckoutAbandoned: the driver never pays and stops: the
// session is cancelled and the Checkout Session expired, so it can no
// longer be paid.
func TestStripeCheckoutAbandoned(t *testing.T) {
	e, p, srv := stripeEnv(t)
	var ans api.StartAnswer
	e.json("POST", "/api/v1/sessions", "", api.StartRequest{ClientID: "client-checkout-0002", Site: "site-a", Point: "p1", Tariff: "eco",
		Email: "driver@example.com", Payment: "stripe", ReturnURL: "https://parkgrid.example/back"}, http.StatusCreated, &ans)
	e.json("POST", "/api/v1/sessions/"+ans.Session.ID+"/stop", ans.Token, nil, http.StatusOK, nil)
	s, err := e.memory.Session(t.Context(), ans.Session.ID)
	if err != nil || s.State != session.StateCancelled || !s.HoldReleased {
		t.Fatalf("after stop: %+v, %v", s, err)
	}
	if err := srv.Complete(s.HoldID); err == nil {
		t.Error("the abandoned checkout could still be paid")
	}
	if h, err := p.Confirm(t.Context(), payment.ConfirmRequest{HoldID: s.HoldID}); err != nil || h.Status != payment.StatusExpired {
		t.Errorf("checkout after stop: %+v, %v", h, err)
	}
}

func TestStartRefusesBadReturnURL(t *testing.T) {
	e, _, _ := stripeEnv(t)
	for _, u := range []string{"javascript:alert(1)", "/relative", "https://" + strings.Repeat("a", 2100)} {
		code, b := e.do("POST", "/api/v1/sessions", "", api.StartRequest{ClientID: "client-checkout-0003", Site: "site-a", Point: "p1",
			Tariff: "eco", Email: "driver@example.com", Payment: "stripe", ReturnURL: u})
		if code != http.StatusBadRequest || errCode(b) != "bad_request" {
			t.Errorf("returnUrl %.40q: %d %s", u, code, b)
		}
	}
	if list, err := e.memory.List(t.Context(), session.Filter{}); err != nil || len(list) != 0 {
		t.Errorf("refused starts stored sessions: %v, %v", list, err)
	}
}
