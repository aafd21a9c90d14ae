package control

import (
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/loadmgmt"
)

// TestEMSLimitCapsTheConnection: an EMS limit caps the grid connection,
// chargers plus the other load the grid meter measures (docs/ems.md); a
// limit with scope "ev" caps the chargers alone.
func TestEMSLimitCapsTheConnection(t *testing.T) {
	const other = 10000 // 10 A on every phase besides the chargers
	for _, tt := range []struct {
		scope Scope
		want  int64 // A the chargers may draw per phase
	}{{ScopeConnection, 30}, {"", 30}, {ScopeEV, 40}} {
		t.Run(string(tt.scope), func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
			f.car(1, drivers.StateC)
			f.car(2, drivers.StateC)
			f.step(time.Second, other, true)
			f.loop.SetEMSLimit(EMSLimit{RequestID: "r1", MaxCurrentMA: &[3]int64{40000, 40000, 40000}, Scope: tt.scope, TTL: time.Minute}, f.clk.Now())
			for range 4 {
				f.step(time.Second, other, true)
			}
			if sum, each := f.drawnA(); sum != tt.want {
				t.Errorf("chargers %v A = %d A, want %d A under a 40 A %q limit with 10 A other load", each, sum, tt.want, tt.scope)
			}
			st := f.loop.Status()
			if st.Limits[0].Kind[0] != loadmgmt.LimitEMS || st.Limits[0].LimitMA[0] != tt.want*1000 {
				t.Errorf("grid limit %+v", st.Limits[0])
			}
		})
	}
}

// TestEMSLimitOfZeroAndWithdrawal: 0 A is a limit (every charger at 0) and
// is reported as 0; a withdrawn limit stops at once.
func TestEMSLimitOfZeroAndWithdrawal(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.step(time.Second, 0, true)
	f.step(time.Second, 0, true)
	eff := f.loop.SetEMSLimit(EMSLimit{RequestID: "stop", MaxCurrentMA: &[3]int64{}, TTL: time.Minute}, f.clk.Now())
	if eff.MaxCurrentMA == nil || *eff.MaxCurrentMA != [3]int64{} || eff.GridLimitMA != [3]int64{} {
		t.Errorf("effective %+v, want 0 A reported as 0", eff)
	}
	f.step(time.Second, 0, true)
	if a := f.out.amps("cp-1"); a != 0 {
		t.Errorf("cp-1 at %d A under a 0 A limit", a)
	}
	w := int64(0)
	f.loop.SetEMSLimit(EMSLimit{RequestID: "stop-w", MaxPowerW: &w, TTL: time.Minute}, f.clk.Now())
	f.step(time.Second, 0, true)
	if st := f.loop.Status(); st.Limits[0].LimitMA != [3]int64{} {
		t.Errorf("0 W: grid limit %+v", st.Limits[0])
	}
	eff = f.loop.SetEMSLimit(EMSLimit{RequestID: "stop-w"}, f.clk.Now()) // TTL 0: withdraw
	if !eff.Expires.IsZero() || eff.GridLimitKind[0] == loadmgmt.LimitEMS {
		t.Errorf("withdrawn: %+v", eff)
	}
	for range 2 {
		f.step(time.Second, 0, true)
	}
	if a := f.out.amps("cp-1"); a != 32 {
		t.Errorf("cp-1 at %d A after the withdrawal, want 32", a)
	}
}

// TestReversedCTIsNoHeadroom: a grid meter reading a negative current (a
// current transformer the wrong way round) is an alarm and the site runs on
// its safe budget; it never reads as more headroom.
func TestReversedCTIsNoHeadroom(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RaiseEvery = 0 })
	f.car(1, drivers.StateC)
	f.car(2, drivers.StateC)
	for range 3 {
		f.step(time.Second, 30000, true) // 30 A other load: 32 A for the chargers
	}
	if sum, _ := f.drawnA(); sum != 32 {
		t.Fatalf("chargers at %d A", sum)
	}
	for range 3 {
		f.clk.Advance(time.Second)
		f.refresh(30000, true)
		f.state.PutMeter("gm", f.clk.Now(), drivers.MeterSample{CurrentMA: [3]int64{-30000, 30000, 30000}})
		f.loop.Step(f.ctx, f.clk.Now())
	}
	st := f.loop.Status()
	if !st.Grid.Reversed || !st.Grid.Stale {
		t.Errorf("grid %+v, want reversed (and the safe budget)", st.Grid)
	}
	if sum, each := f.drawnA(); sum > 20 {
		t.Errorf("chargers %v A = %d A with a reversed CT, want at most the 20 A safe budget", each, sum)
	}
}
