package ingest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// trustWorld is an Ingester over a real SQLite store with one gateway and
// one meter enrolled; checks run without MQTT.
type trustWorld struct {
	t     *testing.T
	st    *sqlite.Store
	in    *Ingester
	now   time.Time // the store's clock
	gwKey ed25519.PrivateKey
	meter *ecdsa.PrivateKey
	seq   uint64
}

var tw0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newTrustWorld(t *testing.T) *trustWorld {
	t.Helper()
	w := &trustWorld{t: t, now: tw0}
	var err error
	w.st, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "central.db"), sqlite.Options{Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	_, w.gwKey, _ = ed25519.GenerateKey(rand.Reader)
	w.enrolGateway(w.gwKey)
	w.meter = w.enrolMeter()
	// Ingest's clock moves a minute per reading and its key cache lives a
	// second, so every check sees the store as it is.
	tick := tw0
	w.in, err = New(Config{Broker: "tcp://127.0.0.1:1", ClientID: "t", KeyCacheTTL: time.Second, AckKey: testAckKey}, w.st, NewOCMF(),
		Options{Now: func() time.Time { tick = tick.Add(time.Minute); return tick }})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *trustWorld) enrolGateway(k ed25519.PrivateKey) {
	w.t.Helper()
	if err := w.st.EnrollGateway(w.t.Context(), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: k.Public().(ed25519.PublicKey)}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *trustWorld) enrolMeter() *ecdsa.PrivateKey {
	w.t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.st.SetMeterKey(w.t.Context(), store.MeterKey{Site: "site-a", Device: "meter-1", PublicKey: hex.EncodeToString(der)}); err != nil {
		w.t.Fatal(err)
	}
	return k
}

// record signs an OCMF record of meter-1: page T<page>, identification
// id, transaction tx, register kWh at minute min after tw0.
func (w *trustWorld) record(key *ecdsa.PrivateKey, page int, id, tx, kwh string, min int) string {
	w.t.Helper()
	tm := tw0.Add(time.Duration(min)*time.Minute).Format("2006-01-02T15:04:05,000-0700") + " S"
	payload := fmt.Sprintf(`{"FV":"1.0","PG":"T%d","MS":"m-1","IS":true,"ID":%q,"RD":[{"TM":%q,"TX":%q,"RV":%s,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"}]}`,
		page, id, tm, tx, kwh)
	rec, err := ocmf.SignP256([]byte(payload), key)
	if err != nil {
		w.t.Fatal(err)
	}
	return rec
}

// batch seals the next batch of gw-1 with key carrying the given
// snapshots, claimed for session; sent is its signed Sent time.
func (w *trustWorld) batch(key ed25519.PrivateKey, sent time.Time, session string, snaps ...string) []byte {
	w.t.Helper()
	w.seq++
	b := reading.Batch{Site: "site-a", Gateway: "gw-1", Seq: w.seq, Sent: sent,
		Readings: []reading.Reading{{Time: sent, Device: "meter-1", Point: "cp-1", Quantity: reading.QPowerW, Value: 7200}}}
	for _, s := range snaps {
		b.Readings = append(b.Readings, reading.Reading{Time: sent, Device: "meter-1", Point: "cp-1", Quantity: reading.QSnapshot, OCMF: s, Session: session})
	}
	msg, err := reading.Seal(b, key)
	if err != nil {
		w.t.Fatal(err)
	}
	return msg
}

// check runs the verification of one message; "" means accepted.
func (w *trustWorld) check(msg []byte) (reason, detail string) {
	w.t.Helper()
	v, err := w.in.check(w.t.Context(), reading.BatchTopic("site-a"), msg)
	if err != nil {
		w.t.Fatalf("check: transient error %v", err)
	}
	if v.reject != nil {
		return v.reject.Reason, v.reject.Detail
	}
	return "", ""
}

func (w *trustWorld) wantReason(what string, msg []byte, want string) {
	w.t.Helper()
	got, detail := w.check(msg)
	if got != want {
		w.t.Errorf("%s: reason %q (%s), want %q", what, got, detail, want)
	}
}

// TestRevokedGatewayRefused: once revoked (removed from the config), a
// gateway's batches are refused, even correctly signed ones; enrolled
// again, it is accepted again.
func TestRevokedGatewayRefused(t *testing.T) {
	w := newTrustWorld(t)
	w.wantReason("before revocation", w.batch(w.gwKey, tw0, ""), "")
	if err := w.st.RevokeGateway(t.Context(), "gw-1", "test", "removed"); err != nil {
		t.Fatal(err)
	}
	w.wantReason("after revocation", w.batch(w.gwKey, tw0, ""), ReasonRevoked)
	w.enrolGateway(w.gwKey)
	w.wantReason("reinstated", w.batch(w.gwKey, tw0, ""), "")
}

// TestKeyRotationKeepsOldBatchesVerifiable: after a rotation the batches an
// edge signed with its old key before the rotation are accepted, batches
// claiming a later time with the old key are not, a revoked old key
// verifies nothing, and the stored batches re-verify with the key history.
func TestKeyRotationKeepsOldBatchesVerifiable(t *testing.T) {
	w := newTrustWorld(t)
	oldKey := w.gwKey
	early := w.batch(oldKey, tw0.Add(-time.Minute), "")
	late := w.batch(oldKey, tw0.Add(2*time.Minute), "")
	w.now = tw0.Add(time.Minute)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	w.enrolGateway(newKey) // rotation at tw0+1m
	w.wantReason("old key, sent before the rotation", early, "")
	w.wantReason("old key, sent after the rotation", late, ReasonSignature)
	w.wantReason("new key", w.batch(newKey, tw0.Add(2*time.Minute), ""), "")

	// What was stored re-verifies with the key history.
	v, _ := w.in.check(t.Context(), reading.BatchTopic("site-a"), early)
	if _, err := w.st.SaveBatches(t.Context(), []store.Item{v.item}); err != nil {
		t.Fatal(err)
	}
	sb, err := w.st.Batch(t.Context(), "gw-1", v.item.Batch.Epoch, v.item.Seq)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := w.st.Gateway(t.Context(), "gw-1")
	verified := false
	for _, k := range g.Keys {
		if ed25519.Verify(k.PublicKey, sb.Body, sb.Sig) && store.KeyValidAt(k, sb.Sent) {
			verified = true
		}
	}
	if !verified {
		t.Error("the stored batch does not re-verify with the gateway's key history")
	}

	if err := w.st.RevokeGatewayKey(t.Context(), "gw-1", oldKey.Public().(ed25519.PublicKey), "test", "stolen"); err != nil {
		t.Fatal(err)
	}
	w.wantReason("old key after its revocation", w.batch(oldKey, tw0.Add(-time.Minute), ""), ReasonSignature)
}

// TestSnapshotUnderForeignSessionRefused is the case: a begin
// snapshot signed for session s-1, re-sent claiming session s-2, verifies
// as a signature but is refused.
func TestSnapshotUnderForeignSessionRefused(t *testing.T) {
	w := newTrustWorld(t)
	begin := w.record(w.meter, 1, "s-1", "B", "10.000", 0)
	w.wantReason("begin of s-1", w.batch(w.gwKey, tw0, "s-1", begin), "")
	w.wantReason("the same begin claimed for s-2", w.batch(w.gwKey, tw0, "s-2", begin), ReasonSessionMismatch)
	w.wantReason("a begin signed for s-3 claimed for s-2", w.batch(w.gwKey, tw0, "s-2", w.record(w.meter, 2, "s-3", "B", "10.000", 1)), ReasonSessionMismatch)
	// Redelivery of the accepted batch's snapshot in another batch passes.
	w.wantReason("the same begin again for s-1", w.batch(w.gwKey, tw0, "s-1", begin), "")

	// A record the meter signed without identification is bound to the
	// first session that claims it.
	anon := w.record(w.meter, 3, "", "B", "11.000", 2)
	w.wantReason("record without identification for s-4", w.batch(w.gwKey, tw0, "s-4", anon), "")
	w.wantReason("the same record claimed for s-5", w.batch(w.gwKey, tw0, "s-5", anon), ReasonSessionMismatch)
	w.wantReason("the same record for no session", w.batch(w.gwKey, tw0, "", anon), ReasonSessionMismatch)
}

// TestEvidenceContinuity: one record per page, registers never decrease
// whatever order they arrive in, one begin and one end per session, begin
// before end.
func TestEvidenceContinuity(t *testing.T) {
	w := newTrustWorld(t)
	rec := func(page int, id, tx, kwh string, min int) string { return w.record(w.meter, page, id, tx, kwh, min) }
	b := func(session string, snaps ...string) []byte { return w.batch(w.gwKey, tw0, session, snaps...) }

	w.wantReason("T1 begin", b("s-1", rec(1, "s-1", "B", "10.000", 0)), "")
	w.wantReason("another T1", b("s-9", rec(1, "s-9", "B", "11.000", 1)), ReasonEvidenceConflict)
	w.wantReason("T3 end (T2 arrives later)", b("s-1", rec(3, "s-1", "E", "12.000", 20)), "")
	w.wantReason("T2 below T1", b("", rec(2, "", "C", "9.000", 10)), ReasonEvidenceOrder)
	w.wantReason("T2 above T3", b("", rec(2, "", "C", "12.500", 10)), ReasonEvidenceOrder)
	w.wantReason("T2 between", b("", rec(2, "", "C", "11.000", 10)), "")
	w.wantReason("second end of s-1", b("s-1", rec(4, "s-1", "E", "13.000", 30)), ReasonEvidenceConflict)
	w.wantReason("s-2 end before its begin page", b("s-2", rec(5, "s-2", "E", "14.000", 40)), "")
	w.wantReason("s-2 begin after its end", b("s-2", rec(6, "s-2", "B", "15.000", 50)), ReasonEvidenceOrder)
	w.wantReason("begin and end in one batch", b("s-3", rec(7, "s-3", "B", "20.000", 60), rec(8, "s-3", "E", "21.000", 70)), "")
	w.wantReason("a batch with one bad snapshot", b("s-4", rec(9, "s-4", "B", "22.000", 80), rec(10, "s-4", "E", "1.000", 90)), ReasonEvidenceOrder)
	// The refused batch left nothing behind: its good T9 can come again.
	w.wantReason("T9 alone", b("s-4", rec(9, "s-4", "B", "22.000", 80)), "")

	// A record whose own readings decrease.
	payload := `{"FV":"1.0","PG":"T20","ID":"s-5","RD":[{"TX":"B","RV":30,"RU":"kWh"},{"TX":"E","RV":29,"RU":"kWh"}]}`
	r, err := ocmf.SignP256([]byte(payload), w.meter)
	if err != nil {
		t.Fatal(err)
	}
	w.wantReason("decreasing inside a record", b("s-5", r), ReasonEvidenceOrder)
}

// TestMeterKeyRotation: a snapshot the meter signed before its key was
// replaced still verifies; one claiming a later time with the old key does
// not.
func TestMeterKeyRotation(t *testing.T) {
	w := newTrustWorld(t)
	old := w.meter
	w.now = tw0.Add(30 * time.Minute)
	w.meter = w.enrolMeter()
	w.wantReason("old key, reading before the rotation", w.batch(w.gwKey, tw0, "s-1", w.record(old, 1, "s-1", "B", "1.000", 10)), "")
	got, detail := w.check(w.batch(w.gwKey, tw0, "s-2", w.record(old, 2, "s-2", "B", "2.000", 40)))
	if got != ReasonOCMFInvalid || !strings.Contains(detail, "retired") {
		t.Errorf("old key, reading after the rotation: %q %s", got, detail)
	}
	w.wantReason("new key", w.batch(w.gwKey, tw0, "s-2", w.record(w.meter, 2, "s-2", "B", "2.000", 40)), "")
}
