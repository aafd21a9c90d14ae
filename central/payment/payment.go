package payment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/parkgrid/parkgrid/central/tariff"
)

// Errors callers branch on with errors.Is.
var (
	ErrNotFound            = errors.New("no such hold")
	ErrExceedsHold         = errors.New("amount exceeds the hold")
	ErrState               = errors.New("not allowed in the hold's state")
	ErrIdempotencyMismatch = errors.New("idempotency key reused with other parameters")
	ErrDeclined            = errors.New("payment declined")
	ErrInvalid             = errors.New("invalid payment request")
	ErrSignature           = errors.New("webhook signature invalid")
	ErrStale               = errors.New("webhook timestamp outside tolerance")
	ErrReplayed            = errors.New("webhook event already processed")
)

// Status is where a hold is in its life (see doc.go). Stored: append only.
type Status string

// Statuses of a hold.
const (
	StatusPending    Status = "pending"    // waiting for the driver to approve
	StatusAuthorized Status = "authorized" // the hold is in place; capturable
	StatusCaptured   Status = "captured"   // money taken; the rest released
	StatusCanceled   Status = "canceled"   // released without capture
	StatusExpired    Status = "expired"    // the provider let the hold lapse
	StatusFailed     Status = "failed"     // declined or refused by the driver
)

// Payee is who receives the money of a charge: the operator's account with
// the provider and the platform fee parkgrid keeps.
type Payee struct {
	Account string // Stripe connected account (acct_…), PayPal merchant id; "" = the platform itself
	Fee     Fee
}

// Fee is the platform's cut of a charge: FixedMinor plus BP basis points of
// the amount, never more than the amount.
type Fee struct {
	FixedMinor int64
	BP         int64 // 100 = 1 %
}

// On returns the fee for amountMinor, rounded with tariff.RoundHalfUpDiv.
func (f Fee) On(amountMinor int64) int64 {
	if amountMinor <= 0 {
		return 0
	}
	fee := f.FixedMinor + tariff.RoundHalfUpDiv(amountMinor*f.BP, 10000)
	return min(max(fee, 0), amountMinor)
}

// AuthorizeRequest asks for a hold of AmountMinor.
type AuthorizeRequest struct {
	IdempotencyKey string
	Reference      string // parkgrid's session id; shown in the provider's dashboard
	AmountMinor    int64
	Currency       string // ISO 4217
	Description    string // on the driver's statement where the provider allows
	Payee          Payee
	// ReturnURL and CancelURL are where the provider's hosted page sends
	// the driver after approving or giving up (PayPal's approval page;
	// Stripe: a ReturnURL makes the hold a hosted Checkout Session).
	// Absolute http(s); part of the request the idempotency key covers.
	ReturnURL string
	CancelURL string
}

// Validate checks the fields every provider needs.
func (r AuthorizeRequest) Validate() error {
	if r.IdempotencyKey == "" {
		return fmt.Errorf("authorize %q: %w: no idempotency key", r.Reference, ErrInvalid)
	}
	if r.AmountMinor <= 0 {
		return fmt.Errorf("authorize %q: %w: amount %d", r.Reference, ErrInvalid, r.AmountMinor)
	}
	if _, err := tariff.Exponent(r.Currency); err != nil {
		return fmt.Errorf("authorize %q: %w: %w", r.Reference, ErrInvalid, err)
	}
	return nil
}

// Hold is a hold as the provider reports it.
type Hold struct {
	ID          string // the provider's id: pi_… (Stripe), the order id (PayPal)
	Status      Status
	AmountMinor int64 // the amount held
	Currency    string
	// ClientSecret (Stripe) lets the driver's browser confirm the hold in
	// Stripe's Payment Element. A bearer secret: never log or store it.
	ClientSecret string
	// ApproveURL (PayPal; Stripe Checkout) is the provider's hosted page
	// where the driver approves the hold.
	ApproveURL string
	// AuthorizationID is PayPal's id of the placed authorisation, which
	// captures and voids use; equal to ID elsewhere.
	AuthorizationID string
	CapturedMinor   int64     // total captured so far
	RefundedMinor   int64     // total refunded so far
	ExpiresAt       time.Time // when an authorised hold lapses; zero if unknown
}

// ConfirmRequest asks for the hold's current state after the driver came
// back from approving it; where the provider needs a call to place the
// hold (PayPal's authorize), Confirm makes it.
type ConfirmRequest struct {
	IdempotencyKey string
	HoldID         string
}

// CaptureRequest takes AmountMinor (0 < amount ≤ hold) and releases the
// rest.
type CaptureRequest struct {
	IdempotencyKey string
	HoldID         string
	AmountMinor    int64
	Currency       string
	FeeMinor       int64 // platform fee on the captured amount (Stripe Connect)
}

// Capture is a completed capture.
type Capture struct {
	ID          string // Stripe: the charge (ch_…); PayPal: the capture id
	HoldID      string
	AmountMinor int64
	Currency    string
}

// CancelRequest releases a hold that was not captured.
type CancelRequest struct {
	IdempotencyKey string
	HoldID         string
}

// RefundRequest gives back AmountMinor of what a hold captured.
type RefundRequest struct {
	IdempotencyKey string
	HoldID         string
	CaptureID      string // PayPal refunds a capture; Stripe takes the hold
	AmountMinor    int64
	Currency       string
	Reason         string
	// Payee is the hold's payee; with an account (Stripe Connect) the
	// refund is taken back from it rather than from the platform.
	Payee Payee
}

// Refund is an accepted refund.
type Refund struct {
	ID          string
	HoldID      string
	AmountMinor int64
	Currency    string
	Pending     bool // accepted but not yet settled
}

// EventKind is what a webhook event means for a hold. Stored: append only.
type EventKind string

// Event kinds; anything else is EventOther and is acknowledged unread.
const (
	EventAuthorized EventKind = "authorized"
	EventCaptured   EventKind = "captured"
	EventCanceled   EventKind = "canceled"
	EventFailed     EventKind = "failed"
	EventRefunded   EventKind = "refunded"
	EventOther      EventKind = "other"
)

// Event is a verified webhook event.
type Event struct {
	ID          string // the provider's event id; unique per provider
	Type        string // the provider's own type, e.g. payment_intent.succeeded
	Kind        EventKind
	HoldID      string
	AmountMinor int64
	Currency    string
	Created     time.Time
}

// Authorizer places, captures and releases holds.
type Authorizer interface {
	Authorize(ctx context.Context, r AuthorizeRequest) (Hold, error)
	Confirm(ctx context.Context, r ConfirmRequest) (Hold, error)
	Capture(ctx context.Context, r CaptureRequest) (Capture, error)
	Cancel(ctx context.Context, r CancelRequest) (Hold, error)
}

// Refunder gives captured money back.
type Refunder interface {
	Refund(ctx context.Context, r RefundRequest) (Refund, error)
}

// WebhookVerifier checks a webhook delivery's signature over its exact
// body, at time now, and decodes it.
type WebhookVerifier interface {
	VerifyWebhook(ctx context.Context, header http.Header, body []byte, now time.Time) (Event, error)
}

// Provider is everything the session state machine needs of one provider.
// The adapters implement it; each consumer may ask for less.
type Provider interface {
	Authorizer
	Refunder
	WebhookVerifier
}

// Key is the idempotency key of operation op on session: the same durable
// inputs give the same key, so a retry can never move money twice. Ops in
// use: "authorize", "confirm", "capture", "cancel", "refund-<n>".
func Key(session, op string) string { return session + "/" + op }
