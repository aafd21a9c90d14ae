package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/central/store"
)

// This file shows what central holds of every gateway, per outbox epoch:
// the completeness of the evidence (what is stored, what the edge declared
// lost, what central still waits for) as Prometheus metrics and as JSON. It
// reads the store, the shared truth of every replica, at each request.

// ProgressSource is what the completeness view needs of the store;
// store.Store has it.
type ProgressSource interface {
	Progress(ctx context.Context, f store.ProgressFilter) ([]store.Progress, error)
	Gaps(ctx context.Context, gateway string, epoch *string) ([]store.Gap, error)
}

// ProgressCollector exports, per gateway, when central last heard of it
// and how complete its evidence is.
type ProgressCollector struct {
	src     ProgressSource
	timeout time.Duration
	log     *slog.Logger
}

// NewProgressCollector returns a collector reading src at each scrape
// (bounded by timeout; default 5 s).
func NewProgressCollector(src ProgressSource, timeout time.Duration, log *slog.Logger) *ProgressCollector {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ProgressCollector{src: src, timeout: timeout, log: log}
}

var (
	descLastSeen = prometheus.NewDesc("parkgrid_central_gateway_last_seen_timestamp_seconds",
		"When a batch of the gateway last arrived (Unix time); alert on its age.", []string{"gateway"}, nil)
	descHeld = prometheus.NewDesc("parkgrid_central_gateway_seqs_held",
		"Batches of the gateway central holds, over all its outbox epochs.", []string{"gateway"}, nil)
	descDeclared = prometheus.NewDesc("parkgrid_central_gateway_seqs_declared_lost",
		"Seqs the gateway declared lost in signed gap records (damaged or missing on the edge).", []string{"gateway"}, nil)
	descGapRecords = prometheus.NewDesc("parkgrid_central_gateway_gap_records",
		"Gap records of the gateway stored.", []string{"gateway"}, nil)
	descWaiting = prometheus.NewDesc("parkgrid_central_gateway_seqs_waiting",
		"Seqs above what central can acknowledge up to the highest it holds: non-zero while it waits for a missing batch.", []string{"gateway"}, nil)
	descEpochs = prometheus.NewDesc("parkgrid_central_gateway_epochs",
		"Outbox epochs of the gateway (a new one each time its outbox was replaced).", []string{"gateway"}, nil)
	descContiguous = prometheus.NewDesc("parkgrid_central_gateway_contiguous_seq",
		"The highest seq central acknowledges in the gateway's latest epoch.", []string{"gateway", "epoch"}, nil)
)

// Describe implements prometheus.Collector.
func (c *ProgressCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastSeen, descHeld, descDeclared, descGapRecords, descWaiting, descEpochs, descContiguous} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ProgressCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ps, err := c.src.Progress(ctx, store.ProgressFilter{})
	if err != nil {
		c.log.Warn("gateway progress not read for /metrics", "err", err)
		return
	}
	type agg struct {
		last                                  time.Time
		held, declared, gaps, waiting, epochs uint64
		latest                                store.Progress
	}
	by := map[string]*agg{}
	var order []string
	for _, p := range ps {
		a := by[p.Gateway]
		if a == nil {
			a = &agg{}
			by[p.Gateway] = a
			order = append(order, p.Gateway)
		}
		a.held += p.Held
		a.declared += p.Declared
		a.gaps += p.GapRecords
		a.waiting += p.MaxSeq - min(p.Contiguous, p.MaxSeq)
		a.epochs++
		if p.LastSeen.After(a.last) {
			a.last = p.LastSeen
		}
		if !p.FirstSeen.Before(a.latest.FirstSeen) {
			a.latest = p
		}
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, gw := range order {
		a := by[gw]
		if !a.last.IsZero() {
			gauge(descLastSeen, float64(a.last.UnixMilli())/1000, gw)
		}
		gauge(descHeld, float64(a.held), gw)
		gauge(descDeclared, float64(a.declared), gw)
		gauge(descGapRecords, float64(a.gaps), gw)
		gauge(descWaiting, float64(a.waiting), gw)
		gauge(descEpochs, float64(a.epochs), gw)
		gauge(descContiguous, float64(a.latest.Contiguous), gw, a.latest.Epoch)
	}
}

// GatewayView is one gateway's entry of the completeness view.
type GatewayView struct {
	Gateway string      `json:"gateway"`
	Epochs  []EpochView `json:"epochs"`
}

// EpochView is what central holds of one outbox epoch.
type EpochView struct {
	Epoch      string    `json:"epoch"`
	Contiguous uint64    `json:"contiguous"` // acknowledged: every seq up to it stored or declared lost
	MaxSeq     uint64    `json:"max_seq"`
	Held       uint64    `json:"held"`
	Declared   uint64    `json:"declared_lost"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	Gaps       []GapView `json:"gaps,omitempty"`
}

// GapView is one gap record.
type GapView struct {
	Seq      uint64    `json:"seq"` // of the gap record
	From     uint64    `json:"from"`
	To       uint64    `json:"to"`
	Reason   string    `json:"reason"`
	Detail   string    `json:"detail,omitempty"`
	Received time.Time `json:"received"`
}

// ProgressHandler serves the completeness view as JSON
// (GET /api/v1/ingest/gateways, ?gateway= for one).
func ProgressHandler(src ProgressSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		gw := r.URL.Query().Get("gateway")
		ps, err := src.Progress(r.Context(), store.ProgressFilter{Gateway: gw})
		if err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		out := []GatewayView{}
		idx := map[string]int{}
		gaps := map[store.Stream][]GapView{}
		for _, p := range ps {
			i, ok := idx[p.Gateway]
			if !ok {
				i = len(out)
				idx[p.Gateway] = i
				out = append(out, GatewayView{Gateway: p.Gateway})
				gs, err := src.Gaps(r.Context(), p.Gateway, nil)
				if err != nil {
					http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
					return
				}
				for _, g := range gs {
					gaps[g.Stream] = append(gaps[g.Stream], GapView{Seq: g.Seq, From: g.From, To: g.To, Reason: g.Reason, Detail: g.Detail, Received: g.Received})
				}
			}
			out[i].Epochs = append(out[i].Epochs, EpochView{Epoch: p.Epoch, Contiguous: p.Contiguous, MaxSeq: p.MaxSeq, Held: p.Held,
				Declared: p.Declared, FirstSeen: p.FirstSeen, LastSeen: p.LastSeen, Gaps: gaps[p.Stream]})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"gateways": out})
	})
}
