// Package phoenix steers a Phoenix Contact EV-CC-AC1-M3 / EV-ETH family
// charge controller (EV-CC-AC1-M3-CBC-RCM-ETH, -ETH-3G, -RCM-ETH-XP,
// -RCM-ETH-3G-XP, OEM firmware) over Modbus TCP.
//
// Register map: the one evcc uses for this family (evcc-io/evcc
// charger/phoenix-ev-eth.go; docs/registers.md cites it per register).
// Unit 255 on real hardware. 32-bit values are low word first.
//
//	input    100      IEC 61851 state letter, ASCII code in the low byte
//	input    102–103  charge time, s (uint32)
//	input    105–106  firmware version, ASCII, low byte first
//	input    108–113  voltage L1..L3, V (int32 each)
//	input    114–119  current L1..L3, A (int32 each)
//	input    120–121  active power, W (int32)
//	coil     400      enable charging (1 on, 0 off)
//	holding  528      max charging current, A (6..63)
//	holding  904–905  energy, Wh (uint32)
//
// The driver reads only these and writes only coil 400 and holding 528.
// The map has no fault-code register, no 0 A setting and no communication
// watchdog or fallback current, so:
//
//   - SetMaxCurrentA(0) pauses through the enable (coil 400 = 0), the stop
//     evcc uses; 1..5 A and anything above 63 A are refused with
//     drivers.ErrRange before anything is written;
//   - Controller does not implement drivers.Failsafe: a controller that
//     loses the edge keeps its last setpoint (docs/failsafe.md).
//
// Firmware modified by Wallbe/Compleo counts holding 528 in 0.1 A; evcc
// detects it by a value of 60 or more. This driver speaks the OEM map only:
// a read-back above 63 A is a decoding error, never taken for amperes.
package phoenix

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

// Registers is what the controller needs from a Modbus bus.
type Registers interface {
	ReadInputRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
	ReadHoldingRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
	ReadCoils(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
	WriteSingleCoil(ctx context.Context, unit uint8, addr uint16, on bool) error
	WriteSingleRegister(ctx context.Context, unit uint8, addr, value uint16) error
}

// Register addresses and value ranges (see the package doc).
const (
	RegState      uint16 = 100 // input, 1 register
	RegChargeTime uint16 = 102 // input, 2 registers
	RegFirmware   uint16 = 105 // input, 2 registers
	RegVoltages   uint16 = 108 // input, 6 registers
	RegCurrents   uint16 = 114 // input, 6 registers
	RegPower      uint16 = 120 // input, 2 registers
	CoilEnable    uint16 = 400
	RegMaxA       uint16 = 528 // holding, 1 register
	RegEnergyWh   uint16 = 904 // holding, 2 registers

	// measureRegs is the block 108..121: voltages, currents, power.
	measureRegs uint16 = 14

	MinCurrentA = 6
	MaxCurrentA = 63
)

// Controller is one charge controller on a bus.
type Controller struct {
	name string
	unit uint8
	regs Registers
}

var (
	_ drivers.Charger = (*Controller)(nil)
	_ drivers.Meter   = (*Controller)(nil)
)

// New returns the controller called name (used in errors) at unit on regs.
func New(name string, regs Registers, unit uint8) *Controller {
	return &Controller{name: name, unit: unit, regs: regs}
}

func (c *Controller) errorf(format string, args ...any) error {
	return fmt.Errorf("phoenix %q: "+format, append([]any{c.name}, args...)...)
}

// read reads n registers of table ("input" or "holding") at addr and checks
// the length.
func (c *Controller) read(ctx context.Context, table string, addr, n uint16) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if table == "input" {
		b, err = c.regs.ReadInputRegisters(ctx, c.unit, addr, n)
	} else {
		b, err = c.regs.ReadHoldingRegisters(ctx, c.unit, addr, n)
	}
	if err != nil {
		return nil, c.errorf("read %s %d+%d: %w", table, addr, n, err)
	}
	if len(b) != 2*int(n) {
		return nil, c.errorf("read %s %d+%d: %w (%d of %d bytes)", table, addr, n, drivers.ErrShortReply, len(b), 2*n)
	}
	return b, nil
}

// Status reads the state (input 100), the current limit (holding 528) and
// the enable (coil 400): three requests, all of them registers of the
// vendor map, so that what the edge commanded is read back from the
// controller.
func (c *Controller) Status(ctx context.Context) (drivers.ChargerStatus, error) {
	b, err := c.read(ctx, "input", RegState, 1)
	if err != nil {
		return drivers.ChargerStatus{}, err
	}
	state, err := DecodeState(c.name, b)
	if err != nil {
		return drivers.ChargerStatus{}, err
	}
	if b, err = c.read(ctx, "holding", RegMaxA, 1); err != nil {
		return drivers.ChargerStatus{}, err
	}
	maxA, err := DecodeMaxCurrent(c.name, b)
	if err != nil {
		return drivers.ChargerStatus{}, err
	}
	bits, err := c.regs.ReadCoils(ctx, c.unit, CoilEnable, 1)
	if err != nil {
		return drivers.ChargerStatus{}, c.errorf("read coil %d: %w", CoilEnable, err)
	}
	if len(bits) < 1 {
		return drivers.ChargerStatus{}, c.errorf("read coil %d: %w (0 of 1 bytes)", CoilEnable, drivers.ErrShortReply)
	}
	on := bits[0]&1 == 1
	return drivers.ChargerStatus{State: state, Enabled: on, MaxCurrentA: maxA, OfferedA: drivers.OfferedA(on, maxA)}, nil
}

// DecodeState decodes input register 100 (2 bytes): the state letter's
// ASCII code in the low byte, the high byte 0.
func DecodeState(name string, b []byte) (drivers.ChargeState, error) {
	if len(b) != 2 {
		return 0, fmt.Errorf("phoenix %q: read input %d+1: %w (%d of 2 bytes)", name, RegState, drivers.ErrShortReply, len(b))
	}
	state := drivers.ChargeState(b[1])
	if b[0] != 0 || !state.Valid() {
		return 0, &drivers.DecodeError{Device: "phoenix", Name: name, Register: RegState, Raw: b, What: "state is not an ASCII letter A..F"}
	}
	return state, nil
}

// DecodeMaxCurrent decodes holding register 528 (2 bytes), A. A value above
// 63 is refused: Wallbe/Compleo firmware counts 0.1 A there.
func DecodeMaxCurrent(name string, b []byte) (int, error) {
	if len(b) != 2 {
		return 0, fmt.Errorf("phoenix %q: read holding %d+1: %w (%d of 2 bytes)", name, RegMaxA, drivers.ErrShortReply, len(b))
	}
	a := binary.BigEndian.Uint16(b)
	if a > MaxCurrentA {
		return 0, &drivers.DecodeError{Device: "phoenix", Name: name, Register: RegMaxA, Raw: b,
			What: fmt.Sprintf("max current %d above %d A (0.1 A firmware is not supported)", a, MaxCurrentA)}
	}
	return int(a), nil
}

// Uint32LowWordFirst decodes 4 bytes of a 32-bit value sent low word
// first, as this map sends every 32-bit value.
func Uint32LowWordFirst(b []byte) uint32 { return uint32LSW(b) }

// uint32LSW decodes a 32-bit value sent low word first.
func uint32LSW(b []byte) uint32 {
	return uint32(binary.BigEndian.Uint16(b[2:]))<<16 | uint32(binary.BigEndian.Uint16(b))
}

// ChargeTime reads input registers 102–103: how long the controller has
// been charging, whole seconds.
func (c *Controller) ChargeTime(ctx context.Context) (time.Duration, error) {
	b, err := c.read(ctx, "input", RegChargeTime, 2)
	if err != nil {
		return 0, err
	}
	return time.Duration(uint32LSW(b)) * time.Second, nil
}

// Firmware reads input registers 105–106: four ASCII characters, low byte
// of each register first (as evcc reads them).
func (c *Controller) Firmware(ctx context.Context) (string, error) {
	b, err := c.read(ctx, "input", RegFirmware, 2)
	if err != nil {
		return "", err
	}
	out := make([]byte, 0, 4)
	for _, ch := range []byte{b[1], b[0], b[3], b[2]} {
		if ch == 0 {
			break
		}
		if ch < 0x20 || ch > 0x7e {
			return "", &drivers.DecodeError{Device: "phoenix", Name: c.name, Register: RegFirmware, Raw: b, What: "firmware is not printable ASCII"}
		}
		out = append(out, ch)
	}
	return string(out), nil
}

// Sample reads the controller's own meter: input 108..121 (voltages,
// currents, power) and holding 904–905 (energy). Units as evcc reads them:
// V, A, W and Wh. A controller without a meter reads 0 V on L1.
func (c *Controller) Sample(ctx context.Context) (drivers.MeterSample, error) {
	b, err := c.read(ctx, "input", RegVoltages, measureRegs)
	if err != nil {
		return drivers.MeterSample{}, err
	}
	s, err := DecodeMeasurements(c.name, b)
	if err != nil {
		return drivers.MeterSample{}, err
	}
	if b, err = c.read(ctx, "holding", RegEnergyWh, 2); err != nil {
		return drivers.MeterSample{}, err
	}
	s.ImportWh = int64(uint32LSW(b))
	return s, nil
}

// DecodeMeasurements decodes input registers 108..121 (28 bytes): voltage,
// current L1..L3 and active power, each an int32 low word first, in V, A
// and W.
func DecodeMeasurements(name string, b []byte) (drivers.MeterSample, error) {
	if len(b) != 2*int(measureRegs) {
		return drivers.MeterSample{}, fmt.Errorf("phoenix %q: read input %d+%d: %w (%d of %d bytes)", name, RegVoltages, measureRegs, drivers.ErrShortReply, len(b), 2*measureRegs)
	}
	val := func(i int) int64 { return int64(int32(uint32LSW(b[4*i:]))) }
	var s drivers.MeterSample
	for ph := range 3 {
		v, a := val(ph), val(3+ph)
		if v < 0 || v > 1000 {
			return drivers.MeterSample{}, &drivers.DecodeError{Device: "phoenix", Name: name, Register: RegVoltages + uint16(2*ph), Raw: b[4*ph : 4*ph+4], What: fmt.Sprintf("voltage %d V outside 0..1000 V", v)}
		}
		if a < -1000 || a > 1000 {
			return drivers.MeterSample{}, &drivers.DecodeError{Device: "phoenix", Name: name, Register: RegCurrents + uint16(2*ph), Raw: b[12+4*ph : 16+4*ph], What: fmt.Sprintf("current %d A outside ±1000 A", a)}
		}
		s.VoltageDV[ph] = v * 10
		s.CurrentMA[ph] = a * 1000
	}
	s.PowerW = val(6)
	return s, nil
}

// SetEnabled switches charging on or off (coil 400).
func (c *Controller) SetEnabled(ctx context.Context, on bool) error {
	if err := c.regs.WriteSingleCoil(ctx, c.unit, CoilEnable, on); err != nil {
		return c.errorf("write coil %d=%t: %w", CoilEnable, on, err)
	}
	return nil
}

// CheckCurrentA reports whether a is a valid setpoint: 0 or 6..63 A.
func CheckCurrentA(a int) error {
	if a != 0 && (a < MinCurrentA || a > MaxCurrentA) {
		return fmt.Errorf("%d A: %w (0 or %d..%d A)", a, drivers.ErrRange, MinCurrentA, MaxCurrentA)
	}
	return nil
}

// SetMaxCurrentA writes the charging current limit (holding 528, 6..63 A);
// 0 pauses charging through the enable (coil 400 = 0), since the map has
// no 0 A setting. Anything else is refused before any write.
func (c *Controller) SetMaxCurrentA(ctx context.Context, a int) error {
	if err := CheckCurrentA(a); err != nil {
		return c.errorf("register %d: max current %w", RegMaxA, err)
	}
	if a == 0 {
		if err := c.regs.WriteSingleCoil(ctx, c.unit, CoilEnable, false); err != nil {
			return c.errorf("pause: write coil %d=false: %w", CoilEnable, err)
		}
		return nil
	}
	if err := c.regs.WriteSingleRegister(ctx, c.unit, RegMaxA, uint16(a)); err != nil {
		return c.errorf("write %d=%d: %w", RegMaxA, a, err)
	}
	return nil
}
