package session

import (
	"path/filepath"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestCapStopsAtTheFirstReadingAtOrAboveIt: for any cap and any rising
// register, the session is stopped exactly at the first reading whose
// energy since the begin register reaches the cap, never before, and the
// point is closed then.
func TestCapStopsAtTheFirstReadingAtOrAboveIt(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		g := newFakeGate()
		m, err := New(Config{StateFile: filepath.Join(dir, "s.json"), Journal: newFakeJournal(), Clock: &fakeClock{now: time.Unix(0, 0)},
			Points: []Point{{ID: "p01", Device: "m", Meter: newFakeMeter(), Central: true}}, Gate: g, Classes: g})
		if err != nil {
			t.Fatal(err)
		}
		begin := rapid.Int64Range(0, 1e9).Draw(t, "begin")
		capWh := rapid.Int64Range(0, 100_000).Draw(t, "cap")
		steps := rapid.SliceOf(rapid.Int64Range(0, 20_000)).Draw(t, "steps")
		p := m.points["p01"]
		p.Session = &Session{ID: "s", Point: "p01", Auth: &Auth{Class: "eco", CapWh: capWh}}
		p.beginTaken = true
		m.ObserveCounter("p01", begin) // the begin register
		wh := begin
		for i, d := range steps {
			wh += d
			m.ObserveCounter("p01", wh)
			stopped := p.Session.Auth.Stop == StopCap
			_, closed := g.snapshot()["p01/session"]
			want := capWh > 0 && wh-begin >= capWh
			if stopped != want || closed != want {
				t.Fatalf("step %d: %d Wh since begin, cap %d: stopped %v, closed %v; want %v", i, wh-begin, capWh, stopped, closed, want)
			}
		}
	})
}
