package accesscode

import (
	"context"
	"fmt"
	"strings"

	"github.com/parkgrid/parkgrid/central/payment"
)

// Prefixes that route a session's money to the code account.
const (
	AccountPrefix = "code:" // payment.Payee.Account of a code session: "code:<code id>"
	HoldPrefix    = "code:" // hold ids of the code account: "code:<session>"
)

// Payee is the payee of a session started with code id.
func Payee(id string) payment.Payee { return payment.Payee{Account: AccountPrefix + id} }

// CodeOf returns the id of the code a session was started with, from its
// payee; false for a session paid through a provider.
func CodeOf(p payment.Payee) (string, bool) {
	id, ok := strings.CutPrefix(p.Account, AccountPrefix)
	return id, ok && id != ""
}

// Payments is a payment.Authorizer that sends the sessions of access codes
// to the code account and every other session to the provider. The code
// account authorises at once and moves no money: a capture books the
// session's price to the code (flatrate, cost centre) and is recorded by
// the invoice. It keeps no state, so a restart or another replica answers
// the same (the session state machine's Reconcile relies on that).
type Payments struct {
	Provider payment.Authorizer // nil: only code sessions can start
}

var _ payment.Authorizer = Payments{}

func isCode(holdID string) bool { return strings.HasPrefix(holdID, HoldPrefix) }

func (p Payments) provider(what string) (payment.Authorizer, error) {
	if p.Provider == nil {
		return nil, fmt.Errorf("%s: %w: no payment provider configured", what, payment.ErrInvalid)
	}
	return p.Provider, nil
}

// Authorize implements payment.Authorizer.
func (p Payments) Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Hold, error) {
	if !strings.HasPrefix(r.Payee.Account, AccountPrefix) {
		pr, err := p.provider("authorize " + r.Reference)
		if err != nil {
			return payment.Hold{}, err
		}
		return pr.Authorize(ctx, r)
	}
	if err := r.Validate(); err != nil {
		return payment.Hold{}, err
	}
	id := HoldPrefix + r.Reference
	return payment.Hold{ID: id, AuthorizationID: id, Status: payment.StatusAuthorized, AmountMinor: r.AmountMinor, Currency: r.Currency}, nil
}

// Confirm implements payment.Authorizer.
func (p Payments) Confirm(ctx context.Context, r payment.ConfirmRequest) (payment.Hold, error) {
	if !isCode(r.HoldID) {
		pr, err := p.provider("confirm " + r.HoldID)
		if err != nil {
			return payment.Hold{}, err
		}
		return pr.Confirm(ctx, r)
	}
	return payment.Hold{ID: r.HoldID, AuthorizationID: r.HoldID, Status: payment.StatusAuthorized}, nil
}

// Capture implements payment.Authorizer.
func (p Payments) Capture(ctx context.Context, r payment.CaptureRequest) (payment.Capture, error) {
	if !isCode(r.HoldID) {
		pr, err := p.provider("capture " + r.HoldID)
		if err != nil {
			return payment.Capture{}, err
		}
		return pr.Capture(ctx, r)
	}
	if r.AmountMinor <= 0 {
		return payment.Capture{}, fmt.Errorf("capture %s: %w: amount %d", r.HoldID, payment.ErrInvalid, r.AmountMinor)
	}
	return payment.Capture{ID: "booked:" + strings.TrimPrefix(r.HoldID, HoldPrefix), HoldID: r.HoldID, AmountMinor: r.AmountMinor, Currency: r.Currency}, nil
}

// Cancel implements payment.Authorizer.
func (p Payments) Cancel(ctx context.Context, r payment.CancelRequest) (payment.Hold, error) {
	if !isCode(r.HoldID) {
		pr, err := p.provider("cancel " + r.HoldID)
		if err != nil {
			return payment.Hold{}, err
		}
		return pr.Cancel(ctx, r)
	}
	return payment.Hold{ID: r.HoldID, AuthorizationID: r.HoldID, Status: payment.StatusCanceled}, nil
}
