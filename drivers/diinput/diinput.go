// Package diinput reads the safety contacts on a digital-input module
// (WAGO 750-352 / Moxa ioLogik E1210 style) over Modbus.
//
// Register map (FC02 discrete inputs, 1 = contact closed; docs/registers.md):
//
//	0      fire-alarm loop, normally closed: 1 = healthy, 0 = alarm
//	1      fire-alarm loop supervision (end-of-line resistor): 1 = intact, 0 = wire break
//	2..9   SPD auxiliary contacts, one per sub-distribution, normally closed:
//	       1 = healthy, 0 = tripped
//
// One request reads inputs 0..1+n for n SPD contacts. An unreadable module
// is an error; the caller (edge safety) treats that as an alarm.
package diinput

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/drivers"
)

// Registers is what the module needs from a Modbus bus.
type Registers interface {
	ReadDiscreteInputs(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
}

// Input addresses.
const (
	InputFireLoop    uint16 = 0
	InputSupervision uint16 = 1
	InputSPD         uint16 = 2 // first SPD contact
	MaxSPD                  = 8
)

// Module is one DI module on a bus.
type Module struct {
	name string
	unit uint8
	spd  int
	regs Registers
}

var _ drivers.Contacts = (*Module)(nil)

// New returns the module called name (used in errors) at unit on regs, with
// spd SPD contacts wired to inputs 2.. (0..8).
func New(name string, regs Registers, unit uint8, spd int) (*Module, error) {
	if spd < 0 || spd > MaxSPD {
		return nil, fmt.Errorf("diinput %q: %d SPD contacts: %w (0..%d)", name, spd, drivers.ErrRange, MaxSPD)
	}
	return &Module{name: name, unit: unit, spd: spd, regs: regs}, nil
}

// Contacts reads all contacts in one request.
func (m *Module) Contacts(ctx context.Context) (drivers.ContactStatus, error) {
	n := uint16(2 + m.spd)
	b, err := m.regs.ReadDiscreteInputs(ctx, m.unit, 0, n)
	if err != nil {
		return drivers.ContactStatus{}, fmt.Errorf("diinput %q: read inputs 0+%d: %w", m.name, n, err)
	}
	return Decode(m.name, b, m.spd)
}

// Decode decodes the packed input bytes of a read of inputs 0..1+spd
// (input 0 in bit 0 of the first byte). Bits beyond the inputs are ignored.
func Decode(name string, b []byte, spd int) (drivers.ContactStatus, error) {
	if spd < 0 || spd > MaxSPD {
		return drivers.ContactStatus{}, fmt.Errorf("diinput %q: %d SPD contacts: %w (0..%d)", name, spd, drivers.ErrRange, MaxSPD)
	}
	n := 2 + spd
	if len(b) < (n+7)/8 {
		return drivers.ContactStatus{}, fmt.Errorf("diinput %q: read inputs 0+%d: %w (%d of %d bytes)", name, n, drivers.ErrShortReply, len(b), (n+7)/8)
	}
	bit := func(i int) bool { return b[i/8]&(1<<(i%8)) != 0 }
	s := drivers.ContactStatus{
		FireLoopClosed:    bit(int(InputFireLoop)),
		SupervisionIntact: bit(int(InputSupervision)),
		SPDClosed:         make([]bool, spd),
	}
	for i := range spd {
		s.SPDClosed[i] = bit(int(InputSPD) + i)
	}
	return s, nil
}
