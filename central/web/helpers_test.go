package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/accesscode"
	acsql "github.com/parkgrid/parkgrid/central/accesscode/sqlstore"
	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/catalog/catalogtest"
	"github.com/parkgrid/parkgrid/central/catalog/sqlstore"
	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/web"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqldb/sqldbtest"
)

// fakeEdge records the commands sent to the edges.
type fakeEdge struct {
	mu     sync.Mutex
	calls  []string
	resets []string
}

func (e *fakeEdge) Authorize(_ context.Context, site, point, id, _ string, _ int64, _ time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "authorize "+site+"/"+point+" "+id)
	return nil
}

func (e *fakeEdge) Stop(_ context.Context, site, point, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "stop "+site+"/"+point+" "+id)
	return nil
}

func (e *fakeEdge) ResetSafety(_ context.Context, site, by, _ string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resets = append(e.resets, site+" by "+by)
	return nil
}

// fakeIngest holds readings and one gateway's batches per site.
type fakeIngest struct {
	mu       sync.Mutex
	readings []store.StoredReading
	batches  map[string][]store.StoredBatch // gateway → batches
	gateways map[string]string              // gateway → site
}

func (f *fakeIngest) add(site string, r reading.Reading) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readings = append(f.readings, store.StoredReading{Site: site, Reading: r})
}

func (f *fakeIngest) addEvents(t *testing.T, site string, sent time.Time, evs ...reading.Event) {
	t.Helper()
	gw := "gw-" + site
	b := reading.Batch{Version: reading.CurrentVersion, Site: site, Gateway: gw, Seq: uint64(len(f.batches[gw]) + 1), Sent: sent, Events: evs}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gateways[gw] = site
	f.batches[gw] = append(f.batches[gw], store.StoredBatch{Gateway: gw, Seq: b.Seq, Site: site, Sent: sent, Body: raw})
}

func (f *fakeIngest) Readings(_ context.Context, q store.ReadingFilter) ([]store.StoredReading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.StoredReading
	for _, r := range f.readings {
		if (q.Site == "" || r.Site == q.Site) && (q.Device == "" || r.Device == q.Device) && (q.Quantity == "" || r.Quantity == q.Quantity) &&
			!r.Time.Before(q.From) && (q.To.IsZero() || r.Time.Before(q.To)) {
			out = append(out, r)
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

func (f *fakeIngest) Progress(context.Context, store.ProgressFilter) ([]store.Progress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Progress
	for gw := range f.gateways {
		out = append(out, store.Progress{Stream: store.Stream{Gateway: gw}})
	}
	return out, nil
}

func (f *fakeIngest) Gateway(_ context.Context, id string) (store.Gateway, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	site, ok := f.gateways[id]
	if !ok {
		return store.Gateway{}, store.ErrNotFound
	}
	return store.Gateway{ID: id, Site: site}, nil
}

func (f *fakeIngest) Batches(_ context.Context, q store.BatchFilter) ([]store.StoredBatch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.StoredBatch
	for _, b := range f.batches[q.Gateway] {
		if !b.Sent.Before(q.From) && b.Sent.Before(q.To) {
			out = append(out, b)
		}
	}
	return out, nil
}

// memInvoices reads the memory store's invoices.
type memInvoices struct{ m *sessiontest.Memory }

func (i memInvoices) Invoice(_ context.Context, operator string, number int64) (invoice.Invoice, error) {
	for _, inv := range i.m.Invoices() {
		if inv.Operator == operator && inv.Number == number {
			return inv, nil
		}
	}
	return invoice.Invoice{}, invoice.ErrNotFound
}

// env is an Adapter over SQLite catalog and codes, the memory session
// store, the fake provider (auto-approving), a fake edge and fake ingest;
// operators a and b each with site-a/site-b and point p1 (catalogtest).
type env struct {
	now      time.Time
	cat      *sqlstore.Store
	codes    *acsql.Store
	memory   *sessiontest.Memory
	sessions *session.Service
	edge     *fakeEdge
	ingest   *fakeIngest
	cfg      web.Config
	web      *web.Adapter
}

func newEnv(t *testing.T) *env {
	t.Helper()
	gin.SetMode(gin.TestMode)
	e := &env{now: catalogtest.T0, memory: sessiontest.NewMemory(), edge: &fakeEdge{},
		ingest: &fakeIngest{batches: map[string][]store.StoredBatch{}, gateways: map[string]string{}}}
	db := sqldbtest.SQLite(t)
	ctx := t.Context()
	if err := sqlstore.Migrate(ctx, db, sqldb.SQLite, e.now); err != nil {
		t.Fatal(err)
	}
	if err := acsql.Migrate(ctx, db, sqldb.SQLite, e.now); err != nil {
		t.Fatal(err)
	}
	e.cat, e.codes = sqlstore.New(db, sqldb.SQLite), acsql.New(db, sqldb.SQLite)
	catalogtest.Seed(t, e.cat)
	now := func() time.Time { return e.now }
	pay := fake.New(fake.Options{Now: now, AutoApprove: true, WebhookSecret: "whsec-test"})
	var err error
	e.sessions, err = session.New(session.Config{Store: e.memory, Payments: accesscode.Payments{Provider: pay}, Snapshots: &sessiontest.Snapshots{}, Issuers: sessiontest.Issuers{}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Catalog: e.cat, Codes: e.codes, Sessions: e.sessions, SessionStore: e.memory, Invoices: memInvoices{e.memory},
		Edge: e.edge, Holds: pay, Webhooks: map[string]payment.WebhookVerifier{"fake": pay}, Provider: "fake", CodeCapWh: 30_000,
		TokenKey: bytes.Repeat([]byte{7}, 32), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	usage := report.SessionSource{Sessions: e.memory}
	reports := report.Handler(report.HandlerConfig{Usage: usage, Stations: catalog.Stations{Store: e.cat, Keys: noKeys{}}, Operator: web.OperatorOf})
	e.cfg = web.Config{Catalog: e.cat, Codes: e.codes, Sessions: e.sessions, Store: e.memory, Invoices: memInvoices{e.memory},
		Edge: e.edge, Ingest: e.ingest, API: a.Handler(), Provider: "fake", Reports: reports, Usage: usage, Safety: e.edge,
		Live: ingestLive{e.ingest}, CodeKey: bytes.Repeat([]byte{9}, 32), Poll: 10 * time.Millisecond, Now: now}
	e.web, err = web.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// online makes both sites report their point meter's power now.
func (e *env) online(powerW int64) {
	for _, op := range []string{"a", "b"} {
		e.ingest.add("site-"+op, reading.Reading{Time: e.now, Device: "p1.meter", Point: "p1", Quantity: reading.QPowerW, Value: powerW})
	}
}

type noKeys struct{}

func (noKeys) MeterPublicKey(context.Context, string, string) (string, error) { return "", nil }

var _ http.Handler = (*gin.Engine)(nil)

// ingestLive is the energy so far: the meter's newest energy reading
// minus its first.
type ingestLive struct{ f *fakeIngest }

func (l ingestLive) EnergySoFar(ctx context.Context, s session.Session) (int64, time.Time, bool, error) {
	rs, err := l.f.Readings(ctx, store.ReadingFilter{Site: s.Site, Device: s.Meter, Quantity: reading.QEnergyWh})
	if err != nil || len(rs) == 0 {
		return 0, time.Time{}, false, err
	}
	return rs[len(rs)-1].Value - rs[0].Value, rs[0].Time, true, nil
}
