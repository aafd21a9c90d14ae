package session

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: no session with that id.
	ErrNotFound = errors.New("session not found")
	// ErrExists: a session with that id was created before.
	ErrExists = errors.New("session already exists")
	// ErrConflict: the session moved since it was read (another replica or
	// command won the version race); read it again and decide again.
	ErrConflict = errors.New("session changed concurrently")
	// ErrIllegalTransition: the state machine does not allow the move.
	ErrIllegalTransition = errors.New("illegal session transition")
	// ErrInvalid: a request refused before anything is stored.
	ErrInvalid = errors.New("invalid session request")
	// ErrNeedsReview: the session is flagged for review and is not billed
	// automatically.
	ErrNeedsReview = errors.New("session needs review")
)

// State is where a session is in its life (see doc.go). Stored: append
// only, never rename a value.
type State string

// States.
const (
	StateCreated    State = "created"    // row written, hold requested or awaiting the driver
	StateAuthorized State = "authorized" // hold in place; the charge point may start
	StateCharging   State = "charging"   // energy flows
	StateStopping   State = "stopping"   // stop requested; waiting for the end snapshot
	StateCompleted  State = "completed"  // metered and priced (or flagged for review)
	StateInvoiced   State = "invoiced"   // captured and invoiced: final
	StateFailed     State = "failed"     // ended without billing; hold released: final
	StateCancelled  State = "cancelled"  // cancelled before charging; hold released: final
)

// transitions is the state machine: from → the states it may move to.
var transitions = map[State][]State{
	StateCreated:    {StateAuthorized, StateFailed, StateCancelled},
	StateAuthorized: {StateCharging, StateFailed, StateCancelled},
	StateCharging:   {StateStopping, StateFailed},
	StateStopping:   {StateCompleted, StateFailed},
	StateCompleted:  {StateInvoiced},
}

// CanMove reports whether the state machine allows from → to.
func CanMove(from, to State) bool { return slices.Contains(transitions[from], to) }

// Final reports whether s has no way out.
func (s State) Final() bool { return len(transitions[s]) == 0 }

// Flag is a reason a completed session needs a human before it is billed.
// Stored: append only, never rename or reuse a value.
type Flag string

// Review flags (docs/sessions.md explains each).
const (
	FlagBeginMissing     Flag = "begin-missing"     // no signed begin (TX B) snapshot
	FlagEndMissing       Flag = "end-missing"       // no signed end (TX E, L, R, A, P) snapshot
	FlagNotVerified      Flag = "not-verified"      // a snapshot did not parse or verify
	FlagCounterBackwards Flag = "counter-backwards" // the energy register went down
	FlagPagination       Flag = "pagination"        // pages missing, repeated or out of order
	FlagUnreadable       Flag = "unreadable"        // a register value is not an exact energy
	FlagMeterMismatch    Flag = "meter-mismatch"    // begin and end from different meters or registers
	FlagExceedsHold      Flag = "exceeds-hold"      // the price is above the hold
	FlagTooMuchEnergy    Flag = "too-much-energy"   // beyond tariff.MaxEnergyWh or the duration limit
)

// Unlimited is the EnergyCapWh of a hold that covers any energy (the
// tariff's cap is within it).
const Unlimited int64 = -1

// Session is one charging session as stored. The store keeps it whole;
// Version is its optimistic-concurrency counter.
type Session struct {
	ID       string `json:"id"`
	Operator string `json:"operator"`
	Site     string `json:"site"`
	Point    string `json:"point"`
	Meter    string `json:"meter"` // the Eichrecht meter (device) whose snapshots bill the session
	State    State  `json:"state"`
	Version  int64  `json:"version"` // 1 at creation, +1 per stored change

	Tariff      tariff.Tariff `json:"tariff"` // as shown to the driver at the start
	Payee       payment.Payee `json:"payee"`
	HoldMinor   int64         `json:"holdMinor"`   // the amount held
	EnergyCapWh int64         `json:"energyCapWh"` // largest energy the hold pays for; Unlimited

	HoldID       string         `json:"holdId,omitempty"`
	HoldStatus   payment.Status `json:"holdStatus,omitempty"`
	HoldReleased bool           `json:"holdReleased,omitempty"` // cancelled at the provider after failed/cancelled
	ReturnURL    string         `json:"returnUrl,omitempty"`    // the hosted payment page's way back (StartRequest)
	CancelURL    string         `json:"cancelUrl,omitempty"`

	Review  []Flag   `json:"review,omitempty"`  // non-empty: not billed automatically
	Billing *Billing `json:"billing,omitempty"` // set on completed

	CaptureID     string `json:"captureId,omitempty"`
	InvoiceNumber int64  `json:"invoiceNumber,omitempty"` // read from the invoices table

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// NeedsReview reports whether the session carries review flags.
func (s Session) NeedsReview() bool { return len(s.Review) > 0 }

// Billing is what completion measured and priced; Bill captures exactly
// Price.GrossMinor.
type Billing struct {
	BeginMilliWh int64            `json:"beginMilliWh"` // the begin register, exact
	EndMilliWh   int64            `json:"endMilliWh"`
	EnergyWh     int64            `json:"energyWh"` // (end − begin), see Energy
	Start        time.Time        `json:"start"`    // signed begin time
	End          time.Time        `json:"end"`      // signed end time
	Price        tariff.Breakdown `json:"price"`
	OCMF         []string         `json:"ocmf"` // the begin and end records, exactly as signed
}

// Transition is one entry of a session's append-only transition log.
type Transition struct {
	Session string    `json:"session"`
	Version int64     `json:"version"` // the session's version after the move
	From    State     `json:"from"`    // "" for the creation
	To      State     `json:"to"`
	Cause   string    `json:"cause"`
	At      time.Time `json:"at"`
}

// Move returns s moved to state to, with its version bumped and the
// transition to store, or ErrIllegalTransition. It does no I/O.
func Move(s Session, to State, cause string, now time.Time) (Session, Transition, error) {
	if !CanMove(s.State, to) {
		return s, Transition{}, fmt.Errorf("session %s: %w: %s → %s (%s)", s.ID, ErrIllegalTransition, s.State, to, cause)
	}
	tr := Transition{Session: s.ID, Version: s.Version + 1, From: s.State, To: to, Cause: cause, At: now}
	s.State, s.Version, s.UpdatedAt = to, s.Version+1, now
	return s, tr, nil
}

// touch returns s with its version bumped for a change that is not a
// state move (the hold's id, its release).
func touch(s Session, now time.Time) Session {
	s.Version++
	s.UpdatedAt = now
	return s
}
