package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/probe"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/sign"
)

// runDemo starts a complete simulated car park in one process, each part
// talking to the next over its real protocol: the simulator serves Modbus
// TCP, the edge daemon polls and controls it and sends signed batches over
// MQTT to central, which verifies and stores them in SQLite. A live view
// prints what the probe reads from the grid meter, what the edge does at
// each charge point and what central has stored.
func runDemo(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dir := fs.String("dir", ".cache/demo", "working directory for keys, the outbox and central's database")
	simPath := fs.String("sim", "deploy/sim-small.yaml", "simulator config")
	sitePath := fs.String("site", "deploy/site-small.yaml", "edge site file (must match the simulator)")
	centralPath := fs.String("central", "deploy/central.yaml", "central config (store and broker are overridden to live in --dir)")
	speed := fs.Float64("speed", 0, "simulated seconds per wall second (default: the simulator config's)")
	every := fs.Duration("view", 2*time.Second, "live view interval (0: no live view)")
	duration := fs.Duration("for", 0, "stop after this long (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if os.Getenv("PARKGRID_LOG") == "" {
		// The live view is the demo's output; logs only when something is wrong.
		e = &env{stdin: e.stdin, stdout: e.stdout, stderr: e.stderr,
			log: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer time.AfterFunc(*duration, cancel).Stop()
		defer cancel()
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	gwPub, keyPath, err := demoGatewayKey(*dir)
	if err != nil {
		return err
	}

	// The simulator, with meter keys kept in --dir so central's enrolment
	// stays valid from one run to the next.
	scfg, err := sim.LoadConfig(*simPath)
	if err != nil {
		return err
	}
	scfg.KeyDir, err = filepath.Abs(filepath.Join(*dir, "meter-keys"))
	if err != nil {
		return err
	}
	if *speed > 0 {
		scfg.Speed = *speed
	}
	simulator, err := sim.New(scfg, sim.Options{Logger: e.log.With("component", "sim")})
	if err != nil {
		return fmt.Errorf("simulator %s: %w", *simPath, err)
	}
	if err := simulator.Start(ctx); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	defer simulator.Close()

	site, err := config.Load(*sitePath)
	if err != nil {
		return err
	}

	// Central: SQLite and the embedded broker, with this gateway and the
	// simulator's meter keys enrolled.
	ccfg, err := centralconfig.Load(*centralPath)
	if err != nil {
		return err
	}
	ccfg.Store.Driver = centralconfig.DriverSQLite
	ccfg.Store.Path = filepath.Join(*dir, "central.db")
	ccfg.Gateways = []centralconfig.Gateway{{ID: site.Gateway, Site: site.ID, PubKey: hex.EncodeToString(gwPub), Meters: demoMeterKeys(simulator.State())}}

	// Central stops last, so the edge can still say goodbye over MQTT.
	var wg, centralWG sync.WaitGroup
	centralCtx, stopCentral := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { centralWG.Wait() }()
	defer stopCentral()
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	errs := make(chan error, 3)
	started := make(chan centralStarted, 1)
	centralWG.Go(func() {
		if err := serveCentral(centralCtx, ccfg, e.log.With("component", "central"), started); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("central: %w", err)
		}
	})
	var central centralStarted
	select {
	case central = <-started:
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}

	edge, err := newEdgeDaemon(site, edgeOptions{
		log:          e.log.With("component", "edge"),
		uplinkBroker: central.Broker,
		uplinkKey:    keyPath,
		uplinkOutbox: filepath.Join(*dir, "outbox"),
		emsBroker:    central.Broker,
	})
	if err != nil {
		return err
	}
	wg.Go(func() {
		if err := edge.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("edge: %w", err)
		}
	})
	rest, _ := edge.RESTAddr(ctx)
	fmt.Fprintf(e.stdout, "parkgrid demo: simulator Modbus %s (control API http://%s), edge EMS REST http://%s/api/v1/site, MQTT %s, central http://%s/api/v1/ingest/stats\n",
		simulator.ModbusAddr(sim.MainListener), simulator.APIAddr(), rest, central.Broker, central.HTTP)
	fmt.Fprintln(e.stdout, "Ctrl-C stops it.")

	if *every > 0 {
		wg.Go(func() { liveView(ctx, e.stdout, *every, simulator, site, edge.Control(), central.HTTP) })
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}
}

// demoGatewayKey makes the demo's gateway key once and reuses it.
func demoGatewayKey(dir string) (pub []byte, keyPath string, err error) {
	keyPath = filepath.Join(dir, sign.PrivateFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		if _, err := sign.Generate(dir, false, nil); err != nil {
			return nil, "", fmt.Errorf("demo gateway key: %w", err)
		}
	}
	k, err := sign.LoadPrivate(keyPath)
	if err != nil {
		return nil, "", err
	}
	return k.Public().(ed25519.PublicKey), keyPath, nil
}

// demoMeterKeys lists the simulator's Eichrecht meter keys for enrolment.
func demoMeterKeys(st sim.State) []centralconfig.GatewayMeter {
	var out []centralconfig.GatewayMeter
	for _, p := range st.Points {
		if len(p.PublicKeyDER) > 0 {
			out = append(out, centralconfig.GatewayMeter{Device: p.Meter, PubKey: hex.EncodeToString(p.PublicKeyDER)})
		}
	}
	return out
}

// liveView prints, every interval, the grid meter as the probe reads it over
// Modbus, each charge point as the edge sees and controls it, and what
// central has stored.
func liveView(ctx context.Context, w io.Writer, every time.Duration, s *sim.Sim, site *config.Site, ctl *control.Loop, centralHTTP string) {
	bus := modbus.NewTCP(s.ModbusAddr(sim.MainListener), modbus.Options{Name: "probe"})
	var wg sync.WaitGroup
	bctx, stop := context.WithCancel(ctx)
	wg.Go(func() { _ = bus.Run(bctx) })
	defer func() { stop(); wg.Wait() }()
	gridUnit := uint8(s.Config().Grid.Unit)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\n── %s (simulated %s) ──\n", time.Now().Format("15:04:05"), s.Now().UTC().Format("15:04:05"))
		if res, err := probe.Probe(ctx, bus, gridUnit, "sdm630"); err != nil {
			fmt.Fprintf(&b, "grid meter: %v\n", err)
		} else {
			fmt.Fprintf(&b, "grid meter (probe, unit %d):", gridUnit)
			for _, r := range res.Rows {
				if strings.HasPrefix(r.Name, "current") || r.Name == "total power" || r.Name == "voltage L1" {
					fmt.Fprintf(&b, "  %s %s %s", r.Name, r.Value, r.Unit)
				}
			}
			b.WriteString("\n")
		}
		st := ctl.Status()
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "point\tstate\tsetpoint A\tcurrent A (L1/L2/L3)\tpower W\tenergy Wh\twhy")
		for _, p := range st.Points {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", p.ID, p.State, p.SetpointMA/1000, amps(p.CurrentMA), p.PowerW, p.EnergyWh, p.Reason+p.Blocked)
		}
		tw.Flush()
		fmt.Fprintf(&b, "site %s: %d charging, EV %d W; central: %s\n", site.ID, st.Charging, st.EVPowerW, centralCounts(ctx, centralHTTP))
		io.WriteString(w, b.String())
	}
}

func amps(ma [3]int64) string {
	return fmt.Sprintf("%.1f/%.1f/%.1f", float64(ma[0])/1000, float64(ma[1])/1000, float64(ma[2])/1000)
}

// centralCounts asks central's stats endpoint what it has stored.
func centralCounts(ctx context.Context, addr string) string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/ingest/stats", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var v struct {
		Batches    int64            `json:"batches_stored"`
		Readings   int64            `json:"readings_stored"`
		Duplicates int64            `json:"duplicates"`
		Rejected   map[string]int64 `json:"rejected"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return err.Error()
	}
	var rejected int64
	for _, n := range v.Rejected {
		rejected += n
	}
	parts := []string{fmt.Sprintf("%d batches with %d readings stored since start", v.Batches, v.Readings),
		fmt.Sprintf("%d duplicates", v.Duplicates), fmt.Sprintf("%d rejected", rejected)}
	return strings.Join(parts, ", ")
}
