package uplink

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/edge/outbox"
)

// fakeClock is a Clock moved by Advance.
type fakeClock struct {
	mu      sync.Mutex // protects the fields below
	now     time.Time
	waiters []fakeTimer
	added   chan struct{} // one value per After call
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), added: make(chan struct{}, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, fakeTimer{c.now.Add(d), ch})
	}
	select {
	case c.added <- struct{}{}:
	default:
	}
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		keep = append(keep, w)
	}
	c.waiters = keep
}

// waitTimer waits until someone called After.
func (c *fakeClock) waitTimer(t *testing.T) {
	t.Helper()
	select {
	case <-c.added:
	case <-time.After(5 * time.Second):
		t.Fatal("nobody waits on the clock")
	}
}

// fakeToken is an mqtt.Token the test completes.
type fakeToken struct {
	done chan struct{}
	err  error
}

func (t *fakeToken) Wait() bool { <-t.done; return true }
func (t *fakeToken) WaitTimeout(d time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (t *fakeToken) Done() <-chan struct{} { return t.done }
func (t *fakeToken) Error() error          { return t.err }

type published struct {
	seq uint64
	tok *fakeToken
}

// fakePublisher hands every publish to the test; autoAck completes the
// token at once.
type fakePublisher struct {
	autoAck bool
	pubs    chan published
}

func (p *fakePublisher) Publish(_ string, _ byte, _ bool, payload any) mqtt.Token {
	b := payload.([]byte)
	seq, _ := strconv.ParseUint(string(b[strings.IndexByte(string(b), '-')+1:]), 10, 64)
	tok := &fakeToken{done: make(chan struct{})}
	if p.autoAck {
		close(tok.done)
	}
	p.pubs <- published{seq, tok}
	return tok
}

var _ publisher = (*fakePublisher)(nil)

func rawAppend(t *testing.T, box *outbox.Outbox, tag string, n int) {
	t.Helper()
	parallelAppend(t, box, n, func(seq uint64) ([]byte, error) { return fmt.Appendf(nil, "%s-%d", tag, seq), nil })
}

// startSend runs u.send against p until the test ends.
func startSend(t *testing.T, cfg Config, box *outbox.Outbox, p *fakePublisher) *Uplink {
	t.Helper()
	cfg.Broker, cfg.Site, cfg.Gateway = "tcp://unused:1883", "p1", "gw"
	cfg.CentralKey = centralKey.Public().(ed25519.PublicKey)
	u, err := New(cfg, box)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := u.send(ctx, p, nil); err != nil {
			t.Errorf("send: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return u
}

func next(t *testing.T, p *fakePublisher) published {
	t.Helper()
	select {
	case x := <-p.pubs:
		return x
	case <-time.After(5 * time.Second):
		t.Fatal("no publish")
		return published{}
	}
}

func noMore(t *testing.T, p *fakePublisher, why string) {
	t.Helper()
	select {
	case x := <-p.pubs:
		t.Fatalf("%s, but seq %d was published", why, x.seq)
	case <-time.After(50 * time.Millisecond):
	}
}

func openBox(t *testing.T) *outbox.Outbox {
	t.Helper()
	box, _, err := outbox.Open(context.Background(), t.TempDir(), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	return box
}

func TestWindowAndLiveInterleaving(t *testing.T) {
	box := openBox(t)
	rawAppend(t, box, "b", 500) // backlog
	p := &fakePublisher{pubs: make(chan published, 1000)}
	startSend(t, Config{Window: 4, Clock: newFakeClock()}, box, p)
	var win []published
	for i := range 4 {
		x := next(t, p)
		if x.seq != uint64(i+1) {
			t.Fatalf("publish %d is seq %d", i, x.seq)
		}
		win = append(win, x)
	}
	noMore(t, p, "the window of 4 is full")
	rawAppend(t, box, "l", 1) // live: seq 501
	// Free one slot at a time: the live record goes out within two.
	var order []uint64
	for range 3 {
		close(win[0].tok.done)
		win = win[1:]
		x := next(t, p)
		order = append(order, x.seq)
		win = append(win, x)
	}
	if order[0] != 501 && order[1] != 501 {
		t.Fatalf("after the live append the sender published %v; want 501 among the first two", order)
	}
}

func TestMaxAheadHoldsBacklogNotLive(t *testing.T) {
	box := openBox(t)
	rawAppend(t, box, "b", 50)
	p := &fakePublisher{autoAck: true, pubs: make(chan published, 1000)}
	u := startSend(t, Config{Window: 100, MaxAhead: 10, Clock: newFakeClock()}, box, p)
	for i := range 10 {
		if x := next(t, p); x.seq != uint64(i+1) {
			t.Fatalf("publish %d is seq %d", i, x.seq)
		}
	}
	noMore(t, p, "10 records ahead of the ack")
	rawAppend(t, box, "l", 1)
	if x := next(t, p); x.seq != 51 {
		t.Fatalf("live record not sent past MaxAhead: got seq %d", x.seq)
	}
	if err := box.Ack(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	u.acked <- struct{}{}
	for i := range 5 {
		if x := next(t, p); x.seq != uint64(11+i) {
			t.Fatalf("after ack 5, publish %d is seq %d", i, x.seq)
		}
	}
	noMore(t, p, "10 records ahead of ack 5")
}

func TestAckTimeoutResends(t *testing.T) {
	box := openBox(t)
	rawAppend(t, box, "b", 3)
	clock := newFakeClock()
	p := &fakePublisher{autoAck: true, pubs: make(chan published, 1000)}
	startSend(t, Config{AckTimeout: 30 * time.Second, Clock: clock}, box, p)
	for i := range 3 {
		next(t, p)
		_ = i
	}
	noMore(t, p, "all sent, no ack yet")
	clock.Advance(30 * time.Second)
	for i := range 3 {
		if x := next(t, p); x.seq != uint64(i+1) {
			t.Fatalf("resend %d is seq %d", i, x.seq)
		}
	}
}
