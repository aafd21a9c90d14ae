package ingest_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/central/ingest"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// v2Body is a contract v2 batch body of one reading, by hand.
func v2Body(epoch string, seq uint64, value int) []byte {
	return fmt.Appendf(nil, `{"v":2,"site":"site-a","gateway":"gw-1","epoch":%q,"seq":%d,"sent":"2026-11-25T10:00:00Z",`+
		`"readings":[{"t":"2026-11-25T10:00:00Z","device":"meter-0","q":"power_w","val":%d}]}`, epoch, seq, value)
}

// TestNewOutboxEpochIsStoredNotRejected: an edge whose outbox was wiped or
// replaced starts a new epoch at seq 1. Its batches are new data, stored
// beside the old epoch's, not replays of seqs central already holds.
func TestNewOutboxEpochIsStoredNotRejected(t *testing.T) {
	r := newRig(t, "")
	in := startIngest(t, cfg(r, "central-1"), r.st)
	e := newEdge(t, r.broker, "site-a")
	var msgs [][]byte
	for _, epoch := range []string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"} {
		for seq := uint64(1); seq <= 3; seq++ {
			msg, err := reading.SealBody("gw-1", v2Body(epoch, seq, int(seq)*10+len(msgs)), r.keys.gw)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, msg)
		}
	}
	e.publishAll(t, reading.BatchTopic("site-a"), msgs)
	eventually(t, "6 messages ingested", func() bool { st := in.Stats(); return st.BatchesStored+st.TotalRejected() >= 6 })
	if st := in.Stats(); st.BatchesStored != 6 || st.TotalRejected() != 0 {
		t.Fatalf("stored %d, rejected %v; want both epochs stored in full", st.BatchesStored, st.Rejected)
	}
	if c := counts(t, r.st); c.Batches != 6 || c.Readings != 6 {
		t.Fatalf("counts %+v, want 6 batches, 6 readings", c)
	}
}

// gapBody is a v2 gap record declaring from..to of epoch lost.
func gapBody(epoch string, seq, from, to uint64) []byte {
	return fmt.Appendf(nil, `{"v":2,"site":"site-a","gateway":"gw-1","epoch":%q,"seq":%d,"sent":"2026-11-25T10:00:00Z",`+
		`"gap":{"from":%d,"to":%d,"reason":"corrupt","detail":"bad CRC"}}`, epoch, seq, from, to)
}

// TestAcksAreSignedPerEpochAndPassGaps: every ack is signed with central's
// key and names its epoch; a stored gap record lets the ack move past the
// seqs it declares lost.
func TestAcksAreSignedPerEpochAndPassGaps(t *testing.T) {
	r := newRig(t, "")
	startIngest(t, cfg(r, "central-1"), r.st)
	e := newEdge(t, r.broker, "site-a")
	const epoch = "0123456789abcdef0123456789abcdef"
	send := func(body []byte) {
		msg, err := reading.SealBody("gw-1", body, r.keys.gw)
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, reading.BatchTopic("site-a"), msg)
	}
	for _, seq := range []uint64{1, 2, 4} { // 3 was lost on the edge
		send(v2Body(epoch, seq, int(seq)))
	}
	if a := e.waitAck(t, "gw-1", 2); a.Epoch != epoch || a.Seq != 2 || a.Type != reading.TypeAck {
		t.Fatalf("ack %+v, want epoch %s seq 2", a, epoch)
	}
	send(gapBody(epoch, 5, 3, 3))
	if a := e.waitAck(t, "gw-1", 5); a.Epoch != epoch || a.Seq != 5 {
		t.Fatalf("ack %+v after the gap record, want seq 5", a)
	}
	ps, err := r.st.Progress(t.Context(), store.ProgressFilter{Gateway: "gw-1"})
	if err != nil || len(ps) != 1 || ps[0].Declared != 1 || ps[0].Held != 4 || ps[0].Contiguous != 5 {
		t.Fatalf("progress %+v, %v", ps, err)
	}
}

// TestProgressViewAndMetrics: per gateway and epoch, what central holds and
// what was declared lost, as JSON and as metrics.
func TestProgressViewAndMetrics(t *testing.T) {
	r := newRig(t, "")
	const epoch = "0123456789abcdef0123456789abcdef"
	var items []store.Item
	for _, body := range [][]byte{v2Body(epoch, 1, 1), v2Body(epoch, 3, 3), gapBody(epoch, 4, 2, 2)} {
		b, err := reading.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, store.Item{Gateway: b.Gateway, Seq: b.Seq, Batch: b, Body: body})
	}
	if _, err := r.st.SaveBatches(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	ingest.ProgressHandler(r.st).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/ingest/gateways?gateway=gw-1", nil))
	var view struct {
		Gateways []ingest.GatewayView `json:"gateways"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &view); err != nil {
		t.Fatalf("%s: %v", rec.Body.String(), err)
	}
	if len(view.Gateways) != 1 || len(view.Gateways[0].Epochs) != 1 {
		t.Fatalf("view %s", rec.Body.String())
	}
	ev := view.Gateways[0].Epochs[0]
	if ev.Epoch != epoch || ev.Contiguous != 4 || ev.Held != 3 || ev.Declared != 1 || len(ev.Gaps) != 1 || ev.Gaps[0].From != 2 || ev.Gaps[0].Reason != "corrupt" {
		t.Fatalf("epoch view %+v", ev)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(ingest.NewProgressCollector(r.st, 0, nil))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"parkgrid_central_gateway_seqs_held": 3, "parkgrid_central_gateway_seqs_declared_lost": 1,
		"parkgrid_central_gateway_seqs_waiting": 0, "parkgrid_central_gateway_contiguous_seq": 4, "parkgrid_central_gateway_epochs": 1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if got["parkgrid_central_gateway_last_seen_timestamp_seconds"] == 0 {
		t.Error("no last seen")
	}
}

// TestLegacyEdgesGetV1Acks: an edge from before signed acks (v1 batches)
// gets the unsigned v1 ack it reads, besides the signed one; a v2 edge
// gets only the signed ack.
func TestLegacyEdgesGetV1Acks(t *testing.T) {
	r := newRig(t, "")
	startIngest(t, cfg(r, "central-1"), r.st)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(r.broker).SetClientID("legacy-edge").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	got := make(chan []byte, 100)
	if tok := c.Subscribe(reading.AckTopic("site-a"), 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Payload() }); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	v1, err := reading.SealBody("gw-1", []byte(`{"v":1,"site":"site-a","gateway":"gw-1","seq":1,"sent":"2026-11-25T10:00:00Z"}`), r.keys.gw)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish(reading.BatchTopic("site-a"), 1, false, v1); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	var legacy, signed bool
	for !legacy || !signed {
		select {
		case m := <-got:
			if string(m) == `{"v":1,"gateway":"gw-1","seq":1}` {
				legacy = true
			} else if a, err := reading.OpenAck(m, ackPub); err == nil && a.Seq == 1 && a.Epoch == "" {
				signed = true
			} else {
				t.Fatalf("unexpected ack %s", m)
			}
		case <-time.After(deadline):
			t.Fatalf("legacy ack %v, signed ack %v", legacy, signed)
		}
	}
}
