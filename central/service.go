package central

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parkgrid/parkgrid/central/broker"
	"github.com/parkgrid/parkgrid/central/command"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/ingest"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/central/tsdb"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Addrs tells where a started central listens.
type Addrs struct {
	Broker string // tcp://host:port (the embedded broker's, or the external one)
	HTTP   string // host:port
}

// Options are what New needs besides the config.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now (retention of the rejection log)
}

// Service is the central service built from a checked config. New does no
// I/O; Run opens the store, the broker and the listeners and runs until its
// context ends; everything it opened is closed when Run returns.
type Service struct {
	cfg *centralconfig.Config
	log *slog.Logger
	now func() time.Time

	ready chan struct{} // closed once Run listens and ingest subscribed (or Run ended)
	addrs Addrs         // set before ready is closed

	// commands sends signed commands to the edges (commands.go); set by
	// Run before the HTTP listener starts. The REST API's edge.
	commands *command.Commander
}

// New builds central from a config that centralconfig.Load has checked.
func New(cfg *centralconfig.Config, opt Options) (*Service, error) {
	if cfg == nil {
		return nil, errors.New("central: no config")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, log: log, now: now, ready: make(chan struct{})}, nil
}

// Addrs waits until Run listens and returns where; it returns ctx's error
// if ctx ends first, and an error if Run ended before it listened.
func (s *Service) Addrs(ctx context.Context) (Addrs, error) {
	select {
	case <-s.ready:
		if s.addrs.HTTP == "" {
			return Addrs{}, errors.New("central did not start")
		}
		return s.addrs, nil
	case <-ctx.Done():
		return Addrs{}, ctx.Err()
	}
}

// Run runs central until ctx ends: store (migrated), enrolment of the
// configured gateways and meter keys, the embedded broker when no external
// one is configured, ingest, the optional InfluxDB writer and the HTTP
// listener (/healthz, the REST API, with web.public_url the driver app and
// dashboard at / (web.go), and /metrics and /api/v1/ingest/* unless they go
// to web.metrics_listen). It returns nil when
// ctx ends, or the first error that stopped it.
func (s *Service) Run(ctx context.Context) error {
	var once sync.Once
	markReady := func() { once.Do(func() { close(s.ready) }) }
	defer markReady()
	cfg, log := s.cfg, s.log
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ackKey, err := loadCentralKey(cfg.CentralKey)
	if err != nil {
		return err
	}
	st, err := OpenStore(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := enrol(ctx, st, cfg, log); err != nil {
		return err
	}
	reg.MustRegister(ingest.NewProgressCollector(st, 5*time.Second, log.With("component", "progress")))

	// Where ingest connects and with which login, and where edges connect.
	brokerURL, publicURL := cfg.MQTT.Broker, cfg.MQTT.Broker
	login := broker.Login{Username: cfg.MQTT.Username, Password: cfg.MQTT.Password}
	brokerTLS, err := externalTLS(cfg.MQTT.TLS)
	if err != nil {
		return err
	}
	if cfg.MQTT.Embedded() {
		b, l, err := embeddedBroker(cfg, st, log)
		if err != nil {
			return err
		}
		defer b.Close()
		brokerURL, publicURL, login = b.LocalURL(), b.URL(), l
	}

	var (
		wg     sync.WaitGroup
		writer ingest.BatchWriter
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	errs := make(chan error, 3)
	if cfg.Influx != nil {
		w, err := tsdb.New(tsdb.Config{URL: cfg.Influx.URL, Org: cfg.Influx.Org, Bucket: cfg.Influx.Bucket, Token: cfg.Influx.Token},
			tsdb.Options{Logger: log.With("component", "tsdb"), Registry: reg})
		if err != nil {
			return err
		}
		writer = w
		wg.Go(func() { errs <- w.Run(runCtx) })
	}

	in, err := ingest.New(ingest.Config{
		Broker: brokerURL, ClientID: cfg.MQTT.ClientID,
		Topic:    "$share/" + cfg.MQTT.ShareGroup + "/" + strings.TrimPrefix(reading.SharedBatchTopic, "$share/central/"),
		Username: login.Username, Password: login.Password, TLS: brokerTLS,
		MaxGroup: cfg.Ingest.MaxGroup, Linger: cfg.Ingest.Linger, Workers: cfg.Ingest.Workers,
		QueueBytes: int64(cfg.Ingest.QueueMiB) << 20,
		AckKey:     ackKey,
	}, st, ingest.NewOCMF(), ingest.Options{Logger: log.With("component", "ingest"), Registry: reg, Writer: writer})
	if err != nil {
		return err
	}

	if s.commands, err = startCommands(runCtx, &wg, ackKey, st, brokerURL, cfg.MQTT.ClientID, login, brokerTLS, log.With("component", "command")); err != nil {
		return err
	}
	// Billing (billing.go): catalog, access codes, sessions, payments and
	// the REST API; closed after every goroutine above has stopped.
	bill, err := openBilling(ctx, cfg, st, s.commands, ackKey, s.now, log)
	if err != nil {
		return err
	}
	defer func() { cancel(); wg.Wait(); bill.close() }()
	if err := runSessions(runCtx, &wg, bill.sessions, bill.sessionStore, st, log.With("component", "sessionrun")); err != nil {
		return err
	}
	// Receipt e-mails and the periodic jobs (mailwire.go, jobswire.go);
	// they stop with runCtx.
	mailer, err := openMail(ctx, cfg, bill, os.Getenv, s.now(), log.With("component", "mail"))
	if err != nil {
		return err
	}
	if err := startJobs(runCtx, &wg, cfg, bill, mailer, edgeStopper(s.commands), s.now, log.With("component", "jobs")); err != nil {
		return err
	}

	// ops: /metrics and /api/v1/ingest/* stay off the public surface
	// (web.go's serveOps: on the main listener only when it is loopback).
	mux, ops := http.NewServeMux(), http.NewServeMux()
	ops.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ops.Handle("/api/v1/ingest/stats", in.StatsHandler())
	ops.Handle("/api/v1/ingest/gateways", ingest.ProgressHandler(st))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	if err := mountAPI(mux, bill); err != nil {
		return err
	}
	// The driver app and dashboard at "/" (web.go), closed after the
	// listeners have stopped.
	closeWeb, err := mountWeb(ctx, mux, cfg, st, bill, s.commands, ackKey, s.now, log)
	if err != nil {
		return err
	}
	defer func() { cancel(); wg.Wait(); closeWeb() }()
	if err := serveOps(runCtx, &wg, errs, mux, ops, cfg, log); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", cfg.HTTP.Listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http: %w", err)
		}
	})
	wg.Go(func() {
		<-runCtx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown)
	})
	wg.Go(func() {
		if err := in.Run(runCtx); err != nil {
			errs <- err
		}
	})
	wg.Go(func() { pruneRejections(runCtx, st, cfg.Ingest.Rejections, s.now, log.With("component", "retention")) })
	log.Info("central started", "store", cfg.Store.Driver, "broker", publicURL, "http", ln.Addr().String(),
		"gateways", len(cfg.Gateways))
	select {
	case <-in.Ready():
		s.addrs = Addrs{Broker: publicURL, HTTP: ln.Addr().String()}
		markReady()
	case <-runCtx.Done():
	case err := <-errs:
		return err
	}

	select {
	case <-ctx.Done():
		log.Info("central stopping")
		return nil
	case err := <-errs:
		return err
	}
}

// OpenStore opens (and migrates) the store the config names.
func OpenStore(ctx context.Context, c centralconfig.Store, log *slog.Logger) (store.Store, error) {
	switch c.Driver {
	case centralconfig.DriverSQLite:
		if dir := filepath.Dir(c.Path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("store directory: %w", err)
			}
		}
		return sqlite.Open(ctx, c.Path, sqlite.Options{Logger: log.With("component", "store")})
	case centralconfig.DriverPostgres:
		return postgres.Open(ctx, c.DSN, postgres.Options{Logger: log.With("component", "store")})
	}
	return nil, fmt.Errorf("store driver %q", c.Driver)
}
