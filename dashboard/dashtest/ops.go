package dashtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/dashboard"
)

// Ops is a fake of every operator view, keyed by operator: a call for one
// operator never sees or changes another's data (the tenant rule the real
// adapters must keep too).
type Ops struct {
	mu      sync.Mutex // protects the fields below
	sites   map[string][]dashboard.Site
	alarms  map[string][]dashboard.Alarm
	live    map[string][]dashboard.LiveSession
	load    map[string][]dashboard.SiteLoad
	tariffs map[string][]dashboard.SiteTariff
	codes   map[string][]dashboard.AccessCode
	reports map[string][]dashboard.Report
	energy  map[string][]dashboard.DayEnergy
	Resets  []string // "operator/alarm by who", in order
}

// Interface guards.
var (
	_ dashboard.SiteView     = (*Ops)(nil)
	_ dashboard.AlarmControl = (*Ops)(nil)
	_ dashboard.SessionView  = (*Ops)(nil)
	_ dashboard.LoadViewer   = (*Ops)(nil)
	_ dashboard.TariffEditor = (*Ops)(nil)
	_ dashboard.CodeAdmin    = (*Ops)(nil)
	_ dashboard.ReportSource = (*Ops)(nil)
	_ dashboard.EnergyChart  = (*Ops)(nil)
)

// SeedEnergy sets an operator's daily energy.
func (o *Ops) SeedEnergy(op string, es []dashboard.DayEnergy) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.energy[op] = es
}

// EnergyPerDay returns op's daily energy in [from, to).
func (o *Ops) EnergyPerDay(_ context.Context, op string, from, to time.Time) ([]dashboard.DayEnergy, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []dashboard.DayEnergy
	for _, e := range o.energy[op] {
		if !e.Day.Before(from) && e.Day.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

// NewOps returns an empty fake.
func NewOps() *Ops {
	return &Ops{sites: map[string][]dashboard.Site{}, alarms: map[string][]dashboard.Alarm{}, live: map[string][]dashboard.LiveSession{},
		load: map[string][]dashboard.SiteLoad{}, tariffs: map[string][]dashboard.SiteTariff{}, codes: map[string][]dashboard.AccessCode{},
		reports: map[string][]dashboard.Report{}, energy: map[string][]dashboard.DayEnergy{}}
}

// Seed sets an operator's data.
func (o *Ops) Seed(op string, sites []dashboard.Site, alarms []dashboard.Alarm, live []dashboard.LiveSession,
	load []dashboard.SiteLoad, tariffs []dashboard.SiteTariff, codes []dashboard.AccessCode, reports []dashboard.Report) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sites[op], o.alarms[op], o.live[op], o.load[op] = sites, alarms, live, load
	o.tariffs[op], o.codes[op], o.reports[op] = tariffs, codes, reports
}

// Sites lists op's sites.
func (o *Ops) Sites(_ context.Context, op string) ([]dashboard.Site, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sites[op], nil
}

// Alarms lists op's alarms.
func (o *Ops) Alarms(_ context.Context, op string) ([]dashboard.Alarm, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]dashboard.Alarm(nil), o.alarms[op]...), nil
}

// ResetAlarm clears op's latched alarm id.
func (o *Ops) ResetAlarm(_ context.Context, op, id, by string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, a := range o.alarms[op] {
		if a.ID == id && a.Latched {
			o.alarms[op] = append(o.alarms[op][:i:i], o.alarms[op][i+1:]...)
			o.Resets = append(o.Resets, op+"/"+id+" by "+by)
			return nil
		}
	}
	return fmt.Errorf("alarm %q of %q: %w", id, op, dashboard.ErrNotFound)
}

// LiveSessions lists op's running sessions.
func (o *Ops) LiveSessions(_ context.Context, op string) ([]dashboard.LiveSession, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.live[op], nil
}

// Load returns op's load view.
func (o *Ops) Load(_ context.Context, op string) ([]dashboard.SiteLoad, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.load[op], nil
}

// Tariffs lists op's tariffs.
func (o *Ops) Tariffs(_ context.Context, op string) ([]dashboard.SiteTariff, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]dashboard.SiteTariff(nil), o.tariffs[op]...), nil
}

// SaveTariff replaces one of op's tariffs (same site and id).
func (o *Ops) SaveTariff(_ context.Context, op string, t dashboard.SiteTariff) error {
	if err := t.Tariff.Validate(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, x := range o.tariffs[op] {
		if x.Site == t.Site && x.Tariff.ID == t.Tariff.ID {
			o.tariffs[op][i] = t
			return nil
		}
	}
	return fmt.Errorf("tariff %s/%s of %q: %w", t.Site, t.Tariff.ID, op, dashboard.ErrNotFound)
}

// Codes lists op's access codes.
func (o *Ops) Codes(_ context.Context, op string) ([]dashboard.AccessCode, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]dashboard.AccessCode(nil), o.codes[op]...), nil
}

// CreateCode adds a code for op.
func (o *Ops) CreateCode(_ context.Context, op string, c dashboard.AccessCode) (dashboard.AccessCode, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.codes[op]) + 1
	c.ID, c.Code = fmt.Sprintf("%s-c%d", op, n), fmt.Sprintf("CODE-%04d", n)
	o.codes[op] = append(o.codes[op], c)
	return c, nil
}

// SetCodeGroup puts op's code id in group.
func (o *Ops) SetCodeGroup(_ context.Context, op, id, group string) (dashboard.AccessCode, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, c := range o.codes[op] {
		if c.ID == id {
			o.codes[op][i].Group = group
			return o.codes[op][i], nil
		}
	}
	return dashboard.AccessCode{}, fmt.Errorf("code %q of %q: %w", id, op, dashboard.ErrNotFound)
}

// RevokeCode revokes op's code id.
func (o *Ops) RevokeCode(_ context.Context, op, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, c := range o.codes[op] {
		if c.ID == id {
			o.codes[op][i].Revoked = true
			return nil
		}
	}
	return fmt.Errorf("code %q of %q: %w", id, op, dashboard.ErrNotFound)
}

// Reports lists op's reports.
func (o *Ops) Reports(_ context.Context, op string) ([]dashboard.ReportLink, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ls []dashboard.ReportLink
	for i, r := range o.reports[op] {
		ls = append(ls, dashboard.ReportLink{ID: fmt.Sprint(i), Title: r.Filename, Kind: r.ContentType})
	}
	return ls, nil
}

// Report returns op's report id.
func (o *Ops) Report(_ context.Context, op, id string) (dashboard.Report, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, r := range o.reports[op] {
		if fmt.Sprint(i) == id {
			return r, nil
		}
	}
	return dashboard.Report{}, fmt.Errorf("report %q of %q: %w", id, op, dashboard.ErrNotFound)
}
