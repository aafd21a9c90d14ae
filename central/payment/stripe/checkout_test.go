package stripe_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/paymenttest"
	"github.com/parkgrid/parkgrid/central/payment/stripe"
	"github.com/parkgrid/parkgrid/central/payment/stripe/stripetest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestCheckoutShapesOnStripeMock: a hold with a return URL is a Checkout
// Session in payment mode with the PaymentIntent path's manual capture,
// Connect fields and idempotency key; stripe-mock validates the request
// against Stripe's OpenAPI spec.
func TestCheckoutShapesOnStripeMock(t *testing.T) {
	p, rec := newProvider(t, svctest.StripeMock(t), stripe.Config{OnBehalfOf: true, StatementDescriptorSuffix: "PARKGRID"})
	ctx := t.Context()
	payee := payment.Payee{Account: "acct_1Operator", Fee: payment.Fee{FixedMinor: 10, BP: 250}}
	h, err := p.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "sess-1/authorize", Reference: "sess-1",
		AmountMinor: 5000, Currency: "EUR", Description: "Charging at Mitte cp-07", Payee: payee,
		ReturnURL: "https://parkgrid.example/c/mitte.cp-07/return", CancelURL: "https://parkgrid.example/c/mitte.cp-07/return?canceled=1"})
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if !strings.HasPrefix(h.ID, "cs_") || h.Status != payment.StatusPending || h.ClientSecret != "" {
		t.Errorf("hold = %+v, want a pending cs_ hold without client secret", h)
	}
	want := request{Method: "POST", Path: "/v1/checkout/sessions", IdempotencyKey: "sess-1/authorize", Form: url.Values{
		"mode":                                             {"payment"},
		"client_reference_id":                              {"sess-1"},
		"success_url":                                      {"https://parkgrid.example/c/mitte.cp-07/return"},
		"cancel_url":                                       {"https://parkgrid.example/c/mitte.cp-07/return?canceled=1"},
		"payment_method_types[0]":                          {"card"},
		"line_items[0][quantity]":                          {"1"},
		"line_items[0][price_data][currency]":              {"eur"},
		"line_items[0][price_data][unit_amount]":           {"5000"},
		"line_items[0][price_data][product_data][name]":    {"Charging at Mitte cp-07"},
		"payment_intent_data[capture_method]":              {"manual"},
		"payment_intent_data[metadata][session]":           {"sess-1"},
		"payment_intent_data[description]":                 {"Charging at Mitte cp-07"},
		"payment_intent_data[statement_descriptor_suffix]": {"PARKGRID"},
		"payment_intent_data[transfer_data][destination]":  {"acct_1Operator"},
		"payment_intent_data[application_fee_amount]":      {"135"},
		"payment_intent_data[on_behalf_of]":                {"acct_1Operator"},
		"metadata[session]":                                {"sess-1"},
	}, Query: url.Values{}}
	if diff := cmp.Diff(want, rec.last(t)); diff != "" {
		t.Errorf("create Checkout Session (-want +got):\n%s", diff)
	}

	if _, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	got := rec.last(t)
	if got.Method != "GET" || got.Path != "/v1/checkout/sessions/"+h.ID || got.Query.Get("expand[0]") != "payment_intent" ||
		got.Query.Get("expand[1]") != "payment_intent.latest_charge" {
		t.Errorf("confirm sent %+v", got)
	}

	if _, err := p.Cancel(ctx, payment.CancelRequest{IdempotencyKey: "sess-1/cancel", HoldID: h.ID}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	rec.mu.Lock()
	var moved []request
	for _, r := range rec.reqs {
		if r.Method == "POST" && r.Path != "/v1/checkout/sessions" {
			moved = append(moved, r)
		}
	}
	rec.mu.Unlock()
	if len(moved) != 1 || moved[0].IdempotencyKey == "" || !strings.HasPrefix(moved[0].Path, "/v1/") {
		t.Errorf("cancel of an unpaid checkout sent %+v, want one keyed POST", moved)
	}
}

// clock is a settable time source.
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

// TestCheckoutConformance runs the providers' suite on Checkout holds
// against the stateful fake.
func TestCheckoutConformance(t *testing.T) {
	paymenttest.Run(t, func(t *testing.T) paymenttest.Harness {
		clk := &clock{t: time.Now()}
		srv := stripetest.New(t, stripetest.Options{Now: clk.Now, HoldValidity: 7 * 24 * time.Hour})
		p, _ := newProvider(t, srv.URL, stripe.Config{})
		return paymenttest.Harness{
			Provider: p,
			Approve: func(t *testing.T, h payment.Hold) {
				if err := srv.Complete(h.ID); err != nil {
					t.Fatal(err)
				}
			},
			Advance: clk.Advance, HoldValidity: 7 * 24 * time.Hour,
			Payee: payment.Payee{Account: "acct_1Operator", Fee: payment.Fee{BP: 100}},
		}
	})
}

// TestCheckoutFlow: the driver follows ApproveURL, pays on the hosted page
// and lands on the return URL; Confirm then reports the authorised
// PaymentIntent, which captures at most the hold. A hold the driver never
// paid is released by expiring its session.
func TestCheckoutFlow(t *testing.T) {
	srv := stripetest.New(t, stripetest.Options{})
	p, _ := newProvider(t, srv.URL, stripe.Config{})
	ctx := t.Context()
	var (
		mu     sync.Mutex // protects landed
		landed []string
	)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		landed = append(landed, r.URL.Path)
	}))
	defer back.Close()
	req := payment.AuthorizeRequest{IdempotencyKey: "s1/authorize", Reference: "s1", AmountMinor: 5000, Currency: "EUR",
		ReturnURL: back.URL + "/c/site.p1/return"}

	h, err := p.Authorize(ctx, req)
	if err != nil || h.ApproveURL == "" || h.Status != payment.StatusPending {
		t.Fatalf("authorize: %+v, %v", h, err)
	}
	if again, err := p.Authorize(ctx, req); err != nil || again.ID != h.ID || again.ApproveURL != h.ApproveURL {
		t.Errorf("authorize again with the key: %+v, %v; first %+v", again, err, h)
	}
	if c, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID}); err != nil || c.Status != payment.StatusPending || c.ID != h.ID {
		t.Errorf("confirm before paying: %+v, %v", c, err)
	}
	if _, err := p.Capture(ctx, payment.CaptureRequest{IdempotencyKey: "s1/capture", HoldID: h.ID, AmountMinor: 100, Currency: "EUR"}); !errors.Is(err, payment.ErrState) {
		t.Errorf("capture before paying: %v, want ErrState", err)
	}

	resp, err := http.Get(h.ApproveURL) // the driver pays and is sent back
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"/c/site.p1/return"}, landed); diff != "" {
		t.Errorf("driver landed on (-want +got):\n%s", diff)
	}
	c, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID})
	if err != nil || c.Status != payment.StatusAuthorized || !strings.HasPrefix(c.ID, "pi_") || c.AmountMinor != 5000 || c.ExpiresAt.IsZero() {
		t.Fatalf("confirm after paying: %+v, %v", c, err)
	}
	if _, err := p.Capture(ctx, payment.CaptureRequest{IdempotencyKey: "s1/capture", HoldID: c.ID, AmountMinor: 5001, Currency: "EUR"}); !errors.Is(err, payment.ErrExceedsHold) {
		t.Errorf("capture beyond the hold: %v, want ErrExceedsHold", err)
	}
	cp, err := p.Capture(ctx, payment.CaptureRequest{IdempotencyKey: "s1/capture-2", HoldID: c.ID, AmountMinor: 1234, Currency: "EUR"})
	if err != nil || cp.AmountMinor != 1234 || cp.HoldID != c.ID {
		t.Fatalf("capture: %+v, %v", cp, err)
	}
	if got, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID}); err != nil || got.Status != payment.StatusCaptured || got.CapturedMinor != 1234 {
		t.Errorf("the checkout's hold after capture: %+v, %v", got, err)
	}

	// Never paid: cancel expires the session; its page is gone.
	h2, err := p.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "s2/authorize", Reference: "s2", AmountMinor: 5000, Currency: "EUR", ReturnURL: back.URL + "/r"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := p.Cancel(ctx, payment.CancelRequest{IdempotencyKey: "s2/cancel", HoldID: h2.ID})
		if err != nil || got.Status != payment.StatusCanceled {
			t.Fatalf("cancel %d: %+v, %v", i+1, got, err)
		}
	}
	if err := srv.Complete(h2.ID); err == nil {
		t.Error("an expired checkout could still be paid")
	}
	if got, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h2.ID}); err != nil || got.Status != payment.StatusExpired {
		t.Errorf("confirm of the expired checkout: %+v, %v", got, err)
	}
}

func TestCheckoutRefusesBadReturnURL(t *testing.T) {
	p, rec := newProvider(t, "http://127.0.0.1:9", stripe.Config{})
	for _, u := range []string{"javascript:alert(1)", "/c/p1/return", "ftp://x.example/"} {
		_, err := p.Authorize(t.Context(), payment.AuthorizeRequest{IdempotencyKey: "k", Reference: "s", AmountMinor: 100, Currency: "EUR", ReturnURL: u})
		if !errors.Is(err, payment.ErrInvalid) {
			t.Errorf("return URL %q: %v, want ErrInvalid", u, err)
		}
	}
	if len(rec.reqs) != 0 {
		t.Errorf("sent %d requests for refused URLs", len(rec.reqs))
	}
}
