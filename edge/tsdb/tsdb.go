// Package tsdb sends the edge's time series (per-point currents, power,
// energy, site totals) to InfluxDB, without ever making the control loop
// wait: Write puts a point in a bounded in-memory buffer and returns; Run
// drains the buffer in batches. When InfluxDB is down or slow the buffer
// fills, and then the oldest points are dropped and counted (Stats.Dropped);
// time series are for graphs, the signed readings travel through the
// outbox.
//
// It speaks the InfluxDB v2 write API (/api/v2/write), which InfluxDB 2.x
// and 1.8+ both serve: for 1.8 the bucket is "database/retention-policy"
// (e.g. "parkgrid/autogen"), the token "" or "user:password", and the org is
// ignored.
//
// Why not the client's non-blocking WriteAPI: in influxdb-client-go v2.14
// its WritePoint sends on an unbuffered channel to a goroutine that does the
// HTTP write synchronously (api/write.go, bufferProc/writeProc), so a hung
// InfluxDB blocks WritePoint for up to the HTTP timeout; and batches its
// retry queue drops are only logged to the client's package-level logger.
// So the buffering, batching, retry and drop accounting are here, and the
// client's blocking API does one HTTP request per batch on Run's goroutine.
package tsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrInvalidPoint marks a point that cannot be written (Write returns it).
var ErrInvalidPoint = errors.New("invalid point")

// precision is the timestamp precision written.
const precision = time.Millisecond

// Point is one time-series point. Field values are int64, int, uint64,
// float64 (finite), bool or string.
type Point struct {
	Measurement string
	Tags        map[string]string // empty values are left out
	Fields      map[string]any
	Time        time.Time
}

// Config configures a Writer. Zero values take the defaults named.
type Config struct {
	URL    string // e.g. http://127.0.0.1:8086
	Token  string // InfluxDB 2 token, or "user:password" / "" for 1.8
	Org    string // InfluxDB 2 org; ignored by 1.8
	Bucket string // InfluxDB 2 bucket, or "database/retention-policy" for 1.8

	BufferPoints     int           // points held while InfluxDB is away; default 10000
	BatchSize        int           // points per write request; default 500
	FlushInterval    time.Duration // longest a point waits before a write is tried; default 1s
	RetryInterval    time.Duration // wait after the first failed write, doubling; default 1s
	MaxRetryInterval time.Duration // cap of that wait; default 1 min
	WriteTimeout     time.Duration // per write request; default 10s

	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // optional: registers counters of Stats
}

// Stats count what happened to points since the Writer was made.
type Stats struct {
	Buffered    int    // waiting now (not counting a batch being written)
	Written     uint64 // accepted by InfluxDB
	Dropped     uint64 // dropped as the oldest when the buffer was full
	Rejected    uint64 // refused by InfluxDB as malformed (HTTP 400, 413, 422) and not retried
	WriteErrors uint64 // failed write requests (each retried later)
}

// Writer buffers points and writes them to InfluxDB in batches.
type Writer struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{} // a batch is ready (cap 1)

	mu    sync.Mutex // protects the fields below
	buf   []string   // line protocol, oldest first; len ≤ cfg.BufferPoints
	stats Stats
}

// New checks cfg and makes a Writer; it does no I/O.
func New(cfg Config) (*Writer, error) {
	if cfg.URL == "" || cfg.Bucket == "" {
		return nil, errors.New("tsdb: URL and Bucket are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.BufferPoints <= 0 {
		cfg.BufferPoints = 10000
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.BatchSize > cfg.BufferPoints {
		return nil, fmt.Errorf("tsdb: BatchSize %d above BufferPoints %d", cfg.BatchSize, cfg.BufferPoints)
	}
	def(&cfg.FlushInterval, time.Second)
	def(&cfg.RetryInterval, time.Second)
	def(&cfg.MaxRetryInterval, time.Minute)
	def(&cfg.WriteTimeout, 10*time.Second)
	w := &Writer{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer != nil {
		if err := w.register(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *Writer) register(reg prometheus.Registerer) error {
	counter := func(name, help string, f func(Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(w.Stats())) })
	}
	for _, c := range []prometheus.Collector{
		counter("parkgrid_edge_tsdb_points_written_total", "Points InfluxDB accepted.", func(s Stats) uint64 { return s.Written }),
		counter("parkgrid_edge_tsdb_points_dropped_total", "Points dropped because the buffer was full (InfluxDB away or slow).", func(s Stats) uint64 { return s.Dropped }),
		counter("parkgrid_edge_tsdb_points_rejected_total", "Points InfluxDB refused as malformed.", func(s Stats) uint64 { return s.Rejected }),
		counter("parkgrid_edge_tsdb_write_errors_total", "Failed write requests to InfluxDB.", func(s Stats) uint64 { return s.WriteErrors }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parkgrid_edge_tsdb_points_buffered", Help: "Points waiting to be written."},
			func() float64 { return float64(w.Stats().Buffered) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("tsdb: register metrics: %w", err)
		}
	}
	return nil
}

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Buffered = len(w.buf)
	return s
}

// Write queues p and returns at once; it never waits for InfluxDB. When the
// buffer is full the oldest point is dropped. It returns an error wrapping
// ErrInvalidPoint, and queues nothing, for a point that cannot be encoded.
func (w *Writer) Write(p Point) error {
	line, err := encode(p)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.buf = append(w.buf, line)
	if over := len(w.buf) - w.cfg.BufferPoints; over > 0 {
		w.buf = w.buf[over:]
		w.stats.Dropped += uint64(over)
	}
	ready := len(w.buf) >= w.cfg.BatchSize
	w.mu.Unlock()
	if ready {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// encode turns p into one line of line protocol (without the newline).
func encode(p Point) (string, error) {
	if p.Measurement == "" {
		return "", fmt.Errorf("%w: no measurement", ErrInvalidPoint)
	}
	if len(p.Fields) == 0 {
		return "", fmt.Errorf("%w: %s has no fields", ErrInvalidPoint, p.Measurement)
	}
	if p.Time.IsZero() {
		return "", fmt.Errorf("%w: %s has no time", ErrInvalidPoint, p.Measurement)
	}
	for k, v := range p.Fields {
		switch v := v.(type) {
		case int64, int, uint64, bool, string:
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return "", fmt.Errorf("%w: %s field %s is %g", ErrInvalidPoint, p.Measurement, k, v)
			}
		default:
			return "", fmt.Errorf("%w: %s field %s has type %T", ErrInvalidPoint, p.Measurement, k, v)
		}
	}
	tags := make(map[string]string, len(p.Tags))
	for k, v := range p.Tags {
		if v != "" {
			tags[k] = v
		}
	}
	return strings.TrimSuffix(write.PointToLineProtocol(write.NewPoint(p.Measurement, tags, p.Fields, p.Time), precision), "\n"), nil
}

// take removes up to BatchSize of the oldest lines.
func (w *Writer) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.buf), w.cfg.BatchSize)
	batch := append([]string(nil), w.buf[:n]...)
	w.buf = w.buf[n:]
	return batch
}

// putBack returns a batch whose write failed to the front of the buffer,
// dropping its oldest lines if the buffer filled up meanwhile.
func (w *Writer) putBack(batch []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if over := len(batch) + len(w.buf) - w.cfg.BufferPoints; over > 0 {
		batch = batch[min(over, len(batch)):]
		w.stats.Dropped += uint64(over)
	}
	w.buf = append(batch, w.buf...)
}

func (w *Writer) count(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// Run writes buffered points until ctx ends, then tries once more, for at
// most a second, to write what is left, and returns ctx.Err(). Run may be
// called once.
func (w *Writer) Run(ctx context.Context) error {
	opts := influxdb2.DefaultOptions().
		SetPrecision(precision).
		SetHTTPRequestTimeout(uint(max(1, w.cfg.WriteTimeout/time.Second)))
	client := influxdb2.NewClientWithOptions(w.cfg.URL, w.cfg.Token, opts)
	defer client.Close()
	api := client.WriteAPIBlocking(w.cfg.Org, w.cfg.Bucket)

	tick := time.NewTicker(w.cfg.FlushInterval)
	defer tick.Stop()
	backoff := time.Duration(0) // wait after the last failure; 0 while healthy
	var retry <-chan time.Time  // fires when the backoff ends
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			if backoff == 0 {
				w.flush(fctx, api)
			}
			cancel()
			return ctx.Err()
		case <-w.kick:
		case <-tick.C:
		case <-retry:
			retry = nil
		}
		if retry != nil {
			continue // backing off
		}
		if err := w.flush(ctx, api); err != nil {
			backoff = min(max(2*backoff, w.cfg.RetryInterval), w.cfg.MaxRetryInterval)
			if backoff == w.cfg.RetryInterval {
				w.log.Warn("tsdb: InfluxDB write failed; buffering", "url", w.cfg.URL, "bucket", w.cfg.Bucket, "err", err)
			}
			retry = time.After(backoff)
		} else if backoff != 0 {
			w.log.Info("tsdb: InfluxDB writes work again", "url", w.cfg.URL, "dropped_so_far", w.Stats().Dropped)
			backoff = 0
		}
	}
}

// writer is the part of the client's blocking write API flush uses.
type writer interface {
	WriteRecord(ctx context.Context, line ...string) error
}

// flush writes batches until the buffer is empty or a write fails with an
// error worth retrying, which it returns.
func (w *Writer) flush(ctx context.Context, api writer) error {
	for {
		batch := w.take()
		if len(batch) == 0 {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
		err := api.WriteRecord(wctx, batch...)
		cancel()
		switch {
		case err == nil:
			w.count(func(s *Stats) { s.Written += uint64(len(batch)) })
		case rejected(err):
			w.count(func(s *Stats) { s.Rejected += uint64(len(batch)); s.WriteErrors++ })
			w.log.Error("tsdb: InfluxDB rejected a batch; dropped", "points", len(batch), "err", err)
		default:
			w.count(func(s *Stats) { s.WriteErrors++ })
			w.putBack(batch)
			return fmt.Errorf("tsdb: write %d points: %w", len(batch), err)
		}
	}
}

// rejected reports whether InfluxDB refused a batch as such, so sending it
// again cannot help.
func rejected(err error) bool {
	var he *influxhttp.Error
	if !errors.As(err, &he) {
		return false
	}
	switch he.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
