package ingest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/central/broker"
	"github.com/parkgrid/parkgrid/central/ingest"
	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// deadline bounds every wait in these tests.
const deadline = 20 * time.Second

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// keys are a site's gateway and meter keys.
type keys struct {
	gw    ed25519.PrivateKey
	meter *ecdsa.PrivateKey
}

func newKeys(t testing.TB, seed byte) keys {
	t.Helper()
	s := sha256.Sum256([]byte{seed})
	m, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{gw: ed25519.NewKeyFromSeed(s[:]), meter: m}
}

func meterPubHex(t testing.TB, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(der)
}

// snapshot returns a valid OCMF record signed by k.
func snapshot(t testing.TB, k *ecdsa.PrivateKey, wh int) string {
	t.Helper()
	payload := fmt.Sprintf(`{"FV":"1.0","GI":"parkgrid","MS":"meter-0","RD":[{"TM":"2026-11-25T10:00:00,000+0100 S","TX":"B","RV":%d,"RI":"1-b:1.8.0","RU":"Wh","ST":"G"}]}`, wh)
	rec, err := ocmf.SignP256([]byte(payload), k)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// batch builds a batch of n readings of site's gateway; the first carries
// an OCMF snapshot when ocmf is set.
func batch(site, gw string, seq uint64, n int, ocmfRec string) reading.Batch {
	b := reading.Batch{Version: reading.CurrentVersion, Site: site, Gateway: gw, Seq: seq, Sent: t0.Add(time.Duration(seq) * time.Second)}
	for i := range n {
		r := reading.Reading{Time: t0.Add(time.Duration(seq)*time.Second + time.Duration(i)*time.Millisecond),
			Device: "meter-0", Point: "cp-1", Quantity: reading.QPowerW, Value: int64(seq)*100 + int64(i)}
		if i == 0 && ocmfRec != "" {
			r.Quantity, r.OCMF, r.Session = reading.QSnapshot, ocmfRec, "sess-1"
		}
		b.Readings = append(b.Readings, r)
	}
	return b
}

func seal(t testing.TB, b reading.Batch, k ed25519.PrivateKey) []byte {
	t.Helper()
	msg, err := reading.Seal(b, k)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// rig is one central under test: a store, a broker and the keys of site-a
// (gateway gw-1, meter meter-0).
type rig struct {
	st     *sqlite.Store
	broker string // tcp://host:port
	keys   keys
}

func logger(t testing.TB) *slog.Logger {
	if testing.Verbose() || os.Getenv("PARKGRID_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newRig starts an embedded broker (brokerURL empty) or uses brokerURL, and
// opens an enrolled SQLite store.
func newRig(t *testing.T, brokerURL string) *rig {
	t.Helper()
	if brokerURL == "" {
		b, err := broker.Start("127.0.0.1:0", logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		brokerURL = b.URL()
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "central.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, broker: brokerURL, keys: newKeys(t, 1)}
	ctx := t.Context()
	if err := st.EnrollGateway(ctx, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: r.keys.gw.Public().(ed25519.PublicKey)}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeterKey(ctx, store.MeterKey{Site: "site-a", Device: "meter-0", PublicKey: meterPubHex(t, r.keys.meter)}); err != nil {
		t.Fatal(err)
	}
	return r
}

// running is an Ingester running in the background.
type running struct {
	*ingest.Ingester
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// stop cancels Run and waits for it.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(deadline):
			t.Fatal("Run did not return after cancel")
		}
	})
}

// ackKey is central's ack key in these tests; ackPub what edges enrol.
var (
	ackKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	ackPub = ackKey.Public().(ed25519.PublicKey)
)

func startIngest(t *testing.T, cfg ingest.Config, st ingest.Store) *running {
	t.Helper()
	if cfg.AckKey == nil {
		cfg.AckKey = ackKey
	}
	in, err := ingest.New(cfg, st, ingest.NewOCMF(), ingest.Options{Logger: logger(t), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Ingester: in, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	select {
	case <-in.Ready():
	case err := <-r.done:
		t.Fatalf("Run returned before subscribing: %v", err)
	case <-time.After(deadline):
		t.Fatal("ingest did not subscribe")
	}
	return r
}

// edge is a test gateway: it publishes messages and collects acks.
type edge struct {
	c    mqtt.Client
	mu   sync.Mutex // protects acks
	acks []reading.Ack
	ack  chan reading.Ack
}

func newEdge(t *testing.T, brokerURL, site string) *edge {
	t.Helper()
	e := &edge{ack: make(chan reading.Ack, 10000)}
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("edge-%s-%d", site, time.Now().UnixNano())).
		SetCleanSession(true).SetOrderMatters(false)
	e.c = mqtt.NewClient(opts)
	if tok := e.c.Connect(); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatalf("edge connect: %v", tok.Error())
	}
	t.Cleanup(func() { e.c.Disconnect(100) })
	tok := e.c.Subscribe(reading.AckTopic(site), 1, func(_ mqtt.Client, m mqtt.Message) {
		a, err := reading.OpenAck(m.Payload(), ackPub)
		if err != nil {
			t.Errorf("bad ack %q: %v", m.Payload(), err)
			return
		}
		e.mu.Lock()
		e.acks = append(e.acks, a)
		e.mu.Unlock()
		e.ack <- a
	})
	if !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatalf("edge subscribe: %v", tok.Error())
	}
	return e
}

func (e *edge) publish(t testing.TB, topic string, msg []byte) {
	t.Helper()
	if tok := e.c.Publish(topic, 1, false, msg); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// publishAll publishes with a window of outstanding tokens.
func (e *edge) publishAll(t testing.TB, topic string, msgs [][]byte) {
	t.Helper()
	const window = 64
	var toks []mqtt.Token
	for _, m := range msgs {
		toks = append(toks, e.c.Publish(topic, 1, false, m))
		if len(toks) >= window {
			if !toks[0].WaitTimeout(deadline) || toks[0].Error() != nil {
				t.Fatalf("publish: %v", toks[0].Error())
			}
			toks = toks[1:]
		}
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(deadline) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
}

// waitAck waits for an ack of gateway with Seq ≥ seq.
func (e *edge) waitAck(t testing.TB, gateway string, seq uint64) reading.Ack {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case a := <-e.ack:
			if a.Gateway == gateway && a.Seq >= seq {
				return a
			}
		case <-timeout:
			t.Fatalf("no ack of %s seq ≥ %d within %v", gateway, seq, deadline)
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(deadline)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func counts(t testing.TB, st store.Store) store.Counts {
	t.Helper()
	c, err := st.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
