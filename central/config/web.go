package config

// This file holds the web section of central's config: the driver app
// and the operator dashboard (package dashboard), served on http.listen
// beside /api/v1.
//
//	web:
//	  public_url: https://charge.example.com   # what QR codes and NFC tags carry; required to serve the web app
//	  secret_file: ""            # ≥ 32 bytes signing the drivers' cookies; empty: derived from central's key
//	                             # (the same on every replica that shares the key)
//	  metrics_listen: 127.0.0.1:9464   # /metrics and /api/v1/ingest/* when http.listen is not loopback
//	  admin:                     # the first dashboard user, created at start when missing
//	    email: admin@example.com
//	    operator: demo-op        # its tenant: one of operators
//	    password_file: admin.pw  # first line (relative to this file); or password: ${VAR}
//
// Without a web section (or without public_url) central serves no web
// app, and http.listen keeps /metrics and /api/v1/ingest/* as before.

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
)

// DefaultMetricsListen is where /metrics and /api/v1/ingest/* go when the
// web app is served on a listener that is not loopback.
const DefaultMetricsListen = "127.0.0.1:9464"

// Web configures the driver app and the operator dashboard.
type Web struct {
	PublicURL     string   `yaml:"public_url"`
	SecretFile    string   `yaml:"secret_file"`
	MetricsListen string   `yaml:"metrics_listen"`
	Admin         *WebUser `yaml:"admin"`
	// Secret is read from SecretFile by Load; nil: derive from central's key.
	Secret []byte `yaml:"-"`
}

// WebUser is a dashboard user seeded from the config.
type WebUser struct {
	Email        string `yaml:"email"`
	Operator     string `yaml:"operator"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Enabled reports whether central serves the web app.
func (w *Web) Enabled() bool { return w != nil && w.PublicURL != "" }

func (c *Config) resolveWeb(dir string) {
	if c.Web == nil {
		return
	}
	if c.Web.MetricsListen == "" {
		c.Web.MetricsListen = DefaultMetricsListen
	}
	if c.Web.SecretFile != "" && !filepath.IsAbs(c.Web.SecretFile) {
		c.Web.SecretFile = filepath.Join(dir, c.Web.SecretFile)
	}
	if a := c.Web.Admin; a != nil && a.PasswordFile != "" && !filepath.IsAbs(a.PasswordFile) {
		a.PasswordFile = filepath.Join(dir, a.PasswordFile)
	}
}

func (c *Config) validateWeb() []error {
	w := c.Web
	if w == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if w.PublicURL != "" {
		u, err := url.Parse(w.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("web.public_url %q: want http(s)://host[:port] without a path", w.PublicURL)
		}
	}
	if _, _, err := net.SplitHostPort(w.MetricsListen); err != nil {
		bad("web.metrics_listen %q: want host:port", w.MetricsListen)
	}
	if w.SecretFile != "" {
		s, err := readSecret(w.SecretFile)
		switch {
		case err != nil:
			bad("web.secret_file: %v", err)
		case len(s) < 32:
			bad("web.secret_file %s: %d bytes, want at least 32", w.SecretFile, len(s))
		default:
			w.Secret = []byte(s)
		}
	}
	if a := w.Admin; a != nil {
		if err := secret("web.admin.password", &a.Password, &a.PasswordFile, true); err != nil {
			bad("%v", err)
		} else if len(a.Password) < 12 {
			bad("web.admin.password: %d characters, want at least 12", len(a.Password))
		}
		if a.Email == "" {
			bad("web.admin.email: required")
		}
		known := false
		for _, o := range c.Operators {
			known = known || o.ID == a.Operator
		}
		if !known {
			bad("web.admin.operator %q: not one of operators", a.Operator)
		}
	}
	return errs
}
