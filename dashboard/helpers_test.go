package dashboard_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/dashtest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running dashboard on the fixture, with the fake provider's
// payment page on its own server.
type env struct {
	srv   *httptest.Server
	pay   *httptest.Server
	fx    *dashtest.Fixture
	clock *clock
	dash  *dashboard.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	gin.SetMode(gin.TestMode) // process-wide; cmd/parkgrid sets ReleaseMode
	e := &env{clock: &clock{t: time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)}}
	var h http.Handler = http.NotFoundHandler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	var payH http.Handler = http.NotFoundHandler()
	e.pay = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { payH.ServeHTTP(w, r) }))
	t.Cleanup(e.pay.Close)
	fx, err := dashtest.NewFixture(e.pay.URL, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e.fx = fx
	payH = fx.Driver.PayHandler()
	e.dash, err = dashboard.New(fx.Deps(), dashboard.Options{PublicURL: e.srv.URL, Secret: []byte("0123456789abcdef0123456789abcdef"), Now: e.clock.Now, Auth: fastAuth})
	if err != nil {
		t.Fatal(err)
	}
	h = e.dash
	return e
}

// browser is a client with cookies that does not follow redirects.
type browser struct {
	t    testing.TB
	c    *http.Client
	base string
	lang string
}

func (e *env) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.srv.URL, lang: "en", c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (int, http.Header, string) {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

func (b *browser) get(path string) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, abs(b.base, path), nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, abs(b.base, path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func abs(base, p string) string {
	if strings.HasPrefix(p, "http") {
		return p
	}
	return base + p
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the first CSRF token of a page.
func csrf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf token in page:\n%.500s", body)
	}
	return m[1]
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.base + "/ops/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// login logs b in and returns the dashboard's overview page.
func (b *browser) login(email string) string {
	b.t.Helper()
	_, _, page := b.get("/ops/login")
	code, h, body := b.post("/ops/login", url.Values{"csrf": {csrf(b.t, page)}, "email": {email}, "password": {dashtest.Password}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ops/" {
		b.t.Fatalf("login %s: %d %s\n%.300s", email, code, h.Get("Location"), body)
	}
	_, _, body = b.get("/ops/")
	return body
}

func newServerWithURL(e *env, public string) (*dashboard.Server, error) {
	return dashboard.New(e.fx.Deps(), dashboard.Options{PublicURL: public, Secret: []byte("0123456789abcdef0123456789abcdef"), Now: e.clock.Now, Auth: fastAuth})
}

// fastAuth hashes at bcrypt's minimum cost: the tests log in often.
var fastAuth = auth.Config{PasswordCost: bcrypt.MinCost}

func doRec(h http.Handler, method, path string, _ any) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}
