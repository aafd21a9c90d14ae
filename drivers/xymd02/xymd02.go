// Package xymd02 reads an XY-MD02 temperature/humidity sensor (RTU) over
// Modbus.
//
// Register map (FC04 input registers; docs/registers.md):
//
//	0x0001  temperature, 0.1 °C, int16 two's complement
//	0x0002  relative humidity, 0.1 %
//
// Both are read in one request. A temperature outside -40.0..125.0 °C (the
// sensor's range) or a humidity above 100.0 % is a decoding error: a broken
// probe must not read as a plausible value.
package xymd02

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/parkgrid/parkgrid/drivers"
)

// Registers is what the sensor needs from a Modbus bus.
type Registers interface {
	ReadInputRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
}

// Register addresses and limits.
const (
	RegTemperature uint16 = 0x0001
	RegHumidity    uint16 = 0x0002
	MinDeciC              = -400
	MaxDeciC              = 1250
	MaxPermille           = 1000
)

// Reading is one measurement.
type Reading struct {
	TemperatureDeciC int64 // 0.1 °C
	HumidityPermille int64 // relative humidity, 0.1 %
}

// Sensor is one XY-MD02 on a bus.
type Sensor struct {
	name string
	unit uint8
	regs Registers
}

var _ drivers.Thermometer = (*Sensor)(nil)

// New returns the sensor called name (used in errors) at unit on regs.
func New(name string, regs Registers, unit uint8) *Sensor {
	return &Sensor{name: name, unit: unit, regs: regs}
}

// Read reads temperature and humidity in one request.
func (s *Sensor) Read(ctx context.Context) (Reading, error) {
	b, err := s.regs.ReadInputRegisters(ctx, s.unit, RegTemperature, 2)
	if err != nil {
		return Reading{}, fmt.Errorf("xymd02 %q: read 0x%04x+2: %w", s.name, RegTemperature, err)
	}
	return Decode(s.name, b)
}

// TemperatureDeciC reads the temperature in 0.1 °C.
func (s *Sensor) TemperatureDeciC(ctx context.Context) (int64, error) {
	r, err := s.Read(ctx)
	return r.TemperatureDeciC, err
}

// Decode decodes registers 0x0001..0x0002 (4 bytes).
func Decode(name string, b []byte) (Reading, error) {
	if len(b) != 4 {
		return Reading{}, fmt.Errorf("xymd02 %q: read 0x%04x+2: %w (%d of 4 bytes)", name, RegTemperature, drivers.ErrShortReply, len(b))
	}
	t := int64(int16(binary.BigEndian.Uint16(b)))
	if t < MinDeciC || t > MaxDeciC {
		return Reading{}, &drivers.DecodeError{Device: "xymd02", Name: name, Register: RegTemperature, Raw: b[:2], What: fmt.Sprintf("temperature %d.%d °C outside -40.0..125.0", t/10, abs(t%10))}
	}
	h := int64(binary.BigEndian.Uint16(b[2:]))
	if h > MaxPermille {
		return Reading{}, &drivers.DecodeError{Device: "xymd02", Name: name, Register: RegHumidity, Raw: b[2:4], What: fmt.Sprintf("humidity %d.%d %% above 100.0", h/10, h%10)}
	}
	return Reading{TemperatureDeciC: t, HumidityPermille: h}, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
