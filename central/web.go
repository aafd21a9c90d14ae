package central

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/command"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/web"
	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/dashboard/auth"
	dashstore "github.com/parkgrid/parkgrid/dashboard/store"
)

// This file mounts the driver app and the operator dashboard (package
// dashboard over central/web's adapters) at "/" of central's HTTP
// listener, beside /api/v1. Its users, login sessions, audit log and
// white label live in the dashboard's own tables of central's database.

// webSecret is the dashboard's signing secret: the configured one, or one
// derived from central's key (so the same on every replica).
func webSecret(cfg *centralconfig.Web, key ed25519.PrivateKey) []byte {
	if len(cfg.Secret) >= 32 {
		return cfg.Secret
	}
	sum := sha256.Sum256(append([]byte("parkgrid dashboard secret\x00"), key.Seed()...))
	return sum[:]
}

// codeKey derives the key of the access codes made in the dashboard.
func codeKey(key ed25519.PrivateKey) []byte {
	sum := sha256.Sum256(append([]byte("parkgrid dashboard access codes\x00"), key.Seed()...))
	return sum[:]
}

// safetyReset is the command the dashboard's alarm reset sends.
type safetyReset = web.SafetyReset

var _ safetyReset = (*command.Commander)(nil)

// mountWeb builds the web app and mounts it at "/" of mux; it returns
// what closes its store. Without web.public_url it mounts nothing.
func mountWeb(ctx context.Context, mux *http.ServeMux, cfg *centralconfig.Config, st store.Store, b *billing, edge web.Edge,
	key ed25519.PrivateKey, now func() time.Time, log *slog.Logger) (func(), error) {
	if !cfg.Web.Enabled() {
		return func() {}, nil
	}
	var (
		ds  *dashstore.DB
		err error
	)
	switch cfg.Store.Driver {
	case centralconfig.DriverSQLite:
		ds, err = dashstore.OpenSQLite(ctx, cfg.Store.Path, now())
	case centralconfig.DriverPostgres:
		ds, err = dashstore.OpenPostgres(ctx, cfg.Store.DSN, now())
	default:
		err = fmt.Errorf("store driver %q", cfg.Store.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	closeAll := func() { ds.Close() }
	if err := seedAdmin(ctx, ds, cfg.Web.Admin, now(), log); err != nil {
		closeAll()
		return nil, err
	}
	var safety safetyReset
	if s, ok := edge.(safetyReset); ok {
		safety = s
	}
	reports := report.Handler(report.HandlerConfig{
		Usage:    b.usage,
		Stations: catalog.Stations{Store: b.catalog, Keys: meterKeys{st}},
		Operator: web.OperatorOf, Logger: log.With("component", "report"),
	})
	adapter, err := web.New(web.Config{
		Catalog: b.catalog, Codes: b.codes, Sessions: b.sessions, Store: b.sessionStore, Invoices: b.invoices, Edge: edge,
		Ingest: st, API: b.api.Handler(), Holds: b.api, Provider: cfg.Payment.Provider, Reports: reports, Usage: b.usage,
		Live: liveEnergy{st: st, sessions: b.sessionStore, now: now}, Safety: safety, CodeKey: codeKey(key),
		Now: now, Logger: log.With("component", "web"),
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	srv, err := dashboard.New(dashboard.Deps{
		Users: ds, Sessions: ds, Audit: ds, Brand: ds, Driver: adapter,
		Sites: adapter, Alarms: adapter, Live: adapter, Load: adapter, Tariffs: adapter, Codes: adapter, Reports: adapter, Chart: adapter,
	}, dashboard.Options{PublicURL: cfg.Web.PublicURL, Secret: webSecret(cfg.Web, key), Logger: log.With("component", "dashboard"), Now: now})
	if err != nil {
		closeAll()
		return nil, err
	}
	mux.Handle("/", srv)
	log.Info("web app mounted", "public_url", cfg.Web.PublicURL)
	return closeAll, nil
}

// seedAdmin creates the configured first user unless that e-mail exists.
func seedAdmin(ctx context.Context, users auth.UserStore, u *centralconfig.WebUser, now time.Time, log *slog.Logger) error {
	if u == nil {
		return nil
	}
	email, err := auth.NormalizeEmail(u.Email)
	if err != nil {
		return fmt.Errorf("web.admin: %w", err)
	}
	if _, err := users.UserByEmail(ctx, email); err == nil {
		return nil
	} else if !errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("web.admin: %w", err)
	}
	hash, err := auth.HashPassword(u.Password)
	if err != nil {
		return fmt.Errorf("web.admin: %w", err)
	}
	id, err := catalog.NewID("u_")
	if err != nil {
		return err
	}
	if err := users.CreateUser(ctx, auth.User{ID: id, Operator: u.Operator, Email: email, Name: "Administrator", Role: auth.RoleAdmin,
		PasswordHash: hash, CreatedAt: now}); err != nil {
		return fmt.Errorf("web.admin: %w", err)
	}
	log.Info("dashboard admin created", "email", email, "operator", u.Operator)
	return nil
}

// opsPrivate reports whether /metrics and /api/v1/ingest/* may share the
// main listener: always without the web app, else only on loopback.
func opsPrivate(cfg *centralconfig.Config) bool {
	if !cfg.Web.Enabled() {
		return true
	}
	host, _, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// serveOps puts the operations endpoints on the main mux when they may
// share its listener (opsPrivate), else on their own listener at
// web.metrics_listen, run under wg until ctx ends.
func serveOps(ctx context.Context, wg *sync.WaitGroup, errs chan<- error, mux, ops *http.ServeMux, cfg *centralconfig.Config, log *slog.Logger) error {
	if opsPrivate(cfg) {
		mux.Handle("GET /metrics", ops)
		mux.Handle("/api/v1/ingest/", ops)
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Web.MetricsListen)
	if err != nil {
		return fmt.Errorf("web.metrics_listen %s: %w", cfg.Web.MetricsListen, err)
	}
	srv := &http.Server{Handler: ops, ReadHeaderTimeout: 5 * time.Second}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("metrics http: %w", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown)
	})
	log.Info("metrics and ingest endpoints on their own listener", "listen", ln.Addr().String())
	return nil
}
