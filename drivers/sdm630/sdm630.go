// Package sdm630 reads an Eastron SDM630 three-phase meter over Modbus.
//
// Register map (FC04 input registers, IEEE-754 float32, high word first,
// 2 registers per value; docs/registers.md):
//
//	0x0000 0x0002 0x0004  voltage L1 L2 L3 to N   V    → 0.1 V
//	0x0006 0x0008 0x000A  current L1 L2 L3        A    → mA
//	0x000C 0x000E 0x0010  active power L1 L2 L3   W    → W
//	0x0034                total active power      W    → W
//	0x0046                frequency               Hz   → mHz
//	0x0048                import active energy    kWh  → Wh
//	0x0156                total active energy     kWh  → Wh
//
// Sample reads 0x0000..0x004F in one request of 80 registers; the total
// energy at 0x0156 needs a second read (TotalWh).
//
// Rounding: each float is widened to float64 exactly, multiplied by the
// unit factor (10, 1000 or 1; exact in float64 for every float32) and
// rounded to the nearest integer, halves away from zero (math.Round). So
// 0.0625 kWh is 63 Wh and -0.0625 kWh is -63 Wh. NaN, ±Inf and values whose
// magnitude exceeds 2^53 in the target unit are decoding errors naming the
// register and its raw words.
package sdm630

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/parkgrid/parkgrid/drivers"
)

// Registers is what the meter needs from a Modbus bus.
type Registers interface {
	ReadInputRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
}

// Register addresses.
const (
	RegVoltageL1   uint16 = 0x0000
	RegCurrentL1   uint16 = 0x0006
	RegPowerL1     uint16 = 0x000C
	RegTotalPower  uint16 = 0x0034
	RegFrequency   uint16 = 0x0046
	RegImportKWh   uint16 = 0x0048
	RegTotalKWh    uint16 = 0x0156
	BlockRegisters uint16 = 80 // 0x0000..0x004F, read by Sample
)

// Meter is one SDM630 on a bus.
type Meter struct {
	name string
	unit uint8
	regs Registers
}

// New returns the meter called name (used in errors) at unit on regs.
func New(name string, regs Registers, unit uint8) *Meter {
	return &Meter{name: name, unit: unit, regs: regs}
}

var (
	_ drivers.Meter       = (*Meter)(nil)
	_ drivers.EnergyMeter = (*Meter)(nil)
)

func (m *Meter) read(ctx context.Context, addr, qty uint16) ([]byte, error) {
	b, err := m.regs.ReadInputRegisters(ctx, m.unit, addr, qty)
	if err != nil {
		return nil, fmt.Errorf("sdm630 %q: read 0x%04x+%d: %w", m.name, addr, qty, err)
	}
	if len(b) < 2*int(qty) {
		return nil, fmt.Errorf("sdm630 %q: read 0x%04x+%d: %w (%d of %d bytes)", m.name, addr, qty, drivers.ErrShortReply, len(b), 2*qty)
	}
	return b, nil
}

// Sample reads voltages, currents, powers, frequency and import energy in
// one request.
func (m *Meter) Sample(ctx context.Context) (drivers.MeterSample, error) {
	b, err := m.read(ctx, 0, BlockRegisters)
	if err != nil {
		return drivers.MeterSample{}, err
	}
	return Decode(m.name, b)
}

// EnergyWh reads the import energy counter (0x0048).
func (m *Meter) EnergyWh(ctx context.Context) (int64, error) {
	b, err := m.read(ctx, RegImportKWh, 2)
	if err != nil {
		return 0, err
	}
	return decodeValue(m.name, b, RegImportKWh, RegImportKWh, 1000)
}

// TotalWh reads the total active energy counter (0x0156).
func (m *Meter) TotalWh(ctx context.Context) (int64, error) {
	b, err := m.read(ctx, RegTotalKWh, 2)
	if err != nil {
		return 0, err
	}
	return decodeValue(m.name, b, RegTotalKWh, RegTotalKWh, 1000)
}

// Decode turns the 160 bytes of registers 0x0000..0x004F into a sample.
// name is the meter's name for errors.
func Decode(name string, b []byte) (drivers.MeterSample, error) {
	var s drivers.MeterSample
	if len(b) != 2*int(BlockRegisters) {
		return s, fmt.Errorf("sdm630 %q: registers 0x0000+%d: %w (%d of %d bytes)", name, BlockRegisters, drivers.ErrShortReply, len(b), 2*BlockRegisters)
	}
	var err error
	get := func(reg uint16, mul float64) int64 {
		if err != nil {
			return 0
		}
		var v int64
		v, err = decodeValue(name, b, 0, reg, mul)
		return v
	}
	for i := range 3 {
		s.VoltageDV[i] = get(RegVoltageL1+2*uint16(i), 10)
		s.CurrentMA[i] = get(RegCurrentL1+2*uint16(i), 1000)
		s.PhasePowerW[i] = get(RegPowerL1+2*uint16(i), 1)
	}
	s.PowerW = get(RegTotalPower, 1)
	s.FrequencyMilliHz = get(RegFrequency, 1000)
	s.ImportWh = get(RegImportKWh, 1000)
	if err != nil {
		return drivers.MeterSample{}, err
	}
	s.Has = drivers.HasPhasePower | drivers.HasFrequency
	return s, nil
}

// maxExact is the largest magnitude kept: integers beyond 2^53 are no
// longer exact in float64, and no meter value comes near.
const maxExact = 1 << 53

// decodeValue reads the float32 at register reg (offset from the block
// start base) and scales it by mul with the documented rounding.
func decodeValue(name string, b []byte, base, reg uint16, mul float64) (int64, error) {
	off := 2 * int(reg-base)
	raw := b[off : off+4]
	f := math.Float32frombits(binary.BigEndian.Uint32(raw))
	switch {
	case math.IsNaN(float64(f)):
		return 0, &drivers.DecodeError{Device: "sdm630", Name: name, Register: reg, Raw: raw, What: "NaN"}
	case math.IsInf(float64(f), 0):
		return 0, &drivers.DecodeError{Device: "sdm630", Name: name, Register: reg, Raw: raw, What: fmt.Sprintf("%v", f)}
	}
	v := roundScaled(f, mul)
	if math.Abs(v) > maxExact {
		return 0, &drivers.DecodeError{Device: "sdm630", Name: name, Register: reg, Raw: raw, What: fmt.Sprintf("%g out of range", f)}
	}
	return int64(v), nil
}

// roundScaled is the one conversion from a meter float to integer units:
// float64(f)*mul rounded to the nearest integer, halves away from zero. For
// mul 1, 10 and 1000 the product is exact, so the rounding is of the true
// value.
func roundScaled(f float32, mul float64) float64 {
	return math.Round(float64(f) * mul)
}
