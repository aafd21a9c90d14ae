package central

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/parkgrid/parkgrid/central/accesscode"
	acsql "github.com/parkgrid/parkgrid/central/accesscode/sqlstore"
	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/catalog"
	catsql "github.com/parkgrid/parkgrid/central/catalog/sqlstore"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/invoice"
	invoicepg "github.com/parkgrid/parkgrid/central/invoice/postgres"
	invoicesqlite "github.com/parkgrid/parkgrid/central/invoice/sqlite"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/payment/paypal"
	"github.com/parkgrid/parkgrid/central/payment/stripe"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
	sessionpg "github.com/parkgrid/parkgrid/central/session/postgres"
	sessionsqlite "github.com/parkgrid/parkgrid/central/session/sqlite"
	"github.com/parkgrid/parkgrid/central/session/storesnap"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/sqldb"
)

// This file wires billing: the catalog, access codes and sessions on the
// configured database (their own migration sets, a handle of their own
// beside central/store's), the payment provider, the session state machine
// and the REST API.

// billing is what openBilling built; close releases its handles.
type billing struct {
	sessions     *session.Service
	sessionStore session.Store
	catalog      *catsql.Store
	api          *api.API
	close        func()

	// For mail and jobs (mailwire.go, jobswire.go): the handle and dialect
	// the billing tables are on (pool: PostgreSQL's, else nil), the
	// invoices, the usage report's rows, and a signal after every invoice
	// this replica issued.
	db       *sql.DB
	dialect  string
	pool     *pgxpool.Pool
	invoices invoiceReader
	usage    report.Source
	invoiced chan struct{}

	codes *acsql.Store // for the web app (web.go)
}

// meterKeys reads the meter's current key from central's store.
type meterKeys struct{ st store.Store }

func (k meterKeys) MeterPublicKey(ctx context.Context, site, device string) (string, error) {
	m, err := k.st.MeterKey(ctx, site, device)
	if err != nil {
		return "", err
	}
	return m.PublicKey, nil
}

// liveEnergy estimates a charging session's energy from the meter's
// unsigned energy register samples: the last sample minus the first one
// since the session began charging. Display only; billing uses the signed
// snapshots.
type liveEnergy struct {
	st interface {
		Readings(ctx context.Context, f store.ReadingFilter) ([]store.StoredReading, error)
	}
	sessions interface {
		Transitions(ctx context.Context, id string) ([]session.Transition, error)
	}
	now func() time.Time
}

func (l liveEnergy) EnergySoFar(ctx context.Context, s session.Session) (int64, time.Time, bool, error) {
	trs, err := l.sessions.Transitions(ctx, s.ID)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	var since time.Time
	for _, tr := range trs {
		if tr.To == session.StateCharging {
			since = tr.At
			break
		}
	}
	if since.IsZero() {
		return 0, since, false, nil
	}
	f := store.ReadingFilter{Site: s.Site, Device: s.Meter, Quantity: reading.QEnergyWh, From: since, Limit: 1}
	first, err := l.st.Readings(ctx, f)
	if err != nil || len(first) == 0 {
		return 0, since, false, err
	}
	f.From, f.Limit = since, 0
	if recent := l.now().Add(-2 * time.Minute); recent.After(since) {
		f.From = recent
	}
	recent, err := l.st.Readings(ctx, f)
	if err != nil || len(recent) == 0 {
		return 0, since, false, err
	}
	return max(recent[len(recent)-1].Value-first[0].Value, 0), since, true, nil
}

// codeLabels names the access code and cost centre of a session for the
// usage reports.
type codeLabels struct {
	codes interface {
		Code(ctx context.Context, operator, id string) (accesscode.Code, error)
	}
}

func (l codeLabels) Labels(ctx context.Context, s session.Session) (report.Labels, error) {
	id, ok := accesscode.CodeOf(s.Payee)
	if !ok {
		return report.Labels{}, nil
	}
	c, err := l.codes.Code(ctx, s.Operator, id)
	if err != nil {
		return report.Labels{}, err
	}
	return report.Labels{AccessCode: c.ID, CostCentre: c.CostCentre, Group: c.Group}, nil
}

// invoiceReader reads invoices on the dialect's handle.
type invoiceReader func(ctx context.Context, operator string, number int64) (invoice.Invoice, error)

func (f invoiceReader) Invoice(ctx context.Context, operator string, number int64) (invoice.Invoice, error) {
	return f(ctx, operator, number)
}

// newProvider builds the configured payment provider (nil for none).
func newProvider(c centralconfig.Payment, now func() time.Time, log *slog.Logger) (payment.Provider, error) {
	switch c.Provider {
	case "":
		return nil, nil
	case centralconfig.ProviderFake:
		return fake.New(fake.Options{Now: now, Logger: log, AutoApprove: true, WebhookSecret: c.WebhookSecret}), nil
	case centralconfig.ProviderStripe:
		return stripe.New(stripe.Config{SecretKey: c.Stripe.SecretKey, WebhookSecret: c.Stripe.WebhookSecret,
			OnBehalfOf: c.Stripe.OnBehalfOf, URL: c.Stripe.URL, Logger: log})
	case centralconfig.ProviderPayPal:
		return paypal.New(paypal.Config{BaseURL: c.PayPal.BaseURL, ClientID: c.PayPal.ClientID, Secret: c.PayPal.Secret,
			WebhookID: c.PayPal.WebhookID, BrandName: c.PayPal.BrandName, Now: now, Logger: log})
	}
	return nil, fmt.Errorf("payment provider %q", c.Provider)
}

// tokenKey derives the API's driver-token key from central's key, so it
// is secret, stable across restarts and the same on every replica.
func tokenKey(key ed25519.PrivateKey) []byte {
	sum := sha256.Sum256(append([]byte("parkgrid api driver tokens\x00"), key.Seed()...))
	return sum[:]
}

// openBilling opens and migrates the billing tables, seeds the catalog
// from the config and builds the session service and the API.
func openBilling(ctx context.Context, cfg *centralconfig.Config, st store.Store, edge api.Edge, key ed25519.PrivateKey,
	now func() time.Time, log *slog.Logger) (*billing, error) {
	var (
		db       *sql.DB
		dialect  string
		sessions session.Store
		invoices invoiceReader
		pool     *pgxpool.Pool
		closers  []func()
	)
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	switch cfg.Store.Driver {
	case centralconfig.DriverSQLite:
		var err error
		db, err = sql.Open("sqlite", "file:"+cfg.Store.Path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("billing: open %s: %w", cfg.Store.Path, err)
		}
		db.SetMaxOpenConns(4)
		closers = append(closers, func() { db.Close() })
		dialect = sqldb.SQLite
		if err := sessionsqlite.Migrate(ctx, db, now()); err != nil {
			closeAll()
			return nil, err
		}
		sessions = sessionsqlite.New(db)
		invoices = func(ctx context.Context, op string, n int64) (invoice.Invoice, error) {
			return invoicesqlite.Get(ctx, db, op, n)
		}
	case centralconfig.DriverPostgres:
		var err error
		pool, err = pgxpool.New(ctx, cfg.Store.DSN)
		if err != nil {
			return nil, fmt.Errorf("billing: connect: %w", err)
		}
		closers = append(closers, pool.Close)
		db = stdlib.OpenDBFromPool(pool)
		closers = append(closers, func() { db.Close() })
		dialect = sqldb.Postgres
		if err := sessionpg.Migrate(ctx, pool, now()); err != nil {
			closeAll()
			return nil, err
		}
		sessions = sessionpg.New(pool)
		invoices = func(ctx context.Context, op string, n int64) (invoice.Invoice, error) {
			return invoicepg.Get(ctx, pool, op, n)
		}
	default:
		return nil, fmt.Errorf("billing: store driver %q", cfg.Store.Driver)
	}
	b, err := buildBilling(ctx, cfg, db, dialect, sessions, invoices, st, edge, key, now, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	b.close = closeAll
	b.db, b.dialect, b.pool, b.invoices = db, dialect, pool, invoices
	// Finish what a crash interrupted before the API takes new work (the
	// jobs repeat it periodically); a session it cannot finish is logged.
	rep, err := b.sessions.Reconcile(ctx, now())
	if err != nil {
		log.Warn("reconcile sessions at start", "looked", rep.Looked, "err", err)
	} else if rep.Looked > 0 {
		log.Info("reconciled sessions at start", "looked", rep.Looked, "authorized", rep.Authorized, "billed", rep.Billed, "released", rep.Released)
	}
	return b, nil
}

func buildBilling(ctx context.Context, cfg *centralconfig.Config, db *sql.DB, dialect string, sessions session.Store, invoices invoiceReader,
	st store.Store, edge api.Edge, key ed25519.PrivateKey, now func() time.Time, log *slog.Logger) (*billing, error) {
	if err := catsql.Migrate(ctx, db, dialect, now()); err != nil {
		return nil, err
	}
	if err := acsql.Migrate(ctx, db, dialect, now()); err != nil {
		return nil, err
	}
	cat, codes := catsql.New(db, dialect), acsql.New(db, dialect)
	if err := seedCatalog(ctx, cat, cfg, now(), log); err != nil {
		return nil, err
	}
	provider, err := newProvider(cfg.Payment, now, log.With("component", "payment"))
	if err != nil {
		return nil, err
	}
	pay := accesscode.Payments{}
	webhooks := map[string]payment.WebhookVerifier{}
	var holds api.Holds
	if provider != nil {
		pay.Provider, holds = provider, provider
		webhooks[cfg.Payment.Provider] = provider
	}
	issuers := catalog.Issuers{Store: cat, Keys: meterKeys{st}}
	invoiced := make(chan struct{}, 1) // mailwire.go: the receipt goes out at once
	svc, err := session.New(session.Config{Store: invoiceHook{Store: sessions, issued: invoiced}, Payments: pay, Snapshots: storesnap.New(st), Issuers: issuers,
		Logger: log.With("component", "session")})
	if err != nil {
		return nil, err
	}
	usage := report.SessionSource{Sessions: sessions, Labels: codeLabels{codes}}
	reports := report.Handler(report.HandlerConfig{
		Usage:    usage,
		Stations: catalog.Stations{Store: cat, Keys: meterKeys{st}},
		Records:  report.SessionRecords{Sessions: sessions, Issuers: issuers},
		Operator: api.OperatorOf, Logger: log.With("component", "report"),
	})
	a, err := api.New(api.Config{
		Catalog: cat, Codes: codes, Sessions: svc, SessionStore: sessions, Invoices: invoices, Edge: edge,
		Holds: holds, Webhooks: webhooks, Provider: cfg.Payment.Provider, CodeCapWh: cfg.API.CodeEnergyCapWh,
		HoldValidity: cfg.API.HoldValidity, TokenKey: tokenKey(key), Reports: reports, Now: now, Logger: log.With("component", "api"),
		Live: liveEnergy{st: st, sessions: sessions, now: now}, Readings: st,
	})
	if err != nil {
		return nil, err
	}
	return &billing{sessions: svc, sessionStore: sessions, catalog: cat, api: a, usage: usage, invoiced: invoiced, codes: codes}, nil
}

// seedCatalog stores the config's operators, tariffs, sites, points and
// API tokens. A tariff unchanged since the last start keeps its version.
func seedCatalog(ctx context.Context, cat catalog.Store, cfg *centralconfig.Config, now time.Time, log *slog.Logger) error {
	for _, o := range cfg.Operators {
		sd, err := o.Catalog()
		if err != nil {
			return fmt.Errorf("operator %s: %w", o.ID, err) // Load checked it
		}
		if err := cat.PutOperator(ctx, sd.Operator); err != nil {
			return err
		}
		for _, t := range sd.Tariffs {
			if _, err := cat.PutTariff(ctx, t, now); err != nil {
				return err
			}
		}
		for _, s := range sd.Sites {
			if err := cat.PutSite(ctx, s); err != nil {
				return err
			}
		}
		for _, p := range sd.Points {
			if err := cat.PutPoint(ctx, p); err != nil {
				return err
			}
		}
		log.Info("operator seeded", "operator", o.ID, "tariffs", len(sd.Tariffs), "sites", len(sd.Sites), "points", len(sd.Points))
	}
	ids := make([]string, 0, len(cfg.API.Tokens))
	for _, t := range cfg.API.Tokens {
		if err := cat.AddToken(ctx, catalog.Token{ID: t.ID, Operator: t.Operator, Name: t.Name, Hash: t.Hash, CreatedAt: now}); err != nil {
			return err
		}
		ids = append(ids, t.ID)
	}
	// A token removed from the config is revoked.
	n, err := cat.KeepTokens(ctx, ids)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("operator tokens revoked: no longer in the config", "count", n)
	}
	return nil
}

// mountAPI serves the REST API on mux beside central's own endpoints.
func mountAPI(mux *http.ServeMux, b *billing) error {
	if b == nil || b.api == nil {
		return errors.New("api: not built")
	}
	mux.Handle("/api/v1/", b.api.Handler())
	return nil
}
