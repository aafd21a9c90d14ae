package main

import (
	"context"
	"errors"
	"flag"
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
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/ingest"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/central/tsdb"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// runCentral is `parkgrid central --config central.yaml`: the central
// service. It checks the file, opens the store (migrating it), enrols the
// configured gateways and meter keys, starts the embedded broker when no
// external one is configured, and runs ingest, the optional InfluxDB writer
// and the HTTP listener (/metrics, /api/v1/ingest/stats, /healthz) until ctx
// ends (SIGINT/SIGTERM).
func runCentral(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("central", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "central file (YAML), e.g. deploy/central.yaml")
	check := fs.Bool("check", false, "check the config file and exit")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if *path == "" {
		fs.Usage()
		return &exitError{code: 2, msg: "parkgrid central: --config is required"}
	}
	cfg, err := centralconfig.Load(*path)
	if err != nil {
		return err
	}
	if *check {
		broker := cfg.MQTT.Broker
		if cfg.MQTT.Embedded() {
			broker = "embedded on " + cfg.MQTT.Listen
		}
		_, err := fmt.Fprintf(e.stdout, "%s: store %s, broker %s, %d gateways: ok\n", *path, cfg.Store.Driver, broker, len(cfg.Gateways))
		return err
	}
	return serveCentral(ctx, cfg, e.log, nil)
}

// centralStarted tells a test where a started central listens.
type centralStarted struct {
	Broker string // tcp://host:port
	HTTP   string // host:port
}

// serveCentral runs central from a checked config until ctx ends. started,
// if not nil, receives the addresses once everything listens.
func serveCentral(ctx context.Context, cfg *centralconfig.Config, log *slog.Logger, started chan<- centralStarted) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	st, err := openCentralStore(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := enrol(ctx, st, cfg); err != nil {
		return err
	}

	brokerURL := cfg.MQTT.Broker
	if cfg.MQTT.Embedded() {
		b, err := broker.Start(cfg.MQTT.Listen, log)
		if err != nil {
			return err
		}
		defer b.Close()
		brokerURL = b.URL()
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
		Topic: "$share/" + cfg.MQTT.ShareGroup + "/" + strings.TrimPrefix(reading.SharedBatchTopic, "$share/central/"), Username: cfg.MQTT.Username, Password: cfg.MQTT.Password,
		MaxGroup: cfg.Ingest.MaxGroup, Linger: cfg.Ingest.Linger, Workers: cfg.Ingest.Workers,
	}, st, ingest.NewOCMF(), ingest.Options{Logger: log.With("component", "ingest"), Registry: reg, Writer: writer})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/api/v1/ingest/stats", in.StatsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
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
	log.Info("central started", "store", cfg.Store.Driver, "broker", brokerURL, "http", ln.Addr().String(),
		"gateways", len(cfg.Gateways))
	if started != nil {
		select {
		case <-in.Ready():
			started <- centralStarted{Broker: brokerURL, HTTP: ln.Addr().String()}
		case <-runCtx.Done():
		}
	}

	select {
	case <-ctx.Done():
		log.Info("central stopping")
		return nil
	case err := <-errs:
		return err
	}
}

func openCentralStore(ctx context.Context, c centralconfig.Store, log *slog.Logger) (store.Store, error) {
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

// enrol writes the configured gateways and meter keys to the store.
func enrol(ctx context.Context, st store.Store, cfg *centralconfig.Config) error {
	for _, g := range cfg.Gateways {
		if err := st.EnrollGateway(ctx, store.Gateway{ID: g.ID, Site: g.Site, PublicKey: g.PublicKey()}); err != nil {
			return err
		}
		for _, m := range g.Meters {
			if err := st.SetMeterKey(ctx, store.MeterKey{Site: g.Site, Device: m.Device, PublicKey: m.PubKey}); err != nil {
				return err
			}
		}
	}
	for _, m := range cfg.Meters {
		if err := st.SetMeterKey(ctx, store.MeterKey{Site: m.Site, Device: m.Device, PublicKey: m.PubKey}); err != nil {
			return err
		}
	}
	return nil
}
