package diinput

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/driverstest"
	"github.com/parkgrid/parkgrid/drivers/modbus"
)

func TestContacts(t *testing.T) {
	tests := []struct {
		name       string
		inputs     []uint16
		spd        int
		want       drivers.ContactStatus
		alarm      bool
		spdTripped []int
	}{
		{"all healthy", []uint16{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 8,
			drivers.ContactStatus{FireLoopClosed: true, SupervisionIntact: true, SPDClosed: []bool{true, true, true, true, true, true, true, true}}, false, nil},
		{"fire loop open", []uint16{0, 1, 1, 1}, 2,
			drivers.ContactStatus{SupervisionIntact: true, SPDClosed: []bool{true, true}}, true, nil},
		{"wire break", []uint16{1, 0}, 0,
			drivers.ContactStatus{FireLoopClosed: true, SPDClosed: []bool{}}, true, nil},
		{"SPD 2 and 8 tripped", []uint16{1, 1, 1, 0, 1, 1, 1, 1, 1, 0}, 8,
			drivers.ContactStatus{FireLoopClosed: true, SupervisionIntact: true, SPDClosed: []bool{true, false, true, true, true, true, true, false}}, false, []int{1, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := driverstest.New()
			bus.Set(1, driverstest.DiscreteInputs, 0, tt.inputs...)
			m, err := New("fire", bus, 1, tt.spd)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Contacts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.FireAlarm() != tt.alarm {
				t.Errorf("FireAlarm = %t, want %t", got.FireAlarm(), tt.alarm)
			}
			if diff := cmp.Diff(tt.spdTripped, got.SPDTripped()); diff != "" {
				t.Errorf("SPDTripped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContactsErrors(t *testing.T) {
	if _, err := New("fire", driverstest.New(), 1, 9); !errors.Is(err, drivers.ErrRange) {
		t.Errorf("9 SPD: err = %v, want ErrRange", err)
	}
	bus := driverstest.New()
	bus.Set(1, driverstest.DiscreteInputs, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	bus.Reply = func(_ driverstest.Call, p []byte) []byte { return p[:1] }
	m, _ := New("fire", bus, 1, 8)
	_, err := m.Contacts(context.Background())
	if !errors.Is(err, drivers.ErrShortReply) || err.Error() != `diinput "fire": read inputs 0+10: short reply (1 of 2 bytes)` {
		t.Errorf("short: err = %v", err)
	}
	bus.Reply = nil
	bus.Fail = func(driverstest.Call) error { return modbus.ErrTimeout }
	_, err = m.Contacts(context.Background())
	if !errors.Is(err, drivers.ErrTimeout) || err.Error() != `diinput "fire": read inputs 0+10: timeout` {
		t.Errorf("timeout: err = %v", err)
	}
}

func FuzzDIInputDecode(f *testing.F) {
	f.Add([]byte{0xff, 0x03}, 8)
	f.Add([]byte{0x01}, 0)
	f.Add([]byte{}, 3)
	f.Add([]byte{0x00}, -1)
	f.Fuzz(func(t *testing.T, b []byte, spd int) {
		s, err := Decode("fuzz", b, spd)
		if err != nil {
			return
		}
		if len(s.SPDClosed) != spd {
			t.Fatalf("%d SPD contacts decoded, want %d", len(s.SPDClosed), spd)
		}
		if s.FireAlarm() != (b[0]&3 != 3) {
			t.Fatalf("FireAlarm = %t for first byte %08b", s.FireAlarm(), b[0])
		}
	})
}
