package command

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/reading"
)

var t0 = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

func key(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

var (
	centralKey = key(1)
	gwKey      = key(2)
	otherKey   = key(3)
)

type directory map[string]string // site → gateway

func (d directory) SiteGateway(_ context.Context, site string) (string, ed25519.PublicKey, error) {
	gw, ok := d[site]
	if !ok {
		return "", nil, ErrNoGateway
	}
	return gw, gwKey.Public().(ed25519.PublicKey), nil
}

// fakeEdge is the broker and the edge: it opens each command with
// central's key and answers through answer (nil: no answer).
type fakeEdge struct {
	mu     sync.Mutex
	got    []reading.Command
	answer func(c reading.Command) [][]byte
	c      *Commander
}

func (e *fakeEdge) Publish(_ context.Context, topic string, payload []byte) error {
	c, err := reading.OpenCommand(payload, centralKey.Public().(ed25519.PublicKey), "gw-1", t0)
	if err != nil {
		return err
	}
	if topic != reading.CmdTopic("mitte") {
		return errors.New("wrong topic " + topic)
	}
	e.mu.Lock()
	e.got = append(e.got, c)
	e.mu.Unlock()
	for _, msg := range e.answer(c) {
		go e.c.HandleReply(msg) // as paho's goroutine would
	}
	return nil
}

func reply(r reading.Reply, k ed25519.PrivateKey) []byte {
	if r.Gateway == "" {
		r.Gateway = "gw-1"
	}
	msg, err := reading.SealReply(r, k)
	if err != nil {
		panic(err)
	}
	return msg
}

func newCommander(t *testing.T, e *fakeEdge) *Commander {
	t.Helper()
	c, err := New(Config{Key: centralKey, Directory: directory{"mitte": "gw-1"}, Publisher: e, Timeout: 200 * time.Millisecond,
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return c
}

func TestAuthorize(t *testing.T) {
	e := &fakeEdge{answer: func(c reading.Command) [][]byte {
		return [][]byte{reply(reading.Reply{ID: c.ID, OK: true}, gwKey)}
	}}
	c := newCommander(t, e)
	exp := t0.Add(time.Hour)
	if err := c.Authorize(t.Context(), "mitte", "cp-1", "s-1", "premium", 12_000, exp); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(t.Context(), "mitte", "cp-1", "s-1"); err != nil {
		t.Fatal(err)
	}
	if len(e.got) != 2 {
		t.Fatalf("edge got %d commands", len(e.got))
	}
	a, err := reading.ParseAuthorisation(e.got[0].Args)
	if err != nil {
		t.Fatal(err)
	}
	want := reading.Authorisation{Point: "cp-1", Session: "s-1", Class: "premium", CapWh: 12_000, HoldExpires: exp}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("authorisation (-want +got):\n%s", diff)
	}
	if g := e.got[0]; g.Kind != reading.KindAuthorise || g.Gateway != "gw-1" || !g.Expires.Equal(t0.Add(30*time.Second)) || g.ID == e.got[1].ID {
		t.Errorf("command %+v", g)
	}
	if g := e.got[1]; g.Kind != reading.KindStop || g.Args["point"] != "cp-1" || g.Args["session"] != "s-1" {
		t.Errorf("stop %+v", g)
	}
	if s := c.Stats(); s.Sent != 2 || s.Answered != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestCommandFails(t *testing.T) {
	for name, tc := range map[string]struct {
		site   string
		answer func(c reading.Command) [][]byte
		want   error
		text   string
		stats  Stats
	}{
		"refused": {answer: func(c reading.Command) [][]byte {
			return [][]byte{reply(reading.Reply{ID: c.ID, Error: "charge point busy"}, gwKey)}
		}, want: ErrRefused, text: "charge point busy", stats: Stats{Sent: 1, Answered: 1}},
		"no reply": {answer: func(reading.Command) [][]byte { return nil }, want: ErrNoReply, stats: Stats{Sent: 1, TimedOut: 1}},
		"forged reply": {answer: func(c reading.Command) [][]byte {
			return [][]byte{reply(reading.Reply{ID: c.ID, OK: true}, otherKey)}
		}, want: ErrNoReply, stats: Stats{Sent: 1, TimedOut: 1, Forged: 1}},
		"reply of another gateway": {answer: func(c reading.Command) [][]byte {
			return [][]byte{reply(reading.Reply{ID: c.ID, OK: true, Gateway: "gw-2"}, gwKey)}
		}, want: ErrNoReply, stats: Stats{Sent: 1, TimedOut: 1, Unmatched: 1}},
		"reply to another command": {answer: func(reading.Command) [][]byte {
			return [][]byte{reply(reading.Reply{ID: "other", OK: true}, gwKey)}
		}, want: ErrNoReply, stats: Stats{Sent: 1, TimedOut: 1, Unmatched: 1}},
		"unknown site": {site: "nord", want: ErrNoGateway},
	} {
		t.Run(name, func(t *testing.T) {
			e := &fakeEdge{answer: tc.answer}
			c := newCommander(t, e)
			site := tc.site
			if site == "" {
				site = "mitte"
			}
			err := c.Authorize(t.Context(), site, "cp-1", "s-1", "eco", 0, time.Time{})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v with %q", err, tc.want, tc.text)
			}
			deadline := time.Now().Add(5 * time.Second)
			for c.Stats() != tc.stats && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // a dropped reply is counted on its own goroutine
			}
			if diff := cmp.Diff(tc.stats, c.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidRequests(t *testing.T) {
	c := newCommander(t, &fakeEdge{answer: func(reading.Command) [][]byte { t.Error("sent"); return nil }})
	for name, err := range map[string]error{
		"class":   c.Authorize(t.Context(), "mitte", "cp-1", "s-1", "gold", 0, time.Time{}),
		"cap":     c.Authorize(t.Context(), "mitte", "cp-1", "s-1", "eco", -1, time.Time{}),
		"point":   c.Authorize(t.Context(), "mitte", "", "s-1", "eco", 0, time.Time{}),
		"stop":    c.Stop(t.Context(), "mitte", "cp-1", ""),
		"no site": func() error { _, err := c.Send(t.Context(), "", reading.KindStop, nil); return err }(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzHandleReply: no message makes HandleReply panic or hand a reply that
// does not verify to a waiter.
func FuzzHandleReply(f *testing.F) {
	f.Add(reply(reading.Reply{ID: "x", OK: true}, gwKey))
	f.Add(reply(reading.Reply{ID: "x", Error: "no"}, otherKey))
	f.Add([]byte(`{"gateway":"gw-1","body":"e30=","sig":""}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := New(Config{Key: centralKey, Directory: directory{}, Publisher: &fakeEdge{}})
		if err != nil {
			t.Fatal(err)
		}
		w := &waiter{gateway: "gw-1", key: gwKey.Public().(ed25519.PublicKey), reply: make(chan reading.Reply, 1)}
		c.waiting["x"] = w
		c.HandleReply(msg)
		select {
		case r := <-w.reply:
			if _, err := reading.OpenReply(msg, func(string) (ed25519.PublicKey, error) { return gwKey.Public().(ed25519.PublicKey), nil }); err != nil || r.ID != "x" {
				t.Fatalf("handed over %+v from a message that does not open: %v", r, err)
			}
		default:
		}
	})
}
