package control

import (
	"errors"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// Per-point limits: caps on one charge point's current that other parts of
// the edge set on behalf of a source (the OCPP client for a CSMS charging
// profile, central's session authorisation and energy cap, an access
// rule). The lowest limit of every source in force wins. A limit only ever
// lowers what the plan gives the point: it enters the allocation as the
// car's maximum (Demand.MaxCurrentMA, the lower of the car's own and the
// limit), so the site, its fuses, EMS and safety still bound it. A limit
// below the point's minimum current (6 A) means no current at all: the
// point leaves the demands (it is not counted as a car wanting current) and
// its setpoint is cut to 0 at once, like a stop.

// pointLimit is one source's cap on one point.
type pointLimit struct {
	maxMA int64
	until time.Time // zero: no expiry
}

// inForce reports whether the limit applies at now.
func (pl pointLimit) inForce(now time.Time) bool {
	return pl.until.IsZero() || now.Before(pl.until)
}

// pointLimits maps point → source → limit. It is never changed in place:
// SetPointLimit and ClearPointLimit replace it (copy on write), so a step
// reads the map it took under the lock without holding it.
type pointLimits map[string]map[string]pointLimit

// effective is the lowest limit in force at now for point, and its source;
// on a tie the source first in name order. ok false: none.
func (m pointLimits) effective(point string, now time.Time) (maxMA int64, source string, ok bool) {
	for src, pl := range m[point] {
		if !pl.inForce(now) {
			continue
		}
		if !ok || pl.maxMA < maxMA || (pl.maxMA == maxMA && src < source) {
			maxMA, source, ok = pl.maxMA, src, true
		}
	}
	return maxMA, source, ok
}

// withExpiredDropped returns m without the limits that are no longer in
// force at now, or m itself if none expired.
func (m pointLimits) withExpiredDropped(now time.Time) pointLimits {
	expired := false
	for _, srcs := range m {
		for _, pl := range srcs {
			if !pl.inForce(now) {
				expired = true
			}
		}
	}
	if !expired {
		return m
	}
	out := make(pointLimits, len(m))
	for p, srcs := range m {
		keep := make(map[string]pointLimit, len(srcs))
		for s, pl := range srcs {
			if pl.inForce(now) {
				keep[s] = pl
			}
		}
		if len(keep) > 0 {
			out[p] = keep
		}
	}
	return out
}

// ErrBadPointLimit is returned for a limit that cannot be a limit: an empty
// source or a negative current.
var ErrBadPointLimit = errors.New("bad point limit")

// SetPointLimit caps one point's current from a named source ("access", "session", "ocpp", ...) until `until`
// (zero: no expiry). The lowest limit of all sources in force wins; 0 mA means no current at all (the point is not
// offered current and is not counted as a car wanting current); a limit below the point's minimum current is treated
// as 0. It never raises a point above what the site, its fuses, EMS and safety allow.
func (l *Loop) SetPointLimit(point, source string, maxMA int64, until time.Time) error {
	if _, ok := l.byID[point]; !ok {
		return fmt.Errorf("control site %q: point limit: %w %q", l.cfg.SiteID, ErrUnknownPoint, point)
	}
	if source == "" {
		return fmt.Errorf("control site %q: point %q: %w: no source named", l.cfg.SiteID, point, ErrBadPointLimit)
	}
	if maxMA < 0 {
		return fmt.Errorf("control site %q: point %q: %w: %d mA from %q is negative", l.cfg.SiteID, point, ErrBadPointLimit, maxMA, source)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.copyLimits(point)
	next[point][source] = pointLimit{maxMA: maxMA, until: until}
	l.limits = next
	l.log.Info("point limit set", "point", point, "source", source, "max_ma", maxMA, "until", until)
	return nil
}

// ClearPointLimit removes the limit of one source.
func (l *Loop) ClearPointLimit(point, source string) error {
	if _, ok := l.byID[point]; !ok {
		return fmt.Errorf("control site %q: point limit: %w %q", l.cfg.SiteID, ErrUnknownPoint, point)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.limits[point][source]; !ok {
		return nil
	}
	next := l.copyLimits(point)
	delete(next[point], source)
	if len(next[point]) == 0 {
		delete(next, point)
	}
	l.limits = next
	l.log.Info("point limit cleared", "point", point, "source", source)
	return nil
}

// PointLimit returns the limit in force for point at now and the source that set it (ok false: none).
func (l *Loop) PointLimit(point string, now time.Time) (maxMA int64, source string, ok bool) {
	l.mu.Lock()
	m := l.limits
	l.mu.Unlock()
	return m.effective(point, now)
}

// copyLimits returns a copy of l.limits whose map for point is new as well
// (and exists). The caller holds l.mu.
func (l *Loop) copyLimits(point string) pointLimits {
	next := make(pointLimits, len(l.limits)+1)
	for p, srcs := range l.limits {
		next[p] = srcs
	}
	srcs := make(map[string]pointLimit, len(l.limits[point])+1)
	for s, pl := range l.limits[point] {
		srcs[s] = pl
	}
	next[point] = srcs
	return next
}

// pointCap is the limit a step applies to one point.
type pointCap struct {
	maxMA  int64 // 0: no current at all
	source string
}

// capFor is the limit in force for p at now, with a limit below the
// point's minimum current turned into 0; ok false: none.
func capFor(m pointLimits, p *pointState, now time.Time) (pointCap, bool) {
	maxMA, src, ok := m.effective(p.ID, now)
	if !ok {
		return pointCap{}, false
	}
	// The point's minimum as loadmgmt takes it: at least 6 A, in whole
	// amperes (rounded up).
	minMA := max(p.static.MinCurrentMA, loadmgmt.MinCurrentMA)
	minMA = (minMA + loadmgmt.StepMA - 1) / loadmgmt.StepMA * loadmgmt.StepMA
	if maxMA < minMA {
		maxMA = 0
	}
	return pointCap{maxMA: maxMA, source: src}, true
}

// String is how a status reason names the limit.
func (c pointCap) String() string {
	return fmt.Sprintf("point limit %s: %d A", c.source, c.maxMA/1000)
}
