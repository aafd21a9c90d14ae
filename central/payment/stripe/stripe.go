package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/parkgrid/parkgrid/central/payment"
)

// Config configures the adapter.
type Config struct {
	SecretKey        string        // sk_live_… / sk_test_…; never logged
	WebhookSecret    string        // whsec_…
	WebhookTolerance time.Duration // 0: 300 s (Stripe's default)
	// OnBehalfOf makes the payee's connected account the settlement
	// merchant of destination charges (on_behalf_of).
	OnBehalfOf bool
	// StatementDescriptorSuffix is appended to the account's descriptor.
	StatementDescriptorSuffix string
	URL                       string       // API base URL; "": Stripe's. Tests: stripe-mock
	HTTPClient                *http.Client // nil: a client with an 80 s timeout (stripe-go's)
	MaxNetworkRetries         int64        // stripe-go retries, same idempotency key; 0: 2; < 0: none
	Logger                    *slog.Logger // nil: discard
}

// Provider is the Stripe adapter. Safe for concurrent use.
type Provider struct {
	c          *stripego.Client
	cfg        Config
	log        *slog.Logger
	webhookTol time.Duration
}

var _ payment.Provider = (*Provider)(nil)

// New returns an adapter for cfg. It does no I/O.
func New(cfg Config) (*Provider, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripe: no secret key")
	}
	p := &Provider{cfg: cfg, log: cfg.Logger, webhookTol: cfg.WebhookTolerance}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.webhookTol == 0 {
		p.webhookTol = webhook.DefaultTolerance
	}
	retries := cfg.MaxNetworkRetries
	if retries == 0 {
		retries = 2
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 80 * time.Second}
	}
	bc := &stripego.BackendConfig{
		HTTPClient:        hc,
		LeveledLogger:     leveled{p.log},
		MaxNetworkRetries: stripego.Int64(retries),
		EnableTelemetry:   stripego.Bool(false),
	}
	if cfg.URL != "" {
		bc.URL = stripego.String(cfg.URL)
	}
	// Own backends, never stripe-go's package-level ones.
	p.c = stripego.NewClient(cfg.SecretKey, stripego.WithBackends(stripego.NewBackendsWithConfig(bc)))
	return p, nil
}

// leveled routes stripe-go's log lines to slog; its per-request Info lines
// become Debug.
type leveled struct{ l *slog.Logger }

func (l leveled) Debugf(f string, v ...any) { l.l.Debug(fmt.Sprintf(f, v...), "provider", "stripe") }
func (l leveled) Infof(f string, v ...any)  { l.l.Debug(fmt.Sprintf(f, v...), "provider", "stripe") }
func (l leveled) Warnf(f string, v ...any)  { l.l.Warn(fmt.Sprintf(f, v...), "provider", "stripe") }
func (l leveled) Errorf(f string, v ...any) { l.l.Error(fmt.Sprintf(f, v...), "provider", "stripe") }

func params(key string) stripego.Params {
	return stripego.Params{IdempotencyKey: stripego.String(key)}
}

// Authorize implements payment.Authorizer: with a ReturnURL it creates a
// Checkout Session the driver pays on at Hold.ApproveURL (checkout.go);
// without, the PaymentIntent the driver's browser confirms with
// Hold.ClientSecret.
func (p *Provider) Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Hold, error) {
	if err := r.Validate(); err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: %w", err)
	}
	if r.ReturnURL != "" {
		return p.authorizeCheckout(ctx, r) // checkout.go
	}
	pr := &stripego.PaymentIntentCreateParams{
		Params:             params(r.IdempotencyKey),
		Amount:             stripego.Int64(r.AmountMinor),
		Currency:           stripego.String(strings.ToLower(r.Currency)),
		CaptureMethod:      stripego.String(string(stripego.PaymentIntentCaptureMethodManual)),
		PaymentMethodTypes: stripego.StringSlice([]string{"card"}),
		Metadata:           map[string]string{"session": r.Reference},
	}
	if r.Description != "" {
		pr.Description = stripego.String(r.Description)
	}
	if p.cfg.StatementDescriptorSuffix != "" {
		pr.StatementDescriptorSuffix = stripego.String(p.cfg.StatementDescriptorSuffix)
	}
	if r.Payee.Account != "" {
		pr.TransferData = &stripego.PaymentIntentCreateTransferDataParams{Destination: stripego.String(r.Payee.Account)}
		if fee := r.Payee.Fee.On(r.AmountMinor); fee > 0 {
			pr.ApplicationFeeAmount = stripego.Int64(fee)
		}
		if p.cfg.OnBehalfOf {
			pr.OnBehalfOf = stripego.String(r.Payee.Account)
		}
	}
	pi, err := p.c.V1PaymentIntents.Create(ctx, pr)
	if err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: authorize %s: %w", r.Reference, mapErr(err))
	}
	p.log.Info("hold requested", "session", r.Reference, "hold", pi.ID, "amount_minor", r.AmountMinor)
	return hold(pi), nil
}

// Confirm implements payment.Authorizer: it reads the PaymentIntent (and
// its charge, for the hold's expiry). Reading needs no idempotency key.
func (p *Provider) Confirm(ctx context.Context, r payment.ConfirmRequest) (payment.Hold, error) {
	if isCheckout(r.HoldID) {
		return p.confirmCheckout(ctx, r.HoldID)
	}
	pr := &stripego.PaymentIntentRetrieveParams{}
	pr.AddExpand("latest_charge")
	pi, err := p.c.V1PaymentIntents.Retrieve(ctx, r.HoldID, pr)
	if err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: confirm %s: %w", r.HoldID, mapErr(err))
	}
	h := hold(pi)
	if e := pi.LastPaymentError; pi.Status == stripego.PaymentIntentStatusRequiresPaymentMethod && e != nil && e.Type == stripego.ErrorTypeCard {
		return h, fmt.Errorf("stripe: hold %s: %w: %s", pi.ID, payment.ErrDeclined, e.Code)
	}
	return h, nil
}

// Capture implements payment.Authorizer.
func (p *Provider) Capture(ctx context.Context, r payment.CaptureRequest) (payment.Capture, error) {
	if r.IdempotencyKey == "" || r.AmountMinor <= 0 || r.FeeMinor < 0 || r.FeeMinor > r.AmountMinor {
		return payment.Capture{}, fmt.Errorf("stripe: capture %s: %w: key %q, amount %d, fee %d", r.HoldID, payment.ErrInvalid, r.IdempotencyKey, r.AmountMinor, r.FeeMinor)
	}
	id, err := p.intentOf(ctx, r.HoldID)
	if err != nil {
		return payment.Capture{}, fmt.Errorf("stripe: capture %s: %w", r.HoldID, err)
	}
	pr := &stripego.PaymentIntentCaptureParams{Params: params(r.IdempotencyKey), AmountToCapture: stripego.Int64(r.AmountMinor)}
	if r.FeeMinor > 0 {
		pr.ApplicationFeeAmount = stripego.Int64(r.FeeMinor)
	}
	pi, err := p.c.V1PaymentIntents.Capture(ctx, id, pr)
	if err != nil {
		return payment.Capture{}, fmt.Errorf("stripe: capture %s: %w", r.HoldID, mapErr(err))
	}
	c := payment.Capture{ID: pi.ID, HoldID: pi.ID, AmountMinor: pi.AmountReceived, Currency: strings.ToUpper(string(pi.Currency))}
	if pi.LatestCharge != nil && pi.LatestCharge.ID != "" {
		c.ID = pi.LatestCharge.ID
	}
	p.log.Info("captured", "hold", pi.ID, "amount_minor", pi.AmountReceived)
	return c, nil
}

// Cancel implements payment.Authorizer.
func (p *Provider) Cancel(ctx context.Context, r payment.CancelRequest) (payment.Hold, error) {
	if r.IdempotencyKey == "" {
		return payment.Hold{}, fmt.Errorf("stripe: cancel %s: %w: no idempotency key", r.HoldID, payment.ErrInvalid)
	}
	if isCheckout(r.HoldID) {
		return p.cancelCheckout(ctx, r)
	}
	pi, err := p.c.V1PaymentIntents.Cancel(ctx, r.HoldID, &stripego.PaymentIntentCancelParams{Params: params(r.IdempotencyKey)})
	if err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: cancel %s: %w", r.HoldID, mapErr(err))
	}
	p.log.Info("hold canceled", "hold", pi.ID)
	return hold(pi), nil
}

// stripeReason reports whether Stripe accepts reason as a refund reason;
// others are sent as metadata only.
func stripeReason(reason string) bool {
	switch reason {
	case "duplicate", "fraudulent", "requested_by_customer":
		return true
	}
	return false
}

// Refund implements payment.Refunder. For a destination charge (a payee
// account on the request) the transfer to the operator is reversed by the
// same amount and the platform fee refunded pro rata, so the operator,
// who sold the energy, bears the refund.
func (p *Provider) Refund(ctx context.Context, r payment.RefundRequest) (payment.Refund, error) {
	if r.IdempotencyKey == "" || r.AmountMinor <= 0 {
		return payment.Refund{}, fmt.Errorf("stripe: refund %s: %w: key %q, amount %d", r.HoldID, payment.ErrInvalid, r.IdempotencyKey, r.AmountMinor)
	}
	id, err := p.intentOf(ctx, r.HoldID)
	if err != nil {
		return payment.Refund{}, fmt.Errorf("stripe: refund %s: %w", r.HoldID, err)
	}
	pr := &stripego.RefundCreateParams{
		Params:        params(r.IdempotencyKey),
		PaymentIntent: stripego.String(id),
		Amount:        stripego.Int64(r.AmountMinor),
		Metadata:      map[string]string{"reason": r.Reason},
	}
	if stripeReason(r.Reason) {
		pr.Reason = stripego.String(r.Reason)
	}
	if r.Payee.Account != "" {
		pr.ReverseTransfer = stripego.Bool(true)
		pr.RefundApplicationFee = stripego.Bool(true)
	}
	rf, err := p.c.V1Refunds.Create(ctx, pr)
	if err != nil {
		return payment.Refund{}, fmt.Errorf("stripe: refund %s: %w", r.HoldID, mapErr(err))
	}
	p.log.Info("refunded", "hold", r.HoldID, "refund", rf.ID, "amount_minor", rf.Amount)
	return payment.Refund{ID: rf.ID, HoldID: r.HoldID, AmountMinor: rf.Amount, Currency: strings.ToUpper(string(rf.Currency)),
		Pending: rf.Status == stripego.RefundStatusPending || rf.Status == stripego.RefundStatusRequiresAction}, nil
}

// hold maps a PaymentIntent to a payment.Hold.
func hold(pi *stripego.PaymentIntent) payment.Hold {
	h := payment.Hold{
		ID: pi.ID, AuthorizationID: pi.ID, Status: status(pi), AmountMinor: pi.Amount,
		Currency: strings.ToUpper(string(pi.Currency)), ClientSecret: pi.ClientSecret, CapturedMinor: pi.AmountReceived,
	}
	if ch := pi.LatestCharge; ch != nil {
		h.RefundedMinor = ch.AmountRefunded
		if d := ch.PaymentMethodDetails; d != nil && d.Card != nil && d.Card.CaptureBefore > 0 {
			h.ExpiresAt = time.Unix(d.Card.CaptureBefore, 0).UTC()
		}
	}
	return h
}

func status(pi *stripego.PaymentIntent) payment.Status {
	switch pi.Status {
	case stripego.PaymentIntentStatusRequiresCapture:
		return payment.StatusAuthorized
	case stripego.PaymentIntentStatusSucceeded:
		return payment.StatusCaptured
	case stripego.PaymentIntentStatusCanceled:
		if pi.CancellationReason == stripego.PaymentIntentCancellationReasonAutomatic {
			return payment.StatusExpired // Stripe released an uncaptured hold
		}
		return payment.StatusCanceled
	}
	return payment.StatusPending // requires_payment_method/confirmation/action, processing
}

// mapErr wraps a Stripe API error with the payment sentinel it means.
func mapErr(err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return err
	}
	var kind error
	switch {
	case se.Type == stripego.ErrorTypeIdempotency:
		kind = payment.ErrIdempotencyMismatch
	case se.Code == stripego.ErrorCodePaymentIntentUnexpectedState:
		kind = payment.ErrState
	case se.Code == stripego.ErrorCodeAmountTooLarge:
		kind = payment.ErrExceedsHold
	case se.Code == stripego.ErrorCodeResourceMissing || se.HTTPStatusCode == http.StatusNotFound:
		kind = payment.ErrNotFound
	case se.Type == stripego.ErrorTypeCard:
		kind = payment.ErrDeclined
	case se.Type == stripego.ErrorTypeInvalidRequest:
		kind = payment.ErrInvalid
	default:
		return err
	}
	return fmt.Errorf("%w: %s (%s, request %s)", kind, se.Msg, se.Code, se.RequestID)
}

// SignatureHeader carries a Stripe webhook's signature.
const SignatureHeader = "Stripe-Signature"

// event is the part of a Stripe event the adapter reads; everything else
// is tolerated and ignored, whatever the endpoint's API version.
type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object struct {
			ID             string `json:"id"`
			Object         string `json:"object"`
			Amount         int64  `json:"amount"`
			AmountReceived int64  `json:"amount_received"`
			AmountRefunded int64  `json:"amount_refunded"`
			AmountTotal    int64  `json:"amount_total"`
			Currency       string `json:"currency"`
			PaymentIntent  string `json:"payment_intent"`
		} `json:"object"`
	} `json:"data"`
}

// VerifyWebhook implements payment.WebhookVerifier: stripe-go's webhook
// package checks the HMAC over the exact body, then the signed timestamp
// is held against now ± tolerance (stripe-go would read the wall clock
// itself, and accepts any future time).
func (p *Provider) VerifyWebhook(_ context.Context, header http.Header, body []byte, now time.Time) (payment.Event, error) {
	if p.cfg.WebhookSecret == "" {
		return payment.Event{}, fmt.Errorf("stripe: %w: no webhook secret configured", payment.ErrSignature)
	}
	sig := header.Get(SignatureHeader)
	if err := webhook.ValidatePayloadIgnoringTolerance(body, sig, p.cfg.WebhookSecret); err != nil {
		return payment.Event{}, fmt.Errorf("stripe: %w: %w", payment.ErrSignature, err)
	}
	signed, ok := signedAt(sig)
	if !ok {
		return payment.Event{}, fmt.Errorf("stripe: %w: no timestamp", payment.ErrSignature)
	}
	if age := now.Sub(signed); age > p.webhookTol || age < -p.webhookTol {
		return payment.Event{}, fmt.Errorf("stripe: %w: signed %v before now", payment.ErrStale, age)
	}
	var e event
	if err := json.Unmarshal(body, &e); err != nil {
		return payment.Event{}, fmt.Errorf("stripe: webhook body: %w", err)
	}
	if e.ID == "" {
		return payment.Event{}, fmt.Errorf("stripe: webhook body: %w: no event id", payment.ErrInvalid)
	}
	o := e.Data.Object
	ev := payment.Event{ID: e.ID, Type: e.Type, Kind: payment.EventOther, Currency: strings.ToUpper(o.Currency), Created: time.Unix(e.Created, 0).UTC()}
	switch e.Type {
	case "payment_intent.amount_capturable_updated":
		ev.Kind, ev.HoldID, ev.AmountMinor = payment.EventAuthorized, o.ID, o.Amount
	case "payment_intent.succeeded":
		ev.Kind, ev.HoldID, ev.AmountMinor = payment.EventCaptured, o.ID, o.AmountReceived
	case "payment_intent.canceled":
		ev.Kind, ev.HoldID, ev.AmountMinor = payment.EventCanceled, o.ID, o.Amount
	case "payment_intent.payment_failed":
		ev.Kind, ev.HoldID, ev.AmountMinor = payment.EventFailed, o.ID, o.Amount
	case "checkout.session.completed": // paid on the hosted page: Confirm reads the PaymentIntent
		ev.Kind, ev.HoldID, ev.AmountMinor = payment.EventAuthorized, o.ID, o.AmountTotal
	case "checkout.session.expired": // never paid
		ev.Kind, ev.HoldID, ev.AmountMinor = payment.EventCanceled, o.ID, o.AmountTotal
	case "charge.refunded":
		ev.Kind, ev.HoldID, ev.AmountMinor = payment.EventRefunded, o.PaymentIntent, o.AmountRefunded
	}
	return ev, nil
}

// signedAt is the header's timestamp, read as stripe-go reads it (the last
// t= wins), so the time checked is the one the verified HMAC covers.
func signedAt(header string) (time.Time, bool) {
	var (
		t  time.Time
		ok bool
	)
	for part := range strings.SplitSeq(header, ",") {
		if v, found := strings.CutPrefix(part, "t="); found {
			s, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			t, ok = time.Unix(s, 0), true
		}
	}
	return t, ok
}
