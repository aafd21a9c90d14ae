package control

import (
	"slices"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/site"
)

// silence drops controller id's readings (it stops answering) by giving
// the loop a state without it.
func (f *fixture) silence(id string) *site.State {
	var specs []site.Spec
	for _, d := range []string{"gm", "cc-1", "m-1", "cc-2", "m-2", "cc-3", "m-3", "cc-4", "m-4"} {
		if d != id {
			specs = append(specs, site.Spec{ID: d, Interval: time.Second})
		}
	}
	return site.New(specs)
}

// TestFailsafeReappliedAfterReboot: a controller that was offline and comes
// back rebooted (power-on defaults: no fallback, no watchdog) has its
// failsafe read back and applied again.
func TestFailsafeReappliedAfterReboot(t *testing.T) {
	f := newFixture(t, nil)
	f.loop.ConfigureFailsafe(f.ctx, f.clk.Now())
	if fb, wd := f.fs["cp-4"].FailsafeSet(); fb != 6 || wd != 15*time.Second {
		t.Fatalf("cp-4 failsafe %d A / %s", fb, wd)
	}
	f.step(time.Second, 0, true)
	// cp-4's controller goes silent for a while and reboots.
	full := f.state
	f.state = f.silence("cc-4")
	f.loop.state = f.state
	for range 5 {
		f.step(time.Second, 0, true)
	}
	f.fs["cp-4"].Reboot(16)
	f.state = full
	f.loop.state = full
	f.car(4, drivers.StateA)
	f.step(time.Second, 0, true)
	f.loop.ConfigureFailsafe(f.ctx, f.clk.Now())
	if fb, wd := f.fs["cp-4"].FailsafeSet(); fb != 6 || wd != 15*time.Second {
		t.Errorf("after the reboot: cp-4 failsafe %d A / %s, want 6 A / 15s again", fb, wd)
	}
}

// TestFailsafeNotAppliedIsAnAlarm: a controller that does not take its
// failsafe is reported per point and counted; one without the capability
// says so.
func TestFailsafeNotAppliedIsAnAlarm(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Points[2].Failsafe = nil })
	f.fs["cp-2"].SetWriteErrFor("failsafe", drivers.ErrTimeout)
	f.loop.ConfigureFailsafe(f.ctx, f.clk.Now())
	f.step(time.Second, 0, true)
	st := f.loop.Status()
	var got []string
	for _, p := range st.Points {
		got = append(got, p.ID+":"+p.Failsafe)
	}
	want := []string{"cp-1:ok", "cp-2:failed", "cp-3:none", "cp-4:ok"}
	if !slices.Equal(got, want) {
		t.Errorf("failsafe per point %v, want %v", got, want)
	}
	if n := f.loop.FailsafeFailed(); n != 1 {
		t.Errorf("FailsafeFailed = %d, want 1", n)
	}
}
