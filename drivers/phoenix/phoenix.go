// Package phoenix steers a Phoenix Contact EV-CC-AC1-M3-style charge
// controller over Modbus.
//
// Register map (docs/registers.md; unit 255 on real hardware):
//
//	input    100  IEC 61851 state letter, ASCII code in the low byte ('A'..'F')
//	input    101  error/fault code (0 none)
//	input    102  current offered to the car right now (PWM), A
//	coil     400  enable charging (1 on, 0 off)
//	holding  528  max charging current, A (0 or 6..63)
//	holding  529  fallback current when the watchdog expires, A (0 or 6..63)
//	holding  530  communication watchdog timeout, s (0 = off); any request
//	              to the unit restarts it
//
// Setpoints outside 0 or 6..63 A are refused with drivers.ErrRange before
// anything is written: IEC 61851 has no 1..5 A.
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
	WriteSingleCoil(ctx context.Context, unit uint8, addr uint16, on bool) error
	WriteSingleRegister(ctx context.Context, unit uint8, addr, value uint16) error
	WriteMultipleRegisters(ctx context.Context, unit uint8, addr uint16, values []byte) error
}

// Register addresses.
const (
	RegState     uint16 = 100 // input
	RegErrorCode uint16 = 101 // input
	RegOfferedA  uint16 = 102 // input
	CoilEnable   uint16 = 400
	RegMaxA      uint16 = 528 // holding
	RegFallbackA uint16 = 529 // holding
	RegWatchdogS uint16 = 530 // holding
	MinCurrentA         = 6
	MaxCurrentA         = 63
	MaxWatchdog         = 65535 * time.Second
	statusRegs   uint16 = 3
)

// Controller is one charge controller on a bus.
type Controller struct {
	name string
	unit uint8
	regs Registers
}

var (
	_ drivers.Charger  = (*Controller)(nil)
	_ drivers.Failsafe = (*Controller)(nil)
)

// New returns the controller called name (used in errors) at unit on regs.
func New(name string, regs Registers, unit uint8) *Controller {
	return &Controller{name: name, unit: unit, regs: regs}
}

func (c *Controller) errorf(format string, args ...any) error {
	return fmt.Errorf("phoenix %q: "+format, append([]any{c.name}, args...)...)
}

// Status reads state, fault code and offered current in one request.
func (c *Controller) Status(ctx context.Context) (drivers.ChargerStatus, error) {
	b, err := c.regs.ReadInputRegisters(ctx, c.unit, RegState, statusRegs)
	if err != nil {
		return drivers.ChargerStatus{}, c.errorf("read %d+%d: %w", RegState, statusRegs, err)
	}
	return DecodeStatus(c.name, b)
}

// DecodeStatus decodes input registers 100..102 (6 bytes).
func DecodeStatus(name string, b []byte) (drivers.ChargerStatus, error) {
	if len(b) != 2*int(statusRegs) {
		return drivers.ChargerStatus{}, fmt.Errorf("phoenix %q: read %d+%d: %w (%d of %d bytes)", name, RegState, statusRegs, drivers.ErrShortReply, len(b), 2*statusRegs)
	}
	state := drivers.ChargeState(b[1])
	if b[0] != 0 || !state.Valid() {
		return drivers.ChargerStatus{}, &drivers.DecodeError{Device: "phoenix", Name: name, Register: RegState, Raw: b[:2], What: "state is not an ASCII letter A..F"}
	}
	offered := binary.BigEndian.Uint16(b[4:])
	if offered > MaxCurrentA {
		return drivers.ChargerStatus{}, &drivers.DecodeError{Device: "phoenix", Name: name, Register: RegOfferedA, Raw: b[4:6], What: fmt.Sprintf("offered current %d A above %d A", offered, MaxCurrentA)}
	}
	return drivers.ChargerStatus{
		State:     state,
		ErrorCode: binary.BigEndian.Uint16(b[2:]),
		OfferedA:  int(offered),
	}, nil
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

// SetMaxCurrentA writes the charging current limit (holding 528): 0 pauses,
// 6..63 A; anything else is refused before any write.
func (c *Controller) SetMaxCurrentA(ctx context.Context, a int) error {
	if err := CheckCurrentA(a); err != nil {
		return c.errorf("register %d: max current %w", RegMaxA, err)
	}
	if err := c.regs.WriteSingleRegister(ctx, c.unit, RegMaxA, uint16(a)); err != nil {
		return c.errorf("write %d=%d: %w", RegMaxA, a, err)
	}
	return nil
}

// SetFailsafe writes the fallback current (holding 529) and the watchdog
// timeout (holding 530, whole seconds, rounded up) in one request, so the
// controller never runs a watchdog with a stale fallback. watchdog 0 turns
// the watchdog off.
func (c *Controller) SetFailsafe(ctx context.Context, fallbackA int, watchdog time.Duration) error {
	if err := CheckCurrentA(fallbackA); err != nil {
		return c.errorf("register %d: fallback current %w", RegFallbackA, err)
	}
	if watchdog < 0 || watchdog > MaxWatchdog {
		return c.errorf("register %d: watchdog %v: %w (0..%v)", RegWatchdogS, watchdog, drivers.ErrRange, MaxWatchdog)
	}
	secs := (watchdog + time.Second - 1) / time.Second
	b := []byte{0, byte(fallbackA), byte(secs >> 8), byte(secs)}
	if err := c.regs.WriteMultipleRegisters(ctx, c.unit, RegFallbackA, b); err != nil {
		return c.errorf("write %d..%d=%d A, %d s: %w", RegFallbackA, RegWatchdogS, fallbackA, secs, err)
	}
	return nil
}
