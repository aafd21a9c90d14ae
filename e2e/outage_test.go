package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/sign"
	"github.com/parkgrid/parkgrid/edge/uplink"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestE2EUplinkOutageBacklog cuts the uplink for a long simulated outage:
// 500 charge points, one energy reading each every 10 s, cut into signed
// batches of 250 by uplink.Batcher into the outbox, while the uplink
// (uplink.New + Run, as the edge runs it) cannot reach central through a
// cut link. Then the link comes back, the backlog drains into central
// (in-process, SQLite, embedded broker) and every batch is stored exactly
// once with the bytes that were appended. Central runs in-process with its
// embedded broker, on SQLite and on PostgreSQL. It logs the drain rate,
// which docs/benchmarks-e2e.md records.
//
// PARKGRID_E2E_OUTAGE_HOURS sets the outage (default 2 h: 1,440 batches,
// 360,000 readings; 24 gives the full day of 17,280 batches and 4.32 M
// readings). Under -race the default is 30 minutes (360 batches) and the
// rates are not meaningful.
func TestE2EUplinkOutageBacklog(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		outageBacklog(t, centralconfig.Store{Driver: centralconfig.DriverSQLite, Path: filepath.Join(e2eDir(t), "central.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		outageBacklog(t, centralconfig.Store{Driver: centralconfig.DriverPostgres, DSN: svctest.PostgresDSN(t)})
	})
}

func outageBacklog(t *testing.T, st centralconfig.Store) {
	const (
		points   = 500
		interval = 10 * time.Second
		perBatch = 250
	)
	minutes := 120
	if raceEnabled {
		minutes = 30
	}
	if h := envInt("PARKGRID_E2E_OUTAGE_HOURS", 0); h > 0 {
		minutes = 60 * h
	}
	outage := time.Duration(minutes) * time.Minute
	ticks := int(outage / interval)
	dir := e2eDir(t)

	if _, err := sign.Generate(filepath.Join(dir, "keys"), false, nil); err != nil {
		t.Fatal(err)
	}
	key, err := sign.LoadPrivate(filepath.Join(dir, "keys", sign.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	f := &edgeFiles{Dir: dir, Outbox: filepath.Join(dir, "outbox"), Site: uniqueID("e2e-outage"), Gateway: uniqueID("e2e-gw"),
		Key: key, Pub: key.Public().(ed25519.PublicKey)}
	f.CentralKey = newCentralKey(t, dir)
	f.CentralPub = f.CentralKey.Public().(ed25519.PublicKey)
	c := startCentral(t, centralFile(t, dir, st, "", uniqueID("e2e-central"), f))
	link := newLinkProxy(t, c.Broker)
	acks := newAckWatch(t, c.Broker, f)

	box, _, err := outbox.Open(context.Background(), f.Outbox, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	f.Epoch = box.Epoch()
	// The edge's uplink settings (cmd/parkgrid/edge_uplink.go: defaults, so
	// a window of 100 publishes); PARKGRID_E2E_OUTAGE_WINDOW overrides the
	// window to see what bounds the drain.
	ucfg := f.uplinkConfig(link.URL())
	ucfg.AckTimeout = 0 // the edge's default
	ucfg.Window = envInt("PARKGRID_E2E_OUTAGE_WINDOW", 0)
	up, err := uplink.New(ucfg, box)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	upDone := make(chan error, 1)
	go func() { upDone <- up.Run(ctx) }()
	stopUplink := sync.OnceFunc(func() {
		cancel()
		if err := <-upDone; err != nil {
			t.Errorf("uplink: %v", err)
		}
	})
	t.Cleanup(stopUplink)

	// The outage: the batcher fills the outbox, the uplink retries.
	gen := time.Now()
	rec := &recordingAppender{box: box, sums: map[uint64][32]byte{}}
	from := time.Now().Add(-outage).Truncate(interval).UTC()
	const workers = 4 // appenders share fsyncs (group commit), as the edge's sampler and snapshot worker do
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		b, err := uplink.NewBatcher(uplink.BatcherConfig{Site: f.Site, Gateway: f.Gateway, Epoch: box.Epoch(), Key: key,
			MaxReadings: perBatch, MaxDelay: time.Hour}, rec)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for k := w; k < ticks; k += workers {
				at := from.Add(time.Duration(k) * interval)
				for p := range points {
					b.Add(reading.Reading{Time: at, Device: fmt.Sprintf("q%03d.meter", p+1), Point: fmt.Sprintf("q%03d", p+1),
						Quantity: reading.QEnergyWh, Value: int64(1_000_000*p + 3*k)})
				}
				if err := b.Flush(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	head := box.Head()
	stats := box.Stats()
	genTook := time.Since(gen)
	wantBatches := uint64(ticks * points / perBatch)
	if head != wantBatches || box.Acked() != 0 {
		t.Fatalf("after the outage: outbox head %d, acked %d; want %d batches, none acked", head, box.Acked(), wantBatches)
	}
	t.Logf("outage of %s: %d batches, %d readings, %.0f MB pending, appended in %s (%d syncs)",
		outage, head, ticks*points, float64(stats.PendingBytes)/1e6, genTook.Round(time.Millisecond), stats.Syncs)

	// The link is back: the backlog drains.
	restored := time.Now()
	link.restore()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	within := max(outage/30, 2*time.Minute) // 24 h: 48 min; drains in about 1 min
	deadline := time.After(within)
	for box.Acked() < head {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("backlog not drained within %s: acked %d of %d", within, box.Acked(), head)
		}
	}
	drain := time.Since(restored)
	first, last := acks.span()
	t.Logf("drained %d batches in %s after the link came back: %.0f batches/s, %.0f readings/s "+
		"(first ack after %s, first to last ack %s: %.0f batches/s)",
		head, drain.Round(time.Millisecond), float64(head)/drain.Seconds(), float64(ticks*points)/drain.Seconds(),
		first.Sub(restored).Round(time.Millisecond), last.Sub(first).Round(time.Millisecond), float64(head)/last.Sub(first).Seconds())

	stopUplink()
	c.stop(t)

	// Exactly once: every appended batch, byte for byte, and nothing else.
	checkStart := time.Now()
	s := openStore(t, st)
	bg := context.Background()
	if hc, err := s.HighestContiguousSeq(bg, f.Gateway, f.Epoch); err != nil || hc != head {
		t.Errorf("highest contiguous seq %d, %v; want %d", hc, err, head)
	}
	n, err := s.Counts(bg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Counts{Batches: int64(head), Readings: int64(ticks * points)}); n != want {
		t.Errorf("store counts %+v, want %+v", n, want)
	}
	for seq := uint64(1); seq <= head; seq++ {
		sb, err := s.Batch(bg, f.Gateway, f.Epoch, seq)
		if err != nil {
			t.Fatalf("batch %d: %v", seq, err)
		}
		if sb.BodySHA256 != rec.sums[seq] || !ed25519.Verify(f.Pub, sb.Body, sb.Sig) || sb.Readings != perBatch {
			t.Fatalf("batch %d: stored body is not the one appended (or does not verify, or has %d readings)", seq, sb.Readings)
		}
	}
	for _, p := range []string{"q001.meter", "q250.meter", "q500.meter"} {
		if got, err := s.CountReadings(bg, store.ReadingFilter{Device: p}); err != nil || got != int64(ticks) {
			t.Errorf("%s: %d readings, %v; want %d", p, got, err, ticks)
		}
	}
	t.Logf("exactly-once check took %s", time.Since(checkStart).Round(time.Millisecond))
}

// recordingAppender appends to the outbox and keeps the SHA-256 of each
// batch body by seq: what central must store.
type recordingAppender struct {
	box *outbox.Outbox

	mu   sync.Mutex // protects sums
	sums map[uint64][32]byte
}

func (r *recordingAppender) Append(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error) {
	var sum [32]byte
	seq, err := r.box.Append(ctx, func(seq uint64) ([]byte, error) {
		msg, err := payload(seq)
		if err != nil {
			return nil, err
		}
		var env reading.Envelope
		if err := json.Unmarshal(msg, &env); err != nil {
			return nil, err
		}
		sum = sha256.Sum256(env.Body)
		return msg, nil
	})
	if err == nil {
		r.mu.Lock()
		r.sums[seq] = sum
		r.mu.Unlock()
	}
	return seq, err
}

// linkProxy is the uplink's network path to central's broker: cut (every
// connection closed at once) until restore.
type linkProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex // protects the fields below
	up    bool
	conns map[net.Conn]bool // open client connections
}

func newLinkProxy(t *testing.T, brokerURL string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: brokerURL[len("tcp://"):], conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			up := p.up
			if up {
				p.conns[conn] = true
			}
			p.mu.Unlock()
			if !up {
				conn.Close()
				continue
			}
			wg.Go(func() { p.pipe(conn) })
		}
	})
	return p
}

func (p *linkProxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *linkProxy) restore() {
	p.mu.Lock()
	p.up = true
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones until restore.
func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		c.Close()
	}
}

func (p *linkProxy) pipe(conn net.Conn) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, conn)
		p.mu.Unlock()
	}()
	defer conn.Close()
	back, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer back.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(back, conn); back.Close(); done <- struct{}{} }()
	go func() { io.Copy(conn, back); conn.Close(); done <- struct{}{} }()
	<-done
	<-done
}

// ackWatch records when central's acks for the gateway came.
type ackWatch struct {
	mu          sync.Mutex // protects the fields below
	first, last time.Time
}

func newAckWatch(t *testing.T, broker string, f *edgeFiles) *ackWatch {
	t.Helper()
	w := &ackWatch{}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(uniqueID("e2e-acks")).SetCleanSession(true).
		SetUsername(tapUser).SetPassword(tapPassword))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe(reading.AckTopic(f.Site), 0, func(_ mqtt.Client, m mqtt.Message) {
		a, err := reading.OpenAck(m.Payload(), f.CentralPub)
		if err != nil || a.Gateway != f.Gateway {
			return
		}
		now := time.Now()
		w.mu.Lock()
		if w.first.IsZero() {
			w.first = now
		}
		w.last = now
		w.mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe acks: %v", tok.Error())
	}
	return w
}

func (w *ackWatch) span() (first, last time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last
}
