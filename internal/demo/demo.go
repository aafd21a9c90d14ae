// Package demo runs a complete simulated car park in one process: the
// simulator on Modbus TCP, the edge daemon, and central with SQLite and its
// embedded broker, each talking to the next over its real protocol, plus a
// live view of what each part sees. `parkgrid demo` and `make run` use it.
//
// Life cycle: Run builds everything, runs until ctx ends (or Config.For
// elapses), then stops the edge first and central last, so the edge can
// still say goodbye over MQTT.
package demo

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/parkgrid/parkgrid/central"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/probe"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/sign"
)

// Config says what the demo runs; paths are relative to the working
// directory (the repository root for `make run`).
type Config struct {
	Dir     string        // working directory for keys, the outbox and central's database
	Sim     string        // simulator config
	Site    string        // edge site file (must match the simulator)
	Central string        // central config (store and broker are overridden to live in Dir)
	Speed   float64       // simulated seconds per wall second (0: the simulator config's)
	View    time.Duration // live view interval (0: no live view)
	For     time.Duration // stop after this long (0: until ctx ends)
	// HTTP is central's listener: API, driver app and dashboard
	// ("": DefaultHTTP, http://localhost:8080; port 0: a free one).
	HTTP string
}

// Run runs the demo until ctx ends or cfg.For elapses. It writes the
// addresses and the live view to w; log gets the parts' logs.
func Run(ctx context.Context, cfg Config, w io.Writer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer time.AfterFunc(cfg.For, cancel).Stop()
		defer cancel()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	gwKey, keyPath, err := demoGatewayKey(cfg.Dir)
	if err != nil {
		return err
	}
	gwPub := gwKey.Public().(ed25519.PublicKey)
	// Central's own key signs its acks; the edge enrols its public key.
	centralKey, centralKeyPath, err := demoGatewayKey(filepath.Join(cfg.Dir, "central-key"))
	if err != nil {
		return fmt.Errorf("demo central key: %w", err)
	}

	// The simulator, with meter keys kept in --dir so central's enrolment
	// stays valid from one run to the next.
	scfg, err := sim.LoadConfig(cfg.Sim)
	if err != nil {
		return err
	}
	scfg.KeyDir, err = filepath.Abs(filepath.Join(cfg.Dir, "meter-keys"))
	if err != nil {
		return err
	}
	if cfg.Speed > 0 {
		scfg.Speed = cfg.Speed
	}
	simulator, err := sim.New(scfg, sim.Options{Logger: log.With("daemon", "sim")})
	if err != nil {
		return fmt.Errorf("simulator %s: %w", cfg.Sim, err)
	}
	if err := simulator.Start(ctx); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	defer simulator.Close()

	site, err := config.Load(cfg.Site)
	if err != nil {
		return err
	}

	// Central: SQLite and the embedded broker, with this gateway and the
	// simulator's meter keys enrolled.
	ccfg, err := centralconfig.Load(cfg.Central)
	if err != nil {
		return err
	}
	ccfg.Store.Driver = centralconfig.DriverSQLite
	ccfg.Store.Path = filepath.Join(cfg.Dir, "central.db")
	ccfg.CentralKey = centralKeyPath
	// Receipts go to the demo's own SMTP sink (mailsink.go), nightly
	// reports into the demo directory.
	ccfg.Jobs.ReportsDir = filepath.Join(cfg.Dir, "reports")
	sink, err := demoMail(cfg.Dir, ccfg, w, log.With("daemon", "mail"))
	if err != nil {
		return err
	}
	if sink != nil {
		defer sink.Close() // after central stopped: it may be delivering
	}
	ccfg.Gateways = []centralconfig.Gateway{{ID: site.Gateway, Site: site.ID, PubKey: hex.EncodeToString(gwPub), Meters: demoMeterKeys(simulator.State())}}
	creds, err := secure(cfg.Dir, site, ccfg, gwKey)
	if err != nil {
		return err
	}
	opToken, err := demoBilling(site, ccfg)
	if err != nil {
		return err
	}
	webLogin, err := demoWeb(cfg.Dir, cfg.HTTP, ccfg)
	if err != nil {
		return err
	}
	if err := plugDemoCar(simulator, site, ccfg); err != nil {
		return err
	}

	// Central stops last, so the edge can still say goodbye over MQTT.
	var wg, centralWG sync.WaitGroup
	centralCtx, stopCentral := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { centralWG.Wait() }()
	defer stopCentral()
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	errs := make(chan error, 3)
	svc, err := central.New(ccfg, central.Options{Logger: log.With("daemon", "central")})
	if err != nil {
		return err
	}
	centralWG.Go(func() {
		if err := svc.Run(centralCtx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("central: %w", err)
		}
	})
	var central central.Addrs
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	case <-svcStarted(ctx, svc, &central):
	}

	edgeD, err := edge.New(site, edge.Options{
		Logger:       log.With("daemon", "edge"),
		UplinkBroker: central.Broker,
		UplinkKey:    keyPath,
		UplinkOutbox: filepath.Join(cfg.Dir, "outbox"),
		// The demo's central acks with its own key; the edge enrols it.
		UplinkCentralKey: hex.EncodeToString(centralKey.Public().(ed25519.PublicKey)),
		EMSBroker:        central.Broker,
	})
	if err != nil {
		return err
	}
	wg.Go(func() {
		if err := edgeD.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("edge: %w", err)
		}
	})
	rest, _ := edgeD.RESTAddr(ctx)
	fmt.Fprintf(w, "parkgrid demo: simulator Modbus %s (control API http://%s), edge EMS REST http://%s/api/v1/site, MQTT %s, central http://%s/api/v1/ingest/stats\n",
		simulator.ModbusAddr(sim.MainListener), simulator.APIAddr(), rest, central.Broker, central.HTTP)
	printLogins(w, creds, rest, central.Broker, site)
	printDriverExample(w, central.HTTP, opToken, ccfg)
	printMail(w, sink)
	printWeb(w, webLogin)
	fmt.Fprintln(w, "Ctrl-C stops it.")

	if cfg.View > 0 {
		wg.Go(func() { liveView(ctx, w, cfg.View, simulator, site, edgeD.Control(), central.HTTP) })
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}
}

// svcStarted returns a channel closed once svc listens; *a then holds
// where. It is never closed if svc fails to start (errs says why).
func svcStarted(ctx context.Context, svc *central.Service, a *central.Addrs) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		if addrs, err := svc.Addrs(ctx); err == nil {
			*a = addrs
			close(c)
		}
	}()
	return c
}

// demoGatewayKey makes the demo's gateway key (or central's, in its own
// directory) once and reuses it.
func demoGatewayKey(dir string) (key ed25519.PrivateKey, keyPath string, err error) {
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
	return k, keyPath, nil
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
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", p.ID, p.State, p.SetpointMA/1000, amps(p.CurrentMA), p.PowerW, p.EnergyWh, p.Reason)
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

// printLogins tells how to use the demo's REST API and EMS topics with
// the logins secure made.
func printLogins(w io.Writer, c credentials, rest, brokerURL string, site *config.Site) {
	host, port := "127.0.0.1", "1884"
	if u, err := url.Parse(brokerURL); err == nil {
		host, port = u.Hostname(), u.Port()
	}
	prefix := site.EMS.MQTT.TopicPrefix
	fmt.Fprintf(w, "REST token (read, limit, reset; new on every run):\n  %s\n", c.restToken)
	fmt.Fprintf(w, "  curl -s -H 'Authorization: Bearer %s' http://%s/api/v1/site\n", c.restToken, rest)
	fmt.Fprintf(w, "MQTT login for the EMS topics: user %s, password %s\n", c.emsUser, c.emsPass)
	fmt.Fprintf(w, "  mosquitto_sub -h %s -p %s -u %s -P %s -v -t '%s/#'\n", host, port, c.emsUser, c.emsPass, prefix)
	fmt.Fprintln(w, "Anonymous MQTT clients and requests without the token are refused.")
}
