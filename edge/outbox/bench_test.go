package outbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Figures, command and machine: docs/benchmarks-outbox.md.

// BenchmarkAppend measures durable appends of 200-byte records with n
// concurrent appenders (group commit: one fdatasync per commit group).
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
			o, _, err := Open(context.Background(), b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			rec := make([]byte, 200)
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := o.Append(context.Background(), fixed(rec)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/float64(max(1, o.Stats().Syncs)), "records/sync")
		})
	}
}

// BenchmarkRawWriteFdatasync is the ceiling: write(2) of k 200-byte records
// then fdatasync(2), in a loop, on the same disk.
func BenchmarkRawWriteFdatasync(b *testing.B) {
	for _, k := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("records_per_sync=%d", k), func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, k*(headerSize+200))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += k {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if err := datasync(f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// Drain after a 24 h outage. Assumption: 500 charge points, one reading
// each every 10 s (4.32 M readings a day), cut by the Batcher every 5 s:
// 17,280 batches of 250 readings. A sealed batch of 250 readings is about
// 30 KB (JSON body ~22 KB, base64 in the envelope), so the outbox holds
// ~520 MB when the uplink comes back.
const (
	drainBatches     = 17280
	drainRecordBytes = 30 << 10
)

// BenchmarkDrain24h measures ReadFrom over the whole backlog in chunks of
// 64 records (what the uplink reads), page cache warm.
func BenchmarkDrain24h(b *testing.B) {
	dir := b.TempDir()
	o, _, err := Open(context.Background(), dir, Options{MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	rec := make([]byte, drainRecordBytes)
	for i := range rec {
		rec[i] = 'A' + byte(i%26)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= drainBatches {
				if _, err := o.Append(context.Background(), fixed(rec)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	var bytes int64
	start := time.Now()
	for range b.N {
		from, n := uint64(1), 0
		for {
			recs, err := o.ReadFrom(from, 64)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				bytes += int64(len(r.Data))
			}
			n += len(recs)
			from = recs[len(recs)-1].Seq + 1
		}
		if n != drainBatches {
			b.Fatalf("read %d records, want %d", n, drainBatches)
		}
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N*drainBatches)/el, "records/s")
	b.ReportMetric(float64(bytes)/el/(1<<20), "MiB/s")
	b.ReportMetric(el/float64(b.N), "s/day-of-backlog")
}

// BenchmarkAppendVsRaw alternates short rounds of the outbox (n appenders)
// and of a bare write+fdatasync loop writing as many records per sync as
// the outbox achieved, so both see the same disk weather; it reports the
// medians over the rounds. Run it with -benchtime 1x.
func BenchmarkAppendVsRaw(b *testing.B) {
	const rounds, slice = 7, 700 * time.Millisecond
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
			var obs, raws, ratios, perSync []float64
			for range rounds {
				rate, rps := outboxRate(b, n, slice)
				raw := rawRate(b, max(1, int(rps+0.5)), slice)
				obs, raws, perSync = append(obs, rate), append(raws, raw), append(perSync, rps)
				ratios = append(ratios, rate/raw)
			}
			b.ReportMetric(median(obs), "outbox_records/s")
			b.ReportMetric(median(raws), "raw_records/s")
			b.ReportMetric(median(ratios), "outbox/raw")
			b.ReportMetric(median(perSync), "records/sync")
		})
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func outboxRate(b *testing.B, n int, d time.Duration) (recordsPerSec, recordsPerSync float64) {
	o, _, err := Open(context.Background(), b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	rec := make([]byte, 200)
	var count atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := o.Append(context.Background(), fixed(rec)); err != nil {
					b.Error(err)
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	c := float64(count.Load())
	return c / time.Since(start).Seconds(), c / float64(max(1, o.Stats().Syncs))
}

func rawRate(b *testing.B, k int, d time.Duration) float64 {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, k*(headerSize+200))
	count := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := datasync(f); err != nil {
			b.Fatal(err)
		}
		count += k
	}
	return float64(count) / time.Since(start).Seconds()
}
