// Package storesnap adapts the ingest store (central/store) to
// session.Snapshots: a session's signed OCMF snapshots are the stored
// snapshots whose reading named the session, from the session's site and
// meter, with the verified mark ingest stored with each.
package storesnap

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/store"
)

// Lister is what the adapter needs of the ingest store; store.Store has it.
type Lister interface {
	Snapshots(ctx context.Context, f store.SnapshotFilter) ([]store.Snapshot, error)
}

// Source is a session.Snapshots over a Lister.
type Source struct {
	l Lister
}

var _ session.Snapshots = (*Source)(nil)

// New returns a Source reading l.
func New(l Lister) *Source { return &Source{l: l} }

// SessionSnapshots implements session.Snapshots.
func (s *Source) SessionSnapshots(ctx context.Context, site, meter, sessionID string) ([]session.Snapshot, error) {
	if sessionID == "" {
		return nil, fmt.Errorf("snapshots of a session: %w: no session id", session.ErrInvalid)
	}
	got, err := s.l.Snapshots(ctx, store.SnapshotFilter{Site: site, Meter: meter, Session: sessionID})
	if err != nil {
		return nil, fmt.Errorf("snapshots of session %s: %w", sessionID, err)
	}
	out := make([]session.Snapshot, 0, len(got))
	for _, sn := range got {
		if sn.Session != sessionID || (site != "" && sn.Site != site) || (meter != "" && sn.Meter != meter) {
			continue // a filter the store ignored must not bill another session
		}
		out = append(out, session.Snapshot{OCMF: sn.OCMF, Verified: sn.Verified})
	}
	return out, nil
}
