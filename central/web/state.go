package web

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// The live state of sites and points, from what the edges reported.

// busyStates are the states in which a session holds its point.
var busyStates = []session.State{session.StateAuthorized, session.StateCharging, session.StateStopping}

// occupiedW is the power above which a point draws for someone else
// (a car charging under the site's own access, without a central session).
const occupiedW = 100

// siteOnline reports whether the site's edge sent any reading within
// OfflineAfter.
func (a *Adapter) siteOnline(ctx context.Context, site string, now time.Time) (bool, error) {
	rs, err := a.c.Ingest.Readings(ctx, store.ReadingFilter{Site: site, From: now.Add(-a.c.OfflineAfter), Limit: 1})
	if err != nil {
		return false, fmt.Errorf("web: readings of site %s: %w", site, err)
	}
	return len(rs) > 0, nil
}

// latest returns the newest reading of a device's quantity since from.
func (a *Adapter) latest(ctx context.Context, site, device, quantity string, from time.Time) (reading.Reading, bool, error) {
	rs, err := a.c.Ingest.Readings(ctx, store.ReadingFilter{Site: site, Device: device, Quantity: quantity, From: from})
	if err != nil {
		return reading.Reading{}, false, fmt.Errorf("web: %s of %s/%s: %w", quantity, site, device, err)
	}
	var best reading.Reading
	for _, r := range rs {
		if !r.Time.Before(best.Time) {
			best = r.Reading
		}
	}
	return best, len(rs) > 0, nil
}

// busy returns the sessions holding a point, by site and point; with
// operator set, only that operator's.
func (a *Adapter) busy(ctx context.Context, operator string) (map[[2]string]session.Session, error) {
	list, err := a.c.Store.List(ctx, session.Filter{States: busyStates, Operator: operator})
	if err != nil {
		return nil, fmt.Errorf("web: running sessions: %w", err)
	}
	out := make(map[[2]string]session.Session, len(list))
	for _, s := range list {
		if operator == "" || s.Operator == operator {
			out[[2]string{s.Site, s.Point}] = s
		}
	}
	return out, nil
}

// pointState is the live state of a point: offline when its site is,
// faulted when its meter cannot be read, charging or occupied by a
// session or by power drawn without one.
func (a *Adapter) pointState(ctx context.Context, p catalog.Point, online bool, sess *session.Session, now time.Time) (dashboard.Point, error) {
	out := dashboard.Point{ID: PointID(p.Site, p.ID), Label: p.ID, State: dashboard.PointAvailable}
	if sess != nil {
		out.Session = sess.ID
	}
	if !online {
		out.State = dashboard.PointOffline
		return out, nil
	}
	r, ok, err := a.latest(ctx, p.Site, p.Meter, reading.QPowerW, now.Add(-a.c.OfflineAfter))
	if err != nil {
		return out, err
	}
	switch {
	case !ok || r.Stale:
		out.State = dashboard.PointFaulted
		out.Faults = append(out.Faults, "meter "+p.Meter+" not read")
		return out, nil
	case sess != nil && sess.State == session.StateCharging:
		out.State = dashboard.PointCharging
	case sess != nil || r.Value > occupiedW:
		out.State = dashboard.PointOccupied
	}
	out.PowerW = max(r.Value, 0)
	return out, nil
}

// siteEvents returns the events of the site's batches sent within
// EventWindow, oldest first.
func (a *Adapter) siteEvents(ctx context.Context, site string, now time.Time) ([]reading.Event, error) {
	ps, err := a.c.Ingest.Progress(ctx, store.ProgressFilter{})
	if err != nil {
		return nil, fmt.Errorf("web: gateways: %w", err)
	}
	var evs []reading.Event
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Gateway] {
			continue
		}
		seen[p.Gateway] = true
		g, err := a.c.Ingest.Gateway(ctx, p.Gateway)
		if err != nil || g.Site != site {
			continue
		}
		bs, err := a.c.Ingest.Batches(ctx, store.BatchFilter{Gateway: p.Gateway, From: now.Add(-a.c.EventWindow), To: now.Add(time.Minute)})
		if err != nil {
			return nil, fmt.Errorf("web: batches of %s: %w", p.Gateway, err)
		}
		for _, sb := range bs {
			b, err := reading.Decode(sb.Body)
			if err != nil {
				a.log.Warn("web: stored batch does not decode", "gateway", sb.Gateway, "seq", sb.Seq, "err", err)
				continue
			}
			evs = append(evs, b.Events...)
		}
	}
	slices.SortStableFunc(evs, func(x, y reading.Event) int { return x.Time.Compare(y.Time) })
	return evs, nil
}
