package sdm630_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestInteropPymodbus reads an SDM630 served by pymodbus (a Modbus stack
// written independently of ours) through the real Bus and driver.
func TestInteropPymodbus(t *testing.T) {
	addr := svctest.PymodbusSDM630(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	bus := modbus.NewTCP(addr, modbus.Options{Name: "pymodbus", Timeout: 2 * time.Second})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = bus.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	m := sdm630.New("interop", bus, 1)
	got, err := m.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := drivers.MeterSample{
		VoltageDV:        [3]int64{2303, 2295, 2310},
		CurrentMA:        [3]int64{16063, 0, 15500},
		PhasePowerW:      [3]int64{3699, 0, -3580},
		PowerW:           118,
		FrequencyMilliHz: 49984,
		ImportWh:         12345688,
		Has:              drivers.HasPhasePower | drivers.HasFrequency,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample (-want +got):\n%s", diff)
	}
	if wh, err := m.EnergyWh(ctx); err != nil || wh != 12345688 {
		t.Errorf("EnergyWh = %d, %v; want 12345688", wh, err)
	}
	if wh, err := m.TotalWh(ctx); err != nil || wh != 23456500 {
		t.Errorf("TotalWh = %d, %v; want 23456500", wh, err)
	}
}
