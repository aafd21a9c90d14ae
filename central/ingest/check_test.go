package ingest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// fakeStore is an in-memory Store holding enrolments only.
type fakeStore struct {
	gateways map[string]store.Gateway
	meters   map[[2]string]store.MeterKey
}

func (f *fakeStore) Gateway(_ context.Context, id string) (store.Gateway, error) {
	if g, ok := f.gateways[id]; ok {
		return g, nil
	}
	return store.Gateway{}, store.ErrNotFound
}

func (f *fakeStore) MeterKey(_ context.Context, site, device string) (store.MeterKey, error) {
	if k, ok := f.meters[[2]string{site, device}]; ok {
		return k, nil
	}
	return store.MeterKey{}, store.ErrNotFound
}

func (f *fakeStore) SaveBatches(context.Context, []store.Item) ([]store.Outcome, error) {
	return nil, nil
}
func (f *fakeStore) HighestContiguousSeq(context.Context, string, string) (uint64, error) {
	return 0, nil
}
func (f *fakeStore) RecordRejections(context.Context, []store.Rejection) error { return nil }
func (f *fakeStore) MeterKeys(context.Context, string, string) ([]store.MeterKey, error) {
	return nil, nil
}
func (f *fakeStore) WithEvidence(context.Context, string, []string, func(store.EvidenceTx) error) error {
	return nil // the fake keeps no evidence index: binding passes
}

var _ Store = (*fakeStore)(nil)
var _ Store = store.Store(nil)

func TestSiteOf(t *testing.T) {
	for topic, want := range map[string]string{
		"parkgrid/v1/site-a/up/batch": "site-a", "parkgrid/v1//up/batch": "", "parkgrid/v1/a/b/up/batch": "",
		"parkgrid/v2/a/up/batch": "", "parkgrid/v1/a/up/reply": "",
	} {
		if got, ok := siteOf(topic); got != want || ok != (want != "") {
			t.Errorf("siteOf(%q) = %q, %v; want %q", topic, got, ok, want)
		}
	}
}

// FuzzCheck feeds arbitrary topics and messages to the verification step:
// it never panics, never reports a transient error with a healthy store,
// and accepts only batches whose body the enrolled gateway signed, for the
// topic's site.
func FuzzCheck(f *testing.F) {
	seed := sha256.Sum256([]byte("fuzz gateway"))
	key := ed25519.NewKeyFromSeed(seed[:])
	fs := &fakeStore{
		gateways: map[string]store.Gateway{"gw-1": {ID: "gw-1", Site: "site-a", PublicKey: key.Public().(ed25519.PublicKey)}},
		meters:   map[[2]string]store.MeterKey{},
	}
	in, err := New(Config{Broker: "tcp://127.0.0.1:1", ClientID: "fuzz", AckKey: testAckKey}, fs, NewOCMF(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	good, err := reading.Seal(reading.Batch{Site: "site-a", Gateway: "gw-1", Seq: 1, Sent: time.Unix(0, 0),
		Readings: []reading.Reading{{Device: "m", Quantity: reading.QPowerW, Value: 1}}}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("parkgrid/v1/site-a/up/batch", good)
	f.Add("parkgrid/v1/site-b/up/batch", good)
	f.Add("parkgrid/v1/site-a/up/batch", []byte(`{"gateway":"gw-1","body":"e30=","sig":""}`))
	f.Add("x", []byte("{"))
	f.Fuzz(func(t *testing.T, topic string, msg []byte) {
		v, err := in.check(context.Background(), topic, msg)
		if err != nil {
			t.Fatalf("transient error with a healthy store: %v", err)
		}
		if v.reject != nil {
			if v.reject.Reason == "" || v.reject.Size != len(msg) {
				t.Fatalf("rejection %+v", v.reject)
			}
			return
		}
		it := v.item
		g := fs.gateways[it.Gateway]
		if site, _ := siteOf(topic); site != it.Batch.Site || g.Site != site {
			t.Fatalf("accepted batch of site %q on topic %q", it.Batch.Site, topic)
		}
		if !ed25519.Verify(g.PublicKey, it.Body, it.Sig) {
			t.Fatal("accepted a body the gateway did not sign")
		}
		if err := store.CheckItem(it); err != nil {
			t.Fatalf("accepted an item the store refuses: %v", err)
		}
	})
}

// testAckKey is the ack key of the ingesters built in this package's tests.
var testAckKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
