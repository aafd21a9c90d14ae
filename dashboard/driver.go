package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/brand"
)

// The driver app: /c/<point> is what the QR code and the NFC tag open.
// A started session is tied to the browser by the pg_drv cookie (the
// session id and its HMAC under Options.Secret): no account, and no
// credential in a URL.

func (s *Server) driverRoutes(r *gin.Engine) {
	r.GET("/c/:point", s.pointPage)
	r.POST("/c/:point/start", s.startCharging)
	r.GET("/c/:point/return", s.paymentReturn)
	d := r.Group("/s/:sid", s.driverSession)
	d.GET("", s.sessionPage)
	d.GET("/events", s.sessionEvents)
	d.POST("/stop", s.stopCharging)
	d.GET("/receipt", s.receipt)
}

const driverCookie = "pg_drv"

// driverSession lets only the browser that started sid see or stop it.
func (s *Server) driverSession(c *gin.Context) {
	sid := c.Param("sid")
	if id, ok := s.driverCookieSession(c); !ok || id != sid {
		s.errorPage(c, http.StatusNotFound, "err.notfound")
		c.Abort()
		return
	}
	c.Next()
}

// driverCookieSession returns the session id of a valid pg_drv cookie
// ("<session id>.<HMAC>"; the MAC has no dot, the id may).
func (s *Server) driverCookieSession(c *gin.Context) (string, bool) {
	ck, err := c.Cookie(driverCookie)
	i := strings.LastIndexByte(ck, '.')
	if err != nil || i <= 0 {
		return "", false
	}
	id := ck[:i]
	return id, auth.TokenEqual(ck[i+1:], s.sign("driver", id))
}

// priceLine is one formatted price component.
type priceLine struct{ Amount, Unit string }

// tariffView is one tariff as the driver page lists it.
type tariffView struct {
	Class   tariff.Class
	Label   string
	Lines   []priceLine
	Checked bool
}

func previewView(lang string, ps []tariff.Preview) []tariffView {
	var out []tariffView
	for i, p := range ps {
		v := tariffView{Class: p.Class, Label: T(lang, "tariff."+string(p.Class)), Checked: i == 0}
		for _, comp := range p.Components { // already in AFIR order
			unit := T(lang, "unit."+comp.Unit)
			switch {
			case comp.Kind == tariff.LineCap:
				unit = T(lang, "unit.cap")
			case comp.Unit == "min" && comp.After > 0:
				unit = fmt.Sprintf(T(lang, "unit.min.after"), int(comp.After/time.Minute))
			}
			v.Lines = append(v.Lines, priceLine{Amount: money(lang, comp.AmountMinor, p.Currency), Unit: unit})
		}
		out = append(out, v)
	}
	return out
}

// stateError maps a point state to the page that stops a driver before
// paying, "" when the point can start.
func stateError(st PointState) (int, string) {
	switch st {
	case PointOffline:
		return http.StatusServiceUnavailable, "err.offline"
	case PointFaulted:
		return http.StatusServiceUnavailable, "err.faulted"
	case PointOccupied, PointCharging:
		return http.StatusConflict, "err.occupied"
	}
	return 0, ""
}

// driverError maps a Driver error to its page.
func driverError(err error) (int, string) {
	for _, m := range []struct {
		err    error
		status int
		key    string
	}{
		{ErrNotFound, http.StatusNotFound, "err.notfound"},
		{ErrOffline, http.StatusServiceUnavailable, "err.offline"},
		{ErrFaulted, http.StatusServiceUnavailable, "err.faulted"},
		{ErrOccupied, http.StatusConflict, "err.occupied"},
		{ErrDeclined, http.StatusPaymentRequired, "err.declined"},
		{ErrCodeExpired, http.StatusForbidden, "err.codeexpired"},
		{ErrCodeInvalid, http.StatusForbidden, "err.codeinvalid"},
		{ErrInvalidInput, http.StatusBadRequest, "err.input"},
	} {
		if errors.Is(err, m.err) {
			return m.status, m.key
		}
	}
	return http.StatusInternalServerError, "err.internal"
}

type pointData struct {
	Point   PointInfo
	Tariffs []tariffView
	Hold    string
	Email   string
	Method  PaymentMethod
}

func (s *Server) pointPage(c *gin.Context) {
	ctx := c.Request.Context()
	lang := s.lang(c)
	pt, err := s.deps.Driver.Point(ctx, c.Param("point"))
	if err != nil {
		s.driverFail(c, err, "")
		return
	}
	th := s.theme(c, pt.Operator)
	if status, key := stateError(pt.State); key != "" {
		s.errorPageTheme(c, status, key, th, "")
		return
	}
	ps, err := s.deps.Driver.Preview(ctx, pt.ID)
	if err != nil {
		s.driverFail(c, err, "")
		return
	}
	s.render(c, http.StatusOK, "point", page{Lang: lang, Title: pt.Label, Theme: th, CSRF: s.anonCSRF(c),
		Data: pointData{Point: pt, Tariffs: previewView(lang, ps), Hold: money(lang, pt.HoldMinor, pt.Currency), Method: PayCard}})
}

func (s *Server) driverFail(c *gin.Context, err error, back string) {
	status, key := driverError(err)
	if status == http.StatusInternalServerError {
		s.log.Error("dashboard: driver", "path", c.Request.URL.Path, "err", err)
	}
	s.errorPageTheme(c, status, key, brand.Theme{}, back)
}

func (s *Server) startCharging(c *gin.Context) {
	ctx := c.Request.Context()
	lang := s.lang(c)
	back := "/c/" + url.PathEscape(c.Param("point"))
	if !s.checkAnonCSRF(c) {
		s.errorPageTheme(c, http.StatusForbidden, "err.csrf", brand.Theme{}, back)
		return
	}
	pt, err := s.deps.Driver.Point(ctx, c.Param("point"))
	if err != nil {
		s.driverFail(c, err, back)
		return
	}
	th := s.theme(c, pt.Operator)
	if status, key := stateError(pt.State); key != "" {
		s.errorPageTheme(c, status, key, th, back)
		return
	}
	req, ok := parseStart(c, pt.ID)
	if !ok {
		s.errorPageTheme(c, http.StatusBadRequest, "err.input", th, back)
		return
	}
	req.Lang = lang
	req.ReturnURL = s.PointURL(pt.ID) + "/return"
	res, err := s.deps.Driver.Start(ctx, req)
	if err != nil {
		status, key := driverError(err)
		if status == http.StatusInternalServerError {
			s.log.Error("dashboard: start", "point", pt.ID, "err", err)
		}
		s.errorPageTheme(c, status, key, th, back)
		return
	}
	s.setCookie(c, driverCookie, res.SessionID+"."+s.sign("driver", res.SessionID), "/", 7*24*3600)
	target := "/s/" + url.PathEscape(res.SessionID)
	if res.RedirectURL != "" {
		u, err := url.Parse(res.RedirectURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && (u.Scheme != "http" || s.https)) {
			s.log.Error("dashboard: payment page URL refused", "point", pt.ID, "session", res.SessionID)
			s.errorPageTheme(c, http.StatusBadGateway, "err.internal", th, back)
			return
		}
		target = res.RedirectURL
	}
	c.Redirect(http.StatusSeeOther, target)
}

// paymentReturn is where the payment page sends the driver back: to the
// session this browser started.
func (s *Server) paymentReturn(c *gin.Context) {
	id, ok := s.driverCookieSession(c)
	if !ok {
		c.Redirect(http.StatusSeeOther, "/c/"+url.PathEscape(c.Param("point")))
		return
	}
	c.Redirect(http.StatusSeeOther, "/s/"+url.PathEscape(id))
}

// parseStart reads the start form.
func parseStart(c *gin.Context, point string) (StartRequest, bool) {
	email, err := auth.NormalizeEmail(c.PostForm("email"))
	if err != nil {
		return StartRequest{}, false
	}
	r := StartRequest{Point: point, Email: email, Class: tariff.Class(c.PostForm("class")),
		Method: PaymentMethod(c.PostForm("method")), AccessCode: strings.TrimSpace(c.PostForm("code"))}
	if r.Class != tariff.ClassEco && r.Class != tariff.ClassPremium {
		return StartRequest{}, false
	}
	switch r.Method {
	case PayCard, PayPayPal:
		r.AccessCode = ""
	case PayCode:
		if r.AccessCode == "" || len(r.AccessCode) > 64 {
			return StartRequest{}, false
		}
	default:
		return StartRequest{}, false
	}
	return r, true
}

// progressView is a Progress formatted for the page and the SSE stream.
type progressView struct {
	State     session.State `json:"state"`
	StateText string        `json:"stateText"`
	Energy    string        `json:"energy"`
	Power     string        `json:"power"`
	Duration  string        `json:"duration"`
	Cost      string        `json:"cost"`
	Final     bool          `json:"final"`
	Receipt   bool          `json:"receipt"`
	Failure   string        `json:"failure,omitempty"`
	Stoppable bool          `json:"stoppable"`
}

func viewOf(lang string, p Progress) progressView {
	v := progressView{State: p.State, StateText: T(lang, "state."+string(p.State)),
		Energy: kwh(p.EnergyWh) + " kWh", Power: kwh(p.PowerW) + " kW", Duration: durationText(p.Duration),
		Cost: money(lang, p.CostMinor, p.Currency), Final: p.State.Final() || p.State == session.StateCompleted,
		Receipt: p.ReceiptReady, Stoppable: p.State == session.StateAuthorized || p.State == session.StateCharging}
	if p.Failure != "" {
		v.Failure = T(lang, failureKey(p.Failure))
	}
	return v
}

// failureKey maps a session's failure reason to its message.
func failureKey(f string) string {
	switch f {
	case "declined":
		return "err.declined"
	case "code-expired":
		return "err.codeexpired"
	case "offline":
		return "err.offline"
	case "faulted":
		return "err.faulted"
	}
	return "err.internal"
}

type sessionData struct {
	ID       string
	Point    PointInfo
	Progress progressView
	StopCSRF string
}

func (s *Server) sessionPage(c *gin.Context) {
	ctx := c.Request.Context()
	lang := s.lang(c)
	sid := c.Param("sid")
	p, err := s.deps.Driver.Status(ctx, sid)
	if err != nil {
		s.driverFail(c, err, "")
		return
	}
	pt, err := s.deps.Driver.Point(ctx, p.Point)
	if err != nil {
		s.driverFail(c, err, "")
		return
	}
	th := s.theme(c, pt.Operator)
	if p.State == session.StateFailed && p.EnergyWh == 0 && p.Failure != "" {
		status, _ := driverError(map[string]error{"declined": ErrDeclined, "code-expired": ErrCodeExpired,
			"offline": ErrOffline, "faulted": ErrFaulted}[p.Failure])
		s.errorPageTheme(c, status, failureKey(p.Failure), th, "/c/"+url.PathEscape(pt.ID))
		return
	}
	s.render(c, http.StatusOK, "session", page{Lang: lang, Title: T(lang, "session.title"), Theme: th,
		Data: sessionData{ID: sid, Point: pt, Progress: viewOf(lang, p), StopCSRF: s.sign("stop", sid)}})
}

// heartbeat keeps proxies from closing a quiet event stream.
const heartbeat = 15 * time.Second

// sessionEvents streams progress as Server-Sent Events ("progress"
// events with a progressView as JSON), starting with the current status.
func (s *Server) sessionEvents(c *gin.Context) {
	ctx := c.Request.Context()
	lang := s.lang(c)
	sid := c.Param("sid")
	first, err := s.deps.Driver.Status(ctx, sid)
	if err != nil {
		status, _ := driverError(err)
		c.Status(status)
		return
	}
	feed, err := s.deps.Driver.Subscribe(ctx, sid)
	if err != nil {
		status, _ := driverError(err)
		c.Status(status)
		return
	}
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(p Progress) bool {
		b, err := json.Marshal(viewOf(lang, p))
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	if !send(first) {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			w.Flush()
		case p, ok := <-feed:
			if !ok || !send(p) {
				return
			}
		}
	}
}

func (s *Server) stopCharging(c *gin.Context) {
	sid := c.Param("sid")
	back := "/s/" + url.PathEscape(sid)
	if !auth.TokenEqual(c.PostForm("csrf"), s.sign("stop", sid)) {
		s.errorPageTheme(c, http.StatusForbidden, "err.csrf", brand.Theme{}, back)
		return
	}
	if err := s.deps.Driver.Stop(c.Request.Context(), sid); err != nil {
		s.driverFail(c, err, back)
		return
	}
	c.Redirect(http.StatusSeeOther, back)
}

func (s *Server) receipt(c *gin.Context) {
	r, err := s.deps.Driver.Receipt(c.Request.Context(), c.Param("sid"))
	if err != nil {
		s.driverFail(c, err, "/s/"+url.PathEscape(c.Param("sid")))
		return
	}
	name := safeName(r.Filename)
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, "application/pdf", r.PDF)
}
