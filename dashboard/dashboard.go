package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/brand"
)

// Deps are the stores and services the pages use. Every field is required
// except the operator views a deployment does not offer (nil hides the
// page).
type Deps struct {
	Users    auth.UserStore
	Sessions auth.SessionStore
	Audit    auth.AuditLog
	Brand    brand.Store
	Driver   Driver

	Sites   SiteView
	Alarms  AlarmControl
	Live    SessionView
	Load    LoadViewer
	Tariffs TariffEditor
	Codes   CodeAdmin
	Reports ReportSource
	Chart   EnergyChart // nil: the reports page has no chart
}

// Options tune the server.
type Options struct {
	// PublicURL is where drivers reach the app (https://charge.example.com):
	// the QR codes and NFC tags carry PublicURL/c/<point>. Required.
	PublicURL string
	// Secret signs the driver's session cookie; at least 32 bytes.
	Secret []byte
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	Auth   auth.Config
}

// Server is the dashboard and driver app as an http.Handler.
type Server struct {
	deps   Deps
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	auth   *auth.Manager
	pages  map[string]*template.Template
	engine *gin.Engine
	icons  map[int][]byte // PNG app icons by size
	https  bool
	csp    string // Content-Security-Policy of every page
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// New checks deps and opts and returns the handler. Gin's mode is
// process-wide: cmd/parkgrid sets gin.ReleaseMode.
func New(deps Deps, opts Options) (*Server, error) {
	if deps.Users == nil || deps.Sessions == nil || deps.Audit == nil || deps.Brand == nil || deps.Driver == nil {
		return nil, errors.New("dashboard: Users, Sessions, Audit, Brand and Driver are required")
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("dashboard: public URL %q must be http(s)://host[:port] without a path", opts.PublicURL)
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	if len(opts.Secret) < 32 {
		return nil, errors.New("dashboard: secret must be at least 32 bytes")
	}
	s := &Server{deps: deps, opts: opts, log: opts.Logger, now: opts.Now, https: u.Scheme == "https"}
	// Forms post to the app itself; the start form's redirect goes on to
	// the payment provider's page, which CSP form-action also governs:
	// https only, unless the app itself runs on plain http (development).
	formTargets := "'self' https:"
	if !s.https {
		formTargets += " http:"
	}
	s.csp = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; " +
		"frame-ancestors 'none'; form-action " + formTargets + "; base-uri 'none'"
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.auth, err = auth.NewManager(deps.Users, deps.Sessions, deps.Audit, opts.Auth); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.icons, err = appIcons(); err != nil {
		return nil, err
	}
	if s.engine, err = s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP serves the dashboard and driver app.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"t":       T,
		"tf":      func(lang, key string, a ...any) string { return fmt.Sprintf(T(lang, key), a...) },
		"money":   money,
		"kwh":     kwh,
		"kw":      func(w int64) string { return kwh(w) },
		"dur":     durationText,
		"amp":     func(ma int64) string { return fmt.Sprintf("%d.%d A", ma/1000, (ma%1000)/100) },
		"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"nonzero": func(t time.Time) bool { return !t.IsZero() },
		"inc":     func(i int) int { return i + 1 },
		"roles":   func() []string { return []string{"viewer", "operator", "admin"} },
		"pct": func(v, of int64) int64 {
			if of <= 0 {
				return 0
			}
			return min(100, max(0, v*100/of))
		},
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: layout template: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// money writes minor units with the currency's decimals (tariff.FormatAmount)
// and a comma in German ("1,05 €"), a dot in English ("€1.05").
func money(lang string, minor int64, currency string) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	num, err := tariff.FormatAmount(minor, currency)
	if err != nil {
		return fmt.Sprintf("%d (minor units of %s)", minor, currency)
	}
	sign := ""
	if neg {
		sign = "−"
	}
	sym := currency
	if currency == "EUR" {
		sym = "€"
	}
	if lang == "de" {
		return sign + strings.Replace(num, ".", ",", 1) + " " + sym
	}
	if sym == "€" {
		return sign + "€" + num
	}
	return sign + num + " " + sym
}

// kwh writes Wh (or W) as k-units with two decimals, truncated.
func kwh(wh int64) string { return fmt.Sprintf("%d.%02d", wh/1000, (wh%1000)/10) }

func durationText(d time.Duration) string {
	d = d.Truncate(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
}

// page is what every template gets.
type page struct {
	Lang    string
	Title   string
	Theme   brand.Theme
	LogoURL string
	BgURL   string
	CSRF    string
	User    *auth.User
	Nav     string // the active dashboard tab
	Refresh int    // seconds; live views reload themselves
	Flash   string
	Error   string
	Data    any
}

func (s *Server) render(c *gin.Context, status int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.log.Error("dashboard: no template", "name", name)
		c.Status(http.StatusInternalServerError)
		return
	}
	if p.Theme.Operator == "" && p.Theme.Name == "" {
		p.Theme = brand.Default("")
	}
	if p.Theme.LogoHash != "" {
		p.LogoURL = "/brand/asset/" + p.Theme.LogoHash
	}
	if p.Theme.BackgroundHash != "" {
		p.BgURL = "/brand/asset/" + p.Theme.BackgroundHash
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Status(status)
	if err := t.ExecuteTemplate(c.Writer, "layout.html", p); err != nil {
		s.log.Error("dashboard: render", "page", name, "err", err)
	}
}

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if s.https {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	c.Next()
}

// maxFormBytes bounds the body of every POST but the branding upload.
const maxFormBytes = 64 << 10

// limitBody caps request bodies before anything reads them.
func limitBody(c *gin.Context) {
	if c.Request.Body != nil && c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		limit := int64(maxFormBytes)
		if c.Request.URL.Path == "/ops/branding" {
			limit = maxUploadBytes
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	c.Next()
}

// parseForm parses a urlencoded or multipart body once, keeping at most
// 1 MiB of files in memory; a body over its limit is *http.MaxBytesError.
func parseForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(1 << 20)
	}
	return r.ParseForm()
}

// secure reports whether cookies get the Secure flag: on TLS or behind an
// https public URL.
func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.https }

func (s *Server) setCookie(c *gin.Context, name, value, path string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(c.Request), SameSite: http.SameSiteLaxMode})
}

// lang picks the language and remembers a ?lang= switch in a cookie.
func (s *Server) lang(c *gin.Context) string {
	l := pickLang(c.Request)
	if q := c.Query("lang"); known(q) {
		s.setCookie(c, "pg_lang", q, "/", 365*24*3600)
	}
	return l
}

// sign returns the HMAC of purpose|value under the server's secret.
func (s *Server) sign(purpose, value string) string {
	m := hmac.New(sha256.New, s.opts.Secret)
	io.WriteString(m, purpose+"|"+value) //nolint:errcheck // hash writes never fail
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// anonCSRF returns the double-submit token of a visitor without a
// session (login and driver forms), setting its cookie when missing.
func (s *Server) anonCSRF(c *gin.Context) string {
	if ck, err := c.Cookie("pg_csrf"); err == nil && len(ck) >= 32 {
		return s.sign("csrf", ck)
	}
	tok, err := auth.RandomToken(32)
	if err != nil {
		s.log.Error("dashboard: random", "err", err)
		return ""
	}
	s.setCookie(c, "pg_csrf", tok, "/", 0)
	return s.sign("csrf", tok)
}

// checkAnonCSRF verifies a form's token against the visitor's cookie.
func (s *Server) checkAnonCSRF(c *gin.Context) bool {
	ck, err := c.Cookie("pg_csrf")
	return err == nil && len(ck) >= 32 && auth.TokenEqual(c.PostForm("csrf"), s.sign("csrf", ck))
}

// theme returns operator's theme, the default when none is saved.
func (s *Server) theme(c *gin.Context, operator string) brand.Theme {
	t, err := s.deps.Brand.Theme(c.Request.Context(), operator)
	if err != nil {
		if !errors.Is(err, brand.ErrNotFound) {
			s.log.Warn("dashboard: theme", "operator", operator, "err", err)
		}
		return brand.Default(operator)
	}
	return t
}

func (s *Server) routes() (*gin.Engine, error) {
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, v any) {
		s.log.Error("dashboard: handler panicked", "path", c.Request.URL.Path, "panic", v)
		c.AbortWithStatus(http.StatusInternalServerError)
	}), s.securityHeaders, limitBody)
	r.NoRoute(func(c *gin.Context) { s.errorPage(c, http.StatusNotFound, "err.notfound") })

	s.pwaRoutes(r)
	r.GET("/brand/asset/:hash", s.asset)
	s.driverRoutes(r)
	s.operatorRoutes(r)
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/ops/") })
	return r, nil
}

// errorPage renders the clear error page for key.
func (s *Server) errorPage(c *gin.Context, status int, key string) {
	s.errorPageTheme(c, status, key, brand.Theme{}, "")
}

func (s *Server) errorPageTheme(c *gin.Context, status int, key string, th brand.Theme, back string) {
	lang := s.lang(c)
	s.render(c, status, "error", page{Lang: lang, Title: T(lang, "err.title"), Theme: th,
		Data: struct{ Key, Message, Back string }{key, T(lang, key), back}})
}
