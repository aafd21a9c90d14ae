// Package poll reads the field devices of one bus at their poll intervals
// and stores the samples, with their time, in the site state.
//
// One Poller runs per bus, so a slow RS-485 line never delays a TCP meter.
// On its bus the DI modules (the fire-alarm loop) have a schedule of their
// own, beside the other devices: their requests never wait for a device
// whose read hangs, and the bus's priority lane puts them first. Among the
// other devices, the one due longest goes first.
//
// A failed read is never a crash and never a copy of the last good value: the
// value simply ages and turns stale after three intervals (site.State). After
// OfflineAfter consecutive failures the device is reported offline (an Event
// and a counter) and is retried with backoff up to MaxBackoff, so a dead
// device on a serial line does not eat the line's time; its first good read
// reports it online again.
//
// A meter whose energy counter does not move for FrozenPolls polls while
// current flows (at least FrozenMinWh expected from its power) is flagged
// frozen; the flag clears when the counter moves.
package poll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock"
	"github.com/parkgrid/parkgrid/edge/site"
)

// Meter reads a meter.
type Meter interface {
	Sample(ctx context.Context) (drivers.MeterSample, error)
}

// Charger reads a charge controller's status.
type Charger interface {
	Status(ctx context.Context) (drivers.ChargerStatus, error)
}

// Contacts reads a DI module.
type Contacts interface {
	Contacts(ctx context.Context) (drivers.ContactStatus, error)
}

// Thermometer reads a temperature sensor.
type Thermometer interface {
	TemperatureDeciC(ctx context.Context) (int64, error)
}

// Device is one device on the bus. Exactly one of Meter, Charger, Contacts
// and Thermometer is set.
type Device struct {
	ID          string
	Interval    time.Duration
	Meter       Meter
	Charger     Charger
	Contacts    Contacts
	Thermometer Thermometer
}

// EventKind says what happened to a device.
type EventKind string

// Event kinds. They cross to the EMS API and readings: append only.
const (
	EventOffline EventKind = "device-offline"
	EventOnline  EventKind = "device-online"
	EventFrozen  EventKind = "meter-frozen"
	EventThawed  EventKind = "meter-thawed"
)

// Event is a change in a device's health.
type Event struct {
	At     time.Time
	Kind   EventKind
	Bus    string
	Device string
	Err    error // the last error, for EventOffline
}

// Options tune a Poller. Zero values take the defaults.
type Options struct {
	Clock  clock.Clock  // nil: clock.Real
	Logger *slog.Logger // nil: discard
	// OnEvent is called, on one of the poller's goroutines (DI modules
	// have one of their own), for every Event; it must not block and may be
	// called concurrently.
	OnEvent func(Event)
	// OnPoll is called after every poll of a device, good or failed, once
	// the state holds the result; it must not block and may be called
	// concurrently. Safety uses it to look at the fire-alarm loop as soon as
	// it was read.
	OnPoll func(device string, at time.Time, err error)
	// OfflineAfter consecutive failures report a device offline; default 3.
	OfflineAfter int
	// MaxBackoff bounds the retry interval of an offline device; default 5 s.
	MaxBackoff time.Duration
	// FrozenPolls and FrozenMinWh define a frozen meter; defaults 5 and 20.
	FrozenPolls int
	FrozenMinWh int64
}

// Stats are a poller's counters.
type Stats struct {
	Polls    uint64
	Failures uint64
	Offline  uint64 // offline events so far
}

// Poller polls the devices of one bus.
type Poller struct {
	bus   string
	state *site.State
	opt   Options
	clk   clock.Clock
	log   *slog.Logger
	devs  []*entry

	polls, failures, offline atomic.Uint64
}

type entry struct {
	Device
	due       time.Time
	fails     int // consecutive
	offline   bool
	lastWh    int64
	haveWh    bool
	stillFor  int   // polls without the counter moving while current flows
	expectMWh int64 // energy expected since the counter last moved, mWh
	lastAt    time.Time
	frozen    bool
}

// New returns a poller for the devices on bus, writing into state.
func New(bus string, devices []Device, state *site.State, opt Options) (*Poller, error) {
	if opt.OfflineAfter <= 0 {
		opt.OfflineAfter = 3
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 5 * time.Second
	}
	if opt.FrozenPolls <= 0 {
		opt.FrozenPolls = 5
	}
	if opt.FrozenMinWh <= 0 {
		opt.FrozenMinWh = 20
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Poller{bus: bus, state: state, opt: opt, clk: clock.OrReal(opt.Clock), log: log.With("bus", bus)}
	for _, d := range devices {
		n := 0
		for _, set := range []bool{d.Meter != nil, d.Charger != nil, d.Contacts != nil, d.Thermometer != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("poll bus %q: device %q: want exactly one reader, have %d", bus, d.ID, n)
		}
		if d.Interval <= 0 {
			return nil, fmt.Errorf("poll bus %q: device %q: poll interval %s must be > 0", bus, d.ID, d.Interval)
		}
		p.devs = append(p.devs, &entry{Device: d})
	}
	return p, nil
}

// Stats returns the poller's counters.
func (p *Poller) Stats() Stats {
	return Stats{Polls: p.polls.Load(), Failures: p.failures.Load(), Offline: p.offline.Load()}
}

// Run polls until ctx ends; it returns ctx's error. DI modules (the fire
// loop) are polled on a schedule of their own, beside the other devices,
// so that a device whose read hangs for a timeout never keeps the module
// unread: both schedules' requests meet on the bus, whose priority lane
// puts the module's first (drivers/modbus).
func (p *Poller) Run(ctx context.Context) error {
	var di, other []*entry
	for _, e := range p.devs {
		if e.Contacts != nil {
			di = append(di, e)
		} else {
			other = append(other, e)
		}
	}
	switch {
	case len(di) == 0 || len(other) == 0:
		return p.run(ctx, p.devs)
	}
	errc := make(chan error, 1)
	go func() { errc <- p.run(ctx, di) }()
	err := p.run(ctx, other)
	return errors.Join(err, <-errc)
}

// run polls devs (one schedule) until ctx ends.
func (p *Poller) run(ctx context.Context, devs []*entry) error {
	if len(devs) == 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	now := p.clk.Now()
	for _, e := range devs {
		e.due = now
	}
	timer, tc := p.clk.NewTimer(0)
	defer timer.Stop()
	for {
		now = p.clk.Now()
		e := next(devs, now)
		if e == nil {
			timer.Reset(earliest(devs).Sub(now))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tc:
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.pollOne(ctx, e)
	}
}

// next picks the device to poll now: a due DI module first, then the one due
// longest; nil if none is due.
func next(devs []*entry, now time.Time) *entry {
	var best *entry
	for _, e := range devs {
		if e.due.After(now) {
			continue
		}
		switch {
		case best == nil:
			best = e
		case (e.Contacts != nil) != (best.Contacts != nil):
			if e.Contacts != nil {
				best = e
			}
		case e.due.Before(best.due):
			best = e
		}
	}
	return best
}

func earliest(devs []*entry) time.Time {
	t := devs[0].due
	for _, e := range devs[1:] {
		if e.due.Before(t) {
			t = e.due
		}
	}
	return t
}

// PollOnce polls every device once, in order, regardless of its schedule:
// for tests and for a first read at start-up.
func (p *Poller) PollOnce(ctx context.Context) {
	for _, e := range p.devs {
		p.pollOne(ctx, e)
	}
}

func (p *Poller) pollOne(ctx context.Context, e *entry) {
	err := p.read(ctx, e)
	if err != nil && ctx.Err() != nil {
		return // shutting down: not the device's fault
	}
	now := p.clk.Now()
	p.polls.Add(1)
	if err != nil {
		p.failures.Add(1)
		p.state.PutError(e.ID, now, err)
		e.fails++
		if e.fails >= p.opt.OfflineAfter && !e.offline {
			e.offline = true
			p.offline.Add(1)
			p.state.SetOffline(e.ID, true)
			p.log.Warn("device stopped answering", "device", e.ID, "failures", e.fails, "err", err)
			p.emit(Event{At: now, Kind: EventOffline, Bus: p.bus, Device: e.ID, Err: err})
		} else if !e.offline {
			p.log.Debug("poll failed", "device", e.ID, "err", err)
		}
	} else {
		if e.offline {
			p.log.Info("device answers again", "device", e.ID)
			p.emit(Event{At: now, Kind: EventOnline, Bus: p.bus, Device: e.ID})
		}
		e.fails, e.offline = 0, false
	}
	e.due = p.nextDue(e, now)
	if p.opt.OnPoll != nil {
		p.opt.OnPoll(e.ID, now, err)
	}
}

// nextDue keeps the device's phase while it answers, skipping slots it
// missed, and backs off while it is offline.
func (p *Poller) nextDue(e *entry, now time.Time) time.Time {
	if e.offline {
		back := e.Interval
		for i := p.opt.OfflineAfter; i < e.fails && back < p.opt.MaxBackoff; i++ {
			back *= 2
		}
		return now.Add(min(back, max(p.opt.MaxBackoff, e.Interval)))
	}
	due := e.due.Add(e.Interval)
	if !due.After(now) {
		missed := now.Sub(due)/e.Interval + 1
		due = due.Add(missed * e.Interval)
	}
	return due
}

// read asks the device and stores what it says. Errors are the driver's,
// which name the device (and the bus's, which name the bus and unit). A
// panicking driver is reported as an error: one bad device must not take
// safety down.
func (p *Poller) read(ctx context.Context, e *entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("driver panic: %v", r)
			p.log.Error("driver panicked", "device", e.ID, "panic", r)
		}
	}()
	switch {
	case e.Meter != nil:
		v, err := e.Meter.Sample(ctx)
		if err != nil {
			return err
		}
		now := p.clk.Now()
		p.frozen(e, v, now)
		return p.state.PutMeter(e.ID, now, v)
	case e.Charger != nil:
		sent := p.clk.Now()
		v, err := e.Charger.Status(ctx)
		if err != nil {
			return err
		}
		return p.state.PutChargerRead(e.ID, sent, p.clk.Now(), v)
	case e.Contacts != nil:
		v, err := e.Contacts.Contacts(ctx)
		if err != nil {
			return err
		}
		return p.state.PutContacts(e.ID, p.clk.Now(), site.ContactsFrom(v))
	default:
		v, err := e.Thermometer.TemperatureDeciC(ctx)
		if err != nil {
			return err
		}
		return p.state.PutTemperature(e.ID, p.clk.Now(), v)
	}
}

// frozen updates the frozen-counter detector with a new sample.
func (p *Poller) frozen(e *entry, v drivers.MeterSample, now time.Time) {
	defer func() { e.lastAt = now }()
	if !e.haveWh || v.ImportWh != e.lastWh {
		e.haveWh, e.lastWh, e.stillFor, e.expectMWh = true, v.ImportWh, 0, 0
		if e.frozen {
			e.frozen = false
			p.state.SetFrozen(e.ID, false)
			p.emit(Event{At: now, Kind: EventThawed, Bus: p.bus, Device: e.ID})
		}
		return
	}
	powerW := v.PowerW
	if powerW <= 0 {
		powerW = (v.CurrentMA[0] + v.CurrentMA[1] + v.CurrentMA[2]) * nominalVoltageV / 1000
	}
	if powerW <= 0 || e.lastAt.IsZero() {
		e.stillFor = 0
		return
	}
	e.stillFor++
	e.expectMWh += powerW * now.Sub(e.lastAt).Milliseconds() / 3600
	if !e.frozen && e.stillFor >= p.opt.FrozenPolls && e.expectMWh >= p.opt.FrozenMinWh*1000 {
		e.frozen = true
		p.state.SetFrozen(e.ID, true)
		p.log.Warn("meter counter frozen while current flows", "device", e.ID, "wh", v.ImportWh, "expected_wh", e.expectMWh/1000)
		p.emit(Event{At: now, Kind: EventFrozen, Bus: p.bus, Device: e.ID})
	}
}

// nominalVoltageV turns currents into power when a meter reports none.
const nominalVoltageV = 230

func (p *Poller) emit(ev Event) {
	if p.opt.OnEvent != nil {
		p.opt.OnEvent(ev)
	}
}
