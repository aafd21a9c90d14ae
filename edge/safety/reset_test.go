package safety

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateFileKeepsLatchAndAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "safety.json")
	f := newFixture(t, func(c *Config) { c.StateFile = path })
	f.open(loop)
	f.check()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `"latched": true`) || !strings.Contains(string(b), string(CauseFireLoop)) {
		t.Fatalf("state file after trip: %s, %v", b, err)
	}

	// A restart comes up latched and cuts at once.
	g := newFixture(t, func(c *Config) { c.StateFile = path })
	for _, c := range g.chargers {
		c.Seed(16, true)
	}
	if !g.w.Latched() {
		t.Fatal("restart forgot the latch")
	}
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan error, 1)
	go func() { done <- g.w.Run(ctx) }()
	if err := g.clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done // Run waits for its cuts
	allAt(t, g, "0A/false")

	if err := g.w.Reset("carol", "fire brigade gave the all-clear", g.clk.Now()); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	for _, want := range []string{`"latched": false`, `"who": "carol"`, `"why": "fire brigade gave the all-clear"`, `"cause": "fire-loop-open"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("state file lacks %s:\n%s", want, b)
		}
	}
	h := newFixture(t, func(c *Config) { c.StateFile = path })
	if h.w.Latched() || h.w.Status().LastReset.Who != "carol" {
		t.Errorf("after reload: %+v", h.w.Status())
	}
}

func TestCorruptStateFileComesUpLatched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "safety.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) { c.StateFile = path })
	if st := f.w.Status(); !st.Latched || st.Cause != CauseStateUnreadable {
		t.Errorf("status = %+v", st)
	}
}

func TestUnstorableResetKeepsLatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "safety.json")
	f := newFixture(t, func(c *Config) { c.StateFile = path })
	f.open(loop)
	f.check()
	f.contacts(healthy)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if os.Getuid() == 0 {
		// root writes anywhere: put a plain file where the directory would be.
		blocker := filepath.Join(t.TempDir(), "blocker")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f.w.cfg.StateFile = filepath.Join(blocker, "safety.json")
	}
	if err := f.w.Reset("alice", "test", f.clk.Now()); err == nil {
		t.Fatal("reset accepted though it could not be stored")
	}
	if !f.w.Latched() {
		t.Error("latch released without an audit record")
	}
}

// TestRunWakesOnContacts drives the watcher through Run: Wake makes it look
