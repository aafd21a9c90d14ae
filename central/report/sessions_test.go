package report

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
)

type labels map[string]Labels

func (l labels) Labels(_ context.Context, s session.Session) (Labels, error) { return l[s.ID], nil }

// TestSessionSource runs sessions through the session service and reads
// the report rows and the S.A.F.E. records back from its store: only
// invoiced sessions of the operator in the range, billed as invoiced.
func TestSessionSource(t *testing.T) {
	ctx := t.Context()
	st := sessiontest.NewMemory()
	snaps := &sessiontest.Snapshots{}
	svc, err := session.New(session.Config{Store: st, Snapshots: snaps, Issuers: sessiontest.Issuers{},
		Payments: fake.New(fake.Options{AutoApprove: true, Now: func() time.Time { return t0 }})})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		t.Fatal(err)
	}
	run := func(id, op string, wh int64, stopAt string) {
		r := session.StartRequest{ID: id, Operator: op, Site: "mitte", Point: "cp-07", Meter: "m-07", Tariff: sessiontest.Tariff(),
			HoldMinor: 5000, Payee: payment.Payee{}}
		if _, err := svc.Start(ctx, r, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Charging(ctx, id, "edge", t0); err != nil {
			t.Fatal(err)
		}
		if stopAt == "charging" {
			return
		}
		snaps.Add(id, sessiontest.Verified(m.Record(1, "B", 1_000, t0), m.Record(2, "E", 1_000+wh, t0.Add(time.Hour)))...)
		if _, err := svc.Stop(ctx, id, "driver", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Complete(ctx, id, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	run("s-1", "op", 12_345, "")
	run("s-2", "op", 1_000, "")
	run("s-3", "other", 5_000, "")
	run("s-4", "op", 0, "charging")
	src := SessionSource{Sessions: st, Labels: labels{"s-2": {CostCentre: "CC-7", AccessCode: "V-1", Group: "fleet"}}}
	rows, err := src.Rows(ctx, query())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Session+rows[1].Session != "s-1s-2" && rows[0].Session+rows[1].Session != "s-2s-1" {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.Session == "s-1" && (r.EnergyWh != 12_345 || r.GrossMinor != 705 || r.CostCentre != "") {
			t.Errorf("s-1: %+v", r)
		}
		if r.Session == "s-2" && (r.EnergyWh != 1_000 || r.CostCentre != "CC-7" || r.AccessCode != "V-1" || r.Group != "fleet") {
			t.Errorf("s-2: %+v", r)
		}
	}
	recs := SessionRecords{Sessions: st, Issuers: sessiontest.Issuers{}}
	sr, err := recs.SignedRecords(ctx, "op", "s-1")
	if err != nil || len(sr.OCMF) != 2 {
		t.Fatalf("records of s-1: %+v, %v", sr, err)
	}
	for _, tc := range []struct{ op, id string }{{"other", "s-1"}, {"op", "nope"}, {"op", "s-4"}} {
		if _, err := recs.SignedRecords(ctx, tc.op, tc.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s as %s: %v, want ErrNotFound", tc.id, tc.op, err)
		}
	}
	h := Handler(HandlerConfig{Usage: src, Operator: func(*http.Request) (string, bool) { return "op", true }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/usage?from=2026-11-01&to=2026-12-01&by=costcentre&period=all", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), ",CC-7,1,1.000,EUR,") {
		t.Errorf("usage by cost centre: %d\n%s", rec.Code, rec.Body.String())
	}
}
