package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// broker is an in-process mochi MQTT broker that a test can stop and start
// again on the same address.
type broker struct {
	t      testing.TB
	addr   string
	tlsCfg *tls.Config // for a second, TLS listener on tlsAddr
	tlsAdr string
	srv    *mochi.Server
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startBroker(t testing.TB) *broker {
	b := &broker{t: t, addr: freeAddr(t)}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	b.t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		b.t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: b.addr})); err != nil {
		b.t.Fatal(err)
	}
	if b.tlsCfg != nil {
		if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tls", Address: b.tlsAdr, TLSConfig: b.tlsCfg})); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := srv.Serve(); err != nil {
		b.t.Fatal(err)
	}
	b.srv = srv
}

// allowAll lets every client connect, publish and subscribe. (mochi's own
// hooks/auth pulls in a YAML module this repository does not use.)
type allowAll struct{ mochi.HookBase }

func (h *allowAll) ID() string { return "allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mochi.Client, string, bool) bool              { return true }

func (b *broker) stop() {
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

func (b *broker) url() string { return "tcp://" + b.addr }

// central is a fake central: it verifies every batch with the gateway's
// public key, stores seqs once and acks the highest contiguous one.
type central struct {
	t    testing.TB
	site string
	gw   string
	pub  ed25519.PublicKey
	key  ed25519.PrivateKey // central's: signs the acks
	c    mqtt.Client

	mu       sync.Mutex // protects the fields below
	stored   map[uint64][]byte
	order    []uint64 // seqs in arrival order, repeats included
	contig   uint64
	ackOn    bool
	dropNext int // ignore this many more batches (lost by "central")
	statuses []string
	bad      int // messages that failed to open
	changed  chan struct{}
	epoch    string
}

// centralKey is the fake central's ack key, the same in every test.
var centralKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xce}, ed25519.SeedSize))

func startCentral(t testing.TB, brokerURL, site, gw string, pub ed25519.PublicKey) *central {
	t.Helper()
	c := &central{t: t, site: site, gw: gw, pub: pub, key: centralKey, stored: map[uint64][]byte{}, ackOn: true, changed: make(chan struct{})}
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).
		SetClientID(fmt.Sprintf("central-%s-%d", site, time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(50 * time.Millisecond).SetMaxReconnectInterval(100 * time.Millisecond).
		SetOrderMatters(false).
		SetOnConnectHandler(func(cl mqtt.Client) {
			cl.Subscribe(reading.BatchTopic(site), 1, c.onBatch)
			cl.Subscribe(reading.StatusTopic(site), 1, c.onStatus)
		})
	c.c = mqtt.NewClient(opts)
	tok := c.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("central connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.c.Disconnect(0) })
	return c
}

func (c *central) onBatch(cl mqtt.Client, m mqtt.Message) {
	keys := func(gw string) (ed25519.PublicKey, error) {
		if gw != c.gw {
			return nil, fmt.Errorf("unknown gateway %q", gw)
		}
		return c.pub, nil
	}
	b, body, err := reading.Open(m.Payload(), keys)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.bad++
		c.t.Errorf("central: %v", err)
		return
	}
	if c.dropNext > 0 {
		c.dropNext--
		return
	}
	c.order = append(c.order, b.Seq)
	c.epoch = b.Epoch
	if old, ok := c.stored[b.Seq]; ok && !bytes.Equal(old, body) {
		c.t.Errorf("central: seq %d arrived with different bytes", b.Seq)
	}
	c.stored[b.Seq] = body
	for c.stored[c.contig+1] != nil {
		c.contig++
	}
	close(c.changed)
	c.changed = make(chan struct{})
	if c.ackOn && c.contig > 0 {
		msg, _ := reading.SealAck(reading.Ack{Gateway: c.gw, Epoch: c.epoch, Seq: c.contig}, c.key)
		cl.Publish(reading.AckTopic(c.site), 1, false, msg)
	}
}

func (c *central) onStatus(_ mqtt.Client, m mqtt.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses = append(c.statuses, string(m.Payload()))
	close(c.changed)
	c.changed = make(chan struct{})
}

// ack publishes an ack for the current contiguous head.
func (c *central) ackNow() {
	c.mu.Lock()
	seq, epoch := c.contig, c.epoch
	c.ackOn = true
	c.mu.Unlock()
	msg, _ := reading.SealAck(reading.Ack{Gateway: c.gw, Epoch: epoch, Seq: seq}, c.key)
	c.c.Publish(reading.AckTopic(c.site), 1, false, msg).Wait()
}

// waitFor waits until cond holds for the central's state.
func (c *central) waitFor(what string, d time.Duration, cond func(c *central) bool) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ok, ch := cond(c), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			c.t.Fatalf("central: timed out after %s waiting for %s (contig %d, %d stored, statuses %v)", d, what, c.contig, len(c.stored), c.statuses)
		}
	}
}

// waitAcked waits until the outbox's acked head reaches seq.
func waitAcked(t testing.TB, box *outbox.Outbox, seq uint64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for box.Acked() < seq {
		if time.Now().After(deadline) {
			t.Fatalf("outbox acked %d after %s, want %d", box.Acked(), d, seq)
		}
		<-tick.C
	}
}

// logSink is a slog handler that keeps messages for assertions and echoes
// them to the test log.
type logSink struct {
	t  testing.TB
	mu *sync.Mutex
	ms *[]string
	as []slog.Attr
}

func newLogSink(t testing.TB) (*slog.Logger, func() []string) {
	var (
		mu sync.Mutex
		ms []string
	)
	h := &logSink{t: t, mu: &mu, ms: &ms}
	return slog.New(h), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ms...)
	}
}

func (h *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (h *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.as {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	*h.ms = append(*h.ms, b.String())
	h.mu.Unlock()
	h.t.Log(b.String())
	return nil
}
func (h *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSink{t: h.t, mu: h.mu, ms: h.ms, as: append(append([]slog.Attr(nil), h.as...), as...)}
}
func (h *logSink) WithGroup(string) slog.Handler { return h }

// fixture is an outbox, a gateway key and a sealed-batch appender.
type fixture struct {
	box  *outbox.Outbox
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	site string
	gw   string
	up   *Uplink // set by run
}

func newFixture(t testing.TB, site string) *fixture {
	t.Helper()
	box, _, err := outbox.Open(context.Background(), t.TempDir(), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	pub, priv, _ := ed25519.GenerateKey(nil)
	return &fixture{box: box, pub: pub, priv: priv, site: site, gw: "gw-" + site}
}

// add appends n sealed batches of one reading each, from 8 goroutines so
// that group commit keeps it quick.
func (f *fixture) add(t testing.TB, n int) {
	t.Helper()
	parallelAppend(t, f.box, n, func(seq uint64) ([]byte, error) {
		return reading.Seal(reading.Batch{
			Site: f.site, Gateway: f.gw, Epoch: f.box.Epoch(), Seq: seq, Sent: time.Unix(1764064800, 0).UTC(),
			Readings: []reading.Reading{{Time: time.Unix(1764064800, 0).UTC(), Device: "grid", Quantity: reading.QPowerW, Value: int64(seq)}},
		}, f.priv)
	})
}

func parallelAppend(t testing.TB, box *outbox.Outbox, n int, payload func(uint64) ([]byte, error)) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		left = n
	)
	for range min(8, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				if _, err := box.Append(context.Background(), payload); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// run starts an Uplink for the fixture and stops it at cleanup; stop
// cancels it and waits for Run to return.
func (f *fixture) run(t testing.TB, cfg Config) (stop func()) {
	t.Helper()
	cfg.Site, cfg.Gateway = f.site, f.gw
	if cfg.CentralKey == nil {
		cfg.CentralKey = centralKey.Public().(ed25519.PublicKey)
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 500 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log, _ = newLogSink(t)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 2 * time.Second
	}
	u, err := New(cfg, f.box)
	if err != nil {
		t.Fatal(err)
	}
	f.up = u
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// withCentralKey enrols the fake central's ack key in cfg.
func (f *fixture) withCentralKey(cfg Config) Config {
	cfg.CentralKey = centralKey.Public().(ed25519.PublicKey)
	return cfg
}
