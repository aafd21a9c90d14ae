package xymd02

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/driverstest"
	"github.com/parkgrid/parkgrid/drivers/modbus"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		regs []uint16
		want Reading
		err  string
	}{
		{"warm", []uint16{253, 456}, Reading{253, 456}, ""},
		{"freezing", []uint16{0xFFF6, 800}, Reading{-10, 800}, ""},
		{"-40.0", []uint16{0xFE70, 0}, Reading{-400, 0}, ""},
		{"125.0", []uint16{1250, 1000}, Reading{1250, 1000}, ""},
		{"too cold", []uint16{0xFE6F, 0}, Reading{}, `xymd02 "cabinet": register 0x0001: temperature -40.1 °C outside -40.0..125.0 (raw fe6f)`},
		{"probe broken", []uint16{0x7FFF, 0}, Reading{}, `xymd02 "cabinet": register 0x0001: temperature 3276.7 °C outside -40.0..125.0 (raw 7fff)`},
		{"humidity", []uint16{200, 1001}, Reading{}, `xymd02 "cabinet": register 0x0002: humidity 100.1 % above 100.0 (raw 03e9)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := driverstest.New()
			bus.Set(1, driverstest.InputRegisters, RegTemperature, tt.regs...)
			s := New("cabinet", bus, 1)
			got, err := s.Read(context.Background())
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
			dc, err := s.TemperatureDeciC(context.Background())
			if err != nil || dc != tt.want.TemperatureDeciC {
				t.Errorf("TemperatureDeciC = %d, %v", dc, err)
			}
		})
	}
}

func TestReadBusErrors(t *testing.T) {
	bus := driverstest.New()
	bus.Set(1, driverstest.InputRegisters, RegTemperature, 1, 2)
	bus.Reply = func(_ driverstest.Call, p []byte) []byte { return p[:2] }
	_, err := New("cabinet", bus, 1).Read(context.Background())
	if !errors.Is(err, drivers.ErrShortReply) || err.Error() != `xymd02 "cabinet": read 0x0001+2: short reply (2 of 4 bytes)` {
		t.Errorf("short: err = %v", err)
	}
	bus.Reply = nil
	bus.Fail = func(driverstest.Call) error { return modbus.ErrTimeout }
	_, err = New("cabinet", bus, 1).Read(context.Background())
	if !errors.Is(err, drivers.ErrTimeout) || err.Error() != `xymd02 "cabinet": read 0x0001+2: timeout` {
		t.Errorf("timeout: err = %v", err)
	}
}

func FuzzXYMD02Decode(f *testing.F) {
	f.Add([]byte{0, 253, 1, 200})
	f.Add([]byte{0xff, 0xf6, 0, 0})
	f.Add([]byte{0x80, 0, 0xff, 0xff})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode("fuzz", b)
		if err != nil {
			return
		}
		if r.TemperatureDeciC < MinDeciC || r.TemperatureDeciC > MaxDeciC || r.HumidityPermille < 0 || r.HumidityPermille > MaxPermille {
			t.Fatalf("accepted %+v from % x", r, b)
		}
	})
}
