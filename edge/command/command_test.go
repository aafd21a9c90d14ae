package command

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
)

// fakeExec records the calls.
type fakeExec struct {
	calls []string
	err   error
}

func (f *fakeExec) Authorise(_ context.Context, a reading.Authorisation) (map[string]string, error) {
	f.calls = append(f.calls, "authorise "+a.Point+" "+a.Session+" "+a.Class)
	if f.err != nil {
		return nil, f.err
	}
	return map[string]string{"state": "waiting"}, nil
}

func (f *fakeExec) Stop(_ context.Context, point, session string) (map[string]string, error) {
	f.calls = append(f.calls, "stop "+point+" "+session)
	return nil, f.err
}

type rig struct {
	h    *Handler
	exec *fakeExec
	site *fakeSite
	now  time.Time
	file string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{exec: &fakeExec{}, site: &fakeSite{}, now: t0, file: filepath.Join(t.TempDir(), "commands.json")}
	r.open(t)
	return r
}

func (r *rig) open(t *testing.T) {
	t.Helper()
	h, err := New(Config{Site: "mitte", Gateway: "gw-1", CentralKey: centralKey.Public().(ed25519.PublicKey), Key: gwKey,
		StateFile: r.file, Exec: r.exec, SiteExec: r.site, Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
}

func seal(t *testing.T, c reading.Command, k ed25519.PrivateKey) []byte {
	t.Helper()
	if c.Gateway == "" {
		c.Gateway = "gw-1"
	}
	if c.Expires.IsZero() {
		c.Expires = t0.Add(time.Minute)
	}
	c.Issued = t0
	msg, err := reading.SealCommand(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func (r *rig) handle(t *testing.T, msg []byte) *reading.Reply {
	t.Helper()
	out := r.h.Handle(context.Background(), msg)
	if out == nil {
		return nil
	}
	rep, err := reading.OpenReply(out, func(string) (ed25519.PublicKey, error) { return gwKey.Public().(ed25519.PublicKey), nil })
	if err != nil {
		t.Fatalf("reply does not open: %v", err)
	}
	return &rep
}

func authorise(id string) reading.Command {
	a := reading.Authorisation{Point: "cp-1", Session: "s-1", Class: reading.ClassEco, CapWh: 5000, HoldExpires: t0.Add(time.Hour)}
	return reading.Command{ID: id, Kind: reading.KindAuthorise, Args: a.Args()}
}

func TestCommands(t *testing.T) {
	stop := reading.Command{ID: "c-2", Kind: reading.KindStop, Args: map[string]string{"point": "cp-1", "session": "s-1"}}
	for name, tc := range map[string]struct {
		msg       func(t *testing.T) []byte
		execErr   error
		wantReply *reading.Reply // nil: no reply
		wantCalls []string
	}{
		"authorise": {
			msg:       func(t *testing.T) []byte { return seal(t, authorise("c-1"), centralKey) },
			wantReply: &reading.Reply{ID: "c-1", OK: true, Result: map[string]string{"state": "waiting"}},
			wantCalls: []string{"authorise cp-1 s-1 eco"},
		},
		"stop": {
			msg:       func(t *testing.T) []byte { return seal(t, stop, centralKey) },
			wantReply: &reading.Reply{ID: "c-2", OK: true},
			wantCalls: []string{"stop cp-1 s-1"},
		},
		"executor error": {
			msg:       func(t *testing.T) []byte { return seal(t, stop, centralKey) },
			execErr:   errors.New("no such session"),
			wantReply: &reading.Reply{ID: "c-2", Error: "no such session"},
			wantCalls: []string{"stop cp-1 s-1"},
		},
		"unknown kind": {
			msg:       func(t *testing.T) []byte { return seal(t, reading.Command{ID: "c-3", Kind: "reboot"}, centralKey) },
			wantReply: &reading.Reply{ID: "c-3", Error: `unknown command kind "reboot" (this edge knows authorise, stop, set-limit, safety-reset)`},
		},
		"bad args": {
			msg: func(t *testing.T) []byte {
				return seal(t, reading.Command{ID: "c-4", Kind: reading.KindAuthorise, Args: map[string]string{"point": "cp-1"}}, centralKey)
			},
			wantReply: &reading.Reply{ID: "c-4", Error: "malformed batch: authorise needs point and session"},
		},
		"expired": {
			msg: func(t *testing.T) []byte {
				c := authorise("c-5")
				c.Expires = t0
				return seal(t, c, centralKey)
			},
			wantReply: &reading.Reply{ID: "c-5", Error: "command expired: command c-5 expired at 2026-12-06T15:00:00Z"},
		},
		"forged":            {msg: func(t *testing.T) []byte { return seal(t, authorise("c-6"), gwKey) }},
		"other gateway":     {msg: func(t *testing.T) []byte { c := authorise("c-7"); c.Gateway = "gw-2"; return seal(t, c, centralKey) }},
		"not a message":     {msg: func(*testing.T) []byte { return []byte("{}") }},
		"unsigned envelope": {msg: func(*testing.T) []byte { return []byte(`{"body":"e30=","sig":""}`) }},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			r.exec.err = tc.execErr
			got := r.handle(t, tc.msg(t))
			if got != nil {
				if got.Site != "mitte" || got.Gateway != "gw-1" || !got.At.Equal(t0) {
					t.Errorf("reply names %s/%s at %s", got.Site, got.Gateway, got.At)
				}
				got.Version, got.Type, got.Site, got.Gateway, got.At = 0, "", "", "", time.Time{}
			}
			if diff := cmp.Diff(tc.wantReply, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCalls, r.exec.calls); diff != "" {
				t.Errorf("executor calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAtMostOnce: a replayed command, before and after a restart, is not
// executed again and gets its first answer; once it has expired it is
// refused as expired and forgotten.
func TestAtMostOnce(t *testing.T) {
	r := newRig(t)
	msg := seal(t, authorise("c-1"), centralKey)
	first := r.handle(t, msg)
	if first == nil || !first.OK {
		t.Fatalf("first: %+v", first)
	}
	again := r.handle(t, msg)
	r.open(t) // restart
	r.now = t0.Add(30 * time.Second)
	afterRestart := r.handle(t, msg)
	for _, rep := range []*reading.Reply{again, afterRestart} {
		if rep == nil || !rep.OK || rep.ID != "c-1" || rep.Result["state"] != "waiting" {
			t.Errorf("repeat answered %+v, want the first answer", rep)
		}
	}
	if len(r.exec.calls) != 1 {
		t.Errorf("executed %d times: %v", len(r.exec.calls), r.exec.calls)
	}
	if s := r.h.Stats(); s.Repeated != 1 || s.Executed != 0 {
		t.Errorf("stats after restart %+v", s)
	}
	r.now = t0.Add(time.Minute)
	if rep := r.handle(t, msg); rep == nil || rep.OK || !strings.Contains(rep.Error, "expired") {
		t.Errorf("replay after expiry answered %+v", rep)
	}
	r.now = t0.Add(time.Minute + pruneGrace)
	r.handle(t, seal(t, reading.Command{ID: "c-9", Kind: reading.KindStop, Args: map[string]string{"point": "p", "session": "s"}, Expires: t0.Add(3 * time.Hour)}, centralKey))
	d, err := loadDone(r.file)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Done["c-1"]; ok || d.Done["c-9"] == nil {
		t.Errorf("done file after expiry holds %v; want c-9 only", d.Done)
	}
}

// TestInterrupted: a command noted as started but without an outcome (the
// edge died executing it) is not executed again.
func TestInterrupted(t *testing.T) {
	r := newRig(t)
	d := doneFile{Done: map[string]*doneEntry{"c-1": {Expires: t0.Add(time.Minute), Kind: reading.KindAuthorise, State: stateStarted}}}
	if err := d.save(r.file); err != nil {
		t.Fatal(err)
	}
	r.open(t)
	rep := r.handle(t, seal(t, authorise("c-1"), centralKey))
	if rep == nil || rep.OK || !strings.Contains(rep.Error, "interrupted") {
		t.Errorf("got %+v", rep)
	}
	if len(r.exec.calls) != 0 {
		t.Errorf("executed: %v", r.exec.calls)
	}
}

// TestUnwritableDoneFile: a command that cannot be noted is not executed.
func TestUnwritableDoneFile(t *testing.T) {
	r := newRig(t)
	if err := os.Mkdir(r.file+".tmp", 0o700); err != nil { // the temporary file cannot be created
		t.Fatal(err)
	}
	rep := r.handle(t, seal(t, authorise("c-1"), centralKey))
	if rep == nil || rep.OK || !strings.Contains(rep.Error, "not executed") {
		t.Errorf("got %+v", rep)
	}
	if len(r.exec.calls) != 0 {
		t.Errorf("executed: %v", r.exec.calls)
	}
}

func TestBadDoneFile(t *testing.T) {
	r := newRig(t)
	if err := os.WriteFile(r.file, []byte(`{"v":1,"done":{},"extra":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Site: "s", Gateway: "g", CentralKey: centralKey.Public().(ed25519.PublicKey), Key: gwKey, StateFile: r.file, Exec: r.exec}); err == nil || !strings.Contains(err.Error(), r.file) {
		t.Errorf("got %v, want an error naming the file", err)
	}
}

// FuzzHandle: whatever arrives on the command topic, the handler executes
// only commands signed by central for this gateway, never one twice, and
// answers only authentic commands.
func FuzzHandle(f *testing.F) {
	f.Add(mustSeal(authorise("c-1"), centralKey))
	f.Add(mustSeal(reading.Command{ID: "c-2", Gateway: "gw-1", Kind: "stop", Expires: t0.Add(time.Minute), Args: map[string]string{"point": "p", "session": "s"}}, centralKey))
	f.Add(mustSeal(authorise("c-3"), gwKey))
	f.Add([]byte(`{"body":"eyJ2IjoyfQ==","sig":""}`))
	ma := [3]int64{20_000, 20_000, 20_000}
	f.Add(mustSeal(reading.Command{ID: "c-4", Kind: reading.KindSetLimit, Args: reading.SiteLimit{MaxCurrentMA: &ma, TTL: time.Minute}.Args()}, centralKey))
	f.Add(mustSeal(reading.Command{ID: "c-5", Kind: reading.KindSetLimit, Args: reading.SiteLimit{}.Args()}, centralKey))
	f.Add(mustSeal(reading.Command{ID: "c-6", Kind: reading.KindSafetyReset, Args: reading.SafetyReset{Who: "ops", Why: "all clear"}.Args()}, centralKey))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, msg []byte) {
		exec, site := &fakeExec{}, &fakeSite{}
		h, err := New(Config{Site: "mitte", Gateway: "gw-1", CentralKey: centralKey.Public().(ed25519.PublicKey), Key: gwKey,
			StateFile: filepath.Join(dir, "done.json"), Exec: exec, SiteExec: site, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(dir, "done.json"))
		out := h.Handle(context.Background(), msg)
		c, cerr := reading.OpenCommand(msg, centralKey.Public().(ed25519.PublicKey), "gw-1", t0)
		if cerr != nil && len(exec.calls)+len(site.calls) > 0 {
			t.Fatalf("executed %v %v from a message OpenCommand refuses: %v", exec.calls, site.calls, cerr)
		}
		if out != nil && cerr != nil && !errors.Is(cerr, reading.ErrExpired) {
			t.Fatalf("answered a message that is not an authentic command: %v", cerr)
		}
		if cerr == nil && out == nil {
			t.Fatalf("no answer to command %s", c.ID)
		}
		h.Handle(context.Background(), msg)
		if len(exec.calls)+len(site.calls) > 1 {
			t.Fatalf("executed twice: %v %v", exec.calls, site.calls)
		}
	})
}

func mustSeal(c reading.Command, k ed25519.PrivateKey) []byte {
	c.Gateway = "gw-1"
	if c.Expires.IsZero() {
		c.Expires = t0.Add(time.Minute)
	}
	msg, err := reading.SealCommand(c, k)
	if err != nil {
		panic(err)
	}
	return msg
}
