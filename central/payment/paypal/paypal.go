package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Config configures the adapter.
type Config struct {
	BaseURL          string        // https://api-m.paypal.com or the sandbox; tests: paypaltest
	ClientID         string        // never logged
	Secret           string        // never logged
	WebhookID        string        // the webhook's id, for signature verification
	WebhookTolerance time.Duration // 0: 300 s
	BrandName        string        // shown on PayPal's approval page
	HTTPClient       *http.Client  // nil: a client with a 30 s timeout
	Now              func() time.Time
	Logger           *slog.Logger // nil: discard
}

// Provider is the PayPal adapter. Safe for concurrent use.
type Provider struct {
	cfg Config
	hc  *http.Client
	now func() time.Time
	log *slog.Logger
	tol time.Duration

	mu      sync.Mutex // protects the fields below
	token   string
	expires time.Time
}

var _ payment.Provider = (*Provider)(nil)

// New returns an adapter for cfg. It does no I/O.
func New(cfg Config) (*Provider, error) {
	if cfg.BaseURL == "" || cfg.ClientID == "" || cfg.Secret == "" {
		return nil, errors.New("paypal: base URL, client id and secret are required")
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("paypal: base URL: %w", err)
	}
	p := &Provider{cfg: cfg, hc: cfg.HTTPClient, now: cfg.Now, log: cfg.Logger, tol: cfg.WebhookTolerance}
	if p.hc == nil {
		p.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.tol == 0 {
		p.tol = 300 * time.Second
	}
	return p, nil
}

// accessToken returns a cached token or fetches one.
func (p *Provider) accessToken(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" && p.now().Before(p.expires) {
		return p.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.BaseURL+"/v1/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return "", fmt.Errorf("paypal: token: %w", err)
	}
	req.SetBasicAuth(p.cfg.ClientID, p.cfg.Secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("paypal: token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("paypal: token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("paypal: token: HTTP %d", resp.StatusCode) // the body may echo credentials: not logged
	}
	var t Token
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("paypal: token: unreadable answer: %v", err)
	}
	// Renew a minute early so a token never expires in flight.
	p.token, p.expires = t.AccessToken, p.now().Add(time.Duration(t.ExpiresIn)*time.Second-time.Minute)
	return p.token, nil
}

func (p *Provider) dropToken() {
	p.mu.Lock()
	p.token = ""
	p.mu.Unlock()
}

// call sends one API request; requestID, when set, goes as
// PayPal-Request-Id. A 401 fetches a new token and tries once more.
func (p *Provider) call(ctx context.Context, method, path, requestID string, in, out any) error {
	var body []byte
	switch v := in.(type) {
	case nil:
	case preEncoded:
		body = v
	default:
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := p.accessToken(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, p.cfg.BaseURL+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "return=representation")
		if requestID != "" {
			req.Header.Set(HeaderRequestID, requestID)
		}
		resp, err := p.hc.Do(req)
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			p.dropToken()
			continue
		}
		if resp.StatusCode >= 300 {
			return apiErr(resp.StatusCode, raw)
		}
		if out != nil && len(raw) > 0 {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("decode answer: %w", err)
			}
		}
		return nil
	}
}

// apiErr maps PayPal's error answer to the payment sentinels.
func apiErr(status int, raw []byte) error {
	var e APIError
	_ = json.Unmarshal(raw, &e) // an unreadable body still has a status
	issue := e.Name
	if len(e.Details) > 0 {
		issue = e.Details[0].Issue
	}
	var kind error
	switch {
	case status == http.StatusNotFound || issue == "INVALID_RESOURCE_ID":
		kind = payment.ErrNotFound
	case issue == "ORDER_NOT_APPROVED" || issue == "AUTHORIZATION_ALREADY_CAPTURED" || issue == "AUTHORIZATION_VOIDED" ||
		issue == "AUTHORIZATION_EXPIRED" || issue == "PREVIOUSLY_VOIDED" || issue == "CANNOT_BE_VOIDED" ||
		issue == "ORDER_ALREADY_AUTHORIZED" || issue == "CAPTURE_FULLY_REFUNDED" || issue == "ORDER_ALREADY_COMPLETED":
		kind = payment.ErrState
	case issue == "MAX_CAPTURE_AMOUNT_EXCEEDED" || issue == "REFUND_AMOUNT_EXCEEDED":
		kind = payment.ErrExceedsHold
	case issue == "INSTRUMENT_DECLINED" || issue == "PAYER_CANNOT_PAY" || issue == "TRANSACTION_REFUSED":
		kind = payment.ErrDeclined
	case issue == "DUPLICATE_REQUEST_ID":
		kind = payment.ErrIdempotencyMismatch
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		kind = payment.ErrInvalid
	default:
		return fmt.Errorf("HTTP %d %s %s (debug id %s)", status, e.Name, issue, e.DebugID)
	}
	return fmt.Errorf("%w: HTTP %d %s (debug id %s)", kind, status, issue, e.DebugID)
}

func money(minor int64, currency string) (Money, error) {
	v, err := tariff.FormatAmount(minor, currency)
	if err != nil {
		return Money{}, err
	}
	return Money{CurrencyCode: currency, Value: v}, nil
}

func minor(m Money) (int64, error) {
	return tariff.ParseAmount(m.Value, m.CurrencyCode)
}

// Authorize implements payment.Authorizer: it creates the order the driver
// approves at Hold.ApproveURL.
func (p *Provider) Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Hold, error) {
	if err := r.Validate(); err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: %w", err)
	}
	amt, err := money(r.AmountMinor, r.Currency)
	if err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: authorize %s: %w", r.Reference, err)
	}
	pu := PurchaseUnit{ReferenceID: r.Reference, CustomID: r.Reference, Description: r.Description, Amount: amt}
	if r.Payee.Account != "" {
		pu.Payee = &Payee{MerchantID: r.Payee.Account}
		if fee := r.Payee.Fee.On(r.AmountMinor); fee > 0 {
			f, _ := money(fee, r.Currency)
			pu.PaymentInstruction = &PaymentInstruction{PlatformFees: []PlatformFee{{Amount: f}}}
		}
	}
	in := map[string]any{
		"intent":         "AUTHORIZE",
		"purchase_units": []PurchaseUnit{pu},
		"payment_source": map[string]any{"paypal": map[string]any{"experience_context": map[string]any{
			"return_url": r.ReturnURL, "cancel_url": r.CancelURL, "brand_name": p.cfg.BrandName,
			"user_action": "CONTINUE", "shipping_preference": "NO_SHIPPING",
		}}},
	}
	var o Order
	if err := p.call(ctx, http.MethodPost, "/v2/checkout/orders", r.IdempotencyKey, in, &o); err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: authorize %s: %w", r.Reference, err)
	}
	p.log.Info("hold requested", "session", r.Reference, "hold", o.ID, "amount_minor", r.AmountMinor)
	return p.hold(o)
}

// order reads an order.
func (p *Provider) order(ctx context.Context, id string) (Order, error) {
	var o Order
	err := p.call(ctx, http.MethodGet, "/v2/checkout/orders/"+url.PathEscape(id), "", nil, &o)
	return o, err
}

// Confirm implements payment.Authorizer: once the driver has approved the
// order it places the authorisation (POST …/authorize, idempotent by key);
// otherwise it reports the order's state.
func (p *Provider) Confirm(ctx context.Context, r payment.ConfirmRequest) (payment.Hold, error) {
	o, err := p.order(ctx, r.HoldID)
	if err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: confirm %s: %w", r.HoldID, err)
	}
	if o.Status == "APPROVED" {
		if r.IdempotencyKey == "" {
			return payment.Hold{}, fmt.Errorf("paypal: confirm %s: %w: no idempotency key", r.HoldID, payment.ErrInvalid)
		}
		if err := p.call(ctx, http.MethodPost, "/v2/checkout/orders/"+url.PathEscape(r.HoldID)+"/authorize", r.IdempotencyKey, struct{}{}, &o); err != nil {
			return payment.Hold{}, fmt.Errorf("paypal: confirm %s: authorize: %w", r.HoldID, err)
		}
		p.log.Info("hold authorized", "hold", o.ID)
	}
	h, err := p.hold(o)
	if err != nil {
		return payment.Hold{}, err
	}
	if h.Status == payment.StatusFailed {
		return h, fmt.Errorf("paypal: hold %s: %w", h.ID, payment.ErrDeclined)
	}
	return h, nil
}

// authorization returns the order and its authorisation, which captures,
// voids and refunds need.
func (p *Provider) authorization(ctx context.Context, orderID string) (Order, Authorization, error) {
	o, err := p.order(ctx, orderID)
	if err != nil {
		return Order{}, Authorization{}, err
	}
	if len(o.PurchaseUnits) == 0 || o.PurchaseUnits[0].Payments == nil || len(o.PurchaseUnits[0].Payments.Authorizations) == 0 {
		return o, Authorization{}, fmt.Errorf("%w: order %s is %s, not authorized", payment.ErrState, o.ID, o.Status)
	}
	return o, o.PurchaseUnits[0].Payments.Authorizations[0], nil
}

// Capture implements payment.Authorizer. The amount is checked against
// the authorisation first: PayPal would take up to 115 % of it.
func (p *Provider) Capture(ctx context.Context, r payment.CaptureRequest) (payment.Capture, error) {
	if r.IdempotencyKey == "" || r.AmountMinor <= 0 || r.FeeMinor < 0 || r.FeeMinor > r.AmountMinor {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: %w: key %q, amount %d, fee %d", r.HoldID, payment.ErrInvalid, r.IdempotencyKey, r.AmountMinor, r.FeeMinor)
	}
	_, auth, err := p.authorization(ctx, r.HoldID)
	if err != nil {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: %w", r.HoldID, err)
	}
	held, err := minor(auth.Amount)
	if err != nil {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: authorization amount: %w", r.HoldID, err)
	}
	if r.Currency != auth.Amount.CurrencyCode {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: %w: currency %s, hold is %s", r.HoldID, payment.ErrInvalid, r.Currency, auth.Amount.CurrencyCode)
	}
	if r.AmountMinor > held {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: %w: %d > %d", r.HoldID, payment.ErrExceedsHold, r.AmountMinor, held)
	}
	amt, err := money(r.AmountMinor, r.Currency)
	if err != nil {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: %w", r.HoldID, err)
	}
	in := CaptureRequest{Amount: amt, FinalCapture: true}
	if r.FeeMinor > 0 {
		f, _ := money(r.FeeMinor, r.Currency)
		in.PaymentInstruction = &PaymentInstruction{PlatformFees: []PlatformFee{{Amount: f}}}
	}
	var c Capture
	// A repeat with the same key returns the first capture, also after it
	// moved the authorisation to CAPTURED.
	if err := p.call(ctx, http.MethodPost, "/v2/payments/authorizations/"+url.PathEscape(auth.ID)+"/capture", r.IdempotencyKey, in, &c); err != nil {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: %w", r.HoldID, err)
	}
	got, err := minor(c.Amount)
	if err != nil {
		return payment.Capture{}, fmt.Errorf("paypal: capture %s: captured amount: %w", r.HoldID, err)
	}
	p.log.Info("captured", "hold", r.HoldID, "capture", c.ID, "amount_minor", got)
	return payment.Capture{ID: c.ID, HoldID: r.HoldID, AmountMinor: got, Currency: c.Amount.CurrencyCode}, nil
}

// Cancel implements payment.Authorizer: it voids the authorisation. An
// order the driver never approved holds no money and cannot be voided; it
// lapses at PayPal, and Cancel reports it canceled.
func (p *Provider) Cancel(ctx context.Context, r payment.CancelRequest) (payment.Hold, error) {
	if r.IdempotencyKey == "" {
		return payment.Hold{}, fmt.Errorf("paypal: cancel %s: %w: no idempotency key", r.HoldID, payment.ErrInvalid)
	}
	o, auth, err := p.authorization(ctx, r.HoldID)
	if errors.Is(err, payment.ErrState) && o.ID != "" && o.Status != "COMPLETED" {
		h, herr := p.hold(o)
		h.Status = payment.StatusCanceled
		return h, herr
	}
	if err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: cancel %s: %w", r.HoldID, err)
	}
	switch auth.Status {
	case "VOIDED", "EXPIRED":
		return p.hold(o)
	case "CREATED":
	default:
		return payment.Hold{}, fmt.Errorf("paypal: cancel %s: %w: authorization %s", r.HoldID, payment.ErrState, auth.Status)
	}
	if err := p.call(ctx, http.MethodPost, "/v2/payments/authorizations/"+url.PathEscape(auth.ID)+"/void", r.IdempotencyKey, nil, nil); err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: cancel %s: %w", r.HoldID, err)
	}
	p.log.Info("hold canceled", "hold", r.HoldID)
	if o, err = p.order(ctx, r.HoldID); err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: cancel %s: read back: %w", r.HoldID, err)
	}
	return p.hold(o)
}

// Refund implements payment.Refunder: it refunds the hold's capture (or
// r.CaptureID).
func (p *Provider) Refund(ctx context.Context, r payment.RefundRequest) (payment.Refund, error) {
	if r.IdempotencyKey == "" || r.AmountMinor <= 0 {
		return payment.Refund{}, fmt.Errorf("paypal: refund %s: %w: key %q, amount %d", r.HoldID, payment.ErrInvalid, r.IdempotencyKey, r.AmountMinor)
	}
	captureID := r.CaptureID
	if captureID == "" {
		o, err := p.order(ctx, r.HoldID)
		if err != nil {
			return payment.Refund{}, fmt.Errorf("paypal: refund %s: %w", r.HoldID, err)
		}
		if len(o.PurchaseUnits) == 0 || o.PurchaseUnits[0].Payments == nil || len(o.PurchaseUnits[0].Payments.Captures) == 0 {
			return payment.Refund{}, fmt.Errorf("paypal: refund %s: %w: nothing captured", r.HoldID, payment.ErrState)
		}
		captureID = o.PurchaseUnits[0].Payments.Captures[0].ID
	}
	amt, err := money(r.AmountMinor, r.Currency)
	if err != nil {
		return payment.Refund{}, fmt.Errorf("paypal: refund %s: %w", r.HoldID, err)
	}
	var rf Refund
	if err := p.call(ctx, http.MethodPost, "/v2/payments/captures/"+url.PathEscape(captureID)+"/refund", r.IdempotencyKey,
		RefundRequest{Amount: amt, NoteToPayer: r.Reason}, &rf); err != nil {
		return payment.Refund{}, fmt.Errorf("paypal: refund %s: %w", r.HoldID, err)
	}
	got, err := minor(rf.Amount)
	if err != nil {
		return payment.Refund{}, fmt.Errorf("paypal: refund %s: refunded amount: %w", r.HoldID, err)
	}
	p.log.Info("refunded", "hold", r.HoldID, "refund", rf.ID, "amount_minor", got)
	return payment.Refund{ID: rf.ID, HoldID: r.HoldID, AmountMinor: got, Currency: rf.Amount.CurrencyCode, Pending: rf.Status == "PENDING"}, nil
}

// hold maps an order to a payment.Hold.
func (p *Provider) hold(o Order) (payment.Hold, error) {
	h := payment.Hold{ID: o.ID, Status: payment.StatusPending}
	for _, l := range o.Links {
		if l.Rel == "approve" || l.Rel == "payer-action" {
			h.ApproveURL = l.Href
		}
	}
	if len(o.PurchaseUnits) == 0 {
		return payment.Hold{}, fmt.Errorf("paypal: order %s has no purchase unit", o.ID)
	}
	pu := o.PurchaseUnits[0]
	var err error
	if h.AmountMinor, err = minor(pu.Amount); err != nil {
		return payment.Hold{}, fmt.Errorf("paypal: order %s amount: %w", o.ID, err)
	}
	h.Currency = pu.Amount.CurrencyCode
	if o.Status == "VOIDED" {
		h.Status = payment.StatusCanceled
	}
	if pu.Payments == nil {
		return h, nil
	}
	for _, c := range pu.Payments.Captures {
		if c.Status == "DECLINED" || c.Status == "FAILED" {
			continue
		}
		v, err := minor(c.Amount)
		if err != nil {
			return payment.Hold{}, fmt.Errorf("paypal: order %s capture amount: %w", o.ID, err)
		}
		h.CapturedMinor += v
	}
	for _, r := range pu.Payments.Refunds {
		if r.Status == "CANCELLED" || r.Status == "FAILED" {
			continue
		}
		v, err := minor(r.Amount)
		if err != nil {
			return payment.Hold{}, fmt.Errorf("paypal: order %s refund amount: %w", o.ID, err)
		}
		h.RefundedMinor += v
	}
	if len(pu.Payments.Authorizations) > 0 {
		a := pu.Payments.Authorizations[0]
		h.AuthorizationID = a.ID
		if t, err := time.Parse(time.RFC3339, a.ExpirationTime); err == nil {
			h.ExpiresAt = t.UTC()
		}
		switch a.Status {
		case "CREATED", "PENDING":
			h.Status = payment.StatusAuthorized
		case "CAPTURED", "PARTIALLY_CAPTURED":
			h.Status = payment.StatusCaptured
		case "VOIDED":
			h.Status = payment.StatusCanceled
		case "EXPIRED":
			h.Status = payment.StatusExpired
		case "DENIED":
			h.Status = payment.StatusFailed
		}
		if h.Status == payment.StatusAuthorized && !h.ExpiresAt.IsZero() && !p.now().Before(h.ExpiresAt) {
			h.Status = payment.StatusExpired
		}
	}
	return h, nil
}

// VerifyWebhook implements payment.WebhookVerifier: PayPal's
// verify-webhook-signature API checks the signature over the exact body;
// the transmission time must lie within now ± tolerance.
func (p *Provider) VerifyWebhook(ctx context.Context, header http.Header, body []byte, now time.Time) (payment.Event, error) {
	if p.cfg.WebhookID == "" {
		return payment.Event{}, fmt.Errorf("paypal: %w: no webhook id configured", payment.ErrSignature)
	}
	if !json.Valid(body) {
		return payment.Event{}, fmt.Errorf("paypal: %w: body is not JSON", payment.ErrSignature)
	}
	vr := VerifyRequest{
		AuthAlgo: header.Get(HeaderAuthAlgo), CertURL: header.Get(HeaderCertURL),
		TransmissionID: header.Get(HeaderTransmissionID), TransmissionSig: header.Get(HeaderTransmissionSig),
		TransmissionTime: header.Get(HeaderTransmissionTime), WebhookID: p.cfg.WebhookID,
	}
	if vr.TransmissionID == "" || vr.TransmissionSig == "" || vr.TransmissionTime == "" {
		return payment.Event{}, fmt.Errorf("paypal: %w: transmission headers missing", payment.ErrSignature)
	}
	req, err := verifyBody(vr, body)
	if err != nil {
		return payment.Event{}, fmt.Errorf("paypal: verify webhook: %w", err)
	}
	var res VerifyResponse
	if err := p.call(ctx, http.MethodPost, "/v1/notifications/verify-webhook-signature", "", req, &res); err != nil {
		return payment.Event{}, fmt.Errorf("paypal: verify webhook: %w", err)
	}
	if res.VerificationStatus != "SUCCESS" {
		return payment.Event{}, fmt.Errorf("paypal: %w: verification %q", payment.ErrSignature, res.VerificationStatus)
	}
	sent, err := time.Parse(time.RFC3339, vr.TransmissionTime)
	if err != nil {
		return payment.Event{}, fmt.Errorf("paypal: %w: transmission time %q", payment.ErrSignature, vr.TransmissionTime)
	}
	if age := now.Sub(sent); age > p.tol || age < -p.tol {
		return payment.Event{}, fmt.Errorf("paypal: %w: sent %v before now", payment.ErrStale, age)
	}
	var e WebhookEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return payment.Event{}, fmt.Errorf("paypal: webhook body: %w", err)
	}
	if e.ID == "" {
		return payment.Event{}, fmt.Errorf("paypal: webhook body: %w: no event id", payment.ErrInvalid)
	}
	ev := payment.Event{ID: e.ID, Type: e.EventType, Kind: payment.EventOther, HoldID: e.Resource.SupplementaryData.RelatedIDs.OrderID,
		Currency: e.Resource.Amount.CurrencyCode}
	if t, err := time.Parse(time.RFC3339, e.CreateTime); err == nil {
		ev.Created = t.UTC()
	}
	if e.Resource.Amount.Value != "" {
		if ev.AmountMinor, err = minor(e.Resource.Amount); err != nil {
			return payment.Event{}, fmt.Errorf("paypal: webhook %s amount: %w", e.ID, err)
		}
	}
	switch e.EventType {
	case "PAYMENT.AUTHORIZATION.CREATED":
		ev.Kind = payment.EventAuthorized
	case "PAYMENT.CAPTURE.COMPLETED":
		ev.Kind = payment.EventCaptured
	case "PAYMENT.AUTHORIZATION.VOIDED":
		ev.Kind = payment.EventCanceled
	case "PAYMENT.CAPTURE.DENIED":
		ev.Kind = payment.EventFailed
	case "PAYMENT.CAPTURE.REFUNDED":
		ev.Kind = payment.EventRefunded
	}
	return ev, nil
}

// preEncoded is a request body sent as it is.
type preEncoded []byte

// verifyBody encodes vr with event as its webhook_event, byte for byte:
// encoding/json would compact a json.RawMessage, and PayPal checks the
// signature over the bytes it sent.
func verifyBody(vr VerifyRequest, event []byte) (preEncoded, error) {
	vr.WebhookEvent = nil
	head, err := json.Marshal(vr)
	if err != nil {
		return nil, err
	}
	const tail = `,"webhook_event":null}`
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, fmt.Errorf("unexpected encoding %q", head)
	}
	out := append(head[:len(head)-len(tail)], `,"webhook_event":`...)
	out = append(out, event...)
	return append(out, '}'), nil
}
