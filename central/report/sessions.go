package report

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/central/session"
)

// Lister is what SessionSource needs of the session store; session.Store
// has it.
type Lister interface {
	List(ctx context.Context, f session.Filter) ([]session.Session, error)
}

// Labels are the access-code facts of a session that the session itself
// does not carry.
type Labels struct {
	CostCentre string
	AccessCode string
	Group      string // the code's user group
}

// Labeler names a session's cost centre and access code (central's
// access-code store); nil labels every session with neither.
type Labeler interface {
	Labels(ctx context.Context, s session.Session) (Labels, error)
}

// SessionSource is a Source over the session store: the invoiced sessions,
// measured and priced as billed (session.Billing).
type SessionSource struct {
	Sessions Lister
	Labels   Labeler // optional
}

var _ Source = SessionSource{}

// Rows implements Source.
func (s SessionSource) Rows(ctx context.Context, q Query) ([]Row, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	list, err := s.Sessions.List(ctx, session.Filter{States: []session.State{session.StateInvoiced}, Operator: q.Operator})
	if err != nil {
		return nil, fmt.Errorf("report: invoiced sessions: %w", err)
	}
	var rows []Row
	for _, ss := range list {
		r, ok := RowOf(ss)
		if !ok || !q.Contains(r) {
			continue
		}
		if s.Labels != nil {
			l, err := s.Labels.Labels(ctx, ss)
			if err != nil {
				return nil, fmt.Errorf("report: labels of session %s: %w", ss.ID, err)
			}
			r.CostCentre, r.AccessCode, r.Group = l.CostCentre, l.AccessCode, l.Group
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// RowOf is the report row of an invoiced session; false for a session
// that is not invoiced or has no billing.
func RowOf(s session.Session) (Row, bool) {
	if s.State != session.StateInvoiced || s.Billing == nil {
		return Row{}, false
	}
	b := s.Billing
	return Row{
		Session: s.ID, Operator: s.Operator, Site: s.Site, Point: s.Point,
		Start: b.Start, End: b.End, EnergyWh: b.EnergyWh,
		Currency: b.Price.Currency, GrossMinor: b.Price.GrossMinor, NetMinor: b.Price.NetMinor, VATMinor: b.Price.VATMinor,
	}, true
}
