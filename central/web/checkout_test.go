package web_test

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
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/central/web"
	"github.com/parkgrid/parkgrid/dashboard"
)

// TestStripeCheckoutDriverFlow: with Stripe, a card start in the web app
// redirects to Stripe's hosted Checkout page with the point's return page
// as the way back; when the driver is back, the status confirms the hold:
// the session is authorized and the point authorised at the edge.
func TestStripeCheckoutDriverFlow(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.online(0)
	now := func() time.Time { return e.now }
	srv := stripetest.New(t, stripetest.Options{Now: now})
	p, err := stripe.New(stripe.Config{SecretKey: "sk_test_web", URL: srv.URL, MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := session.New(session.Config{Store: e.memory, Payments: accesscode.Payments{Provider: p}, Snapshots: &sessiontest.Snapshots{}, Issuers: sessiontest.Issuers{}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Catalog: e.cat, Codes: e.codes, Sessions: sessions, SessionStore: e.memory, Invoices: memInvoices{e.memory},
		Edge: e.edge, Holds: p, Webhooks: map[string]payment.WebhookVerifier{"stripe": p}, Provider: "stripe", CodeCapWh: 30_000,
		TokenKey: bytes.Repeat([]byte{7}, 32), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Sessions, cfg.API, cfg.Holds, cfg.Provider = sessions, a.Handler(), a, "stripe"
	w, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	const back = "https://parkgrid.example/c/site-a~p1/return"
	res, err := w.Start(ctx, dashboard.StartRequest{Point: "site-a~p1", Email: "d@example.com", Class: tariff.ClassEco,
		Method: dashboard.PayCard, ReturnURL: back})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.RedirectURL, srv.URL+"/pay/cs_") {
		t.Fatalf("redirect %q, want Stripe's hosted Checkout page", res.RedirectURL)
	}
	if st, err := w.Status(ctx, res.SessionID); err != nil || st.State != session.StateCreated {
		t.Fatalf("status before paying: %+v, %v", st, err)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(res.RedirectURL) // the driver pays
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Location") != back {
		t.Fatalf("the hosted page sent the driver to %q, want %s", resp.Header.Get("Location"), back)
	}

	st, err := w.Status(ctx, res.SessionID) // the return page shows the session
	if err != nil || st.State != session.StateAuthorized {
		t.Fatalf("status after paying: %+v, %v", st, err)
	}
	edgeCalls := func() []string {
		e.edge.mu.Lock()
		defer e.edge.mu.Unlock()
		return append([]string(nil), e.edge.calls...)
	}
	if calls := edgeCalls(); len(calls) != 1 || calls[0] != "authorize site-a/p1 "+res.SessionID {
		t.Errorf("edge calls %v, want one authorise", calls)
	}
	if st, err := w.Status(ctx, res.SessionID); err != nil || st.State != session.StateAuthorized || len(edgeCalls()) != 1 {
		t.Errorf("status again: %+v, %v; edge calls %v", st, err, edgeCalls())
	}
}
