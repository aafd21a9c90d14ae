package emsapi

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/edge/emsapi/token"
)

// openAPI is the REST API's OpenAPI 3 document, served as is.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the REST API's OpenAPI 3 document (a copy).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Options are what both transports need.
type Options struct {
	Source     Source           // required
	Controller Controller       // required
	Config     ConfigView       // optional: without it GET /api/v1/config answers 404
	MaxTTL     time.Duration    // longest TTL a limit may ask for; zero means one hour
	Now        func() time.Time // nil means time.Now
	Logger     *slog.Logger     // nil discards
	Metrics    http.Handler     // optional: served on GET /metrics (Prometheus)

	// Auth checks bearer tokens. nil: no authentication, which the edge
	// allows on a loopback listener only (edge/config refuses the rest).
	Auth Authenticator
	// AllowedHosts are host names, besides IP literals and localhost, that
	// requests may name in their Host header (the gateway's DNS name).
	AllowedHosts []string
	// AllowedOrigins are browser origins besides the API's own that may call
	// it (e.g. "https://ems.example"); cross-site requests are refused.
	AllowedOrigins []string
}

func (o *Options) check() error {
	if o.Source == nil {
		return errors.New("emsapi: Options.Source is nil")
	}
	if o.Controller == nil {
		return errors.New("emsapi: Options.Controller is nil")
	}
	if o.MaxTTL < 0 {
		return fmt.Errorf("emsapi: Options.MaxTTL %s is negative", o.MaxTTL)
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = defaultMaxTTL
	}
	if o.MaxTTL < time.Second {
		return fmt.Errorf("emsapi: Options.MaxTTL %s is below 1s", o.MaxTTL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// rest holds the handlers of the REST API.
type rest struct {
	o Options
}

// NewRouter returns the REST API, routes under /api/v1. Gin's mode is
// process-wide: cmd/parkgrid sets gin.SetMode(gin.ReleaseMode) in main.
func NewRouter(o Options) (*gin.Engine, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	a := &rest{o: o}
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil { // logs name the peer, not what X-Forwarded-For claims
		return nil, fmt.Errorf("emsapi: %w", err)
	}
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, v any) {
		a.o.Logger.Error("emsapi: handler panicked", "path", c.Request.URL.Path, "panic", v)
		c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{Error: "internal error"})
	}))
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, errorBody{Error: "no route " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, errorBody{Error: "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path})
	})

	r.Use(a.hostGuard, a.originGuard)

	read := a.scope(token.Read)
	if o.Metrics != nil {
		r.GET("/metrics", read, gin.WrapH(o.Metrics))
	}
	v1 := r.Group("/api/v1")
	v1.GET("/openapi.json", a.openAPI) // public: it names no secret and tells clients how to authenticate
	v1.GET("/site", read, a.site)
	v1.GET("/points", read, a.points)
	v1.GET("/points/:id", read, a.point)
	v1.GET("/alarms", read, a.alarms)
	v1.POST("/alarms/reset", a.scope(token.Reset), a.jsonBody, a.resetAlarm)
	v1.POST("/limit", a.scope(token.Limit), a.jsonBody, a.setLimit)
	v1.GET("/config", read, a.config)
	return r, nil
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
}

// okBody answers a command that returns nothing else.
type okBody struct {
	OK bool `json:"ok"`
}

func (a *rest) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}

func (a *rest) site(c *gin.Context) {
	c.JSON(http.StatusOK, siteOf(a.o.Source.Site()))
}

func (a *rest) points(c *gin.Context) {
	c.JSON(http.StatusOK, pointListOf(a.o.Source.Points()))
}

func (a *rest) point(c *gin.Context) {
	id := c.Param("id")
	for _, p := range a.o.Source.Points() {
		if p.ID == id {
			c.JSON(http.StatusOK, p)
			return
		}
	}
	a.fail(c, fmt.Errorf("charge point %q: %w", id, ErrNotFound))
}

func (a *rest) alarms(c *gin.Context) {
	c.JSON(http.StatusOK, alarmListOf(a.o.Source.Alarms()))
}

func (a *rest) config(c *gin.Context) {
	if a.o.Config == nil {
		a.fail(c, fmt.Errorf("config: %w: this edge does not show its config", ErrNotFound))
		return
	}
	c.JSON(http.StatusOK, a.o.Config.RedactedConfig())
}

func (a *rest) setLimit(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	req, err := ParseLimit(body, a.o.MaxTTL)
	if err != nil {
		a.fail(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), controllerTimeout)
	defer cancel()
	eff, err := a.o.Controller.SetLimit(ctx, req, a.o.Now())
	if err != nil {
		a.fail(c, fmt.Errorf("limit request %q: %w", req.RequestID, err))
		return
	}
	a.o.Logger.Info("emsapi: limit set over REST", "request", req.RequestID, "ttl", req.TTL)
	c.JSON(http.StatusOK, LimitReply{RequestID: req.RequestID, OK: true, Effective: &eff})
}

func (a *rest) resetAlarm(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	who := principal(c)
	r, err := parseAlarmResetFor(body, who)
	if err != nil {
		a.fail(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), controllerTimeout)
	defer cancel()
	if err := a.o.Controller.ResetAlarm(ctx, r.Who, r.Why, a.o.Now()); err != nil {
		a.fail(c, fmt.Errorf("alarm reset by %q: %w", r.Who, err))
		return
	}
	a.o.Logger.Info("emsapi: alarm reset over REST", "who", r.Who, "why", r.Why, "remote", c.ClientIP())
	c.JSON(http.StatusOK, okBody{OK: true})
}

// readBody reads at most MaxRequestBytes of the request body.
func readBody(c *gin.Context) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxRequestBytes))
	if err != nil {
		return nil, fmt.Errorf("read body: %w: %w", ErrInvalid, err)
	}
	return b, nil
}

// fail answers with err's status and message.
func (a *rest) fail(c *gin.Context, err error) {
	code := StatusOf(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		a.o.Logger.Error("emsapi: request failed", "path", c.Request.URL.Path, "err", err)
		msg = "internal error (logged on the edge)"
	}
	c.JSON(code, errorBody{Error: msg})
}

// StatusOf returns the HTTP status code the REST API answers err with.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
