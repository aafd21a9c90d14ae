// Package driverstest is a hand-written fake Modbus bus for driver tests: a
// register map in memory with hooks to fail, truncate or react to requests.
// It has every method of *modbus.Bus, so it satisfies each driver's small
// Registers interface.
package driverstest

import (
	"context"
	"fmt"
	"sync"

	"github.com/parkgrid/parkgrid/drivers/modbus"
)

// Table is one of the four Modbus tables.
type Table int

// The Modbus tables.
const (
	Coils Table = iota
	DiscreteInputs
	HoldingRegisters
	InputRegisters
)

func (t Table) String() string {
	return [...]string{"coils", "discrete inputs", "holding registers", "input registers"}[t]
}

// Call is one request the fake received.
type Call struct {
	Unit  uint8
	Table Table
	Addr  uint16
	Qty   uint16
	Write bool
	Vals  []uint16 // written values (registers, or 0/1 for a coil)
}

type key struct {
	unit  uint8
	table Table
	addr  uint16
}

// Bus is a fake bus. The zero value is not usable; call New.
type Bus struct {
	mu    sync.Mutex // protects the fields below
	vals  map[key]uint16
	calls []Call

	// Fail, if set, is called first for every request; a non-nil error is
	// returned as the request's error.
	Fail func(Call) error
	// Reply, if set, may change the reply bytes of a read (e.g. truncate).
	Reply func(Call, []byte) []byte
	// OnWrite, if set, is called after a write is stored, with the bus
	// unlocked, so it may Set other registers (a device reacting).
	OnWrite func(Call)
}

// New returns an empty fake bus.
func New() *Bus { return &Bus{vals: make(map[key]uint16)} }

// Set stores registers (or 0/1 bits) from addr on.
func (b *Bus) Set(unit uint8, t Table, addr uint16, vals ...uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, v := range vals {
		b.vals[key{unit, t, addr + uint16(i)}] = v
	}
}

// SetBytes stores big-endian bytes, 2 per register (odd tail padded with 0).
func (b *Bus) SetBytes(unit uint8, t Table, addr uint16, p []byte) {
	words := make([]uint16, (len(p)+1)/2)
	for i, c := range p {
		if i%2 == 0 {
			words[i/2] = uint16(c) << 8
		} else {
			words[i/2] |= uint16(c)
		}
	}
	b.Set(unit, t, addr, words...)
}

// Get returns a stored value and whether it is set.
func (b *Bus) Get(unit uint8, t Table, addr uint16) (uint16, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.vals[key{unit, t, addr}]
	return v, ok
}

// Calls returns the requests so far, in order.
func (b *Bus) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Call(nil), b.calls...)
}

// Writes returns the write requests so far, in order.
func (b *Bus) Writes() []Call {
	var out []Call
	for _, c := range b.Calls() {
		if c.Write {
			out = append(out, c)
		}
	}
	return out
}

func (b *Bus) do(ctx context.Context, c Call) ([]uint16, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.calls = append(b.calls, c)
	fail := b.Fail
	b.mu.Unlock()
	if fail != nil {
		if err := fail(c); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	out := make([]uint16, c.Qty)
	for i := range out {
		v, ok := b.vals[key{c.Unit, c.Table, c.Addr + uint16(i)}]
		if !ok {
			b.mu.Unlock()
			return nil, fmt.Errorf("fake unit %d: %s 0x%04x: %w", c.Unit, c.Table, c.Addr+uint16(i),
				&modbus.ExceptionError{Function: fc(c), Code: modbus.ExceptionIllegalDataAddress})
		}
		out[i] = v
	}
	if c.Write {
		for i, v := range c.Vals {
			b.vals[key{c.Unit, c.Table, c.Addr + uint16(i)}] = v
		}
	}
	onWrite := b.OnWrite
	b.mu.Unlock()
	if c.Write && onWrite != nil {
		onWrite(c)
	}
	return out, nil
}

func fc(c Call) byte {
	switch {
	case c.Table == Coils && c.Write:
		return 5
	case c.Table == Coils:
		return 1
	case c.Table == DiscreteInputs:
		return 2
	case c.Table == InputRegisters:
		return 4
	case c.Write && c.Qty == 1:
		return 6
	case c.Write:
		return 16
	}
	return 3
}

func (b *Bus) readRegs(ctx context.Context, c Call) ([]byte, error) {
	v, err := b.do(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 2*len(v))
	for i, w := range v {
		out[2*i], out[2*i+1] = byte(w>>8), byte(w)
	}
	if b.Reply != nil {
		out = b.Reply(c, out)
	}
	return out, nil
}

func (b *Bus) readBits(ctx context.Context, c Call) ([]byte, error) {
	v, err := b.do(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]byte, (len(v)+7)/8)
	for i, x := range v {
		if x != 0 {
			out[i/8] |= 1 << (i % 8)
		}
	}
	if b.Reply != nil {
		out = b.Reply(c, out)
	}
	return out, nil
}

// ReadInputRegisters implements the bus method.
func (b *Bus) ReadInputRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	return b.readRegs(ctx, Call{Unit: unit, Table: InputRegisters, Addr: addr, Qty: qty})
}

// ReadHoldingRegisters implements the bus method.
func (b *Bus) ReadHoldingRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	return b.readRegs(ctx, Call{Unit: unit, Table: HoldingRegisters, Addr: addr, Qty: qty})
}

// ReadDiscreteInputs implements the bus method.
func (b *Bus) ReadDiscreteInputs(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	return b.readBits(ctx, Call{Unit: unit, Table: DiscreteInputs, Addr: addr, Qty: qty})
}

// ReadCoils implements the bus method.
func (b *Bus) ReadCoils(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	return b.readBits(ctx, Call{Unit: unit, Table: Coils, Addr: addr, Qty: qty})
}

// WriteSingleRegister implements the bus method.
func (b *Bus) WriteSingleRegister(ctx context.Context, unit uint8, addr, value uint16) error {
	_, err := b.do(ctx, Call{Unit: unit, Table: HoldingRegisters, Addr: addr, Qty: 1, Write: true, Vals: []uint16{value}})
	return err
}

// WriteMultipleRegisters implements the bus method.
func (b *Bus) WriteMultipleRegisters(ctx context.Context, unit uint8, addr uint16, values []byte) error {
	vals := make([]uint16, len(values)/2)
	for i := range vals {
		vals[i] = uint16(values[2*i])<<8 | uint16(values[2*i+1])
	}
	_, err := b.do(ctx, Call{Unit: unit, Table: HoldingRegisters, Addr: addr, Qty: uint16(len(vals)), Write: true, Vals: vals})
	return err
}

// WriteSingleCoil implements the bus method.
func (b *Bus) WriteSingleCoil(ctx context.Context, unit uint8, addr uint16, on bool) error {
	var v uint16
	if on {
		v = 1
	}
	_, err := b.do(ctx, Call{Unit: unit, Table: Coils, Addr: addr, Qty: 1, Write: true, Vals: []uint16{v}})
	return err
}
