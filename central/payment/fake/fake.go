package fake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
)

// Options tune New. The zero value is usable.
type Options struct {
	Now              func() time.Time // nil: time.Now
	Logger           *slog.Logger     // nil: discard
	HoldValidity     time.Duration    // 0: 7 days, as Stripe's card holds
	AutoApprove      bool             // holds are authorised at once, without a driver
	WebhookSecret    string           // signs and verifies webhooks
	WebhookTolerance time.Duration    // 0: 300 s
}

// Provider is the fake provider. Safe for concurrent use.
type Provider struct {
	now       func() time.Time
	log       *slog.Logger
	validity  time.Duration
	auto      bool
	secret    []byte
	tolerance time.Duration

	mu    sync.Mutex // protects the fields below
	seq   int
	holds map[string]*hold
	keys  map[string]memo // idempotency key → first outcome
}

var _ payment.Provider = (*Provider)(nil)

type hold struct {
	payment.Hold
	reference string
	payee     payment.Payee
	captureID string
	refunds   int
}

// memo is the first successful outcome of a key, and what the request was.
type memo struct {
	fingerprint string
	result      any
}

// New returns an empty fake provider.
func New(opt Options) *Provider {
	p := &Provider{
		now: opt.Now, log: opt.Logger, validity: opt.HoldValidity, auto: opt.AutoApprove,
		secret: []byte(opt.WebhookSecret), tolerance: opt.WebhookTolerance,
		holds: make(map[string]*hold), keys: make(map[string]memo),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.validity == 0 {
		p.validity = 7 * 24 * time.Hour
	}
	if p.tolerance == 0 {
		p.tolerance = 300 * time.Second
	}
	return p
}

// replay returns the memo of key if there is one: its result when the
// request matches, ErrIdempotencyMismatch when it does not. Callers hold mu.
func (p *Provider) replay(key, fingerprint string) (any, bool, error) {
	m, ok := p.keys[key]
	if !ok {
		return nil, false, nil
	}
	if m.fingerprint != fingerprint {
		return nil, true, fmt.Errorf("fake: key %q: %w", key, payment.ErrIdempotencyMismatch)
	}
	return m.result, true, nil
}

func (p *Provider) remember(key, fingerprint string, result any) {
	p.keys[key] = memo{fingerprint: fingerprint, result: result}
}

func (p *Provider) nextID(prefix string) string {
	p.seq++
	return fmt.Sprintf("%s_fake_%d", prefix, p.seq)
}

// find returns the hold, expiring it first if its time has passed.
// Callers hold mu.
func (p *Provider) find(id string) (*hold, error) {
	h, ok := p.holds[id]
	if !ok {
		return nil, fmt.Errorf("fake: hold %q: %w", id, payment.ErrNotFound)
	}
	if h.Status == payment.StatusAuthorized && !p.now().Before(h.ExpiresAt) {
		h.Status = payment.StatusExpired
		p.log.Info("hold expired", "hold", h.ID, "session", h.reference)
	}
	return h, nil
}

// Authorize implements payment.Authorizer.
func (p *Provider) Authorize(_ context.Context, r payment.AuthorizeRequest) (payment.Hold, error) {
	if err := r.Validate(); err != nil {
		return payment.Hold{}, fmt.Errorf("fake: %w", err)
	}
	fp := fmt.Sprintf("authorize|%s|%d|%s|%+v", r.Reference, r.AmountMinor, r.Currency, r.Payee)
	p.mu.Lock()
	defer p.mu.Unlock()
	if res, ok, err := p.replay(r.IdempotencyKey, fp); ok {
		if err != nil {
			return payment.Hold{}, err
		}
		h, err := p.find(res.(string))
		if err != nil {
			return payment.Hold{}, err
		}
		return h.Hold, nil
	}
	h := &hold{reference: r.Reference, payee: r.Payee}
	h.ID = p.nextID("hold")
	h.AuthorizationID = h.ID
	h.Status = payment.StatusPending
	h.AmountMinor, h.Currency = r.AmountMinor, r.Currency
	h.ClientSecret = h.ID + "_secret"
	h.ApproveURL = "fake://approve/" + h.ID
	if p.auto {
		p.approve(h)
	}
	p.holds[h.ID] = h
	p.remember(r.IdempotencyKey, fp, h.ID)
	p.log.Info("hold requested", "hold", h.ID, "session", r.Reference, "amount_minor", r.AmountMinor, "currency", r.Currency)
	return h.Hold, nil
}

func (p *Provider) approve(h *hold) {
	h.Status = payment.StatusAuthorized
	h.ExpiresAt = p.now().Add(p.validity)
}

// Approve plays the driver approving a pending hold in the provider's UI.
func (p *Provider) Approve(holdID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, err := p.find(holdID)
	if err != nil {
		return err
	}
	if h.Status != payment.StatusPending {
		return fmt.Errorf("fake: approve %s: %w: %s", holdID, payment.ErrState, h.Status)
	}
	p.approve(h)
	return nil
}

// Decline plays the driver's card being declined or the driver refusing.
func (p *Provider) Decline(holdID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, err := p.find(holdID)
	if err != nil {
		return err
	}
	if h.Status != payment.StatusPending {
		return fmt.Errorf("fake: decline %s: %w: %s", holdID, payment.ErrState, h.Status)
	}
	h.Status = payment.StatusFailed
	return nil
}

// Confirm implements payment.Authorizer: it reports the hold's state.
func (p *Provider) Confirm(_ context.Context, r payment.ConfirmRequest) (payment.Hold, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, err := p.find(r.HoldID)
	if err != nil {
		return payment.Hold{}, err
	}
	if h.Status == payment.StatusFailed {
		return h.Hold, fmt.Errorf("fake: hold %s: %w", h.ID, payment.ErrDeclined)
	}
	return h.Hold, nil
}

// Capture implements payment.Authorizer.
func (p *Provider) Capture(_ context.Context, r payment.CaptureRequest) (payment.Capture, error) {
	if r.IdempotencyKey == "" || r.AmountMinor <= 0 || r.FeeMinor < 0 || r.FeeMinor > r.AmountMinor {
		return payment.Capture{}, fmt.Errorf("fake: capture %s: %w: key %q, amount %d, fee %d", r.HoldID, payment.ErrInvalid, r.IdempotencyKey, r.AmountMinor, r.FeeMinor)
	}
	fp := fmt.Sprintf("capture|%s|%d|%s|%d", r.HoldID, r.AmountMinor, r.Currency, r.FeeMinor)
	p.mu.Lock()
	defer p.mu.Unlock()
	if res, ok, err := p.replay(r.IdempotencyKey, fp); ok {
		if err != nil {
			return payment.Capture{}, err
		}
		return res.(payment.Capture), nil
	}
	h, err := p.find(r.HoldID)
	if err != nil {
		return payment.Capture{}, err
	}
	switch {
	case h.Status != payment.StatusAuthorized:
		return payment.Capture{}, fmt.Errorf("fake: capture %s: %w: %s", h.ID, payment.ErrState, h.Status)
	case r.Currency != h.Currency:
		return payment.Capture{}, fmt.Errorf("fake: capture %s: %w: currency %s, hold is %s", h.ID, payment.ErrInvalid, r.Currency, h.Currency)
	case r.AmountMinor > h.AmountMinor:
		return payment.Capture{}, fmt.Errorf("fake: capture %s: %w: %d > %d", h.ID, payment.ErrExceedsHold, r.AmountMinor, h.AmountMinor)
	}
	h.Status = payment.StatusCaptured
	h.CapturedMinor = r.AmountMinor
	h.captureID = p.nextID("capture")
	c := payment.Capture{ID: h.captureID, HoldID: h.ID, AmountMinor: r.AmountMinor, Currency: r.Currency}
	p.remember(r.IdempotencyKey, fp, c)
	p.log.Info("captured", "hold", h.ID, "session", h.reference, "amount_minor", r.AmountMinor, "released_minor", h.AmountMinor-r.AmountMinor)
	return c, nil
}

// Cancel implements payment.Authorizer. Canceling a canceled hold returns
// it unchanged; a captured one is refused.
func (p *Provider) Cancel(_ context.Context, r payment.CancelRequest) (payment.Hold, error) {
	if r.IdempotencyKey == "" {
		return payment.Hold{}, fmt.Errorf("fake: cancel %s: %w: no idempotency key", r.HoldID, payment.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, err := p.find(r.HoldID)
	if err != nil {
		return payment.Hold{}, err
	}
	switch h.Status {
	case payment.StatusPending, payment.StatusAuthorized:
		h.Status = payment.StatusCanceled
		p.log.Info("hold canceled", "hold", h.ID, "session", h.reference)
	case payment.StatusCanceled, payment.StatusExpired: // nothing left to release
	default:
		return payment.Hold{}, fmt.Errorf("fake: cancel %s: %w: %s", h.ID, payment.ErrState, h.Status)
	}
	return h.Hold, nil
}

// Refund implements payment.Refunder.
func (p *Provider) Refund(_ context.Context, r payment.RefundRequest) (payment.Refund, error) {
	if r.IdempotencyKey == "" || r.AmountMinor <= 0 {
		return payment.Refund{}, fmt.Errorf("fake: refund %s: %w: key %q, amount %d", r.HoldID, payment.ErrInvalid, r.IdempotencyKey, r.AmountMinor)
	}
	fp := fmt.Sprintf("refund|%s|%s|%d|%s", r.HoldID, r.CaptureID, r.AmountMinor, r.Currency)
	p.mu.Lock()
	defer p.mu.Unlock()
	if res, ok, err := p.replay(r.IdempotencyKey, fp); ok {
		if err != nil {
			return payment.Refund{}, err
		}
		return res.(payment.Refund), nil
	}
	h, err := p.find(r.HoldID)
	if err != nil {
		return payment.Refund{}, err
	}
	switch {
	case h.Status != payment.StatusCaptured:
		return payment.Refund{}, fmt.Errorf("fake: refund %s: %w: %s", h.ID, payment.ErrState, h.Status)
	case r.CaptureID != "" && r.CaptureID != h.captureID:
		return payment.Refund{}, fmt.Errorf("fake: refund %s: capture %q: %w", h.ID, r.CaptureID, payment.ErrNotFound)
	case r.Currency != h.Currency:
		return payment.Refund{}, fmt.Errorf("fake: refund %s: %w: currency %s, hold is %s", h.ID, payment.ErrInvalid, r.Currency, h.Currency)
	case r.AmountMinor > h.CapturedMinor-h.RefundedMinor:
		return payment.Refund{}, fmt.Errorf("fake: refund %s: %w: %d > %d captured and not refunded", h.ID, payment.ErrExceedsHold, r.AmountMinor, h.CapturedMinor-h.RefundedMinor)
	}
	h.RefundedMinor += r.AmountMinor
	h.refunds++
	ref := payment.Refund{ID: p.nextID("refund"), HoldID: h.ID, AmountMinor: r.AmountMinor, Currency: r.Currency}
	p.remember(r.IdempotencyKey, fp, ref)
	p.log.Info("refunded", "hold", h.ID, "session", h.reference, "amount_minor", r.AmountMinor)
	return ref, nil
}

// webhookBody is the JSON of a fake webhook: a payment.Event.
type webhookBody struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Kind        payment.EventKind `json:"kind"`
	HoldID      string            `json:"hold"`
	AmountMinor int64             `json:"amountMinor"`
	Currency    string            `json:"currency"`
	Created     int64             `json:"created"`
}

// SignatureHeader is the header a fake webhook's signature travels in.
const SignatureHeader = "Fake-Signature"

// SignWebhook returns the body and header of a delivery of ev signed at t,
// as the provider would send it.
func (p *Provider) SignWebhook(ev payment.Event, t time.Time) ([]byte, http.Header, error) {
	body, err := json.Marshal(webhookBody{ev.ID, ev.Type, ev.Kind, ev.HoldID, ev.AmountMinor, ev.Currency, ev.Created.Unix()})
	if err != nil {
		return nil, nil, fmt.Errorf("fake: webhook %s: %w", ev.ID, err)
	}
	h := http.Header{}
	h.Set(SignatureHeader, fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(p.mac(t.Unix(), body))))
	return body, h, nil
}

func (p *Provider) mac(t int64, body []byte) []byte {
	m := hmac.New(sha256.New, p.secret)
	fmt.Fprintf(m, "%d.", t)
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook implements payment.WebhookVerifier: the signature first,
// then the (signed) timestamp against now ± tolerance, then the body.
func (p *Provider) VerifyWebhook(_ context.Context, header http.Header, body []byte, now time.Time) (payment.Event, error) {
	if len(p.secret) == 0 {
		return payment.Event{}, fmt.Errorf("fake: %w: no webhook secret configured", payment.ErrSignature)
	}
	var (
		ts   int64
		sigs [][]byte
		err  error
	)
	for part := range strings.SplitSeq(header.Get(SignatureHeader), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			if ts, err = strconv.ParseInt(v, 10, 64); err != nil {
				return payment.Event{}, fmt.Errorf("fake: %w: bad timestamp", payment.ErrSignature)
			}
		case "v1":
			if s, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	want := p.mac(ts, body)
	ok := false
	for _, s := range sigs {
		ok = ok || hmac.Equal(s, want)
	}
	if !ok {
		return payment.Event{}, fmt.Errorf("fake: %w", payment.ErrSignature)
	}
	if age := now.Sub(time.Unix(ts, 0)); age > p.tolerance || age < -p.tolerance {
		return payment.Event{}, fmt.Errorf("fake: %w: signed %v from now", payment.ErrStale, age)
	}
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return payment.Event{}, fmt.Errorf("fake: webhook body: %w", err)
	}
	if b.ID == "" {
		return payment.Event{}, fmt.Errorf("fake: webhook body: %w: no event id", payment.ErrInvalid)
	}
	return payment.Event{ID: b.ID, Type: b.Type, Kind: b.Kind, HoldID: b.HoldID, AmountMinor: b.AmountMinor,
		Currency: b.Currency, Created: time.Unix(b.Created, 0).UTC()}, nil
}
