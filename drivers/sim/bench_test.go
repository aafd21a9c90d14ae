package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gridx "github.com/grid-x/modbus"
)

// The benchmarks' figures, command and machine are in
// docs/benchmarks-sim.md.

// withBenchMeters builds a real-time simulator whose main listener serves n
// SDM630 meters (units 1..n, reading the one sub-distribution's load) and
// starts it.
func withBenchMeters(b *testing.B, n int) *Sim {
	b.Helper()
	cfg, err := ParseConfig([]byte(`
listen: 127.0.0.1:0
listeners: {aux: 127.0.0.1:0}
api: "off"
seed: 5
grid: {listener: aux, unit: 1, base_load_w: [3000, 3000, 3000]}
cars: {connected_at_start: 0.8}
sub_distributions:
  - name: ud1
    meter: {listener: aux, unit: 2}
    points: [{name: p, count: 20, listener: aux, unit: 11, meter_unit: 41, rotation: cycle}]
`))
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	tab := new([256]device)
	s.tables[MainListener] = tab
	for u := 1; u <= n; u++ {
		m := &sdmMeter{sub: s.subs[0]}
		*m.base() = devBase{name: fmt.Sprintf("m%03d", u), kind: KindSDM630, listener: MainListener, unit: uint8(u)}
		tab[u] = m
		s.devices = append(s.devices, m)
		s.byName[m.name] = m
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// quantileUS returns the q-quantile of d in µs (d is sorted in place).
func quantileUS(d []time.Duration, q float64) float64 {
	slices.Sort(d)
	return float64(d[int(q*float64(len(d)-1))]) / float64(time.Microsecond)
}

// BenchmarkPoll200SDM630 polls 200 SDM630 meters (80 input registers each)
// on one simulator port, one request at a time, alternating rounds through
// the drivers/modbus Bus and through a bare grid-x client, so both see the
// same simulator in the same run. One iteration is one round of each.
func BenchmarkPoll200SDM630(b *testing.B) {
	const meters = 200
	s := withBenchMeters(b, meters)
	addr := s.ModbusAddr(MainListener)
	ctx := context.Background()

	bus := startBus(b, addr, time.Second)
	h := gridx.NewTCPClientHandler(addr)
	h.Timeout = time.Second
	if err := h.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	raw := gridx.NewClient(h)

	busRead := func(u uint8) error {
		_, err := bus.ReadInputRegisters(ctx, u, 0, 80)
		return err
	}
	rawRead := func(u uint8) error {
		h.SlaveID = u
		_, err := raw.ReadInputRegisters(ctx, 0, 80)
		return err
	}
	var busLat, rawLat []time.Duration
	var busTime, rawTime time.Duration
	round := func(read func(uint8) error, lat *[]time.Duration, total *time.Duration) {
		start := time.Now()
		for u := 1; u <= meters; u++ {
			t := time.Now()
			if err := read(uint8(u)); err != nil {
				b.Fatal(err)
			}
			*lat = append(*lat, time.Since(t))
		}
		*total += time.Since(start)
	}
	round(busRead, new([]time.Duration), new(time.Duration)) // warm up both connections
	round(rawRead, new([]time.Duration), new(time.Duration))
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			round(busRead, &busLat, &busTime)
			round(rawRead, &rawLat, &rawTime)
		} else {
			round(rawRead, &rawLat, &rawTime)
			round(busRead, &busLat, &busTime)
		}
	}
	b.StopTimer()
	busRate := float64(len(busLat)) / busTime.Seconds()
	rawRate := float64(len(rawLat)) / rawTime.Seconds()
	b.ReportMetric(busRate, "bus-reads/s")
	b.ReportMetric(rawRate, "gridx-reads/s")
	b.ReportMetric(busRate/rawRate, "ratio")
	b.ReportMetric(quantileUS(busLat, 0.5), "bus-p50-µs")
	b.ReportMetric(quantileUS(busLat, 0.99), "bus-p99-µs")
	b.ReportMetric(quantileUS(rawLat, 0.5), "gridx-p50-µs")
	b.ReportMetric(quantileUS(rawLat, 0.99), "gridx-p99-µs")
}

// capacitySite returns a config of n charge points in groups of 200, each
// group's controllers and meters on their own two ports.
func capacitySite(n int) string {
	var sb strings.Builder
	sb.WriteString("listen: 127.0.0.1:0\napi: \"off\"\nseed: 9\ngrid: {unit: 1, base_load_w: [5000, 5000, 5000]}\n")
	sb.WriteString("cars: {connected_at_start: 0.6, arrivals_per_hour: 0.3}\nlisteners:\n")
	groups := (n + 199) / 200
	for g := range groups {
		fmt.Fprintf(&sb, "  g%d-c: 127.0.0.1:0\n  g%d-m: 127.0.0.1:0\n", g, g)
	}
	sb.WriteString("sub_distributions:\n")
	for sub := range 8 {
		var lines []string
		for g := sub; g < groups; g += 8 {
			count := min(200, n-200*g)
			lines = append(lines, fmt.Sprintf("      - {name: g%d-, count: %d, listener: g%d-c, unit: 1, meter_listener: g%d-m, meter_unit: 1, rotation: cycle}", g, count, g, g))
		}
		if len(lines) == 0 {
			break
		}
		fmt.Fprintf(&sb, "  - name: ud%d\n    meter: {unit: %d}\n    points:\n%s\n", sub+1, sub+2, strings.Join(lines, "\n"))
	}
	return sb.String()
}

// BenchmarkCapacity ramps the number of devices one simulator serves, each
// polled once per second the way the edge polls them (controller: input
// 100..102; Eichrecht meter: holding 0..14), one connection per port with
// its requests spread evenly over the second, and reports the latency of
// one read. Client and simulator share the process (and the 2 cores).
//
//	go test -run '^$' -bench Capacity -benchtime 1x -timeout 30m ./drivers/sim/
func BenchmarkCapacity(b *testing.B) {
	for _, devices := range []int{1000, 2000, 4000, 8000, 12000, 16000, 24000, 32000, 40000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			for range b.N {
				capacityRun(b, devices/2, 5*time.Second)
			}
		})
	}
}

func capacityRun(b *testing.B, points int, window time.Duration) {
	cfg, err := ParseConfig([]byte(capacitySite(points)))
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	type port struct {
		addr  string
		units int
		meter bool
	}
	var ports []port
	for g := 0; g*200 < points; g++ {
		n := min(200, points-200*g)
		ports = append(ports, port{s.ModbusAddr(fmt.Sprintf("g%d-c", g)), n, false}, port{s.ModbusAddr(fmt.Sprintf("g%d-m", g)), n, true})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs, late int
	var wg sync.WaitGroup
	warm := time.Second
	var cpu0 syscall.Rusage
	cpuAt := func(ru *syscall.Rusage) time.Duration {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := time.Now().Add(100 * time.Millisecond)
	end := start.Add(warm + window)
	for i, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := gridx.NewTCPClientHandler(p.addr)
			h.Timeout = 2 * time.Second
			if err := h.Connect(ctx); err != nil {
				b.Error(err)
				return
			}
			defer h.Close()
			c := gridx.NewClient(h)
			step := time.Second / time.Duration(p.units)
			offset := time.Duration(i) * step / time.Duration(len(ports)) // spread the ports
			var mine []time.Duration
			var myErrs, myLate int
			for k := 0; ; k++ {
				due := start.Add(offset + time.Duration(k)*step)
				if due.After(end) {
					break
				}
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				} else if d < -step {
					myLate++
				}
				h.SlaveID = byte(1 + k%p.units)
				t := time.Now()
				var err error
				if p.meter {
					_, err = c.ReadHoldingRegisters(ctx, 0, 15)
				} else {
					_, err = c.ReadInputRegisters(ctx, 100, 3)
				}
				if due.Sub(start) < warm {
					continue
				}
				if err != nil {
					myErrs++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			late += myLate
			mu.Unlock()
		}()
	}
	wg.Add(1)
	go func() { // CPU over the measured window only
		defer wg.Done()
		time.Sleep(time.Until(start.Add(warm)))
		mu.Lock()
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
		mu.Unlock()
	}()
	wg.Wait()
	var cpu1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	mu.Lock()
	cpu := cpuAt(&cpu1) - cpuAt(&cpu0)
	mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no reads")
	}
	b.ReportMetric(float64(len(lat))/window.Seconds(), "reads/s")
	b.ReportMetric(quantileUS(lat, 0.5), "p50-µs")
	b.ReportMetric(quantileUS(lat, 0.99), "p99-µs")
	b.ReportMetric(quantileUS(lat, 0.999), "p999-µs")
	b.ReportMetric(float64(cpu)/float64(len(lat))/float64(time.Microsecond), "cpu-µs/read")
	b.ReportMetric(float64(errs), "errors")
	b.ReportMetric(float64(late), "late-starts")
}
