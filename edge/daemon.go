package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/drivers/diinput"
	"github.com/parkgrid/parkgrid/drivers/eichrecht"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
	"github.com/parkgrid/parkgrid/drivers/xymd02"
	"github.com/parkgrid/parkgrid/edge/clock"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/metrics"
	"github.com/parkgrid/parkgrid/edge/ocpp"
	"github.com/parkgrid/parkgrid/edge/poll"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/edge/tsdb"
)

// Options are what New needs besides the site file.
type Options struct {
	Clock  clock.Clock  // nil: the wall clock
	Logger *slog.Logger // nil: discard
	// Hooks for callers (tests, the demo): each is called on the goroutine
	// that produced the event and must not block. The EMS API, uplink and
	// metrics are wired by New itself.
	OnDeviceEvent func(poll.Event)
	OnSafetyEvent func(safety.Event)
	OnStep        func(now time.Time, took time.Duration)

	// Overrides of the site file for in-process callers (demo, tests), so
	// they need not edit YAML. "" keeps the file's value; Off switches
	// the part off.
	RESTListen   string // ems.rest.listen, e.g. "127.0.0.1:0" for a free port (see RESTAddr)
	EMSBroker    string // ems.mqtt.broker, e.g. "tcp://127.0.0.1:1884"
	UplinkBroker string // uplink.broker; enables the uplink even without an uplink: section
	UplinkKey    string // uplink.key (gateway Ed25519 private key file)
	UplinkOutbox string // uplink.outbox (directory)
	// UplinkCentralKey is uplink.central_key: central's Ed25519 public key
	// (hex) or a file holding it.
	UplinkCentralKey string
	// Registry receives the edge's metrics (nil: a new one); /metrics
	// serves it.
	Registry *prometheus.Registry
	// Notify receives the systemd states (READY=1, WATCHDOG=1,
	// STOPPING=1); nil sends them to systemd (sd_notify; nothing outside
	// systemd).
	Notify func(state string)
}

// Off is the override value that switches a part off.
const Off = "off"

// Daemon is one car park's edge, built from its site file. The EMS
// API, the uplink and metrics attach to State, Safety and Control.
type Daemon struct {
	site    *config.Site
	log     *slog.Logger
	clk     clock.Clock
	state   *site.State
	buses   []*modbus.Bus
	pollers []*poll.Poller
	safety  *safety.Watcher
	control *control.Loop

	alarms  edgeAlarms   // the daemon's own alarms (uplink), beside safety's
	ems     *emsAdapter  // the EMS API's Source, Controller and ConfigView
	router  http.Handler // REST API and /metrics; nil without ems.rest
	listen  string       // where router is served
	restSrv emsapi.ServerOptions
	mqtt    *emsapi.MQTT // nil without ems.mqtt
	uplink  *edgeUplink  // nil without uplink
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	influx  *tsdb.Writer  // nil without influx
	stepped chan struct{} // control steps, for the InfluxDB feeder (cap 1)

	restAuth  bool          // the REST API checks tokens
	notify    notifier      // systemd: ready, watchdog, stopping
	restReady chan struct{} // closed once the REST API listens (or will not)
	restAddr  string        // set before restReady is closed; "" if none
	ready     chan struct{} // closed once run has started every worker

	ocpp []*ocpp.Client // one per charge point under an OCPP CSMS (ocppwire.go)
}

// State is the live site state (latest samples, device health).
func (d *Daemon) State() *site.State { return d.state }

// Safety is the fire-alarm latch and charger gate (Status, Reset).
func (d *Daemon) Safety() *safety.Watcher { return d.safety }

// Control is the control loop (Status, SetEMSLimit, SetPara14a, SetClass).
func (d *Daemon) Control() *control.Loop { return d.control }

// Buses are the Modbus buses, for metrics (busmetrics.NewCollector).
func (d *Daemon) Buses() []*modbus.Bus { return d.buses }

// Pollers are the pollers, one per bus, for metrics (Stats).
func (d *Daemon) Pollers() []*poll.Poller { return d.pollers }

// Registry holds the edge's metrics (served on /metrics).
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Alarms are the alarms the EMS API reports (safety's and the uplink's).
func (d *Daemon) Alarms() []emsapi.Alarm { return d.ems.Alarms() }

// UplinkRunning reports whether the uplink to central started (false
// without an uplink section, or when it could not start: see Alarms).
func (d *Daemon) UplinkRunning() bool { return d.uplink.started() }

// RESTAddr waits until run has bound the REST API and returns its address
// (host:port; useful with the "127.0.0.1:0" override), or "" when the site
// has no REST API or it failed to bind. It returns ctx's error if ctx ends
// first.
func (d *Daemon) RESTAddr(ctx context.Context) (string, error) {
	select {
	case <-d.restReady:
		return d.restAddr, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Ready waits until run has opened the uplink (or given up on it) and
// started every worker, so UplinkRunning and Alarms tell the outcome.
func (d *Daemon) Ready(ctx context.Context) error {
	select {
	case <-d.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New builds everything from the site file; it dials nothing.
func New(cfg *config.Site, opt Options) (*Daemon, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// base goes to the parts that name the site themselves (safety,
	// control, the uplink's batcher and sender); log names it for the rest,
	// so every line says site= once.
	base := log
	log = log.With("site", cfg.ID)
	d := &Daemon{site: cfg, log: log, clk: clock.OrReal(opt.Clock), restReady: make(chan struct{}), ready: make(chan struct{}), stepped: make(chan struct{}, 1)}
	var snapMeters []snapshotMeter
	eichrechtOf := map[string]*eichrecht.Meter{}

	// DI modules read as many SPD contacts as the highest input in use.
	spds := map[string]int{}
	useInput := func(in *config.Input) {
		if in != nil {
			spds[in.Device] = max(spds[in.Device], in.Input-int(diinput.InputSPD)+1)
		}
	}
	useInput(cfg.Safety.FireLoop)
	useInput(cfg.Safety.Supervision)
	for _, dist := range cfg.Grid.Distributions {
		useInput(dist.SPD)
	}

	controllers := map[string]*phoenix.Controller{} // device id → controller
	var specs []site.Spec
	busDevices := make([][]poll.Device, len(cfg.Buses))
	for bi, b := range cfg.Buses {
		// The fire-alarm module's requests go first on its bus, and a dead
		// unit on that bus cannot hold them for a whole timeout.
		var prio []uint8
		for _, in := range []*config.Input{cfg.Safety.FireLoop, cfg.Safety.Supervision} {
			if in == nil {
				continue
			}
			for _, dev := range b.Devices {
				if dev.ID == in.Device {
					prio = append(prio, uint8(dev.Unit))
				}
			}
		}
		mopt := modbus.Options{Name: b.ID, Timeout: b.Timeout, Logger: log, Now: d.clk.Now, Priority: prio}
		var bus *modbus.Bus
		if b.TCP != "" {
			bus = modbus.NewTCP(b.TCP, mopt)
		} else {
			framing := fmt.Sprintf("%d%c%d", b.RTU.DataBits, b.RTU.Parity[0]-'a'+'A', b.RTU.StopBits)
			var err error
			if bus, err = modbus.NewRTU(b.RTU.Port, b.RTU.Baud, framing, mopt); err != nil {
				return nil, fmt.Errorf("site %q bus %q: %w", cfg.ID, b.ID, err)
			}
		}
		d.buses = append(d.buses, bus)
		for _, dev := range b.Devices {
			unit := uint8(dev.Unit)
			pd := poll.Device{ID: dev.ID, Interval: dev.Poll}
			switch dev.Driver {
			case config.SDM630:
				pd.Meter = sdm630.New(dev.ID, bus, unit)
			case config.Eichrecht:
				m := eichrecht.New(dev.ID, bus, unit, eichrecht.Options{})
				eichrechtOf[dev.ID] = m
				pd.Meter = m
			case config.Phoenix:
				c := phoenix.New(dev.ID, bus, unit)
				controllers[dev.ID] = c
				pd.Charger = c
			case config.DIInput:
				m, err := diinput.New(dev.ID, bus, unit, min(max(spds[dev.ID], 0), diinput.MaxSPD))
				if err != nil {
					return nil, fmt.Errorf("site %q: %w", cfg.ID, err)
				}
				pd.Contacts = m
			case config.XYMD02:
				pd.Thermometer = xymd02.New(dev.ID, bus, unit)
			default:
				return nil, fmt.Errorf("site %q device %q: no driver %q", cfg.ID, dev.ID, dev.Driver)
			}
			busDevices[bi] = append(busDevices[bi], pd)
			specs = append(specs, site.Spec{ID: dev.ID, Bus: b.ID, Interval: dev.Poll})
		}
	}
	d.state = site.New(specs)

	chargers := map[string]safety.Charger{}
	failsafe := map[string]control.Failsafe{}
	for _, cp := range cfg.ChargePoints {
		chargers[cp.ID] = controllers[cp.Controller]
		if fs, ok := any(controllers[cp.Controller]).(control.Failsafe); ok {
			failsafe[cp.ID] = fs // only controllers whose vendor documents a watchdog
		}
		// A point under OCPP takes its snapshots with its transactions.
		if m, ok := eichrechtOf[cp.Meter]; ok && !cfg.IsOCPP(cp.ID) {
			snapMeters = append(snapMeters, snapshotMeter{point: cp.ID, device: cp.Meter, m: m})
		}
	}
	scfg, err := safety.ConfigFrom(cfg, chargers)
	if err != nil {
		return nil, err
	}
	if d.safety, err = safety.New(scfg, d.state, d.clk, base); err != nil {
		return nil, err
	}
	if ucfg := (uplinkOverrides{broker: opt.UplinkBroker, key: opt.UplinkKey, outbox: opt.UplinkOutbox, centralKey: opt.UplinkCentralKey}).apply(cfg.Uplink); ucfg != nil && ucfg.Broker != Off {
		uplinkCredentials(ucfg, cfg.Gateway)
		d.uplink = newEdgeUplink(d, *ucfg, snapMeters)
	}
	d.safety.OnEvent = func(ev safety.Event) {
		d.uplink.onSafetyEvent(ev)
		if opt.OnSafetyEvent != nil {
			opt.OnSafetyEvent(ev)
		}
	}
	if d.control, err = control.New(control.ConfigFrom(cfg, failsafe), d.state, d.safety, d.safety, d.clk, base); err != nil {
		return nil, err
	}
	if err := gateCentralPoints(cfg, d.control); err != nil { // access.go
		return nil, err
	}
	if d.ocpp, err = d.newOCPPClients(cfg, eichrechtOf); err != nil {
		return nil, fmt.Errorf("site %q: %w", cfg.ID, err)
	}
	if err := d.wireAPIs(cfg, opt); err != nil {
		return nil, fmt.Errorf("site %q: %w", cfg.ID, err)
	}
	interval := cfg.Control.Interval
	d.notify = notifier{send: opt.Notify, log: log}
	d.control.OnStep = func(now time.Time, took time.Duration) {
		d.notify.alive(d.clk.Now(), d.safety.LastCheck())
		d.metrics.ObserveLoop(took, interval)
		d.uplink.onStep()
		select {
		case d.stepped <- struct{}{}:
		default:
		}
		if opt.OnStep != nil {
			opt.OnStep(now, took)
		}
	}

	onPoll := func(device string, _ time.Time, _ error) {
		if d.safety.IsDI(device) {
			d.safety.Wake()
		}
	}
	onEvent := func(ev poll.Event) {
		d.uplink.onDeviceEvent(ev)
		if opt.OnDeviceEvent != nil {
			opt.OnDeviceEvent(ev)
		}
	}
	for bi, b := range cfg.Buses {
		p, err := poll.New(b.ID, busDevices[bi], d.state, poll.Options{Clock: d.clk, Logger: log, OnPoll: onPoll, OnEvent: onEvent})
		if err != nil {
			return nil, fmt.Errorf("site %q: %w", cfg.ID, err)
		}
		d.pollers = append(d.pollers, p)
	}
	return d, nil
}

// wireAPIs builds the EMS API (REST, MQTT), metrics and the InfluxDB
// writer from the site file and opt's overrides. It does no I/O.
func (d *Daemon) wireAPIs(cfg *config.Site, opt Options) error {
	d.ems = &emsAdapter{d: d}
	if d.uplink != nil {
		d.ems.onLimit = d.uplink.onLimit
	}
	d.reg = opt.Registry
	if d.reg == nil {
		d.reg = prometheus.NewRegistry()
	}
	var err error
	if d.metrics, err = newEdgeMetrics(d, d.reg); err != nil {
		return err
	}
	failsafeFailed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parkgrid_charger_failsafe_failed",
		Help: "Charge controllers with a communication watchdog that do not hold their fallback current and watchdog (not applied or not read back).",
	}, func() float64 { return float64(d.control.FailsafeFailed()) })
	if err := d.reg.Register(failsafeFailed); err != nil {
		return fmt.Errorf("register failsafe metric: %w", err)
	}
	apiOpts := emsapi.Options{Source: d.ems, Controller: d.ems, Config: d.ems, MaxTTL: cfg.EMS.MaxTTL, Now: d.clk.Now, Logger: d.log.With("component", "emsapi")}

	if cfg.EMS.REST != nil {
		d.listen = cfg.EMS.REST.Listen
	}
	if opt.RESTListen != "" {
		d.listen = opt.RESTListen
	}
	if d.listen == Off {
		d.listen = ""
	}
	if d.listen != "" {
		restOpts := apiOpts
		restOpts.Metrics = metrics.Handler(d.reg, d.log)
		if d.restSrv, err = d.secureREST(cfg.EMS.REST, &restOpts); err != nil {
			return err
		}
		if d.router, err = emsapi.NewRouter(restOpts); err != nil {
			return err
		}
	}

	mopts, err := emsMQTTOptions(cfg, opt.EMSBroker, apiOpts)
	if err != nil {
		return err
	}
	if mopts.Broker != "" && mopts.Broker != Off {
		if d.mqtt, err = emsapi.NewMQTT(mopts); err != nil {
			return err
		}
	}

	if in := cfg.Influx; in != nil {
		if d.influx, err = tsdb.New(tsdb.Config{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket, Logger: d.log.With("component", "tsdb"), Registerer: d.reg}); err != nil {
			return err
		}
	}
	return nil
}

// Run runs the buses, pollers, safety and the control loop until ctx ends,
// then stops them: the workers first, the buses they talk through last. It
// returns ctx's error, or the first critical worker (safety, a poller,
// control) that failed for another reason, which stops the others too; an
// auxiliary worker's failure only raises an alarm (see supervise.go).
func (d *Daemon) Run(ctx context.Context) error {
	var ln net.Listener
	if d.router != nil {
		var err error
		if ln, err = net.Listen("tcp", d.listen); err != nil {
			close(d.restReady)
			close(d.ready)
			return fmt.Errorf("site %q: EMS REST API: %w", d.site.ID, err)
		}
		d.restAddr = ln.Addr().String()
		d.log.Info("EMS REST API listening", "addr", d.restAddr, "tls", d.restSrv.TLS != nil, "authenticated", d.restAuth)
	}
	close(d.restReady)

	busCtx, stopBuses := context.WithCancel(context.WithoutCancel(ctx))
	var busWG sync.WaitGroup
	for _, b := range d.buses {
		busWG.Add(1)
		go func() {
			defer busWG.Done()
			_ = b.Run(busCtx) // returns busCtx's error
		}()
	}
	defer func() {
		stopBuses()
		busWG.Wait()
	}()

	// The uplink opens before any worker runs, so that every event the
	// workers raise finds it. Failing to open stops only the uplink.
	if d.uplink != nil {
		if err := d.uplink.open(ctx); err != nil {
			d.log.Error("uplink to central not started; control, safety and the EMS API run without it", "err", err)
			d.alarms.set(emsapi.Alarm{ID: alarmUplink, Kind: "uplink", Message: "uplink to central not started: " + err.Error(), Since: d.clk.Now()})
		}
	}

	// Critical workers keep the site safe: one that stops stops the edge
	// (and systemd starts it again). Auxiliary workers are supervised: a
	// failure or panic raises an alarm and, where they can, they restart;
	// they never stop safety or control (supervise.go).
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	critical := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(wctx); err != nil && !errors.Is(err, context.Canceled) {
				d.log.Error("edge worker stopped", "worker", name, "err", err)
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	alarm := func(name, msg string, active bool) {
		if !active {
			d.alarms.clear("worker/" + name)
			return
		}
		d.alarms.set(emsapi.Alarm{ID: "worker/" + name, Kind: "worker", Message: msg, Since: d.clk.Now()})
	}
	aux := func(w auxWorker) {
		wg.Go(func() { supervise(wctx, w, d.clk, d.log, alarm) })
	}
	critical("safety", d.safety.Run)
	for i, p := range d.pollers {
		critical("poll "+d.site.Buses[i].ID, p.Run)
	}
	critical("control", d.control.Run)
	if d.uplink.started() {
		aux(auxWorker{name: "uplink", run: func(ctx context.Context) error { d.uplink.run(ctx); return ctx.Err() }})
	}
	if d.mqtt != nil {
		aux(auxWorker{name: "ems mqtt", run: d.mqtt.Run})
	}
	for i, c := range d.ocpp {
		aux(auxWorker{name: "ocpp " + d.site.OCPP.ChargePoints[i].ID, run: c.Run, restart: true})
	}
	if d.influx != nil {
		aux(auxWorker{name: "influx", run: d.influx.Run, restart: true})
		aux(auxWorker{name: "influx feed", restart: true, run: func(ctx context.Context) error { feedInflux(ctx, d, d.influx, d.stepped); return ctx.Err() }})
	}
	if ln != nil {
		first := ln
		aux(auxWorker{name: "ems rest", restart: true, run: func(ctx context.Context) error {
			l := first
			first = nil
			if l == nil { // a restart: listen again
				var err error
				if l, err = net.Listen("tcp", d.restAddr); err != nil {
					return err
				}
			}
			return emsapi.Serve(ctx, l, d.router, d.restSrv)
		}})
	}
	d.notify.ready()
	defer d.notify.stopping()
	close(d.ready)
	<-wctx.Done()
	wg.Wait()
	if err := context.Cause(wctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
