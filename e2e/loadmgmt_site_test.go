package e2e

// Load management end to end (issue 14, "Benchmarks"): the simulator and the
// edge daemon (in this process, on loopback Modbus TCP) run a large car park
// with high occupancy, scarcity rotation and an unbalance limit at the grid
// connection. Every second the simulator's drawn currents are sampled and
// checked against every node's phase limit and the grid's unbalance limit;
// the control step's duration (writes included) and the process's memory are
// recorded. docs/benchmarks-loadmgmt.md has the figures.
//
//	go test -count=1 -run TestLoadmgmtSite200 -v ./e2e/                        # 200 points, 30 s (make test)
//	go test -run '^$' -bench LoadmgmtSite1000 -benchtime 1x -timeout 20m ./e2e/  # 1,000 points, 5 min
//
// The benchmark then runs the same site with the edge binary (`parkgrid
// edge`) as a process of its own, for its memory. PARKGRID_E2E_LM_SECONDS
// overrides the measured time of either, PARKGRID_E2E_LM_RSS_SECONDS the
// binary's (default 60 s); PARKGRID_E2E_LM_DEBUG logs what the edge
// believed at every sample that broke a limit.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
)

// lmSite is a generated car park: n points in circuits of 8 (100 A) below
// four distributions, the grid connection with an unbalance limit.
type lmSite struct {
	n            int
	gridA        int // per phase, the grid fuse
	distA        int
	circuitA     int
	unbalanceA   int
	perListener  int
	listeners    int
	pointsPerDis int
}

func newLMSite(n int) lmSite {
	s := lmSite{n: n, circuitA: 100, unbalanceA: 20, perListener: 200}
	s.listeners = (n + s.perListener - 1) / s.perListener
	s.pointsPerDis = (n + 3) / 4
	// 89 % occupancy; 70 % three-phase cars; at 6 A each the cars want
	// about 4.3 A per point and phase: a connection of 3 A per point and
	// phase is scarce (cars take turns), and well above the base load.
	s.gridA = 3*n + 100
	s.distA = s.gridA / 3
	return s
}

func (s lmSite) name(i int) string { return fmt.Sprintf("p%0*d", len(fmt.Sprint(s.n)), i) } // 1-based
func (s lmSite) circuit(i int) int { return (i-1)/8 + 1 }                                   // 1-based

// dist is the distribution point i hangs below (through its circuit).
func (s lmSite) dist(i int) int { return s.circuitDist(s.circuit(i)) }

// circuitDist is the distribution circuit c hangs below: where its first
// point falls in the points' quarters.
func (s lmSite) circuitDist(c int) int { return ((c-1)*8)/s.pointsPerDis + 1 }

var lmRotations = []string{"L1L2L3", "L2L3L1", "L3L1L2"} // the simulator's "cycle"

// simYAML is the simulator's config: every point's car arrives 32 A
// capable (the edge does not learn a car's own maximum, see the doc).
func (s lmSite) simYAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nlisteners:\n")
	for l := 1; l <= s.listeners; l++ {
		fmt.Fprintf(&b, "  c%d: 127.0.0.1:0\n  m%d: 127.0.0.1:0\n", l, l)
	}
	b.WriteString(`api: "off"
seed: 1
grid: {unit: 1, base_load_w: [20000, 18000, 22000]}
di: {unit: 2}
cars: {arrivals_per_hour: 0.3, mean_stay: 4h, min_stay: 15m, connected_at_start: 0.89, three_phase_share: 0.7, share_32a: 1}
chargers: {enabled: false, max_current_a: 16}
sub_distributions:
  - name: ud1
    points:
`)
	var ls, ms []string
	for l := 1; l <= s.listeners; l++ {
		ls, ms = append(ls, fmt.Sprintf("c%d", l)), append(ms, fmt.Sprintf("m%d", l))
	}
	fmt.Fprintf(&b, "      - {name: p, count: %d, listeners: [%s], meter_listeners: [%s], per_listener: %d, unit: 1, meter_unit: 1, rotation: cycle, max_a: 32}\n",
		s.n, strings.Join(ls, ", "), strings.Join(ms, ", "), s.perListener)
	return b.String()
}

// siteYAML is the edge's site file for the simulator sm.
func (s lmSite) siteYAML(sm *sim.Sim) string {
	var b strings.Builder
	fmt.Fprintf(&b, `site: lm
gateway: gw-lm
buses:
  - id: main
    tcp: %s
    timeout: 500ms
    devices:
      - {id: grid, driver: sdm630, unit: 1, poll: 1s}
      - {id: di, driver: diinput, unit: 2, poll: 100ms}
`, sm.ModbusAddr(sim.MainListener))
	for l := 1; l <= s.listeners; l++ {
		fmt.Fprintf(&b, "  - id: c%d\n    tcp: %s\n    timeout: 500ms\n    devices:\n", l, sm.ModbusAddr(fmt.Sprintf("c%d", l)))
		for i := (l-1)*s.perListener + 1; i <= min(s.n, l*s.perListener); i++ {
			fmt.Fprintf(&b, "      - {id: %s, driver: phoenix, unit: %d, poll: 1s}\n", s.name(i), i-(l-1)*s.perListener)
		}
		fmt.Fprintf(&b, "  - id: m%d\n    tcp: %s\n    timeout: 500ms\n    devices:\n", l, sm.ModbusAddr(fmt.Sprintf("m%d", l)))
		for i := (l-1)*s.perListener + 1; i <= min(s.n, l*s.perListener); i++ {
			fmt.Fprintf(&b, "      - {id: %s.meter, driver: eichrecht, unit: %d, poll: 1s}\n", s.name(i), i-(l-1)*s.perListener)
		}
	}
	fmt.Fprintf(&b, "grid:\n  limit_a: %d\n  unbalance_a: %d\n  meter: grid\n  safe_budget_a: %d\n  meter_margin_a: 1\n  distributions:\n",
		s.gridA, s.unbalanceA, s.gridA/2)
	nc := s.circuit(s.n)
	for d := 1; d <= s.dist(s.n); d++ {
		fmt.Fprintf(&b, "    - id: ud%d\n      limit_a: %d\n      circuits:\n", d, s.distA)
		for c := 1; c <= nc; c++ {
			if s.circuitDist(c) == d {
				fmt.Fprintf(&b, "        - {id: c%d, limit_a: %d}\n", c, s.circuitA)
			}
		}
	}
	b.WriteString("charge_points:\n")
	for i := 1; i <= s.n; i++ {
		fmt.Fprintf(&b, "  - {id: %s, circuit: c%d, controller: %s, meter: %s.meter, rotation: %s, max_a: 32}\n",
			s.name(i), s.circuit(i), s.name(i), s.name(i), lmRotations[(i-1)%3])
	}
	// Cars take turns every 30 s (minimum on and off time), so that a short
	// run sees many handovers.
	b.WriteString("control: {min_on: 30s, min_off: 30s}\n")
	// The DI module is read every 100 ms; on this shared 2-core machine
	// other users' builds starve the process for seconds at times, which
	// delays the reads past the default 800 ms and latches a cut of the
	// whole site: not what is measured here.
	b.WriteString("safety:\n  fire_loop: {device: di, input: 0}\n  supervision: {device: di, input: 1}\n  offline_after: 30s\n")
	return b.String()
}

// lmRun is what one run measured.
type lmRun struct {
	samples     int
	violations  []string // at most a few, with their time
	nViolations int
	maxUnbA     float64 // EV unbalance at the grid, after the warm-up, no car new
	maxNewUnbA  float64 // the same in samples with a new single-phase car
	newSamples  int     // samples with a new single-phase car
	warmUnbA    float64 // the same during the warm-up
	maxGridA    float64 // grid phase current (base load included)
	maxOverA    float64 // most any limit was exceeded by (0: never)
	charging    []int   // points drawing current, per sample
	steps       []time.Duration
	rssMaxKB    int64 // the process (simulator, edge and test) during the run
	rssBaseKB   int64 // the process before the edge started (simulator and test)
	heapMaxMB   float64
	rotations   int  // starts of a car that had been paused during the run
	process     bool // the edge ran as a process of its own
	stepsOver1s int
}

// runLMSite runs the site for warm-up + measure of wall time and checks the
// drawn currents every second. The edge runs in this process (its step
// durations and status are seen), or with binary set as that program
// (`parkgrid edge`) in a process of its own, whose memory is measured; its
// status is not seen then, so the unbalance is reported, not checked (the
// edge's status says which cars' phases it does not know yet).
func runLMSite(tb testing.TB, n int, warmUp, measure time.Duration, binary string) lmRun {
	tb.Helper()
	site := newLMSite(n)
	scfg, err := sim.ParseConfig([]byte(site.simYAML()))
	if err != nil {
		tb.Fatal(err)
	}
	sm, err := sim.New(scfg, sim.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := sm.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	defer sm.Close()
	cfg, err := config.LoadBytes("lm.yaml", []byte(site.siteYAML(sm)))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	cfg.DataDir = dir
	cfg.Safety.StateFile = filepath.Join(dir, "safety.json")

	logFile, err := os.Create(filepath.Join(dir, "edge.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer logFile.Close()
	defer func() {
		if tb.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			tb.Logf("edge log (warnings and errors), %d lines, the first 20:\n%s", len(lines), strings.Join(lines[:min(20, len(lines))], "\n"))
		}
	}()
	var run lmRun
	runtime.GC()
	run.rssBaseKB = pidRSSKB(tb, "self")

	var mu sync.Mutex
	measuring := false
	status := func() control.Status { return control.Status{} }
	pid := "self"
	if binary == "" {
		d, err := edge.New(cfg, edge.Options{
			Logger: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn})),
			OnStep: func(_ time.Time, took time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				if measuring {
					run.steps = append(run.steps, took)
				}
			},
		})
		if err != nil {
			tb.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		defer func() { cancel(); <-done }()
		status = d.Control().Status
	} else {
		text := strings.Replace(site.siteYAML(sm), "gateway: gw-lm\n", "gateway: gw-lm\ndata_dir: "+dir+"\n", 1)
		path := filepath.Join(dir, "site.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(binary, "edge", "--config", path)
		cmd.Stderr = logFile
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
		pid = strconv.Itoa(cmd.Process.Pid)
		run.rssBaseKB = 0
	}
	run.process = binary != ""

	// Node membership of every point, for the sums per node.
	type pt struct{ circuit, dist int }
	pts := map[string]pt{}
	for i := 1; i <= n; i++ {
		pts[site.name(i)] = pt{site.circuit(i), site.dist(i)}
	}
	gridPhase := func(rot string, cp int) int {
		for k, r := range lmRotations {
			if r == rot {
				return (cp + k) % 3
			}
		}
		tb.Fatalf("rotation %q", rot)
		return 0
	}
	const eps = 0.0005 // the simulator reports amperes to 1 mA
	over := func(at time.Duration, what string, gotA, limitA float64) {
		if gotA <= limitA+eps {
			return
		}
		run.nViolations++
		run.maxOverA = max(run.maxOverA, gotA-limitA)
		if len(run.violations) < 10 {
			run.violations = append(run.violations, fmt.Sprintf("t+%s: %s %.3f A > %.0f A", at.Round(time.Second), what, gotA, limitA))
		}
	}
	wasPaused := map[string]bool{}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var ms runtime.MemStats
	for now := range tick.C {
		at := now.Sub(start)
		if at > warmUp+measure {
			break
		}
		warm := at <= warmUp
		if !warm {
			mu.Lock()
			measuring = true
			mu.Unlock()
		}
		est := status() // before the sample: its last step is the one sampled
		edgePhases := make(map[string]int, len(est.Points))
		for _, p := range est.Points {
			edgePhases[p.ID] = p.CarPhases
		}
		st := sm.State()
		circuits := make([][3]float64, site.circuit(n)+1)
		dists := make([][3]float64, site.dist(n)+1)
		var ev [3]float64
		charging := 0
		newOnePhaseA := 0.0
		for _, p := range st.Points {
			m, ok := pts[p.Name]
			if !ok {
				continue
			}
			drawing := false
			if p.Car != nil && p.Car.Phases == 1 && edgePhases[p.Name] == 0 {
				// A single-phase car the edge has not seen drawing yet: planned
				// on three phases, it draws on one.
				newOnePhaseA += max(p.CurrentA[0], p.CurrentA[1], p.CurrentA[2])
			}
			for cp, a := range p.CurrentA {
				if a == 0 {
					continue
				}
				drawing = true
				gp := gridPhase(p.Rotation, cp)
				circuits[m.circuit][gp] += a
				dists[m.dist][gp] += a
				ev[gp] += a
			}
			if drawing {
				charging++
				if wasPaused[p.Name] && !warm {
					run.rotations++
				}
				wasPaused[p.Name] = false
			} else if p.Car != nil {
				wasPaused[p.Name] = true
			}
		}
		for c := 1; c < len(circuits); c++ {
			for ph := range 3 {
				over(at, fmt.Sprintf("circuit c%d L%d", c, ph+1), circuits[c][ph], float64(site.circuitA))
			}
		}
		for dd := 1; dd < len(dists); dd++ {
			for ph := range 3 {
				over(at, fmt.Sprintf("distribution ud%d L%d", dd, ph+1), dists[dd][ph], float64(site.distA))
			}
		}
		for ph := range 3 {
			over(at, fmt.Sprintf("grid L%d (base load included)", ph+1), st.Grid.CurrentA[ph], float64(site.gridA))
			run.maxGridA = max(run.maxGridA, st.Grid.CurrentA[ph])
		}
		unb := max(ev[0], ev[1], ev[2]) - min(ev[0], ev[1], ev[2])
		if warm {
			run.warmUnbA = max(run.warmUnbA, unb)
		} else {
			// A car's phases are known to the edge once its meter has shown
			// it drawing: until then a single-phase car is planned on all
			// three, and draws its current on one phase only. That much
			// more unbalance is allowed while the edge does not know the
			// car (it says so in its status: CarPhases 0).
			if (charging == 0 || unb > float64(site.unbalanceA)+eps) && binary == "" && os.Getenv("PARKGRID_E2E_LM_DEBUG") != "" {
				lmDebug(tb, at, est, st, ev, gridPhase)
			}
			if newOnePhaseA > 0 {
				run.newSamples++
				run.maxNewUnbA = max(run.maxNewUnbA, unb)
			} else {
				run.maxUnbA = max(run.maxUnbA, unb)
			}
			if binary == "" {
				over(at, fmt.Sprintf("grid unbalance of the chargers' current (L1 %.0f, L2 %.0f, L3 %.0f A; %.0f A of single-phase cars whose phases the edge does not know yet)",
					ev[0], ev[1], ev[2], newOnePhaseA), unb, float64(site.unbalanceA)+newOnePhaseA)
			}
			run.charging = append(run.charging, charging)
			run.samples++
			run.rssMaxKB = max(run.rssMaxKB, pidRSSKB(tb, pid))
			runtime.ReadMemStats(&ms)
			run.heapMaxMB = max(run.heapMaxMB, float64(ms.HeapInuse)/(1<<20))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range run.steps {
		if s > time.Second {
			run.stepsOver1s++
		}
	}
	return run
}

// report logs a run and fails on a limit broken.
func (r lmRun) report(tb testing.TB, n int) {
	tb.Helper()
	steps := slices.Clone(r.steps)
	slices.Sort(steps)
	q := func(p int) time.Duration {
		if len(steps) == 0 {
			return 0
		}
		return steps[min(len(steps)-1, len(steps)*p/100)]
	}
	ch := slices.Clone(r.charging)
	slices.Sort(ch)
	minC, maxC := 0, 0
	if len(ch) > 0 {
		minC, maxC = ch[0], ch[len(ch)-1]
	}
	where := "edge in this process"
	if r.process {
		where = "edge as a process of its own (parkgrid edge)"
	}
	tb.Logf("%d points, %s: %d one-second samples; charging %d..%d points; %d paused cars started again (rotation)", n, where, r.samples, minC, maxC, r.rotations)
	if r.process {
		tb.Logf("grid: highest phase current %.3f A (fuse %d A); chargers' unbalance at most %.3f A (limit 20 A; not checked: the edge's status is not seen); %.3f A during the warm-up",
			r.maxGridA, newLMSite(n).gridA, max(r.maxUnbA, r.maxNewUnbA), r.warmUnbA)
		tb.Logf("memory: the edge process's RSS max %.1f MB", float64(r.rssMaxKB)/1024)
	} else {
		tb.Logf("control step (writes included), %d steps: p50 %s, p99 %s, max %s; %d steps over 1 s", len(steps), q(50), q(99), q(100), r.stepsOver1s)
		tb.Logf("grid: highest phase current %.3f A (fuse %d A); chargers' unbalance at most %.3f A (limit 20 A); %.3f A in the %d samples with a single-phase car of phases unknown to the edge drawing; %.3f A during the warm-up",
			r.maxGridA, newLMSite(n).gridA, r.maxUnbA, r.maxNewUnbA, r.newSamples, r.warmUnbA)
		tb.Logf("memory: process RSS max %.1f MB (%.1f MB before the edge started: simulator and test), Go heap in use max %.1f MB", float64(r.rssMaxKB)/1024, float64(r.rssBaseKB)/1024, r.heapMaxMB)
	}
	if b, ok := tb.(*testing.B); ok && r.process {
		b.ReportMetric(float64(r.rssMaxKB)/1024, "edge-rss-max-MB")
	} else if ok {
		b.ReportMetric(float64(q(50).Microseconds())/1000, "step-p50-ms")
		b.ReportMetric(float64(q(99).Microseconds())/1000, "step-p99-ms")
		b.ReportMetric(float64(q(100).Microseconds())/1000, "step-max-ms")
		b.ReportMetric(float64(r.rssMaxKB)/1024, "process-rss-max-MB")
		b.ReportMetric(r.maxUnbA, "unbalance-max-A")
		b.ReportMetric(float64(r.nViolations), "violations")
	}
	if r.samples == 0 || (len(steps) == 0 && !r.process) {
		tb.Fatal("nothing measured")
	}
	if minC == 0 {
		tb.Errorf("a sample with no car charging: the edge did not serve the site")
	}
	if r.nViolations > 0 {
		tb.Errorf("%d limit violations in the simulator's drawn currents (worst by %.3f A), first: %s", r.nViolations, r.maxOverA, strings.Join(r.violations, "; "))
	}
}

// lmDebug logs what the edge believed at a sample that broke a limit or had
// no car charging (PARKGRID_E2E_LM_DEBUG set): the offered current by the
// cars' real phases and by the phases the edge knows, the plan, and the
// points' reasons.
func lmDebug(tb testing.TB, at time.Duration, est control.Status, st sim.State, ev [3]float64, gridPhase func(string, int) int) {
	reasons := map[string]int{}
	var setp, drawnEdge [3]int64
	for _, p := range est.Points {
		reasons[p.Reason]++
		for ph := range 3 {
			drawnEdge[ph] += p.CurrentMA[ph]
		}
	}
	// The simulator's setpoints per grid phase, by the cars' real phases
	// and by the phases the edge knows.
	phasesOf := map[string]int{}
	for _, p := range est.Points {
		phasesOf[p.ID] = p.CarPhases
	}
	var believed [3]int64
	wrong, unknown := 0, 0
	for _, p := range st.Points {
		if p.Car == nil || !p.Enabled {
			continue
		}
		for cp := range p.Car.Phases {
			setp[gridPhase(p.Rotation, cp)] += int64(p.OfferedA)
		}
		bp := phasesOf[p.Name]
		switch {
		case bp == 0:
			unknown++
			if unknown <= 3 {
				tb.Logf("unknown: %s phases %d offered %d drawing %v", p.Name, p.Car.Phases, p.OfferedA, p.CurrentA)
			}
			bp = 3
		case bp != p.Car.Phases:
			wrong++
		}
		for cp := range bp {
			believed[gridPhase(p.Rotation, cp)] += int64(p.OfferedA)
		}
	}
	var plan [3]int64
	if len(est.Limits) > 0 {
		plan = est.Limits[0].Load // the grid connection's
	}
	tb.Logf("offered by the phases the edge knows %v; %d cars of unknown phases offered current, %d known wrong", believed, unknown, wrong)
	tb.Logf("t+%s: drawn %v; offered by the cars' phases %v; edge's plan at the grid %v, its meters %v (step %s ago); reasons %v",
		at.Round(time.Millisecond), ev, setp, plan, drawnEdge, st.Wall.Sub(est.At).Round(time.Millisecond), reasons)
}

func lmSeconds(def int) time.Duration {
	if v, err := strconv.Atoi(os.Getenv("PARKGRID_E2E_LM_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return time.Duration(def) * time.Second
}

// TestLoadmgmtSite200: 200 points, 30 s measured after a 20 s warm-up; no
// node, phase or unbalance limit is broken by what the cars draw.
func TestLoadmgmtSite200(t *testing.T) {
	const n = 200
	r := runLMSite(t, n, 20*time.Second, lmSeconds(30), "")
	r.report(t, n)
}

// BenchmarkLoadmgmtSite1000: 1,000 points (about 890 cars), 5 minutes
// measured after a 1 minute warm-up with the edge in this process (the
// drawn currents, the step's duration); then the same with the edge
// binary as a process of its own for PARKGRID_E2E_LM_RSS_SECONDS (default
// 60) after a 1 minute warm-up (the drawn currents, the edge's RSS).
func BenchmarkLoadmgmtSite1000(b *testing.B) {
	const n = 1000
	for range b.N {
		r := runLMSite(b, n, time.Minute, lmSeconds(300), "")
		r.report(b, n)
		secs := 60
		if v, err := strconv.Atoi(os.Getenv("PARKGRID_E2E_LM_RSS_SECONDS")); err == nil && v > 0 {
			secs = v
		}
		p := runLMSite(b, n, time.Minute, time.Duration(secs)*time.Second, parkgridBinary(b))
		p.report(b, n)
	}
}

// pidRSSKB is a process's resident set (VmRSS), kB; pid "self" is this
// one.
func pidRSSKB(tb testing.TB, pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
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
