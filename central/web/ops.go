package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// The operator dashboard's ports. Every method takes the logged-in
// user's operator and passes it to the store queries.

// Sites lists the operator's sites with each point's live state.
func (a *Adapter) Sites(ctx context.Context, operator string) ([]dashboard.Site, error) {
	sites, err := a.c.Catalog.Sites(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: sites: %w", err)
	}
	points, err := a.c.Catalog.Points(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: points: %w", err)
	}
	busy, err := a.busy(ctx, operator)
	if err != nil {
		return nil, err
	}
	now := a.now()
	out := make([]dashboard.Site, 0, len(sites))
	for _, s := range sites {
		online, err := a.siteOnline(ctx, s.ID, now)
		if err != nil {
			return nil, err
		}
		ds := dashboard.Site{ID: s.ID, Name: s.Name}
		for _, p := range points {
			if p.Site != s.ID {
				continue
			}
			var sess *session.Session
			if b, ok := busy[[2]string{p.Site, p.ID}]; ok {
				sess = &b
			}
			dp, err := a.pointState(ctx, p, online, sess, now)
			if err != nil {
				return nil, err
			}
			ds.Points = append(ds.Points, dp)
		}
		out = append(out, ds)
	}
	return out, nil
}

// alarmKinds maps the edge's safety events to alarms: the event that
// raises one, the event that clears it, the dashboard's kind.
var alarmKinds = []struct{ raise, clear, kind string }{
	{"safety-trip", "safety-reset", "fire"},
	{"safety-spd-tripped", "safety-spd-cleared", "spd"},
	{"safety-overtemp-stop", "safety-overtemp-clear", "temperature"},
}

// Alarms lists the safety alarms the operator's sites reported within
// EventWindow and have not cleared since.
func (a *Adapter) Alarms(ctx context.Context, operator string) ([]dashboard.Alarm, error) {
	sites, err := a.c.Catalog.Sites(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: sites: %w", err)
	}
	now := a.now()
	var out []dashboard.Alarm
	for _, s := range sites {
		evs, err := a.siteEvents(ctx, s.ID, now)
		if err != nil {
			return nil, err
		}
		out = append(out, alarmsOf(s.ID, evs)...)
	}
	return out, nil
}

// alarmsOf folds a site's events (oldest first) into its open alarms.
func alarmsOf(site string, evs []reading.Event) []dashboard.Alarm {
	open := map[string]dashboard.Alarm{}
	var order []string
	for _, e := range evs {
		for _, k := range alarmKinds {
			node := e.Attrs["node"]
			id := site + "~" + k.kind + "~" + node
			switch e.Kind {
			case k.raise:
				if _, ok := open[id]; !ok {
					order = append(order, id)
					open[id] = dashboard.Alarm{ID: id, Site: site, Kind: k.kind, Circuit: node, Since: e.Time, Latched: k.kind == "fire"}
				}
			case k.clear:
				if k.kind == "fire" { // a reset releases the site's whole latch
					for oid, al := range open {
						if al.Kind == "fire" {
							delete(open, oid)
						}
					}
				}
				delete(open, id)
			}
		}
	}
	var out []dashboard.Alarm
	for _, id := range order {
		if al, ok := open[id]; ok {
			out = append(out, al)
			delete(open, id)
		}
	}
	return out
}

// ResetAlarm asks the alarm's site to release its latch, if the site is
// the operator's.
func (a *Adapter) ResetAlarm(ctx context.Context, operator, alarmID, by string) error {
	site, _, _ := strings.Cut(alarmID, "~")
	if _, err := a.c.Catalog.Site(ctx, operator, site); err != nil {
		return notFound(err)
	}
	if a.c.Safety == nil {
		return errors.New("web: this central cannot send a safety reset to the edge")
	}
	if err := a.c.Safety.ResetSafety(ctx, site, by, "dashboard reset of alarm "+alarmID); err != nil {
		return fmt.Errorf("web: reset at %s: %w", site, err)
	}
	return nil
}

// LiveSessions lists the operator's running sessions with their power.
func (a *Adapter) LiveSessions(ctx context.Context, operator string) ([]dashboard.LiveSession, error) {
	busy, err := a.busy(ctx, operator)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.LiveSession, 0, len(busy))
	for _, s := range busy {
		p, err := a.progress(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, dashboard.LiveSession{ID: s.ID, Site: s.Site, Point: s.Point, Class: s.Tariff.Class, State: s.State,
			PowerW: p.PowerW, EnergyWh: p.EnergyWh, Started: p.Started, CostMinor: p.CostMinor, Currency: s.Tariff.Currency})
	}
	slices.SortFunc(out, func(x, y dashboard.LiveSession) int { return strings.Compare(x.Site+x.Point, y.Site+y.Point) })
	return out, nil
}

// eventEMSLimitSet is the edge's event for an EMS limit put in force.
const eventEMSLimitSet = "ems-limit-set"

// Load shows per site the EMS limit the edge reported in force (while it
// lasts) and the load its charge points' meters measure per phase.
func (a *Adapter) Load(ctx context.Context, operator string) ([]dashboard.SiteLoad, error) {
	sites, err := a.c.Catalog.Sites(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: sites: %w", err)
	}
	points, err := a.c.Catalog.Points(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: points: %w", err)
	}
	now := a.now()
	var out []dashboard.SiteLoad
	for _, s := range sites {
		sl := dashboard.SiteLoad{Site: s.ID}
		for _, p := range points {
			if p.Site != s.ID {
				continue
			}
			for i, q := range []string{reading.QCurrentL1MA, reading.QCurrentL2MA, reading.QCurrentL3MA} {
				r, ok, err := a.latest(ctx, s.ID, p.Meter, q, now.Add(-a.c.OfflineAfter))
				if err != nil {
					return nil, err
				}
				if ok && !r.Stale {
					sl.PhaseMA[i] += max(r.Value, 0)
				}
			}
		}
		evs, err := a.siteEvents(ctx, s.ID, now)
		if err != nil {
			return nil, err
		}
		if l, ok := emsLimit(evs, now); ok {
			sl.Limits = append(sl.Limits, l)
			sl.Binding, sl.BudgetMA = l.Name, l.CurrentMA
		}
		out = append(out, sl)
	}
	return out, nil
}

// emsLimit is the newest EMS limit among evs still in force at now.
func emsLimit(evs []reading.Event, now time.Time) (dashboard.Limit, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Kind != eventEMSLimitSet {
			continue
		}
		exp, err := time.Parse(time.RFC3339, e.Attrs["expires"])
		if err != nil || !exp.After(now) {
			return dashboard.Limit{}, false
		}
		l, found := dashboard.Limit{Name: "EMS", Expires: exp}, false
		if ma := e.Attrs["max_current_ma"]; ma != "" {
			for _, f := range strings.Split(ma, ",") {
				if v, err := strconv.ParseInt(f, 10, 64); err == nil && v >= 0 && (!found || v < l.CurrentMA) {
					l.CurrentMA, found = v, true
				}
			}
		} else if w, err := strconv.ParseInt(e.Attrs["max_power_w"], 10, 64); err == nil && w >= 0 {
			l.CurrentMA, found = w*1000/(3*230), true // per phase at 230 V nominal
		}
		return l, found
	}
	return dashboard.Limit{}, false
}

// Tariffs lists, per site of the operator, the tariffs its points offer.
func (a *Adapter) Tariffs(ctx context.Context, operator string) ([]dashboard.SiteTariff, error) {
	offered, err := a.offered(ctx, operator)
	if err != nil {
		return nil, err
	}
	ts, err := a.c.Catalog.Tariffs(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: tariffs: %w", err)
	}
	var out []dashboard.SiteTariff
	for _, site := range slices.Sorted(keys(offered)) {
		for _, t := range ts {
			if offered[site][t.Tariff.ID] && !t.Retired {
				out = append(out, dashboard.SiteTariff{Site: site, Tariff: t.Tariff})
			}
		}
	}
	return out, nil
}

func keys(m map[string]map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// offered maps the operator's sites to the tariff ids their points offer.
func (a *Adapter) offered(ctx context.Context, operator string) (map[string]map[string]bool, error) {
	points, err := a.c.Catalog.Points(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: points: %w", err)
	}
	out := map[string]map[string]bool{}
	for _, p := range points {
		if out[p.Site] == nil {
			out[p.Site] = map[string]bool{}
		}
		for _, id := range p.Tariffs {
			out[p.Site][id] = true
		}
	}
	return out, nil
}

// SaveTariff stores a new version of a tariff offered at one of the
// operator's sites. Tariffs belong to the operator: the new version is
// in force at every site offering it; running sessions keep theirs.
func (a *Adapter) SaveTariff(ctx context.Context, operator string, t dashboard.SiteTariff) error {
	offered, err := a.offered(ctx, operator)
	if err != nil {
		return err
	}
	if !offered[t.Site][t.Tariff.ID] {
		return fmt.Errorf("tariff %s at site %s: %w", t.Tariff.ID, t.Site, dashboard.ErrNotFound)
	}
	ct := catalog.Tariff{Operator: operator, Tariff: t.Tariff}
	if err := ct.Validate(); err != nil {
		return fmt.Errorf("%w: %w", dashboard.ErrInvalidInput, err)
	}
	if _, err := a.c.Catalog.PutTariff(ctx, ct, a.now()); err != nil {
		return fmt.Errorf("web: save tariff %s: %w", t.Tariff.ID, err)
	}
	return nil
}

// codeSecret is the secret of a code made in the dashboard: derived from
// CodeKey, so the codes page can show it again.
func (a *Adapter) codeSecret(operator, id string) string {
	m := hmac.New(sha256.New, a.c.CodeKey)
	m.Write([]byte("parkgrid dashboard access code\x00" + operator + "\x00" + id))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil))[:12])
}

// Codes lists the operator's access codes.
func (a *Adapter) Codes(ctx context.Context, operator string) ([]dashboard.AccessCode, error) {
	cs, err := a.c.Codes.Codes(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("web: codes: %w", err)
	}
	out := make([]dashboard.AccessCode, 0, len(cs))
	for _, c := range cs {
		out = append(out, a.codeView(c))
	}
	return out, nil
}

func (a *Adapter) codeView(c accesscode.Code) dashboard.AccessCode {
	v := dashboard.AccessCode{ID: c.ID, Kind: string(c.Kind), Label: c.Label, Group: c.Group, UsesLeft: -1, ValidUntil: c.ValidUntil,
		Revoked: c.Revoked, Uses: c.Uses}
	if c.Kind == accesscode.KindCostCentre {
		v.Kind = "cost-centre"
	}
	if c.MaxUses > 0 {
		v.UsesLeft = max(c.MaxUses-c.Uses, 0)
	}
	if s := a.codeSecret(c.Operator, c.ID); catalog.SecretMatches(s, c.Hash) {
		v.Code = s // made here; a code made through the API shows no secret
	}
	return v
}

// CreateCode makes an access code for the operator. A cost-centre code
// bills the centre named by its label.
func (a *Adapter) CreateCode(ctx context.Context, operator string, c dashboard.AccessCode) (dashboard.AccessCode, error) {
	id, err := catalog.NewID("code-")
	if err != nil {
		return dashboard.AccessCode{}, fmt.Errorf("web: code id: %w", err)
	}
	now := a.now().UTC()
	kind := accesscode.Kind(c.Kind)
	if c.Kind == "cost-centre" {
		kind = accesscode.KindCostCentre
	}
	code := accesscode.Code{ID: id, Operator: operator, Kind: kind, Label: c.Label, Group: c.Group, ValidFrom: now, ValidUntil: c.ValidUntil,
		CreatedAt: now, Hash: catalog.HashSecret(a.codeSecret(operator, id))}
	if kind == accesscode.KindCostCentre {
		code.CostCentre = c.Label
	}
	if c.UsesLeft > 0 && kind != accesscode.KindFlatrate {
		code.MaxUses = c.UsesLeft
	}
	if err := a.c.Codes.Create(ctx, code); err != nil {
		if errors.Is(err, accesscode.ErrInvalid) {
			return dashboard.AccessCode{}, fmt.Errorf("%w: %w", dashboard.ErrInvalidInput, err)
		}
		return dashboard.AccessCode{}, fmt.Errorf("web: create code: %w", err)
	}
	return a.codeView(code), nil
}

// SetCodeGroup puts one of the operator's codes in a user group ("" none),
// keeping the rest of the code as it is.
func (a *Adapter) SetCodeGroup(ctx context.Context, operator, id, group string) (dashboard.AccessCode, error) {
	c, err := a.c.Codes.Code(ctx, operator, id)
	if err != nil {
		return dashboard.AccessCode{}, notFound(err)
	}
	c, err = a.c.Codes.Update(ctx, operator, id, accesscode.Edit{Label: c.Label, Group: group, CostCentre: c.CostCentre,
		ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil, MaxUses: c.MaxUses})
	switch {
	case errors.Is(err, accesscode.ErrInvalid):
		return dashboard.AccessCode{}, fmt.Errorf("%w: %w", dashboard.ErrInvalidInput, err)
	case err != nil:
		return dashboard.AccessCode{}, notFound(err)
	}
	return a.codeView(c), nil
}

// RevokeCode revokes one of the operator's codes.
func (a *Adapter) RevokeCode(ctx context.Context, operator, id string) error {
	if _, err := a.c.Codes.Revoke(ctx, operator, id, a.now()); err != nil {
		return notFound(err)
	}
	return nil
}

// The reports offered: id → title, the report handler's path and query.
var reportList = []struct{ id, title, kind, path string }{
	{"usage-site-csv", "kWh per site and month (CSV)", "csv", "/usage?by=site&period=month&format=csv"},
	{"usage-site-xlsx", "kWh per site and month (XLSX)", "xlsx", "/usage?by=site&period=month&format=xlsx"},
	{"usage-costcentre-csv", "kWh per cost centre and month (CSV)", "csv", "/usage?by=costcentre&period=month&format=csv"},
	{"usage-group-csv", "kWh per user group and month (CSV; public: without a code)", "csv", "/usage?by=group&period=month&format=csv"},
	{"usage-group-xlsx", "kWh per user group and month (XLSX)", "xlsx", "/usage?by=group&period=month&format=xlsx"},
	{"usage-code-csv", "kWh per access code and month, with its group (CSV)", "csv", "/usage?by=accesscode&period=month&format=csv"},
	{"register-csv", "BNetzA charging-point register (CSV)", "csv", "/register?format=csv"},
	{"register-xlsx", "BNetzA charging-point register (XLSX)", "xlsx", "/register?format=xlsx"},
}

// Reports lists the downloadable reports.
func (a *Adapter) Reports(context.Context, string) ([]dashboard.ReportLink, error) {
	out := make([]dashboard.ReportLink, 0, len(reportList))
	for _, r := range reportList {
		out = append(out, dashboard.ReportLink{ID: r.id, Title: r.title, Kind: r.kind})
	}
	return out, nil
}

// Report builds one report of the operator's data (usage: the last 12
// months up to tomorrow) through central/report's handler.
func (a *Adapter) Report(ctx context.Context, operator, id string) (dashboard.Report, error) {
	i := slices.IndexFunc(reportList, func(r struct{ id, title, kind, path string }) bool { return r.id == id })
	if i < 0 {
		return dashboard.Report{}, fmt.Errorf("report %q: %w", id, dashboard.ErrNotFound)
	}
	path := reportList[i].path
	if strings.HasPrefix(path, "/usage") {
		to := a.now().UTC().AddDate(0, 0, 1)
		path += "&from=" + to.AddDate(-1, 0, 0).Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly)
	}
	req := httptest.NewRequestWithContext(ContextWithOperator(ctx, operator), http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	a.c.Reports.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return dashboard.Report{}, fmt.Errorf("web: report %s: %d %s", id, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	name := id + "." + reportList[i].kind
	if _, p, ok := strings.Cut(rec.Header().Get("Content-Disposition"), "filename="); ok {
		name = strings.Trim(p, `"`)
	}
	return dashboard.Report{Filename: name, ContentType: rec.Header().Get("Content-Type"), Data: rec.Body.Bytes()}, nil
}

// EnergyPerDay sums the operator's invoiced energy per site and UTC day
// of the signed end.
func (a *Adapter) EnergyPerDay(ctx context.Context, operator string, from, to time.Time) ([]dashboard.DayEnergy, error) {
	q := report.Query{Operator: operator, From: from, To: to}
	rows, err := a.c.Usage.Rows(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("web: usage: %w", err)
	}
	u, err := report.Summarize(q, rows, report.BySite, report.PeriodDay, time.UTC)
	if err != nil {
		return nil, fmt.Errorf("web: usage: %w", err)
	}
	out := make([]dashboard.DayEnergy, 0, len(u.Lines))
	for _, l := range u.Lines {
		out = append(out, dashboard.DayEnergy{Day: l.PeriodStart, Site: l.Key, EnergyWh: l.EnergyWh})
	}
	return out, nil
}
