package phoenix

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/driverstest"
	"github.com/parkgrid/parkgrid/drivers/modbus"
)

func newFake() *driverstest.Bus {
	b := driverstest.New()
	b.Set(255, driverstest.InputRegisters, RegState, 'C', 0, 16)
	b.Set(255, driverstest.Coils, CoilEnable, 0)
	b.Set(255, driverstest.HoldingRegisters, RegMaxA, 0, 0, 0)
	return b
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		regs []uint16
		want drivers.ChargerStatus
		err  string
	}{
		{"charging", []uint16{'C', 0, 16}, drivers.ChargerStatus{State: 'C', OfferedA: 16}, ""},
		{"fault", []uint16{'F', 17, 0}, drivers.ChargerStatus{State: 'F', ErrorCode: 17}, ""},
		{"idle", []uint16{'A', 0, 0}, drivers.ChargerStatus{State: 'A'}, ""},
		{"lower case", []uint16{'c', 0, 0}, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0064: state is not an ASCII letter A..F (raw 0063)`},
		{"G", []uint16{'G', 0, 0}, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0064: state is not an ASCII letter A..F (raw 0047)`},
		{"high byte set", []uint16{0x0143, 0, 0}, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0064: state is not an ASCII letter A..F (raw 0143)`},
		{"offered 64 A", []uint16{'C', 0, 64}, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0066: offered current 64 A above 63 A (raw 0040)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFake()
			b.Set(255, driverstest.InputRegisters, RegState, tt.regs...)
			got, err := New("cp-7", b, 255).Status(context.Background())
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, drivers.ErrDecode) {
					t.Fatalf("err = %v\nwant  %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusBusErrors(t *testing.T) {
	b := newFake()
	b.Reply = func(_ driverstest.Call, p []byte) []byte { return p[:4] }
	_, err := New("cp-7", b, 255).Status(context.Background())
	if !errors.Is(err, drivers.ErrShortReply) || err.Error() != `phoenix "cp-7": read 100+3: short reply (4 of 6 bytes)` {
		t.Errorf("short: err = %v", err)
	}
	b = newFake()
	b.Fail = func(driverstest.Call) error { return modbus.ErrTimeout }
	_, err = New("cp-7", b, 255).Status(context.Background())
	if !errors.Is(err, drivers.ErrTimeout) || err.Error() != `phoenix "cp-7": read 100+3: timeout` {
		t.Errorf("timeout: err = %v", err)
	}
}

func TestSetMaxCurrentA(t *testing.T) {
	for _, a := range []int{0, 6, 16, 32, 63} {
		b := newFake()
		if err := New("cp-7", b, 255).SetMaxCurrentA(context.Background(), a); err != nil {
			t.Fatalf("%d A: %v", a, err)
		}
		want := []driverstest.Call{{Unit: 255, Table: driverstest.HoldingRegisters, Addr: 528, Qty: 1, Write: true, Vals: []uint16{uint16(a)}}}
		if diff := cmp.Diff(want, b.Writes()); diff != "" {
			t.Errorf("%d A: writes (-want +got):\n%s", a, diff)
		}
	}
	for _, a := range []int{-1, 1, 5, 64, 1000} {
		b := newFake()
		err := New("cp-7", b, 255).SetMaxCurrentA(context.Background(), a)
		if !errors.Is(err, drivers.ErrRange) {
			t.Errorf("%d A: err = %v, want ErrRange", a, err)
		}
		if w := b.Calls(); len(w) != 0 {
			t.Errorf("%d A: requests sent before refusing: %+v", a, w)
		}
	}
	err := New("cp-7", newFake(), 255).SetMaxCurrentA(context.Background(), 5)
	if want := `phoenix "cp-7": register 528: max current 5 A: value out of range (0 or 6..63 A)`; err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}

func TestSetEnabled(t *testing.T) {
	b := newFake()
	c := New("cp-7", b, 255)
	if err := c.SetEnabled(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get(255, driverstest.Coils, CoilEnable); v != 1 {
		t.Errorf("coil 400 = %d, want 1", v)
	}
	b.Fail = func(driverstest.Call) error {
		return &modbus.ExceptionError{Function: 5, Code: modbus.ExceptionIllegalDataAddress}
	}
	err := c.SetEnabled(context.Background(), false)
	if !errors.Is(err, modbus.ErrException) || err.Error() != `phoenix "cp-7": write coil 400=false: modbus exception 2 (illegal data address) for function 5` {
		t.Errorf("err = %v", err)
	}
}

func TestSetFailsafe(t *testing.T) {
	b := newFake()
	c := New("cp-7", b, 255)
	if err := c.SetFailsafe(context.Background(), 6, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := []driverstest.Call{{Unit: 255, Table: driverstest.HoldingRegisters, Addr: 529, Qty: 2, Write: true, Vals: []uint16{6, 2}}}
	if diff := cmp.Diff(want, b.Writes()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		a int
		d time.Duration
	}{{3, time.Second}, {64, time.Second}, {0, -time.Second}, {0, 65536 * time.Second}} {
		b := newFake()
		if err := New("cp-7", b, 255).SetFailsafe(context.Background(), tt.a, tt.d); !errors.Is(err, drivers.ErrRange) {
			t.Errorf("%d A, %v: err = %v, want ErrRange", tt.a, tt.d, err)
		}
		if len(b.Calls()) != 0 {
			t.Errorf("%d A, %v: wrote before refusing", tt.a, tt.d)
		}
	}
}

func FuzzPhoenixDecodeStatus(f *testing.F) {
	f.Add([]byte{0, 'C', 0, 0, 0, 16})
	f.Add([]byte{0, 'Z', 0, 0, 0, 16})
	f.Add([]byte{0, 'A'})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeStatus("fuzz", b)
		if err != nil {
			return
		}
		if !s.State.Valid() || s.OfferedA < 0 || s.OfferedA > MaxCurrentA {
			t.Fatalf("accepted %+v", s)
		}
	})
}
