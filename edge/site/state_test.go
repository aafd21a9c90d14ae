package site

import (
	"errors"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestContactsFrom(t *testing.T) {
	c := ContactsFrom(drivers.ContactStatus{FireLoopClosed: true, SupervisionIntact: false, SPDClosed: []bool{true, false, true}})
	if c.N != 5 {
		t.Fatalf("N = %d, want 5", c.N)
	}
	for in, want := range []bool{true, false, true, false, true} {
		if got, ok := c.IsClosed(in); !ok || got != want {
			t.Errorf("input %d: closed %v ok %v, want %v", in, got, ok, want)
		}
	}
	if _, ok := c.IsClosed(5); ok {
		t.Error("input 5 reported though the module has 5 inputs")
	}
	if _, ok := c.IsClosed(-1); ok {
		t.Error("input -1 reported")
	}
}

func TestStaleAfterThreeIntervals(t *testing.T) {
	s := New([]Spec{{ID: "m", Interval: time.Second}})
	if r := s.Meter("m", t0); !r.Stale || !r.At.IsZero() {
		t.Errorf("never read: %+v", r)
	}
	if err := s.PutMeter("m", t0, drivers.MeterSample{ImportWh: 7}); err != nil {
		t.Fatal(err)
	}
	if r := s.Meter("m", t0.Add(3*time.Second)); r.Stale || r.Value.ImportWh != 7 || r.Age(t0.Add(3*time.Second)) != 3*time.Second {
		t.Errorf("at 3 intervals: %+v", r)
	}
	if r := s.Meter("m", t0.Add(3*time.Second+time.Millisecond)); !r.Stale || r.Value.ImportWh != 7 {
		t.Errorf("past 3 intervals: %+v", r)
	}
	s.PutError("m", t0.Add(time.Second), errors.New("timeout"))
	s.SetOffline("m", true)
	s.SetFrozen("m", true)
	h, ok := s.DeviceHealth("m")
	if !ok || !h.Offline || !h.Frozen || h.Polls != 2 || h.Failures != 1 || h.LastErr != "timeout" || !h.LastOK.Equal(t0) {
		t.Errorf("health = %+v", h)
	}
	if r := s.Meter("m", t0); !r.Frozen {
		t.Error("frozen flag not on the reading")
	}
	if err := s.PutMeter("x", t0, drivers.MeterSample{}); err == nil {
		t.Error("unknown device accepted")
	}
	if len(s.Health()) != 1 {
		t.Errorf("Health() = %v", s.Health())
	}
}
