package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// benchSite returns a simulator config and the matching edge site file for
// n charge points: grid meter and DI module on listener "main", the
// controllers on "ctl" (units 1..n), their Eichrecht meters on "meters".
func benchSite(tb testing.TB, n int) (*sim.Sim, *config.Site) {
	tb.Helper()
	simYAML := fmt.Sprintf(`listen: 127.0.0.1:0
listeners: {ctl: 127.0.0.1:0, meters: 127.0.0.1:0}
api: "off"
seed: 1
grid: {unit: 1, base_load_w: [20000, 18000, 22000]}
di: {unit: 2}
cars: {arrivals_per_hour: 0, connected_at_start: 0.5}
chargers: {enabled: true, max_current_a: 16}
sub_distributions:
  - name: ud1
    points:
      - {name: p, count: %d, listener: ctl, unit: 1, meter_listener: meters, meter_unit: 1, rotation: cycle}
      - {name: x, count: 6, listener: main, unit: 11, meter_listener: main, meter_unit: 21}
`, n)
	scfg, err := sim.ParseConfig([]byte(simYAML))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := sim.New(scfg, sim.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })

	var b strings.Builder
	fmt.Fprintf(&b, `site: bench
gateway: gw-bench
buses:
  - id: main
    tcp: %s
    timeout: 500ms
    devices:
      - {id: grid, driver: sdm630, unit: 1, poll: 1s}
      - {id: di, driver: diinput, unit: 2, poll: 100ms}
      - {id: x1, driver: phoenix, unit: 11, poll: 1s}
      - {id: x2, driver: phoenix, unit: 12, poll: 1s}
      - {id: x3, driver: phoenix, unit: 13, poll: 1s}
      - {id: x4, driver: phoenix, unit: 14, poll: 1s}
      - {id: x5, driver: phoenix, unit: 15, poll: 1s}
      - {id: x6, driver: phoenix, unit: 16, poll: 1s}
  - id: ctl
    tcp: %s
    timeout: 500ms
    devices:
`, s.ModbusAddr(sim.MainListener), s.ModbusAddr("ctl"))
	width := len(fmt.Sprint(n))
	name := func(i int) string { return fmt.Sprintf("p%0*d", width, i) }
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - {id: %s, driver: phoenix, unit: %d, poll: 1s}\n", name(i), i)
	}
	fmt.Fprintf(&b, "  - id: meters\n    tcp: %s\n    timeout: 500ms\n    devices:\n", s.ModbusAddr("meters"))
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - {id: %s.meter, driver: eichrecht, unit: %d, poll: 1s}\n", name(i), i)
	}
	fmt.Fprintf(&b, `grid:
  limit_a: %d
  meter: grid
  safe_budget_a: 100
  distributions:
    - id: ud1
      limit_a: %d
      circuits:
`, 10*n, 10*n)
	for c := 1; c <= (n+7)/8; c++ {
		fmt.Fprintf(&b, "        - {id: c%d, limit_a: 80}\n", c)
	}
	b.WriteString("charge_points:\n")
	rot := []string{"L1L2L3", "L2L3L1", "L3L1L2"}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {id: %s, circuit: c%d, controller: %s, meter: %s.meter, rotation: %s, max_a: 32}\n",
			name(i), (i-1)/8+1, name(i), name(i), rot[(i-1)%3])
	}
	b.WriteString("safety:\n  fire_loop: {device: di, input: 0}\n  supervision: {device: di, input: 1}\n")
	cfg, err := config.LoadBytes("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DataDir = tb.TempDir()
	cfg.Safety.StateFile = filepath.Join(cfg.DataDir, "safety.json")
	return s, cfg
}

// BenchmarkFireAlarm200 measures, over Modbus TCP against the simulator,
// the time from the fire loop opening (as the simulator records it) to the
// last of 200 chargers at 0 A and disabled (its last write, as the
// simulator records it), with six controllers that never answer on the DI
// module's bus. Each iteration is one trial: open the loop at a random
// phase of the DI poll, wait for the cut, close the loop, reset the latch.
// Run it with
//
//	go test -run '^$' -bench FireAlarm200 -benchtime 300x ./edge
func BenchmarkFireAlarm200(b *testing.B) {
	const n = 200
	s, cfg := benchSite(b, n)
	events := make(chan safety.Event, 4096)
	d, err := New(cfg, Options{
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSafetyEvent: func(e safety.Event) { send(events, e) },
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Let the edge come up: every charger read and given its first setpoint.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := d.Control().Status()
		known := 0
		for _, p := range st.Points {
			if p.SetpointKnown {
				known++
			}
		}
		if known == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("edge not up after 30 s: %d of %d setpoints written", known, n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Six controllers that never answer share the DI module's bus: the
	// module's requests go first and interrupt theirs.
	for i := 1; i <= 6; i++ {
		if err := s.InjectFault(sim.Fault{Device: fmt.Sprintf("x%d", i), Kind: sim.FaultOffline}); err != nil {
			b.Fatal(err)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	var toCut, toTrip []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond) // random phase against the 100 ms DI poll
		drain(events)
		b.StartTimer()
		if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultFireLoopOpen}); err != nil {
			b.Fatal(err)
		}
		var trip time.Time
	wait:
		for {
			select {
			case e := <-events:
				switch e.Kind {
				case safety.EventTrip:
					trip = e.At
				case safety.EventCutDone:
					if trip.IsZero() || !strings.HasPrefix(e.Detail, "latch: ") {
						continue // a retry's or a single re-cut's, not this trip's
					}
					break wait
				case safety.EventCutFailed:
					b.Fatalf("trial %d: %s: %s", i, e.Point, e.Detail)
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("trial %d: no cut within 10 s", i)
			}
		}
		b.StopTimer()
		st := s.State()
		if st.FireLoopOpenedAt == nil {
			b.Fatal("simulator did not record the loop opening")
		}
		opened := st.FireLoopOpenedAt.Wall
		var lastOff time.Time
		for _, p := range st.Points {
			if strings.HasPrefix(p.Name, "x") {
				continue // the dead units, no charge points of the site
			}
			// Both paths of the cut reach a Phoenix controller as coil 400
			// = 0 (its map has no 0 A setting): the last of them is the
			// moment the charger is at 0 A and disabled.
			if p.LastEnable == nil || p.LastEnable.Value != 0 || p.LastEnable.Wall.Before(opened) || p.Enabled || p.OfferedA != 0 {
				b.Fatalf("trial %d: %s not cut after the opening: %+v", i, p.Name, p.LastEnable)
			}
			lastOff = maxTime(lastOff, p.LastEnable.Wall)
		}
		toCut = append(toCut, lastOff.Sub(opened))
		toTrip = append(toTrip, trip.Sub(opened))

		if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultClear}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for d.Safety().Reset("bench", fmt.Sprintf("trial %d", i), time.Now()) != nil {
			if time.Now().After(deadline) {
				b.Fatalf("trial %d: reset not accepted within 10 s", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	b.StopTimer()
	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		p50, p99, mx := ds[len(ds)*50/100], ds[min(len(ds)-1, len(ds)*99/100)], ds[len(ds)-1]
		b.ReportMetric(float64(p50.Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, name+"-p99-ms")
		b.ReportMetric(float64(mx.Microseconds())/1000, name+"-max-ms")
		b.Logf("%-26s trials %d  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms", name, len(ds),
			float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000, float64(mx.Microseconds())/1000)
	}
	report("detect", toTrip)
	report("cut", toCut)
}

func drain[T any](c chan T) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// BenchmarkEdgeResources500 runs the real binary (`parkgrid edge`) against
// the simulated large car park (deploy/sim-large.yaml, in this process, on
// free ports) with deploy/site-large.yaml: 500 charge points, 1 s control
// loop, 1 s meter and controller polls, 100 ms DI polls. After a 10 s
// warm-up it samples the edge process's RSS and CPU time for
// PARKGRID_BENCH_SECONDS (default 60) and reports them.
//
//	go test -run '^$' -bench EdgeResources500 -benchtime 1x ./cmd/parkgrid
func BenchmarkEdgeResources500(b *testing.B) {
	root := svctest.RepoRoot(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "parkgrid")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/parkgrid")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	scfg, err := sim.LoadConfig(filepath.Join(root, "deploy", "sim-large.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	configured := map[string]string{sim.MainListener: scfg.Listen}
	scfg.Listen, scfg.API = "127.0.0.1:0", "off"
	for name, addr := range scfg.Listeners {
		configured[name] = addr
		scfg.Listeners[name] = "127.0.0.1:0"
	}
	s, err := sim.New(scfg, sim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	site, err := os.ReadFile(filepath.Join(root, "deploy", "site-large.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(site)
	for name, addr := range configured {
		text = strings.ReplaceAll(text, "tcp: "+addr+"\n", "tcp: "+s.ModbusAddr(name)+"\n")
	}
	text = strings.ReplaceAll(text, "listen: 127.0.0.1:8090", "listen: 127.0.0.1:0") // the EMS REST API on a free port
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	secs := 60
	if v, err := strconv.Atoi(os.Getenv("PARKGRID_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	for i := 0; i < b.N; i++ {
		var stderr strings.Builder
		cmd := exec.Command(bin, "edge", "--config", path)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		pid := cmd.Process.Pid
		time.Sleep(10 * time.Second) // warm-up: first reads, first setpoints
		cpu0, at0 := cpuTime(b, pid), time.Now()
		var rssMax, rssSum int64
		samples := 0
		for range secs {
			time.Sleep(time.Second)
			rss := rssKB(b, pid)
			rssMax = max(rssMax, rss)
			rssSum += rss
			samples++
		}
		cpu := cpuTime(b, pid) - cpu0
		wall := time.Since(at0)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		st := s.State()
		enabledWithSetpoint := 0
		for _, p := range st.Points {
			if p.Enabled && p.SetpointA >= 6 {
				enabledWithSetpoint++
			}
		}
		warns := strings.Count(stderr.String(), "level=WARN") + strings.Count(stderr.String(), "level=ERROR")
		b.ReportMetric(float64(rssMax)/1024, "rss-max-MB")
		b.ReportMetric(float64(rssSum)/float64(samples)/1024, "rss-avg-MB")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%-of-one-core")
		b.Logf("edge at 500 points for %s: RSS max %.1f MB avg %.1f MB, CPU %.1f %% of one core; %d points charging; %d warnings/errors logged",
			wall.Round(time.Second), float64(rssMax)/1024, float64(rssSum)/float64(samples)/1024, 100*cpu.Seconds()/wall.Seconds(), enabledWithSetpoint, warns)
		if warns > 0 {
			lines := strings.Split(stderr.String(), "\n")
			b.Logf("first log lines:\n%s", strings.Join(lines[:min(len(lines), 10)], "\n"))
		}
	}
}

// rssKB reads VmRSS of a process from /proc.
func rssKB(tb testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// cpuTime reads user+system CPU time of a process from /proc (clock ticks
// of 10 ms, the Linux default USER_HZ).
func cpuTime(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 overall
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * 10 * time.Millisecond
}
