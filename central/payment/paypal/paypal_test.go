package paypal_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/paymenttest"
	"github.com/parkgrid/parkgrid/central/payment/paypal"
	"github.com/parkgrid/parkgrid/central/payment/paypal/paypaltest"
)

// clock is a settable time source shared by the adapter and the fake.
type clock struct {
	mu sync.Mutex // protects t
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*paypal.Provider, *paypaltest.Server, *clock) {
	t.Helper()
	c := &clock{t: t0}
	srv := paypaltest.NewServer(t, paypaltest.Options{Now: c.Now})
	p, err := paypal.New(paypal.Config{BaseURL: srv.URL, ClientID: srv.ClientID(), Secret: srv.Secret(),
		WebhookID: srv.WebhookID(), BrandName: "parkgrid", Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return p, srv, c
}

func TestConformance(t *testing.T) {
	paymenttest.Run(t, func(t *testing.T) paymenttest.Harness {
		p, srv, c := setup(t)
		return paymenttest.Harness{
			Provider: p,
			Approve: func(t *testing.T, h payment.Hold) {
				if h.ApproveURL == "" {
					t.Error("pending hold without an approval URL")
				}
				if err := srv.Approve(h.ID); err != nil {
					t.Fatal(err)
				}
			},
			Advance:      c.Advance,
			HoldValidity: 29 * 24 * time.Hour,
		}
	})
}

// TestRequestShapes checks what goes on the wire: the order with intent
// AUTHORIZE, decimal amounts, the payee and platform fee, and the
// PayPal-Request-Id on every mutating call.
func TestRequestShapes(t *testing.T) {
	p, srv, _ := setup(t)
	ctx := t.Context()
	payee := payment.Payee{Account: "MERCHANT1", Fee: payment.Fee{FixedMinor: 10, BP: 250}}
	h, err := p.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "s1/authorize", Reference: "s1", AmountMinor: 5000,
		Currency: "EUR", Description: "Charging", Payee: payee, ReturnURL: "https://app.example/back", CancelURL: "https://app.example/cancel"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Approve(h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Confirm(ctx, payment.ConfirmRequest{IdempotencyKey: "s1/confirm", HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Capture(ctx, payment.CaptureRequest{IdempotencyKey: "s1/capture", HoldID: h.ID, AmountMinor: 1234, Currency: "EUR", FeeMinor: 41}); err != nil {
		t.Fatal(err)
	}
	type call struct{ Method, Path, RequestID string }
	var calls []call
	bodies := map[string]map[string]any{}
	for _, r := range srv.Requests() {
		calls = append(calls, call{r.Method, r.Path, r.RequestID})
		if r.Authorization[:7] != "Bearer " {
			t.Errorf("%s %s without a bearer token", r.Method, r.Path)
		}
		if r.Method == "POST" {
			var v map[string]any
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatalf("%s body: %v", r.Path, err)
			}
			bodies[r.Path] = v
		}
	}
	auth := h.ID // replaced below by the authorization id
	for _, c := range calls {
		if len(c.Path) > len("/v2/payments/authorizations/") && c.Path[:len("/v2/payments/authorizations/")] == "/v2/payments/authorizations/" {
			auth = c.Path[len("/v2/payments/authorizations/") : len(c.Path)-len("/capture")]
		}
	}
	want := []call{
		{"POST", "/v2/checkout/orders", "s1/authorize"},
		{"GET", "/v2/checkout/orders/" + h.ID, ""},
		{"POST", "/v2/checkout/orders/" + h.ID + "/authorize", "s1/confirm"},
		{"GET", "/v2/checkout/orders/" + h.ID, ""},
		{"POST", "/v2/payments/authorizations/" + auth + "/capture", "s1/capture"},
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	order := bodies["/v2/checkout/orders"]
	pu := order["purchase_units"].([]any)[0].(map[string]any)
	wantPU := map[string]any{
		"reference_id": "s1", "custom_id": "s1", "description": "Charging",
		"amount":              map[string]any{"currency_code": "EUR", "value": "50.00"},
		"payee":               map[string]any{"merchant_id": "MERCHANT1"},
		"payment_instruction": map[string]any{"platform_fees": []any{map[string]any{"amount": map[string]any{"currency_code": "EUR", "value": "1.35"}}}},
	}
	if order["intent"] != "AUTHORIZE" {
		t.Errorf("intent %v", order["intent"])
	}
	if diff := cmp.Diff(wantPU, pu); diff != "" {
		t.Errorf("purchase unit (-want +got):\n%s", diff)
	}
	wantCapture := map[string]any{
		"amount": map[string]any{"currency_code": "EUR", "value": "12.34"}, "final_capture": true,
		"payment_instruction": map[string]any{"platform_fees": []any{map[string]any{"amount": map[string]any{"currency_code": "EUR", "value": "0.41"}}}},
	}
	if diff := cmp.Diff(wantCapture, bodies["/v2/payments/authorizations/"+auth+"/capture"]); diff != "" {
		t.Errorf("capture body (-want +got):\n%s", diff)
	}
}

// TestTokenReusedAndRenewed: one token serves many calls; a 401 fetches a
// new one and the call goes through.
func TestTokenReusedAndRenewed(t *testing.T) {
	p, srv, _ := setup(t)
	ctx := t.Context()
	h, err := p.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "s1/authorize", Reference: "s1", AmountMinor: 100, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if _, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID}); err != nil {
		t.Fatalf("after the token was revoked: %v", err)
	}
	if _, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]bool{}
	for _, r := range srv.Requests() {
		tokens[r.Authorization] = true
	}
	if len(tokens) != 2 {
		t.Errorf("%d distinct tokens used, want 2 (one before, one after the revocation)", len(tokens))
	}
}

func webhookBody(id string) []byte {
	// Indented on purpose: the signature covers these exact bytes.
	return []byte(`{
  "id": "` + id + `",
  "event_type": "PAYMENT.CAPTURE.COMPLETED",
  "create_time": "2026-11-25T10:00:00Z",
  "resource": {
    "id": "CAP1",
    "amount": {"currency_code": "EUR", "value": "12.34"},
    "supplementary_data": {"related_ids": {"order_id": "5O1"}}
  }
}`)
}

func TestWebhooks(t *testing.T) {
	p, srv, _ := setup(t)
	body := webhookBody("WH-1")
	header := srv.SignWebhook(body, t0)
	log := &payment.MemoryEventLog{}
	ev, err := payment.Receive(t.Context(), "paypal", p, log, noop, header, body, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	want := payment.Event{ID: "WH-1", Type: "PAYMENT.CAPTURE.COMPLETED", Kind: payment.EventCaptured, HoldID: "5O1", AmountMinor: 1234, Currency: "EUR", Created: t0}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if _, err := payment.Receive(t.Context(), "paypal", p, log, noop, header, body, t0.Add(2*time.Minute)); !errors.Is(err, payment.ErrReplayed) {
		t.Errorf("replay: %v, want ErrReplayed", err)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = ' '
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"body changed", header, tampered, t0, payment.ErrSignature},
		{"not JSON", header, []byte("{"), t0, payment.ErrSignature},
		{"too old", header, body, t0.Add(301 * time.Second), payment.ErrStale},
		{"from the future", header, body, t0.Add(-301 * time.Second), payment.ErrStale},
		{"no headers", http.Header{}, body, t0, payment.ErrSignature},
		{"other event's signature", srv.SignWebhook(webhookBody("WH-2"), t0), body, t0, payment.ErrSignature},
	}
	for _, tc := range tests {
		if _, err := p.VerifyWebhook(t.Context(), tc.header, tc.body, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzVerifyWebhook: any body under a valid signature header set never
// panics, and only the signed body verifies.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add(webhookBody("WH-1"))
	f.Add([]byte(`{"id":"x","resource":{"amount":{"currency_code":"EUR","value":"1e9"}}}`))
	f.Add([]byte(`"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, srv, _ := setup(t)
		body := webhookBody("WH-1")
		if ev, err := p.VerifyWebhook(t.Context(), srv.SignWebhook(body, t0), b, t0); err == nil && string(b) != string(body) {
			t.Fatalf("forged body verified: %q → %+v", b, ev)
		}
	})
}

func noop(context.Context, payment.Event) error { return nil }
