package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// The driver app's port: dashboard.Driver.

// Point returns a point's page data with its live state.
func (a *Adapter) Point(ctx context.Context, id string) (dashboard.PointInfo, error) {
	site, pid, err := splitPoint(id)
	if err != nil {
		return dashboard.PointInfo{}, err
	}
	p, err := a.c.Catalog.Point(ctx, site, pid)
	if err != nil {
		return dashboard.PointInfo{}, notFound(err)
	}
	op, err := a.c.Catalog.Operator(ctx, p.Operator)
	if err != nil {
		return dashboard.PointInfo{}, fmt.Errorf("web: operator of %s: %w", id, err)
	}
	s, err := a.c.Catalog.Site(ctx, p.Operator, p.Site)
	if err != nil {
		return dashboard.PointInfo{}, fmt.Errorf("web: site of %s: %w", id, err)
	}
	now := a.now()
	online, err := a.siteOnline(ctx, p.Site, now)
	if err != nil {
		return dashboard.PointInfo{}, err
	}
	busy, err := a.busy(ctx, p.Operator)
	if err != nil {
		return dashboard.PointInfo{}, err
	}
	var sess *session.Session
	if s, ok := busy[[2]string{p.Site, p.ID}]; ok {
		sess = &s
	}
	live, err := a.pointState(ctx, p, online, sess, now)
	if err != nil {
		return dashboard.PointInfo{}, err
	}
	connector := "Type 2"
	if len(p.Plugs) > 0 {
		connector = strings.TrimPrefix(p.Plugs[0], "AC Steckdose ")
	}
	return dashboard.PointInfo{ID: id, Operator: p.Operator, Label: p.ID, SiteName: s.Name, Address: s.Address,
		MaxPowerW: p.MaxPowerW, Connector: connector, State: live.State, HoldMinor: op.HoldMinor, Currency: op.Currency}, nil
}

// Preview returns the point's tariffs as shown before the start.
func (a *Adapter) Preview(ctx context.Context, id string) ([]tariff.Preview, error) {
	ts, err := a.pointTariffs(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]tariff.Preview, 0, len(ts))
	for _, t := range ts {
		pv, err := tariff.NewPreview(t.Tariff)
		if err != nil {
			return nil, fmt.Errorf("web: preview of tariff %s: %w", t.Tariff.ID, err)
		}
		out = append(out, pv)
	}
	return out, nil
}

// pointTariffs returns the current versions of the tariffs a point offers.
func (a *Adapter) pointTariffs(ctx context.Context, id string) ([]catalog.Tariff, error) {
	site, pid, err := splitPoint(id)
	if err != nil {
		return nil, err
	}
	p, err := a.c.Catalog.Point(ctx, site, pid)
	if err != nil {
		return nil, notFound(err)
	}
	var out []catalog.Tariff
	for _, tid := range p.Tariffs {
		t, err := a.c.Catalog.Tariff(ctx, p.Operator, tid)
		if errors.Is(err, catalog.ErrNotFound) {
			continue // retired
		}
		if err != nil {
			return nil, fmt.Errorf("web: tariff %s: %w", tid, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Start posts the start to central/api's handler in-process.
func (a *Adapter) Start(ctx context.Context, r dashboard.StartRequest) (dashboard.StartResult, error) {
	site, pid, err := splitPoint(r.Point)
	if err != nil {
		return dashboard.StartResult{}, err
	}
	ts, err := a.pointTariffs(ctx, r.Point)
	if err != nil {
		return dashboard.StartResult{}, err
	}
	tid := ""
	for _, t := range ts {
		if t.Tariff.Class == r.Class {
			tid = t.Tariff.ID
			break
		}
	}
	if tid == "" {
		return dashboard.StartResult{}, fmt.Errorf("no %s tariff at %s: %w", r.Class, r.Point, dashboard.ErrInvalidInput)
	}
	clientID, err := catalog.NewID("web-")
	if err != nil {
		return dashboard.StartResult{}, fmt.Errorf("web: client id: %w", err)
	}
	req := api.StartRequest{ClientID: clientID, Site: site, Point: pid, Tariff: tid, Email: r.Email}
	switch r.Method {
	case dashboard.PayCode:
		req.Code = r.AccessCode
	case dashboard.PayCard, dashboard.PayPayPal:
		if a.c.Provider == "" || (r.Method == dashboard.PayPayPal) != (a.c.Provider == "paypal") {
			return dashboard.StartResult{}, fmt.Errorf("payment %s not offered: %w", r.Method, dashboard.ErrInvalidInput)
		}
		req.Payment = a.c.Provider
		// The hosted payment page (Stripe Checkout, PayPal) sends the
		// driver back to the point's return page either way; Status then
		// confirms the hold.
		req.ReturnURL, req.CancelURL = r.ReturnURL, r.ReturnURL
	default:
		return dashboard.StartResult{}, fmt.Errorf("payment %q: %w", r.Method, dashboard.ErrInvalidInput)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return dashboard.StartResult{}, err
	}
	hr := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/sessions", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.c.API.ServeHTTP(rec, hr)
	if rec.Code != http.StatusCreated && rec.Code != http.StatusOK {
		return dashboard.StartResult{}, startError(rec.Code, rec.Body.Bytes())
	}
	var ans api.StartAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		return dashboard.StartResult{}, fmt.Errorf("web: start answer: %w", err)
	}
	if ans.Session.State == session.StateFailed {
		return dashboard.StartResult{}, fmt.Errorf("session %s: %w", ans.Session.ID, dashboard.ErrDeclined)
	}
	a.log.Info("driver started a session in the web app", "session", ans.Session.ID, "point", r.Point, "edge", ans.Edge)
	return dashboard.StartResult{SessionID: ans.Session.ID, RedirectURL: ans.ApproveURL}, nil
}

// startError maps the API's refusal to the dashboard's errors.
func startError(status int, body []byte) error {
	var e struct {
		Error api.Error `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	msg := e.Error.Message
	switch {
	case e.Error.Code == "code_refused" && strings.Contains(msg, "unknown"):
		return fmt.Errorf("%s: %w", msg, dashboard.ErrCodeInvalid)
	case e.Error.Code == "code_refused":
		return fmt.Errorf("%s: %w", msg, dashboard.ErrCodeExpired)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", msg, dashboard.ErrNotFound)
	case status == http.StatusBadRequest || status == http.StatusConflict:
		return fmt.Errorf("%s: %w", msg, dashboard.ErrInvalidInput)
	case status == http.StatusPaymentRequired:
		return fmt.Errorf("%s: %w", msg, dashboard.ErrDeclined)
	}
	return fmt.Errorf("web: start: api answered %d: %s", status, msg)
}

// driverSession reads a session started by a driver (the catalog holds
// its start), so no operator-side id is served to the driver app.
func (a *Adapter) driverSession(ctx context.Context, id string) (session.Session, error) {
	if _, err := a.c.Catalog.StartOf(ctx, id); err != nil {
		return session.Session{}, notFound(err)
	}
	s, err := a.c.Store.Session(ctx, id)
	if err != nil {
		return session.Session{}, notFound(err)
	}
	return s, nil
}

// Status returns a session's progress: the billed figures once completed,
// before that the live estimate from the meter's samples. A session still
// waiting for its hold is confirmed first: the driver's page asks for the
// status when the driver is back from the hosted payment page.
func (a *Adapter) Status(ctx context.Context, id string) (dashboard.Progress, error) {
	s, err := a.driverSession(ctx, id)
	if err != nil {
		return dashboard.Progress{}, err
	}
	if s.State == session.StateCreated && s.HoldID != "" && a.c.Holds != nil {
		moved, edge, err := a.c.Holds.ConfirmHold(ctx, id)
		if err != nil {
			// The page shows the session as it is; the webhook or a reload
			// confirms it later.
			a.log.Warn("web: confirm hold", "session", id, "err", err)
		} else if s = moved; s.State != session.StateCreated {
			a.log.Info("web: hold confirmed", "session", id, "state", s.State, "edge", edge)
		}
	}
	return a.progress(ctx, s)
}

func (a *Adapter) progress(ctx context.Context, s session.Session) (dashboard.Progress, error) {
	now := a.now()
	p := dashboard.Progress{SessionID: s.ID, Point: PointID(s.Site, s.Point), State: s.State, Currency: s.Tariff.Currency,
		ReceiptReady: s.State == session.StateInvoiced && s.InvoiceNumber != 0}
	trs, err := a.c.Store.Transitions(ctx, s.ID)
	if err != nil {
		return p, fmt.Errorf("web: transitions of %s: %w", s.ID, err)
	}
	end := now
	for _, tr := range trs {
		if tr.To == session.StateCharging && p.Started.IsZero() {
			p.Started = tr.At
		}
		if tr.To == session.StateStopping || tr.To == session.StateCompleted {
			end = tr.At
		}
		if tr.To == session.StateFailed {
			p.Failure = failure(tr.Cause)
		}
	}
	switch {
	case s.Billing != nil:
		p.EnergyWh, p.CostMinor = s.Billing.EnergyWh, s.Billing.Price.GrossMinor
		p.Started, p.Duration = s.Billing.Start, s.Billing.End.Sub(s.Billing.Start)
	case s.State == session.StateCharging || s.State == session.StateStopping:
		if !p.Started.IsZero() {
			p.Duration = max(end.Sub(p.Started), 0)
		}
		if a.c.Live != nil {
			wh, since, ok, err := a.c.Live.EnergySoFar(ctx, s)
			if err != nil {
				a.log.Warn("web: live energy", "session", s.ID, "err", err)
			}
			if ok && err == nil {
				p.EnergyWh = wh
				if pr, err := tariff.Price(s.Tariff, wh, max(end.Sub(since), 0)); err == nil {
					p.CostMinor = pr.GrossMinor
				}
			}
		}
		if s.State == session.StateCharging {
			if r, ok, err := a.latest(ctx, s.Site, s.Meter, reading.QPowerW, now.Add(-a.c.OfflineAfter)); err == nil && ok && !r.Stale {
				p.PowerW = max(r.Value, 0)
			}
		}
	}
	return p, nil
}

// failure names why a session failed for the driver's page.
func failure(cause string) string {
	c := strings.ToLower(cause)
	switch {
	case strings.Contains(c, "declin"):
		return "declined"
	case strings.Contains(c, "offline"):
		return "offline"
	case strings.Contains(c, "fault"):
		return "faulted"
	}
	return cause
}

// Subscribe polls the session every Poll and sends its progress whenever
// it changed; the channel closes when ctx ends or the session is final.
func (a *Adapter) Subscribe(ctx context.Context, id string) (<-chan dashboard.Progress, error) {
	if _, err := a.driverSession(ctx, id); err != nil {
		return nil, err
	}
	out := make(chan dashboard.Progress, 1)
	go func() {
		defer close(out)
		t := time.NewTicker(a.c.Poll)
		defer t.Stop()
		var last dashboard.Progress
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s, err := a.c.Store.Session(ctx, id)
			if err != nil {
				a.log.Warn("web: progress", "session", id, "err", err)
				continue
			}
			p, err := a.progress(ctx, s)
			if err != nil {
				a.log.Warn("web: progress", "session", id, "err", err)
				continue
			}
			cmp := p
			cmp.Duration = last.Duration // the clock alone is no news
			if cmp == last {
				continue
			}
			last = p
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
			if s.State.Final() {
				return
			}
		}
	}()
	return out, nil
}

// Stop ends a driver's session as the API's stop does: cancelled before
// charging, stopping while charging, and the edge told either way.
func (a *Adapter) Stop(ctx context.Context, id string) error {
	s, err := a.driverSession(ctx, id)
	if err != nil {
		return err
	}
	now := a.now()
	switch s.State {
	case session.StateCreated, session.StateAuthorized:
		s, err = a.c.Sessions.Cancel(ctx, id, "driver stopped before charging (web app)", now)
	case session.StateCharging:
		s, err = a.c.Sessions.Stop(ctx, id, "driver stopped (web app)", now)
	case session.StateStopping:
	default:
		return nil // already over
	}
	if err != nil && !errors.Is(err, session.ErrIllegalTransition) {
		return fmt.Errorf("web: stop session %s: %w", id, err)
	}
	if err := a.c.Edge.Stop(ctx, s.Site, s.Point, id); err != nil {
		a.log.Warn("web: stop point at the edge", "session", id, "site", s.Site, "point", s.Point, "err", err)
	}
	return nil
}

// Receipt renders an invoiced session's receipt.
func (a *Adapter) Receipt(ctx context.Context, id string) (dashboard.Receipt, error) {
	s, err := a.driverSession(ctx, id)
	if err != nil {
		return dashboard.Receipt{}, err
	}
	if s.State != session.StateInvoiced || s.InvoiceNumber == 0 {
		return dashboard.Receipt{}, fmt.Errorf("no receipt yet, the session is %s: %w", s.State, dashboard.ErrNotFound)
	}
	inv, err := a.c.Invoices.Invoice(ctx, s.Operator, s.InvoiceNumber)
	if err != nil {
		return dashboard.Receipt{}, notFound(err)
	}
	op, err := a.c.Catalog.Operator(ctx, s.Operator)
	if err != nil {
		return dashboard.Receipt{}, fmt.Errorf("web: operator %s: %w", s.Operator, err)
	}
	var loc *time.Location
	if op.TimeZone != "" {
		loc, _ = time.LoadLocation(op.TimeZone)
	}
	if inv.Receipt.Number == "" {
		inv.Receipt.Number = invoice.FormatNumber(op.InvoicePrefix, inv.Number)
	}
	var b bytes.Buffer
	if err := receiptpdf.Render(&b, inv.Receipt, receiptpdf.Options{Location: loc}); err != nil {
		return dashboard.Receipt{}, fmt.Errorf("web: render receipt of %s: %w", id, err)
	}
	return dashboard.Receipt{Filename: "receipt-" + inv.Receipt.Number + ".pdf", PDF: b.Bytes()}, nil
}
