package session

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/central/invoice"
)

// Store persists sessions and their append-only transition logs. It is the
// area's domain contract: central/session/postgres and central/session/sqlite
// implement it, and both pass the conformance suite in
// central/session/sessiontest (which also holds Memory, an in-memory store
// for tests). Implementations are safe for concurrent use.
type Store interface {
	// Create stores s (Version 1) and its first transition; ErrExists if
	// a session with s.ID is stored.
	Create(ctx context.Context, s Session, tr Transition) error
	// Session returns the stored session, with InvoiceNumber set once it is
	// invoiced, or ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// Update stores s, and tr when not nil, in one transaction, if the
	// stored version is s.Version−1; otherwise it stores nothing and
	// returns ErrConflict (ErrNotFound for an unknown id).
	Update(ctx context.Context, s Session, tr *Transition) error
	// Invoice does what Update does and, in the same transaction, issues
	// inv with central/invoice's Complete (the number allocated last). On
	// ErrConflict or invoice.ErrAlreadyIssued nothing is stored and no
	// number is used up.
	Invoice(ctx context.Context, s Session, tr Transition, inv invoice.Invoice) (invoice.Invoice, error)
	// Transitions returns the session's transition log in version order.
	Transitions(ctx context.Context, id string) ([]Transition, error)
	// List returns the sessions in one of f.States, least recently updated
	// first.
	List(ctx context.Context, f Filter) ([]Session, error)
}

// Filter selects sessions for List.
type Filter struct {
	States   []State // required
	Operator string  // only this operator's sessions; "": every operator's
	Todo     bool    // only sessions with Session.Todo
	Limit    int     // 0: no limit
}

// Todo reports whether Reconcile has work on s: a created session (its
// hold to find or confirm), a completed one not flagged for review (to
// bill), a failed or cancelled one whose hold is not released. Stores keep
// it as an indexed column.
func (s Session) Todo() bool {
	switch s.State {
	case StateCreated:
		return true
	case StateCompleted:
		return !s.NeedsReview()
	case StateFailed, StateCancelled:
		return !s.HoldReleased
	}
	return false
}

// CheckCreate checks what every Store's Create requires.
func CheckCreate(s Session, tr Transition) error {
	switch {
	case s.ID == "":
		return fmt.Errorf("create session: %w: no id", ErrInvalid)
	case s.Version != 1 || s.State != StateCreated:
		return fmt.Errorf("create session %s: %w: version %d, state %s; want 1, created", s.ID, ErrInvalid, s.Version, s.State)
	case tr.Session != s.ID || tr.Version != 1 || tr.From != "" || tr.To != StateCreated:
		return fmt.Errorf("create session %s: %w: first transition %+v", s.ID, ErrInvalid, tr)
	}
	return nil
}

// CheckUpdate checks what every Store's Update and Invoice require: the
// transition, if any, is the session's move to its new version.
func CheckUpdate(s Session, tr *Transition) error {
	if s.ID == "" || s.Version < 2 {
		return fmt.Errorf("update session %q: %w: version %d", s.ID, ErrInvalid, s.Version)
	}
	if tr != nil && (tr.Session != s.ID || tr.Version != s.Version || tr.To != s.State || !CanMove(tr.From, tr.To)) {
		return fmt.Errorf("update session %s: %w: transition %+v does not lead to version %d in %s", s.ID, ErrInvalid, *tr, s.Version, s.State)
	}
	return nil
}
