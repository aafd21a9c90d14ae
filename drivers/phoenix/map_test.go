package phoenix

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/driverstest"
)

// vendorMap is every register the EV-ETH map that evcc uses
// (charger/phoenix-ev-eth.go, docs/registers.md) lists, and whether a
// client may write it. A fake bus filled with exactly these answers
// exception 02 for anything else, as a real controller does.
var vendorMap = map[driverstest.Table]map[uint16]bool{
	driverstest.InputRegisters: {
		100: false,             // state letter, low byte
		102: false, 103: false, // charge time, s, uint32 low word first
		105: false, 106: false, // firmware
		108: false, 109: false, 110: false, 111: false, 112: false, 113: false, // voltages
		114: false, 115: false, 116: false, 117: false, 118: false, 119: false, // currents
		120: false, 121: false, // power
	},
	driverstest.Coils:            {400: true},                         // enable
	driverstest.HoldingRegisters: {528: true, 904: false, 905: false}, // max current; energy
}

// vendorBus is a fake controller at unit 255 serving only vendorMap: state
// C, charging for chargeS seconds, enabled at 16 A.
func vendorBus(chargeS uint32) *driverstest.Bus {
	b := driverstest.New()
	for table, regs := range vendorMap {
		for addr := range regs {
			b.Set(255, table, addr, 0)
		}
	}
	b.Set(255, driverstest.InputRegisters, 100, 'C')
	b.Set(255, driverstest.InputRegisters, 102, uint16(chargeS), uint16(chargeS>>16))
	b.Set(255, driverstest.Coils, 400, 1)
	b.Set(255, driverstest.HoldingRegisters, 528, 16)
	return b
}

// TestStatusAfterAMinuteOfCharging: input 102 is the charge time, not an
// offered current, so a controller that has charged for more than 63 s
// must still be readable (the old map failed every read from then on).
func TestStatusAfterAMinuteOfCharging(t *testing.T) {
	for _, secs := range []uint32{0, 64, 66, 3600, 100_000} {
		t.Run(fmt.Sprint(secs), func(t *testing.T) {
			st, err := New("cp-7", vendorBus(secs), 255).Status(context.Background())
			if err != nil {
				t.Fatalf("charging for %d s: %v", secs, err)
			}
			if st.State != drivers.StateC || st.OfferedA != 16 {
				t.Errorf("status %+v, want state C offering 16 A", st)
			}
		})
	}
}

// TestOnlyVendorRegisters drives every operation of the controller and
// fails on any request to a register the vendor map does not list, and on
// any write to a read-only one. A controller of this family has no
// documented fallback or watchdog register, so it must not claim the
// Failsafe capability.
func TestOnlyVendorRegisters(t *testing.T) {
	b := vendorBus(10)
	var bad []string
	b.Fail = func(c driverstest.Call) error {
		for i := range c.Qty {
			writable, ok := vendorMap[c.Table][c.Addr+i]
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("%s %d (not in the vendor map)", c.Table, c.Addr+i))
			case c.Write && !writable:
				bad = append(bad, fmt.Sprintf("write to read-only %s %d", c.Table, c.Addr+i))
			}
		}
		return nil
	}
	ctx := context.Background()
	c := New("cp-7", b, 255)
	_, _ = c.Status(ctx)
	for _, a := range []int{0, 6, 16, 63} {
		_ = c.SetMaxCurrentA(ctx, a)
	}
	_ = c.SetEnabled(ctx, false)
	_ = c.SetEnabled(ctx, true)
	if fs, ok := any(c).(drivers.Failsafe); ok {
		bad = append(bad, "claims drivers.Failsafe")
		_ = fs.SetFailsafe(ctx, 6, 15*time.Second)
	}
	if m, ok := any(c).(drivers.Meter); ok {
		_, _ = m.Sample(ctx)
	}
	for _, s := range bad {
		t.Error(s)
	}
}
