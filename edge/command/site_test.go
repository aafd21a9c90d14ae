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

// fakeSite records the site commands and answers like the EMS adapter:
// the limit in force is the one asked for (a withdrawal leaves the 250 A
// fuse), a reset is refused while alarm is set.
type fakeSite struct {
	calls []string
	alarm string // non-empty: the alarm is still present
}

func (f *fakeSite) SetLimit(_ context.Context, l reading.SiteLimit, requestID string, now time.Time) (reading.LimitInForce, error) {
	f.calls = append(f.calls, "set-limit "+requestID+" "+l.Args()[reading.ArgTTLS])
	if l.Withdraw() {
		return reading.LimitInForce{Source: "fuse", MaxCurrentMA: [3]int64{250_000, 250_000, 250_000}}, nil
	}
	out := reading.LimitInForce{Source: "ems", Expires: now.Add(l.TTL), RequestID: requestID}
	if l.MaxCurrentMA != nil {
		out.MaxCurrentMA = *l.MaxCurrentMA
	}
	if l.MaxPowerW != nil {
		w := *l.MaxPowerW
		out.MaxPowerW = &w
	}
	return out, nil
}

func (f *fakeSite) ResetSafety(_ context.Context, who, why string, _ time.Time) error {
	f.calls = append(f.calls, "reset "+who+": "+why)
	if f.alarm != "" {
		return errors.New("safety reset at site \"mitte\": alarm still present: " + f.alarm)
	}
	return nil
}

func limitCmd(id string, args map[string]string) reading.Command {
	return reading.Command{ID: id, Kind: reading.KindSetLimit, Args: args}
}

func resetCmd(id, who, why string) reading.Command {
	return reading.Command{ID: id, Kind: reading.KindSafetyReset, Args: reading.SafetyReset{Who: who, Why: why}.Args()}
}

func TestSiteCommands(t *testing.T) {
	ma := [3]int64{20_000, 20_000, 20_000}
	w := int64(11_000)
	twenty := reading.SiteLimit{MaxCurrentMA: &ma, MaxPowerW: &w, TTL: 10 * time.Minute}
	for name, tc := range map[string]struct {
		cmd       reading.Command
		expires   time.Time // zero: t0 + 1 min
		gateway   string
		alarm     string
		wantReply *reading.Reply // nil: no reply
		wantCalls []string
	}{
		"set-limit": {
			cmd: limitCmd("l-1", twenty.Args()),
			wantReply: &reading.Reply{ID: "l-1", OK: true, Result: map[string]string{"source": "ems", "max_current_ma": "20000,20000,20000",
				"max_power_w": "11000", "expires": "2026-12-06T15:10:00Z", "request": "central/l-1"}},
			wantCalls: []string{"set-limit central/l-1 600"},
		},
		"withdraw": {
			cmd:       limitCmd("l-2", reading.SiteLimit{}.Args()),
			wantReply: &reading.Reply{ID: "l-2", OK: true, Result: map[string]string{"source": "fuse", "max_current_ma": "250000,250000,250000"}},
			wantCalls: []string{"set-limit central/l-2 0"},
		},
		"set-limit expired": {
			cmd: limitCmd("l-3", twenty.Args()), expires: t0,
			wantReply: &reading.Reply{ID: "l-3", Error: "command expired: command l-3 expired at 2026-12-06T15:00:00Z"},
		},
		"set-limit for another gateway": {cmd: limitCmd("l-4", twenty.Args()), gateway: "gw-2"},
		"set-limit without ttl": {
			cmd:       limitCmd("l-5", map[string]string{"max_current_ma": "1,2,3"}),
			wantReply: &reading.Reply{ID: "l-5", Error: "malformed batch: set-limit: ttl_s is required (0 withdraws)"},
		},
		"set-limit with two phases": {
			cmd:       limitCmd("l-6", map[string]string{"max_current_ma": "1,2", "ttl_s": "60"}),
			wantReply: &reading.Reply{ID: "l-6", Error: `malformed batch: set-limit: max_current_ma: "1,2": want three integers l1,l2,l3`},
		},
		"set-limit negative": {
			cmd:       limitCmd("l-7", map[string]string{"max_power_w": "-1", "ttl_s": "60"}),
			wantReply: &reading.Reply{ID: "l-7", Error: `malformed batch: set-limit: max_power_w "-1": want an integer in 0..1000000000`},
		},
		"withdraw with a limit": {
			cmd:       limitCmd("l-8", map[string]string{"max_power_w": "1000", "ttl_s": "0"}),
			wantReply: &reading.Reply{ID: "l-8", Error: "malformed batch: set-limit: ttl_s 0 withdraws the limit and takes no max_current_ma, max_power_w or scope"},
		},
		"set-limit unknown scope": {
			cmd:       limitCmd("l-9", map[string]string{"max_power_w": "1000", "ttl_s": "60", "scope": "building"}),
			wantReply: &reading.Reply{ID: "l-9", Error: `malformed batch: set-limit: scope "building": want "connection" or "ev"`},
		},
		"set-limit ttl too long": {
			cmd:       limitCmd("l-10", map[string]string{"max_power_w": "1000", "ttl_s": "86401"}),
			wantReply: &reading.Reply{ID: "l-10", Error: `malformed batch: set-limit: ttl_s "86401": want whole seconds in 0..86400`},
		},
		"set-limit unknown argument": {
			cmd:       limitCmd("l-11", map[string]string{"max_power_w": "1000", "ttl_s": "60", "start": "2026-12-07T00:00:00Z"}),
			wantReply: &reading.Reply{ID: "l-11", Error: `malformed batch: set-limit: unknown argument "start"`},
		},
		"safety-reset": {
			cmd:       resetCmd("r-1", "ops", "fire brigade gave the all-clear"),
			wantReply: &reading.Reply{ID: "r-1", OK: true, Result: map[string]string{"state": "reset"}},
			wantCalls: []string{"reset ops via central: fire brigade gave the all-clear"},
		},
		"safety-reset while the alarm is present": {
			cmd: resetCmd("r-2", "ops", "checked"), alarm: "fire-alarm loop open",
			wantReply: &reading.Reply{ID: "r-2", Error: `safety reset at site "mitte": alarm still present: fire-alarm loop open`},
			wantCalls: []string{"reset ops via central: checked"},
		},
		"safety-reset without why": {
			cmd:       resetCmd("r-3", "ops", ""),
			wantReply: &reading.Reply{ID: "r-3", Error: "malformed batch: safety-reset: why is empty"},
		},
		"safety-reset with a control character": {
			cmd:       resetCmd("r-4", "ops\n", "x"),
			wantReply: &reading.Reply{ID: "r-4", Error: "malformed batch: safety-reset: who contains control character U+000A"},
		},
		"safety-reset expired": {
			cmd: resetCmd("r-5", "ops", "x"), expires: t0.Add(-time.Second),
			wantReply: &reading.Reply{ID: "r-5", Error: "command expired: command r-5 expired at 2026-12-06T14:59:59Z"},
		},
		"safety-reset for another gateway": {cmd: resetCmd("r-6", "ops", "x"), gateway: "gw-2"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			r.site.alarm = tc.alarm
			c := tc.cmd
			c.Expires, c.Gateway = tc.expires, tc.gateway
			got := r.handle(t, seal(t, c, centralKey))
			if got != nil {
				got.Version, got.Type, got.Site, got.Gateway, got.At = 0, "", "", "", time.Time{}
			}
			if diff := cmp.Diff(tc.wantReply, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCalls, r.site.calls); diff != "" {
				t.Errorf("site calls (-want +got):\n%s", diff)
			}
			if len(r.exec.calls) != 0 {
				t.Errorf("session executor called: %v", r.exec.calls)
			}
		})
	}
}

// TestSiteCommandsAtMostOnce: a replayed set-limit or safety-reset, also
// after a restart, gets its first answer and is not carried out again (a
// replayed limit must not restart its TTL; a replayed reset must not
// release a latch set again since).
func TestSiteCommandsAtMostOnce(t *testing.T) {
	r := newRig(t)
	ma := [3]int64{16_000, 16_000, 16_000}
	limit := seal(t, limitCmd("l-1", reading.SiteLimit{MaxCurrentMA: &ma, TTL: time.Minute}.Args()), centralKey)
	reset := seal(t, resetCmd("r-1", "ops", "all clear"), centralKey)
	first := []*reading.Reply{r.handle(t, limit), r.handle(t, reset)}
	r.open(t) // restart
	r.now = t0.Add(20 * time.Second)
	again := []*reading.Reply{r.handle(t, limit), r.handle(t, reset)}
	for i := range first {
		if first[i] == nil || !first[i].OK {
			t.Fatalf("first answer %+v", first[i])
		}
		first[i].At, again[i].At = time.Time{}, time.Time{}
		if diff := cmp.Diff(first[i], again[i]); diff != "" {
			t.Errorf("repeat answered differently (-first +repeat):\n%s", diff)
		}
	}
	if want := []string{"set-limit central/l-1 60", "reset ops via central: all clear"}; !cmp.Equal(want, r.site.calls) {
		t.Errorf("site calls %v, want %v", r.site.calls, want)
	}
	if s := r.h.Stats(); s.Repeated != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestSiteCommandsWithoutSite: an edge without a control loop wired refuses
// site commands with a reason instead of dropping them.
func TestSiteCommandsWithoutSite(t *testing.T) {
	h, err := New(Config{Site: "mitte", Gateway: "gw-1", CentralKey: centralKey.Public().(ed25519.PublicKey), Key: gwKey,
		StateFile: filepath.Join(t.TempDir(), "c.json"), Exec: &fakeExec{}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	out := h.Handle(context.Background(), seal(t, resetCmd("r-1", "ops", "x"), centralKey))
	rep, err := reading.OpenReply(out, func(string) (ed25519.PublicKey, error) { return gwKey.Public().(ed25519.PublicKey), nil })
	if err != nil || rep.OK || !strings.Contains(rep.Error, "takes no site commands") {
		t.Errorf("got %+v, %v", rep, err)
	}
}

// FuzzSiteArgs: whatever arguments a set-limit or safety-reset carries,
// the handler answers (signed command) and hands the site only arguments
// that parse and stay within bounds.
func FuzzSiteArgs(f *testing.F) {
	f.Add("set-limit", "max_current_ma", "20000,20000,20000", "ttl_s", "60")
	f.Add("set-limit", "max_power_w", "-5", "ttl_s", "0")
	f.Add("set-limit", "ttl_s", "0", "scope", "ev")
	f.Add("safety-reset", "who", "ops", "why", "all clear")
	f.Add("safety-reset", "who", "", "why", "\x00")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, kind, k1, v1, k2, v2 string) {
		site := &checkingSite{t: t}
		h, err := New(Config{Site: "mitte", Gateway: "gw-1", CentralKey: centralKey.Public().(ed25519.PublicKey), Key: gwKey,
			StateFile: filepath.Join(dir, "done.json"), Exec: &fakeExec{}, SiteExec: site, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(dir, "done.json"))
		msg, err := reading.SealCommand(reading.Command{ID: "c-1", Gateway: "gw-1", Kind: kind, Expires: t0.Add(time.Minute),
			Args: map[string]string{k1: v1, k2: v2}}, centralKey)
		if err != nil {
			t.Skip() // not encodable (invalid UTF-8 is replaced, never refused, so this is rare); no service is missing, so this holds in CI too
		}
		if _, err := reading.OpenCommand(msg, centralKey.Public().(ed25519.PublicKey), "gw-1", t0); err != nil {
			return // the envelope's rules, fuzzed by FuzzHandle
		}
		if h.Handle(context.Background(), msg) == nil {
			t.Fatal("no reply to an authentic command")
		}
	})
}

// checkingSite fails the test when handed arguments out of bounds.
type checkingSite struct{ t *testing.T }

func (c *checkingSite) SetLimit(_ context.Context, l reading.SiteLimit, _ string, now time.Time) (reading.LimitInForce, error) {
	if l.TTL < 0 || l.TTL > reading.MaxLimitTTL || (l.Withdraw() && (l.MaxCurrentMA != nil || l.MaxPowerW != nil)) ||
		(!l.Withdraw() && l.MaxCurrentMA == nil && l.MaxPowerW == nil) {
		c.t.Fatalf("site got limit %+v", l)
	}
	if m := l.MaxCurrentMA; m != nil && (min(m[0], m[1], m[2]) < 0 || max(m[0], m[1], m[2]) > reading.MaxLimitCurrentMA) {
		c.t.Fatalf("site got currents %v", *m)
	}
	if p := l.MaxPowerW; p != nil && (*p < 0 || *p > reading.MaxLimitPowerW) {
		c.t.Fatalf("site got power %d", *p)
	}
	if l.Scope != "" && l.Scope != reading.ScopeConnection && l.Scope != reading.ScopeEV {
		c.t.Fatalf("site got scope %q", l.Scope)
	}
	return reading.LimitInForce{Source: "ems", Expires: now.Add(l.TTL)}, nil
}

func (c *checkingSite) ResetSafety(_ context.Context, who, why string, _ time.Time) error {
	if who == "" || why == "" || strings.ContainsAny(who+why, "\x00\n\r") {
		c.t.Fatalf("site got reset %q %q", who, why)
	}
	return nil
}
