package web_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/central/web"
	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/edge/reading"
)

func TestPointState(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	pt := "site-a~p1"
	if p, err := e.web.Point(ctx, pt); err != nil || p.State != dashboard.PointOffline {
		t.Fatalf("no readings: %+v, %v; want offline", p, err)
	}
	e.online(0)
	p, err := e.web.Point(ctx, pt)
	if err != nil || p.State != dashboard.PointAvailable || p.Operator != "a" || p.HoldMinor != 5000 {
		t.Fatalf("online: %+v, %v; want available of a, hold 5000", p, err)
	}
	e.ingest.add("site-a", reading.Reading{Time: e.now.Add(time.Second), Device: "p1.meter", Quantity: reading.QPowerW, Stale: true})
	if p, _ := e.web.Point(ctx, pt); p.State != dashboard.PointFaulted {
		t.Errorf("stale meter: %s, want faulted", p.State)
	}
	e.ingest.add("site-a", reading.Reading{Time: e.now.Add(2 * time.Second), Device: "p1.meter", Quantity: reading.QPowerW, Value: 7000})
	if p, _ := e.web.Point(ctx, pt); p.State != dashboard.PointOccupied {
		t.Errorf("drawing power without a session: %s, want occupied", p.State)
	}
	for _, bad := range []string{"site-a", "site-a~nope", "x~y~z", "../etc"} {
		if _, err := e.web.Point(ctx, bad); !errors.Is(err, dashboard.ErrNotFound) {
			t.Errorf("Point(%q): %v, want ErrNotFound", bad, err)
		}
	}
}

func TestDriverFlow(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.online(0)
	pv, err := e.web.Preview(ctx, "site-a~p1")
	if err != nil || len(pv) != 2 {
		t.Fatalf("preview: %v, %v", pv, err)
	}
	res, err := e.web.Start(ctx, dashboard.StartRequest{Point: "site-a~p1", Email: "d@example.com", Class: tariff.ClassPremium, Method: dashboard.PayCard})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.web.Status(ctx, res.SessionID)
	if err != nil || st.State != "authorized" || st.Point != "site-a~p1" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if len(e.edge.calls) != 1 {
		t.Errorf("edge calls %v, want one authorise", e.edge.calls)
	}
	if p, _ := e.web.Point(ctx, "site-a~p1"); p.State != dashboard.PointOccupied {
		t.Errorf("point with an authorised session: %s, want occupied", p.State)
	}
	feed, err := e.web.Subscribe(ctx, res.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.web.Stop(ctx, res.SessionID); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case p, ok := <-feed:
			if !ok {
				t.Fatal("feed closed before the cancel arrived")
			}
			if p.State == "cancelled" {
				if _, err := e.web.Receipt(ctx, res.SessionID); !errors.Is(err, dashboard.ErrNotFound) {
					t.Errorf("receipt of a cancelled session: %v, want ErrNotFound", err)
				}
				return
			}
		case <-timeout:
			t.Fatal("no progress within 5 s")
		}
	}
}

func TestStartErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.online(0)
	for name, r := range map[string]dashboard.StartRequest{
		"unknown code": {Point: "site-a~p1", Email: "d@example.com", Class: tariff.ClassEco, Method: dashboard.PayCode, AccessCode: "NOPE"},
		"paypal":       {Point: "site-a~p1", Email: "d@example.com", Class: tariff.ClassEco, Method: dashboard.PayPayPal},
		"bad email":    {Point: "site-a~p1", Email: "not-mail", Class: tariff.ClassEco, Method: dashboard.PayCard},
	} {
		if _, err := e.web.Start(ctx, r); err == nil {
			t.Errorf("%s: started", name)
		} else if name == "unknown code" && !errors.Is(err, dashboard.ErrCodeInvalid) {
			t.Errorf("%s: %v, want ErrCodeInvalid", name, err)
		}
	}
	c, err := e.web.CreateCode(ctx, "a", dashboard.AccessCode{Kind: "visitor", Label: "guest", UsesLeft: 1})
	if err != nil || c.Code == "" {
		t.Fatalf("create code: %+v, %v", c, err)
	}
	r := dashboard.StartRequest{Point: "site-a~p1", Email: "d@example.com", Class: tariff.ClassEco, Method: dashboard.PayCode, AccessCode: c.Code}
	if _, err := e.web.Start(ctx, r); err != nil {
		t.Fatalf("start with the code: %v", err)
	}
	r.Point = "site-b~p1"
	if _, err := e.web.Start(ctx, r); !errors.Is(err, dashboard.ErrCodeInvalid) {
		t.Errorf("a's code at b's point: %v, want ErrCodeInvalid", err)
	}
	r.Point = "site-a~p1"
	if _, err := e.web.Start(ctx, r); !errors.Is(err, dashboard.ErrCodeExpired) {
		t.Errorf("used-up code: %v, want ErrCodeExpired", err)
	}
}

func TestAlarms(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.ingest.addEvents(t, "site-a", e.now.Add(-time.Minute),
		reading.Event{Time: e.now.Add(-time.Minute), Kind: "safety-trip", Attrs: map[string]string{"cause": "fire"}},
		reading.Event{Time: e.now.Add(-time.Minute), Kind: "safety-spd-tripped", Attrs: map[string]string{"node": "ud1"}})
	al, err := e.web.Alarms(ctx, "a")
	if err != nil || len(al) != 2 || al[0].Kind != "fire" || !al[0].Latched || al[1].Circuit != "ud1" {
		t.Fatalf("alarms: %+v, %v", al, err)
	}
	if err := e.web.ResetAlarm(ctx, "a", al[0].ID, "ops@a"); err != nil || len(e.edge.resets) != 1 {
		t.Fatalf("reset: %v, %v", err, e.edge.resets)
	}
	e.ingest.addEvents(t, "site-a", e.now, reading.Event{Time: e.now, Kind: "safety-reset"})
	if al, _ := e.web.Alarms(ctx, "a"); len(al) != 1 || al[0].Kind != "spd" {
		t.Errorf("after the reset: %+v, want the SPD alarm only", al)
	}
}

// TestTenantMatrix calls every operator port as operator b with a's ids:
// nothing of a's is shown or changed.
func TestTenantMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.online(0)
	e.ingest.addEvents(t, "site-a", e.now, reading.Event{Time: e.now, Kind: "safety-trip"})
	code, err := e.web.CreateCode(ctx, "a", dashboard.AccessCode{Kind: "visitor", Label: "x", UsesLeft: 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.web.Start(ctx, dashboard.StartRequest{Point: "site-a~p1", Email: "d@example.com", Class: tariff.ClassEco, Method: dashboard.PayCard})
	if err != nil {
		t.Fatal(err)
	}
	alarms, _ := e.web.Alarms(ctx, "a")
	if len(alarms) != 1 {
		t.Fatalf("a's alarms: %+v", alarms)
	}
	eco, err := e.cat.Tariff(ctx, "a", "eco")
	if err != nil {
		t.Fatal(err)
	}
	mine := func(what string, n int, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s as b: %v", what, err)
		} else if n != 0 {
			t.Errorf("%s as b: %d of a's shown", what, n)
		}
	}
	sites, err := e.web.Sites(ctx, "b")
	n := 0
	for _, s := range sites {
		if s.ID == "site-a" {
			n++
		}
	}
	mine("sites", n, err)
	al, err := e.web.Alarms(ctx, "b")
	mine("alarms", len(al), err)
	live, err := e.web.LiveSessions(ctx, "b")
	n = 0
	for _, l := range live {
		if l.ID == res.SessionID {
			n++
		}
	}
	mine("live sessions", n, err)
	ld, err := e.web.Load(ctx, "b")
	n = 0
	for _, l := range ld {
		if l.Site == "site-a" {
			n++
		}
	}
	mine("load", n, err)
	ts, err := e.web.Tariffs(ctx, "b")
	n = 0
	for _, x := range ts {
		if x.Site == "site-a" {
			n++
		}
	}
	mine("tariffs", n, err)
	cs, err := e.web.Codes(ctx, "b")
	n = 0
	for _, c := range cs {
		if c.ID == code.ID {
			n++
		}
	}
	mine("codes", n, err)

	// Changes with a's ids fail as not found and change nothing.
	if err := e.web.ResetAlarm(ctx, "b", alarms[0].ID, "ops@b"); !errors.Is(err, dashboard.ErrNotFound) || len(e.edge.resets) != 0 {
		t.Errorf("reset a's alarm as b: %v, resets %v", err, e.edge.resets)
	}
	changed := eco.Tariff
	changed.EnergyPerKWhMinor = 1
	if err := e.web.SaveTariff(ctx, "b", dashboard.SiteTariff{Site: "site-a", Tariff: changed}); !errors.Is(err, dashboard.ErrNotFound) {
		t.Errorf("save a's tariff as b: %v", err)
	}
	if now, _ := e.cat.Tariff(ctx, "a", "eco"); now.Version != eco.Version {
		t.Errorf("a's tariff changed by b: version %d → %d", eco.Version, now.Version)
	}
	if err := e.web.RevokeCode(ctx, "b", code.ID); !errors.Is(err, dashboard.ErrNotFound) {
		t.Errorf("revoke a's code as b: %v", err)
	}
	if _, err := e.web.SetCodeGroup(ctx, "b", code.ID, "fleet"); !errors.Is(err, dashboard.ErrNotFound) {
		t.Errorf("regroup a's code as b: %v", err)
	}
	if c, _ := e.codes.Code(ctx, "a", code.ID); c.Revoked || c.Group != "" {
		t.Errorf("a's code changed by b: revoked %v, group %q", c.Revoked, c.Group)
	}
	// And as a, each works (the matrix would pass on a broken adapter otherwise).
	if err := e.web.SaveTariff(ctx, "a", dashboard.SiteTariff{Site: "site-a", Tariff: changed}); err != nil {
		t.Errorf("save own tariff: %v", err)
	}
	if now, _ := e.cat.Tariff(ctx, "a", "eco"); now.Version != eco.Version+1 {
		t.Errorf("own tariff: version %d, want %d", now.Version, eco.Version+1)
	}
	if err := e.web.RevokeCode(ctx, "a", code.ID); err != nil {
		t.Errorf("revoke own code: %v", err)
	}
	if err := e.web.ResetAlarm(ctx, "a", alarms[0].ID, "ops@a"); err != nil {
		t.Errorf("reset own alarm: %v", err)
	}
	if live, _ := e.web.LiveSessions(ctx, "a"); len(live) != 1 {
		t.Errorf("a's live sessions: %+v", live)
	}
	if r, err := e.web.Report(ctx, "b", "register-csv"); err != nil || bytes.Contains(r.Data, []byte("site-a")) {
		t.Errorf("b's register: %v, or it names site-a", err)
	}
	if r, err := e.web.Report(ctx, "a", "usage-site-xlsx"); err != nil || len(r.Data) == 0 || r.Filename == "" {
		t.Errorf("a's usage report: %+v, %v", r.Filename, err)
	}
	if _, err := e.web.Report(ctx, "a", "../etc/passwd"); !errors.Is(err, dashboard.ErrNotFound) {
		t.Errorf("unknown report: %v", err)
	}
}

// TestProgressLatency: with the default poll of 1 s, a new meter reading
// reaches a subscriber within 2 s.
func TestProgressLatency(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.online(7000)
	res, err := e.web.Start(ctx, dashboard.StartRequest{Point: "site-a~p1", Email: "d@example.com", Class: tariff.ClassEco, Method: dashboard.PayCard})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.memory.Session(ctx, res.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	s2, tr, err := session.Move(s, session.StateCharging, "start snapshot", e.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.memory.Update(ctx, s2, &tr); err != nil {
		t.Fatal(err)
	}
	e.ingest.add("site-a", reading.Reading{Time: e.now, Device: "p1.meter", Quantity: reading.QEnergyWh, Value: 1000})
	cfg := e.cfg
	cfg.Poll = 0 // the default
	a, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := a.Subscribe(ctx, res.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if p := <-feed; p.State != session.StateCharging || p.EnergyWh != 0 || p.PowerW != 7000 {
		t.Fatalf("first progress %+v", p)
	}
	for i, wh := range []int64{1450, 2210} {
		e.ingest.add("site-a", reading.Reading{Time: e.now.Add(time.Duration(i+1) * time.Second), Device: "p1.meter", Quantity: reading.QEnergyWh, Value: wh})
		sent := time.Now()
		select {
		case p := <-feed:
			if p.EnergyWh != wh-1000 {
				t.Errorf("progress %d Wh, want %d", p.EnergyWh, wh-1000)
			}
			t.Logf("reading → progress: %v", time.Since(sent).Round(time.Millisecond))
		case <-time.After(2 * time.Second):
			t.Fatalf("no progress within 2 s of reading %d", i+1)
		}
	}
}

// TestCodeGroups: the adapter carries a code's user group into the store
// at creation, changes only the group with SetCodeGroup, refuses a bad
// group as ErrInvalidInput, and offers the usage reports by group.
func TestCodeGroups(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	made, err := e.web.CreateCode(ctx, "a", dashboard.AccessCode{Kind: "visitor", Label: "Van 7", Group: "fleet", UsesLeft: 4})
	if err != nil || made.Group != "fleet" {
		t.Fatalf("create: %+v %v", made, err)
	}
	if _, err := e.web.CreateCode(ctx, "a", dashboard.AccessCode{Kind: "visitor", Label: "x", Group: "public", UsesLeft: 1}); !errors.Is(err, dashboard.ErrInvalidInput) {
		t.Errorf("create in group public: %v", err)
	}
	before, _ := e.codes.Code(ctx, "a", made.ID)
	if before.Group != "fleet" {
		t.Fatalf("stored group %q", before.Group)
	}
	got, err := e.web.SetCodeGroup(ctx, "a", made.ID, "employees")
	if err != nil || got.Group != "employees" || got.Code == "" || got.UsesLeft != 4 {
		t.Fatalf("set group: %+v %v", got, err)
	}
	after, _ := e.codes.Code(ctx, "a", made.ID)
	before.Group = "employees"
	if after != before {
		t.Errorf("SetCodeGroup changed more than the group:\n%+v\n%+v", before, after)
	}
	if _, err := e.web.SetCodeGroup(ctx, "a", made.ID, strings.Repeat("x", 41)); !errors.Is(err, dashboard.ErrInvalidInput) {
		t.Errorf("too long a group: %v", err)
	}
	if _, err := e.web.SetCodeGroup(ctx, "a", "nope", "fleet"); !errors.Is(err, dashboard.ErrNotFound) {
		t.Errorf("unknown code: %v", err)
	}
	if cs, err := e.web.Codes(ctx, "a"); err != nil || len(cs) != 1 || cs[0].Group != "employees" {
		t.Errorf("codes %+v %v", cs, err)
	}
	links, _ := e.web.Reports(ctx, "a")
	ids := map[string]bool{}
	for _, l := range links {
		ids[l.ID] = true
	}
	if !ids["usage-group-csv"] || !ids["usage-group-xlsx"] || !ids["usage-code-csv"] {
		t.Errorf("report links %+v", links)
	}
	for id, head := range map[string]string{"usage-group-csv": "period_start,key,sessions,", "usage-code-csv": "period_start,key,group,sessions,"} {
		r, err := e.web.Report(ctx, "a", id)
		if err != nil || !strings.HasPrefix(string(r.Data), head) {
			t.Errorf("report %s: %v\n%s", id, err, r.Data)
		}
	}
	if r, err := e.web.Report(ctx, "a", "usage-group-xlsx"); err != nil || len(r.Data) == 0 {
		t.Errorf("xlsx by group: %v", err)
	}
}
