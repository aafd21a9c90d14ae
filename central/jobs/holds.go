package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parkgrid/parkgrid/central/session"
)

// HoldRule decides what happens to a session whose card hold nears its
// expiry. Card holds last about seven days (Stripe: capture_before); a
// capture after that fails and the energy is unpaid. parkgrid's provider
// contract allows one capture per hold, so "capture in part and
// re-authorise" would need a session that continues under a new hold,
// which central/session does not model; the rule therefore ends the
// session in time, and the capture of what was charged happens within the
// hold's life:
//
//	authorized (never charged)  → cancel: the hold is released
//	charging                    → stop: edge command, then charging → stopping;
//	                              the end snapshot completes and bills it
//	stopping, or completed and
//	flagged for review          → alert: a human must act before the hold lapses
//
// The hold's start is taken as the session's creation, which is never
// after the provider placed it, so the computed expiry is never later
// than the real one.
type HoldRule struct {
	Life   time.Duration // how long a hold lasts; 0: 7 days
	Margin time.Duration // act this long before it lapses; 0: 12 hours
}

// HoldAction is what the rule decides.
type HoldAction string

// Hold actions.
const (
	HoldKeep   HoldAction = ""
	HoldCancel HoldAction = "cancel"
	HoldStop   HoldAction = "stop"
	HoldAlert  HoldAction = "alert"
)

func (r HoldRule) withDefaults() HoldRule {
	if r.Life == 0 {
		r.Life = 7 * 24 * time.Hour
	}
	if r.Margin == 0 {
		r.Margin = 12 * time.Hour
	}
	return r
}

// Due is when the rule starts acting on s.
func (r HoldRule) Due(s session.Session) time.Time {
	r = r.withDefaults()
	return s.CreatedAt.Add(r.Life - r.Margin)
}

// Decide applies the rule to s at now. It does no I/O.
func (r HoldRule) Decide(s session.Session, now time.Time) HoldAction {
	if now.Before(r.Due(s)) || s.HoldReleased {
		return HoldKeep
	}
	switch s.State {
	case session.StateAuthorized:
		return HoldCancel
	case session.StateCharging:
		return HoldStop
	case session.StateStopping:
		return HoldAlert
	case session.StateCompleted:
		if s.NeedsReview() {
			return HoldAlert
		}
	}
	return HoldKeep // created: no hold yet; completed unflagged: reconcile bills it; final states
}

// SessionLister lists sessions; session.Store has it.
type SessionLister interface {
	List(ctx context.Context, f session.Filter) ([]session.Session, error)
}

// SessionControl is what the hold job does to sessions; *session.Service
// has it.
type SessionControl interface {
	Stop(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
	Cancel(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
}

// EdgeStopper tells a site's edge to stop a point's session;
// central/command's Commander has it.
type EdgeStopper interface {
	Stop(ctx context.Context, site, point, sessionID string) error
}

// HoldReport counts what one hold-expiry run did.
type HoldReport struct {
	Cancelled, Stopped, Alerts int
}

// HoldExpiry returns the run of the hold-expiry job: it applies rule to
// every open session. An edge that cannot be reached still gets the
// session moved to stopping (the edge stops at the hold's energy cap on
// its own, and the end snapshot completes the session when it arrives).
func HoldExpiry(rule HoldRule, sessions SessionLister, ctl SessionControl, edge EdgeStopper, log *slog.Logger) func(ctx context.Context, now time.Time) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, now time.Time) error {
		_, err := holdExpiry(ctx, rule, sessions, ctl, edge, log, now)
		return err
	}
}

func holdExpiry(ctx context.Context, rule HoldRule, sessions SessionLister, ctl SessionControl, edge EdgeStopper, log *slog.Logger, now time.Time) (HoldReport, error) {
	var rep HoldReport
	list, err := sessions.List(ctx, session.Filter{States: []session.State{
		session.StateAuthorized, session.StateCharging, session.StateStopping, session.StateCompleted}})
	if err != nil {
		return rep, fmt.Errorf("hold expiry: list: %w", err)
	}
	var errs []error
	for _, s := range list {
		due := rule.Due(s)
		cause := fmt.Sprintf("hold expiry: the card hold lapses about %s", due.Add(rule.withDefaults().Margin).UTC().Format(time.RFC3339))
		switch rule.Decide(s, now) {
		case HoldCancel:
			if _, err := ctl.Cancel(ctx, s.ID, cause, now); err != nil {
				errs = append(errs, fmt.Errorf("cancel %s: %w", s.ID, err))
				continue
			}
			rep.Cancelled++
			log.Warn("session cancelled before its hold lapses", "session", s.ID)
		case HoldStop:
			if edge != nil {
				if err := edge.Stop(ctx, s.Site, s.Point, s.ID); err != nil {
					log.Warn("hold expiry: edge stop failed", "session", s.ID, "site", s.Site, "err", err)
					cause += " (edge stop failed: " + err.Error() + ")"
				}
			}
			if _, err := ctl.Stop(ctx, s.ID, cause, now); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", s.ID, err))
				continue
			}
			rep.Stopped++
			log.Warn("session stopped before its hold lapses", "session", s.ID)
		case HoldAlert:
			rep.Alerts++
			log.Error("session's card hold lapses soon and needs an operator", "session", s.ID, "state", s.State, "review", s.Review, "due", due)
		}
	}
	return rep, errors.Join(errs...)
}
