package paypaltest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/payment/paypal"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Options configure the fake. Zero values get defaults.
type Options struct {
	ClientID, Secret string           // "client", "secret"
	WebhookID        string           // "WH-TEST"
	Now              func() time.Time // time.Now
	AuthValidity     time.Duration    // 29 days
	TokenLifetime    time.Duration    // 9 h
}

// Request is one request the fake received.
type Request struct {
	Method, Path, RequestID, Authorization string
	Body                                   []byte
}

// Server is the fake PayPal.
type Server struct {
	URL string
	opt Options
	key []byte // signs webhooks

	mu      sync.Mutex // protects the fields below; held for each whole request
	seq     int
	tokens  map[string]time.Time
	orders  map[string]*paypal.Order
	auths   map[string]string // authorization id → order id
	caps    map[string]string // capture id → order id
	replays map[string]replay // method path request-id → first answer
	reqs    []Request
}

type replay struct {
	status int
	body   []byte
}

// NewServer starts a fake PayPal and stops it at cleanup.
func NewServer(t testing.TB, opt Options) *Server {
	if opt.ClientID == "" {
		opt.ClientID, opt.Secret = "client", "secret"
	}
	if opt.WebhookID == "" {
		opt.WebhookID = "WH-TEST"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.AuthValidity == 0 {
		opt.AuthValidity = 29 * 24 * time.Hour
	}
	if opt.TokenLifetime == 0 {
		opt.TokenLifetime = 9 * time.Hour
	}
	s := &Server{opt: opt, key: []byte("paypaltest-webhook-key"), tokens: map[string]time.Time{}, orders: map[string]*paypal.Order{},
		auths: map[string]string{}, caps: map[string]string{}, replays: map[string]replay{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/oauth2/token", s.token)
	mux.HandleFunc("POST /v2/checkout/orders", s.api(s.createOrder))
	mux.HandleFunc("GET /v2/checkout/orders/{id}", s.api(s.getOrder))
	mux.HandleFunc("POST /v2/checkout/orders/{id}/authorize", s.api(s.authorizeOrder))
	mux.HandleFunc("POST /v2/payments/authorizations/{id}/capture", s.api(s.capture))
	mux.HandleFunc("POST /v2/payments/authorizations/{id}/void", s.api(s.void))
	mux.HandleFunc("POST /v2/payments/captures/{id}/refund", s.api(s.refund))
	mux.HandleFunc("POST /v1/notifications/verify-webhook-signature", s.api(s.verify))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// ClientID and Secret are the credentials the fake accepts.
func (s *Server) ClientID() string  { return s.opt.ClientID }
func (s *Server) Secret() string    { return s.opt.Secret }
func (s *Server) WebhookID() string { return s.opt.WebhookID }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ExpireTokens makes every issued token invalid (the next call gets 401).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// Approve plays the payer approving the order on PayPal's page.
func (s *Server) Approve(orderID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderID]
	if !ok {
		return fmt.Errorf("paypaltest: no order %s", orderID)
	}
	if o.Status != "PAYER_ACTION_REQUIRED" {
		return fmt.Errorf("paypaltest: order %s is %s", orderID, o.Status)
	}
	o.Status = "APPROVED"
	return nil
}

func (s *Server) id(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%010d", prefix, s.seq)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.opt.ClientID || pass != s.opt.Secret || r.FormValue("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tok := s.id("A21AA")
	s.tokens[tok] = s.opt.Now().Add(s.opt.TokenLifetime)
	writeJSON(w, http.StatusOK, paypal.Token{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(s.opt.TokenLifetime / time.Second)})
}

// handler answers one API call with a status and a JSON value.
type handler func(r *http.Request, body []byte) (int, any)

// api wraps a handler with the bearer check, the request log and the
// PayPal-Request-Id replay, all under the one lock.
func (s *Server) api(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		reqID := r.Header.Get(paypal.HeaderRequestID)
		s.reqs = append(s.reqs, Request{r.Method, r.URL.Path, reqID, r.Header.Get("Authorization"), body})
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if exp, ok := s.tokens[tok]; !ok || !s.opt.Now().Before(exp) {
			writeJSON(w, http.StatusUnauthorized, paypal.APIError{Name: "AUTHENTICATION_FAILURE", Message: "invalid token"})
			return
		}
		key := r.Method + " " + r.URL.Path + " " + reqID
		if rp, ok := s.replays[key]; ok && reqID != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rp.status)
			w.Write(rp.body)
			return
		}
		status, v := h(r, body)
		var out []byte
		if v != nil {
			out, _ = json.Marshal(v)
		}
		if reqID != "" && r.Method == http.MethodPost {
			s.replays[key] = replay{status, out}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(out)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func issue(status int, name, iss string) (int, any) {
	return status, paypal.APIError{Name: name, Message: iss, DebugID: "dbg", Details: []paypal.ErrorDetail{{Issue: iss}}}
}

func unprocessable(iss string) (int, any) {
	return issue(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", iss)
}

func notFound() (int, any) {
	return issue(http.StatusNotFound, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
}

func badRequest(iss string) (int, any) { return issue(http.StatusBadRequest, "INVALID_REQUEST", iss) }

func (s *Server) createOrder(r *http.Request, body []byte) (int, any) {
	var in struct {
		Intent        string                `json:"intent"`
		PurchaseUnits []paypal.PurchaseUnit `json:"purchase_units"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Intent != "AUTHORIZE" || len(in.PurchaseUnits) != 1 {
		return badRequest("MALFORMED_REQUEST_JSON")
	}
	if _, err := tariff.ParseAmount(in.PurchaseUnits[0].Amount.Value, in.PurchaseUnits[0].Amount.CurrencyCode); err != nil {
		return badRequest("DECIMAL_PRECISION")
	}
	o := &paypal.Order{ID: s.id("5O"), Intent: in.Intent, Status: "PAYER_ACTION_REQUIRED", PurchaseUnits: in.PurchaseUnits}
	o.Links = []paypal.Link{{Href: "https://paypal.example/checkoutnow?token=" + o.ID, Rel: "payer-action", Method: "GET"}}
	s.orders[o.ID] = o
	return http.StatusOK, o
}

func (s *Server) getOrder(r *http.Request, _ []byte) (int, any) {
	o, ok := s.orders[r.PathValue("id")]
	if !ok {
		return notFound()
	}
	s.expire(o)
	return http.StatusOK, o
}

// expire lapses an authorisation whose time has come.
func (s *Server) expire(o *paypal.Order) {
	p := o.PurchaseUnits[0].Payments
	if p == nil || len(p.Authorizations) == 0 {
		return
	}
	a := &p.Authorizations[0]
	if exp, err := time.Parse(time.RFC3339, a.ExpirationTime); err == nil && a.Status == "CREATED" && !s.opt.Now().Before(exp) {
		a.Status = "EXPIRED"
	}
}

func (s *Server) authorizeOrder(r *http.Request, _ []byte) (int, any) {
	o, ok := s.orders[r.PathValue("id")]
	if !ok {
		return notFound()
	}
	switch o.Status {
	case "APPROVED":
	case "COMPLETED":
		return unprocessable("ORDER_ALREADY_AUTHORIZED")
	default:
		return unprocessable("ORDER_NOT_APPROVED")
	}
	a := paypal.Authorization{ID: s.id("AUTH"), Status: "CREATED", Amount: o.PurchaseUnits[0].Amount,
		ExpirationTime: s.opt.Now().Add(s.opt.AuthValidity).UTC().Format(time.RFC3339)}
	o.Status = "COMPLETED"
	o.PurchaseUnits[0].Payments = &paypal.Payments{Authorizations: []paypal.Authorization{a}}
	s.auths[a.ID] = o.ID
	return http.StatusCreated, o
}

// authorization finds an authorisation and its order.
func (s *Server) authorization(id string) (*paypal.Order, *paypal.Authorization) {
	oid, ok := s.auths[id]
	if !ok {
		return nil, nil
	}
	o := s.orders[oid]
	s.expire(o)
	return o, &o.PurchaseUnits[0].Payments.Authorizations[0]
}

func (s *Server) capture(r *http.Request, body []byte) (int, any) {
	o, a := s.authorization(r.PathValue("id"))
	if a == nil {
		return notFound()
	}
	var in paypal.CaptureRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest("MALFORMED_REQUEST_JSON")
	}
	switch a.Status {
	case "CREATED":
	case "VOIDED":
		return unprocessable("AUTHORIZATION_VOIDED")
	case "EXPIRED":
		return unprocessable("AUTHORIZATION_EXPIRED")
	default:
		return unprocessable("AUTHORIZATION_ALREADY_CAPTURED")
	}
	held, _ := tariff.ParseAmount(a.Amount.Value, a.Amount.CurrencyCode)
	amt, err := tariff.ParseAmount(in.Amount.Value, in.Amount.CurrencyCode)
	if err != nil || in.Amount.CurrencyCode != a.Amount.CurrencyCode {
		return badRequest("DECIMAL_PRECISION")
	}
	if amt*100 > held*115 { // PayPal lets a capture exceed the authorisation by 15 %
		return unprocessable("MAX_CAPTURE_AMOUNT_EXCEEDED")
	}
	c := paypal.Capture{ID: s.id("CAP"), Status: "COMPLETED", Amount: in.Amount, FinalCapture: in.FinalCapture}
	a.Status = "CAPTURED"
	o.PurchaseUnits[0].Payments.Captures = append(o.PurchaseUnits[0].Payments.Captures, c)
	s.caps[c.ID] = o.ID
	return http.StatusCreated, c
}

func (s *Server) void(r *http.Request, _ []byte) (int, any) {
	_, a := s.authorization(r.PathValue("id"))
	if a == nil {
		return notFound()
	}
	switch a.Status {
	case "CREATED":
		a.Status = "VOIDED"
		return http.StatusNoContent, nil
	case "VOIDED":
		return unprocessable("PREVIOUSLY_VOIDED")
	case "EXPIRED":
		return unprocessable("AUTHORIZATION_EXPIRED")
	}
	return unprocessable("AUTHORIZATION_ALREADY_CAPTURED")
}

func (s *Server) refund(r *http.Request, body []byte) (int, any) {
	oid, ok := s.caps[r.PathValue("id")]
	if !ok {
		return notFound()
	}
	o := s.orders[oid]
	var in paypal.RefundRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest("MALFORMED_REQUEST_JSON")
	}
	amt, err := tariff.ParseAmount(in.Amount.Value, in.Amount.CurrencyCode)
	if err != nil {
		return badRequest("DECIMAL_PRECISION")
	}
	p := o.PurchaseUnits[0].Payments
	var captured, refunded int64
	for _, c := range p.Captures {
		v, _ := tariff.ParseAmount(c.Amount.Value, c.Amount.CurrencyCode)
		captured += v
	}
	for _, rf := range p.Refunds {
		v, _ := tariff.ParseAmount(rf.Amount.Value, rf.Amount.CurrencyCode)
		refunded += v
	}
	if amt > captured-refunded {
		return unprocessable("REFUND_AMOUNT_EXCEEDED")
	}
	rf := paypal.Refund{ID: s.id("REF"), Status: "COMPLETED", Amount: in.Amount}
	p.Refunds = append(p.Refunds, rf)
	return http.StatusCreated, rf
}

// sig is the fake's transmission signature: HMAC-SHA256 over PayPal's
// signed string "<transmission id>|<time>|<webhook id>|<crc32 of body>".
func (s *Server) sig(id, at, webhookID string, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s|%s|%s|%d", id, at, webhookID, crc32.ChecksumIEEE(body))
	return hex.EncodeToString(m.Sum(nil))
}

// SignWebhook returns the headers PayPal would send body with, at t.
func (s *Server) SignWebhook(body []byte, t time.Time) http.Header {
	s.mu.Lock()
	id := s.id("TX")
	s.mu.Unlock()
	at := t.UTC().Format(time.RFC3339)
	h := http.Header{}
	h.Set(paypal.HeaderAuthAlgo, "SHA256withRSA")
	h.Set(paypal.HeaderCertURL, "https://api.paypal.example/v1/notifications/certs/CERT-1")
	h.Set(paypal.HeaderTransmissionID, id)
	h.Set(paypal.HeaderTransmissionTime, at)
	h.Set(paypal.HeaderTransmissionSig, s.sig(id, at, s.opt.WebhookID, body))
	return h
}

func (s *Server) verify(_ *http.Request, body []byte) (int, any) {
	var in paypal.VerifyRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest("MALFORMED_REQUEST_JSON")
	}
	status := "FAILURE"
	if in.WebhookID == s.opt.WebhookID && hmac.Equal([]byte(in.TransmissionSig), []byte(s.sig(in.TransmissionID, in.TransmissionTime, in.WebhookID, in.WebhookEvent))) {
		status = "SUCCESS"
	}
	return http.StatusOK, paypal.VerifyResponse{VerificationStatus: status}
}
