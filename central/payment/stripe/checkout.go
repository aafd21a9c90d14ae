package stripe

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/parkgrid/parkgrid/central/payment"
)

// A hold with a ReturnURL is a Checkout Session in payment mode: the
// driver pays on Stripe's hosted page (Hold.ApproveURL: cards, Apple Pay
// and Google Pay, 3-D Secure, all Stripe's), which creates the session's
// PaymentIntent with capture_method=manual and sends the driver to
// success_url. Until then the hold's id is the Checkout Session's (cs_…);
// Confirm reports the PaymentIntent (pi_…) once there is one, and from
// then on the caller keeps that id: captures, cancels and refunds work on
// it as on any PaymentIntent. Every call also accepts the cs_ id.

// checkoutPrefix starts the id of a Checkout Session.
const checkoutPrefix = "cs_"

func isCheckout(id string) bool { return strings.HasPrefix(id, checkoutPrefix) }

// checkURL accepts an absolute http(s) URL for Stripe's redirects.
func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || len(s) > 2048 {
		return fmt.Errorf("%w: %s %q: not an absolute http(s) URL", payment.ErrInvalid, what, s)
	}
	return nil
}

// authorizeCheckout creates the Checkout Session of a hold; the same
// Connect fields and idempotency key as the PaymentIntent path.
func (p *Provider) authorizeCheckout(ctx context.Context, r payment.AuthorizeRequest) (payment.Hold, error) {
	if err := checkURL("return URL", r.ReturnURL); err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: authorize %s: %w", r.Reference, err)
	}
	if r.CancelURL != "" {
		if err := checkURL("cancel URL", r.CancelURL); err != nil {
			return payment.Hold{}, fmt.Errorf("stripe: authorize %s: %w", r.Reference, err)
		}
	}
	pd := &stripego.CheckoutSessionCreatePaymentIntentDataParams{
		CaptureMethod: stripego.String(string(stripego.PaymentIntentCaptureMethodManual)),
		Metadata:      map[string]string{"session": r.Reference},
	}
	name := "Charging"
	if r.Description != "" {
		name = r.Description
		pd.Description = stripego.String(r.Description)
	}
	if p.cfg.StatementDescriptorSuffix != "" {
		pd.StatementDescriptorSuffix = stripego.String(p.cfg.StatementDescriptorSuffix)
	}
	if r.Payee.Account != "" {
		pd.TransferData = &stripego.CheckoutSessionCreatePaymentIntentDataTransferDataParams{Destination: stripego.String(r.Payee.Account)}
		if fee := r.Payee.Fee.On(r.AmountMinor); fee > 0 {
			pd.ApplicationFeeAmount = stripego.Int64(fee)
		}
		if p.cfg.OnBehalfOf {
			pd.OnBehalfOf = stripego.String(r.Payee.Account)
		}
	}
	cr := &stripego.CheckoutSessionCreateParams{
		Params:             params(r.IdempotencyKey),
		Mode:               stripego.String(string(stripego.CheckoutSessionModePayment)),
		ClientReferenceID:  stripego.String(r.Reference),
		SuccessURL:         stripego.String(r.ReturnURL),
		PaymentMethodTypes: stripego.StringSlice([]string{"card"}), // wallets (Apple Pay, Google Pay) are cards here
		LineItems: []*stripego.CheckoutSessionCreateLineItemParams{{
			Quantity: stripego.Int64(1),
			PriceData: &stripego.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripego.String(strings.ToLower(r.Currency)),
				UnitAmount:  stripego.Int64(r.AmountMinor),
				ProductData: &stripego.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripego.String(name)},
			},
		}},
		PaymentIntentData: pd,
		Metadata:          map[string]string{"session": r.Reference},
	}
	if r.CancelURL != "" {
		cr.CancelURL = stripego.String(r.CancelURL)
	}
	cs, err := p.c.V1CheckoutSessions.Create(ctx, cr)
	if err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: authorize %s: %w", r.Reference, mapErr(err))
	}
	p.log.Info("hold requested (checkout)", "session", r.Reference, "hold", cs.ID, "amount_minor", r.AmountMinor)
	return checkoutHold(cs), nil
}

// checkoutHold maps a Checkout Session to a hold: its PaymentIntent's
// once there is one (expanded), else the session itself, pending while
// open.
func checkoutHold(cs *stripego.CheckoutSession) payment.Hold {
	if pi := cs.PaymentIntent; pi != nil && pi.Status != "" {
		return hold(pi)
	}
	h := payment.Hold{ID: cs.ID, AuthorizationID: cs.ID, Status: payment.StatusPending, AmountMinor: cs.AmountTotal,
		Currency: strings.ToUpper(string(cs.Currency))}
	switch cs.Status {
	case stripego.CheckoutSessionStatusOpen:
		h.ApproveURL = cs.URL
	case stripego.CheckoutSessionStatusExpired:
		h.Status = payment.StatusExpired // the driver never paid; nothing is held
	}
	return h
}

// retrieveCheckout reads a Checkout Session with its PaymentIntent and
// that one's charge.
func (p *Provider) retrieveCheckout(ctx context.Context, id string) (*stripego.CheckoutSession, error) {
	pr := &stripego.CheckoutSessionRetrieveParams{}
	pr.AddExpand("payment_intent")
	pr.AddExpand("payment_intent.latest_charge")
	cs, err := p.c.V1CheckoutSessions.Retrieve(ctx, id, pr)
	if err != nil {
		return nil, mapErr(err)
	}
	return cs, nil
}

// confirmCheckout reports a Checkout Session's hold. A card declined on
// the hosted page leaves the session open for another try: pending.
func (p *Provider) confirmCheckout(ctx context.Context, id string) (payment.Hold, error) {
	cs, err := p.retrieveCheckout(ctx, id)
	if err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: confirm %s: %w", id, err)
	}
	if cs.Status == stripego.CheckoutSessionStatusOpen {
		return checkoutHold(&stripego.CheckoutSession{ID: cs.ID, Status: cs.Status, URL: cs.URL, AmountTotal: cs.AmountTotal, Currency: cs.Currency}), nil
	}
	return checkoutHold(cs), nil
}

// intentOf returns the PaymentIntent id behind id: id itself unless it is
// a Checkout Session's. A session the driver has not paid has none:
// ErrState.
func (p *Provider) intentOf(ctx context.Context, id string) (string, error) {
	if !isCheckout(id) {
		return id, nil
	}
	cs, err := p.retrieveCheckout(ctx, id)
	if err != nil {
		return "", err
	}
	if cs.PaymentIntent == nil || cs.PaymentIntent.ID == "" {
		return "", fmt.Errorf("%w: checkout session %s is %s, nothing held", payment.ErrState, id, cs.Status)
	}
	return cs.PaymentIntent.ID, nil
}

// cancelCheckout releases a Checkout Session's hold: an open session is
// expired (the driver can no longer pay), a paid one's PaymentIntent is
// canceled. The idempotency key goes on whichever call moves.
func (p *Provider) cancelCheckout(ctx context.Context, r payment.CancelRequest) (payment.Hold, error) {
	cs, err := p.retrieveCheckout(ctx, r.HoldID)
	if err != nil {
		return payment.Hold{}, fmt.Errorf("stripe: cancel %s: %w", r.HoldID, err)
	}
	if cs.Status == stripego.CheckoutSessionStatusOpen {
		ex, err := p.c.V1CheckoutSessions.Expire(ctx, r.HoldID, &stripego.CheckoutSessionExpireParams{Params: params(r.IdempotencyKey)})
		if err == nil {
			p.log.Info("hold canceled (checkout expired)", "hold", ex.ID)
			h := checkoutHold(ex)
			h.Status = payment.StatusCanceled
			return h, nil
		}
		// Paid meanwhile: release the PaymentIntent below.
		if cs, err = p.retrieveCheckout(ctx, r.HoldID); err != nil {
			return payment.Hold{}, fmt.Errorf("stripe: cancel %s: %w", r.HoldID, err)
		}
	}
	if cs.PaymentIntent == nil || cs.PaymentIntent.ID == "" {
		h := checkoutHold(cs)
		h.Status = payment.StatusCanceled // expired unpaid: nothing held
		return h, nil
	}
	// Its own key: the expire may have spent r's on a refused request.
	return p.Cancel(ctx, payment.CancelRequest{IdempotencyKey: r.IdempotencyKey + "/intent", HoldID: cs.PaymentIntent.ID})
}
