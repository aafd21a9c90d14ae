package control

import (
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// Scope is what an EMS limit caps.
type Scope string

// Scopes of an EMS limit.
const (
	// ScopeConnection (the default) caps the grid connection: the chargers'
	// current plus the other load the grid meter measures. With the meter
	// stale the last measured other load counts, and the safe budget
	// applies as always.
	ScopeConnection Scope = "connection"
	// ScopeEV caps the chargers' current alone.
	ScopeEV Scope = "ev"
)

// EMSLimit is a limit an energy-management system asks for. It expires
// after TTL (clamped to the configured maximum); TTL ≤ 0 withdraws the limit
// in force. A nil dimension limits nothing; 0 is a limit (no current).
type EMSLimit struct {
	RequestID    string
	MaxCurrentMA *[3]int64 // per grid phase
	MaxPowerW    *int64    // over all phases, at the nominal 230 V
	Scope        Scope     // "" means ScopeConnection
	TTL          time.Duration
}

// Effective is the answer to SetEMSLimit: the EMS limit as accepted and the
// chargers' limit at the grid connection now in force with every input
// composed.
type Effective struct {
	RequestID    string
	MaxCurrentMA *[3]int64 // as accepted; nil: none
	MaxPowerW    *int64
	Scope        Scope
	Expires      time.Time // zero: no EMS limit in force (withdrawn)
	TTLClamped   bool      // the TTL asked for exceeded the maximum

	GridLimitMA   [3]int64              // effective per-phase limit of the chargers at the grid
	GridLimitKind [3]loadmgmt.LimitKind // what set it, per phase
	GridTotalMA   int64                 // bound on the chargers' phase sum (power limits); 0 none
	GridTotalKind loadmgmt.LimitKind
}

type emsState struct {
	expires time.Time
	public  Effective
}

// SetEMSLimit puts an EMS limit in force at now (or withdraws it) and
// returns what is in force.
func (l *Loop) SetEMSLimit(req EMSLimit, now time.Time) Effective {
	eff := Effective{RequestID: req.RequestID, Scope: req.Scope}
	if eff.Scope != ScopeEV {
		eff.Scope = ScopeConnection
	}
	ttl := req.TTL
	if ttl > l.cfg.MaxTTL {
		ttl, eff.TTLClamped = l.cfg.MaxTTL, true
	}
	var next *emsState
	if ttl > 0 {
		if c := req.MaxCurrentMA; c != nil {
			v := [3]int64{max(0, c[0]), max(0, c[1]), max(0, c[2])}
			eff.MaxCurrentMA = &v
		}
		if p := req.MaxPowerW; p != nil {
			v := max(0, *p)
			eff.MaxPowerW = &v
		}
		eff.Expires = now.Add(ttl)
		next = &emsState{expires: eff.Expires, public: eff}
	}
	l.mu.Lock()
	l.ems = next
	para := l.para14a
	l.mu.Unlock()
	if next != nil {
		l.log.Info("EMS limit set", "request", req.RequestID, "max_ma", eff.MaxCurrentMA, "max_w", eff.MaxPowerW, "scope", eff.Scope, "expires", eff.Expires)
	} else {
		l.log.Info("EMS limit withdrawn", "request", req.RequestID)
		eff.Scope = ""
	}
	l.fillGridLimit(&eff, now, next, para)
	return eff
}

// fillGridLimit composes the grid connection's limit at now from the static
// site, the last measured inputs and the given EMS and §14a inputs.
func (l *Loop) fillGridLimit(eff *Effective, now time.Time, ems *emsState, para *loadmgmt.Para14aSignal) {
	s := l.site
	l.mu.Lock()
	last := l.status
	l.mu.Unlock()
	var other [3]int64
	if last.Grid != nil && !last.Grid.At.IsZero() {
		other = last.Grid.OtherLoadMA
		if !last.Grid.Reversed {
			s.Limits.Meters = []loadmgmt.MeterReading{{Node: l.rootNode, OtherLoadMA: other, At: last.Grid.At}}
		}
	}
	s.Limits.Para14a = para
	if l.safety != nil {
		s.Limits.Temperatures = l.safety.Temperatures()
	}
	lim := l.compose(now, s, ems, other)
	nl := lim[l.nodeIdx[l.rootNode]]
	eff.GridLimitMA, eff.GridLimitKind = nl.LimitMA, nl.Kind
	eff.GridTotalMA, eff.GridTotalKind = nl.TotalMA, nl.TotalKind
}

// compose is the site's effective limits at now (loadmgmt.EffectiveLimits
// of s, which carries no EMS input) with the EMS limit applied at the grid
// connection: for ScopeConnection less the other load there (otherMA, per
// phase), so that chargers plus other load stay within it. A limit of 0 is
// exact: no charger current at all.
func (l *Loop) compose(now time.Time, s loadmgmt.Site, ems *emsState, otherMA [3]int64) []loadmgmt.NodeLimit {
	lim := loadmgmt.EffectiveLimits(now, s)
	if ems == nil || !now.Before(ems.expires) {
		return lim
	}
	e := ems.public
	var sub [3]int64
	if e.Scope != ScopeEV {
		sub = otherMA
	}
	root := &lim[l.nodeIdx[l.rootNode]]
	if c := e.MaxCurrentMA; c != nil {
		for ph := range 3 {
			if v := max(0, c[ph]-sub[ph]); v < root.LimitMA[ph] {
				root.LimitMA[ph], root.Kind[ph] = v, loadmgmt.LimitEMS
			}
		}
	}
	if p := e.MaxPowerW; p != nil {
		total := max(0, currentFromPowerMA(*p)-sub[0]-sub[1]-sub[2])
		switch {
		case total == 0: // nothing left for the chargers: every phase at 0
			for ph := range 3 {
				root.LimitMA[ph], root.Kind[ph] = 0, loadmgmt.LimitEMS
			}
		case root.TotalMA == 0 || total < root.TotalMA:
			root.TotalMA, root.TotalKind = total, loadmgmt.LimitEMS
		}
	}
	return lim
}

// currentFromPowerMA is the summed phase current that draws powerW at the
// nominal voltage, rounded down (as loadmgmt turns power into current).
func currentFromPowerMA(powerW int64) int64 {
	if powerW <= 0 {
		return 0
	}
	return min(powerW, 1_000_000_000_000) * 1000 / loadmgmt.NominalVoltageV
}

// SetPara14a puts a §14a EnWG reduction from the DSO in force (nil
// withdraws it). loadmgmt keeps the floor for the site's steerable devices.
func (l *Loop) SetPara14a(sig *loadmgmt.Para14aSignal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sig != nil {
		c := *sig
		sig = &c
	}
	l.para14a = sig
}
