// Package stripetest is a stateful fake of the part of Stripe's API the
// stripe adapter uses for hosted Checkout holds: Checkout Sessions in
// payment mode with a manual-capture PaymentIntent, capture ≤ the hold,
// cancel, refunds, the Idempotency-Key (same key and body: the first
// answer; same key, other body: idempotency_error) and card holds that
// lapse after HoldValidity on the injected clock. stripe-mock checks
// request shapes but keeps no state; this fake checks flows. Its hosted
// page, Server.URL+"/pay/<cs id>", plays the driver paying: it completes
// the Checkout Session (the PaymentIntent becomes requires_capture) and
// redirects to success_url.
package stripetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options tune New. The zero value is usable.
type Options struct {
	Now          func() time.Time // nil: time.Now
	HoldValidity time.Duration    // 0: 7 days, as Stripe's card holds
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	*httptest.Server
	now      func() time.Time
	validity time.Duration

	mu       sync.Mutex // protects the fields below
	seq      int
	sessions map[string]*checkout
	intents  map[string]*intent
	keys     map[string]memo
}

type checkout struct {
	ID, Status, Currency, SuccessURL, CancelURL, Reference, Intent string
	Amount                                                         int64
}

type intent struct {
	ID, Status, Currency, CancellationReason, Charge string
	Amount, Received, Refunded, CaptureBefore        int64
}

type memo struct {
	request string
	status  int
	body    []byte
}

// New starts a fake; it is closed when the test ends.
func New(t interface{ Cleanup(func()) }, opt Options) *Server {
	s := &Server{now: opt.Now, validity: opt.HoldValidity,
		sessions: map[string]*checkout{}, intents: map[string]*intent{}, keys: map[string]memo{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.validity == 0 {
		s.validity = 7 * 24 * time.Hour
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Complete plays the driver paying on the hosted page: the Checkout
// Session completes and its PaymentIntent holds the amount.
func (s *Server) Complete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[id]
	if !ok || cs.Status != "open" {
		return fmt.Errorf("stripetest: checkout session %q is not open", id)
	}
	s.seq++
	pi := &intent{ID: fmt.Sprintf("pi_test_%d", s.seq), Status: "requires_capture", Currency: cs.Currency, Amount: cs.Amount,
		Charge: fmt.Sprintf("ch_test_%d", s.seq), CaptureBefore: s.now().Add(s.validity).Unix()}
	s.intents[pi.ID] = pi
	cs.Status, cs.Intent = "complete", pi.ID
	return nil
}

type apiError struct {
	status         int
	typ, code, msg string
}

func (e *apiError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": e.typ, "code": e.code, "message": e.msg}})
}

func invalid(code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: code, msg: msg}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutPrefix(r.URL.Path, "/pay/"); ok {
		s.pay(w, r, id)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk_") {
		(&apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", msg: "no API key"}).write(w)
		return
	}
	if err := r.ParseForm(); err != nil {
		invalid("parameter_invalid", err.Error()).write(w)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	request := r.Method + " " + r.URL.Path + "?" + r.PostForm.Encode()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.keys[key]; ok && r.Method == http.MethodPost && key != "" {
		if m.request != request {
			(&apiError{status: http.StatusBadRequest, typ: "idempotency_error",
				msg: "Keys for idempotent requests can only be used with the same parameters they were first used with."}).write(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(m.status)
		w.Write(m.body)
		return
	}
	v, aerr := s.route(r)
	status, body := http.StatusOK, []byte(nil)
	if aerr != nil {
		status = aerr.status
		body, _ = json.Marshal(map[string]any{"error": map[string]string{"type": aerr.typ, "code": aerr.code, "message": aerr.msg}})
	} else {
		body, _ = json.Marshal(v)
	}
	if r.Method == http.MethodPost && key != "" && status < 500 {
		s.keys[key] = memo{request: request, status: status, body: body}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// route answers one API request. Callers hold mu.
func (s *Server) route(r *http.Request) (any, *apiError) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	f := r.Form
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions":
		return s.createCheckout(f)
	case len(parts) == 4 && parts[1] == "checkout" && r.Method == http.MethodGet:
		cs, ok := s.sessions[parts[3]]
		if !ok {
			return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", msg: "No such checkout.session"}
		}
		return s.checkoutJSON(cs, expanded(f, "payment_intent")), nil
	case len(parts) == 5 && parts[1] == "checkout" && parts[4] == "expire" && r.Method == http.MethodPost:
		cs, ok := s.sessions[parts[3]]
		if !ok {
			return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", msg: "No such checkout.session"}
		}
		if cs.Status != "open" {
			return nil, invalid("", "Only Checkout Sessions with a status in [\"open\"] can be expired.")
		}
		cs.Status = "expired"
		return s.checkoutJSON(cs, false), nil
	case len(parts) >= 3 && parts[1] == "payment_intents":
		pi, ok := s.intents[parts[2]]
		if !ok {
			return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", msg: "No such payment_intent"}
		}
		s.lapse(pi)
		switch {
		case len(parts) == 3 && r.Method == http.MethodGet:
			return s.intentJSON(pi), nil
		case len(parts) == 4 && parts[3] == "capture" && r.Method == http.MethodPost:
			return s.capture(pi, f)
		case len(parts) == 4 && parts[3] == "cancel" && r.Method == http.MethodPost:
			if pi.Status != "requires_capture" && pi.Status != "requires_payment_method" {
				return nil, invalid("payment_intent_unexpected_state", "This PaymentIntent could not be canceled because it has a status of "+pi.Status+".")
			}
			pi.Status, pi.CancellationReason = "canceled", "requested_by_customer"
			return s.intentJSON(pi), nil
		}
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds":
		return s.refund(f)
	}
	return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", msg: "Unrecognized request URL " + r.URL.Path}
}

func expanded(f url.Values, field string) bool {
	for k, vs := range f {
		if strings.HasPrefix(k, "expand") {
			for _, v := range vs {
				if v == field {
					return true
				}
			}
		}
	}
	return false
}

func (s *Server) createCheckout(f url.Values) (any, *apiError) {
	amount, err := strconv.ParseInt(f.Get("line_items[0][price_data][unit_amount]"), 10, 64)
	switch {
	case f.Get("mode") != "payment":
		return nil, invalid("parameter_invalid", "mode: only payment is faked")
	case err != nil || amount <= 0 || f.Get("line_items[0][quantity]") != "1":
		return nil, invalid("parameter_invalid_integer", "line_items[0]: one item with a positive unit_amount")
	case f.Get("line_items[0][price_data][currency]") == "" || f.Get("line_items[0][price_data][product_data][name]") == "":
		return nil, invalid("parameter_missing", "line_items[0][price_data]: currency and product_data[name] required")
	case f.Get("success_url") == "":
		return nil, invalid("parameter_missing", "success_url required in payment mode")
	case f.Get("payment_intent_data[capture_method]") != "manual":
		return nil, invalid("parameter_invalid", "payment_intent_data[capture_method]: only manual is faked")
	}
	s.seq++
	cs := &checkout{ID: fmt.Sprintf("cs_test_%d", s.seq), Status: "open", Currency: f.Get("line_items[0][price_data][currency]"),
		SuccessURL: f.Get("success_url"), CancelURL: f.Get("cancel_url"), Reference: f.Get("client_reference_id"), Amount: amount}
	s.sessions[cs.ID] = cs
	return s.checkoutJSON(cs, false), nil
}

func (s *Server) checkoutJSON(cs *checkout, expand bool) map[string]any {
	m := map[string]any{"id": cs.ID, "object": "checkout.session", "mode": "payment", "status": cs.Status,
		"amount_total": cs.Amount, "currency": cs.Currency, "success_url": cs.SuccessURL, "cancel_url": cs.CancelURL,
		"client_reference_id": cs.Reference, "payment_status": "unpaid", "url": nil, "payment_intent": nil}
	if cs.Status == "open" {
		m["url"] = s.URL + "/pay/" + cs.ID
	}
	if pi, ok := s.intents[cs.Intent]; ok {
		s.lapse(pi)
		m["payment_intent"] = pi.ID
		if expand {
			m["payment_intent"] = s.intentJSON(pi)
		}
	}
	return m
}

// lapse lets an uncaptured hold expire as Stripe does. Callers hold mu.
func (s *Server) lapse(pi *intent) {
	if pi.Status == "requires_capture" && s.now().Unix() >= pi.CaptureBefore {
		pi.Status, pi.CancellationReason = "canceled", "automatic"
	}
}

func (s *Server) intentJSON(pi *intent) map[string]any {
	m := map[string]any{"id": pi.ID, "object": "payment_intent", "status": pi.Status, "amount": pi.Amount,
		"amount_received": pi.Received, "currency": pi.Currency, "capture_method": "manual",
		"latest_charge": map[string]any{"id": pi.Charge, "object": "charge", "amount_refunded": pi.Refunded,
			"payment_method_details": map[string]any{"type": "card", "card": map[string]any{"capture_before": pi.CaptureBefore}}}}
	if pi.CancellationReason != "" {
		m["cancellation_reason"] = pi.CancellationReason
	}
	return m
}

func (s *Server) capture(pi *intent, f url.Values) (any, *apiError) {
	amount := pi.Amount
	if v := f.Get("amount_to_capture"); v != "" {
		var err error
		if amount, err = strconv.ParseInt(v, 10, 64); err != nil || amount <= 0 {
			return nil, invalid("parameter_invalid_integer", "amount_to_capture")
		}
	}
	switch {
	case pi.Status != "requires_capture":
		return nil, invalid("payment_intent_unexpected_state", "This PaymentIntent could not be captured because it has a status of "+pi.Status+".")
	case amount > pi.Amount:
		return nil, invalid("amount_too_large", "The amount to capture is greater than the amount capturable.")
	}
	pi.Status, pi.Received = "succeeded", amount
	return s.intentJSON(pi), nil
}

func (s *Server) refund(f url.Values) (any, *apiError) {
	pi, ok := s.intents[f.Get("payment_intent")]
	if !ok {
		return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", msg: "No such payment_intent"}
	}
	amount, err := strconv.ParseInt(f.Get("amount"), 10, 64)
	switch {
	case err != nil || amount <= 0:
		return nil, invalid("parameter_invalid_integer", "amount")
	case pi.Status != "succeeded":
		return nil, invalid("payment_intent_unexpected_state", "This PaymentIntent has no successful charge to refund.")
	case amount > pi.Received-pi.Refunded:
		return nil, invalid("amount_too_large", "Refund amount is greater than the unrefunded amount on the charge.")
	}
	pi.Refunded += amount
	s.seq++
	return map[string]any{"id": fmt.Sprintf("re_test_%d", s.seq), "object": "refund", "amount": amount, "currency": pi.Currency,
		"payment_intent": pi.ID, "status": "succeeded"}, nil
}

// pay is the hosted page: GET completes the session and redirects to its
// success_url, as a driver paying by card would be.
func (s *Server) pay(w http.ResponseWriter, r *http.Request, id string) {
	if err := s.Complete(id); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	s.mu.Lock()
	to := s.sessions[id].SuccessURL
	s.mu.Unlock()
	http.Redirect(w, r, to, http.StatusSeeOther)
}
