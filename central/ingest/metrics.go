package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one Ingester's Prometheus collectors and the same figures as
// plain counters for Stats.
type metrics struct {
	messages      prometheus.Counter
	batches       *prometheus.CounterVec // outcome: stored, duplicate
	readings      prometheus.Counter
	rejected      *prometheus.CounterVec // reason
	storeErrors   prometheus.Counter
	acks          prometheus.Counter
	commitSeconds prometheus.Histogram
	groupBatches  prometheus.Histogram

	nMessages, nStored, nDuplicate, nReadings, nStoreErrors, nAcks, nGroups atomic.Int64
	lastCommitNanos                                                         atomic.Int64

	mu        sync.Mutex // protects nRejected
	nRejected map[string]int64
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_ingest_messages_total", Help: "Batch messages received from MQTT."}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkgrid_ingest_batches_total", Help: "Verified batches by store outcome (stored, duplicate)."}, []string{"outcome"}),
		readings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_ingest_readings_stored_total", Help: "Readings durably stored."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkgrid_ingest_rejected_total", Help: "Batch messages rejected, by reason."}, []string{"reason"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_ingest_store_errors_total", Help: "Failed store transactions (retried)."}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_ingest_acks_published_total", Help: "Acks published to gateways."}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parkgrid_ingest_commit_seconds", Help: "Duration of one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		groupBatches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parkgrid_ingest_group_batches", Help: "Batches per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		nRejected: make(map[string]int64),
	}
	for _, r := range Reasons {
		m.rejected.WithLabelValues(r)
	}
	m.batches.WithLabelValues("stored")
	m.batches.WithLabelValues("duplicate")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.messages, m.batches, m.readings, m.rejected, m.storeErrors, m.acks,
			m.commitSeconds, m.groupBatches} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) message() {
	m.messages.Inc()
	m.nMessages.Add(1)
}

func (m *metrics) reject(reason string) {
	m.rejected.WithLabelValues(reason).Inc()
	m.mu.Lock()
	m.nRejected[reason]++
	m.mu.Unlock()
}

func (m *metrics) stored(readings int) {
	m.batches.WithLabelValues("stored").Inc()
	m.readings.Add(float64(readings))
	m.nStored.Add(1)
	m.nReadings.Add(int64(readings))
}

func (m *metrics) duplicate() {
	m.batches.WithLabelValues("duplicate").Inc()
	m.nDuplicate.Add(1)
}

func (m *metrics) commit(d time.Duration, batches int) {
	m.commitSeconds.Observe(d.Seconds())
	m.groupBatches.Observe(float64(batches))
	m.nGroups.Add(1)
	m.lastCommitNanos.Store(int64(d))
}

func (m *metrics) storeError() {
	m.storeErrors.Inc()
	m.nStoreErrors.Add(1)
}

func (m *metrics) ack() {
	m.acks.Inc()
	m.nAcks.Add(1)
}

// Stats are an Ingester's counters since it started.
type Stats struct {
	Messages        int64            `json:"messages"`
	BatchesStored   int64            `json:"batches_stored"`
	Duplicates      int64            `json:"duplicates"`
	ReadingsStored  int64            `json:"readings_stored"`
	Rejected        map[string]int64 `json:"rejected"`
	StoreErrors     int64            `json:"store_errors"`
	AcksPublished   int64            `json:"acks_published"`
	Groups          int64            `json:"groups"`
	LastCommitMilli float64          `json:"last_commit_ms"`
}

func (m *metrics) stats() Stats {
	s := Stats{
		Messages: m.nMessages.Load(), BatchesStored: m.nStored.Load(), Duplicates: m.nDuplicate.Load(),
		ReadingsStored: m.nReadings.Load(), StoreErrors: m.nStoreErrors.Load(), AcksPublished: m.nAcks.Load(),
		Groups: m.nGroups.Load(), LastCommitMilli: float64(m.lastCommitNanos.Load()) / 1e6,
		Rejected: make(map[string]int64, len(Reasons)),
	}
	m.mu.Lock()
	for _, r := range Reasons {
		s.Rejected[r] = m.nRejected[r]
	}
	m.mu.Unlock()
	return s
}

// TotalRejected sums Rejected.
func (s Stats) TotalRejected() int64 {
	var n int64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

// StatsHandler serves Stats as JSON (GET /api/v1/ingest/stats).
func (in *Ingester) StatsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(in.Stats())
	})
}
