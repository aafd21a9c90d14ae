package ingest

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// This file bounds what ingest holds and says: the bytes of messages
// received but not yet committed, and the log lines about rejections.

// byteBudget bounds the bytes of messages ingest holds between receiving
// and committing them. The MQTT handler takes a message's bytes before it
// queues it and the committer gives them back after the commit; while the
// budget is spent the handler waits, so the broker's TCP window (not
// central's heap) holds the rest. A message larger than the whole budget
// takes all of it.
type byteBudget struct {
	max  int64
	wake chan struct{} // a release happened (cap 1)

	mu   sync.Mutex // protects used
	used int64

	gauge prometheus.Gauge
}

func newByteBudget(max int64, gauge prometheus.Gauge) *byteBudget {
	return &byteBudget{max: max, wake: make(chan struct{}, 1), gauge: gauge}
}

// acquire takes n bytes, waiting for releases; false when stop closed first.
func (b *byteBudget) acquire(n int64, stop <-chan struct{}) bool {
	n = min(n, b.max)
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			used := b.used
			b.mu.Unlock()
			b.gauge.Set(float64(used))
			if used < b.max {
				b.signal() // another waiter may fit too
			}
			return true
		}
		b.mu.Unlock()
		select {
		case <-b.wake:
		case <-stop:
			return false
		}
	}
}

// release gives n bytes back.
func (b *byteBudget) release(n int64) {
	n = min(n, b.max)
	b.mu.Lock()
	b.used -= n
	used := b.used
	b.mu.Unlock()
	b.gauge.Set(float64(used))
	b.signal()
}

func (b *byteBudget) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// held returns the bytes held now.
func (b *byteBudget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// rejectionLog writes a warning per rejection, at most perMinute per
// reason in a minute; the rest are counted and summed up in one line when
// the minute is over. Every rejection still goes to the rejection log in
// the store and to the rejected_total counter.
type rejectionLog struct {
	log       *slog.Logger
	now       func() time.Time
	perMinute int
	dropped   prometheus.Counter

	mu     sync.Mutex // protects the fields below
	window time.Time
	n      map[string]int
	quiet  map[string]int
}

func newRejectionLog(log *slog.Logger, now func() time.Time, perMinute int, dropped prometheus.Counter) *rejectionLog {
	return &rejectionLog{log: log, now: now, perMinute: perMinute, dropped: dropped, n: map[string]int{}, quiet: map[string]int{}}
}

// warn logs one rejection unless its reason has used up its minute.
func (l *rejectionLog) warn(reason string, args ...any) {
	now := l.now()
	l.mu.Lock()
	if now.Sub(l.window) >= time.Minute || now.Before(l.window) {
		for r, k := range l.quiet {
			l.log.Warn("batches rejected without a log line of their own", "reason", r, "count", k, "window", "1m")
		}
		l.window, l.n, l.quiet = now, map[string]int{}, map[string]int{}
	}
	l.n[reason]++
	if l.n[reason] > l.perMinute {
		l.quiet[reason]++
		l.mu.Unlock()
		l.dropped.Inc()
		return
	}
	l.mu.Unlock()
	l.log.Warn("batch rejected", append([]any{"reason", reason}, args...)...)
}

// trustMetrics are the counters of this file and of evidence binding.
type trustMetrics struct {
	evidenceGaps   prometheus.Counter
	queueBytes     prometheus.Gauge
	logsSuppressed prometheus.Counter
}

func newTrustMetrics(reg prometheus.Registerer) (*trustMetrics, error) {
	m := &trustMetrics{
		evidenceGaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_ingest_evidence_gaps_total", Help: "OCMF snapshots whose meter's pagination skips pages below them (not refused)."}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parkgrid_ingest_queue_bytes", Help: "Bytes of batch messages received but not yet committed."}),
		logsSuppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_ingest_rejection_logs_suppressed_total", Help: "Rejections not logged one by one (rate limit); all are in the rejection log."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.evidenceGaps, m.queueBytes, m.logsSuppressed} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Defaults of the bounds.
const (
	DefaultQueueBytes       = 256 << 20
	rejectionLinesPerMinute = 10 // per reason
)
