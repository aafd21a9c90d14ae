package sdm630

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/driverstest"
	"github.com/parkgrid/parkgrid/drivers/modbus"
)

// values are the floats a test meter serves, by register.
type values map[uint16]float32

func (v values) bytes(regs uint16) []byte {
	b := make([]byte, 2*regs)
	for reg, f := range v {
		if reg+1 < regs {
			binary.BigEndian.PutUint32(b[2*reg:], math.Float32bits(f))
		}
	}
	return b
}

func typical() values {
	return values{
		0x00: 230.25, 0x02: 229.5, 0x04: 231,
		0x06: 16.0625, 0x08: 0, 0x0A: 15.5,
		0x0C: 3698.5, 0x0E: 0, 0x10: -3580.25,
		0x34: 118.25, 0x46: 49.984375, 0x48: 12345.6875,
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		mod  func(values)
		want drivers.MeterSample
	}{
		{
			name: "typical, halves away from zero",
			mod:  func(values) {},
			want: drivers.MeterSample{
				VoltageDV:        [3]int64{2303, 2295, 2310},
				CurrentMA:        [3]int64{16063, 0, 15500},
				PhasePowerW:      [3]int64{3699, 0, -3580},
				PowerW:           118,
				FrequencyMilliHz: 49984,
				ImportWh:         12345688, // 12345687.5 rounds up
				Has:              drivers.HasPhasePower | drivers.HasFrequency,
			},
		},
		{
			name: "negative halves round away from zero",
			mod:  func(v values) { v[0x34] = -0.5; v[0x48] = -0.0625; v[0x0C] = -2.5 },
			want: drivers.MeterSample{
				VoltageDV:        [3]int64{2303, 2295, 2310},
				CurrentMA:        [3]int64{16063, 0, 15500},
				PhasePowerW:      [3]int64{-3, 0, -3580},
				PowerW:           -1,
				FrequencyMilliHz: 49984,
				ImportWh:         -63,
				Has:              drivers.HasPhasePower | drivers.HasFrequency,
			},
		},
		{
			name: "float32 nearest to 229.95 V is below the half",
			mod:  func(v values) { v[0x00] = 229.95; v[0x48] = 0.0625 },
			want: drivers.MeterSample{
				VoltageDV:        [3]int64{2299, 2295, 2310},
				CurrentMA:        [3]int64{16063, 0, 15500},
				PhasePowerW:      [3]int64{3699, 0, -3580},
				PowerW:           118,
				FrequencyMilliHz: 49984,
				ImportWh:         63,
				Has:              drivers.HasPhasePower | drivers.HasFrequency,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := typical()
			tt.mod(v)
			got, err := Decode("grid", v.bytes(80))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  func() []byte
		want string
	}{
		{"NaN current", func() []byte {
			b := typical().bytes(80)
			binary.BigEndian.PutUint32(b[2*0x06:], 0x7fc00000)
			return b
		}, `sdm630 "grid": register 0x0006: NaN (raw 7fc0 0000)`},
		{"+Inf energy", func() []byte {
			b := typical().bytes(80)
			binary.BigEndian.PutUint32(b[2*0x48:], math.Float32bits(float32(math.Inf(1))))
			return b
		}, `sdm630 "grid": register 0x0048: +Inf (raw 7f80 0000)`},
		{"-Inf power", func() []byte {
			b := typical().bytes(80)
			binary.BigEndian.PutUint32(b[2*0x34:], math.Float32bits(float32(math.Inf(-1))))
			return b
		}, `sdm630 "grid": register 0x0034: -Inf (raw ff80 0000)`},
		{"huge energy", func() []byte {
			b := typical().bytes(80)
			binary.BigEndian.PutUint32(b[2*0x48:], math.Float32bits(3e38))
			return b
		}, `sdm630 "grid": register 0x0048: 3e+38 out of range (raw 7f61 b1e6)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("grid", tt.raw())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
			if !errors.Is(err, drivers.ErrDecode) {
				t.Errorf("errors.Is(err, ErrDecode) = false")
			}
		})
	}
	if _, err := Decode("grid", make([]byte, 158)); !errors.Is(err, drivers.ErrShortReply) {
		t.Errorf("158 bytes: err = %v, want ErrShortReply", err)
	}
}

func newFake(v values) *driverstest.Bus {
	bus := driverstest.New()
	bus.SetBytes(1, driverstest.InputRegisters, 0, v.bytes(80))
	tot := make([]byte, 4)
	binary.BigEndian.PutUint32(tot, math.Float32bits(23456.5))
	bus.SetBytes(1, driverstest.InputRegisters, RegTotalKWh, tot)
	return bus
}

func TestMeter(t *testing.T) {
	bus := newFake(typical())
	m := New("grid", bus, 1)
	ctx := context.Background()
	s, err := m.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.ImportWh != 12345688 || s.VoltageDV[0] != 2303 {
		t.Errorf("sample = %+v", s)
	}
	wh, err := m.EnergyWh(ctx)
	if err != nil || wh != 12345688 {
		t.Errorf("EnergyWh = %d, %v; want 12345688", wh, err)
	}
	tot, err := m.TotalWh(ctx)
	if err != nil || tot != 23456500 {
		t.Errorf("TotalWh = %d, %v; want 23456500", tot, err)
	}
	want := []driverstest.Call{
		{Unit: 1, Table: driverstest.InputRegisters, Addr: 0, Qty: 80},
		{Unit: 1, Table: driverstest.InputRegisters, Addr: 0x48, Qty: 2},
		{Unit: 1, Table: driverstest.InputRegisters, Addr: 0x156, Qty: 2},
	}
	if diff := cmp.Diff(want, bus.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestMeterBusErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*driverstest.Bus)
		is    error
		want  string
	}{
		{"short reply", func(b *driverstest.Bus) {
			b.Reply = func(_ driverstest.Call, p []byte) []byte { return p[:100] }
		}, drivers.ErrShortReply, `sdm630 "grid": read 0x0000+80: short reply (100 of 160 bytes)`},
		{"exception", func(b *driverstest.Bus) {
			b.Fail = func(driverstest.Call) error {
				return &modbus.ExceptionError{Function: 4, Code: modbus.ExceptionServerDeviceBusy}
			}
		}, modbus.ErrException, `sdm630 "grid": read 0x0000+80: modbus exception 6 (server device busy) for function 4`},
		{"timeout", func(b *driverstest.Bus) {
			b.Fail = func(driverstest.Call) error { return modbus.ErrTimeout }
		}, drivers.ErrTimeout, `sdm630 "grid": read 0x0000+80: timeout`},
		{"NaN", func(b *driverstest.Bus) {
			b.Set(1, driverstest.InputRegisters, 0x0A, 0x7fc0, 0x0000)
		}, drivers.ErrDecode, `sdm630 "grid": register 0x000a: NaN (raw 7fc0 0000)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := newFake(typical())
			tt.setup(bus)
			_, err := New("grid", bus, 1).Sample(context.Background())
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err, tt.want)
			}
		})
	}
}

func FuzzSDM630Decode(f *testing.F) {
	f.Add(typical().bytes(80))
	f.Add(make([]byte, 160))
	f.Add(make([]byte, 3))
	nan := typical().bytes(80)
	binary.BigEndian.PutUint32(nan[2*0x46:], 0xffffffff)
	f.Add(nan)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode("fuzz", b)
		if err != nil {
			var de *drivers.DecodeError
			if !errors.As(err, &de) && !errors.Is(err, drivers.ErrShortReply) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// A decoded value is the documented rounding of its float.
		f := math.Float32frombits(binary.BigEndian.Uint32(b[2*RegImportKWh:]))
		if want := int64(math.Round(float64(f) * 1000)); s.ImportWh != want {
			t.Fatalf("ImportWh = %d, want %d from %v", s.ImportWh, want, f)
		}
		for i, v := range s.VoltageDV {
			if v > maxExact || v < -maxExact {
				t.Fatalf("voltage L%d = %d beyond range", i+1, v)
			}
		}
	})
}
