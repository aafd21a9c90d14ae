package emsapi

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/edge/emsapi/token"
)

// This file holds the REST API's guards, in the order they run:
//
//  1. hostGuard: the Host header must name this edge: an IP literal,
//     localhost, or one of Options.AllowedHosts. A DNS-rebinding page
//     (evil.example resolving to the gateway) sends Host: evil.example and
//     is refused.
//  2. originGuard: a browser's cross-site request (an Origin header that is
//     not this edge's own origin or one of Options.AllowedOrigins, or
//     Sec-Fetch-Site: cross-site) is refused, so a web page in an
//     operator's browser cannot drive the API (CSRF).
//  3. scope: with Options.Auth set, every route but the OpenAPI document
//     needs "Authorization: Bearer <token>" whose token carries the route's
//     scope: 401 without a valid token, 403 without the scope.
//  4. jsonBody: a POST must say Content-Type: application/json (415
//     otherwise), which a cross-site form or a text/plain fetch cannot.
//
// Every refusal is a JSON error body, like the handlers' own.

// Authenticator checks a presented bearer token; *token.File implements
// it.
type Authenticator interface {
	Authenticate(presented string) (token.Entry, bool)
}

// principalKey is where scope leaves the authenticated token's name.
const principalKey = "emsapi.principal"

// realm names the API in WWW-Authenticate.
const realm = `Bearer realm="parkgrid-edge"`

// hostGuard refuses requests whose Host is not this edge.
func (a *rest) hostGuard(c *gin.Context) {
	host := c.Request.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" || net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") ||
		slices.ContainsFunc(a.o.AllowedHosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		c.Next()
		return
	}
	a.refuse(c, http.StatusForbidden, "host "+quote(c.Request.Host)+" is not this edge's (add it to ems.rest.allowed_hosts)")
}

// originGuard refuses cross-site browser requests.
func (a *rest) originGuard(c *gin.Context) {
	r := c.Request
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		a.refuse(c, http.StatusForbidden, "cross-site request refused")
		return
	}
	origin := r.Header.Get("Origin")
	if origin == "" || a.sameOrigin(r, origin) || slices.Contains(a.o.AllowedOrigins, origin) {
		c.Next()
		return
	}
	a.refuse(c, http.StatusForbidden, "origin "+quote(origin)+" refused (add it to ems.rest.allowed_origins)")
}

// sameOrigin reports whether origin is the request's own scheme and host.
func (a *rest) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

// scope requires a token with s when the API authenticates.
func (a *rest) scope(s token.Scope) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.o.Auth == nil {
			c.Next()
			return
		}
		h := c.GetHeader("Authorization")
		if h == "" {
			c.Header("WWW-Authenticate", realm)
			a.refuse(c, http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token>")
			return
		}
		presented, ok := token.ParseBearer(h)
		var e token.Entry
		if ok {
			e, ok = a.o.Auth.Authenticate(presented)
		}
		if !ok {
			c.Header("WWW-Authenticate", realm+`, error="invalid_token"`)
			a.o.Logger.Warn("emsapi: request with an invalid token refused", "path", c.Request.URL.Path, "remote", c.ClientIP())
			a.refuse(c, http.StatusUnauthorized, "invalid token")
			return
		}
		if !e.Has(s) {
			c.Header("WWW-Authenticate", realm+`, error="insufficient_scope", scope="`+string(s)+`"`)
			a.refuse(c, http.StatusForbidden, "token "+quote(e.Name)+" lacks scope "+string(s))
			return
		}
		c.Set(principalKey, e.Name)
		c.Next()
	}
}

// jsonBody requires Content-Type: application/json on requests with a body.
func (a *rest) jsonBody(c *gin.Context) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		a.refuse(c, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	c.Next()
}

// principal is the authenticated token's name; "" without authentication.
func principal(c *gin.Context) string { return c.GetString(principalKey) }

func (a *rest) refuse(c *gin.Context, code int, msg string) {
	c.AbortWithStatusJSON(code, errorBody{Error: msg})
}

// quote bounds and quotes outside text for an error message.
func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s), "?") + `"`
}
