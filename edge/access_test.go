package edge

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/config"
)

type recordingGate map[string]int64

func (g recordingGate) SetPointLimit(point, source string, maxMA int64, _ time.Time) error {
	g[point+"/"+source] = maxMA
	return nil
}

func (g recordingGate) ClearPointLimit(point, source string) error {
	delete(g, point+"/"+source)
	return nil
}

// TestCentralPointsStartClosed: only points with access central get the
// access gate closed at construction.
func TestCentralPointsStartClosed(t *testing.T) {
	cfg := &config.Site{ID: "s", ChargePoints: []config.ChargePoint{
		{ID: "p1", Access: config.AccessCentral}, {ID: "p2"}, {ID: "p3", Access: config.AccessFree}, {ID: "p4", Access: config.AccessCentral},
	}}
	g := recordingGate{}
	if err := gateCentralPoints(cfg, g); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recordingGate{"p1/access": 0, "p4/access": 0}, g); diff != "" {
		t.Errorf("gates (-want +got):\n%s", diff)
	}
	for p, want := range map[string]bool{"p1": true, "p2": false, "p3": false, "p9": false} {
		if got := centralAccess(cfg, p); got != want {
			t.Errorf("centralAccess(%s) = %v", p, got)
		}
	}
}
