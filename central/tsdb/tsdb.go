// Package tsdb copies stored readings to InfluxDB for dashboards, through
// the v2 write API (InfluxDB 2.x, or 1.8 with bucket "db/rp").
//
// It is a secondary copy: the store is the record. WriteBatch never blocks
// ingest; batches wait in a bounded queue, and when InfluxDB is slow or down
// and the queue is full, batches are dropped and counted
// (parkgrid_tsdb_dropped_batches_total), write errors are logged.
//
// Points: measurement "reading", tags site, gateway, device, point (when
// set) and quantity, integer field "value" in the quantity's unit, boolean
// field "stale" for a failed read (then without "value"), at the reading's
// time. OCMF snapshots are not copied; they live in the store.
package tsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// Config says where to write.
type Config struct {
	URL    string // http://host:8086
	Org    string // InfluxDB 2 organisation; ignored by 1.8
	Bucket string // bucket, or "database/retention-policy" on 1.8
	Token  string // API token, or "user:password" on 1.8, or empty

	BatchSize     uint          // points per HTTP write; default 5000
	FlushInterval time.Duration // longest a point waits; default 1 s
	QueueBatches  int           // reading batches queued before dropping; default 1024
}

// Options are the injected dependencies.
type Options struct {
	Logger   *slog.Logger          // nil: discard
	Registry prometheus.Registerer // nil: metrics kept unregistered
}

// Writer is a running InfluxDB writer; see the package comment.
type Writer struct {
	cfg    Config
	log    *slog.Logger
	client influxdb2.Client
	api    api.WriteAPI
	queue  chan reading.Batch

	dropped, written, failed prometheus.Counter
	nDropped, nPoints        atomic.Int64
}

// New validates cfg and prepares a writer; Run starts it.
func New(cfg Config, opt Options) (*Writer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tsdb: url %q: want http(s)://host:port", cfg.URL)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("tsdb: bucket is required (on InfluxDB 1.8: database/retention-policy)")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 5000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.QueueBatches <= 0 {
		cfg.QueueBatches = 1024
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		cfg: cfg, log: opt.Logger, queue: make(chan reading.Batch, cfg.QueueBatches),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_tsdb_dropped_batches_total", Help: "Reading batches not copied to InfluxDB because its queue was full."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_tsdb_points_total", Help: "Points handed to the InfluxDB client."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkgrid_tsdb_write_errors_total", Help: "Failed InfluxDB writes."}),
	}
	if opt.Registry != nil {
		for _, c := range []prometheus.Collector{w.dropped, w.written, w.failed} {
			if err := opt.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("tsdb: register metrics: %w", err)
			}
		}
	}
	opts := influxdb2.DefaultOptions().
		SetBatchSize(cfg.BatchSize).
		SetFlushInterval(uint(cfg.FlushInterval / time.Millisecond)).
		SetHTTPRequestTimeout(10).
		SetMaxRetries(3).
		SetMaxRetryTime(30_000).
		SetRetryBufferLimit(100_000).
		SetPrecision(time.Microsecond)
	w.client = influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	w.api = w.client.WriteAPI(cfg.Org, cfg.Bucket)
	return w, nil
}

// WriteBatch queues b; it never blocks. When the queue is full b is dropped
// and counted.
func (w *Writer) WriteBatch(b reading.Batch) {
	select {
	case w.queue <- b:
	default:
		w.dropped.Inc()
		if w.nDropped.Add(1) == 1 {
			w.log.Warn("influxdb queue full; dropping batches (the store keeps them)", "gateway", b.Gateway, "seq", b.Seq)
		}
	}
}

// Dropped is how many batches were dropped so far.
func (w *Writer) Dropped() int64 { return w.nDropped.Load() }

// Points is how many points were handed to the client so far.
func (w *Writer) Points() int64 { return w.nPoints.Load() }

// Run feeds queued batches to InfluxDB until ctx ends, then writes what is
// queued, flushes and closes the client.
func (w *Writer) Run(ctx context.Context) error {
	errs := w.api.Errors()
	var wg sync.WaitGroup
	stopErrs := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case err, ok := <-errs:
				if !ok {
					return
				}
				w.failed.Inc()
				w.log.Error("influxdb write failed", "url", w.cfg.URL, "bucket", w.cfg.Bucket, "err", err)
			case <-stopErrs:
				return
			}
		}
	})
	defer func() {
		for {
			select {
			case b := <-w.queue:
				w.write(b)
				continue
			default:
			}
			break
		}
		w.api.Flush()
		close(stopErrs)
		wg.Wait()
		w.client.Close()
	}()
	for {
		select {
		case b := <-w.queue:
			w.write(b)
		case <-ctx.Done():
			return nil
		}
	}
}

func (w *Writer) write(b reading.Batch) {
	for _, r := range b.Readings {
		p := write.NewPointWithMeasurement("reading").
			AddTag("site", b.Site).
			AddTag("gateway", b.Gateway).
			AddTag("device", r.Device).
			AddTag("quantity", r.Quantity).
			SetTime(r.Time)
		if r.Point != "" {
			p.AddTag("point", r.Point)
		}
		if r.Stale {
			p.AddField("stale", true)
		} else {
			p.AddField("value", r.Value)
		}
		w.api.WritePoint(p)
	}
	w.written.Add(float64(len(b.Readings)))
	w.nPoints.Add(int64(len(b.Readings)))
}
