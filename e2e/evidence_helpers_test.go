package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// Helpers of the evidence tests (issue 12): simulated traffic, fast
// sessions, and the check that every snapshot the meters signed is stored
// at central exactly once.

// e2eSimTraffic starts the small car park with cars arriving at each free
// point arrivalsPerHour (simulated) and staying meanStay on average, at
// speed simulated seconds per wall second.
func e2eSimTraffic(t *testing.T, speed, arrivalsPerHour float64, meanStay time.Duration) *sim.Sim {
	t.Helper()
	cfg, err := sim.LoadConfig(filepath.Join(svctest.RepoRoot(t), "deploy", "sim-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.API = "127.0.0.1:0", "off"
	cfg.Speed = speed
	cfg.Cars.ArrivalsPerHour = arrivalsPerHour
	cfg.Cars.ConnectedAtStart = 0.5
	cfg.Cars.MeanStay, cfg.Cars.MinStay = meanStay, meanStay/4
	s, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fastSessions makes the edge see cars within a fraction of a second of its
// start: a control step (which hands the charge points' states to the
// sessions) every 200 ms, and chargers polled as often, so that kills land
// while sessions begin and end.
func (f *edgeFiles) fastSessions() {
	f.doc["control"] = map[string]any{"interval": "200ms"}
	bus := f.doc["buses"].([]any)[0].(map[string]any)
	for _, d := range bus["devices"].([]any) {
		if d := d.(map[string]any); d["driver"] == "phoenix" {
			d["poll"] = "200ms"
		}
	}
}

// snapshotAccount is what checkSnapshots found.
type snapshotAccount struct {
	Signed, Stored int
	Sessions       int // sessions with a stored snapshot
	Complete       int // of those, with a begin and an end
}

func (a snapshotAccount) String() string {
	return fmt.Sprintf("%d snapshots signed by the meters, %d stored (%d sessions, %d with begin and end)", a.Signed, a.Stored, a.Sessions, a.Complete)
}

// checkSnapshots checks that every snapshot each Eichrecht meter of the
// simulator signed (its pagination T1..Tn, n from the simulator's counter)
// is stored at central exactly once, verified, and nothing else. Call it
// when no edge runs. lost are records the edge's disk damaged, declared
// lost by gap records: they may be missing.
func checkSnapshots(t *testing.T, st store.Store, f *edgeFiles, s *sim.Sim, lost ...string) snapshotAccount {
	t.Helper()
	snaps, err := st.Snapshots(context.Background(), store.SnapshotFilter{Gateway: f.Gateway})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		meter string
		page  string
	}
	count := map[key]int{}
	tx := map[string][]string{} // session → transaction letters
	var acc snapshotAccount
	for _, sn := range snaps {
		rec, err := ocmf.Parse(sn.OCMF)
		if err != nil {
			t.Errorf("stored snapshot %s/%d: %v", sn.Meter, sn.Seq, err)
			continue
		}
		if !sn.Verified {
			t.Errorf("snapshot %s %s stored unverified", sn.Meter, rec.Fields.PG)
		}
		count[key{sn.Meter, rec.Fields.PG}]++
		acc.Stored++
		if sn.Session != "" && len(rec.Fields.RD) > 0 {
			tx[sn.Session] = append(tx[sn.Session], rec.Fields.RD[len(rec.Fields.RD)-1].TX)
		}
	}
	lostPage := map[key]bool{}
	for _, rec := range lost {
		if r, err := ocmf.Parse(rec); err == nil {
			for _, p := range s.State().Points {
				if p.Name == r.Fields.CI {
					lostPage[key{p.Meter, r.Fields.PG}] = true
				}
			}
		}
	}
	for _, p := range s.State().Points {
		n := int(p.Snapshots)
		acc.Signed += n
		for i := 1; i <= n; i++ {
			switch c := count[key{p.Meter, fmt.Sprintf("T%d", i)}]; c {
			case 1:
			case 0:
				if !lostPage[key{p.Meter, fmt.Sprintf("T%d", i)}] {
					t.Errorf("meter %s signed snapshot T%d, central does not hold it", p.Meter, i)
				}
			default:
				t.Errorf("meter %s snapshot T%d stored %d times", p.Meter, i, c)
			}
			delete(count, key{p.Meter, fmt.Sprintf("T%d", i)})
		}
	}
	for k, c := range count {
		t.Errorf("central holds %d× snapshot %s of %s, which the meter did not sign (or beyond its counter)", c, k.page, k.meter)
	}
	for id, letters := range tx {
		acc.Sessions++
		slices.Sort(letters)
		if strings.Join(letters, "") == "BE" {
			acc.Complete++
		}
		if strings.Count(strings.Join(letters, ""), "B") > 1 || strings.Count(strings.Join(letters, ""), "E") > 1 {
			t.Errorf("session %s has snapshots %v: more than one begin or end", id, letters)
		}
	}
	return acc
}
