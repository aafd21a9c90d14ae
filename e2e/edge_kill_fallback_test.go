package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestEdgeProcessKilledChargersFallBack: the real edge binary configures
// every charge controller's fallback current and communication watchdog;
// after SIGKILL, with nobody left to talk to them, the chargers fall back
// on their own once the watchdog expires (issue 5).
//
// The simulator runs in this process at speed 1; the watchdog runs on its
// clock, and so do all times measured here. The watchdog restarts on every
// request to a controller's unit, and the edge polls each controller once a
// second, so the last request can precede the kill by up to a poll. A
// Modbus proxy between the edge and the simulator therefore notes, per unit,
// the simulated time of the last request the edge sent: no charger may fall
// back before that moment plus the watchdog, and every one must have fallen
// back within the watchdog plus 2 s of the kill.
func TestEdgeProcessKilledChargersFallBack(t *testing.T) {
	const (
		watchdog  = 3 * time.Second
		fallbackA = 6
		slack     = 2 * time.Second
	)
	bin := parkgridBinary(t)
	dir := t.TempDir()

	// The simulator: sim-small on a free port, no API, no random cars.
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
	for name, c := range map[string]sim.Car{
		"p01": {Phases: 3, MaxA: 16},
		"p02": {Phases: 1, MaxA: 32},
		"p05": {Phases: 3, MaxA: 16},
		"p08": {Phases: 3, MaxA: 32},
	} {
		if err := s.PlugCar(name, c); err != nil {
			t.Fatal(err)
		}
	}
	proxy := newModbusProxy(t, s.ModbusAddr(sim.MainListener), s.Now)

	// The site file: deploy/site-small.yaml with the bus on the proxy, a
	// 3 s watchdog, a 6 A fallback on every point, no EMS API, no uplink.
	raw, err := os.ReadFile(filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["watchdog"] = watchdog.String()
	doc["buses"].([]any)[0].(map[string]any)["tcp"] = proxy.addr()
	for _, cp := range doc["charge_points"].([]any) {
		cp.(map[string]any)["fallback_a"] = fallbackA
	}
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
	if site.Watchdog != watchdog || site.EMS.REST != nil || site.EMS.MQTT != nil || site.Uplink != nil {
		t.Fatalf("generated site file: watchdog %s, ems %+v, uplink %+v", site.Watchdog, site.EMS, site.Uplink)
	}

	// The edge, as a subprocess.
	logPath := filepath.Join(dir, "edge.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
				t.Logf("edge log (last 40 lines):\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	cmd := exec.Command(bin, "edge", "--config", sitePath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
	})

	// Wait until the edge has configured every controller's failsafe and
	// written setpoints, and at least one charger is offered more than its
	// fallback (otherwise falling back would prove nothing).
	var before sim.State
	pollState(t, s, 15*time.Second, exited, "the edge to configure the watchdog and write setpoints", func(st sim.State) bool {
		above := false
		for _, p := range st.Points {
			if p.WatchdogS != int(watchdog/time.Second) || p.FallbackA != fallbackA || p.LastSetpoint == nil || p.WatchdogExpired {
				return false
			}
			if p.Car != nil && p.OfferedA > fallbackA && p.SetpointA != fallbackA {
				above = true
			}
		}
		before = st
		return above
	})
	for _, p := range before.Points {
		t.Logf("before kill: %s car %v enabled %v setpoint %d A (written %s) offered %d A fallback %d A watchdog %d s",
			p.Name, p.Car != nil, p.Enabled, p.SetpointA, p.LastSetpoint.At.Format("15:04:05.000"), p.OfferedA, p.FallbackA, p.WatchdogS)
	}

	// Kill the edge.
	killAt := s.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	if err := <-exited; err == nil {
		t.Fatal("the edge exited with status 0 after SIGKILL")
	}

	// Wait for every charger to fall back, noting when each did.
	unit := map[string]int{}
	for _, d := range before.Devices {
		unit[d.Name] = d.Unit
	}
	fellBack := map[string]time.Time{}
	var after sim.State
	pollState(t, s, watchdog+slack+3*time.Second, nil, "every charger to fall back to its fallback current", func(st sim.State) bool {
		after = st
		for _, p := range st.Points {
			if _, ok := fellBack[p.Name]; !ok && p.WatchdogExpired && p.OfferedA == p.FallbackA {
				fellBack[p.Name] = st.Time
			}
		}
		return len(fellBack) == len(st.Points)
	})
	var all, lastCtl time.Time
	minSilence := time.Duration(1<<63 - 1)
	for _, p := range after.Points {
		at := fellBack[p.Name]
		if at.After(all) {
			all = at
		}
		last, ok := proxy.lastRequest(unit[p.Controller])
		if !ok {
			t.Errorf("%s: the edge never sent a request to controller %s", p.Name, p.Controller)
			continue
		}
		if last.After(lastCtl) {
			lastCtl = last
		}
		d := at.Sub(last)
		minSilence = min(minSilence, d)
		if d < watchdog {
			t.Errorf("%s: fell back %s after the edge's last request to it, before the %s watchdog", p.Name, d, watchdog)
		}
		if p.OfferedA != fallbackA {
			t.Errorf("%s: offered %d A after the watchdog, want the %d A fallback", p.Name, p.OfferedA, fallbackA)
		}
	}
	elapsed := all.Sub(killAt)
	if elapsed > watchdog+slack {
		t.Errorf("all chargers fell back %s after the kill; want within %s", elapsed, watchdog+slack)
	}
	t.Logf("all %d chargers at their %d A fallback %s (simulated) after SIGKILL; last request to a controller %s before the kill; earliest fallback %s after a controller's last request",
		len(after.Points), fallbackA, elapsed.Round(time.Millisecond), killAt.Sub(lastCtl).Round(time.Millisecond), minSilence.Round(time.Millisecond))
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
				fmt.Fprintf(&b, "\n  %s car %v enabled %v setpoint %d A offered %d A fallback %d A watchdog %d s expired %v",
					p.Name, p.Car != nil, p.Enabled, p.SetpointA, p.OfferedA, p.FallbackA, p.WatchdogS, p.WatchdogExpired)
			}
			t.Fatalf("no %s within %s:%s", what, within, b.String())
		}
	}
}

// modbusProxy forwards Modbus TCP between the edge and the simulator and
// notes, per unit id, the simulated time at which the last request arrived
// from the edge. It notes the time before forwarding, so it is never later
// than the moment the simulator restarts that controller's watchdog.
type modbusProxy struct {
	ln       net.Listener
	upstream string
	now      func() time.Time
	wg       sync.WaitGroup

	mu    sync.Mutex // protects the fields below
	conns []net.Conn
	last  map[byte]time.Time
}

func newModbusProxy(t *testing.T, upstream string, now func() time.Time) *modbusProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &modbusProxy{ln: ln, upstream: upstream, now: now, last: map[byte]time.Time{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *modbusProxy) addr() string { return p.ln.Addr().String() }

func (p *modbusProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // answers: as they come
			defer p.wg.Done()
			_, _ = io.Copy(down, up)
			down.Close()
		}()
		go func() { // requests: frame by frame (MBAP header: length at 4, unit at 6)
			defer p.wg.Done()
			defer up.Close()
			hdr := make([]byte, 7)
			for {
				if _, err := io.ReadFull(down, hdr); err != nil {
					return
				}
				n := int(binary.BigEndian.Uint16(hdr[4:6]))
				if n < 1 {
					return
				}
				frame := make([]byte, 7+n-1)
				copy(frame, hdr)
				if _, err := io.ReadFull(down, frame[7:]); err != nil {
					return
				}
				at := p.now()
				p.mu.Lock()
				p.last[hdr[6]] = at
				p.mu.Unlock()
				if _, err := up.Write(frame); err != nil {
					return
				}
			}
		}()
	}
}

func (p *modbusProxy) lastRequest(unit int) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.last[byte(unit)]
	return at, ok
}
