package modbus

import (
	"context"
	"slices"
	"testing"
	"time"

	gridx "github.com/grid-x/modbus"

	"github.com/parkgrid/parkgrid/drivers/modbus/modbustest"
)

// The benchmarks read 80 input registers (an SDM630's main block) from an
// in-process simonvetter server over loopback, one request at a time:
// through the Bus (the line lock, PDU checks, stats; the request runs on
// the caller's goroutine) and with a bare grid-x client, so the ratio is the
// Bus's cost.
// Each reports reads/s and the p50/p99 latency seen by the caller.
//
//	go test -run '^$' -bench 80 -benchtime 5s -count 3 ./drivers/modbus/

func benchServer(b *testing.B) string {
	m := modbustest.NewMemory()
	regs := make([]uint16, 80)
	for i := range regs {
		regs[i] = uint16(i)
	}
	m.Set(1, modbustest.InputRegisters, 0, regs...)
	return modbustest.NewServer(b, m).Addr
}

// latencies records per-read durations and reports reads/s, p50 and p99.
type latencies struct {
	d     []time.Duration
	start time.Time
}

func newLatencies(n int) *latencies {
	return &latencies{d: make([]time.Duration, 0, n), start: time.Now()}
}

func (l *latencies) report(b *testing.B) {
	total := time.Since(l.start)
	slices.Sort(l.d)
	q := func(p float64) float64 {
		return float64(l.d[int(p*float64(len(l.d)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(float64(len(l.d))/total.Seconds(), "reads/s")
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(l.d[len(l.d)-1])/float64(time.Millisecond), "max-ms")
}

func busReader(b *testing.B, addr string) (func() error, func()) {
	// The timeout equals grid-x's default (10 s) so that both sides live
	// through the same scheduling stalls of a loaded machine.
	bus := NewTCP(addr, Options{Name: "bench", Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	read := func() error {
		_, err := bus.ReadInputRegisters(context.Background(), 1, 0, 80)
		return err
	}
	return read, func() { cancel(); <-done }
}

func bareReader(b *testing.B, addr string) (func() error, func()) {
	h := gridx.NewTCPClientHandler(addr)
	h.SlaveID = 1
	if err := h.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	c := gridx.NewClient(h)
	read := func() error {
		_, err := c.ReadInputRegisters(context.Background(), 0, 80)
		return err
	}
	return read, func() { _ = h.Close() }
}

func benchRead(b *testing.B, mk func(*testing.B, string) (func() error, func())) {
	read, stop := mk(b, benchServer(b))
	defer stop()
	if err := read(); err != nil { // connect outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	l := newLatencies(b.N)
	for b.Loop() {
		t0 := time.Now()
		if err := read(); err != nil {
			b.Fatal(err)
		}
		l.d = append(l.d, time.Since(t0))
	}
	b.StopTimer()
	l.report(b)
}

func BenchmarkBusRead80(b *testing.B)   { benchRead(b, busReader) }
func BenchmarkBareGridX80(b *testing.B) { benchRead(b, bareReader) }

// BenchmarkBusOverBare80 alternates blocks of bare and Bus reads against one
// server in the same run and reports the Bus's throughput as a fraction of
// bare grid-x ("bus/bare"; 1.0 = no cost).
func BenchmarkBusOverBare80(b *testing.B) {
	addr := benchServer(b)
	bus, stopBus := busReader(b, addr)
	defer stopBus()
	bare, stopBare := bareReader(b, addr)
	defer stopBare()
	if err := bus(); err != nil {
		b.Fatal(err)
	}
	const block = 200
	var tBus, tBare time.Duration
	var n int
	b.ResetTimer()
	for b.Loop() {
		for _, side := range []struct {
			read func() error
			t    *time.Duration
		}{{bare, &tBare}, {bus, &tBus}} {
			t0 := time.Now()
			for range block {
				if err := side.read(); err != nil {
					b.Fatal(err)
				}
			}
			*side.t += time.Since(t0)
		}
		n += block
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/tBus.Seconds(), "bus-reads/s")
	b.ReportMetric(float64(n)/tBare.Seconds(), "bare-reads/s")
	b.ReportMetric(tBare.Seconds()/tBus.Seconds(), "bus/bare")
}

// BenchmarkLine is the Bus's own cost per request without I/O: taking and
// handing on the line, uncontended, as every request does.
func BenchmarkLine(b *testing.B) {
	bus := newBus("bench", nil, Options{PreemptAfter: -1})
	b.ReportAllocs()
	for b.Loop() {
		f := bus.line.acquire(context.Background(), false, bus)
		bus.line.release(f)
	}
}
