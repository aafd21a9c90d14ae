package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Issuer is what an invoice names besides the price and the meter data.
type Issuer struct {
	Seller         invoice.Seller
	ChargePoint    invoice.ChargePoint
	MeterPublicKey string // printed with the OCMF records for verification
}

// Issuers looks up the seller and charge point of a session's invoice
// (the operator's and the site's configuration).
type Issuers interface {
	Issuer(ctx context.Context, s Session) (Issuer, error)
}

// Crash points: Config.Crash is called with one of these between the steps
// whose interruption the design must survive (see doc.go).
const (
	CrashCreated        = "start.created"     // session stored, hold not requested
	CrashAuthorized     = "start.authorized"  // hold placed, its id not stored
	CrashCompleted      = "complete.stored"   // completed stored, not billed
	CrashCaptured       = "bill.captured"     // money captured, not invoiced
	CrashReleaseStored  = "release.stored"    // failed/cancelled stored, hold not released
	CrashReleaseAtPayee = "release.cancelled" // hold released, the release not stored
)

// Config wires a Service. Store, Payments, Snapshots and Issuers are
// required.
type Config struct {
	Store     Store
	Payments  payment.Authorizer
	Snapshots Snapshots
	Issuers   Issuers
	Logger    *slog.Logger // nil: discard
	// Crash, when set, is called at the Crash… points; an error ends the
	// command there, as if the process had died. For tests.
	Crash func(point string) error
}

// Service runs the session state machine: it is the only writer of
// sessions, and the only place money moves for them.
type Service struct {
	store Store
	pay   payment.Authorizer
	snaps Snapshots
	iss   Issuers
	log   *slog.Logger
	crash func(string) error
}

// New returns a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Payments == nil || c.Snapshots == nil || c.Issuers == nil {
		return nil, fmt.Errorf("session service: %w: store, payments, snapshots and issuers are required", ErrInvalid)
	}
	s := &Service{store: c.Store, pay: c.Payments, snaps: c.Snapshots, iss: c.Issuers, log: c.Logger, crash: c.Crash}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.crash == nil {
		s.crash = func(string) error { return nil }
	}
	return s, nil
}

// StartRequest is a driver's request to charge at a point.
type StartRequest struct {
	ID        string // chosen by the caller (the driver app); a retry reuses it
	Operator  string
	Site      string
	Point     string
	Meter     string // the point's Eichrecht meter (device id)
	Tariff    tariff.Tariff
	HoldMinor int64 // the amount to hold, in Tariff.Currency
	Payee     payment.Payee
	// ReturnURL and CancelURL are where the provider's hosted payment
	// page sends the driver back (payment.AuthorizeRequest); kept on the
	// session so every authorize retry sends the same request.
	ReturnURL, CancelURL string
}

// Start stores a new session and asks the provider for its hold
// (idempotency key payment.Key(id, "authorize")). A hold the provider
// authorises at once moves the session to authorized; a pending one (the
// driver still has to approve it) leaves it created until Confirm. A
// retry with the same ID resumes where the first attempt stopped.
func (sv *Service) Start(ctx context.Context, r StartRequest, now time.Time) (Session, error) {
	if r.ID == "" || r.Operator == "" || r.Point == "" || r.Meter == "" {
		return Session{}, fmt.Errorf("start session %q: %w: id, operator, point and meter required", r.ID, ErrInvalid)
	}
	capWh, err := EnergyCapWh(r.Tariff, r.HoldMinor)
	if err != nil {
		return Session{}, fmt.Errorf("start session %s: %w", r.ID, err)
	}
	s := Session{
		ID: r.ID, Operator: r.Operator, Site: r.Site, Point: r.Point, Meter: r.Meter,
		State: StateCreated, Version: 1, Tariff: r.Tariff, Payee: r.Payee,
		HoldMinor: r.HoldMinor, EnergyCapWh: capWh, CreatedAt: now, UpdatedAt: now,
		ReturnURL: r.ReturnURL, CancelURL: r.CancelURL,
	}
	tr := Transition{Session: s.ID, Version: 1, To: StateCreated, Cause: "driver requested a start", At: now}
	switch err := sv.store.Create(ctx, s, tr); {
	case errors.Is(err, ErrExists):
		if s, err = sv.store.Session(ctx, r.ID); err != nil {
			return Session{}, err
		}
		if s.State != StateCreated {
			return s, nil
		}
	case err != nil:
		return Session{}, fmt.Errorf("start session %s: %w", r.ID, err)
	}
	if err := sv.crash(CrashCreated); err != nil {
		return Session{}, err
	}
	return sv.authorize(ctx, s, now)
}

func (sv *Service) authorizeRequest(s Session) payment.AuthorizeRequest {
	return payment.AuthorizeRequest{
		IdempotencyKey: payment.Key(s.ID, "authorize"), Reference: s.ID,
		AmountMinor: s.HoldMinor, Currency: s.Tariff.Currency,
		Description: "parkgrid charging " + s.Point, Payee: s.Payee,
		ReturnURL: s.ReturnURL, CancelURL: s.CancelURL,
	}
}

// authorize places (or finds again, by its key) the hold of a created
// session and applies its status.
func (sv *Service) authorize(ctx context.Context, s Session, now time.Time) (Session, error) {
	h, err := sv.pay.Authorize(ctx, sv.authorizeRequest(s))
	if err != nil {
		if errors.Is(err, payment.ErrDeclined) {
			return sv.fail(ctx, s, StateFailed, "hold declined", now)
		}
		return s, fmt.Errorf("session %s: authorize hold: %w", s.ID, err)
	}
	if err := sv.crash(CrashAuthorized); err != nil {
		return s, err
	}
	return sv.applyHold(ctx, s, h, now)
}

// applyHold stores what the provider says of the hold.
func (sv *Service) applyHold(ctx context.Context, s Session, h payment.Hold, now time.Time) (Session, error) {
	switch h.Status {
	case payment.StatusAuthorized:
		next, tr, err := Move(s, StateAuthorized, "hold "+h.ID+" authorized", now)
		if err != nil {
			return s, err
		}
		next.HoldID, next.HoldStatus = h.ID, h.Status
		if err := sv.store.Update(ctx, next, &tr); err != nil {
			return s, fmt.Errorf("session %s: store authorized: %w", s.ID, err)
		}
		sv.log.Info("session authorized", "session", s.ID, "hold", h.ID, "hold_minor", s.HoldMinor, "energy_cap_wh", s.EnergyCapWh)
		return next, nil
	case payment.StatusFailed, payment.StatusCanceled, payment.StatusExpired:
		s.HoldID, s.HoldStatus = h.ID, h.Status
		return sv.fail(ctx, s, StateFailed, "hold "+h.ID+" "+string(h.Status), now)
	}
	if s.HoldID == h.ID && s.HoldStatus == h.Status {
		return s, nil // still pending, already stored
	}
	next := touch(s, now)
	next.HoldID, next.HoldStatus = h.ID, h.Status
	if err := sv.store.Update(ctx, next, nil); err != nil {
		return s, fmt.Errorf("session %s: store hold %s: %w", s.ID, h.ID, err)
	}
	return next, nil
}

// Confirm asks the provider for the state of a created session's hold
// after the driver approved (or refused) it, and moves the session to
// authorized or failed.
func (sv *Service) Confirm(ctx context.Context, id string, now time.Time) (Session, error) {
	s, err := sv.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if s.State != StateCreated {
		return s, fmt.Errorf("confirm session %s: %w: it is %s", id, ErrIllegalTransition, s.State)
	}
	if s.HoldID == "" {
		return sv.authorize(ctx, s, now)
	}
	h, err := sv.pay.Confirm(ctx, payment.ConfirmRequest{IdempotencyKey: payment.Key(id, "confirm"), HoldID: s.HoldID})
	if errors.Is(err, payment.ErrDeclined) {
		s.HoldStatus = payment.StatusFailed
		return sv.fail(ctx, s, StateFailed, "hold "+s.HoldID+" declined", now)
	}
	if err != nil {
		return s, fmt.Errorf("confirm session %s: %w", id, err)
	}
	return sv.applyHold(ctx, s, h, now)
}

// Charging records that energy started to flow (authorized → charging).
func (sv *Service) Charging(ctx context.Context, id, cause string, now time.Time) (Session, error) {
	return sv.move(ctx, id, StateCharging, cause, now)
}

// Stop records that the session is stopping (charging → stopping); the
// end snapshot follows.
func (sv *Service) Stop(ctx context.Context, id, cause string, now time.Time) (Session, error) {
	return sv.move(ctx, id, StateStopping, cause, now)
}

func (sv *Service) move(ctx context.Context, id string, to State, cause string, now time.Time) (Session, error) {
	s, err := sv.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	next, tr, err := Move(s, to, cause, now)
	if err != nil {
		return s, err
	}
	if err := sv.store.Update(ctx, next, &tr); err != nil {
		return s, fmt.Errorf("session %s → %s: %w", id, to, err)
	}
	sv.log.Info("session moved", "session", id, "from", s.State, "to", to, "cause", cause)
	return next, nil
}

// Cancel ends a session before charging (created or authorized →
// cancelled) and releases its hold.
func (sv *Service) Cancel(ctx context.Context, id, cause string, now time.Time) (Session, error) {
	s, err := sv.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	return sv.fail(ctx, s, StateCancelled, cause, now)
}

// Fail ends a session that cannot be billed (any state before completed →
// failed) and releases its hold.
func (sv *Service) Fail(ctx context.Context, id, cause string, now time.Time) (Session, error) {
	s, err := sv.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	return sv.fail(ctx, s, StateFailed, cause, now)
}

// fail stores the move to failed or cancelled first (so the intent
// survives a crash), then releases the hold.
func (sv *Service) fail(ctx context.Context, s Session, to State, cause string, now time.Time) (Session, error) {
	next, tr, err := Move(s, to, cause, now)
	if err != nil {
		return s, err
	}
	if err := sv.store.Update(ctx, next, &tr); err != nil {
		return s, fmt.Errorf("session %s → %s: %w", s.ID, to, err)
	}
	sv.log.Info("session ended unbilled", "session", s.ID, "state", to, "cause", cause)
	if err := sv.crash(CrashReleaseStored); err != nil {
		return next, err
	}
	return sv.release(ctx, next, now)
}

// release cancels the hold of a failed or cancelled session at the
// provider (idempotency key payment.Key(id, "cancel")) and records it.
func (sv *Service) release(ctx context.Context, s Session, now time.Time) (Session, error) {
	if s.HoldReleased {
		return s, nil
	}
	switch s.HoldStatus {
	case payment.StatusFailed, payment.StatusCanceled, payment.StatusExpired:
		// nothing is held
	default:
		holdID := s.HoldID
		if holdID == "" {
			// A crash may have come between the provider placing the hold
			// and its id being stored: the authorize key finds it again (or
			// places one, released at once). Money never moves.
			h, err := sv.pay.Authorize(ctx, sv.authorizeRequest(s))
			if err != nil && !errors.Is(err, payment.ErrDeclined) {
				return s, fmt.Errorf("session %s: find hold to release: %w", s.ID, err)
			}
			holdID = h.ID
		}
		if holdID != "" {
			status, err := sv.cancelHold(ctx, s.ID, holdID)
			if err != nil {
				return s, err
			}
			s.HoldID, s.HoldStatus = holdID, status
		}
		if err := sv.crash(CrashReleaseAtPayee); err != nil {
			return s, err
		}
	}
	next := touch(s, now)
	next.HoldReleased = true
	if err := sv.store.Update(ctx, next, nil); err != nil {
		return s, fmt.Errorf("session %s: store hold release: %w", s.ID, err)
	}
	return next, nil
}

// cancelHold releases a hold (key payment.Key(id, "cancel")). A hold the
// provider already ended without capture (the driver refused it, it
// expired) holds nothing and counts as released.
func (sv *Service) cancelHold(ctx context.Context, id, holdID string) (payment.Status, error) {
	_, err := sv.pay.Cancel(ctx, payment.CancelRequest{IdempotencyKey: payment.Key(id, "cancel"), HoldID: holdID})
	if err == nil {
		return payment.StatusCanceled, nil
	}
	if errors.Is(err, payment.ErrState) {
		h, cerr := sv.pay.Confirm(ctx, payment.ConfirmRequest{IdempotencyKey: payment.Key(id, "confirm"), HoldID: holdID})
		switch {
		case errors.Is(cerr, payment.ErrDeclined):
			return payment.StatusFailed, nil
		case cerr == nil && (h.Status == payment.StatusFailed || h.Status == payment.StatusCanceled || h.Status == payment.StatusExpired):
			return h.Status, nil
		}
	}
	return "", fmt.Errorf("session %s: release hold %s: %w", id, holdID, err)
}

// Complete measures a stopping session from its signed snapshots, prices
// it and stores it as completed (stopping → completed); then, unless it is
// flagged for review, bills it. Call it once the edge's session-end event
// is stored: the end snapshot travels in the same batch.
func (sv *Service) Complete(ctx context.Context, id string, now time.Time) (Session, error) {
	s, err := sv.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if s.State != StateStopping {
		return s, fmt.Errorf("complete session %s: %w: %s → %s", id, ErrIllegalTransition, s.State, StateCompleted)
	}
	snaps, err := sv.snaps.SessionSnapshots(ctx, s.Site, s.Meter, s.ID)
	if err != nil {
		return s, fmt.Errorf("complete session %s: snapshots: %w", id, err)
	}
	billing, flags := sv.measure(s, snaps)
	cause := fmt.Sprintf("end snapshot: %d Wh, %d %s", billing.EnergyWh, billing.Price.GrossMinor, s.Tariff.Currency)
	if len(flags) > 0 {
		cause = fmt.Sprintf("needs review: %v", flags)
	}
	next, tr, err := Move(s, StateCompleted, cause, now)
	if err != nil {
		return s, err
	}
	next.Billing, next.Review = &billing, flags
	if err := sv.store.Update(ctx, next, &tr); err != nil {
		return s, fmt.Errorf("complete session %s: %w", id, err)
	}
	if len(flags) > 0 {
		sv.log.Warn("session needs review", "session", id, "flags", flags)
		return next, nil
	}
	if err := sv.crash(CrashCompleted); err != nil {
		return next, err
	}
	if _, err := sv.bill(ctx, next, now); err != nil {
		return next, err
	}
	return sv.store.Session(ctx, id)
}

// measure turns the snapshots into the session's billing and its review
// flags.
func (sv *Service) measure(s Session, snaps []Snapshot) (Billing, []Flag) {
	m := Measure(snaps)
	b := Billing{BeginMilliWh: m.BeginMilliWh, EndMilliWh: m.EndMilliWh, EnergyWh: m.EnergyWh, Start: m.Start, End: m.End, OCMF: m.OCMF}
	flags := m.Flags
	if len(flags) > 0 {
		return b, flags
	}
	p, err := tariff.Price(s.Tariff, m.EnergyWh, m.End.Sub(m.Start))
	if err != nil {
		return b, []Flag{FlagTooMuchEnergy}
	}
	b.Price = p
	if p.GrossMinor > s.HoldMinor {
		return b, []Flag{FlagExceedsHold}
	}
	return b, nil
}

// Bill captures a completed session's price and invoices it. It is what
// Complete does after storing; call it directly to retry.
func (sv *Service) Bill(ctx context.Context, id string, now time.Time) (invoice.Invoice, error) {
	s, err := sv.store.Session(ctx, id)
	if err != nil {
		return invoice.Invoice{}, err
	}
	return sv.bill(ctx, s, now)
}

// bill captures exactly the price (key payment.Key(id, "capture"); a
// retry gets the first capture back) or, for a price of zero, releases the
// hold, and then moves completed → invoiced and issues the invoice in one
// transaction.
func (sv *Service) bill(ctx context.Context, s Session, now time.Time) (invoice.Invoice, error) {
	switch {
	case s.State != StateCompleted:
		return invoice.Invoice{}, fmt.Errorf("bill session %s: %w: %s → %s", s.ID, ErrIllegalTransition, s.State, StateInvoiced)
	case s.NeedsReview():
		return invoice.Invoice{}, fmt.Errorf("bill session %s: %w: %v", s.ID, ErrNeedsReview, s.Review)
	case s.Billing == nil:
		return invoice.Invoice{}, fmt.Errorf("bill session %s: %w: no billing", s.ID, ErrInvalid)
	}
	iss, err := sv.iss.Issuer(ctx, s)
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("bill session %s: issuer: %w", s.ID, err)
	}
	amount := s.Billing.Price.GrossMinor
	var captureID, how string
	if amount > 0 {
		c, err := sv.pay.Capture(ctx, payment.CaptureRequest{
			IdempotencyKey: payment.Key(s.ID, "capture"), HoldID: s.HoldID,
			AmountMinor: amount, Currency: s.Tariff.Currency, FeeMinor: s.Payee.Fee.On(amount),
		})
		switch {
		case errors.Is(err, payment.ErrState):
			// The provider may have forgotten the key (Stripe keeps keys
			// 24 h): a hold captured with exactly this amount is ours.
			h, cerr := sv.pay.Confirm(ctx, payment.ConfirmRequest{IdempotencyKey: payment.Key(s.ID, "confirm"), HoldID: s.HoldID})
			if cerr != nil || h.Status != payment.StatusCaptured || h.CapturedMinor != amount {
				return invoice.Invoice{}, fmt.Errorf("bill session %s: capture %d: %w", s.ID, amount, err)
			}
			how = fmt.Sprintf("hold %s, captured %d", s.HoldID, h.CapturedMinor)
		case err != nil:
			return invoice.Invoice{}, fmt.Errorf("bill session %s: capture %d: %w", s.ID, amount, err)
		default:
			captureID, how = c.ID, fmt.Sprintf("hold %s, capture %s", s.HoldID, c.ID)
		}
	} else {
		if _, err := sv.cancelHold(ctx, s.ID, s.HoldID); err != nil {
			return invoice.Invoice{}, fmt.Errorf("bill session %s: free session: %w", s.ID, err)
		}
		how = fmt.Sprintf("hold %s released, nothing captured", s.HoldID)
	}
	if err := sv.crash(CrashCaptured); err != nil {
		return invoice.Invoice{}, err
	}
	next, tr, err := Move(s, StateInvoiced, "captured: "+how, now)
	if err != nil {
		return invoice.Invoice{}, err
	}
	next.CaptureID = captureID
	if amount == 0 {
		next.HoldReleased, next.HoldStatus = true, payment.StatusCanceled
	} else {
		next.HoldStatus = payment.StatusCaptured
	}
	b := s.Billing
	start, end := b.Start, b.End
	inv := invoice.Invoice{
		Operator: s.Operator, Session: s.ID, IssuedAt: now,
		Receipt: invoice.Receipt{
			Seller: iss.Seller, IssuedAt: now, ChargePoint: iss.ChargePoint,
			Start: start, End: end, Price: b.Price, Payment: how,
			OCMF: b.OCMF, MeterPublicKey: iss.MeterPublicKey,
		},
	}
	issued, err := sv.store.Invoice(ctx, next, tr, inv)
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("bill session %s: %w", s.ID, err)
	}
	sv.log.Info("session invoiced", "session", s.ID, "invoice", issued.Number, "energy_wh", b.EnergyWh, "amount_minor", amount)
	return issued, nil
}

// ReconcileReport counts what Reconcile did.
type ReconcileReport struct {
	Looked, Authorized, Billed, Released int
	// Skipped counts sessions another replica (or a concurrent call)
	// moved between the list and the move: not an error.
	Skipped int
}

// Reconcile finishes what a crash interrupted (see doc.go): created
// sessions whose hold was placed but not stored, completed sessions
// captured but not invoiced (the capture key returns the first capture),
// failed and cancelled sessions whose hold was not released. Run it at
// start-up and periodically; it is safe on several replicas at once. It
// goes on past a session it cannot finish and returns every error.
func (sv *Service) Reconcile(ctx context.Context, now time.Time) (ReconcileReport, error) {
	var rep ReconcileReport
	list, err := sv.store.List(ctx, Filter{States: []State{StateCreated, StateCompleted, StateFailed, StateCancelled}, Todo: true})
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	var errs []error
	for _, s := range list {
		rep.Looked++
		listed := s
		var err error
		switch s.State {
		case StateCreated:
			if s, err = sv.Confirm(ctx, s.ID, now); err == nil && s.State == StateAuthorized {
				rep.Authorized++
			}
		case StateCompleted:
			if _, err = sv.bill(ctx, s, now); err == nil {
				rep.Billed++
			}
		case StateFailed, StateCancelled:
			if _, err = sv.release(ctx, s, now); err == nil {
				rep.Released++
			}
		}
		if err != nil && sv.movedMeanwhile(ctx, listed, err) {
			rep.Skipped++
			sv.log.Debug("reconcile: session moved meanwhile, skipped", "session", s.ID, "err", err)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			sv.log.Warn("reconcile session", "session", s.ID, "err", err)
		}
	}
	return rep, errors.Join(errs...)
}

// movedMeanwhile reports whether err says the listed session s was moved
// by someone else (another replica's Reconcile, the session runner, the
// API) after the list: a conflict or a move its new state refuses, and the
// stored version is no longer the listed one. That session is theirs to
// finish; Reconcile finds it again if it still has work.
func (sv *Service) movedMeanwhile(ctx context.Context, s Session, err error) bool {
	if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrIllegalTransition) && !errors.Is(err, invoice.ErrAlreadyIssued) {
		return false
	}
	cur, rerr := sv.store.Session(ctx, s.ID)
	return rerr == nil && cur.Version != s.Version
}
