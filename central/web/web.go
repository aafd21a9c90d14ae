package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/dashboard"
)

// Sessions is what the adapter asks of the session state machine
// (*session.Service) to end a driver's session.
type Sessions interface {
	Stop(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
	Cancel(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
}

// SessionReader reads sessions (session.Store).
type SessionReader interface {
	Session(ctx context.Context, id string) (session.Session, error)
	Transitions(ctx context.Context, id string) ([]session.Transition, error)
	List(ctx context.Context, f session.Filter) ([]session.Session, error)
}

// Edge stops a point at the edge (central/command).
type Edge interface {
	Stop(ctx context.Context, site, point, sessionID string) error
}

// HoldConfirmer asks the provider for a created session's hold and
// authorises the point at the edge once it is authorized (central/api's
// ConfirmHold).
type HoldConfirmer interface {
	ConfirmHold(ctx context.Context, id string) (s session.Session, edge string, err error)
}

// SafetyReset asks a site's edge to release its safety latch (central/
// command's ResetSafety); who names the operator's user and why the
// alarm, for the edge's audit.
type SafetyReset interface {
	ResetSafety(ctx context.Context, site, who, why string) error
}

// Invoices reads an issued invoice.
type Invoices interface {
	Invoice(ctx context.Context, operator string, number int64) (invoice.Invoice, error)
}

// Ingest is what the adapter reads of central's ingest store: readings
// for the live state, the site's recent batches for its events.
type Ingest interface {
	Readings(ctx context.Context, f store.ReadingFilter) ([]store.StoredReading, error)
	Progress(ctx context.Context, f store.ProgressFilter) ([]store.Progress, error)
	Gateway(ctx context.Context, id string) (store.Gateway, error)
	Batches(ctx context.Context, f store.BatchFilter) ([]store.StoredBatch, error)
}

// Live estimates a charging session's energy so far (central's liveEnergy).
type Live interface {
	EnergySoFar(ctx context.Context, s session.Session) (wh int64, since time.Time, ok bool, err error)
}

// Config wires an Adapter. All fields but Safety, Live and Logger are
// required.
type Config struct {
	Catalog  catalog.Store
	Codes    accesscode.Store
	Sessions Sessions
	Store    SessionReader
	Invoices Invoices
	Edge     Edge
	Ingest   Ingest
	// API is central/api's handler: driver starts are posted to it
	// in-process. Provider is its payment provider's name ("fake",
	// "stripe", "paypal"; "" when only codes start sessions).
	API      http.Handler
	Provider string
	// Holds confirms the hold of a driver back from the provider's hosted
	// payment page (central/api's *API); nil: the session waits for the
	// provider's webhook.
	Holds HoldConfirmer
	// Reports is central/report's handler; Operator is the function it
	// was built with, which must read the operator from ContextWithOperator.
	Reports http.Handler
	Usage   report.Source
	Live    Live
	Safety  SafetyReset // nil: alarms cannot be reset from the dashboard
	// CodeKey derives the secrets of codes made in the dashboard, so the
	// codes page can show them again; at least 32 bytes.
	CodeKey []byte
	// OfflineAfter: a site with no reading for this long is offline;
	// 0: 30 s. EventWindow: how far back alarms and limits are read from
	// the site's batches; 0: 1 h.
	OfflineAfter time.Duration
	EventWindow  time.Duration
	// Poll is how often Subscribe looks for new progress; 0: 1 s.
	Poll   time.Duration
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Adapter implements dashboard.Driver and every operator port.
type Adapter struct {
	c   Config
	now func() time.Time
	log *slog.Logger
}

var (
	_ dashboard.Driver       = (*Adapter)(nil)
	_ dashboard.SiteView     = (*Adapter)(nil)
	_ dashboard.AlarmControl = (*Adapter)(nil)
	_ dashboard.SessionView  = (*Adapter)(nil)
	_ dashboard.LoadViewer   = (*Adapter)(nil)
	_ dashboard.TariffEditor = (*Adapter)(nil)
	_ dashboard.CodeAdmin    = (*Adapter)(nil)
	_ dashboard.ReportSource = (*Adapter)(nil)
	_ dashboard.EnergyChart  = (*Adapter)(nil)
)

// New checks c.
func New(c Config) (*Adapter, error) {
	if c.Catalog == nil || c.Codes == nil || c.Sessions == nil || c.Store == nil || c.Invoices == nil ||
		c.Edge == nil || c.Ingest == nil || c.API == nil || c.Reports == nil || c.Usage == nil {
		return nil, errors.New("web: catalog, codes, sessions, session store, invoices, edge, ingest, api, reports and usage are required")
	}
	if len(c.CodeKey) < 32 {
		return nil, errors.New("web: code key of at least 32 bytes required")
	}
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = 30 * time.Second
	}
	if c.EventWindow <= 0 {
		c.EventWindow = time.Hour
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	a := &Adapter{c: c, now: c.Now, log: c.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// PointID is the dashboard's id of a catalog point: "<site>~<point>".
func PointID(site, point string) string { return site + "~" + point }

// splitPoint parses a PointID.
func splitPoint(id string) (site, point string, err error) {
	site, point, ok := strings.Cut(id, "~")
	if !ok || catalog.CheckID(site) != nil || catalog.CheckID(point) != nil {
		return "", "", fmt.Errorf("point %q: %w", id, dashboard.ErrNotFound)
	}
	return site, point, nil
}

// notFound maps the stores' not-found errors to the dashboard's.
func notFound(err error) error {
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, accesscode.ErrNotFound) ||
		errors.Is(err, session.ErrNotFound) || errors.Is(err, invoice.ErrNotFound) {
		return fmt.Errorf("%w: %w", dashboard.ErrNotFound, err)
	}
	return err
}

type operatorKey struct{}

// ContextWithOperator scopes a report request to operator.
func ContextWithOperator(ctx context.Context, operator string) context.Context {
	return context.WithValue(ctx, operatorKey{}, operator)
}

// OperatorOf is the report handler's Operator: the operator
// ContextWithOperator put in the request's context.
func OperatorOf(r *http.Request) (string, bool) {
	op, ok := r.Context().Value(operatorKey{}).(string)
	return op, ok && op != ""
}
