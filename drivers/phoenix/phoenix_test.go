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

func newFake() *driverstest.Bus { return vendorBus(0) }

func TestStatus(t *testing.T) {
	tests := []struct {
		name    string
		state   uint16
		maxA    uint16
		enabled uint16
		want    drivers.ChargerStatus
		err     string
	}{
		{"charging", 'C', 16, 1, drivers.ChargerStatus{State: 'C', Enabled: true, MaxCurrentA: 16, OfferedA: 16}, ""},
		{"paused", 'B', 16, 0, drivers.ChargerStatus{State: 'B', MaxCurrentA: 16}, ""},
		{"fault", 'F', 6, 1, drivers.ChargerStatus{State: 'F', Enabled: true, MaxCurrentA: 6, OfferedA: 6}, ""},
		{"below 6 A offers nothing", 'B', 3, 1, drivers.ChargerStatus{State: 'B', Enabled: true, MaxCurrentA: 3}, ""},
		{"lower case", 'c', 16, 1, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0064: state is not an ASCII letter A..F (raw 0063)`},
		{"G", 'G', 16, 1, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0064: state is not an ASCII letter A..F (raw 0047)`},
		{"high byte set", 0x0143, 16, 1, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0064: state is not an ASCII letter A..F (raw 0143)`},
		{"0.1 A firmware", 'C', 160, 1, drivers.ChargerStatus{}, `phoenix "cp-7": register 0x0210: max current 160 above 63 A (0.1 A firmware is not supported) (raw 00a0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFake()
			b.Set(255, driverstest.InputRegisters, RegState, tt.state)
			b.Set(255, driverstest.HoldingRegisters, RegMaxA, tt.maxA)
			b.Set(255, driverstest.Coils, CoilEnable, tt.enabled)
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
	b.Reply = func(_ driverstest.Call, p []byte) []byte { return p[:1] }
	_, err := New("cp-7", b, 255).Status(context.Background())
	if !errors.Is(err, drivers.ErrShortReply) || err.Error() != `phoenix "cp-7": read input 100+1: short reply (1 of 2 bytes)` {
		t.Errorf("short: err = %v", err)
	}
	b = newFake()
	b.Fail = func(driverstest.Call) error { return modbus.ErrTimeout }
	_, err = New("cp-7", b, 255).Status(context.Background())
	if !errors.Is(err, drivers.ErrTimeout) || err.Error() != `phoenix "cp-7": read input 100+1: timeout` {
		t.Errorf("timeout: err = %v", err)
	}
	b = newFake()
	b.Fail = func(c driverstest.Call) error {
		if c.Table == driverstest.Coils {
			return modbus.ErrTimeout
		}
		return nil
	}
	_, err = New("cp-7", b, 255).Status(context.Background())
	if !errors.Is(err, drivers.ErrTimeout) || err.Error() != `phoenix "cp-7": read coil 400: timeout` {
		t.Errorf("coil timeout: err = %v", err)
	}
}

func TestSample(t *testing.T) {
	b := newFake()
	// 230, 231, 229 V; 16, 16, -1 A; 11040 W; 70000 Wh (low word first).
	b.Set(255, driverstest.InputRegisters, RegVoltages, 230, 0, 231, 0, 229, 0, 16, 0, 16, 0, 0xffff, 0xffff, 11040, 0)
	b.Set(255, driverstest.HoldingRegisters, RegEnergyWh, 70000&0xffff, 70000>>16)
	got, err := New("cp-7", b, 255).Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := drivers.MeterSample{VoltageDV: [3]int64{2300, 2310, 2290}, CurrentMA: [3]int64{16000, 16000, -1000}, PowerW: 11040, ImportWh: 70000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	c := New("cp-7", b, 255)
	b.Set(255, driverstest.InputRegisters, RegChargeTime, 0x2345, 0x0001)
	if d, err := c.ChargeTime(context.Background()); err != nil || d != 0x12345*time.Second {
		t.Errorf("charge time %v, %v", d, err)
	}
	b.Set(255, driverstest.InputRegisters, RegFirmware, 'V'<<8|'1', '0'<<8|'.')
	if fw, err := c.Firmware(context.Background()); err != nil || fw != "1V.0" {
		t.Errorf("firmware %q, %v", fw, err)
	}
}

func TestSetMaxCurrentA(t *testing.T) {
	for _, a := range []int{0, 6, 16, 32, 63} {
		b := newFake()
		if err := New("cp-7", b, 255).SetMaxCurrentA(context.Background(), a); err != nil {
			t.Fatalf("%d A: %v", a, err)
		}
		want := []driverstest.Call{{Unit: 255, Table: driverstest.HoldingRegisters, Addr: 528, Qty: 1, Write: true, Vals: []uint16{uint16(a)}}}
		if a == 0 { // the map has no 0 A: pause through the enable
			want = []driverstest.Call{{Unit: 255, Table: driverstest.Coils, Addr: 400, Qty: 1, Write: true, Vals: []uint16{0}}}
		}
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

func FuzzPhoenixDecode(f *testing.F) {
	f.Add([]byte{0, 'C'}, []byte{0, 16}, make([]byte, 28))
	f.Add([]byte{0, 'Z'}, []byte{0, 160}, []byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 'A'}, []byte{}, []byte{0, 230, 0, 0, 0, 230, 0, 0, 0, 230, 0, 0, 0, 16, 0, 0, 0, 16, 0, 0, 0, 16, 0, 0, 0x2b, 0x20, 0, 0})
	f.Fuzz(func(t *testing.T, state, maxA, meas []byte) {
		if s, err := DecodeState("fuzz", state); err == nil && !s.Valid() {
			t.Fatalf("accepted state %q", s)
		}
		if a, err := DecodeMaxCurrent("fuzz", maxA); err == nil && (a < 0 || a > MaxCurrentA) {
			t.Fatalf("accepted max current %d", a)
		}
		if s, err := DecodeMeasurements("fuzz", meas); err == nil {
			for ph := range 3 {
				if s.VoltageDV[ph] < 0 || s.CurrentMA[ph] < -1_000_000 || s.CurrentMA[ph] > 1_000_000 {
					t.Fatalf("accepted %+v", s)
				}
			}
		}
	})
}
