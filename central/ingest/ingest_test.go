package ingest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/ingest"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

func cfg(r *rig, id string) ingest.Config {
	return ingest.Config{Broker: r.broker, ClientID: id, Linger: 2 * time.Millisecond}
}

func TestStoresVerifiesAndAcks(t *testing.T) {
	r := newRig(t, "")
	in := startIngest(t, cfg(r, "central-1"), r.st)
	e := newEdge(t, r.broker, "site-a")

	const n = 20
	var msgs [][]byte
	for seq := uint64(1); seq <= n; seq++ {
		msgs = append(msgs, seal(t, batch("site-a", "gw-1", seq, 10, snapshot(t, r.keys.meter, int(seq))), r.keys.gw))
	}
	e.publishAll(t, reading.BatchTopic("site-a"), msgs)
	a := e.waitAck(t, "gw-1", n)
	if a.Seq != n || a.Version != reading.CurrentVersion {
		t.Errorf("ack = %+v, want v%d seq %d", a, reading.CurrentVersion, n)
	}
	want := store.Counts{Batches: n, Readings: n * 10, Snapshots: n}
	if diff := cmp.Diff(want, counts(t, r.st)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	snaps, err := r.st.Snapshots(t.Context(), store.SnapshotFilter{Meter: "meter-0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if !s.Verified || !strings.HasPrefix(s.OCMF, "OCMF|") {
			t.Errorf("snapshot %d: verified=%v ocmf=%.20q", s.Seq, s.Verified, s.OCMF)
		}
	}
	// The stored body and signature verify again with the gateway key.
	b, err := r.st.Batch(t.Context(), "gw-1", "", 7)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(r.keys.gw.Public().(ed25519.PublicKey), b.Body, b.Sig) {
		t.Error("stored body and signature do not verify")
	}
	st := in.Stats()
	if st.BatchesStored != n || st.ReadingsStored != n*10 || st.TotalRejected() != 0 || st.Messages != n {
		t.Errorf("stats = %+v", st)
	}
	// The stats endpoint serves the same.
	rec := httptest.NewRecorder()
	in.StatsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/ingest/stats", nil))
	var got ingest.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.BatchesStored != n {
		t.Errorf("stats endpoint: %s (%v)", rec.Body.String(), err)
	}
}

// TestRejects sends each kind of bad message through the real path (MQTT,
// verification, store) and checks it is rejected for its reason, logged in
// the rejection log and never stored.
func TestRejects(t *testing.T) {
	r := newRig(t, "")
	in := startIngest(t, cfg(r, "central-1"), r.st)
	e := newEdge(t, r.broker, "site-a")
	runRejections(t, r, in.Ingester, e, "site-a", false)
}

// runRejections sends every kind of bad message and checks each is logged
// and refused. ownTopicOnly leaves out the message sent to another site's
// topic, for an ingest that subscribes to one site's topic only.
func runRejections(t *testing.T, r *rig, in *ingest.Ingester, e *edge, site string, ownTopicOnly bool) {
	ctx := t.Context()
	// A first valid batch, so replays have something to conflict with.
	good := batch(site, "gw-1", 1, 3, snapshot(t, r.keys.meter, 100))
	e.publish(t, reading.BatchTopic(site), seal(t, good, r.keys.gw))
	e.waitAck(t, "gw-1", 1)
	if site != "site-a" {
		t.Fatalf("rig enrols site-a only")
	}

	other := newKeys(t, 2)
	valid := snapshot(t, r.keys.meter, 200)
	big := batch(site, "gw-1", 2, 1, "")
	big.Readings[0].Device = strings.Repeat("x", reading.MaxBodyBytes)

	cases := []struct {
		name   string
		topic  string
		msg    []byte
		reason string
	}{
		{"forged gateway signature", "", seal(t, batch(site, "gw-1", 2, 3, ""), other.gw), ingest.ReasonSignature},
		{"unknown gateway", "", seal(t, batch(site, "gw-9", 1, 3, ""), other.gw), ingest.ReasonUnknownGateway},
		{"wrong version", "", func() []byte {
			b := batch(site, "gw-1", 2, 3, "")
			b.Version = reading.CurrentVersion + 1
			return seal(t, b, r.keys.gw)
		}(), ingest.ReasonVersion},
		{"tampered OCMF", "", seal(t, batch(site, "gw-1", 2, 3, strings.Replace(valid, `"RV":200`, `"RV":201`, 1)), r.keys.gw), ingest.ReasonOCMFInvalid},
		{"OCMF signed by another meter", "", seal(t, batch(site, "gw-1", 2, 3, snapshot(t, other.meter, 200)), r.keys.gw), ingest.ReasonOCMFInvalid},
		{"OCMF not parseable", "", seal(t, batch(site, "gw-1", 2, 3, "OCMF|garbage"), r.keys.gw), ingest.ReasonOCMFInvalid},
		{"meter without enrolled key", "", func() []byte {
			b := batch(site, "gw-1", 2, 3, valid)
			b.Readings[0].Device = "meter-9"
			return seal(t, b, r.keys.gw)
		}(), ingest.ReasonUnknownMeterKey},
		{"replay with other content", "", seal(t, batch(site, "gw-1", 1, 4, ""), r.keys.gw), ingest.ReasonReplayConflict},
		{"topic of another site", reading.BatchTopic("site-b"), seal(t, batch(site, "gw-1", 2, 3, ""), r.keys.gw), ingest.ReasonSiteMismatch},
		{"batch of another site", "", seal(t, batch("site-b", "gw-1", 2, 3, ""), r.keys.gw), ingest.ReasonSiteMismatch},
		{"not JSON", "", []byte("hello"), ingest.ReasonMalformed},
		{"envelope without signature", "", []byte(`{"gateway":"gw-1","body":"e30="}`), ingest.ReasonMalformed},
		{"signed body not a batch", "", func() []byte {
			m, err := reading.SealBody("gw-1", []byte(`{"v":1,"site":`), r.keys.gw)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}(), ingest.ReasonMalformed},
		{"seq 0", "", seal(t, batch(site, "gw-1", 0, 3, ""), r.keys.gw), ingest.ReasonMalformed},
		{"NUL in a device name", "", func() []byte {
			b := batch(site, "gw-1", 2, 3, "")
			b.Readings[2].Device = "meter\x00"
			return seal(t, b, r.keys.gw)
		}(), ingest.ReasonMalformed},
		{"oversized", "", seal(t, big, r.keys.gw), ingest.ReasonOversized},
	}
	if ownTopicOnly {
		kept := cases[:0]
		for _, c := range cases {
			if c.topic == "" {
				kept = append(kept, c)
			}
		}
		cases = kept
	}
	before := counts(t, r.st)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := c.topic
			if topic == "" {
				topic = reading.BatchTopic(site)
			}
			n := in.Stats().Rejected[c.reason]
			e.publish(t, topic, c.msg)
			eventually(t, "rejection "+c.reason, func() bool { return in.Stats().Rejected[c.reason] == n+1 })
			rs, err := r.st.Rejections(ctx, store.RejectionFilter{Reason: c.reason})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != int(n+1) {
				t.Fatalf("rejection log has %d entries for %s, want %d", len(rs), c.reason, n+1)
			}
			last := rs[len(rs)-1]
			if last.Topic != topic || last.Size != len(c.msg) || last.Detail == "" {
				t.Errorf("logged rejection = topic %q, size %d, detail %q", last.Topic, last.Size, last.Detail)
			}
		})
	}
	after := counts(t, r.st)
	before.Rejections += int64(len(cases))
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("store changed by rejected messages (-want +got):\n%s", diff)
	}
	if n, err := r.st.HighestContiguousSeq(ctx, "gw-1", ""); err != nil || n != 1 {
		t.Errorf("contiguous = %d, %v; want 1", n, err)
	}
	// The first version of seq 1 is the one kept.
	b, err := r.st.Batch(ctx, "gw-1", "", 1)
	if err != nil || b.Readings != 3 {
		t.Errorf("stored seq 1 = %d readings, %v; want the first version (3)", b.Readings, err)
	}
}

func TestReplayIsAckedNotStoredTwice(t *testing.T) {
	r := newRig(t, "")
	in := startIngest(t, cfg(r, "central-1"), r.st)
	e := newEdge(t, r.broker, "site-a")
	msg := seal(t, batch("site-a", "gw-1", 1, 5, snapshot(t, r.keys.meter, 1)), r.keys.gw)
	for range 3 {
		e.publish(t, reading.BatchTopic("site-a"), msg)
		e.waitAck(t, "gw-1", 1)
	}
	if c := counts(t, r.st); c.Batches != 1 || c.Readings != 5 {
		t.Errorf("counts = %+v, want 1 batch, 5 readings", c)
	}
	eventually(t, "3 acks confirmed", func() bool { return in.Stats().AcksPublished == 3 })
	if st := in.Stats(); st.BatchesStored != 1 || st.Duplicates != 2 {
		t.Errorf("stats = %+v, want 1 stored, 2 duplicates", st)
	}
}

func TestOutOfOrderAcksHighestContiguous(t *testing.T) {
	r := newRig(t, "")
	startIngest(t, cfg(r, "central-1"), r.st)
	e := newEdge(t, r.broker, "site-a")
	send := func(seq uint64) reading.Ack {
		e.publish(t, reading.BatchTopic("site-a"), seal(t, batch("site-a", "gw-1", seq, 2, ""), r.keys.gw))
		select {
		case a := <-e.ack:
			return a
		case <-time.After(deadline):
			t.Fatalf("no ack after seq %d", seq)
		}
		return reading.Ack{}
	}
	steps := []struct{ seq, ack uint64 }{{1, 1}, {3, 1}, {5, 1}, {2, 3}, {4, 5}}
	for _, s := range steps {
		if a := send(s.seq); a.Seq != s.ack {
			t.Errorf("after seq %d: ack %d, want %d", s.seq, a.Seq, s.ack)
		}
	}
	if c := counts(t, r.st); c.Batches != 5 {
		t.Errorf("%d batches stored, want 5", c.Batches)
	}
}

// crashingStore commits the n-th group for real, then hangs without
// returning, like a process killed between its commit and its acks.
type crashingStore struct {
	ingest.Store
	n       int32
	calls   atomic.Int32
	crashed chan struct{}
}

func (s *crashingStore) SaveBatches(ctx context.Context, items []store.Item) ([]store.Outcome, error) {
	if s.calls.Add(1) < s.n {
		return s.Store.SaveBatches(ctx, items)
	}
	if _, err := s.Store.SaveBatches(ctx, items); err != nil {
		return nil, err
	}
	select {
	case s.crashed <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestKillMidIngestLosesAndDoublesNothing stops an ingest while QoS 1
// messages are received but not acked (one group committed, its acks never
// sent, more waiting), then starts a new one with the same client id: the
// broker redelivers, and the store ends with every batch exactly once.
func TestKillMidIngestLosesAndDoublesNothing(t *testing.T) {
	r := newRig(t, "")
	const (
		n        = 300
		readings = 20
	)
	cs := &crashingStore{Store: r.st, n: 3, crashed: make(chan struct{}, 1)}
	c := cfg(r, "central-replica-1")
	c.MaxGroup = 16
	first := startIngest(t, c, cs)
	e := newEdge(t, r.broker, "site-a")
	var msgs [][]byte
	for seq := uint64(1); seq <= n; seq++ {
		var rec string
		if seq%10 == 0 {
			rec = snapshot(t, r.keys.meter, int(seq))
		}
		msgs = append(msgs, seal(t, batch("site-a", "gw-1", seq, readings, rec), r.keys.gw))
	}
	e.publishAll(t, reading.BatchTopic("site-a"), msgs)
	select {
	case <-cs.crashed:
	case <-time.After(deadline):
		t.Fatal("the store never crashed")
	}
	first.stop(t) // "kill": nothing after the hung commit is acked
	atCrash := counts(t, r.st)
	if atCrash.Batches == 0 || atCrash.Batches >= n {
		t.Fatalf("%d batches stored at the crash; the test needs some but not all", atCrash.Batches)
	}
	t.Logf("stored at crash: %d of %d batches", atCrash.Batches, n)

	second := startIngest(t, c, r.st)
	e.waitAck(t, "gw-1", n)
	got := counts(t, r.st)
	want := store.Counts{Batches: n, Readings: n * readings, Snapshots: n / 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts after restart (-want +got):\n%s", diff)
	}
	st := second.Stats()
	if st.BatchesStored != n-atCrash.Batches {
		t.Errorf("second ingest stored %d, want %d", st.BatchesStored, n-atCrash.Batches)
	}
	if st.Duplicates == 0 {
		t.Error("no duplicates after restart: the committed but un-acked group was not redelivered")
	}
	if st.TotalRejected() != 0 {
		t.Errorf("rejections: %v", st.Rejected)
	}
}

// TestSharedSubscriptionReplicas runs two replicas in one share group: each
// batch is stored once, whichever replica gets it.
func TestSharedSubscriptionReplicas(t *testing.T) {
	r := newRig(t, "")
	a := startIngest(t, cfg(r, "central-a"), r.st)
	b := startIngest(t, cfg(r, "central-b"), r.st)
	e := newEdge(t, r.broker, "site-a")
	const n = 100
	var msgs [][]byte
	for seq := uint64(1); seq <= n; seq++ {
		msgs = append(msgs, seal(t, batch("site-a", "gw-1", seq, 5, ""), r.keys.gw))
	}
	e.publishAll(t, reading.BatchTopic("site-a"), msgs)
	eventually(t, "all batches stored", func() bool { return counts(t, r.st).Batches == n })
	// A replica counts a batch as stored just after its commit, so wait
	// for the counters too; the store is idempotent, so they cannot pass n.
	eventually(t, "both replicas' counters", func() bool {
		return a.Stats().BatchesStored+b.Stats().BatchesStored == n
	})
	if sa, sb := a.Stats(), b.Stats(); sa.BatchesStored == 0 || sb.BatchesStored == 0 || sa.Messages+sb.Messages != n {
		t.Errorf("replicas stored %d + %d of %d + %d messages; want both to share %d", sa.BatchesStored, sb.BatchesStored, sa.Messages, sb.Messages, n)
	}
}

// TestAgainstMosquitto runs the acceptance and rejection paths through a
// real Mosquitto broker, in a share group of its own so that other central
// sessions on the same broker do not take its messages.
func TestAgainstMosquitto(t *testing.T) {
	addr := svctest.MosquittoAddr(t)
	r := newRig(t, "tcp://"+addr)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	c := cfg(r, "central-test-"+suffix)
	// Only site-a's topic: other tests on the same broker publish batches
	// of their own sites, which would count here as rejections.
	c.Topic = "$share/test" + suffix + "/" + reading.BatchTopic("site-a")
	t.Cleanup(func() { dropSession(t, r.broker, c.ClientID) })
	in := startIngest(t, c, r.st)
	e := newEdge(t, r.broker, "site-a")
	runRejections(t, r, in.Ingester, e, "site-a", true)

	var msgs [][]byte
	for seq := uint64(2); seq <= 50; seq++ {
		msgs = append(msgs, seal(t, batch("site-a", "gw-1", seq, 10, snapshot(t, r.keys.meter, int(seq))), r.keys.gw))
	}
	e.publishAll(t, reading.BatchTopic("site-a"), msgs)
	e.waitAck(t, "gw-1", 50)
	if c := counts(t, r.st); c.Batches != 50 {
		t.Errorf("%d batches, want 50", c.Batches)
	}
}

// dropSession removes a persistent session from the broker (connect with a
// clean session, disconnect).
func dropSession(t testing.TB, brokerURL, clientID string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetCleanSession(true))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}
