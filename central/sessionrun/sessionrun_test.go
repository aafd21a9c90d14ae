package sessionrun_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/sessionrun"
)

var t0 = sessiontest.T0

type rig struct {
	svc   *session.Service
	store *sessiontest.Memory
	snaps *sessiontest.Snapshots
	meter *sessiontest.Meter
	run   *sessionrun.Runner
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{store: sessiontest.NewMemory(), snaps: &sessiontest.Snapshots{}}
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		t.Fatal(err)
	}
	r.meter = m
	pay := fake.New(fake.Options{Now: func() time.Time { return t0 }, AutoApprove: true})
	if r.svc, err = session.New(session.Config{Store: r.store, Payments: pay, Snapshots: r.snaps, Issuers: sessiontest.Issuers{}}); err != nil {
		t.Fatal(err)
	}
	if r.run, err = sessionrun.New(sessionrun.Config{Sessions: r.svc, Lister: r.store, Snapshots: r.snaps, StaleAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) start(t *testing.T, id string) {
	t.Helper()
	s, err := r.svc.Start(t.Context(), session.StartRequest{ID: id, Operator: "op", Site: "mitte", Point: "cp-07", Meter: "m-07",
		Tariff: sessiontest.Tariff(), HoldMinor: 5000, Payee: payment.Payee{Account: "acct_1"}}, t0)
	if err != nil || s.State != session.StateAuthorized {
		t.Fatalf("start %s: %v, %s", id, err, s.State)
	}
}

func (r *rig) state(t *testing.T, id string) session.Session {
	t.Helper()
	s, err := r.store.Session(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (r *rig) pass(t *testing.T, at time.Time) sessionrun.Report {
	t.Helper()
	rep, err := r.run.Pass(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestFollowsTheEdge: the begin snapshot moves a session to charging, the
// end snapshot to completed and invoiced, billed end − begin.
func TestFollowsTheEdge(t *testing.T) {
	r := newRig(t)
	r.start(t, "s-1")
	if rep := r.pass(t, t0.Add(time.Second)); rep.Looked != 1 || rep.Charging != 0 {
		t.Fatalf("no snapshot yet: %+v", rep)
	}
	r.snaps.Add("s-1", sessiontest.Verified(r.meter.Record(1, "B", 1_000, t0.Add(time.Minute)))...)
	if rep := r.pass(t, t0.Add(2*time.Minute)); rep.Charging != 1 {
		t.Fatalf("begin: %+v", rep)
	}
	if s := r.state(t, "s-1"); s.State != session.StateCharging {
		t.Fatalf("after begin: %s", s.State)
	}
	r.snaps.Add("s-1", sessiontest.Verified(r.meter.Record(2, "E", 6_000, t0.Add(30*time.Minute)))...)
	rep := r.pass(t, t0.Add(31*time.Minute))
	if diff := cmp.Diff(sessionrun.Report{Looked: 1, Stopping: 1, Completed: 1}, rep); diff != "" {
		t.Errorf("end (-want +got):\n%s", diff)
	}
	s := r.state(t, "s-1")
	if s.State != session.StateInvoiced || s.Billing.EnergyWh != 5_000 {
		t.Fatalf("after end: %s, %+v", s.State, s.Billing)
	}
	trs, _ := r.store.Transitions(t.Context(), "s-1")
	var path []session.State
	for _, tr := range trs {
		path = append(path, tr.To)
	}
	want := []session.State{session.StateCreated, session.StateAuthorized, session.StateCharging, session.StateStopping, session.StateCompleted, session.StateInvoiced}
	if !slices.Equal(want, path) {
		t.Errorf("path %v, want %v", path, want)
	}
	if rep := r.pass(t, t0.Add(time.Hour)); rep.Looked != 0 {
		t.Errorf("a finished session is looked at again: %+v", rep)
	}
}

// TestFlagged: missing or unverified snapshots complete the session with
// review flags, not billed; a session that waits too long is reported.
func TestFlagged(t *testing.T) {
	r := newRig(t)
	r.start(t, "no-begin")
	r.start(t, "forged")
	r.start(t, "waiting")
	r.snaps.Add("no-begin", sessiontest.Verified(r.meter.Record(2, "E", 6_000, t0.Add(30*time.Minute)))...)
	r.snaps.Add("forged", session.Snapshot{OCMF: r.meter.Record(1, "B", 1_000, t0)}, session.Snapshot{OCMF: r.meter.Record(2, "E", 2_000, t0.Add(time.Minute))})
	rep := r.pass(t, t0.Add(2*time.Hour))
	want := sessionrun.Report{Looked: 3, Charging: 2, Stopping: 2, Completed: 2, Review: []string{"forged", "no-begin"}, Stale: []string{"waiting"}}
	if diff := cmp.Diff(want, rep, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for id, flag := range map[string]session.Flag{"no-begin": session.FlagBeginMissing, "forged": session.FlagNotVerified} {
		if s := r.state(t, id); s.State != session.StateCompleted || !slices.Contains(s.Review, flag) {
			t.Errorf("%s: %s, review %v; want completed with %s", id, s.State, s.Review, flag)
		}
	}
}

// racing is a Sessions whose every move loses the version race once.
type racing struct {
	sessionrun.Sessions
	lost bool
}

func (r *racing) Charging(ctx context.Context, id, cause string, now time.Time) (session.Session, error) {
	if !r.lost {
		r.lost = true
		return session.Session{}, session.ErrConflict
	}
	return r.Sessions.Charging(ctx, id, cause, now)
}

func TestConflictIsRetried(t *testing.T) {
	r := newRig(t)
	r.start(t, "s-1")
	r.snaps.Add("s-1", sessiontest.Verified(r.meter.Record(1, "B", 1_000, t0))...)
	run, err := sessionrun.New(sessionrun.Config{Sessions: &racing{Sessions: r.svc}, Lister: r.store, Snapshots: r.snaps})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run.Pass(t.Context(), t0)
	if err != nil || rep.Conflicts != 1 {
		t.Fatalf("first pass: %+v %v", rep, err)
	}
	if rep, err = run.Pass(t.Context(), t0); err != nil || rep.Charging != 1 {
		t.Fatalf("second pass: %+v %v", rep, err)
	}
}

func TestEvidence(t *testing.T) {
	m, err := sessiontest.NewMeter("SIM")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		snaps      []session.Snapshot
		begin, end bool
	}{
		"none":    {},
		"begin":   {snaps: sessiontest.Verified(m.Record(1, "B", 1, t0)), begin: true},
		"both":    {snaps: sessiontest.Verified(m.Record(1, "B", 1, t0), m.Record(2, "E", 2, t0)), begin: true, end: true},
		"garbage": {snaps: []session.Snapshot{{OCMF: "OCMF|{|"}}},
	} {
		if b, e := sessionrun.Evidence(tc.snaps); b != tc.begin || e != tc.end {
			t.Errorf("%s: begin %v end %v", name, b, e)
		}
	}
}
