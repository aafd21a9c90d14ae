package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// maxBody bounds every JSON request body.
const maxBody = 64 << 10

func jsonDecoder(r io.Reader) *json.Decoder {
	dec := json.NewDecoder(io.LimitReader(r, maxBody))
	dec.DisallowUnknownFields()
	return dec
}

// PreviewAnswer is the price preview of a point: each tariff offered, its
// components in AFIR order, and the hold a card payment places.
type PreviewAnswer struct {
	Site      string           `json:"site"`
	Point     string           `json:"point"`
	Operator  string           `json:"operator"`
	HoldMinor int64            `json:"holdMinor"`
	Currency  string           `json:"currency"`
	Tariffs   []tariff.Preview `json:"tariffs"`
	Payment   []string         `json:"payment"` // "provider:<name>" and/or "code"
}

func (a *API) preview(c *gin.Context) {
	p, err := a.c.Catalog.Point(c.Request.Context(), c.Param("site"), c.Param("point"))
	if errors.Is(err, catalog.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such charge point")
		return
	}
	if err != nil {
		a.internal(c, "point lookup", err)
		return
	}
	op, err := a.c.Catalog.Operator(c.Request.Context(), p.Operator)
	if err != nil {
		a.internal(c, "operator lookup", err)
		return
	}
	ans := PreviewAnswer{Site: p.Site, Point: p.ID, Operator: op.Name, HoldMinor: op.HoldMinor, Currency: op.Currency, Tariffs: []tariff.Preview{}}
	for _, id := range p.Tariffs {
		t, err := a.c.Catalog.Tariff(c.Request.Context(), p.Operator, id)
		if errors.Is(err, catalog.ErrNotFound) {
			continue // retired
		}
		if err != nil {
			a.internal(c, "tariff lookup", err)
			return
		}
		pv, err := tariff.NewPreview(t.Tariff)
		if err != nil {
			a.internal(c, "tariff preview", err)
			return
		}
		ans.Tariffs = append(ans.Tariffs, pv)
	}
	if a.c.Provider != "" {
		ans.Payment = append(ans.Payment, "provider:"+a.c.Provider)
	}
	ans.Payment = append(ans.Payment, "code")
	c.JSON(http.StatusOK, ans)
}

// StartRequest is a driver's start.
type StartRequest struct {
	// ClientID makes the start idempotent: a retry with the same id gets
	// the same session and token. Chosen at random by the driver app
	// (at least 16 characters, e.g. a UUID); keep it secret like the token.
	ClientID string `json:"clientId"`
	Site     string `json:"site"`
	Point    string `json:"point"`
	Tariff   string `json:"tariff"`
	Email    string `json:"email"`
	// Exactly one of Payment (the provider's name) and Code.
	Payment string `json:"payment,omitempty"`
	Code    string `json:"code,omitempty"`
	// ReturnURL and CancelURL (absolute http(s)) are where the provider's
	// hosted payment page (Stripe Checkout, PayPal) sends the driver back
	// after paying or giving up; then POST …/confirm. Optional: without
	// them a Stripe hold is confirmed in the browser with ClientSecret.
	ReturnURL string `json:"returnUrl,omitempty"`
	CancelURL string `json:"cancelUrl,omitempty"`
}

// StartAnswer is the started session, the driver's token for it and,
// for a hold the driver still has to approve, how.
type StartAnswer struct {
	Session SessionView `json:"session"`
	// Token authorises this session's status, confirm, stop and receipt
	// (Authorization: Bearer …). Shown here only.
	Token string `json:"token"`
	// ClientSecret (Stripe, without a returnUrl) confirms the hold in
	// Stripe's Payment Element.
	ClientSecret string `json:"clientSecret,omitempty"`
	// ApproveURL (PayPal; Stripe Checkout with a returnUrl) is the hosted
	// page where the driver approves the hold.
	ApproveURL string `json:"approveUrl,omitempty"`
	// Edge tells whether the charge point was authorised ("authorised",
	// "pending" while the hold waits, or the error).
	Edge string `json:"edge"`
}

func (a *API) start(c *gin.Context) {
	var r StartRequest
	if !bind(c, &r) {
		return
	}
	now := a.now()
	switch {
	case len(r.ClientID) < 16 || catalog.CheckID(r.ClientID) != nil:
		fail(c, http.StatusBadRequest, "bad_request", "clientId: 16..64 letters, digits, '-', '_' or '.' (a random id, e.g. a UUID)")
		return
	case (r.Payment == "") == (r.Code == ""):
		fail(c, http.StatusBadRequest, "bad_request", "exactly one of payment and code")
		return
	case r.Payment != "" && r.Payment != a.c.Provider:
		fail(c, http.StatusBadRequest, "bad_request", fmt.Sprintf("payment %q: not offered here", r.Payment))
		return
	}
	if _, err := mail.ParseAddress(r.Email); err != nil || len(r.Email) > 254 {
		fail(c, http.StatusBadRequest, "bad_request", "email: not an e-mail address")
		return
	}
	for _, u := range [][2]string{{"returnUrl", r.ReturnURL}, {"cancelUrl", r.CancelURL}} {
		if u[1] != "" && !backURL(u[1]) {
			fail(c, http.StatusBadRequest, "bad_request", u[0]+": not an absolute http(s) URL")
			return
		}
	}
	p, err := a.c.Catalog.Point(c.Request.Context(), r.Site, r.Point)
	if errors.Is(err, catalog.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such charge point")
		return
	}
	if err != nil {
		a.internal(c, "point lookup", err)
		return
	}
	if !slices.Contains(p.Tariffs, r.Tariff) {
		fail(c, http.StatusBadRequest, "bad_request", fmt.Sprintf("tariff %q: not offered at this point", r.Tariff))
		return
	}
	t, err := a.c.Catalog.Tariff(c.Request.Context(), p.Operator, r.Tariff)
	if errors.Is(err, catalog.ErrNotFound) {
		fail(c, http.StatusBadRequest, "bad_request", fmt.Sprintf("tariff %q: no longer offered", r.Tariff))
		return
	}
	if err != nil {
		a.internal(c, "tariff lookup", err)
		return
	}
	op, err := a.c.Catalog.Operator(c.Request.Context(), p.Operator)
	if err != nil {
		a.internal(c, "operator lookup", err)
		return
	}
	id, err := catalog.NewID("s_")
	if err != nil {
		a.internal(c, "session id", err)
		return
	}
	method := "payment"
	if r.Code != "" {
		method = "code"
	}
	st, created, err := a.c.Catalog.PutStart(c.Request.Context(), catalog.Start{ClientID: r.ClientID, Session: id, Operator: p.Operator, Site: p.Site,
		Point: p.ID, Email: r.Email, Method: method, TokenHash: catalog.HashSecret(a.driverToken(id)), CreatedAt: now})
	if err != nil {
		a.internal(c, "store start", err)
		return
	}
	if !created && (st.Email != r.Email || st.Method != method) {
		fail(c, http.StatusConflict, "conflict", "clientId already used for another start")
		return
	}
	id = st.Session
	req := session.StartRequest{ID: id, Operator: p.Operator, Site: p.Site, Point: p.ID, Meter: p.Meter, Tariff: t.Tariff,
		HoldMinor: op.HoldMinor, Payee: op.Payee()}
	if r.Code == "" {
		req.ReturnURL, req.CancelURL = r.ReturnURL, r.CancelURL
	}
	if r.Code != "" {
		code, err := a.c.Codes.Redeem(c.Request.Context(), p.Operator, catalog.HashSecret(r.Code), id, now)
		if err != nil {
			a.codeRefused(c, err)
			return
		}
		price, err := tariff.Price(t.Tariff, a.c.CodeCapWh, 0)
		if err != nil {
			a.internal(c, "code hold", err)
			return
		}
		req.HoldMinor, req.Payee = price.GrossMinor, accesscode.Payee(code.ID)
		if code.Kind == accesscode.KindFlatrate {
			// The flatrate pays for the energy: the session costs nothing
			// and its receipt says what covered it.
			req.Tariff = tariff.Covered(t.Tariff, "flatrate code "+code.ID)
		}
	}
	s, err := a.c.Sessions.Start(c.Request.Context(), req, now)
	if errors.Is(err, session.ErrInvalid) {
		fail(c, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		a.internal(c, "start session", err)
		return
	}
	if s.HoldID != "" && st.HoldID != s.HoldID {
		if err := a.c.Catalog.SetStartHold(c.Request.Context(), id, s.HoldID); err != nil {
			a.internal(c, "store hold", err)
			return
		}
	}
	ans := StartAnswer{Session: view(s, nil), Token: a.driverToken(id), Edge: a.authorizeEdge(c.Request.Context(), s, now)}
	if s.State == session.StateCreated && a.c.Holds != nil && r.Code == "" {
		// The very request the session service sent (Stripe refuses a key
		// reused with other parameters): the session keeps its URLs.
		h, err := a.c.Holds.Authorize(c.Request.Context(), payment.AuthorizeRequest{IdempotencyKey: payment.Key(s.ID, "authorize"), Reference: s.ID,
			AmountMinor: s.HoldMinor, Currency: s.Tariff.Currency, Description: "parkgrid charging " + s.Point, Payee: s.Payee,
			ReturnURL: s.ReturnURL, CancelURL: s.CancelURL})
		if err != nil {
			a.internal(c, "hold approval", err)
			return
		}
		ans.ClientSecret, ans.ApproveURL = h.ClientSecret, h.ApproveURL
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	a.log.Info("session started", "session", id, "site", s.Site, "point", s.Point, "state", s.State, "method", method, "new", created)
	c.JSON(status, ans)
}

// backURL accepts an absolute http(s) URL of sensible length for the
// payment page's redirect back.
func backURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") && len(s) <= 2048
}

func (a *API) codeRefused(c *gin.Context, err error) {
	switch {
	case errors.Is(err, accesscode.ErrNotFound):
		fail(c, http.StatusForbidden, "code_refused", "unknown access code")
	case errors.Is(err, accesscode.ErrRevoked), errors.Is(err, accesscode.ErrExpired),
		errors.Is(err, accesscode.ErrNotYetValid), errors.Is(err, accesscode.ErrUsedUp):
		fail(c, http.StatusForbidden, "code_refused", err.Error())
	default:
		a.internal(c, "redeem access code", err)
	}
}

// capWh is the cap the edge enforces: the hold's energy cap, and for code
// sessions at most CodeCapWh; 0 means none.
func (a *API) capWh(s session.Session) int64 {
	limit := s.EnergyCapWh
	if isCode(s) && (limit == session.Unlimited || limit > a.c.CodeCapWh) {
		limit = a.c.CodeCapWh
	}
	if limit == session.Unlimited {
		return 0
	}
	// The edge stops a car a moment after the register reaches the cap
	// (a read, a write, the charger's ramp down: 20–30 Wh at 11 kW were
	// measured end to end), so it is given a cap short of the hold's by
	// capMarginWh (a tenth of small caps), and the price stays within the
	// hold.
	limit -= min(capMarginWh, limit/10)
	return max(limit, 1) // 0 would mean no cap at the edge
}

// capMarginWh is what a car may draw after the edge saw the cap reached:
// 22 kW for over 8 s.
const capMarginWh = 50

func isCode(s session.Session) bool {
	_, ok := accesscode.CodeOf(s.Payee)
	return ok
}

// authorizeEdge authorises the point of an authorized session at the edge.
func (a *API) authorizeEdge(ctx context.Context, s session.Session, now time.Time) string {
	if s.State != session.StateAuthorized {
		if s.State == session.StateCreated {
			return "pending"
		}
		return string(s.State)
	}
	if err := a.c.Edge.Authorize(ctx, s.Site, s.Point, s.ID, string(s.Tariff.Class), a.capWh(s), now.Add(a.c.HoldValidity)); err != nil {
		a.log.Warn("authorise point at the edge", "session", s.ID, "site", s.Site, "point", s.Point, "err", err)
		return "error: " + err.Error()
	}
	return "authorised"
}

// SessionView is a session as the API shows it.
type SessionView struct {
	ID            string            `json:"id"`
	State         session.State     `json:"state"`
	Site          string            `json:"site"`
	Point         string            `json:"point"`
	Tariff        TariffBody        `json:"tariff"`
	HoldMinor     int64             `json:"holdMinor"`
	EnergyCapWh   int64             `json:"energyCapWh"` // -1: unlimited
	EnergyWh      *int64            `json:"energyWh,omitempty"`
	Cost          *tariff.Breakdown `json:"cost,omitempty"`
	Review        []session.Flag    `json:"review,omitempty"`
	InvoiceNumber int64             `json:"invoiceNumber,omitempty"`
	CreatedAt     time.Time         `json:"createdAt"`
	UpdatedAt     time.Time         `json:"updatedAt"`
	// Estimate is true when EnergyWh and Cost are a live estimate from
	// the meter's samples while charging, not the billed figures.
	Estimate    bool             `json:"estimate,omitempty"`
	Transitions []TransitionView `json:"transitions,omitempty"`
	Start       *catalog.Start   `json:"start,omitempty"`
	Payment     string           `json:"payment,omitempty"` // provider hold id, or code:<session>
}

// TransitionView is one logged transition.
type TransitionView struct {
	From  session.State `json:"from"`
	To    session.State `json:"to"`
	Cause string        `json:"cause"`
	At    time.Time     `json:"at"`
}

func view(s session.Session, trs []session.Transition) SessionView {
	v := SessionView{ID: s.ID, State: s.State, Site: s.Site, Point: s.Point, Tariff: tariffBody(s.Tariff), HoldMinor: s.HoldMinor,
		EnergyCapWh: s.EnergyCapWh, Review: s.Review, InvoiceNumber: s.InvoiceNumber, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		Payment: s.HoldID}
	if s.Billing != nil {
		e := s.Billing.EnergyWh
		v.EnergyWh = &e
		if s.Billing.Price.Currency != "" {
			p := s.Billing.Price
			v.Cost = &p
		}
	}
	for _, tr := range trs {
		v.Transitions = append(v.Transitions, TransitionView{From: tr.From, To: tr.To, Cause: tr.Cause, At: tr.At})
	}
	return v
}

func (a *API) session(c *gin.Context, id string) (session.Session, bool) {
	s, err := a.c.SessionStore.Session(c.Request.Context(), id)
	if errors.Is(err, session.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "the session was not created (its start was refused)")
		return s, false
	}
	if err != nil {
		a.internal(c, "session lookup", err)
		return s, false
	}
	return s, true
}

func (a *API) status(c *gin.Context) {
	s, ok := a.session(c, startOf(c).Session)
	if !ok {
		return
	}
	v := view(s, nil)
	if a.c.Live != nil && (s.State == session.StateCharging || s.State == session.StateStopping) {
		wh, since, known, err := a.c.Live.EnergySoFar(c.Request.Context(), s)
		if err != nil {
			a.log.Warn("live energy", "session", s.ID, "err", err)
		}
		if known && err == nil {
			if p, err := tariff.Price(s.Tariff, wh, max(a.now().Sub(since), 0)); err == nil {
				v.EnergyWh, v.Cost, v.Estimate = &wh, &p, true
			}
		}
	}
	c.JSON(http.StatusOK, v)
}

// confirm asks the provider for the hold after the driver approved it,
// and authorises the point; for an authorized session it sends the
// authorisation again (e.g. after an edge error).
func (a *API) confirm(c *gin.Context) {
	id := startOf(c).Session
	if _, ok := a.session(c, id); !ok {
		return
	}
	s, edge, err := a.ConfirmHold(c.Request.Context(), id)
	if err != nil {
		a.internal(c, "confirm session", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"session": view(s, nil), "edge": edge})
}

// ConfirmHold is confirm without HTTP, for central/web when a driver is
// back from the provider's hosted payment page: it asks the provider for
// a created session's hold, and authorises the point at the edge once the
// session is authorized (again, for one already authorized). edge is the
// edge's answer as in StartAnswer.
func (a *API) ConfirmHold(ctx context.Context, id string) (s session.Session, edge string, err error) {
	if s, err = a.c.SessionStore.Session(ctx, id); err != nil {
		return s, "", fmt.Errorf("session %s: %w", id, err)
	}
	now := a.now()
	if s.State == session.StateCreated {
		moved, err := a.c.Sessions.Confirm(ctx, id, now)
		if errors.Is(err, session.ErrIllegalTransition) { // confirmed meanwhile (a webhook)
			moved, err = a.c.SessionStore.Session(ctx, id)
		}
		if err != nil {
			return s, "", fmt.Errorf("confirm session %s: %w", id, err)
		}
		s = moved
		if s.HoldID != "" {
			if err := a.c.Catalog.SetStartHold(ctx, id, s.HoldID); err != nil {
				return s, "", fmt.Errorf("session %s: store hold: %w", id, err)
			}
		}
	}
	return s, a.authorizeEdge(ctx, s, now), nil
}

// stop ends a session: before charging it is cancelled (the hold
// released); while charging it moves to stopping and the edge is told to
// stop and take the end snapshot.
func (a *API) stop(c *gin.Context) {
	id := startOf(c).Session
	s, ok := a.session(c, id)
	if !ok {
		return
	}
	now := a.now()
	var err error
	switch s.State {
	case session.StateCreated, session.StateAuthorized:
		s, err = a.c.Sessions.Cancel(c.Request.Context(), id, "driver stopped before charging", now)
	case session.StateCharging:
		s, err = a.c.Sessions.Stop(c.Request.Context(), id, "driver stopped", now)
	case session.StateStopping:
		// again: tell the edge once more below
	default:
		fail(c, http.StatusConflict, "conflict", fmt.Sprintf("the session is %s", s.State))
		return
	}
	if err != nil && !errors.Is(err, session.ErrIllegalTransition) {
		a.internal(c, "stop session", err)
		return
	}
	edge := "stopped"
	if err := a.c.Edge.Stop(c.Request.Context(), s.Site, s.Point, id); err != nil {
		a.log.Warn("stop point at the edge", "session", id, "site", s.Site, "point", s.Point, "err", err)
		edge = "error: " + err.Error()
	}
	c.JSON(http.StatusOK, gin.H{"session": view(s, nil), "edge": edge})
}

func (a *API) receipt(c *gin.Context) {
	st := startOf(c)
	s, ok := a.session(c, st.Session)
	if !ok {
		return
	}
	if s.State != session.StateInvoiced || s.InvoiceNumber == 0 {
		fail(c, http.StatusConflict, "not_invoiced", fmt.Sprintf("no receipt yet: the session is %s", s.State))
		return
	}
	inv, err := a.c.Invoices.Invoice(c.Request.Context(), s.Operator, s.InvoiceNumber)
	if errors.Is(err, invoice.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no invoice")
		return
	}
	if err != nil {
		a.internal(c, "invoice lookup", err)
		return
	}
	op, err := a.c.Catalog.Operator(c.Request.Context(), s.Operator)
	if err != nil {
		a.internal(c, "operator lookup", err)
		return
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
		a.internal(c, "render receipt", err)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "receipt-"+inv.Receipt.Number+".pdf"))
	c.Data(http.StatusOK, "application/pdf", b.Bytes())
}
