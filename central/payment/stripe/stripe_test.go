package stripe_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/stripe"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// request is one HTTP request the adapter sent.
type request struct {
	Method, Path, IdempotencyKey string
	Form                         url.Values
	Query                        url.Values
}

// recorder is an http.RoundTripper that keeps every request and forwards
// it.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex // protects reqs
	reqs []request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, request{req.Method, req.URL.Path, req.Header.Get("Idempotency-Key"), form, req.URL.Query()})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) last(t *testing.T) request {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request sent")
	}
	return r.reqs[len(r.reqs)-1]
}

func newProvider(t *testing.T, url string, cfg stripe.Config) (*stripe.Provider, *recorder) {
	t.Helper()
	rec := &recorder{next: http.DefaultTransport}
	cfg.SecretKey = "sk_test_123"
	cfg.URL = url
	cfg.HTTPClient = &http.Client{Transport: rec, Timeout: 10 * time.Second}
	cfg.MaxNetworkRetries = -1 // none: one request per call, as the recorder expects
	p, err := stripe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, rec
}

// TestRequestShapesOnStripeMock sends every call to stripe-mock, which
// validates the parameters against Stripe's OpenAPI spec, and checks what
// went on the wire: manual capture, the Connect destination and fee, and
// the Idempotency-Key on every mutating call.
func TestRequestShapesOnStripeMock(t *testing.T) {
	p, rec := newProvider(t, svctest.StripeMock(t), stripe.Config{OnBehalfOf: true, StatementDescriptorSuffix: "PARKGRID"})
	ctx := t.Context()
	payee := payment.Payee{Account: "acct_1Operator", Fee: payment.Fee{FixedMinor: 10, BP: 250}}

	h, err := p.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "sess-1/authorize", Reference: "sess-1",
		AmountMinor: 5000, Currency: "EUR", Description: "Charging at Mitte cp-07", Payee: payee})
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if h.ID == "" || h.ClientSecret == "" {
		t.Errorf("hold without id or client secret: %+v", h)
	}
	got := rec.last(t)
	want := request{Method: "POST", Path: "/v1/payment_intents", IdempotencyKey: "sess-1/authorize", Form: url.Values{
		"amount":                      {"5000"},
		"currency":                    {"eur"},
		"capture_method":              {"manual"},
		"payment_method_types[0]":     {"card"},
		"metadata[session]":           {"sess-1"},
		"description":                 {"Charging at Mitte cp-07"},
		"statement_descriptor_suffix": {"PARKGRID"},
		"transfer_data[destination]":  {"acct_1Operator"},
		"application_fee_amount":      {"135"}, // 10 + 2.5 % of 5000
		"on_behalf_of":                {"acct_1Operator"},
	}, Query: url.Values{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("create PaymentIntent (-want +got):\n%s", diff)
	}

	if _, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	got = rec.last(t)
	if got.Method != "GET" || got.Path != "/v1/payment_intents/"+h.ID || got.Query.Get("expand[0]") != "latest_charge" {
		t.Errorf("confirm sent %+v", got)
	}

	if _, err := p.Capture(ctx, payment.CaptureRequest{IdempotencyKey: "sess-1/capture", HoldID: h.ID, AmountMinor: 1234, Currency: "EUR", FeeMinor: 41}); err != nil {
		t.Fatalf("capture: %v", err)
	}
	want = request{Method: "POST", Path: "/v1/payment_intents/" + h.ID + "/capture", IdempotencyKey: "sess-1/capture",
		Form: url.Values{"amount_to_capture": {"1234"}, "application_fee_amount": {"41"}}, Query: url.Values{}}
	if diff := cmp.Diff(want, rec.last(t)); diff != "" {
		t.Errorf("capture (-want +got):\n%s", diff)
	}

	if _, err := p.Cancel(ctx, payment.CancelRequest{IdempotencyKey: "sess-2/cancel", HoldID: h.ID}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	want = request{Method: "POST", Path: "/v1/payment_intents/" + h.ID + "/cancel", IdempotencyKey: "sess-2/cancel", Form: url.Values{}, Query: url.Values{}}
	if diff := cmp.Diff(want, rec.last(t)); diff != "" {
		t.Errorf("cancel (-want +got):\n%s", diff)
	}

	if _, err := p.Refund(ctx, payment.RefundRequest{IdempotencyKey: "sess-1/refund-1", HoldID: h.ID, AmountMinor: 200,
		Currency: "EUR", Reason: "requested_by_customer", Payee: payee}); err != nil {
		t.Fatalf("refund: %v", err)
	}
	want = request{Method: "POST", Path: "/v1/refunds", IdempotencyKey: "sess-1/refund-1", Form: url.Values{
		"payment_intent":         {h.ID},
		"amount":                 {"200"},
		"reason":                 {"requested_by_customer"},
		"metadata[reason]":       {"requested_by_customer"},
		"reverse_transfer":       {"true"},
		"refund_application_fee": {"true"},
	}, Query: url.Values{}}
	if diff := cmp.Diff(want, rec.last(t)); diff != "" {
		t.Errorf("refund (-want +got):\n%s", diff)
	}
}

// TestPlatformChargeHasNoConnectFields: without a payee account the
// charge is the platform's own.
func TestPlatformChargeHasNoConnectFields(t *testing.T) {
	p, rec := newProvider(t, svctest.StripeMock(t), stripe.Config{})
	if _, err := p.Authorize(t.Context(), payment.AuthorizeRequest{IdempotencyKey: "s/authorize", Reference: "s", AmountMinor: 5000, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"transfer_data[destination]", "application_fee_amount", "on_behalf_of"} {
		if v, ok := rec.last(t).Form[k]; ok {
			t.Errorf("platform charge sent %s=%v", k, v)
		}
	}
}

// TestErrorsMapToSentinels answers with Stripe's error bodies and checks
// the sentinel each becomes.
func TestErrorsMapToSentinels(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   error
	}{
		{400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state","message":"This PaymentIntent could not be captured because it has a status of canceled."}}`, payment.ErrState},
		{400, `{"error":{"type":"invalid_request_error","code":"amount_too_large","message":"too large"}}`, payment.ErrExceedsHold},
		{404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}`, payment.ErrNotFound},
		{400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`, payment.ErrIdempotencyMismatch},
		{402, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`, payment.ErrDeclined},
		{400, `{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","message":"bad"}}`, payment.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.want), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p, _ := newProvider(t, srv.URL, stripe.Config{})
			_, err := p.Capture(t.Context(), payment.CaptureRequest{IdempotencyKey: "k", HoldID: "pi_1", AmountMinor: 100, Currency: "EUR"})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const secret = "whsec_test"

func signed(body string, at time.Time) http.Header {
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret, Timestamp: at})
	h := http.Header{}
	h.Set(stripe.SignatureHeader, sp.Header)
	return h
}

func eventBody(id, typ, object string) string {
	return fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2020-08-27","created":1795600000,"type":%q,"data":{"object":%s}}`, id, typ, object)
}

func TestWebhookEvents(t *testing.T) {
	p, _ := newProvider(t, "http://127.0.0.1:9", stripe.Config{WebhookSecret: secret})
	pi := `{"id":"pi_1","object":"payment_intent","amount":5000,"amount_received":1234,"currency":"eur"}`
	tests := []struct {
		typ, object string
		want        payment.Event
	}{
		{"payment_intent.amount_capturable_updated", pi, payment.Event{Kind: payment.EventAuthorized, HoldID: "pi_1", AmountMinor: 5000}},
		{"payment_intent.succeeded", pi, payment.Event{Kind: payment.EventCaptured, HoldID: "pi_1", AmountMinor: 1234}},
		{"payment_intent.canceled", pi, payment.Event{Kind: payment.EventCanceled, HoldID: "pi_1", AmountMinor: 5000}},
		{"payment_intent.payment_failed", pi, payment.Event{Kind: payment.EventFailed, HoldID: "pi_1", AmountMinor: 5000}},
		{"charge.refunded", `{"id":"ch_1","object":"charge","amount_refunded":200,"currency":"eur","payment_intent":"pi_1"}`,
			payment.Event{Kind: payment.EventRefunded, HoldID: "pi_1", AmountMinor: 200}},
		{"checkout.session.completed", `{"id":"cs_1","object":"checkout.session","amount_total":5000,"currency":"eur","payment_intent":"pi_1","status":"complete"}`,
			payment.Event{Kind: payment.EventAuthorized, HoldID: "cs_1", AmountMinor: 5000}},
		{"checkout.session.expired", `{"id":"cs_1","object":"checkout.session","amount_total":5000,"currency":"eur","status":"expired"}`,
			payment.Event{Kind: payment.EventCanceled, HoldID: "cs_1", AmountMinor: 5000}},
		{"customer.created", `{"id":"cus_1","object":"customer"}`, payment.Event{Kind: payment.EventOther}},
	}
	for i, tc := range tests {
		body := eventBody(fmt.Sprintf("evt_%d", i), tc.typ, tc.object)
		got, err := p.VerifyWebhook(t.Context(), signed(body, t0), []byte(body), t0.Add(time.Minute))
		if err != nil {
			t.Errorf("%s: %v", tc.typ, err)
			continue
		}
		tc.want.ID, tc.want.Type, tc.want.Created = fmt.Sprintf("evt_%d", i), tc.typ, time.Unix(1795600000, 0).UTC()
		if tc.want.Kind != payment.EventOther {
			tc.want.Currency = "EUR"
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.typ, diff)
		}
	}
}

func TestWebhookRefused(t *testing.T) {
	p, _ := newProvider(t, "http://127.0.0.1:9", stripe.Config{WebhookSecret: secret})
	body := eventBody("evt_1", "payment_intent.succeeded", `{"id":"pi_1","object":"payment_intent"}`)
	good := signed(body, t0)
	tests := []struct {
		name   string
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"older than the tolerance", good, body, t0.Add(301 * time.Second), payment.ErrStale},
		{"from the future", good, body, t0.Add(-301 * time.Second), payment.ErrStale},
		{"body changed", good, body + " ", t0, payment.ErrSignature},
		{"other secret", func() http.Header {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: "whsec_other", Timestamp: t0})
			h := http.Header{}
			h.Set(stripe.SignatureHeader, sp.Header)
			return h
		}(), body, t0, payment.ErrSignature},
		{"no signature", http.Header{}, body, t0, payment.ErrSignature},
		{"timestamp moved", func() http.Header {
			h := http.Header{}
			h.Set(stripe.SignatureHeader, good.Get(stripe.SignatureHeader)+fmt.Sprintf(",t=%d", t0.Add(time.Hour).Unix()))
			return h
		}(), body, t0.Add(time.Hour), payment.ErrSignature},
	}
	for _, tc := range tests {
		if _, err := p.VerifyWebhook(t.Context(), tc.header, []byte(tc.body), tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A replay of a verified event is refused by Receive.
	log := &payment.MemoryEventLog{}
	if _, err := payment.Receive(t.Context(), "stripe", p, log, noop, good, []byte(body), t0); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if _, err := payment.Receive(t.Context(), "stripe", p, log, noop, good, []byte(body), t0.Add(time.Second)); !errors.Is(err, payment.ErrReplayed) {
		t.Errorf("replay: %v, want ErrReplayed", err)
	}
}

// FuzzVerifyWebhook: any header and body: no panic, and only the signed
// body verifies.
func FuzzVerifyWebhook(f *testing.F) {
	body := eventBody("evt_1", "payment_intent.succeeded", `{"id":"pi_1","object":"payment_intent"}`)
	f.Add(signed(body, t0).Get(stripe.SignatureHeader), []byte(body))
	f.Add("t=1,v1=00", []byte(`{}`))
	f.Add("t=x", []byte(`[`))
	f.Fuzz(func(t *testing.T, sig string, b []byte) {
		p, err := stripe.New(stripe.Config{SecretKey: "sk_test", WebhookSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(stripe.SignatureHeader, sig)
		if ev, err := p.VerifyWebhook(t.Context(), h, b, t0); err == nil && string(b) != body {
			t.Fatalf("forged body verified: %q → %+v", b, ev)
		}
	})
}

func noop(context.Context, payment.Event) error { return nil }

// TestRetryReusesIdempotencyKey: when stripe-go retries a request (here
// after a 429 lock timeout), the retry carries the same
// Idempotency-Key, so Stripe cannot capture twice.
func TestRetryReusesIdempotencyKey(t *testing.T) {
	var (
		mu   sync.Mutex
		keys []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"locked"}}`)
			return
		}
		io.WriteString(w, `{"id":"pi_1","object":"payment_intent","amount":5000,"amount_received":1234,"currency":"eur","status":"succeeded","latest_charge":"ch_1"}`)
	}))
	defer srv.Close()
	p, err := stripe.New(stripe.Config{SecretKey: "sk_test", URL: srv.URL, MaxNetworkRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Capture(t.Context(), payment.CaptureRequest{IdempotencyKey: "sess-1/capture", HoldID: "pi_1", AmountMinor: 1234, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "ch_1" || c.AmountMinor != 1234 {
		t.Errorf("capture = %+v", c)
	}
	if diff := cmp.Diff([]string{"sess-1/capture", "sess-1/capture"}, keys); diff != "" {
		t.Errorf("Idempotency-Key per attempt (-want +got):\n%s", diff)
	}
}
