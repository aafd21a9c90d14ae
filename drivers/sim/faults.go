package sim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// FaultKind names a fault the simulator can inject.
type FaultKind string

// Faults. Device is the name of the device the fault applies to, as listed
// by State; a charge point's name stands for its controller.
const (
	// FaultOffline: the unit stops answering (no reply: the client times out).
	FaultOffline FaultKind = "offline"
	// FaultSlow: the unit answers Value ms late (default 1000).
	FaultSlow FaultKind = "slow"
	// FaultFrozenCounter: a meter's (SDM630, Eichrecht) energy register stops
	// moving while power flows.
	FaultFrozenCounter FaultKind = "frozen-counter"
	// FaultFireLoopOpen: DI input 0 opens (alarm). Device: the DI module (or "").
	FaultFireLoopOpen FaultKind = "fire-loop-open"
	// FaultWireBreak: DI input 1 (supervision) opens, and with it the loop
	// (input 0). Device: the DI module (or "").
	FaultWireBreak FaultKind = "wire-break"
	// FaultSPDTripped: the SPD contact of a sub-distribution opens. Device:
	// the sub-distribution.
	FaultSPDTripped FaultKind = "spd-tripped"
	// FaultOverTemperature: a thermometer reads Value °C (default 70).
	// Device: the thermometer or its sub-distribution.
	FaultOverTemperature FaultKind = "over-temperature"
	// FaultUnplug: the car at a charge point leaves. Device: the point.
	FaultUnplug FaultKind = "unplug"
	// FaultEV: the point reports state F with error code Value (default 1).
	FaultEV FaultKind = "ev-fault"
	// FaultReboot: a charge controller restarts and comes back with its
	// power-on registers (chargers: enabled, max_current_a; no watchdog,
	// the map has none). It answers again at once. Device: the point.
	FaultReboot FaultKind = "reboot"
	// FaultRefuseWrites: a charge controller answers every write with
	// exception 04 (server device failure) while its reads still work.
	FaultRefuseWrites FaultKind = "refuse-writes"
	// FaultIgnoreSetpoint: the car at a charge point draws its maximum (up to
	// the charger's hardware limit) whatever the controller offers, even
	// disabled: a welded contactor or a controller that ignores its setpoint.
	FaultIgnoreSetpoint FaultKind = "ignore-setpoint"
	// FaultReversedCT: a current transformer of an SDM630 is mounted the
	// wrong way round: phase Value (1..3, default 1) reads negative current
	// and power. Device: the meter ("grid" for the grid meter).
	FaultReversedCT FaultKind = "reversed-ct"
	// FaultClear clears every fault of Device; "" or "*" clears all faults
	// everywhere (cars stay).
	FaultClear FaultKind = "clear"
)

// Fault is one injection.
type Fault struct {
	Device string    `json:"device"`
	Kind   FaultKind `json:"kind"`
	Value  *float64  `json:"value,omitempty"`
}

// Car is a car plugged through the API.
type Car struct {
	Phases    int     `json:"phases"`    // 1 or 3 (default 3)
	MaxA      int     `json:"maxA"`      // per phase, 6..63 (default 16)
	SocPct    float64 `json:"socPct"`    // on arrival, 0..100 (default 20)
	BatteryWh int64   `json:"batteryWh"` // default 60000
}

// Errors the fault and car methods return (the API maps them to HTTP codes).
var (
	ErrUnknownDevice = errors.New("unknown device")
	ErrBadRequest    = errors.New("bad request")
	ErrOccupied      = errors.New("a car is already plugged in")
)

// InjectFault applies a fault now.
func (s *Sim) InjectFault(f Fault) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.clockNow()
	s.advanceTo(t)
	defer func() { s.dirty = true }()
	val := func(def float64) float64 {
		if f.Value != nil {
			return *f.Value
		}
		return def
	}
	unknown := fmt.Errorf("fault %s: %w %q", f.Kind, ErrUnknownDevice, f.Device)
	switch f.Kind {
	case FaultOffline, FaultSlow:
		d := s.byName[f.Device]
		if d == nil {
			return unknown
		}
		if f.Kind == FaultOffline {
			d.base().offline = true
			return nil
		}
		ms := val(1000)
		if ms < 0 || ms > 60000 || math.IsNaN(ms) {
			return fmt.Errorf("fault slow: %w: value %v ms outside 0..60000", ErrBadRequest, ms)
		}
		d.base().slow = time.Duration(ms * float64(time.Millisecond))
		return nil
	case FaultFrozenCounter:
		switch d := s.byName[f.Device].(type) {
		case *sdmMeter:
			if !d.frozen {
				d.frozen, d.frozenWh = true, d.values(s).importWh
			}
		case *ocmfMeter:
			if !d.frozen {
				d.frozen, d.frozenWh = true, d.p.energy.Wh()
			}
		case nil:
			return unknown
		default:
			return fmt.Errorf("fault %s: %w: %s is not a meter", f.Kind, ErrBadRequest, f.Device)
		}
		return nil
	case FaultFireLoopOpen, FaultWireBreak:
		if s.di == nil || (f.Device != "" && f.Device != s.di.name) {
			return unknown
		}
		wasHealthy := s.di.inputs(s)[diFireLoop]
		if f.Kind == FaultFireLoopOpen {
			s.di.fireOpen = true
		} else {
			s.di.wireBreak = true
		}
		if wasHealthy {
			s.fireOpenedAt = &Stamp{At: t, Wall: s.wall()}
		}
		return nil
	case FaultSPDTripped:
		sd := s.sub(f.Device)
		if sd == nil {
			return unknown
		}
		sd.spd = true
		return nil
	case FaultOverTemperature:
		th, ok := s.byName[f.Device].(*thermometer)
		if sd := s.sub(f.Device); sd != nil && sd.thermo != nil {
			th, ok = sd.thermo, true
		}
		if !ok {
			return unknown
		}
		c := val(70)
		if c < -40 || c > 125 || math.IsNaN(c) {
			return fmt.Errorf("fault over-temperature: %w: value %v °C outside -40..125", ErrBadRequest, c)
		}
		th.overTempC = c
		return nil
	case FaultUnplug:
		p := s.pointOf(f.Device)
		if p == nil {
			return unknown
		}
		p.car = nil
		return nil
	case FaultEV:
		p := s.pointOf(f.Device)
		if p == nil {
			return unknown
		}
		code := val(1)
		if code < 1 || code > 65535 || code != math.Trunc(code) {
			return fmt.Errorf("fault ev-fault: %w: error code %v outside 1..65535", ErrBadRequest, code)
		}
		p.evFault = int(code)
		return nil
	case FaultReboot, FaultRefuseWrites, FaultIgnoreSetpoint:
		p := s.pointOf(f.Device)
		if p == nil {
			return unknown
		}
		switch f.Kind {
		case FaultReboot:
			p.ctl.reboot()
		case FaultRefuseWrites:
			p.ctl.refuseWrites = true
		default:
			p.ctl.ignoreSetpoint = true
		}
		return nil
	case FaultReversedCT:
		m, ok := s.byName[f.Device].(*sdmMeter)
		if !ok {
			return unknown
		}
		ph := val(1)
		if ph != 1 && ph != 2 && ph != 3 {
			return fmt.Errorf("fault reversed-ct: %w: phase %v, want 1, 2 or 3", ErrBadRequest, ph)
		}
		m.reversed[int(ph)-1] = true
		return nil
	case FaultClear:
		if f.Device == "" || f.Device == "*" {
			for _, d := range s.devices {
				s.clear(d)
			}
			for _, sd := range s.subs {
				sd.spd = false
			}
			return nil
		}
		if sd := s.sub(f.Device); sd != nil {
			sd.spd = false
			return nil
		}
		d := s.byName[f.Device]
		if d == nil {
			return unknown
		}
		s.clear(d)
		return nil
	}
	return fmt.Errorf("fault: %w: unknown kind %q", ErrBadRequest, f.Kind)
}

// clear removes a device's faults. Call with mu held.
func (s *Sim) clear(d device) {
	b := d.base()
	b.offline, b.slow = false, 0
	switch d := d.(type) {
	case *sdmMeter:
		d.frozen, d.reversed = false, [3]bool{}
	case *ocmfMeter:
		d.frozen = false
	case *diModule:
		d.fireOpen, d.wireBreak = false, false
	case *thermometer:
		d.overTempC = math.NaN()
	case *controller:
		d.p.evFault = 0
		d.refuseWrites, d.ignoreSetpoint = false, false
	}
}

func (s *Sim) sub(name string) *subDist {
	for _, sd := range s.subs {
		if sd.name == name {
			return sd
		}
	}
	return nil
}

// pointOf finds a point by its name (= its controller's name).
func (s *Sim) pointOf(name string) *point { return s.pointByNm[name] }

// PlugCar connects a car to a charge point; it stays until unplugged.
func (s *Sim) PlugCar(pointName string, c Car) error {
	if c.Phases == 0 {
		c.Phases = 3
	}
	if c.MaxA == 0 {
		c.MaxA = 16
	}
	if c.BatteryWh == 0 {
		c.BatteryWh = 60000
	}
	if c.SocPct == 0 {
		c.SocPct = 20
	}
	switch {
	case c.Phases != 1 && c.Phases != 3:
		return fmt.Errorf("plug car: %w: phases %d, want 1 or 3", ErrBadRequest, c.Phases)
	case c.MaxA < 6 || c.MaxA > 63:
		return fmt.Errorf("plug car: %w: maxA %d outside 6..63", ErrBadRequest, c.MaxA)
	case c.BatteryWh < 1000 || c.BatteryWh > 1_000_000:
		return fmt.Errorf("plug car: %w: batteryWh %d outside 1000..1000000", ErrBadRequest, c.BatteryWh)
	case c.SocPct < 0 || c.SocPct > 100 || math.IsNaN(c.SocPct):
		return fmt.Errorf("plug car: %w: socPct %v outside 0..100", ErrBadRequest, c.SocPct)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pointOf(pointName)
	if p == nil {
		return fmt.Errorf("plug car: %w %q", ErrUnknownDevice, pointName)
	}
	if p.car != nil {
		return fmt.Errorf("plug car at %s: %w", pointName, ErrOccupied)
	}
	t := s.clockNow()
	s.advanceTo(t)
	p.car = &car{
		phases:    c.Phases,
		maxMA:     int64(c.MaxA) * 1000,
		batteryWh: c.BatteryWh,
		storedMJ:  int64(math.Round(c.SocPct / 100 * float64(c.BatteryWh) * 3_600_000)),
		arrived:   t,
		manual:    true,
	}
	s.dirty = true
	return nil
}

// UnplugCar disconnects the car at a charge point (no error when none).
func (s *Sim) UnplugCar(pointName string) error {
	return s.InjectFault(Fault{Device: pointName, Kind: FaultUnplug})
}
