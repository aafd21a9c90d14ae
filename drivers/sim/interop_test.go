package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/diinput"
	"github.com/parkgrid/parkgrid/drivers/eichrecht"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
	"github.com/parkgrid/parkgrid/drivers/xymd02"
)

// startBus runs a drivers/modbus Bus to addr until the test ends.
func startBus(t testing.TB, addr string, timeout time.Duration) *modbus.Bus {
	t.Helper()
	bus := modbus.NewTCP(addr, modbus.Options{Name: "sim", Timeout: timeout})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return bus
}

// TestDriversAgainstTheSimulator runs every device driver over the Bus
// against the simulator: both sides follow docs/registers.md.
func TestDriversAgainstTheSimulator(t *testing.T) {
	s := startSim(t, quietSite)
	bus := startBus(t, s.ModbusAddr(MainListener), 2*time.Second)
	ctx := context.Background()
	if err := s.PlugCar("p2", Car{Phases: 1, MaxA: 32}); err != nil {
		t.Fatal(err)
	}

	ctl := phoenix.New("p2", bus, 12)
	if err := ctl.SetMaxCurrentA(ctx, 25); err != nil {
		t.Fatal(err)
	}
	if err := ctl.SetEnabled(ctx, true); err != nil {
		t.Fatal(err)
	}
	s.Step(time.Hour)
	st, err := ctl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != drivers.StateC || st.OfferedA != 25 || !st.Enabled || st.MaxCurrentA != 25 {
		t.Errorf("controller status %+v, want C at 25 A", st)
	}
	// An hour of charging: the charge time (input 102) is far above any
	// current, and the status still reads.
	if d, err := ctl.ChargeTime(ctx); err != nil || d != time.Hour {
		t.Errorf("charge time %v, %v; want 1h", d, err)
	}
	if cs, err := ctl.Sample(ctx); err != nil || cs.CurrentMA != [3]int64{25000, 0, 0} || cs.VoltageDV[0] != 2300 || cs.ImportWh != 230*25 {
		t.Errorf("controller meter %+v, %v", cs, err)
	}
	if fw, err := ctl.Firmware(ctx); err != nil || fw != "SIM1" {
		t.Errorf("firmware %q, %v", fw, err)
	}
	if err := ctl.SetMaxCurrentA(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := ctl.Status(ctx); err != nil || st.Enabled || st.OfferedA != 0 || st.MaxCurrentA != 25 {
		t.Errorf("after 0 A: %+v, %v; want disabled, offering 0", st, err)
	}
	if err := ctl.SetEnabled(ctx, true); err != nil {
		t.Fatal(err)
	}

	// p2 is wired L2L3L1: its 25 A on charger L1 are grid L2.
	grid, err := sdm630.New("grid", bus, 1).Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := [3]int64{4348, 8696 + 25000, 13043} // base load 1000/2000/3000 W at 230 V, mA
	for g := range 3 {
		if d := grid.CurrentMA[g] - want[g]; d < -1 || d > 1 {
			t.Errorf("grid L%d %d mA, want %d", g+1, grid.CurrentMA[g], want[g])
		}
	}
	if grid.VoltageDV != [3]int64{2300, 2300, 2300} || grid.ImportWh != 6000+230*25 {
		t.Errorf("grid sample %+v", grid)
	}

	m := eichrecht.New("p2.meter", bus, 22, eichrecht.Options{PollInterval: time.Millisecond})
	sample, err := m.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sample.ImportWh != 230*25 || sample.PowerW != 230*25 || sample.CurrentMA != [3]int64{25000, 0, 0} ||
		sample.VoltageDV != [3]int64{2300, 2300, 2300} {
		t.Errorf("Eichrecht sample %+v", sample)
	}
	der, err := m.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := m.Snapshot(ctx, drivers.SnapshotBegin, "SESSION-42")
	if err != nil {
		t.Fatal(err)
	}
	payload, sig := splitOCMF(t, []byte(rec))
	sd, _ := hex.DecodeString(sig.SD)
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(k.(*ecdsa.PublicKey), sum[:], sd) {
		t.Errorf("snapshot through the driver does not verify: %s", rec)
	}
	if _, err := m.Snapshot(ctx, drivers.SnapshotEnd, ""); err != nil {
		t.Fatal(err)
	}

	di, err := diinput.New("di", bus, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InjectFault(Fault{Kind: FaultFireLoopOpen}); err != nil {
		t.Fatal(err)
	}
	cs, err := di.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cs.FireLoopClosed || !cs.SupervisionIntact || len(cs.SPDClosed) != 1 || !cs.SPDClosed[0] {
		t.Errorf("contacts %+v, want the loop open, the rest healthy", cs)
	}

	th, err := xymd02.New("ud1.temp", bus, 4).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if th.TemperatureDeciC < 220 || th.TemperatureDeciC > 240 || th.HumidityPermille != 450 {
		t.Errorf("thermometer %+v", th)
	}

	// An offline unit times out through the Bus; its neighbours answer.
	if err := s.InjectFault(Fault{Device: "p2.meter", Kind: FaultOffline}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := m.Sample(short); err == nil {
		t.Errorf("offline meter answered")
	} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, drivers.ErrTimeout) {
		t.Errorf("offline meter: %v, want a timeout", err)
	}
	if _, err := ctl.Status(ctx); err != nil {
		t.Errorf("neighbour of an offline unit: %v", err)
	}
}
