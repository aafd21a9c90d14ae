package uplink

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// BenchmarkDrain24hMochi drains a day's backlog end to end: outbox →
// uplink → in-process mochi broker → fake central (reading.Open: signature
// check and decode of every batch) → ack → outbox.Ack. Assumption as in
// outbox.BenchmarkDrain24h: 500 points × 1 reading / 10 s, one batch every
// 5 s: 17,280 batches of 250 readings (PARKGRID_DRAIN_BATCHES overrides the
// count). Everything shares the machine's cores. Figures:
// docs/benchmarks-outbox.md.
func BenchmarkDrain24hMochi(b *testing.B) {
	batches := 17280
	if s := os.Getenv("PARKGRID_DRAIN_BATCHES"); s != "" {
		batches, _ = strconv.Atoi(s)
	}
	for range b.N {
		b.StopTimer()
		br := startBroker(b)
		f := newFixture(b, fmt.Sprintf("drain-%d", time.Now().UnixNano()))
		t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
		var size int
		parallelAppend(b, f.box, batches, func(seq uint64) ([]byte, error) {
			rs := make([]reading.Reading, 250)
			for i := range rs {
				rs[i] = reading.Reading{Time: t0.Add(time.Duration(seq) * 5 * time.Second), Device: fmt.Sprintf("cp-%03d-meter", i), Point: fmt.Sprintf("cp-%03d", i), Quantity: reading.QEnergyWh, Value: int64(seq)*1000 + int64(i)}
			}
			msg, err := reading.Seal(reading.Batch{Site: f.site, Gateway: f.gw, Epoch: f.box.Epoch(), Seq: seq, Sent: t0, Readings: rs}, f.priv)
			size = len(msg)
			return msg, err
		})
		c := startCentral(b, br.url(), f.site, f.gw, f.pub)
		c.mu.Lock()
		c.t = b
		c.mu.Unlock()
		b.StartTimer()
		start := time.Now()
		stop := f.run(b, Config{Broker: br.url(), AckTimeout: 30 * time.Second})
		waitAcked(b, f.box, uint64(batches), 10*time.Minute)
		el := time.Since(start).Seconds()
		b.StopTimer()
		stop()
		b.ReportMetric(float64(batches)/el, "batches/s")
		b.ReportMetric(float64(batches*250)/el, "readings/s")
		b.ReportMetric(float64(batches*size)/el/(1<<20), "MiB/s")
		b.ReportMetric(el, "s/day-of-backlog")
		b.ReportMetric(float64(size), "bytes/batch")
		b.StartTimer()
	}
}
