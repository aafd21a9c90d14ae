package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/parkgrid/parkgrid/central/payment/stripe"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqldb/sqldbtest"
)

// edgeCall is one command the API sent to the edge.
type edgeCall struct {
	Kind, Site, Point, Session, Class string
	CapWh                             int64
}

// fakeEdge records commands; Err, when set, fails them.
type fakeEdge struct {
	mu    sync.Mutex // protects the fields below
	calls []edgeCall
	Err   error
	site  siteFake // set-limit and safety-reset (ems_test.go)
}

var _ api.Edge = (*fakeEdge)(nil)

func (e *fakeEdge) Authorize(_ context.Context, site, point, sessionID, class string, capWh int64, _ time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, edgeCall{"authorize", site, point, sessionID, class, capWh})
	return e.Err
}

func (e *fakeEdge) Stop(_ context.Context, site, point, sessionID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, edgeCall{Kind: "stop", Site: site, Point: point, Session: sessionID})
	return e.Err
}

func (e *fakeEdge) Calls() []edgeCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]edgeCall(nil), e.calls...)
}

// fakeLive reports a fixed energy so far.
type fakeLive struct {
	wh    int64
	since time.Time
}

func (l fakeLive) EnergySoFar(context.Context, session.Session) (int64, time.Time, bool, error) {
	return l.wh, l.since, l.wh > 0, nil
}

// memInvoices reads the memory session store's invoices.
type memInvoices struct{ m *sessiontest.Memory }

func (i memInvoices) Invoice(_ context.Context, operator string, number int64) (invoice.Invoice, error) {
	for _, inv := range i.m.Invoices() {
		if inv.Operator == operator && inv.Number == number {
			return inv, nil
		}
	}
	return invoice.Invoice{}, invoice.ErrNotFound
}

const (
	codeCapWh           = 30_000
	stripeWebhookSecret = "whsec_api_test"
)

// env is an API on SQLite catalog and code stores, the memory session
// store, the fake provider and a fake edge; operators a and b (catalogtest.Seed).
type env struct {
	t        testing.TB
	now      time.Time
	cat      *sqlstore.Store
	codes    *acsql.Store
	sessions *session.Service
	memory   *sessiontest.Memory
	snaps    *sessiontest.Snapshots
	pay      *fake.Provider
	edge     *fakeEdge
	readings *fakeReadings // ems_test.go
	api      *api.API
	srv      http.Handler
	tokens   map[string]string // operator → token
}

func newEnv(t testing.TB, autoApprove bool) *env {
	t.Helper()
	gin.SetMode(gin.TestMode) // process-wide; cmd/parkgrid sets ReleaseMode
	e := &env{t: t, now: catalogtest.T0, edge: &fakeEdge{}, readings: &fakeReadings{}, memory: sessiontest.NewMemory(), snaps: &sessiontest.Snapshots{}, tokens: map[string]string{}}
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
	for _, op := range []string{"a", "b"} {
		secret, hash, err := catalog.NewSecret(api.OperatorTokenPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.cat.AddToken(ctx, catalog.Token{ID: "tok-" + op, Operator: op, Name: "test", Hash: hash, CreatedAt: e.now}); err != nil {
			t.Fatal(err)
		}
		e.tokens[op] = secret
	}
	e.pay = fake.New(fake.Options{Now: func() time.Time { return e.now }, AutoApprove: autoApprove, WebhookSecret: "whsec-test"})
	stripeP, err := stripe.New(stripe.Config{SecretKey: "sk_test_api", WebhookSecret: stripeWebhookSecret})
	if err != nil {
		t.Fatal(err)
	}
	e.sessions, err = session.New(session.Config{Store: e.memory, Payments: accesscode.Payments{Provider: e.pay}, Snapshots: e.snaps, Issuers: sessiontest.Issuers{}})
	if err != nil {
		t.Fatal(err)
	}
	reports := report.Handler(report.HandlerConfig{
		Usage:    report.SessionSource{Sessions: e.memory},
		Records:  report.SessionRecords{Sessions: e.memory, Issuers: sessiontest.Issuers{}},
		Operator: api.OperatorOf,
	})
	e.api, err = api.New(api.Config{
		Catalog: e.cat, Codes: e.codes, Sessions: e.sessions, SessionStore: e.memory, Invoices: memInvoices{e.memory},
		Edge: e.edge, Holds: e.pay, Webhooks: map[string]payment.WebhookVerifier{"fake": e.pay, "stripe": stripeP}, Provider: "fake",
		CodeCapWh: codeCapWh, TokenKey: bytes.Repeat([]byte{7}, 32), Reports: reports, Live: fakeLive{wh: 12_345, since: catalogtest.T0},
		Readings: e.readings,
		Now:      func() time.Time { return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = e.api.Handler()
	return e
}

// do sends a request with an optional bearer token and JSON body and
// returns the status and body.
func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// json sends a request and decodes the answer into out, failing unless the
// status is want.
func (e *env) json(method, path, token string, body any, want int, out any) {
	e.t.Helper()
	code, b := e.do(method, path, token, body)
	if code != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// start starts a session at site-<op>/p1 with the fake provider.
func (e *env) start(op, clientID string) api.StartAnswer {
	e.t.Helper()
	var ans api.StartAnswer
	e.json("POST", "/api/v1/sessions", "", api.StartRequest{ClientID: clientID, Site: "site-" + op, Point: "p1", Tariff: "eco",
		Email: "driver@example.com", Payment: "fake"}, http.StatusCreated, &ans)
	return ans
}

// finish plays the edge and sessionrun: charging, then the driver's stop
// (through the API), the signed snapshots and completion.
func (e *env) finish(ans api.StartAnswer, wh int64) {
	e.t.Helper()
	ctx := e.t.Context()
	id := ans.Session.ID
	if s, _ := e.memory.Session(ctx, id); s.State == session.StateAuthorized {
		if _, err := e.sessions.Charging(ctx, id, "begin snapshot", e.now); err != nil {
			e.t.Fatal(err)
		}
	}
	e.json("POST", "/api/v1/sessions/"+id+"/stop", ans.Token, nil, http.StatusOK, nil)
	m, err := sessiontest.NewMeter("M-1")
	if err != nil {
		e.t.Fatal(err)
	}
	e.snaps.Add(id, sessiontest.Verified(m.Record(1, "B", 1_000_000, e.now), m.Record(2, "E", 1_000_000+wh, e.now.Add(time.Hour)))...)
	if _, err := e.sessions.Complete(ctx, id, e.now.Add(time.Hour)); err != nil {
		e.t.Fatal(err)
	}
}

func errCode(b []byte) string {
	var body struct {
		Error api.Error `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return fmt.Sprintf("not JSON: %q", b)
	}
	return body.Error.Code
}

var errEdge = errors.New("edge offline")

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
