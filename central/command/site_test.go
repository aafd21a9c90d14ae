package command

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/reading"
)

func TestSetLimit(t *testing.T) {
	e := &fakeEdge{answer: func(c reading.Command) [][]byte {
		l, err := reading.ParseSiteLimit(c.Args)
		if err != nil {
			return [][]byte{reply(reading.Reply{ID: c.ID, Error: err.Error()}, gwKey)}
		}
		in := reading.LimitInForce{Source: "fuse", MaxCurrentMA: [3]int64{250_000, 250_000, 250_000}}
		if !l.Withdraw() {
			in = reading.LimitInForce{Source: "ems", MaxCurrentMA: *l.MaxCurrentMA, MaxPowerW: l.MaxPowerW, Expires: t0.Add(l.TTL), RequestID: "central/" + c.ID}
		}
		return [][]byte{reply(reading.Reply{ID: c.ID, OK: true, Result: in.Result()}, gwKey)}
	}}
	c := newCommander(t, e)
	ma, w := [3]int64{20_000, 20_000, 16_000}, int64(11_000)
	eff, err := c.SetLimit(t.Context(), "mitte", Limit{MaxCurrentMA: &ma, MaxPowerW: &w, Scope: ScopeEV, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := Effective{Source: "ems", MaxCurrentMA: ma, MaxPowerW: &w, Expires: t0.Add(10 * time.Minute), RequestID: "central/" + e.got[0].ID}
	if diff := cmp.Diff(want, eff); diff != "" {
		t.Errorf("effective (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"max_current_ma": "20000,20000,16000", "max_power_w": "11000", "scope": "ev", "ttl_s": "600"}, e.got[0].Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	eff, err = c.SetLimit(t.Context(), "mitte", Limit{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Effective{Source: "fuse", MaxCurrentMA: [3]int64{250_000, 250_000, 250_000}}); !cmp.Equal(want, eff) {
		t.Errorf("after withdrawal %+v, want %+v", eff, want)
	}
	if g := e.got[1]; g.Kind != reading.KindSetLimit || !cmp.Equal(map[string]string{"ttl_s": "0"}, g.Args) {
		t.Errorf("withdrawal sent %+v", g)
	}
}

func TestResetSafety(t *testing.T) {
	alarm := true
	e := &fakeEdge{answer: func(c reading.Command) [][]byte {
		if alarm {
			return [][]byte{reply(reading.Reply{ID: c.ID, Error: `safety reset at site "mitte": alarm still present: fire-alarm loop open`}, gwKey)}
		}
		return [][]byte{reply(reading.Reply{ID: c.ID, OK: true, Result: map[string]string{"state": "reset"}}, gwKey)}
	}}
	c := newCommander(t, e)
	err := c.ResetSafety(t.Context(), "mitte", "ops-token", "all clear")
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "alarm still present: fire-alarm loop open") {
		t.Fatalf("reset while the alarm is present: %v", err)
	}
	alarm = false
	if err := c.ResetSafety(t.Context(), "mitte", "ops-token", "all clear"); err != nil {
		t.Fatal(err)
	}
	if g := e.got[1]; g.Kind != reading.KindSafetyReset || !cmp.Equal(map[string]string{"who": "ops-token", "why": "all clear"}, g.Args) {
		t.Errorf("sent %+v", g)
	}
}

func TestSiteCommandsInvalid(t *testing.T) {
	c := newCommander(t, &fakeEdge{answer: func(reading.Command) [][]byte { t.Error("sent"); return nil }})
	ma, neg := [3]int64{1, 2, 3}, int64(-1)
	for name, err := range map[string]error{
		"no dimension":        func() error { _, err := c.SetLimit(t.Context(), "mitte", Limit{TTL: time.Minute}); return err }(),
		"withdraw with limit": func() error { _, err := c.SetLimit(t.Context(), "mitte", Limit{MaxCurrentMA: &ma}); return err }(),
		"negative power": func() error {
			_, err := c.SetLimit(t.Context(), "mitte", Limit{MaxPowerW: &neg, TTL: time.Minute})
			return err
		}(),
		"negative ttl": func() error {
			_, err := c.SetLimit(t.Context(), "mitte", Limit{MaxCurrentMA: &ma, TTL: -time.Second})
			return err
		}(),
		"fractional ttl": func() error {
			_, err := c.SetLimit(t.Context(), "mitte", Limit{MaxCurrentMA: &ma, TTL: 1500 * time.Millisecond})
			return err
		}(),
		"ttl too long": func() error {
			_, err := c.SetLimit(t.Context(), "mitte", Limit{MaxCurrentMA: &ma, TTL: 25 * time.Hour})
			return err
		}(),
		"scope": func() error {
			_, err := c.SetLimit(t.Context(), "mitte", Limit{MaxCurrentMA: &ma, Scope: "building", TTL: time.Minute})
			return err
		}(),
		"reset without why": c.ResetSafety(t.Context(), "mitte", "ops", ""),
		"reset without who": c.ResetSafety(t.Context(), "mitte", "", "x"),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

// TestSetLimitBadAnswer: an ok reply whose result is not a limit is an
// error, not a zero limit.
func TestSetLimitBadAnswer(t *testing.T) {
	c := newCommander(t, &fakeEdge{answer: func(c reading.Command) [][]byte {
		return [][]byte{reply(reading.Reply{ID: c.ID, OK: true, Result: map[string]string{"state": "ok"}}, gwKey)}
	}})
	ma := [3]int64{1, 2, 3}
	if _, err := c.SetLimit(t.Context(), "mitte", Limit{MaxCurrentMA: &ma, TTL: time.Minute}); err == nil || !errors.Is(err, reading.ErrMalformed) {
		t.Errorf("got %v", err)
	}
}
