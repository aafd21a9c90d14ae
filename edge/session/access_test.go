package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// fakeGate is the control loop's point limits and classes.
type fakeGate struct {
	mu      sync.Mutex // protects the fields below
	limits  map[string]int64
	classes map[string]loadmgmt.Class
}

func newFakeGate() *fakeGate {
	return &fakeGate{limits: map[string]int64{}, classes: map[string]loadmgmt.Class{}}
}

func (g *fakeGate) SetPointLimit(point, source string, maxMA int64, _ time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.limits[point+"/"+source] = maxMA
	return nil
}

func (g *fakeGate) ClearPointLimit(point, source string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.limits, point+"/"+source)
	return nil
}

func (g *fakeGate) SetClass(point string, c loadmgmt.Class) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.classes[point] = c
	return nil
}

func (g *fakeGate) snapshot() map[string]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int64{}
	for k, v := range g.limits {
		out[k] = v
	}
	return out
}

// waitLimits waits until the gate holds want.
func (g *fakeGate) waitLimits(t *testing.T, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := g.snapshot()
		diff := cmp.Diff(want, got)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("limits (-want +got):\n%s", diff)
		}
		time.Sleep(time.Millisecond)
	}
}

var closed = map[string]int64{"p01/access": 0}

// startCentral is start for a point with access central.
func (r *rig) startCentral(g *fakeGate) *Manager {
	r.t.Helper()
	m, err := New(Config{StateFile: r.state, Journal: r.j, Clock: r.clock, IOTimeout: 200 * time.Millisecond,
		Points: []Point{{ID: "p01", Device: "p01.meter", Meter: r.meter, Central: true}},
		Gate:   g, Classes: g, StopSettle: time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	var once sync.Once
	r.m, r.cancel = m, cancel
	r.stop = func() { once.Do(func() { cancel(); <-done }) }
	r.t.Cleanup(r.stop)
	return m
}

func (r *rig) authorise(capWh int64) reading.Authorisation {
	return reading.Authorisation{Point: "p01", Session: "central-1", Class: reading.ClassPremium, CapWh: capWh, HoldExpires: r.clock.Now().Add(time.Hour)}
}

// TestCentralSessionStopsAtItsCap: the car plugged in before the
// authorisation gets nothing; the authorisation takes the begin snapshot
// with central's id, opens the gate and passes the class; the energy cap
// closes the point and the end snapshot follows with reason cap; then the
// gate is closed again.
func TestCentralSessionStopsAtItsCap(t *testing.T) {
	r := newRig(t)
	g := newFakeGate()
	m := r.startCentral(g)
	g.waitLimits(t, closed)
	m.Observe("p01", true, r.clock.Now())
	m.ObserveCounter("p01", 10_000)
	res, err := m.Authorise(t.Context(), r.authorise(5_000))
	if err != nil || res["state"] != "authorised" || res["car"] != "true" {
		t.Fatalf("authorise: %v %v", res, err)
	}
	begin := r.j.wait(t)
	if begin.rs[0].Session != "central-1" || begin.es[0].Kind != EventBegin || begin.es[0].Attrs["access"] != "central" || begin.es[0].Attrs["cap_wh"] != "5000" {
		t.Fatalf("first record %+v, want central-1's begin", begin)
	}
	g.waitLimits(t, map[string]int64{})
	if g.classes["p01"] != loadmgmt.Premium {
		t.Errorf("class %v, want premium", g.classes["p01"])
	}
	if res, _ := m.Authorise(t.Context(), r.authorise(5_000)); res["state"] != "charging" {
		t.Errorf("authorise again: %v, want the session's state", res)
	}
	m.ObserveCounter("p01", 14_999)
	if lim := g.snapshot(); len(lim) != 0 {
		t.Fatalf("stopped below the cap: %v", lim)
	}
	m.ObserveCounter("p01", 15_000)
	g.waitLimits(t, map[string]int64{"p01/session": 0})
	r.clock.fire() // the stop settles
	end := r.j.wait(t)
	if end.rs[0].Session != "central-1" || end.es[0].Kind != EventEnd || end.es[0].Attrs["reason"] != StopCap || end.es[0].Attrs["begin_wh"] != "10000" {
		t.Fatalf("end record %+v", end)
	}
	g.waitLimits(t, closed)
	if res, err := m.Stop(t.Context(), "p01", "central-1"); err != nil || res["state"] != "ended" {
		t.Errorf("stop after the end: %v %v", res, err)
	}
	if _, err := m.Authorise(t.Context(), r.authorise(5_000)); !errors.Is(err, ErrEnded) {
		t.Errorf("authorising the ended session again: %v, want ErrEnded", err)
	}
}

// TestCentralSessionKeepsItsCapAcrossARestart: an edge restart keeps the
// session, its open gate and its cap.
func TestCentralSessionKeepsItsCapAcrossARestart(t *testing.T) {
	r := newRig(t)
	g := newFakeGate()
	m := r.startCentral(g)
	m.Observe("p01", true, r.clock.Now())
	m.ObserveCounter("p01", 2_000)
	if _, err := m.Authorise(t.Context(), r.authorise(1_000)); err != nil {
		t.Fatal(err)
	}
	r.j.wait(t)
	g.waitLimits(t, map[string]int64{})
	r.stop()

	g2 := newFakeGate()
	g2.SetPointLimit("p01", SourceAccess, 0, time.Time{}) // as the daemon builds it
	m = r.startCentral(g2)
	g2.waitLimits(t, map[string]int64{})
	if open := m.OpenSessions(); open["p01"].ID != "central-1" || open["p01"].Auth.CapWh != 1_000 {
		t.Fatalf("open after restart: %+v", open)
	}
	if g2.classes["p01"] != loadmgmt.Premium {
		t.Errorf("class after restart %v", g2.classes["p01"])
	}
	m.Observe("p01", true, r.clock.Now())
	m.ObserveCounter("p01", 3_000)
	g2.waitLimits(t, map[string]int64{"p01/session": 0})
	r.clock.fire()
	if end := r.j.wait(t); end.es[0].Attrs["reason"] != StopCap {
		t.Fatalf("end %+v", end)
	}
}

// TestCentralStop: central's stop closes the point and takes the end
// snapshot; a car that leaves ends the session too.
func TestCentralStop(t *testing.T) {
	for name, tc := range map[string]struct {
		end    func(r *rig, m *Manager)
		reason string
	}{
		"stop command": {func(r *rig, m *Manager) {
			if res, err := m.Stop(r.t.Context(), "p01", "central-1"); err != nil || res["state"] != "stopping" {
				r.t.Fatalf("stop: %v %v", res, err)
			}
			r.clock.fire()
		}, StopCentral},
		"car leaves": {func(r *rig, m *Manager) { m.Observe("p01", false, r.clock.Now()) }, StopUnplugged},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			g := newFakeGate()
			m := r.startCentral(g)
			m.Observe("p01", true, r.clock.Now())
			if _, err := m.Authorise(t.Context(), r.authorise(0)); err != nil {
				t.Fatal(err)
			}
			r.j.wait(t)
			tc.end(r, m)
			if end := r.j.wait(t); end.es[0].Kind != EventEnd || end.es[0].Attrs["reason"] != tc.reason {
				t.Fatalf("end %+v, want reason %s", end, tc.reason)
			}
			g.waitLimits(t, closed)
		})
	}
}

// TestCentralAuthorisationLapses: no car before the hold expires, or a
// stop before the car, cancels the session without snapshots.
func TestCentralAuthorisationLapses(t *testing.T) {
	r := newRig(t)
	g := newFakeGate()
	m := r.startCentral(g)
	a := r.authorise(0)
	a.HoldExpires = r.clock.Now().Add(time.Second)
	if res, err := m.Authorise(t.Context(), a); err != nil || res["car"] != "false" {
		t.Fatalf("authorise: %v %v", res, err)
	}
	r.clock.fire()
	rec := r.j.wait(t)
	if len(rec.rs) != 0 || rec.es[0].Kind != EventCancelled || rec.es[0].Attrs["reason"] != StopHoldExpired {
		t.Fatalf("record %+v, want the cancellation", rec)
	}
	g.waitLimits(t, closed)
	if r.meter.signed() != 0 {
		t.Errorf("the meter signed %d snapshots", r.meter.signed())
	}
}

func TestAuthoriseRefused(t *testing.T) {
	r := newRig(t)
	g := newFakeGate()
	m, err := New(Config{StateFile: r.state, Journal: r.j, Clock: r.clock, Gate: g, Classes: g,
		Points: []Point{{ID: "p01", Device: "m1", Meter: r.meter, Central: true}, {ID: "p02", Device: "m2", Meter: r.meter}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := m.Authorise(ctx, r.authorise(0)); err != nil {
		t.Fatal(err)
	}
	other := r.authorise(0)
	other.Session = "central-2"
	free := other
	free.Point = "p02"
	unknown := other
	unknown.Point = "p99"
	expired := other
	expired.HoldExpires = r.clock.Now()
	for name, tc := range map[string]struct {
		a    reading.Authorisation
		want error
	}{
		"busy":    {other, ErrBusy},
		"free":    {free, ErrNotCentral},
		"unknown": {unknown, ErrUnknownPoint},
	} {
		if _, err := m.Authorise(ctx, tc.a); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if _, err := m.Authorise(ctx, expired); err == nil {
		t.Error("expired hold accepted")
	}
	if _, err := m.Stop(ctx, "p01", "central-2"); !errors.Is(err, ErrNoSession) {
		t.Errorf("stop of another session: %v", err)
	}
	if _, err := New(Config{StateFile: r.state, Journal: r.j, Points: []Point{{ID: "p01", Central: true}}}); err == nil {
		t.Error("a central point without a gate accepted")
	}
}

// TestCentralConcurrentObservations: counters, states and commands arrive
// from other goroutines while Run steps (run with -race).
func TestCentralConcurrentObservations(t *testing.T) {
	r := newRig(t)
	g := newFakeGate()
	m := r.startCentral(g)
	m.Observe("p01", true, r.clock.Now())
	if _, err := m.Authorise(t.Context(), r.authorise(1_000_000)); err != nil {
		t.Fatal(err)
	}
	r.j.wait(t) // begin
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wh := int64(0); wh < 2000; wh++ {
			m.ObserveCounter("p01", wh)
			m.Observe("p01", true, r.clock.Now())
			_ = m.Stats()
		}
	}()
	if _, err := m.Stop(t.Context(), "p01", "central-1"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r.clock.fire()
	}
	<-done
	r.clock.fire()
	if end := r.j.wait(t); end.es[0].Kind != EventEnd || end.es[0].Attrs["reason"] != StopCentral {
		t.Fatalf("end %+v", end)
	}
}
