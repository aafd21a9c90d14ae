package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/session"
)

// Edge sends commands to a site's edge (central/command implements it):
// authorise a point for a session with its class and energy cap (0: no
// cap) until expires, or stop it.
type Edge interface {
	Authorize(ctx context.Context, site, point, sessionID, class string, capWh int64, expires time.Time) error
	Stop(ctx context.Context, site, point, sessionID string) error
}

// Sessions is what the API asks of the session state machine
// (*session.Service).
type Sessions interface {
	Start(ctx context.Context, r session.StartRequest, now time.Time) (session.Session, error)
	Confirm(ctx context.Context, id string, now time.Time) (session.Session, error)
	Stop(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
	Cancel(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
}

// SessionReader reads sessions (session.Store). The API reads a session
// only after the catalog's start record proved the caller may.
type SessionReader interface {
	Session(ctx context.Context, id string) (session.Session, error)
	Transitions(ctx context.Context, id string) ([]session.Transition, error)
}

// Invoices reads an issued invoice (central/invoice's Get of the dialect).
type Invoices interface {
	Invoice(ctx context.Context, operator string, number int64) (invoice.Invoice, error)
}

// Holds answers what a driver needs to approve a pending hold (its
// client secret or approval URL) by asking the provider again with the
// session's authorize key; the secret is never stored.
type Holds interface {
	Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Hold, error)
}

// Live estimates a charging session's energy so far from the meter's
// unsigned samples (display only: the bill uses the signed snapshots);
// since is when that energy began. ok is false when nothing is known yet.
type Live interface {
	EnergySoFar(ctx context.Context, s session.Session) (wh int64, since time.Time, ok bool, err error)
}

// Config wires the API. Catalog, Codes, Sessions, SessionStore, Invoices,
// Edge and TokenKey are required.
type Config struct {
	Catalog      catalog.Store
	Codes        accesscode.Store
	Sessions     Sessions
	SessionStore SessionReader
	Invoices     Invoices
	Edge         Edge
	// Holds is the payment provider, asked again (same idempotency key)
	// for a pending hold's client secret or approval URL; nil: none.
	Holds Holds
	// Webhooks are the providers' verifiers by name ("stripe", "paypal",
	// "fake"), served at POST /api/v1/webhooks/{provider}.
	Webhooks map[string]payment.WebhookVerifier
	// Provider names the configured payment provider ("" when only
	// access codes can start sessions).
	Provider string
	// CodeCapWh is the energy cap of sessions started with an access code
	// (they have no payment hold); > 0.
	CodeCapWh int64
	// HoldValidity is how long the edge keeps a point authorised without
	// a new command; 0: 24 h.
	HoldValidity time.Duration
	// TokenKey derives the drivers' per-session tokens (HMAC-SHA256 of
	// the session id); at least 32 bytes, secret, stable across restarts
	// and replicas.
	TokenKey []byte
	// Live, when set, adds the energy and cost so far to the status of
	// a charging session.
	Live Live
	// Reports, when set, serves /api/v1/operator/reports/… (central/report's
	// Handler, with OperatorOf as its operator); the API authenticates.
	Reports http.Handler
	// SiteCommands sends set-limit and safety-reset to the edges (ems.go);
	// nil: Edge, when it sends them too (central/command's Commander).
	SiteCommands SiteCommands
	// Readings, when set, serves the site load (ems.go).
	Readings Readings
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
}

// API is the REST API /api/v1 for drivers and operators.
type API struct {
	c      Config
	now    func() time.Time
	log    *slog.Logger
	engine *gin.Engine
}

// New checks c and builds the router.
func New(c Config) (*API, error) {
	if c.Catalog == nil || c.Codes == nil || c.Sessions == nil || c.SessionStore == nil || c.Invoices == nil || c.Edge == nil {
		return nil, errors.New("api: catalog, codes, sessions, session store, invoices and edge are required")
	}
	if len(c.TokenKey) < 32 {
		return nil, errors.New("api: token key of at least 32 bytes required")
	}
	if c.CodeCapWh <= 0 {
		return nil, fmt.Errorf("api: code energy cap %d Wh: must be > 0", c.CodeCapWh)
	}
	if c.HoldValidity == 0 {
		c.HoldValidity = 24 * time.Hour
	}
	a := &API{c: c, now: c.Now, log: c.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if a.engine, err = a.routes(); err != nil {
		return nil, err
	}
	return a, nil
}

// Handler is the API's http.Handler; it serves /api/v1/… only.
func (a *API) Handler() http.Handler { return a.engine }

// Routes lists the router's routes as "METHOD /path/{param}" (for the
// OpenAPI check).
func (a *API) Routes() []string {
	var out []string
	for _, r := range a.engine.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		out = append(out, r.Method+" "+strings.Join(parts, "/"))
	}
	return out
}

// routes builds the router. Gin's mode is process-wide: cmd/parkgrid sets
// gin.SetMode(gin.ReleaseMode) in main.
func (a *API) routes() (*gin.Engine, error) {
	e := gin.New()
	if err := e.SetTrustedProxies(nil); err != nil { // logs name the peer, not what X-Forwarded-For claims
		return nil, fmt.Errorf("api: %w", err)
	}
	e.Use(gin.Recovery())
	e.HandleMethodNotAllowed = true
	e.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "not_found", "no such endpoint") })
	e.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed") })
	v1 := e.Group("/api/v1")
	v1.GET("/openapi.yaml", a.openAPI)

	// Drivers: no account; a per-session token after the start.
	v1.GET("/points/:site/:point/tariffs", a.preview)
	v1.POST("/sessions", a.start)
	drv := v1.Group("/sessions/:id", a.driverAuth)
	drv.GET("", a.status)
	drv.POST("/confirm", a.confirm)
	drv.POST("/stop", a.stop)
	drv.GET("/receipt.pdf", a.receipt)

	v1.POST("/webhooks/:provider", a.webhook)

	// Operators: a bearer token scoped to one operator.
	op := v1.Group("/operator", a.operatorAuth)
	op.GET("/points", a.points)
	op.GET("/tariffs", a.listTariffs)
	op.POST("/tariffs", a.createTariff)
	op.GET("/tariffs/:id", a.getTariff)
	op.PUT("/tariffs/:id", a.putTariff)
	op.DELETE("/tariffs/:id", a.retireTariff)
	op.GET("/codes", a.listCodes)
	op.POST("/codes", a.createCode)
	op.GET("/codes/:id", a.getCode)
	op.PUT("/codes/:id", a.updateCode)
	op.POST("/codes/:id/revoke", a.revokeCode)
	op.GET("/codes/:id/uses", a.codeUses)
	op.GET("/sessions", a.listSessions)
	op.GET("/sessions/:id", a.getSession)
	op.GET("/sites/:id/load", a.siteLoad) // ems.go: {id} is the site
	op.PUT("/sites/:id/limit", a.putLimit)
	op.DELETE("/sites/:id/limit", a.withdrawLimit)
	op.POST("/sites/:id/alarms/reset", a.resetAlarm)
	if a.c.Reports != nil {
		reports := http.StripPrefix("/api/v1/operator/reports", a.c.Reports)
		op.GET("/reports/usage", gin.WrapH(reports))
		op.GET("/reports/register", gin.WrapH(reports))
		op.GET("/reports/sessions/:id/safe.xml", gin.WrapH(reports))
	}
	return e, nil
}

// Error is the body of every error answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func fail(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": Error{Code: code, Message: msg}})
}

type operatorKey struct{}

// OperatorOf returns the operator an operator request is authenticated
// for (for handlers mounted below /api/v1/operator, e.g. reports).
func OperatorOf(r *http.Request) (string, bool) {
	op, ok := r.Context().Value(operatorKey{}).(string)
	return op, ok && op != ""
}

// bearer returns the request's bearer token; tokens are accepted only in
// the Authorization header, never in the URL.
func bearer(c *gin.Context) (string, bool) {
	h := c.GetHeader("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	tok = strings.TrimSpace(tok)
	return tok, ok && tok != ""
}

// Token prefixes tell operator and driver tokens apart.
const (
	OperatorTokenPrefix = "pgo_"
	DriverTokenPrefix   = "pgd_"
)

func (a *API) operatorAuth(c *gin.Context) {
	tok, ok := bearer(c)
	if !ok {
		fail(c, http.StatusUnauthorized, "unauthorized", "an operator token is required: Authorization: Bearer pgo_…")
		return
	}
	if !strings.HasPrefix(tok, OperatorTokenPrefix) {
		fail(c, http.StatusForbidden, "forbidden", "not an operator token")
		return
	}
	t, err := a.c.Catalog.TokenByHash(c.Request.Context(), catalog.HashSecret(tok))
	if err != nil || !catalog.SecretMatches(tok, t.Hash) {
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			a.log.Error("operator token lookup", "err", err)
			fail(c, http.StatusInternalServerError, "internal", "token lookup failed")
			return
		}
		fail(c, http.StatusUnauthorized, "unauthorized", "unknown operator token")
		return
	}
	c.Set("operator", t.Operator)
	c.Set(tokenNameKey, t.Name)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), operatorKey{}, t.Operator))
	c.Next()
}

func operatorOf(c *gin.Context) string { return c.GetString("operator") }

// tokenNameKey holds the operator token's name: who an audited action
// (an alarm reset) was made by.
const tokenNameKey = "tokenName"

// driverToken is the session's driver token: HMAC-SHA256(TokenKey, id).
// A retried start (same client id) gets the same token back.
func (a *API) driverToken(sessionID string) string {
	m := hmac.New(sha256.New, a.c.TokenKey)
	m.Write([]byte("parkgrid driver session token\x00" + sessionID))
	return DriverTokenPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *API) driverAuth(c *gin.Context) {
	tok, ok := bearer(c)
	if !ok {
		fail(c, http.StatusUnauthorized, "unauthorized", "the session's driver token is required: Authorization: Bearer pgd_…")
		return
	}
	st, err := a.c.Catalog.StartOf(c.Request.Context(), c.Param("id"))
	if err != nil || !catalog.SecretMatches(tok, st.TokenHash) {
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			a.log.Error("driver token lookup", "session", c.Param("id"), "err", err)
			fail(c, http.StatusInternalServerError, "internal", "session lookup failed")
			return
		}
		// The same answer for an unknown session and a wrong token: the
		// API does not tell which session ids exist.
		fail(c, http.StatusForbidden, "forbidden", "token not valid for this session")
		return
	}
	c.Set("start", st)
	c.Next()
}

func startOf(c *gin.Context) catalog.Start {
	st, _ := c.Get("start")
	s, _ := st.(catalog.Start)
	return s
}

// internal logs err and answers 500 without its text.
func (a *API) internal(c *gin.Context, what string, err error) {
	a.log.Error(what, "path", c.FullPath(), "err", err)
	fail(c, http.StatusInternalServerError, "internal", what+" failed")
}

// bind decodes a JSON body strictly.
func bind(c *gin.Context, v any) bool {
	dec := jsonDecoder(c.Request.Body)
	if err := dec.Decode(v); err != nil {
		fail(c, http.StatusBadRequest, "bad_request", "body: "+err.Error())
		return false
	}
	return true
}
