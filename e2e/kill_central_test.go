package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestE2ECentralKill9 runs central as a subprocess (`parkgrid central`,
// SQLite) behind the real Mosquitto, which outlives it, with the edge
// binary producing batches all along. Central is killed with SIGKILL at
// random moments (often while it ingests the backlog that queued in its
// persistent session while it was down) and restarted. At the end nothing
// is lost (seqs gap-free) and nothing is doubled (checkExactlyOnce).
//
// Central's ingest subscribes in the fixed share group "central"
// (reading.SharedBatchTopic), so every central on the same broker shares
// its batches: the site, gateway and client ids are unique per run, the
// session is dropped at the end, and this test never runs beside another
// one with a central on Mosquitto.
func TestE2ECentralKill9(t *testing.T) {
	broker := "tcp://" + svctest.MosquittoAddr(t)
	parkgridBinary(t)
	kills := envInt("PARKGRID_E2E_CENTRAL_KILLS", 8)
	rng := e2eRand(t)
	dir := e2eDir(t)
	s := e2eSim(t, 30, 0)
	site, gw, centralID := uniqueID("e2e-site"), uniqueID("e2e-gw"), uniqueID("e2e-central")
	f := newEdgeFiles(t, dir, s, site, gw)
	st := centralconfig.Store{Driver: centralconfig.DriverSQLite, Path: filepath.Join(dir, "central.db")}
	cpath := centralFile(t, dir, st, broker, centralID, f)
	t.Cleanup(func() { dropMQTTState(t, broker, site, centralID, "parkgrid-edge-"+gw) })
	f.writeSite(t, broker)
	tap := newWireTap(t, broker, f)
	centralLog, edgeLog := filepath.Join(dir, "central.log"), filepath.Join(dir, "edge.log")
	showLogTail(t, centralLog)
	showLogTail(t, edgeLog)

	var edge *proc
	startCentralProc := func() (*proc, time.Duration) {
		t.Helper()
		at := time.Now()
		// debug: ingest logs each redelivered batch it had already stored
		p := startProcEnv(t, "debug", centralLog, "msg=subscribed", "central", "--config", cpath)
		select {
		case <-p.ready:
		case <-p.done:
			t.Fatalf("central exited: %v", p.err)
		case <-time.After(30 * time.Second):
			t.Fatal("central did not subscribe within 30 s")
		}
		return p, time.Since(at)
	}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	// pause waits d unless the edge dies first.
	pause := func(d time.Duration) {
		t.Helper()
		select {
		case <-time.After(d):
		case <-edge.done:
			t.Fatalf("the edge exited: %v", edge.err)
		}
	}

	c, _ := startCentralProc()
	edge = startProc(t, edgeLog, "", "edge", "--config", f.SitePath)
	// A car arrives before the kills and leaves half-way through them: its
	// OCMF begin and end snapshots reach central across central's deaths.
	edgeStart := time.Now()
	tap.waitFor(t, "batches 2 s after the edge started", 30*time.Second, func(w *wireTap) bool {
		return w.lastSent.After(edgeStart.Add(2 * time.Second))
	})
	point := ""
	for _, p := range s.State().Points {
		if p.Car == nil {
			point = p.Name
			break
		}
	}
	if point == "" {
		t.Fatal("no free charge point in the simulator")
	}
	if err := s.PlugCar(point, sim.Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var (
		n                int
		startups         time.Duration
		backlogAtRestart []uint64
	)
	restart := func() {
		t.Helper()
		backlogAtRestart = append(backlogAtRestart, tap.MaxSeq()-tap.Ack())
		var took time.Duration
		c, took = startCentralProc()
		startups += took
	}
	for i := range kills {
		if i == kills/2 {
			if err := s.UnplugCar(point); err != nil {
				t.Fatal(err)
			}
		}
		pause(between(100*time.Millisecond, 2*time.Second))
		c.kill()
		n++
		// Down for a while: the edge keeps publishing, Mosquitto queues the
		// batches in central's persistent session.
		pause(between(200*time.Millisecond, 2*time.Second))
		restart()
		if i%2 == 0 {
			// Kill this one soon, while it takes in that backlog.
			pause(between(0, 300*time.Millisecond))
			c.kill()
			n++
			restart()
		}
	}
	t.Logf("%d central kills in %s (restart to subscribed: %s on average); unacked seqs at each restart %v",
		n, time.Since(start).Round(time.Millisecond), (startups / time.Duration(n)).Round(time.Millisecond), backlogAtRestart)

	// Nothing lost: central catches up with everything published.
	published := tap.MaxSeq()
	caught := time.Now()
	tap.waitAck(t, published, 90*time.Second)
	t.Logf("central acked seq %d, all published before, %s after the kills", published, time.Since(caught).Round(time.Millisecond))
	if err := edge.stop(30 * time.Second); err != nil {
		t.Errorf("edge after SIGTERM: %v", err)
	}
	head := f.drainOutbox(t, broker, 60*time.Second)
	tap.waitAck(t, head, 30*time.Second)
	if err := c.stop(30 * time.Second); err != nil {
		t.Errorf("central after SIGTERM: %v", err)
	}
	res := checkExactlyOnce(t, openStore(t, st), f, head, tap)
	log, err := os.ReadFile(centralLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("central holds %s exactly once; %d messages published by the edge; %d batches redelivered to central after it had stored them",
		res, tap.messages, strings.Count(string(log), "batch already stored"))
	if ss := tap.sessions[point]; len(ss) != 2 || ss[0] != ss[1] {
		t.Errorf("snapshots of %s published: sessions %q, want a begin and an end of one session", point, ss)
	}
	// The plugged car's begin and end, and a begin for each car parked
	// when the edge started: every snapshot the meters signed, once.
	snaps := checkSnapshots(t, openStore(t, st), f, s)
	if res.Snapshots != snaps.Signed || snaps.Signed < 2 {
		t.Errorf("%d OCMF snapshots stored, the meters signed %d; want every one, and at least the plugged car's 2", res.Snapshots, snaps.Signed)
	}
}
