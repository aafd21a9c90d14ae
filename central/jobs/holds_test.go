package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
)

var allStates = []session.State{session.StateCreated, session.StateAuthorized, session.StateCharging, session.StateStopping,
	session.StateCompleted, session.StateInvoiced, session.StateFailed, session.StateCancelled}

func TestHoldRuleDecide(t *testing.T) {
	created := t0
	due := created.Add(7*24*time.Hour - 12*time.Hour)
	for _, tc := range []struct {
		state  session.State
		review []session.Flag
		at     time.Time
		want   HoldAction
	}{
		{session.StateCharging, nil, due.Add(-time.Second), HoldKeep},
		{session.StateCharging, nil, due, HoldStop},
		{session.StateAuthorized, nil, due, HoldCancel},
		{session.StateStopping, nil, due, HoldAlert},
		{session.StateCompleted, []session.Flag{session.FlagEndMissing}, due, HoldAlert},
		{session.StateCompleted, nil, due, HoldKeep}, // reconcile bills it
		{session.StateCreated, nil, due, HoldKeep},
		{session.StateInvoiced, nil, due.Add(time.Hour), HoldKeep},
	} {
		s := session.Session{ID: "s", State: tc.state, CreatedAt: created, Review: tc.review}
		if got := (HoldRule{}).Decide(s, tc.at); got != tc.want {
			t.Errorf("%s%v at due%+v: %q, want %q", tc.state, tc.review, tc.at.Sub(due), got, tc.want)
		}
	}
}

// TestHoldRuleNeverEarlyNeverFinal: the rule never acts before the due
// time, never on a final state or a released hold, and acts on every
// charging session once due.
func TestHoldRuleNeverEarlyNeverFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rule := HoldRule{Life: time.Duration(rapid.Int64Range(1, 30*24).Draw(t, "lifeH")) * time.Hour}
		rule.Margin = time.Duration(rapid.Int64Range(0, int64(rule.Life/time.Hour)).Draw(t, "marginH")) * time.Hour
		s := session.Session{ID: "s", State: rapid.SampledFrom(allStates).Draw(t, "state"), CreatedAt: t0,
			HoldReleased: rapid.Bool().Draw(t, "released")}
		now := t0.Add(time.Duration(rapid.Int64Range(-1, 40*24*60).Draw(t, "min")) * time.Minute)
		got := rule.Decide(s, now)
		if got != HoldKeep && (now.Before(rule.Due(s)) || s.State.Final() || s.HoldReleased) {
			t.Fatalf("%q for %s (released %v) at %v, due %v", got, s.State, s.HoldReleased, now, rule.Due(s))
		}
		if s.State == session.StateCharging && !s.HoldReleased && !now.Before(rule.Due(s)) && got != HoldStop {
			t.Fatalf("charging session due at %v not stopped at %v: %q", rule.Due(s), now, got)
		}
	})
}

type fakeSessions struct {
	list    []session.Session
	stopped []string
	cancel  []string
	edge    []string
	edgeErr error
}

func (f *fakeSessions) List(context.Context, session.Filter) ([]session.Session, error) {
	return f.list, nil
}
func (f *fakeSessions) Stop(_ context.Context, id, cause string, _ time.Time) (session.Session, error) {
	f.stopped = append(f.stopped, id+": "+cause)
	return session.Session{}, nil
}
func (f *fakeSessions) Cancel(_ context.Context, id, _ string, _ time.Time) (session.Session, error) {
	f.cancel = append(f.cancel, id)
	return session.Session{}, nil
}

type fakeEdge struct{ f *fakeSessions }

func (e fakeEdge) Stop(_ context.Context, site, point, id string) error {
	e.f.edge = append(e.f.edge, site+"/"+point+"/"+id)
	return e.f.edgeErr
}

func TestHoldExpiryJob(t *testing.T) {
	old, young := t0.Add(-7*24*time.Hour), t0.Add(-time.Hour)
	f := &fakeSessions{list: []session.Session{
		{ID: "old-charging", Site: "mitte", Point: "cp-1", State: session.StateCharging, CreatedAt: old},
		{ID: "old-authorized", State: session.StateAuthorized, CreatedAt: old},
		{ID: "old-stopping", State: session.StateStopping, CreatedAt: old},
		{ID: "young-charging", State: session.StateCharging, CreatedAt: young},
	}, edgeErr: errors.New("uplink down")}
	var logs bytes.Buffer
	rep, err := holdExpiry(t.Context(), HoldRule{}, f, f, fakeEdge{f}, slog.New(slog.NewTextHandler(&logs, nil)), t0)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (HoldReport{Cancelled: 1, Stopped: 1, Alerts: 1}) {
		t.Errorf("report %+v", rep)
	}
	if len(f.edge) != 1 || f.edge[0] != "mitte/cp-1/old-charging" || len(f.stopped) != 1 || !strings.Contains(f.stopped[0], "edge stop failed: uplink down") {
		t.Errorf("edge %v, stopped %v", f.edge, f.stopped)
	}
	if len(f.cancel) != 1 || f.cancel[0] != "old-authorized" {
		t.Errorf("cancelled %v", f.cancel)
	}
	if !strings.Contains(logs.String(), "old-stopping") {
		t.Errorf("no alert for the stopping session:\n%s", logs.String())
	}
}

type fakeRows []report.Row

func (f fakeRows) Rows(_ context.Context, q report.Query) ([]report.Row, error) {
	var out []report.Row
	for _, r := range f {
		if q.Contains(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

type ops []string

func (o ops) Operators(context.Context) ([]string, error) { return o, nil }

func TestNightlyReportWritesYesterday(t *testing.T) {
	dir := t.TempDir()
	rows := fakeRows{
		{Session: "s1", Operator: "op-1", Site: "mitte", Point: "cp-1", End: t0.Add(-3 * time.Hour), EnergyWh: 12_345, Currency: "EUR", GrossMinor: 705, NetMinor: 593, VATMinor: 112},
		{Session: "s2", Operator: "op-1", Site: "mitte", Point: "cp-1", End: t0.Add(-30 * time.Hour), EnergyWh: 1, Currency: "EUR", GrossMinor: 1}, // the day before
	}
	run := NightlyReport(rows, ops{"op-1", "op-2"}, DirSink{Dir: dir}, time.UTC)
	if err := run(t.Context(), t0); err != nil { // 02:00 on the 25th → the 24th
		t.Fatal(err)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "op-1", "usage-site-2026-11-24.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "period_start,key,sessions,energy_kwh,currency,gross,net,vat\n2026-11-24,mitte,1,12.345,EUR,7.05,5.93,1.12\ntotal,,1,12.345,EUR,7.05,5.93,1.12\n"
	if string(csv) != want {
		t.Errorf("csv:\n%s\nwant:\n%s", csv, want)
	}
	for _, f := range []string{"op-1/usage-point-2026-11-24.xlsx", "op-2/usage-site-2026-11-24.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if err := (DirSink{Dir: dir}).Put(t.Context(), "..", "x.csv", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("path escape: %v", err)
	}
}

type fakePurger struct{ before time.Time }

func (p *fakePurger) Purge(_ context.Context, before time.Time) (int64, error) {
	p.before = before
	return 3, nil
}

func TestRetentionCutoff(t *testing.T) {
	p := &fakePurger{}
	if err := Retention([]Retained{{Name: "mail", Purger: p, Keep: 90 * 24 * time.Hour}}, nil)(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	if !p.before.Equal(t0.AddDate(0, 0, -90)) {
		t.Errorf("purged before %v", p.before)
	}
}
