package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestE2EEdgeKill9 kills the real edge binary with SIGKILL at random
// moments (50–900 ms after each start) while it samples the simulator and
// sends signed batches to central, and while cars arrive and leave (the
// edge takes their signed begin and end snapshots), restarts it each time,
// and at the end checks that central holds every batch the edge ever
// appended exactly once, byte for byte, with seqs 1..N gap-free
// (checkExactlyOnce), and every snapshot the meters signed exactly once
// (checkSnapshots: the meters' own counters). After every kill it opens
// the outbox as the next start would and checks that no seq already
// published was lost and the durable head never went back.
//
// Variants: central with SQLite and its embedded broker; with PostgreSQL;
// with SQLite through the real Mosquitto. They run in parallel.
func TestE2EEdgeKill9(t *testing.T) {
	variants := []struct {
		name      string
		store     func(t *testing.T, dir string) centralconfig.Store
		mosquitto bool
	}{
		{"sqlite", sqliteStore, false},
		{"postgres", func(t *testing.T, _ string) centralconfig.Store {
			return centralconfig.Store{Driver: centralconfig.DriverPostgres, DSN: svctest.PostgresDSN(t)}
		}, false},
		{"mosquitto", sqliteStore, true},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			broker := ""
			if v.mosquitto {
				broker = "tcp://" + svctest.MosquittoAddr(t)
			}
			edgeKillLoop(t, v.store(t, ""), broker)
		})
	}
}

func sqliteStore(_ *testing.T, dir string) centralconfig.Store {
	return centralconfig.Store{Driver: centralconfig.DriverSQLite, Path: filepath.Join(dir, "central.db")}
}

// edgeKillLoop is one variant: central in-process on st, through broker
// ("" = central's embedded broker).
func edgeKillLoop(t *testing.T, st centralconfig.Store, broker string) {
	parkgridBinary(t)
	kills := envInt("PARKGRID_E2E_KILLS", 200)
	rng := e2eRand(t)
	dir := e2eDir(t)
	if st.Driver == centralconfig.DriverSQLite {
		st.Path = filepath.Join(dir, "central.db")
	}
	// Cars come and go: at each free point 4 an hour, staying 8 min on
	// average (simulated; the simulator runs 30× faster), so the ~2 min of
	// kills see dozens of sessions begin and end.
	s := e2eSimTraffic(t, 30, 4, 8*time.Minute)
	site, gw, centralID := uniqueID("e2e-site"), uniqueID("e2e-gw"), uniqueID("e2e-central")
	f := newEdgeFiles(t, dir, s, site, gw)
	f.fastSessions()
	c := startCentral(t, centralFile(t, dir, st, broker, centralID, f))
	if broker != "" {
		t.Cleanup(func() { dropMQTTState(t, broker, site, centralID, "parkgrid-edge-"+gw) })
	}
	f.writeSite(t, c.Broker)
	tap := newWireTap(t, c.Broker, f)
	edgeLog := filepath.Join(dir, "edge.log")
	showLogTail(t, edgeLog)

	// The kill loop.
	start := time.Now()
	var (
		prevHead    uint64
		torn, early int
		alive       time.Duration
	)
	for i := range kills {
		p := startProc(t, edgeLog, "", "edge", "--config", f.SitePath)
		wait := 50*time.Millisecond + time.Duration(rng.Int64N(int64(850*time.Millisecond)))
		select {
		case <-p.done:
			t.Fatalf("kill %d: the edge exited on its own after %s: %v", i, time.Since(start), p.err)
		case <-time.After(wait):
		}
		p.kill()
		alive += wait
		published := tap.MaxSeq() // everything published was durable before
		rep := f.outboxReport(t)
		if rep.Head < published {
			t.Fatalf("kill %d: outbox head %d after recovery, but seq %d was already published: a durable record was lost", i, rep.Head, published)
		}
		if rep.Head < prevHead {
			t.Fatalf("kill %d: outbox head went back from %d to %d", i, prevHead, rep.Head)
		}
		if rep.Head == prevHead {
			early++
		}
		prevHead = rep.Head
		torn += len(rep.Truncated)
		if len(rep.Holes) > 0 {
			t.Fatalf("kill %d: the outbox has holes %+v: a kill damaged durable records", i, rep.Holes)
		}
	}
	loop := time.Since(start)
	t.Logf("%d kills in %s (edge alive %s in all, %.0f ms per restart cycle); head %d, acked by central %d; "+
		"%d restarts appended nothing; %d torn tails cut",
		kills, loop.Round(time.Millisecond), alive.Round(time.Millisecond), float64(loop.Milliseconds())/float64(kills),
		prevHead, tap.Ack(), early, torn)

	// A clean run: the edge's own uplink drains the backlog of the kills,
	// and a car arriving and leaving gives OCMF begin and end snapshots.
	clean := time.Now()
	p := startProc(t, edgeLog, "", "edge", "--config", f.SitePath)
	tap.waitAck(t, prevHead, 60*time.Second)
	backlog := time.Since(clean)
	plugAndUnplug(t, s, tap, clean, 30*time.Second)
	if err := p.stop(30 * time.Second); err != nil {
		t.Errorf("edge after SIGTERM: %v", err)
	}
	// What the clean stop flushed into the outbox: sent by the edge's uplink
	// code in-process (the daemon would send it at its next start).
	head := f.drainOutbox(t, c.Broker, 60*time.Second)
	tap.waitAck(t, head, 30*time.Second)
	c.stop(t)
	t.Logf("clean run: backlog acked %s after the start, run with a car plugged and unplugged and drained in %s",
		backlog.Round(time.Millisecond), time.Since(clean).Round(time.Millisecond))
	check := time.Now()
	defer func() { t.Logf("check took %s", time.Since(check).Round(time.Millisecond)) }()

	res := checkExactlyOnce(t, openStore(t, st), f, head, tap)
	t.Logf("central holds %s exactly once; %d messages on the wire (redeliveries included)", res, tap.messages)
	snaps := checkSnapshots(t, openStore(t, st), f, s)
	edgeLogBytes, _ := os.ReadFile(edgeLog)
	t.Logf("%s; %d snapshots read back from a meter after a kill, %d found in the outbox after a kill (stored, not yet noted), %d cars found at a start",
		snaps, strings.Count(string(edgeLogBytes), "the meter signed a snapshot the edge had not stored"),
		strings.Count(string(edgeLogBytes), "snapshot found in the outbox after a restart"),
		strings.Count(string(edgeLogBytes), "arrived while the edge was down"))
	if res.MeterKeyEvents < len(f.Meters) {
		t.Errorf("%d meter-key events stored, want at least one per Eichrecht meter (%d)", res.MeterKeyEvents, len(f.Meters))
	}
	if res.Snapshots < 2 || snaps.Signed < 10 {
		t.Errorf("%d OCMF snapshots stored, %d signed by the meters; want a begin and an end at least, and traffic", res.Snapshots, snaps.Signed)
	}
}

// plugAndUnplug plugs a car into a free point of the simulator and unplugs
// it again, waiting each time until the running edge's OCMF snapshot
// (begin, then end of the same session) was published: both travel through
// the edge, its outbox and central, which verifies them against the meter
// key it has enrolled. since is when the edge started.
func plugAndUnplug(t *testing.T, s *sim.Sim, tap *wireTap, since time.Time, within time.Duration) {
	t.Helper()
	// The edge opens a session only for a car it sees arrive, so let it
	// see every point first (a control step a second).
	seenAfter := func(at time.Time) func(w *wireTap) bool {
		return func(w *wireTap) bool { return w.lastSent.After(at) }
	}
	tap.waitFor(t, "batches 2 s after the start", within, seenAfter(since.Add(2*time.Second)))
	point := ""
	for _, p := range s.State().Points {
		if p.Car == nil {
			point = p.Name
			break
		}
	}
	if point == "" {
		point = "p01"
		if err := s.UnplugCar(point); err != nil {
			t.Fatal(err)
		}
		tap.waitFor(t, "batches 2 s after an unplug", within, seenAfter(time.Now().Add(2*time.Second)))
	}
	tap.mu.Lock()
	before := len(tap.sessions[point])
	tap.mu.Unlock()
	if err := s.PlugCar(point, sim.Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	var session string
	tap.waitFor(t, "begin snapshot of "+point, within, func(w *wireTap) bool {
		if len(w.sessions[point]) > before {
			session = w.sessions[point][before]
			return true
		}
		return false
	})
	if err := s.UnplugCar(point); err != nil {
		t.Logf("unplug %s: %v (the simulated car left by itself)", point, err)
	}
	tap.waitFor(t, "end snapshot of session "+session, within, func(w *wireTap) bool {
		return slices.Contains(w.sessions[point][before+1:], session)
	})
}
