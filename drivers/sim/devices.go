package sim

import (
	"crypto/ecdsa"
	"encoding/binary"
	"math"
	"time"

	"github.com/parkgrid/parkgrid/drivers/sim/internal/mbserver"
)

// Device kinds, as reported by the control API.
const (
	KindSDM630    = "sdm630"
	KindEichrecht = "eichrecht"
	KindPhoenix   = "phoenix"
	KindDI        = "di"
	KindXYMD02    = "xymd02"
)

// devBase is what every simulated Modbus device has.
type devBase struct {
	name     string
	kind     string
	listener string
	unit     uint8
	offline  bool          // fault: no reply at all
	slow     time.Duration // fault: reply this late (wall time)
}

func (d *devBase) base() *devBase { return d }

// device serves the register map of one unit id. serve runs with Sim.mu
// held, at simulated time t.
type device interface {
	base() *devBase
	serve(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply
}

func exception(code byte) mbserver.Reply { return mbserver.Reply{Exception: code} }

// regsFrom fills a register read from a function of the address.
func regsFrom(req *mbserver.Request, lo, hi uint16, reg func(a uint16) uint16) mbserver.Reply {
	if req.Addr < lo || int(req.Addr)+int(req.Quantity)-1 > int(hi) {
		return exception(mbserver.IllegalDataAddress)
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		out[i] = reg(req.Addr + uint16(i))
	}
	return mbserver.Reply{Registers: out}
}

// ---- SDM630 ----

// sdm630 is a 3-phase meter: the grid connection's or a sub-distribution's.
type sdmMeter struct {
	devBase
	sub      *subDist // nil: the grid meter
	frozen   bool     // fault: energy registers stop
	frozenWh int64
	reversed [3]bool // fault: the phase's current transformer is reversed
}

// sdmValues are the meter's readings in SI units.
type sdmValues struct {
	voltage, current, power [3]float64
	totalW                  float64
	freq                    float64
	importWh                int64
}

func (m *sdmMeter) values(s *Sim) sdmValues {
	v := sdmValues{voltage: s.voltage, freq: s.freq}
	if m.sub == nil {
		v.current, v.power, v.totalW, v.importWh = s.grid.currentA, s.grid.powerW, float64(s.grid.powerTotW), s.grid.energy.Wh()
	} else {
		v.current, v.power, v.totalW, v.importWh = m.sub.currentA, m.sub.powerW, float64(m.sub.powerTotW), m.sub.energy.Wh()
	}
	if m.frozen {
		v.importWh = m.frozenWh
	}
	for ph, r := range m.reversed {
		if r {
			v.totalW -= 2 * v.power[ph]
			v.current[ph], v.power[ph] = -v.current[ph], -v.power[ph]
		}
	}
	return v
}

func (m *sdmMeter) serve(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply {
	if req.Function != mbserver.ReadInputRegisters {
		return exception(mbserver.IllegalFunction)
	}
	s.refresh(t)
	v := m.values(s)
	kWh := float64(v.importWh) / 1000
	return regsFrom(req, 0, 0x01FF, func(a uint16) uint16 {
		var f float64
		switch a &^ 1 {
		case 0x00, 0x02, 0x04:
			f = v.voltage[a/2]
		case 0x06, 0x08, 0x0A:
			f = v.current[(a-0x06)/2]
		case 0x0C, 0x0E, 0x10:
			f = v.power[(a-0x0C)/2]
		case 0x34:
			f = v.totalW
		case 0x46:
			f = v.freq
		case 0x48, 0x156:
			f = kWh
		}
		bits := math.Float32bits(float32(f))
		if a&1 == 0 {
			return uint16(bits >> 16) // high word first
		}
		return uint16(bits)
	})
}

// ---- Phoenix charge controller ----

// Phoenix EV-ETH register addresses: the map evcc uses
// (charger/phoenix-ev-eth.go), and nothing else (docs/registers.md).
const (
	regState      = 100 // input: state letter in the low byte
	regChargeTime = 102 // input, 2: charge time, s, uint32 low word first
	regFirmware   = 105 // input, 2: firmware, ASCII, low byte first
	regVoltages   = 108 // input, 6: V L1..L3, int32 low word first
	regCurrents   = 114 // input, 6: A L1..L3, int32 low word first
	regPower      = 120 // input, 2: W, int32 low word first
	coilEnable    = 400
	regMaxA       = 528 // holding: max charging current, A (6..63)
	phxEnergyWh   = 904 // holding, 2: Wh, uint32 low word first
)

// simFirmware is what input 105–106 read: "SIM1", low byte first.
var simFirmware = [2]uint16{'I'<<8 | 'S', '1'<<8 | 'M'}

// phoenixInput reports whether an input register is in the vendor map.
func phoenixInput(a uint16) bool {
	return a == regState || (a >= regChargeTime && a <= regChargeTime+1) ||
		(a >= regFirmware && a <= regFirmware+1) || (a >= regVoltages && a <= regPower+1)
}

// controller is a Phoenix EV-CC-AC1-M3 / EV-ETH charge controller.
type controller struct {
	devBase
	p         *point
	enabled   bool
	setpointA int
	powerOn   ChargerConfig // what a reboot restores

	refuseWrites   bool // fault: writes answered with exception 04, reads work
	ignoreSetpoint bool // fault: the car draws its maximum whatever is offered

	lastSetpoint   *SetpointWrite
	setpointWrites int
	lastEnable     *SetpointWrite
}

// reboot puts the controller back to its power-on registers.
func (c *controller) reboot() {
	c.enabled, c.setpointA = *c.powerOn.Enabled, *c.powerOn.MaxCurrentA
}

func (c *controller) serve(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply {
	p := c.p
	switch req.Function {
	case mbserver.ReadInputRegisters:
		for i := range req.Quantity {
			if !phoenixInput(req.Addr + i) {
				return exception(mbserver.IllegalDataAddress)
			}
		}
		s.refresh(t)
		var chargeS uint32
		if p.car != nil {
			chargeS = uint32(max(0, t.Sub(p.car.arrived)/time.Second))
		}
		return regsFrom(req, regState, regPower+1, func(a uint16) uint16 {
			switch {
			case a == regState:
				return uint16(p.state)
			case a < regFirmware:
				return lowWordFirst(chargeS, a-regChargeTime)
			case a < regVoltages:
				return simFirmware[a-regFirmware]
			case a < regCurrents:
				i := (a - regVoltages) / 2
				return lowWordFirst(uint32(int32(math.Round(s.voltage[p.gridOf[i]]))), (a-regVoltages)%2)
			case a < regPower:
				i := (a - regCurrents) / 2
				return lowWordFirst(uint32(int32((p.currentMA[i]+500)/1000)), (a-regCurrents)%2)
			default:
				return lowWordFirst(uint32(int32(p.powerTotW)), a-regPower)
			}
		})
	case mbserver.ReadCoils:
		if req.Addr != coilEnable || req.Quantity != 1 {
			return exception(mbserver.IllegalDataAddress)
		}
		return mbserver.Reply{Bits: []bool{c.enabled}}
	case mbserver.ReadHoldingRegisters:
		first, last := req.Addr, int(req.Addr)+int(req.Quantity)-1
		switch {
		case first == regMaxA && last == regMaxA:
			return mbserver.Reply{Registers: []uint16{uint16(c.setpointA)}}
		case first >= phxEnergyWh && last <= phxEnergyWh+1:
			s.refresh(t)
			wh := uint32(p.energy.Wh())
			return regsFrom(req, phxEnergyWh, phxEnergyWh+1, func(a uint16) uint16 { return lowWordFirst(wh, a-phxEnergyWh) })
		}
		return exception(mbserver.IllegalDataAddress)
	case mbserver.WriteSingleCoil:
		if req.Addr != coilEnable {
			return exception(mbserver.IllegalDataAddress)
		}
		if c.refuseWrites {
			return exception(mbserver.ServerDeviceFailure)
		}
		c.enabled = req.Bits[0]
		w := s.logWrite(t, c.name, c.unit, "enable", b2i(c.enabled))
		c.lastEnable = &w
		s.dirty = true
		return mbserver.Reply{}
	case mbserver.WriteSingleRegister:
		if req.Addr != regMaxA {
			return exception(mbserver.IllegalDataAddress)
		}
		if v := int(req.Registers[0]); v < 6 || v > 63 {
			return exception(mbserver.IllegalDataValue)
		}
		if c.refuseWrites {
			return exception(mbserver.ServerDeviceFailure)
		}
		c.setpointA = int(req.Registers[0])
		w := s.logWrite(t, c.name, c.unit, "setpoint", c.setpointA)
		c.lastSetpoint = &w
		c.setpointWrites++
		s.dirty = true
		return mbserver.Reply{}
	}
	return exception(mbserver.IllegalFunction)
}

// lowWordFirst returns word i (0 low, 1 high) of v: the word order of
// 32-bit values in the Phoenix map.
func lowWordFirst(v uint32, i uint16) uint16 {
	if i == 0 {
		return uint16(v)
	}
	return uint16(v >> 16)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- Eichrecht meter ----

// Eichrecht register addresses (holding).
const (
	regEnergyWh   = 0x0000
	regPowerW     = 0x0004
	regCurrentMA  = 0x0006
	regVoltageDV  = 0x000C
	regSnapCtl    = 0x0010
	regSnapLen    = 0x0011
	regSnapCount  = 0x0012
	regIdent      = 0x0014
	identRegs     = 32
	regPubKeyLen  = 0x0040
	regPubKey     = 0x0041
	pubKeyRegs    = 64
	regSnapshot   = 0x0100
	snapshotRegs  = 1024
	eichrechtLast = regSnapshot + snapshotRegs - 1
)

// Snapshot status values (register 0x0010 read).
const (
	snapIdle  = 0
	snapBusy  = 1
	snapReady = 2
	snapError = 3
)

// eichrecht is a meter that signs OCMF snapshots.
type ocmfMeter struct {
	devBase
	p        *point
	key      *ecdsa.PrivateKey
	pubDER   []byte
	serial   string
	frozen   bool
	frozenWh int64

	ident   [2 * identRegs]byte
	status  int
	readyAt time.Time // simulated; busy until then
	record  []byte    // the last snapshot
	pages   uint64    // snapshots taken (PG "T<pages>")
	txOpen  bool      // a begin without an end
}

func (m *ocmfMeter) energyWh() int64 {
	if m.frozen {
		return m.frozenWh
	}
	return m.p.energy.Wh()
}

func (m *ocmfMeter) snapStatus(t time.Time) int {
	if m.status == snapBusy && !t.Before(m.readyAt) {
		m.status = snapReady
	}
	return m.status
}

func (m *ocmfMeter) serve(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply {
	switch req.Function {
	case mbserver.ReadHoldingRegisters:
		s.refresh(t)
		return m.read(s, t, req)
	case mbserver.WriteSingleRegister, mbserver.WriteMultipleRegisters:
		return m.write(s, t, req)
	}
	return exception(mbserver.IllegalFunction)
}

func (m *ocmfMeter) read(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply {
	p := m.p
	var u64 [8]byte
	binary.BigEndian.PutUint64(u64[:], uint64(m.energyWh()))
	status := m.snapStatus(t)
	return regsFrom(req, 0, eichrechtLast, func(a uint16) uint16 {
		switch {
		case a < regPowerW:
			return binary.BigEndian.Uint16(u64[2*a:])
		case a < regCurrentMA:
			w := uint32(int32(p.powerTotW))
			return word32(w, a-regPowerW)
		case a < regVoltageDV:
			i := (a - regCurrentMA) / 2
			return word32(uint32(p.currentMA[i]), (a-regCurrentMA)%2)
		case a < regVoltageDV+3:
			return uint16(math.Round(s.voltage[p.gridOf[a-regVoltageDV]] * 10))
		case a == regSnapCtl:
			return uint16(status)
		case a == regSnapLen:
			if status != snapReady {
				return 0
			}
			return uint16(len(m.record))
		case a == regSnapCount:
			return uint16(m.pages) // wraps at 65535
		case a >= regIdent && a < regIdent+identRegs:
			return binary.BigEndian.Uint16(m.ident[2*(a-regIdent):])
		case a == regPubKeyLen:
			return uint16(len(m.pubDER))
		case a >= regPubKey && a < regPubKey+pubKeyRegs:
			return bytePair(m.pubDER, int(a-regPubKey))
		case a >= regSnapshot:
			if status != snapReady {
				return 0
			}
			return bytePair(m.record, int(a-regSnapshot))
		}
		return 0
	})
}

func word32(v uint32, i uint16) uint16 {
	if i == 0 {
		return uint16(v >> 16)
	}
	return uint16(v)
}

// bytePair returns bytes 2i and 2i+1 of b as a register, zero padded.
func bytePair(b []byte, i int) uint16 {
	var hi, lo byte
	if 2*i < len(b) {
		hi = b[2*i]
	}
	if 2*i+1 < len(b) {
		lo = b[2*i+1]
	}
	return uint16(hi)<<8 | uint16(lo)
}

func (m *ocmfMeter) write(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply {
	first, last := int(req.Addr), int(req.Addr)+int(req.Quantity)-1
	switch {
	case first >= regIdent && last < regIdent+identRegs:
		for i, v := range req.Registers {
			binary.BigEndian.PutUint16(m.ident[2*(first-regIdent+i):], v)
		}
		s.logWrite(t, m.name, m.unit, "identification", int(req.Quantity))
		return mbserver.Reply{}
	case first == regSnapCtl && last == regSnapCtl:
		v := req.Registers[0]
		var tx string
		switch v {
		case 1:
			tx = "B"
		case 2:
			tx = "E"
		case 3:
			tx = "C"
		default:
			return exception(mbserver.IllegalDataValue)
		}
		s.logWrite(t, m.name, m.unit, "snapshot", int(v))
		if m.snapStatus(t) == snapBusy {
			return exception(mbserver.ServerDeviceBusy)
		}
		if tx != "B" && !m.txOpen {
			m.status = snapError
			return mbserver.Reply{}
		}
		if err := m.snapshot(s, t, tx); err != nil {
			s.log.Error("sim: sign snapshot", "device", m.name, "err", err)
			m.status = snapError
			return mbserver.Reply{}
		}
		m.txOpen = tx != "E"
		m.status = snapBusy
		m.readyAt = t.Add(s.cfg.OCMF.SnapshotDelay)
		m.snapStatus(t)
		return mbserver.Reply{}
	}
	return exception(mbserver.IllegalDataAddress)
}

// ---- DI module ----

// Discrete inputs.
const (
	diFireLoop    = 0
	diSupervision = 1
	diFirstSPD    = 2
	diInputs      = 16
)

type diModule struct {
	devBase
	fireOpen  bool // fault: loop open (alarm)
	wireBreak bool // fault: supervision lost (and the loop reads open)
}

func (d *diModule) serve(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply {
	if req.Function != mbserver.ReadDiscreteInputs {
		return exception(mbserver.IllegalFunction)
	}
	if int(req.Addr)+int(req.Quantity) > diInputs {
		return exception(mbserver.IllegalDataAddress)
	}
	in := d.inputs(s)
	return mbserver.Reply{Bits: append([]bool(nil), in[req.Addr:req.Addr+req.Quantity]...)}
}

func (d *diModule) inputs(s *Sim) [diInputs]bool {
	var in [diInputs]bool
	in[diFireLoop] = !d.fireOpen && !d.wireBreak
	in[diSupervision] = !d.wireBreak
	for _, sd := range s.subs {
		in[diFirstSPD+sd.index] = !sd.spd
	}
	return in
}

// ---- XY-MD02 ----

type thermometer struct {
	devBase
	sub       *subDist
	ambientC  float64
	risePerA  float64
	overTempC float64 // fault: reads this; NaN when not injected
}

func (th *thermometer) tempC() float64 {
	if !math.IsNaN(th.overTempC) {
		return th.overTempC
	}
	return th.sub.tempC
}

func (th *thermometer) serve(s *Sim, t time.Time, req *mbserver.Request) mbserver.Reply {
	if req.Function != mbserver.ReadInputRegisters {
		return exception(mbserver.IllegalFunction)
	}
	return regsFrom(req, 0, 2, func(a uint16) uint16 {
		switch a {
		case 1:
			return uint16(int16(math.Round(th.tempC() * 10)))
		case 2:
			return uint16(math.Round(th.sub.humidityPc * 10))
		}
		return 0
	})
}
