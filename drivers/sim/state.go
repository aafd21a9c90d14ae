package sim

import (
	"math"
	"time"
)

// Stamp is a moment in simulated and in wall-clock time.
type Stamp struct {
	At   time.Time `json:"at"`   // simulated
	Wall time.Time `json:"wall"` // wall clock
}

// SetpointWrite is the last write of a value.
type SetpointWrite struct {
	Value int       `json:"value"`
	At    time.Time `json:"at"`   // simulated
	Wall  time.Time `json:"wall"` // wall clock
}

// Write is one Modbus write the simulator received.
type Write struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Wall   time.Time `json:"wall"`
	Device string    `json:"device"`
	Unit   int       `json:"unit"`
	// What: setpoint (528), enable (coil 400), identification, snapshot
	// (control register).
	What  string `json:"what"`
	Value int    `json:"value"`
}

// State is everything the simulator knows, as GET /api/state returns it.
type State struct {
	Time      time.Time         `json:"time"` // simulated
	Wall      time.Time         `json:"wall"`
	Speed     float64           `json:"speed"`
	Manual    bool              `json:"manual"`    // time moves only with Step (POST /api/step)
	Listeners map[string]string `json:"listeners"` // name → bound address (configured one when not started)
	// FireLoopOpenedAt is when the fire loop last went from healthy to open.
	FireLoopOpenedAt *Stamp        `json:"fireLoopOpenedAt,omitempty"`
	Grid             MeterState    `json:"grid"`
	DI               *DIState      `json:"di,omitempty"`
	Subs             []SubState    `json:"subDistributions"`
	Points           []PointState  `json:"points"`
	Devices          []DeviceState `json:"devices"`
	// Writes are the last 1024 writes, oldest first.
	Writes []Write `json:"writes"`
}

// MeterState is an SDM630's readings, as served.
type MeterState struct {
	Device      string     `json:"device"`
	VoltageV    [3]float64 `json:"voltageV"`
	CurrentA    [3]float64 `json:"currentA"`
	PowerW      [3]float64 `json:"powerW"`
	TotalPowerW float64    `json:"totalPowerW"`
	FrequencyHz float64    `json:"frequencyHz"`
	ImportWh    int64      `json:"importWh"` // as served (frozen when frozen)
	Frozen      bool       `json:"frozen"`
	BaseLoadW   [3]float64 `json:"baseLoadW,omitzero"` // grid meter only
}

// DIState is the DI module's inputs.
type DIState struct {
	Device      string `json:"device"`
	FireLoop    bool   `json:"fireLoop"`    // input 0: true = healthy
	Supervision bool   `json:"supervision"` // input 1: true = intact
	Inputs      []bool `json:"inputs"`      // inputs 0..15
}

// SubState is a sub-distribution.
type SubState struct {
	Name         string      `json:"name"`
	SPDInput     int         `json:"spdInput"`
	SPDTripped   bool        `json:"spdTripped"`
	Meter        *MeterState `json:"meter,omitempty"`
	Thermometer  string      `json:"thermometer,omitempty"`
	TemperatureC *float64    `json:"temperatureC,omitempty"` // as served
	HumidityPct  float64     `json:"humidityPct"`
	CurrentA     [3]float64  `json:"currentA"` // per grid phase
	Points       []string    `json:"points"`
}

// PointState is a charge point.
type PointState struct {
	Name       string `json:"name"`
	Sub        string `json:"sub"`
	Rotation   string `json:"rotation"`
	Controller string `json:"controller"` // device names
	Meter      string `json:"meter"`
	State      string `json:"state"` // IEC 61851 A, B, C, F
	ErrorCode  int    `json:"errorCode"`
	Enabled    bool   `json:"enabled"`
	SetpointA  int    `json:"setpointA"` // holding 528
	// Faults on the controller (see FaultReboot and the others).
	RefusesWrites   bool           `json:"refusesWrites,omitempty"`
	IgnoresSetpoint bool           `json:"ignoresSetpoint,omitempty"`
	OfferedA        int            `json:"offeredA"`
	HWMaxA          int            `json:"hwMaxA"`
	CurrentA        [3]float64     `json:"currentA"` // per charger phase
	PowerW          int64          `json:"powerW"`
	EnergyWh        int64          `json:"energyWh"` // true counter (the meter may be frozen)
	Car             *CarState      `json:"car,omitempty"`
	LastSetpoint    *SetpointWrite `json:"lastSetpoint,omitempty"`
	SetpointWrites  int            `json:"setpointWrites"`
	LastEnable      *SetpointWrite `json:"lastEnable,omitempty"`
	Snapshots       uint64         `json:"snapshots"`
	PublicKeyDER    []byte         `json:"publicKeyDER"` // base64 in JSON
}

// CarState is a connected car.
type CarState struct {
	Phases    int        `json:"phases"`
	MaxA      int        `json:"maxA"`
	BatteryWh int64      `json:"batteryWh"`
	SocPct    float64    `json:"socPct"`
	Arrived   time.Time  `json:"arrived"`
	Departs   *time.Time `json:"departs,omitempty"`
	Manual    bool       `json:"manual"`
}

// DeviceState is one Modbus unit.
type DeviceState struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // sdm630, eichrecht, phoenix, di, xymd02
	Listener string `json:"listener"`
	Addr     string `json:"addr"`
	Unit     int    `json:"unit"`
	Offline  bool   `json:"offline"`
	SlowMs   int64  `json:"slowMs,omitempty"`
	Frozen   bool   `json:"frozen,omitempty"`
}

// State returns a snapshot of everything.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := map[string]string{}
	for name := range s.tables {
		if a := s.bound[name]; a != "" {
			addrs[name] = a
		} else {
			addrs[name] = s.cfg.listenerAddr(name)
		}
	}
	t := s.clockNow()
	s.advanceTo(t)
	s.recompute(t)
	st := State{Time: t, Wall: s.wall(), Speed: s.cfg.Speed, Listeners: addrs, FireLoopOpenedAt: s.fireOpenedAt}
	st.Manual = s.manual
	st.Grid = s.meterState(s.gridMeter)
	st.Grid.BaseLoadW = s.grid.baseW
	if s.di != nil {
		in := s.di.inputs(s)
		st.DI = &DIState{Device: s.di.name, FireLoop: in[diFireLoop], Supervision: in[diSupervision], Inputs: in[:]}
	}
	for _, sd := range s.subs {
		ss := SubState{Name: sd.name, SPDInput: diFirstSPD + sd.index, SPDTripped: sd.spd, HumidityPct: sd.humidityPc, CurrentA: roundA(sd.currentA)}
		if sd.meter != nil {
			m := s.meterState(sd.meter)
			ss.Meter = &m
		}
		if sd.thermo != nil {
			ss.Thermometer = sd.thermo.name
			c := math.Round(sd.thermo.tempC()*10) / 10
			ss.TemperatureC = &c
		}
		for _, p := range sd.points {
			ss.Points = append(ss.Points, p.name)
		}
		st.Subs = append(st.Subs, ss)
	}
	for _, p := range s.points {
		ps := PointState{
			Name: p.name, Sub: p.sub.name, Rotation: p.rotation, Controller: p.ctl.name, Meter: p.meter.name,
			State: string(rune(p.state)), ErrorCode: p.evFault, Enabled: p.ctl.enabled,
			SetpointA: p.ctl.setpointA, OfferedA: p.offeredA(t), HWMaxA: p.hwMaxA,
			RefusesWrites: p.ctl.refuseWrites, IgnoresSetpoint: p.ctl.ignoreSetpoint,
			PowerW: p.powerTotW, EnergyWh: p.energy.Wh(),
			LastSetpoint: p.ctl.lastSetpoint, SetpointWrites: p.ctl.setpointWrites, LastEnable: p.ctl.lastEnable,
			Snapshots: p.meter.pages, PublicKeyDER: p.meter.pubDER,
		}
		for i, ma := range p.currentMA {
			ps.CurrentA[i] = float64(ma) / 1000
		}
		if c := p.car; c != nil {
			ps.Car = &CarState{Phases: c.phases, MaxA: int(c.maxMA / 1000), BatteryWh: c.batteryWh,
				SocPct: math.Round(c.socPct()*100) / 100, Arrived: c.arrived, Manual: c.manual}
			if !c.departs.IsZero() {
				d := c.departs
				ps.Car.Departs = &d
			}
		}
		st.Points = append(st.Points, ps)
	}
	for _, d := range s.devices {
		b := d.base()
		ds := DeviceState{Name: b.name, Kind: b.kind, Listener: b.listener, Addr: addrs[b.listener], Unit: int(b.unit),
			Offline: b.offline, SlowMs: b.slow.Milliseconds()}
		switch d := d.(type) {
		case *sdmMeter:
			ds.Frozen = d.frozen
		case *ocmfMeter:
			ds.Frozen = d.frozen
		}
		st.Devices = append(st.Devices, ds)
	}
	n := len(s.writes)
	st.Writes = make([]Write, 0, n)
	if n < writeLogSize {
		st.Writes = append(st.Writes, s.writes...)
	} else {
		i := int(s.writeSeq % writeLogSize)
		st.Writes = append(append(st.Writes, s.writes[i:]...), s.writes[:i]...)
	}
	return st
}

// meterState reports an SDM630's values as its registers serve them
// (float32), rounded for reading.
func (s *Sim) meterState(m *sdmMeter) MeterState {
	v := m.values(s)
	ms := MeterState{Device: m.name, VoltageV: v.voltage, CurrentA: roundA(v.current), FrequencyHz: v.freq,
		TotalPowerW: v.totalW, ImportWh: v.importWh, Frozen: m.frozen}
	for i := range 3 {
		ms.PowerW[i] = math.Round(v.power[i]*10) / 10
	}
	return ms
}

func roundA(a [3]float64) [3]float64 {
	for i := range a {
		a[i] = math.Round(a[i]*1000) / 1000
	}
	return a
}
