package edge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/safety"
)

// TestSiteCommands: central's set-limit and safety-reset reach the control
// loop and the safety latch of a running edge on the simulator as the
// local EMS API's requests do: the limit is in force with its expiry and
// withdrawn again; a reset is refused without a latch and while the fire
// loop is open, and done once it is closed.
func TestSiteCommands(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdgeWith(t, s, nil, nil)
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	sc := siteCommands{r.d.ems}
	ctx := context.Background()

	ma := [3]int64{20_000, 20_000, 20_000}
	now := time.Now()
	in, err := sc.SetLimit(ctx, reading.SiteLimit{MaxCurrentMA: &ma, Scope: reading.ScopeEV, TTL: 2 * time.Hour}, "central/c-1", now)
	if err != nil {
		t.Fatal(err)
	}
	// TTL clamped to the site's max_ttl (1 h by default).
	if in.Source != "ems" || in.MaxCurrentMA != ma || in.RequestID != "central/c-1" || !in.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("limit in force %+v", in)
	}
	in, err = sc.SetLimit(ctx, reading.SiteLimit{}, "central/c-2", time.Now())
	if err != nil || in.Source == "ems" || !in.Expires.IsZero() || in.RequestID != "" {
		t.Errorf("after withdrawal %+v, %v", in, err)
	}

	if err := sc.ResetSafety(ctx, "ops via central", "nothing to reset", time.Now()); !errors.Is(err, safety.ErrNotLatched) {
		t.Errorf("reset without a latch: %v", err)
	}
	if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultFireLoopOpen}); err != nil {
		t.Fatal(err)
	}
	r.untilSafety(safety.EventCutDone, 15*time.Second)
	if err := sc.ResetSafety(ctx, "ops via central", "try", time.Now()); !errors.Is(err, safety.ErrAlarmPresent) || !strings.Contains(err.Error(), "alarm still present") {
		t.Errorf("reset with the loop open: %v", err)
	}
	if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultClear}); err != nil {
		t.Fatal(err)
	}
	r.untilStep("loop closed", 5*time.Second, func(sim.State) bool {
		c, _ := r.d.Safety().Present(time.Now())
		return c == ""
	})
	if err := sc.ResetSafety(ctx, "ops via central", "drill over", time.Now()); err != nil {
		t.Fatalf("reset with the loop closed: %v", err)
	}
	if st := r.d.Safety().Status(); st.Latched || st.LastReset == nil || st.LastReset.Who != "ops via central" {
		t.Errorf("after the reset: %+v", st)
	}
}
