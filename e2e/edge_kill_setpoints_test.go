package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestEdgeProcessKilledSetpointsStaySafe: the Phoenix EV-ETH controllers
// have no documented fallback current or communication watchdog
// (docs/registers.md, docs/failsafe.md), so what protects the fuses when
// the edge dies is that every setpoint it leaves in force already fits
// every limit, and that systemd restarts it. The real edge binary runs
// against the simulator (speed 1); after SIGKILL no charger is offered
// more than before and the grid stays within its fuse for 5 s; a new edge
// process then takes over the chargers again (it writes setpoints).
func TestEdgeProcessKilledSetpointsStaySafe(t *testing.T) {
	bin := parkgridBinary(t)
	dir := t.TempDir()

	cfg, err := sim.LoadConfig(filepath.Join(svctest.RepoRoot(t), "deploy", "sim-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.API = "127.0.0.1:0", "off"
	cfg.Speed = 1
	cfg.Cars.ArrivalsPerHour, cfg.Cars.ConnectedAtStart = 0, 0
	s, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cars := map[string]sim.Car{
		"p01": {Phases: 3, MaxA: 16},
		"p02": {Phases: 1, MaxA: 32},
		"p05": {Phases: 3, MaxA: 16},
		"p08": {Phases: 3, MaxA: 32},
	}
	for name, c := range cars {
		if err := s.PlugCar(name, c); err != nil {
			t.Fatal(err)
		}
	}

	// deploy/site-small.yaml on the simulator's port, state in dir, no
	// EMS API, uplink or InfluxDB.
	raw, err := os.ReadFile(filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["buses"].([]any)[0].(map[string]any)["tcp"] = s.ModbusAddr(sim.MainListener)
	doc["data_dir"] = dir
	delete(doc, "ems")
	delete(doc, "uplink")
	delete(doc, "influx")
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	sitePath := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(sitePath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	site, err := config.Load(sitePath)
	if err != nil {
		t.Fatalf("generated site file: %v", err)
	}
	fuse := site.Grid.Limit

	start := func(name string) (*exec.Cmd, <-chan error) {
		logPath := filepath.Join(dir, name+".log")
		showLogTail(t, logPath)
		lf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lf.Close() })
		cmd := exec.Command(bin, "edge", "--config", sitePath)
		cmd.Stdout, cmd.Stderr = lf, lf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
			}
		})
		return cmd, exited
	}
	withinFuse := func(st sim.State) error {
		for ph, a := range st.Grid.CurrentA {
			if a > float64(fuse[ph]) {
				return fmt.Errorf("grid L%d carries %.1f A, fuse %d A", ph+1, a, fuse[ph])
			}
		}
		return nil
	}

	edge1, exited1 := start("edge-1")
	var before sim.State
	pollState(t, s, 30*time.Second, exited1, "every car charging under the edge's setpoints", func(st sim.State) bool {
		before = st
		for _, p := range st.Points {
			if _, ok := cars[p.Name]; ok && (p.LastSetpoint == nil || !p.Enabled || p.OfferedA < 6 || p.State != "C") {
				return false
			}
		}
		return withinFuse(st) == nil
	})

	if err := edge1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited1; err == nil {
		t.Fatal("the edge exited with status 0 after SIGKILL")
	}
	killedAt := time.Now()
	offered := map[string]int{}
	writes := map[string]int{}
	for _, p := range before.Points {
		offered[p.Name], writes[p.Name] = p.OfferedA, p.SetpointWrites
	}
	for time.Since(killedAt) < 5*time.Second {
		st := s.State()
		if err := withinFuse(st); err != nil {
			t.Fatalf("%s after the kill: %v", time.Since(killedAt).Round(time.Millisecond), err)
		}
		for _, p := range st.Points {
			if p.OfferedA > offered[p.Name] {
				t.Fatalf("%s offered %d A after the kill, %d A before", p.Name, p.OfferedA, offered[p.Name])
			}
		}
		time.Sleep(100 * time.Millisecond) // wall time is what passes while nobody controls the site
	}

	// systemd's Restart=always, by hand: a new edge takes the chargers over.
	_, exited2 := start("edge-2")
	pollState(t, s, 30*time.Second, exited2, "the restarted edge to write setpoints", func(st sim.State) bool {
		for _, p := range st.Points {
			if _, ok := cars[p.Name]; ok && p.SetpointWrites > writes[p.Name] && p.OfferedA >= 6 {
				return withinFuse(st) == nil
			}
		}
		return false
	})
	var b strings.Builder
	for _, p := range before.Points {
		if _, ok := cars[p.Name]; ok {
			fmt.Fprintf(&b, " %s %d A;", p.Name, p.OfferedA)
		}
	}
	t.Logf("after SIGKILL the setpoints in force (%s) held for 5 s within the %v A fuse; a restarted edge took over", strings.TrimSuffix(b.String(), ";"), fuse)
}

// pollState polls the simulator's state every 50 ms until cond holds; it
// fails the test after within (wall time), or when exited delivers (the
// edge died on its own).
func pollState(t *testing.T, s *sim.Sim, within time.Duration, exited <-chan error, what string, cond func(sim.State) bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		if cond(s.State()) {
			return
		}
		select {
		case <-tick.C:
		case err := <-exited:
			t.Fatalf("the edge exited (%v) while waiting for %s", err, what)
		case <-deadline.C:
			st := s.State()
			var b strings.Builder
			for _, p := range st.Points {
				fmt.Fprintf(&b, "\n  %s car %v state %s enabled %v setpoint %d A offered %d A",
					p.Name, p.Car != nil, p.State, p.Enabled, p.SetpointA, p.OfferedA)
			}
			t.Fatalf("no %s within %s:%s", what, within, b.String())
		}
	}
}
