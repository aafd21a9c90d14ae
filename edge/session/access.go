package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// This file is the part of a session that central controls, for charge
// points with access "central" (Point.Central):
//
//   - The daemon closes such a point's access gate (a 0 mA limit of
//     source SourceAccess) before the control loop first runs; the point
//     gets no current without a session.
//   - Authorise opens a session with central's id, class and energy cap.
//     The begin snapshot is taken when the car is, or gets, plugged in,
//     with central's session id as its identification; once it is read
//     the gate opens. No car by hold_expires cancels the authorisation.
//   - The cap is enforced here, locally, from the meter's energy register
//     (ObserveCounter): energy since the begin snapshot ≥ cap closes the
//     point (a 0 mA limit of source SourceSession) and the end snapshot
//     follows after StopSettle. So the cap holds with the uplink down.
//     Stop does the same on central's command; a car unplugged ends the
//     session as on any point.
//   - After the end snapshot the gate closes again until the next
//     authorisation. The authorisation, its begin register and a stop are
//     in the state file, so a restart keeps the session and its cap.

// Limit sources of the gate (edge/control's point limits).
const (
	SourceAccess  = "access"  // closed while the point has no authorised session
	SourceSession = "session" // closed when a session is stopped (cap, central)
)

// Why a central session ended (the session-end event's reason attr).
const (
	StopCap         = "cap"          // the energy cap was reached
	StopCentral     = "central"      // central's stop command
	StopUnplugged   = "unplugged"    // the car left
	StopHoldExpired = "hold-expired" // no car before the authorisation's hold expired
)

// Gate sets and clears per-point current limits (edge/control's Loop). A
// limit of 0 mA gives the point no current; a zero until never expires.
type Gate interface {
	SetPointLimit(point, source string, maxMA int64, until time.Time) error
	ClearPointLimit(point, source string) error
}

// Classes passes a session's class to load management (edge/control).
type Classes interface {
	SetClass(point string, c loadmgmt.Class) error
}

// Errors of Authorise and Stop.
var (
	ErrUnknownPoint = errors.New("unknown charge point")
	ErrNotCentral   = errors.New("charge point has free access")
	ErrBusy         = errors.New("charge point busy with another session")
	ErrEnded        = errors.New("session already ended")
	ErrNoSession    = errors.New("no such session at the charge point")
)

// Auth is central's authorisation of a session, as persisted.
type Auth struct {
	Class       string    `json:"class"`
	CapWh       int64     `json:"cap_wh,omitempty"` // 0: no cap
	HoldExpires time.Time `json:"hold_expires,omitzero"`
	// BeginWh is the meter's energy register when the begin snapshot was
	// taken (or first read after it), the base of the cap.
	BeginWh *int64    `json:"begin_wh,omitempty"`
	Stop    string    `json:"stop,omitempty"` // StopCap or StopCentral once stopped
	StopAt  time.Time `json:"stop_at,omitzero"`
}

func (a *Auth) clone() *Auth {
	if a == nil {
		return nil
	}
	c := *a
	if a.BeginWh != nil {
		v := *a.BeginWh
		c.BeginWh = &v
	}
	return &c
}

// attrs adds what session events say of the authorisation.
func (a *Auth) attrs(m map[string]string) {
	if a == nil {
		return
	}
	m["access"] = "central"
	m["class"] = a.Class
	m["cap_wh"] = strconv.FormatInt(a.CapWh, 10)
	if a.BeginWh != nil {
		m["begin_wh"] = strconv.FormatInt(*a.BeginWh, 10)
	}
}

func parseClass(c string) (loadmgmt.Class, error) {
	switch c {
	case reading.ClassEco:
		return loadmgmt.Eco, nil
	case reading.ClassPremium:
		return loadmgmt.Premium, nil
	}
	return 0, fmt.Errorf("class %q: want %q or %q", c, reading.ClassEco, reading.ClassPremium)
}

// Authorise lets point a.Point charge for central's session a.Session
// (see the top of this file). Authorising the open session again is a
// no-op; it implements edge/command's Executor.
func (m *Manager) Authorise(ctx context.Context, a reading.Authorisation) (map[string]string, error) {
	class, err := parseClass(a.Class)
	if err != nil {
		return nil, fmt.Errorf("authorise session %s: %w", a.Session, err)
	}
	now := m.cfg.Clock.Now().UTC()
	m.mu.Lock()
	p := m.points[a.Point]
	switch {
	case p == nil:
		err = fmt.Errorf("authorise session %s: %w %q", a.Session, ErrUnknownPoint, a.Point)
	case !p.Central:
		err = fmt.Errorf("authorise session %s: %w: %s needs no authorisation (access: free)", a.Session, ErrNotCentral, a.Point)
	case p.Session != nil && p.Session.ID == a.Session:
		st := m.stateOf(p)
		m.mu.Unlock()
		return map[string]string{"state": st}, nil
	case p.Session != nil:
		err = fmt.Errorf("authorise session %s: %w %s at %s", a.Session, ErrBusy, p.Session.ID, a.Point)
	case p.LastCentral == a.Session:
		err = fmt.Errorf("authorise session %s at %s: %w", a.Session, a.Point, ErrEnded)
	case !a.HoldExpires.IsZero() && !now.Before(a.HoldExpires):
		err = fmt.Errorf("authorise session %s: its hold expired at %s", a.Session, a.HoldExpires.Format(time.RFC3339))
	}
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	p.Session = &Session{ID: a.Session, Point: p.ID, Began: now, Auth: &Auth{Class: a.Class, CapWh: a.CapWh, HoldExpires: a.HoldExpires}}
	p.beginTaken = false
	car := p.observed && p.connected
	m.mu.Unlock()
	if err := m.save(ctx); err != nil {
		m.mu.Lock()
		if p.Session != nil && p.Session.ID == a.Session && !p.beginTaken {
			p.Session = nil
		}
		m.mu.Unlock()
		return nil, fmt.Errorf("authorise session %s: persist: %w", a.Session, err)
	}
	if err := m.cfg.Classes.SetClass(p.ID, class); err != nil {
		m.log.Warn("session: class not passed to load management", "point", p.ID, "session", a.Session, "err", err)
	}
	m.log.Info("session authorised by central", "point", p.ID, "session", a.Session, "class", a.Class, "cap_wh", a.CapWh, "car", car)
	m.wake()
	return map[string]string{"state": "authorised", "car": strconv.FormatBool(car)}, nil
}

// Stop stops central's session at point: the point gets no current at
// once and the end snapshot follows. Stopping a session that already
// ended is a no-op; it implements edge/command's Executor.
func (m *Manager) Stop(ctx context.Context, point, session string) (map[string]string, error) {
	now := m.cfg.Clock.Now().UTC()
	m.mu.Lock()
	p := m.points[point]
	var err error
	switch {
	case p == nil:
		err = fmt.Errorf("stop session %s: %w %q", session, ErrUnknownPoint, point)
	case p.Session == nil || p.Session.ID != session:
		if p.LastCentral == session {
			m.mu.Unlock()
			return map[string]string{"state": "ended"}, nil
		}
		err = fmt.Errorf("stop session %s: %w %s", session, ErrNoSession, point)
	case p.Session.Auth == nil:
		err = fmt.Errorf("stop session %s: %w: the session is the edge's own", session, ErrNotCentral)
	}
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if a := p.Session.Auth; a.Stop == "" {
		a.Stop, a.StopAt = StopCentral, now
	}
	m.dirty = true
	m.mu.Unlock()
	m.stopped(p)
	m.trySave(ctx)
	return map[string]string{"state": "stopping"}, nil
}

// stateOf names where a central session is (for replies). Callers hold mu.
func (m *Manager) stateOf(p *point) string {
	switch s := p.Session; {
	case s == nil:
		return "ended"
	case s.Auth != nil && s.Auth.Stop != "":
		return "stopping"
	case p.beginTaken:
		return "charging"
	}
	return "authorised"
}

// checkCap notes the begin register and stops the session at its cap.
// Callers hold mu; it reports whether it stopped the session.
func (m *Manager) checkCap(p *point, wh int64) bool {
	s := p.Session
	if s == nil || s.Auth == nil || !p.beginTaken {
		return false
	}
	a := s.Auth
	if a.BeginWh == nil {
		a.BeginWh = &wh
		m.dirty = true
		return false
	}
	if a.CapWh <= 0 || a.Stop != "" || wh-*a.BeginWh < a.CapWh {
		return false
	}
	a.Stop, a.StopAt = StopCap, m.cfg.Clock.Now().UTC()
	m.dirty = true
	m.log.Info("session reached its energy cap: stopping", "point", p.ID, "session", s.ID, "cap_wh", a.CapWh, "energy_wh", wh-*a.BeginWh)
	return true
}

// stopped closes the point for a stopped session and wakes Run.
func (m *Manager) stopped(p *point) {
	if err := m.cfg.Gate.SetPointLimit(p.ID, SourceSession, 0, time.Time{}); err != nil {
		m.log.Error("session: point not stopped", "point", p.ID, "err", err)
	}
	m.wake()
}

// stepCentral is step for a session central authorised.
func (m *Manager) stepCentral(ctx context.Context, p *point, sess Session, began, observed, connected bool, now time.Time, storeErr error) (bool, error) {
	a := sess.Auth
	begin := Request{Session: sess.ID, Kind: string(drivers.SnapshotBegin), At: now}
	end := Request{Session: sess.ID, Kind: string(drivers.SnapshotEnd), At: now}
	switch {
	case !began && (a.Stop != "" || (!a.HoldExpires.IsZero() && !now.Before(a.HoldExpires))):
		return true, errors.Join(m.cancel(ctx, p, sess, cmp.Or(a.Stop, StopHoldExpired), now), storeErr)
	case !began && observed && connected:
		return true, errors.Join(m.request(ctx, p, begin), storeErr)
	case !began:
		if !a.HoldExpires.IsZero() {
			m.lookAgainAt(a.HoldExpires)
		}
		return false, storeErr
	case observed && !connected:
		return true, errors.Join(m.request(ctx, p, end), storeErr)
	case a.Stop != "":
		if due := a.StopAt.Add(m.cfg.StopSettle); now.Before(due) {
			m.lookAgainAt(due)
			return false, storeErr
		}
		return true, errors.Join(m.request(ctx, p, end), storeErr)
	}
	return false, storeErr
}

// lookAgainAt makes Run look again at t.
func (m *Manager) lookAgainAt(t time.Time) {
	m.mu.Lock()
	if m.wakeAt.IsZero() || t.Before(m.wakeAt) {
		m.wakeAt = t
	}
	m.mu.Unlock()
}

// cancel ends a central session that has no begin snapshot: it stores the
// session-cancelled event, closes the session and the gate.
func (m *Manager) cancel(ctx context.Context, p *point, sess Session, reason string, now time.Time) error {
	ev := reading.Event{Time: now, Kind: EventCancelled, Device: p.Device, Point: p.ID,
		Attrs: map[string]string{"session": sess.ID, "reason": reason}}
	seq, err := m.cfg.Journal.Store(ctx, nil, []reading.Event{ev})
	if err != nil {
		return fmt.Errorf("store cancellation of session %s: %w", sess.ID, err)
	}
	m.mu.Lock()
	if p.Session != nil && p.Session.ID == sess.ID {
		p.Session, p.beginTaken, p.LastCentral = nil, false, sess.ID
	}
	m.st.Head = max(m.st.Head, seq)
	m.mu.Unlock()
	m.log.Info("session cancelled before a car charged", "point", p.ID, "session", sess.ID, "reason", reason)
	m.closeGate(p)
	m.trySave(ctx)
	return nil
}

// afterSnapshot opens a central point's gate once its begin snapshot is
// read, and closes it when the end snapshot closed the session.
func (m *Manager) afterSnapshot(p *point, kind string, ended *Session) {
	if !p.Central {
		return
	}
	switch {
	case ended != nil:
		m.closeGate(p)
	case kind == string(drivers.SnapshotBegin):
		m.mu.Lock()
		stop := p.Session != nil && p.Session.Auth != nil && p.Session.Auth.Stop != ""
		m.mu.Unlock()
		if !stop {
			m.openGate(p)
		}
	}
}

func (m *Manager) openGate(p *point) {
	err := errors.Join(m.cfg.Gate.ClearPointLimit(p.ID, SourceSession), m.cfg.Gate.ClearPointLimit(p.ID, SourceAccess))
	if err != nil {
		m.log.Error("session: access gate not opened", "point", p.ID, "err", err)
	}
}

func (m *Manager) closeGate(p *point) {
	// Close first, then lift the stop: the point is never open between.
	err := m.cfg.Gate.SetPointLimit(p.ID, SourceAccess, 0, time.Time{})
	if err == nil {
		err = m.cfg.Gate.ClearPointLimit(p.ID, SourceSession)
	}
	if err != nil {
		m.log.Error("session: access gate not closed", "point", p.ID, "err", err)
	}
}

// restoreGates puts the central points' gates and classes where the
// state file says, at New: open for a session that began and is not
// stopped, closed otherwise.
func (m *Manager) restoreGates() error {
	for _, id := range m.order {
		p := m.points[id]
		if !p.Central {
			continue
		}
		s := p.Session
		if s == nil || s.Auth == nil {
			m.closeGate(p)
			continue
		}
		if c, err := parseClass(s.Auth.Class); err == nil {
			if err := m.cfg.Classes.SetClass(p.ID, c); err != nil {
				m.log.Warn("session: class not passed to load management", "point", p.ID, "err", err)
			}
		}
		switch {
		case s.Auth.Stop != "":
			if err := m.cfg.Gate.SetPointLimit(p.ID, SourceSession, 0, time.Time{}); err != nil {
				return fmt.Errorf("session: stop point %s: %w", p.ID, err)
			}
		case p.beginTaken:
			m.openGate(p)
		default:
			m.closeGate(p)
		}
		m.log.Info("session: central session kept across the restart", "point", p.ID, "session", s.ID, "state", m.stateOf(p), "cap_wh", s.Auth.CapWh)
	}
	return nil
}
