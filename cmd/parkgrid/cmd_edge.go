package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/drivers/diinput"
	"github.com/parkgrid/parkgrid/drivers/eichrecht"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
	"github.com/parkgrid/parkgrid/drivers/xymd02"
	"github.com/parkgrid/parkgrid/edge/clock"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/poll"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/edge/site"
)

// runEdge is `parkgrid edge --config site.yaml`: the edge daemon of one car
// park. It checks the site file, builds buses, drivers, pollers, safety and
// the control loop, and runs them until ctx ends (SIGINT/SIGTERM).
func runEdge(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "site file (YAML), e.g. deploy/site-small.yaml")
	check := fs.Bool("check", false, "check the site file and exit")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if *path == "" {
		fs.Usage()
		return &exitError{code: 2, msg: "parkgrid edge: --config is required"}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		e.log.Warn("site file", "warning", w)
	}
	if *check {
		_, err := fmt.Fprintf(e.stdout, "%s: site %q, %d buses, %d devices, %d charge points: ok\n",
			*path, cfg.ID, len(cfg.Buses), len(cfg.Devices()), len(cfg.ChargePoints))
		return err
	}
	d, err := newEdgeDaemon(cfg, edgeOptions{log: e.log})
	if err != nil {
		return err
	}
	e.log.Info("edge starting", "site", cfg.ID, "gateway", cfg.Gateway, "buses", len(cfg.Buses), "points", len(cfg.ChargePoints))
	err = d.run(ctx)
	if errors.Is(err, context.Canceled) {
		e.log.Info("edge stopped", "site", cfg.ID)
		return nil
	}
	return err
}

// edgeOptions are what newEdgeDaemon needs besides the site file.
type edgeOptions struct {
	clock clock.Clock  // nil: the wall clock
	log   *slog.Logger // nil: discard
	// Hooks for the uplink, the EMS API and metrics (the lead wires them):
	// each is called on the goroutine that produced the event and must not
	// block.
	onDeviceEvent func(poll.Event)
	onSafetyEvent func(safety.Event)
	onStep        func(now time.Time, took time.Duration)
}

// edgeDaemon is one car park's edge, built from its site file. The EMS
// API, the uplink and metrics attach to State, Safety and Control.
type edgeDaemon struct {
	site    *config.Site
	log     *slog.Logger
	clk     clock.Clock
	state   *site.State
	buses   []*modbus.Bus
	pollers []*poll.Poller
	safety  *safety.Watcher
	control *control.Loop
}

// State is the live site state (latest samples, device health).
func (d *edgeDaemon) State() *site.State { return d.state }

// Safety is the fire-alarm latch and charger gate (Status, Reset).
func (d *edgeDaemon) Safety() *safety.Watcher { return d.safety }

// Control is the control loop (Status, SetEMSLimit, SetPara14a, SetClass).
func (d *edgeDaemon) Control() *control.Loop { return d.control }

// Buses are the Modbus buses, for metrics (busmetrics.NewCollector).
func (d *edgeDaemon) Buses() []*modbus.Bus { return d.buses }

// Pollers are the pollers, one per bus, for metrics (Stats).
func (d *edgeDaemon) Pollers() []*poll.Poller { return d.pollers }

// newEdgeDaemon builds everything from the site file; it dials nothing.
func newEdgeDaemon(cfg *config.Site, opt edgeOptions) (*edgeDaemon, error) {
	log := opt.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("site", cfg.ID)
	d := &edgeDaemon{site: cfg, log: log, clk: clock.OrReal(opt.clock)}

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
		mopt := modbus.Options{Name: b.ID, Timeout: b.Timeout, Logger: log, Now: d.clk.Now}
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
				pd.Meter = eichrecht.New(dev.ID, bus, unit, eichrecht.Options{})
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
		failsafe[cp.ID] = controllers[cp.Controller]
	}
	scfg, err := safety.ConfigFrom(cfg, chargers)
	if err != nil {
		return nil, err
	}
	if d.safety, err = safety.New(scfg, d.state, d.clk, log); err != nil {
		return nil, err
	}
	d.safety.OnEvent = func(ev safety.Event) {
		if opt.onSafetyEvent != nil {
			opt.onSafetyEvent(ev)
		}
	}
	if d.control, err = control.New(control.ConfigFrom(cfg, failsafe), d.state, d.safety, d.safety, d.clk, log); err != nil {
		return nil, err
	}
	d.control.OnStep = opt.onStep

	onPoll := func(device string, _ time.Time, _ error) {
		if d.safety.IsDI(device) {
			d.safety.Wake()
		}
	}
	onEvent := func(ev poll.Event) {
		if opt.onDeviceEvent != nil {
			opt.onDeviceEvent(ev)
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

// run runs the buses, pollers, safety and the control loop until ctx ends,
// then stops them: the workers first, the buses they talk through last. It
// returns ctx's error, or the first worker that failed for another reason
// (which stops the others too).
func (d *edgeDaemon) run(ctx context.Context) error {
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

	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(wctx); err != nil && !errors.Is(err, context.Canceled) {
				d.log.Error("edge worker stopped", "worker", name, "err", err)
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	start("safety", d.safety.Run)
	for i, p := range d.pollers {
		start("poll "+d.site.Buses[i].ID, p.Run)
	}
	start("control", d.control.Run)
	<-wctx.Done()
	wg.Wait()
	if err := context.Cause(wctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
