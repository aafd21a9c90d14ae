package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/stripe"
	"github.com/parkgrid/parkgrid/central/session"
)

func (e *env) webhook(provider string, body []byte, h http.Header) (int, []byte) {
	req := httptest.NewRequest("POST", "/api/v1/webhooks/"+provider, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// TestWebhookApprovesHold: a hold the driver must approve leaves the
// session created and the point closed, with the client secret and
// approval URL in the answer; the provider's signed webhook moves it to
// authorized and opens the point; a replay is acknowledged and ignored;
// a forged or stale delivery is refused.
func TestWebhookApprovesHold(t *testing.T) {
	e := newEnv(t, false)
	ans := e.start("a", "client-0000000040")
	if ans.Session.State != session.StateCreated || ans.ClientSecret == "" || ans.ApproveURL == "" || ans.Edge != "pending" {
		t.Fatalf("start awaiting approval: %+v", ans)
	}
	if len(e.edge.Calls()) != 0 {
		t.Fatalf("point authorised before the hold: %+v", e.edge.Calls())
	}
	if err := e.pay.Approve(ans.Session.Payment); err != nil {
		t.Fatal(err)
	}
	ev := payment.Event{ID: "evt_1", Type: "hold.authorized", Kind: payment.EventAuthorized, HoldID: ans.Session.Payment, AmountMinor: 5000, Currency: "EUR", Created: e.now}

	forged, h, err := e.pay.SignWebhook(ev, e.now)
	if err != nil {
		t.Fatal(err)
	}
	forged = bytes.Replace(forged, []byte("evt_1"), []byte("evt_2"), 1)
	if code, b := e.webhook("fake", forged, h); code != http.StatusBadRequest || errCode(b) != "bad_signature" {
		t.Errorf("forged: %d %s", code, b)
	}
	stale, sh, _ := e.pay.SignWebhook(ev, e.now.Add(-time.Hour))
	if code, _ := e.webhook("fake", stale, sh); code != http.StatusBadRequest {
		t.Errorf("stale: %d", code)
	}
	if s, _ := e.memory.Session(t.Context(), ans.Session.ID); s.State != session.StateCreated {
		t.Fatalf("refused deliveries moved the session to %s", s.State)
	}

	body, h, _ := e.pay.SignWebhook(ev, e.now)
	if code, b := e.webhook("fake", body, h); code != http.StatusOK || !bytes.Contains(b, []byte(`"handled"`)) {
		t.Fatalf("webhook: %d %s", code, b)
	}
	var st api.SessionView
	e.json("GET", "/api/v1/sessions/"+ans.Session.ID, ans.Token, nil, http.StatusOK, &st)
	if st.State != session.StateAuthorized || len(e.edge.Calls()) != 1 {
		t.Errorf("after the webhook: %s, edge calls %+v", st.State, e.edge.Calls())
	}
	if code, b := e.webhook("fake", body, h); code != http.StatusOK || !bytes.Contains(b, []byte(`"replayed"`)) {
		t.Errorf("replay: %d %s", code, b)
	}
	if len(e.edge.Calls()) != 1 {
		t.Errorf("a replay sent %d commands", len(e.edge.Calls()))
	}
	if code, _ := e.webhook("nope", body, h); code != http.StatusNotFound {
		t.Errorf("unknown provider: %d", code)
	}
}

// TestConfirmAfterApproval: without a webhook, the driver app's confirm
// asks the provider and opens the point.
func TestConfirmAfterApproval(t *testing.T) {
	e := newEnv(t, false)
	ans := e.start("a", "client-0000000041")
	if err := e.pay.Approve(ans.Session.Payment); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Session api.SessionView `json:"session"`
		Edge    string          `json:"edge"`
	}
	e.json("POST", "/api/v1/sessions/"+ans.Session.ID+"/confirm", ans.Token, nil, http.StatusOK, &out)
	if out.Session.State != session.StateAuthorized || out.Edge != "authorised" {
		t.Errorf("confirm: %+v", out)
	}
}

// FuzzStart: any body on POST /sessions gets a 2xx or 4xx JSON answer,
// never a 5xx or a panic.
func FuzzStart(f *testing.F) {
	f.Add([]byte(`{"clientId":"client-0000000050","site":"site-a","point":"p1","tariff":"eco","email":"d@example.com","payment":"fake"}`))
	f.Add([]byte(`{"clientId":"client-0000000051","site":"site-a","point":"p1","tariff":"eco","email":"d@example.com","code":"x"}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`{"clientId":1}`))
	e := newEnv(f, true) // one per worker: starts never conflict
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/sessions", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body.Bytes())
		}
	})
}

// TestStripeWebhookEndpoint: a delivery signed the way Stripe signs
// (HMAC-SHA256 over "t.body", stripe-go's test signer) is verified by the
// Stripe adapter and handled once; a replay is acknowledged and ignored;
// another secret's signature and a delivery outside the 300 s tolerance
// are refused.
func TestStripeWebhookEndpoint(t *testing.T) {
	e := newEnv(t, true)
	body := []byte(`{"id":"evt_s1","object":"event","api_version":"2020-08-27","created":1795600000,"type":"payment_intent.amount_capturable_updated",` +
		`"data":{"object":{"id":"pi_unknown","object":"payment_intent","amount":5000,"currency":"eur"}}}`)
	sign := func(secret string, at time.Time) http.Header {
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
		h := http.Header{}
		h.Set(stripe.SignatureHeader, sp.Header)
		return h
	}
	if code, b := e.webhook("stripe", body, sign("whsec_other", e.now)); code != http.StatusBadRequest {
		t.Errorf("other secret: %d %s", code, b)
	}
	if code, b := e.webhook("stripe", body, sign(stripeWebhookSecret, e.now.Add(-10*time.Minute))); code != http.StatusBadRequest {
		t.Errorf("stale: %d %s", code, b)
	}
	if code, b := e.webhook("stripe", body, sign(stripeWebhookSecret, e.now)); code != http.StatusOK || !bytes.Contains(b, []byte(`"handled"`)) {
		t.Errorf("good delivery: %d %s", code, b)
	}
	if code, b := e.webhook("stripe", body, sign(stripeWebhookSecret, e.now)); code != http.StatusOK || !bytes.Contains(b, []byte(`"replayed"`)) {
		t.Errorf("replay: %d %s", code, b)
	}
}
