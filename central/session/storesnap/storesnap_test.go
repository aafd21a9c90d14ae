package storesnap_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/session/storesnap"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/edge/reading"
)

var t0 = sessiontest.T0

func item(t *testing.T, seq uint64, verified bool, rs ...reading.Reading) store.Item {
	t.Helper()
	b := reading.Batch{Version: reading.CurrentVersion, Site: "mitte", Gateway: "gw-1", Seq: seq, Sent: t0, Readings: rs}
	body, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return store.Item{Gateway: "gw-1", Seq: seq, Batch: b, Body: body, OCMFVerified: verified}
}

func snap(dev, sess, rec string) reading.Reading {
	return reading.Reading{Time: t0, Device: dev, Point: "cp-07", Quantity: reading.QSnapshot, OCMF: rec, Session: sess}
}

// TestSessionSnapshotsFromTheSQLiteStore stores batches through the ingest
// store and measures a session from what the adapter reads back: only
// that session's, that meter's snapshots, with their verified mark.
func TestSessionSnapshotsFromTheSQLiteStore(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "central.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		t.Fatal(err)
	}
	begin := m.Record(1, "B", 1_000, t0)
	other := m.Record(2, "B", 9_000, t0.Add(time.Hour))
	end := m.Record(3, "E", 13_345, t0.Add(30*time.Minute))
	_, err = st.SaveBatches(t.Context(), []store.Item{
		item(t, 1, true, snap("m-07", "s-1", begin), reading.Reading{Time: t0, Device: "m-07", Quantity: reading.QEnergyWh, Value: 999_999}),
		item(t, 2, true, snap("m-07", "s-2", other), snap("m-08", "s-1", other)),
		item(t, 3, true, snap("m-07", "s-1", end)),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := storesnap.New(st).SessionSnapshots(t.Context(), "mitte", "m-07", "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sessiontest.Verified(begin, end), got); diff != "" {
		t.Errorf("snapshots of s-1 (-want +got):\n%s", diff)
	}
	if ms := session.Measure(got); len(ms.Flags) != 0 || ms.EnergyWh != 12_345 {
		t.Errorf("measured %d Wh, flags %v; want 12345 Wh", ms.EnergyWh, ms.Flags)
	}
}

// fakeLister ignores the filter, as a store with a bug would.
type fakeLister []store.Snapshot

func (f fakeLister) Snapshots(_ context.Context, _ store.SnapshotFilter) ([]store.Snapshot, error) {
	return f, nil
}

func TestForeignSnapshotsDropped(t *testing.T) {
	l := fakeLister{
		{Site: "mitte", Meter: "m-07", Session: "s-1", OCMF: "a", Verified: true},
		{Site: "mitte", Meter: "m-07", Session: "s-2", OCMF: "b", Verified: true},
		{Site: "nord", Meter: "m-07", Session: "s-1", OCMF: "c", Verified: true},
		{Site: "mitte", Meter: "m-08", Session: "s-1", OCMF: "d"},
	}
	got, err := storesnap.New(l).SessionSnapshots(context.Background(), "mitte", "m-07", "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]session.Snapshot{{OCMF: "a", Verified: true}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
