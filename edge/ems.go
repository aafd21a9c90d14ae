package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/loadmgmt"
	"go.yaml.in/yaml/v3"
)

// This file adapts the edge daemon (control loop, safety latch, site
// state) to the EMS API's Source, Controller and ConfigView.

// Interface guards.
var (
	_ emsapi.Source     = (*emsAdapter)(nil)
	_ emsapi.Controller = (*emsAdapter)(nil)
	_ emsapi.ConfigView = (*emsAdapter)(nil)
)

// emsAdapter is the edge daemon as the EMS API sees it.
type emsAdapter struct {
	d *Daemon
	// onLimit, if set, is told of every limit the adapter put in force
	// (the uplink turns it into an event). It must not block.
	onLimit func(req emsapi.LimitRequest, eff control.Effective, now time.Time)
}

// Site implements emsapi.Source.
func (a *emsAdapter) Site() emsapi.SiteState {
	st := a.d.control.Status()
	out := emsapi.SiteState{
		Site:         a.d.site.ID,
		At:           st.At,
		AlarmLatched: a.d.safety.Latched(),
		Limits:       a.limits(st),
	}
	if g := st.Grid; g != nil {
		out.CurrentMA, out.PowerW, out.SafeBudget = g.CurrentMA, g.PowerW, g.Stale
	} else {
		out.CurrentMA, out.PowerW = st.EVCurrentMA, st.EVPowerW
	}
	return out
}

// limits are the grid connection's effective limit (what binds now, by
// source) and the EMS limit while it lasts.
func (a *emsAdapter) limits(st control.Status) []emsapi.Limit {
	var out []emsapi.Limit
	for _, nl := range st.Limits {
		if nl.Node != a.d.site.Grid.ID {
			continue
		}
		ma := nl.LimitMA
		l := emsapi.Limit{Source: limitSource(bindingKind(nl.Kind, nl.TotalKind, nl.TotalMA)), MaxCurrentMA: &ma}
		if nl.TotalMA > 0 {
			w := totalMAToW(nl.TotalMA)
			l.MaxPowerW = &w
		}
		out = append(out, l)
	}
	if e := st.EMS; e != nil {
		out = append(out, emsLimitOf(*e))
	}
	return out
}

// emsLimitOf is the EMS limit as accepted (unset dimensions nil; 0 is a
// limit and reads 0).
func emsLimitOf(e control.Effective) emsapi.Limit {
	l := emsapi.Limit{Source: "ems", RequestID: e.RequestID}
	if e.MaxCurrentMA != nil {
		ma := *e.MaxCurrentMA
		l.MaxCurrentMA = &ma
	}
	if e.MaxPowerW != nil {
		w := *e.MaxPowerW
		l.MaxPowerW = &w
	}
	if !e.Expires.IsZero() {
		t := e.Expires
		l.ExpiresAt = &t
	}
	return l
}

// bindingKind is the source that binds the node: the EMS if it sets any
// phase or the power total, else the kind on the lowest phase limit.
func bindingKind(kinds [3]loadmgmt.LimitKind, totalKind loadmgmt.LimitKind, totalMA int64) loadmgmt.LimitKind {
	if slices.Contains(kinds[:], loadmgmt.LimitEMS) || (totalMA > 0 && totalKind == loadmgmt.LimitEMS) {
		return loadmgmt.LimitEMS
	}
	if totalMA > 0 && totalKind != loadmgmt.LimitNone {
		return totalKind
	}
	return kinds[0]
}

// limitSource names a loadmgmt limit kind as the EMS API documents it.
func limitSource(k loadmgmt.LimitKind) string {
	switch k {
	case loadmgmt.LimitMeter:
		return "grid"
	case loadmgmt.LimitPara14a:
		return "14a"
	case loadmgmt.LimitNone:
		return "fuse"
	}
	return string(k)
}

// totalMAToW turns a bound on the sum of the phase currents into W at the
// nominal voltage (the inverse of how loadmgmt turns power into current).
func totalMAToW(totalMA int64) int64 { return totalMA * loadmgmt.NominalVoltageV / 1000 }

// Points implements emsapi.Source.
func (a *emsAdapter) Points() []emsapi.PointState {
	st := a.d.control.Status()
	out := make([]emsapi.PointState, 0, len(st.Points))
	for _, p := range st.Points {
		ps := emsapi.PointState{
			ID:         p.ID,
			At:         st.At,
			CurrentMA:  p.CurrentMA,
			SetpointMA: p.SetpointMA,
			PowerW:     p.PowerW,
			EnergyWh:   p.EnergyWh,
			Stale:      p.ControllerStale || p.MeterStale,
		}
		if len(p.State) == 1 && p.State[0] >= 'A' && p.State[0] <= 'F' {
			ps.State = p.State
		}
		switch {
		case p.Blocked != "":
			ps.Limiting = "alarm"
		case p.Reason != "" && p.Reason != "no car":
			ps.Limiting = p.Reason
		}
		out = append(out, ps)
	}
	return out
}

// Alarms implements emsapi.Source: the safety latch, open SPDs, stopped
// circuits, missing sensors, and the edge's own alarms (uplink).
func (a *emsAdapter) Alarms() []emsapi.Alarm {
	now := a.d.clk.Now()
	st := a.d.safety.Status()
	var out []emsapi.Alarm
	present, detail := a.d.safety.Present(now)
	if st.Latched || present != "" {
		cause := st.Cause
		if !st.Latched {
			cause = present
		}
		since := st.TrippedAt
		if since.IsZero() {
			since = now
		}
		msg := "fire-alarm latch set: every charger held at 0 A until an operator resets it"
		if present != "" {
			msg += " (" + detail + ")"
		}
		out = append(out, emsapi.Alarm{ID: "fire", Kind: string(cause), Message: msg, Since: since, Active: present != "", Latched: st.Latched})
	}
	eventSince := func(kind safety.EventKind, node string) time.Time {
		for i := len(st.Events) - 1; i >= 0; i-- {
			if e := st.Events[i]; e.Kind == kind && e.Node == node {
				return e.At
			}
		}
		return now
	}
	for _, n := range st.SPDTripped {
		out = append(out, emsapi.Alarm{ID: "spd/" + n, Kind: "spd", Message: fmt.Sprintf("surge protection of %q tripped: its charge points are stopped", n), Since: eventSince(safety.EventSPDTripped, n), Active: true})
	}
	for _, n := range st.Overtemp {
		out = append(out, emsapi.Alarm{ID: "over-temperature/" + n, Kind: "over-temperature", Message: fmt.Sprintf("%q above its stop temperature: its charge points are stopped", n), Since: eventSince(safety.EventOvertemp, n), Active: true})
	}
	for _, n := range st.NoSensor {
		out = append(out, emsapi.Alarm{ID: "sensor-offline/" + n, Kind: "sensor-offline", Message: fmt.Sprintf("no fresh temperature for %q: derated as if at its last reading or its lost_c", n), Since: eventSince(safety.EventSensorOffline, n), Active: true})
	}
	return append(append(out, a.controlAlarms(now)...), a.d.alarms.list()...)
}

// controlAlarms are what the control loop finds wrong in the field: a
// grid meter reading a negative current, chargers that do not hold their
// failsafe or draw more than they offer.
func (a *emsAdapter) controlAlarms(now time.Time) []emsapi.Alarm {
	st := a.d.control.Status()
	var out []emsapi.Alarm
	if g := st.Grid; g != nil && g.Reversed {
		out = append(out, emsapi.Alarm{ID: "grid-meter-reversed", Kind: "grid-meter-reversed", Since: now, Active: true,
			Message: fmt.Sprintf("grid meter %q reads a negative current (%v mA): current transformer reversed? the site runs on its safe budget", g.Meter, g.CurrentMA)})
	}
	for _, p := range st.Points {
		switch {
		case p.Failsafe == control.FailsafeFailed:
			out = append(out, emsapi.Alarm{ID: "failsafe/" + p.ID, Kind: "failsafe", Since: now, Active: true,
				Message: fmt.Sprintf("charger %q does not hold its fallback current and watchdog: a silent edge would leave it at its last setpoint", p.ID)})
		case p.Reason == "draws more than offered: paused":
			out = append(out, emsapi.Alarm{ID: "overdraw/" + p.ID, Kind: "overdraw", Since: now, Active: true,
				Message: fmt.Sprintf("charge point %q draws more than its charger offers (setpoint ignored or contactor welded): paused, counted at its metered current", p.ID)})
		}
	}
	return out
}

// SetLimit implements emsapi.Controller. A limit caps the grid connection
// (chargers plus the other load the grid meter measures; docs/ems.md); 0 A
// or 0 W is a limit that stops every car and reads 0.
func (a *emsAdapter) SetLimit(_ context.Context, req emsapi.LimitRequest, now time.Time) (emsapi.Limit, error) {
	lim := control.EMSLimit{RequestID: req.RequestID, TTL: req.TTL, Scope: control.ScopeConnection}
	if req.Scope == emsapi.ScopeEV {
		lim.Scope = control.ScopeEV
	}
	if req.MaxCurrentMA != nil {
		ma := *req.MaxCurrentMA
		lim.MaxCurrentMA = &ma
	}
	if req.MaxPowerW != nil {
		w := *req.MaxPowerW
		lim.MaxPowerW = &w
	}
	if req.Withdraw {
		lim.TTL = 0 // control: TTL ≤ 0 withdraws the limit in force
	} else if req.TTL <= 0 {
		return emsapi.Limit{}, fmt.Errorf("%w: ttl %s must be > 0", emsapi.ErrInvalid, req.TTL)
	}
	eff := a.d.control.SetEMSLimit(lim, now)
	if a.onLimit != nil {
		a.onLimit(req, eff, now)
	}
	ma := eff.GridLimitMA
	out := emsapi.Limit{
		Source:       limitSource(bindingKind(eff.GridLimitKind, eff.GridTotalKind, eff.GridTotalMA)),
		MaxCurrentMA: &ma,
		RequestID:    req.RequestID,
	}
	switch {
	case eff.GridTotalMA > 0 && eff.GridTotalKind == loadmgmt.LimitEMS && req.MaxPowerW != nil:
		w := *req.MaxPowerW // as asked, not rounded through mA
		out.MaxPowerW = &w
	case eff.GridTotalMA > 0:
		w := totalMAToW(eff.GridTotalMA)
		out.MaxPowerW = &w
	}
	if !eff.Expires.IsZero() {
		t := eff.Expires
		out.ExpiresAt = &t
	}
	return out, nil
}

// ResetAlarm implements emsapi.Controller: it releases the safety latch.
// Refusals (not latched, alarm still present) are conflicts (409).
func (a *emsAdapter) ResetAlarm(_ context.Context, who, why string, now time.Time) error {
	err := a.d.safety.Reset(who, why, now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, safety.ErrNotLatched), errors.Is(err, safety.ErrAlarmPresent):
		return fmt.Errorf("%w: %w", emsapi.ErrConflict, err)
	case who == "" || why == "":
		return fmt.Errorf("%w: %w", emsapi.ErrInvalid, err)
	}
	return err
}

// RedactedConfig implements emsapi.ConfigView: the site file as loaded,
// without secrets (the uplink's and the EMS broker's passwords, the InfluxDB
// token; paths of keys and token files stay: they are no secret).
func (a *emsAdapter) RedactedConfig() any {
	c := *a.d.site
	if c.EMS.MQTT != nil {
		m := *c.EMS.MQTT
		if m.Password != "" {
			m.Password = "<redacted>"
		}
		c.EMS.MQTT = &m
	}
	if c.Uplink != nil {
		u := *c.Uplink
		if u.Password != "" {
			u.Password = "<redacted>"
		}
		c.Uplink = &u
	}
	if c.Influx != nil {
		in := *c.Influx
		if in.Token != "" {
			in.Token = "<redacted>"
		}
		c.Influx = &in
	}
	return redactedSite{Site: &c}
}

// redactedSite wraps a site so its JSON carries the YAML field names.
type redactedSite struct{ *config.Site }

// MarshalJSON encodes the site through its YAML tags (config.Site has no
// JSON tags), so the API shows the names of the site file.
func (r redactedSite) MarshalJSON() ([]byte, error) { return yamlToJSON(r.Site) }

// yamlToJSON encodes v as YAML and that document as JSON, so the JSON
// keys are v's YAML names.
func yamlToJSON(v any) ([]byte, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("re-read config: %w", err)
	}
	return json.Marshal(doc)
}

// edgeAlarms are alarms the daemon raises itself (the uplink's), shown by
// the EMS API beside safety's.
type edgeAlarms struct {
	mu sync.Mutex // protects the field below
	m  map[string]emsapi.Alarm
}

// set raises (or updates) the alarm a.ID; its Since is kept if already set.
func (e *edgeAlarms) set(a emsapi.Alarm) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]emsapi.Alarm{}
	}
	if old, ok := e.m[a.ID]; ok {
		a.Since = old.Since
	}
	a.Active = true
	e.m[a.ID] = a
}

// clear drops the alarm id.
func (e *edgeAlarms) clear(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, id)
}

// list returns the alarms sorted by id.
func (e *edgeAlarms) list() []emsapi.Alarm {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]emsapi.Alarm, 0, len(e.m))
	for _, a := range e.m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y emsapi.Alarm) int {
		if x.ID < y.ID {
			return -1
		}
		if x.ID > y.ID {
			return 1
		}
		return 0
	})
	return out
}
