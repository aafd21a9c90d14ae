package dashboard

import (
	"context"
	"errors"

	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/dashboard/auth"
)

// The operator dashboard under /ops/. Every page needs a session; every
// POST needs the session's CSRF token (form field csrf or header
// X-CSRF-Token); the role gates each action; every change goes to the
// audit log.

const sessionCookie = "pg_session"

// liveRefreshS is how often the live views (sites, alarms, sessions,
// load) reload themselves, in seconds.
const liveRefreshS = 10

// ctxUser and ctxSession are the gin.Context keys of the logged-in user.
const (
	ctxUser    = "dashboard.user"
	ctxSession = "dashboard.session"
)

func (s *Server) operatorRoutes(r *gin.Engine) {
	r.GET("/ops/login", s.loginPage)
	r.POST("/ops/login", s.login)
	o := r.Group("/ops", s.requireUser, s.requireCSRF)
	o.POST("/logout", s.logout)
	o.GET("/", s.sitesPage)
	o.GET("/alarms", s.alarmsPage)
	o.POST("/alarms/:id/reset", s.role(auth.RoleOperator), s.resetAlarm)
	o.GET("/sessions", s.sessionsPage)
	o.GET("/load", s.loadPage)
	o.GET("/tariffs", s.tariffsPage)
	o.POST("/tariffs", s.role(auth.RoleOperator), s.saveTariff)
	o.GET("/codes", s.codesPage)
	o.POST("/codes", s.role(auth.RoleOperator), s.createCode)
	o.POST("/codes/:id/revoke", s.role(auth.RoleOperator), s.revokeCode)
	o.POST("/codes/:id/group", s.role(auth.RoleOperator), s.setCodeGroup)
	o.GET("/users", s.role(auth.RoleAdmin), s.usersPage)
	o.POST("/users", s.role(auth.RoleAdmin), s.createUser)
	o.POST("/users/:id", s.role(auth.RoleAdmin), s.updateUser)
	o.GET("/reports", s.reportsPage)
	o.GET("/reports/:id", s.reportDownload)
	o.GET("/branding", s.role(auth.RoleOperator), s.brandingPage)
	o.POST("/branding", s.role(auth.RoleOperator), s.saveBranding)
	o.GET("/audit", s.role(auth.RoleAdmin), s.auditPage)
	o.GET("/qr-sheet.pdf", s.qrSheet)
}

func (s *Server) loginPage(c *gin.Context) {
	lang := s.lang(c)
	s.render(c, http.StatusOK, "login", page{Lang: lang, Title: T(lang, "login.title"), CSRF: s.anonCSRF(c)})
}

func (s *Server) login(c *gin.Context) {
	lang := s.lang(c)
	if !s.checkAnonCSRF(c) {
		s.render(c, http.StatusForbidden, "login", page{Lang: lang, Title: T(lang, "login.title"), CSRF: s.anonCSRF(c), Error: T(lang, "err.csrf")})
		return
	}
	old, _ := c.Cookie(sessionCookie)
	id, _, _, err := s.auth.Login(c.Request.Context(), c.PostForm("email"), c.PostForm("password"), c.ClientIP(), old, s.now())
	if err != nil {
		status, key := http.StatusUnauthorized, "login.bad"
		switch {
		case errors.Is(err, auth.ErrRateLimited):
			status, key = http.StatusTooManyRequests, "login.limited"
		case !errors.Is(err, auth.ErrBadLogin):
			s.log.Error("dashboard: login", "err", err)
			status, key = http.StatusInternalServerError, "err.internal"
		}
		s.setCookie(c, sessionCookie, "", "/ops", -1)
		s.render(c, status, "login", page{Lang: lang, Title: T(lang, "login.title"), CSRF: s.anonCSRF(c), Error: T(lang, key)})
		return
	}
	s.setCookie(c, sessionCookie, id, "/ops", 0)
	c.Redirect(http.StatusSeeOther, "/ops/")
}

func (s *Server) logout(c *gin.Context) {
	id, _ := c.Cookie(sessionCookie)
	if err := s.auth.Logout(c.Request.Context(), id); err != nil {
		s.log.Error("dashboard: logout", "err", err)
	}
	s.setCookie(c, sessionCookie, "", "/ops", -1)
	c.Redirect(http.StatusSeeOther, "/ops/login")
}

// requireUser resolves the session cookie or sends the browser to login.
func (s *Server) requireUser(c *gin.Context) {
	id, _ := c.Cookie(sessionCookie)
	se, u, err := s.auth.Authenticate(c.Request.Context(), id, s.now())
	if err != nil {
		if !errors.Is(err, auth.ErrSessionEnded) {
			s.log.Error("dashboard: session", "err", err)
		}
		if c.Request.Method == http.MethodGet {
			c.Redirect(http.StatusSeeOther, "/ops/login")
		} else {
			c.Status(http.StatusUnauthorized)
		}
		c.Abort()
		return
	}
	c.Set(ctxUser, u)
	c.Set(ctxSession, se)
	c.Next()
}

// requireCSRF refuses a state-changing request without the session's
// token.
func (s *Server) requireCSRF(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	se := c.MustGet(ctxSession).(auth.Session)
	tok := c.GetHeader("X-CSRF-Token")
	if tok == "" {
		if err := parseForm(c.Request); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.errorPage(c, http.StatusRequestEntityTooLarge, "err.toolarge")
			} else {
				s.errorPage(c, http.StatusBadRequest, "err.input")
			}
			c.Abort()
			return
		}
		tok = c.PostForm("csrf")
	}
	if !auth.TokenEqual(tok, se.CSRF) {
		s.errorPage(c, http.StatusForbidden, "err.csrf")
		c.Abort()
		return
	}
	c.Next()
}

// role refuses users below need.
func (s *Server) role(need auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !c.MustGet(ctxUser).(auth.User).Role.Allows(need) {
			s.errorPage(c, http.StatusForbidden, "err.forbidden")
			c.Abort()
			return
		}
		c.Next()
	}
}

func userOf(c *gin.Context) auth.User { return c.MustGet(ctxUser).(auth.User) }

// opsPage renders a dashboard page for the logged-in user.
func (s *Server) opsPage(c *gin.Context, status int, name, nav string, data any, flash, errMsg string) {
	lang := s.lang(c)
	u := userOf(c)
	se := c.MustGet(ctxSession).(auth.Session)
	refresh := 0
	switch nav {
	case "overview", "alarms", "sessions", "load":
		refresh = liveRefreshS
	}
	s.render(c, status, name, page{Lang: lang, Title: T(lang, "nav."+nav), Theme: s.theme(c, u.Operator),
		CSRF: se.CSRF, User: &u, Nav: nav, Data: data, Flash: flash, Error: errMsg, Refresh: refresh})
}

// audit records a change by the logged-in user; a failure to record is
// an error of the request (a change that cannot be audited is reported).
func (s *Server) audit(c *gin.Context, action, target, detail string) error {
	u := userOf(c)
	err := s.deps.Audit.Append(c.Request.Context(), auth.AuditEntry{At: s.now(), Operator: u.Operator, UserID: u.ID,
		Action: action, Target: target, Detail: detail, IP: c.ClientIP()})
	if err != nil {
		s.log.Error("dashboard: audit", "action", action, "err", err)
	}
	return err
}

// fail logs err and renders the internal-error page.
func (s *Server) fail(c *gin.Context, what string, err error) {
	s.log.Error("dashboard: "+what, "operator", userOf(c).Operator, "err", err)
	s.errorPage(c, http.StatusInternalServerError, "err.internal")
}

// unavailable answers for a view the deployment does not offer.
func (s *Server) unavailable(c *gin.Context) { s.errorPage(c, http.StatusNotFound, "err.notfound") }

func (s *Server) sitesPage(c *gin.Context) {
	if s.deps.Sites == nil {
		s.unavailable(c)
		return
	}
	sites, err := s.deps.Sites.Sites(c.Request.Context(), userOf(c).Operator)
	if err != nil {
		s.fail(c, "sites", err)
		return
	}
	s.opsPage(c, http.StatusOK, "sites", "overview", sites, "", "")
}

func (s *Server) alarmsPage(c *gin.Context) { s.alarms(c, http.StatusOK, c.Query("done")) }

func (s *Server) alarms(c *gin.Context, status int, flash string) {
	if s.deps.Alarms == nil {
		s.unavailable(c)
		return
	}
	as, err := s.deps.Alarms.Alarms(c.Request.Context(), userOf(c).Operator)
	if err != nil {
		s.fail(c, "alarms", err)
		return
	}
	if flash != "" {
		flash = T(s.lang(c), "alarm.resetdone")
	}
	s.opsPage(c, status, "alarms", "alarms", as, flash, "")
}

func (s *Server) resetAlarm(c *gin.Context) {
	if s.deps.Alarms == nil {
		s.unavailable(c)
		return
	}
	u, id := userOf(c), c.Param("id")
	if err := s.deps.Alarms.ResetAlarm(c.Request.Context(), u.Operator, id, u.Email); err != nil {
		if errors.Is(err, ErrNotFound) {
			s.errorPage(c, http.StatusNotFound, "err.notfound")
			return
		}
		s.fail(c, "alarm reset", err)
		return
	}
	if s.audit(c, "alarm.reset", id, "reset by "+u.Email) != nil {
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	c.Redirect(http.StatusSeeOther, "/ops/alarms?done=1")
}

func (s *Server) sessionsPage(c *gin.Context) {
	if s.deps.Live == nil {
		s.unavailable(c)
		return
	}
	ls, err := s.deps.Live.LiveSessions(c.Request.Context(), userOf(c).Operator)
	if err != nil {
		s.fail(c, "sessions", err)
		return
	}
	s.opsPage(c, http.StatusOK, "sessions", "sessions", ls, "", "")
}

func (s *Server) loadPage(c *gin.Context) {
	if s.deps.Load == nil {
		s.unavailable(c)
		return
	}
	ls, err := s.deps.Load.Load(c.Request.Context(), userOf(c).Operator)
	if err != nil {
		s.fail(c, "load", err)
		return
	}
	s.opsPage(c, http.StatusOK, "load", "load", ls, "", "")
}

func (s *Server) reportsPage(c *gin.Context) {
	if s.deps.Reports == nil {
		s.unavailable(c)
		return
	}
	op := userOf(c).Operator
	rs, err := s.deps.Reports.Reports(c.Request.Context(), op)
	if err != nil {
		s.fail(c, "reports", err)
		return
	}
	data := reportsData{Links: rs}
	if s.deps.Chart != nil {
		now := s.now()
		es, err := s.deps.Chart.EnergyPerDay(c.Request.Context(), op, now.AddDate(0, 0, -chartDays), now)
		if err != nil {
			s.fail(c, "chart", err)
			return
		}
		data.Chart = chartOf(es)
	}
	s.opsPage(c, http.StatusOK, "reports", "reports", data, "", "")
}

func (s *Server) reportDownload(c *gin.Context) {
	if s.deps.Reports == nil {
		s.unavailable(c)
		return
	}
	r, err := s.deps.Reports.Report(c.Request.Context(), userOf(c).Operator, c.Param("id"))
	if errors.Is(err, ErrNotFound) {
		s.errorPage(c, http.StatusNotFound, "err.notfound")
		return
	}
	if err != nil {
		s.fail(c, "report", err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+safeName(r.Filename)+`"`)
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, r.ContentType, r.Data)
}

// safeName keeps a file name inside a quoted header value.
func safeName(n string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '/' {
			return '_'
		}
		return r
	}, n)
}

func (s *Server) auditPage(c *gin.Context) {
	es, err := s.deps.Audit.Entries(c.Request.Context(), userOf(c).Operator, 200)
	if err != nil {
		s.fail(c, "audit", err)
		return
	}
	s.opsPage(c, http.StatusOK, "audit", "audit", es, "", "")
}

// redirectFlash sends the browser back to path with a flash key.
func redirectFlash(c *gin.Context, path, key string) {
	c.Redirect(http.StatusSeeOther, path+"?flash="+url.QueryEscape(key))
}

// flash returns the translated flash message of the request, "" for none
// or an unknown key.
func (s *Server) flash(c *gin.Context) string {
	k := c.Query("flash")
	if _, ok := messages[k]; !ok {
		return ""
	}
	return T(s.lang(c), k)
}

// ctxOf returns the request's context (short helper for long calls).
func ctxOf(c *gin.Context) context.Context { return c.Request.Context() }

// chartDays is how far back the reports chart looks.
const chartDays = 14

type reportsData struct {
	Links []ReportLink
	Chart []chartBar
}

// chartBar is one bar of the kWh chart: a site on a day.
type chartBar struct {
	Day, Site string
	EnergyWh  int64
	Pct       int64 // of the largest bar
}

func chartOf(es []DayEnergy) []chartBar {
	var peak int64
	for _, e := range es {
		peak = max(peak, e.EnergyWh)
	}
	bars := make([]chartBar, 0, len(es))
	for _, e := range es {
		b := chartBar{Day: e.Day.Format("2006-01-02"), Site: e.Site, EnergyWh: e.EnergyWh}
		if peak > 0 {
			b.Pct = e.EnergyWh * 100 / peak
		}
		bars = append(bars, b)
	}
	return bars
}
