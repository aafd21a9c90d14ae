package edge

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/session"
	"github.com/parkgrid/parkgrid/edge/sign"
)

// evidenceDirs are an edge installation's key and outbox, kept across
// restarts of the daemon within one test.
type evidenceDirs struct {
	dir string
	pub ed25519.PublicKey
}

func newEvidenceDirs(t *testing.T) evidenceDirs {
	t.Helper()
	dir := t.TempDir()
	pub, err := sign.Generate(filepath.Join(dir, "keys"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return evidenceDirs{dir: dir, pub: pub}
}

// start runs the edge with its uplink to an unreachable broker: nothing is
// acked, so the outbox keeps everything the edge stored.
func (e evidenceDirs) start(t *testing.T, s *sim.Sim, mod func(*config.Site)) *edgeRun {
	t.Helper()
	r := startEdgeWith(t, s, mod, func(o *Options) {
		o.UplinkBroker = "tcp://127.0.0.1:1"
		o.UplinkKey = filepath.Join(e.dir, "keys", sign.PrivateFile)
		o.UplinkOutbox = filepath.Join(e.dir, "outbox")
		o.UplinkCentralKey = testCentralPub
	})
	return r
}

// stored opens every record in the running edge's outbox.
func (e evidenceDirs) stored(t *testing.T, box *outbox.Outbox) []reading.Batch {
	t.Helper()
	var out []reading.Batch
	for rec, err := range box.Pending(0, 64) {
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := reading.Open(rec.Data, func(string) (ed25519.PublicKey, error) { return e.pub, nil })
		if err != nil {
			t.Fatalf("outbox record %d: %v", rec.Seq, err)
		}
		out = append(out, b)
	}
	return out
}

// snapshotsOf returns the OCMF snapshot readings of point in bs.
func snapshotsOf(bs []reading.Batch, point string) []reading.Reading {
	var out []reading.Reading
	for _, b := range bs {
		for _, r := range b.Readings {
			if r.OCMF != "" && r.Point == point {
				out = append(out, r)
			}
		}
	}
	return out
}

func pointState(st sim.State, name string) sim.PointState {
	for _, p := range st.Points {
		if p.Name == name {
			return p
		}
	}
	return sim.PointState{}
}

// TestEdgeSnapshotDurableWhenTaken: the snapshot a meter signs is in the
// outbox (fsynced) at once, not held in memory until the next batch cut
// (an hour here).
func TestEdgeSnapshotDurableWhenTaken(t *testing.T) {
	e := newEvidenceDirs(t)
	s := simSmall(t)
	r := e.start(t, s, func(c *config.Site) {
		c.Uplink.BatchMaxDelay = time.Hour
		c.Uplink.BatchMaxReadings = 1 << 20
		c.Uplink.ReadingInterval = time.Hour
	})
	r.untilStep("a few control steps", 10*time.Second, func(sim.State) bool { return true })
	r.untilStep("a few control steps", 10*time.Second, func(sim.State) bool { return true })
	if err := s.PlugCar("p01", sim.Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	r.untilStep("p01's meter signed a begin snapshot", 15*time.Second, func(st sim.State) bool { return pointState(st, "p01").Snapshots > 0 })
	r.untilStep("the snapshot in the outbox", 5*time.Second, func(sim.State) bool {
		return len(snapshotsOf(e.stored(t, r.d.uplink.box), "p01")) > 0
	})
}

// TestEdgeCarPluggedAtStartGetsBegin: a car that arrived while the edge was
// down gets a begin snapshot when the edge starts.
func TestEdgeCarPluggedAtStartGetsBegin(t *testing.T) {
	e := newEvidenceDirs(t)
	s := simSmall(t)
	if err := s.PlugCar("p03", sim.Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	r := e.start(t, s, func(c *config.Site) { c.Uplink.BatchMaxDelay = 200 * time.Millisecond })
	r.untilStep("p03's begin snapshot in the outbox", 15*time.Second, func(sim.State) bool {
		return len(snapshotsOf(e.stored(t, r.d.uplink.box), "p03")) > 0
	})
	// The session-begin event says the car arrived while the edge was down,
	// and carries the meter's counter.
	var begin *reading.Event
	for _, b := range e.stored(t, r.d.uplink.box) {
		for _, ev := range b.Events {
			if ev.Kind == session.EventBegin && ev.Point == "p03" {
				begin = &ev
			}
		}
	}
	if begin == nil || begin.Attrs["began_while_down"] != "true" || begin.Attrs["session"] != snapshotsOf(e.stored(t, r.d.uplink.box), "p03")[0].Session {
		t.Fatalf("session-begin event %+v, want began_while_down for the snapshot's session", begin)
	}
}

// TestEdgeSessionSurvivesRestart: a session open when the edge stops keeps
// its id across the restart and gets its end snapshot.
func TestEdgeSessionSurvivesRestart(t *testing.T) {
	e := newEvidenceDirs(t)
	s := simSmall(t)
	mod := func(c *config.Site) { c.Uplink.BatchMaxDelay = 200 * time.Millisecond }
	r := e.start(t, s, mod)
	r.untilStep("a control step", 10*time.Second, func(sim.State) bool { return true })
	r.untilStep("a control step", 10*time.Second, func(sim.State) bool { return true })
	if err := s.PlugCar("p04", sim.Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	var session string
	r.untilStep("p04's begin snapshot", 15*time.Second, func(sim.State) bool {
		if ss := snapshotsOf(e.stored(t, r.d.uplink.box), "p04"); len(ss) > 0 {
			session = ss[0].Session
			return true
		}
		return false
	})
	r.stop()

	r = e.start(t, s, mod)
	r.untilStep("a control step", 10*time.Second, func(sim.State) bool { return true })
	r.untilStep("a control step", 10*time.Second, func(sim.State) bool { return true })
	if err := s.UnplugCar("p04"); err != nil {
		t.Fatal(err)
	}
	r.untilStep("p04's end snapshot of session "+session, 15*time.Second, func(sim.State) bool {
		ss := snapshotsOf(e.stored(t, r.d.uplink.box), "p04")
		return len(ss) >= 2 && ss[len(ss)-1].Session == session
	})
}

// TestEdgeUplinkUpOnlyWhileConnected: parkgrid_edge_uplink_up says whether
// the edge is connected to central's broker, not whether the uplink was
// configured.
func TestEdgeUplinkUpOnlyWhileConnected(t *testing.T) {
	e := newEvidenceDirs(t)
	s := simSmall(t)
	r := e.start(t, s, nil)
	r.untilStep("a control step", 10*time.Second, func(sim.State) bool { return true })
	if v := gauge(t, r.d, "parkgrid_edge_uplink_up"); v != 0 {
		t.Fatalf("parkgrid_edge_uplink_up = %v with the broker unreachable, want 0", v)
	}
}

// gauge reads a metric without labels from the daemon's registry.
func gauge(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			return metricValue(m)
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}
