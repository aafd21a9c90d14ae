package control

import (
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// EMSLimit is a limit an energy-management system asks for. It expires
// after TTL (clamped to the configured maximum); TTL ≤ 0 withdraws the limit
// in force. A zero phase current or power means "no limit" on it.
type EMSLimit struct {
	RequestID    string
	MaxCurrentMA [3]int64 // per grid phase at the grid connection
	MaxPowerW    int64    // over all phases, at the nominal 230 V
	TTL          time.Duration
}

// Effective is the answer to SetEMSLimit: the EMS limit as accepted and the
// grid connection's limit now in force with every input composed.
type Effective struct {
	RequestID    string
	MaxCurrentMA [3]int64
	MaxPowerW    int64
	Expires      time.Time // zero: no EMS limit in force (withdrawn)
	TTLClamped   bool      // the TTL asked for exceeded the maximum

	GridLimitMA   [3]int64              // effective per-phase limit at the grid
	GridLimitKind [3]loadmgmt.LimitKind // what set it, per phase
	GridTotalMA   int64                 // bound on the phase sum (power limits); 0 none
	GridTotalKind loadmgmt.LimitKind
}

type emsState struct {
	limit  loadmgmt.EMSLimit
	public Effective
}

// SetEMSLimit puts an EMS limit in force at now (or withdraws it) and
// returns what is in force.
func (l *Loop) SetEMSLimit(req EMSLimit, now time.Time) Effective {
	eff := Effective{RequestID: req.RequestID}
	ttl := req.TTL
	if ttl > l.cfg.MaxTTL {
		ttl, eff.TTLClamped = l.cfg.MaxTTL, true
	}
	var next *emsState
	if ttl > 0 {
		for ph := range 3 {
			eff.MaxCurrentMA[ph] = max(0, req.MaxCurrentMA[ph])
		}
		eff.MaxPowerW = max(0, req.MaxPowerW)
		eff.Expires = now.Add(ttl)
		next = &emsState{
			limit:  loadmgmt.EMSLimit{MaxCurrentMA: eff.MaxCurrentMA, MaxPowerW: eff.MaxPowerW, Expires: eff.Expires},
			public: eff,
		}
	}
	l.mu.Lock()
	l.ems = next
	para := l.para14a
	l.mu.Unlock()
	if next != nil {
		l.log.Info("EMS limit set", "request", req.RequestID, "max_ma", eff.MaxCurrentMA, "max_w", eff.MaxPowerW, "expires", eff.Expires)
	} else {
		l.log.Info("EMS limit withdrawn", "request", req.RequestID)
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
	if last.Grid != nil && !last.Grid.At.IsZero() {
		s.Limits.Meters = []loadmgmt.MeterReading{{Node: l.rootNode, OtherLoadMA: last.Grid.OtherLoadMA, At: last.Grid.At}}
	}
	if ems != nil {
		s.Limits.EMS = []loadmgmt.EMSLimit{ems.limit}
	}
	s.Limits.Para14a = para
	if l.safety != nil {
		s.Limits.Temperatures = l.safety.Temperatures()
	}
	for _, nl := range loadmgmt.EffectiveLimits(now, s) {
		if nl.Node == l.rootNode {
			eff.GridLimitMA, eff.GridLimitKind = nl.LimitMA, nl.Kind
			eff.GridTotalMA, eff.GridTotalKind = nl.TotalMA, nl.TotalKind
		}
	}
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
