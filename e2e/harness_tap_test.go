package e2e

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// ---------------------------------------------------------------------------
// The tap: what went over the wire.

// The tap's login at central's embedded broker (centralFile enrols it).
const (
	tapUser     = "e2e-tap"
	tapPassword = "e2e-tap-secret"
)

// wireTap subscribes to the site's batch and ack topics and records, per
// outbox epoch and seq, the hash of every distinct body published, and the
// highest ack. Methods without an epoch are about the latest epoch seen.
type wireTap struct {
	gateway string
	pub     ed25519.PublicKey
	central ed25519.PublicKey // verifies the acks

	mu        sync.Mutex // protects the fields below
	bodies    map[tapKey][32]byte
	sent      map[tapKey]time.Time // each batch's signed time
	conflicts []string             // seqs seen with two different bodies
	bad       []string             // messages that do not open with the gateway key
	messages  int
	epoch     string              // of the latest batch
	maxSeq    map[string]uint64   // by epoch
	acks      map[string]uint64   // by epoch
	ackTimes  []ackTime           // every rise of an epoch's ack, in order
	badAcks   int                 // acks that do not open with central's key
	ackWait   chan struct{}       // closed and replaced on every new ack
	lastSent  time.Time           // latest Sent of a batch
	sessions  map[string][]string // point → session of each OCMF snapshot, as published
	gaps      []reading.Gap
	changed   chan struct{} // closed and replaced on every new batch
}

type tapKey struct {
	epoch string
	seq   uint64
}

// ackTime is when an epoch's ack first reached seq.
type ackTime struct {
	epoch string
	seq   uint64
	at    time.Time
}

// ackedAt returns when central's ack of the latest epoch first reached seq
// (zero: not yet).
func (w *wireTap) ackedAt(seq uint64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.ackTimes {
		if a.epoch == w.epoch && a.seq >= seq {
			return a.at
		}
	}
	return time.Time{}
}

func newWireTap(t *testing.T, broker string, f *edgeFiles) *wireTap {
	t.Helper()
	w := &wireTap{gateway: f.Gateway, pub: f.Pub, central: f.CentralPub, bodies: map[tapKey][32]byte{}, sent: map[tapKey]time.Time{},
		maxSeq: map[string]uint64{}, acks: map[string]uint64{},
		ackWait: make(chan struct{}), sessions: map[string][]string{}, changed: make(chan struct{})}
	topics := map[string]byte{reading.BatchTopic(f.Site): 1, reading.AckTopic(f.Site): 1}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(uniqueID("e2e-tap")).
		SetUsername(tapUser).SetPassword(tapPassword).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectTimeout(10 * time.Second).
		SetOnConnectHandler(func(c mqtt.Client) { c.SubscribeMultiple(topics, w.onMessage) }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("tap connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	// The connect handler subscribes again after a reconnect; this first
	// subscription is awaited, so the tap listens once we return.
	if tok := c.SubscribeMultiple(topics, w.onMessage); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("tap subscribe: %v", tok.Error())
	}
	return w
}

func (w *wireTap) onMessage(_ mqtt.Client, m mqtt.Message) {
	if strings.HasSuffix(m.Topic(), "/down/ack") {
		a, err := reading.OpenAck(m.Payload(), w.central)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.badAcks++
			return
		}
		if a.Gateway != w.gateway {
			return
		}
		if a.Seq > w.acks[a.Epoch] {
			w.acks[a.Epoch] = a.Seq
			w.ackTimes = append(w.ackTimes, ackTime{a.Epoch, a.Seq, time.Now()})
			close(w.ackWait)
			w.ackWait = make(chan struct{})
		}
		return
	}
	b, body, err := reading.Open(m.Payload(), func(string) (ed25519.PublicKey, error) { return w.pub, nil })
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages++
	if err != nil {
		w.bad = append(w.bad, err.Error())
		return
	}
	h := sha256.Sum256(body)
	k := tapKey{b.Epoch, b.Seq}
	if old, ok := w.bodies[k]; ok && old != h {
		w.conflicts = append(w.conflicts, fmt.Sprintf("epoch %q seq %d published with two different bodies", b.Epoch, b.Seq))
		return
	}
	if _, dup := w.bodies[k]; dup {
		return
	}
	w.bodies[k] = h
	w.sent[k] = b.Sent
	w.epoch = b.Epoch
	w.maxSeq[b.Epoch] = max(w.maxSeq[b.Epoch], b.Seq)
	if b.Sent.After(w.lastSent) {
		w.lastSent = b.Sent
	}
	for _, r := range b.Readings {
		if r.OCMF != "" {
			w.sessions[r.Point] = append(w.sessions[r.Point], r.Session)
		}
	}
	if b.Gap != nil {
		w.gaps = append(w.gaps, *b.Gap)
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// waitFor waits until cond, called with the tap locked, holds.
func (w *wireTap) waitFor(t *testing.T, what string, within time.Duration, cond func(w *wireTap) bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		w.mu.Lock()
		ok, ch := cond(w), w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// MaxSeq is the highest seq published so far in the latest epoch.
func (w *wireTap) MaxSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxSeq[w.epoch]
}

// Ack is the highest ack central published for the gateway's latest epoch.
func (w *wireTap) Ack() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acks[w.epoch]
}

// waitAck waits until central acked at least seq of the latest epoch.
func (w *wireTap) waitAck(t *testing.T, seq uint64, within time.Duration) {
	t.Helper()
	w.waitAckIn(t, "", seq, within)
}

// waitAckIn waits until central acked at least seq of epoch ("": the
// latest epoch).
func (w *wireTap) waitAckIn(t *testing.T, epoch string, seq uint64, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		w.mu.Lock()
		e := epoch
		if e == "" {
			e = w.epoch
		}
		got, ch := w.acks[e], w.ackWait
		w.mu.Unlock()
		if got >= seq {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("central acked %d of epoch %q, not %d, within %s", got, e, seq, within)
		}
	}
}
