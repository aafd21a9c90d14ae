package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Clock is where the uplink and the batcher read time. A nil Clock in a
// config means the real one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Status payloads on reading.StatusTopic (retained).
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// TLSFiles configures TLS from PEM files. CAFile alone: verify the broker
// against that CA. CertFile and KeyFile: also present a client certificate
// (mTLS). Empty CAFile: the system roots.
type TLSFiles struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string // overrides the broker host name for verification
}

// Config configures an Uplink. Zero durations and sizes take the defaults
// named on each field.
type Config struct {
	Broker   string // tcp://host:1883, ssl://host:8883 (also tls://, mqtts://)
	Site     string
	Gateway  string
	ClientID string // default "parkgrid-edge-" + Gateway
	Username string
	Password string
	TLS      *TLSFiles // nil: plain TCP unless the scheme asks for TLS

	// CentralKey is central's Ed25519 public key: acks not signed with it
	// are ignored. Required.
	CentralKey ed25519.PublicKey

	Window         int           // outstanding QoS 1 publishes (100)
	MaxAhead       int           // backlog records sent beyond central's ack (1000)
	AckTimeout     time.Duration // resend when sent records stay unacked this long (30 s)
	ConnectTimeout time.Duration // connect, subscribe, status publish (10 s)
	KeepAlive      time.Duration // MQTT keep-alive (30 s)
	MinBackoff     time.Duration // first reconnect delay (1 s)
	MaxBackoff     time.Duration // reconnect delay cap (DefaultMaxBackoff, at most MaxBackoffCap); each delay is jittered to 50–100 %

	// OnCommand, when set, takes each message on the command topic
	// (reading.CmdTopic) and returns the reply to publish on
	// reading.ReplyTopic (nil: none); edge/command's Handler.Handle. It is
	// called on one goroutine, in order; messages beyond a queue of 16
	// waiting are dropped (central asks again).
	OnCommand func(ctx context.Context, msg []byte) []byte

	Clock Clock
	Log   *slog.Logger // names the site (the caller adds site=)
}

// Validate checks the config alone, without I/O except reading TLS files.
func (c Config) Validate() error {
	var errs []error
	if c.Broker == "" {
		errs = append(errs, errors.New("uplink broker: empty"))
	} else if u, err := url.Parse(c.Broker); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("uplink broker %q: want scheme://host:port", c.Broker))
	} else {
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts":
		default:
			errs = append(errs, fmt.Errorf("uplink broker %q: scheme %q, want tcp, mqtt, ssl, tls or mqtts", c.Broker, u.Scheme))
		}
	}
	if c.Site == "" {
		errs = append(errs, errors.New("uplink site: empty"))
	}
	if c.Gateway == "" {
		errs = append(errs, errors.New("uplink gateway: empty"))
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, fmt.Errorf("uplink tls: cert file %q and key file %q must be set together", t.CertFile, t.KeyFile))
	}
	if len(c.CentralKey) != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("uplink central key: %d bytes, want central's Ed25519 public key (acks are signed with it)", len(c.CentralKey)))
	}
	if c.MaxBackoff > MaxBackoffCap {
		errs = append(errs, fmt.Errorf("uplink max backoff %s: at most %s, so a backlog drains soon after the broker returns", c.MaxBackoff, MaxBackoffCap))
	}
	if c.Window < 0 || c.MaxAhead < 0 {
		errs = append(errs, fmt.Errorf("uplink window %d / max ahead %d: must not be negative", c.Window, c.MaxAhead))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.ClientID == "" {
		c.ClientID = "parkgrid-edge-" + c.Gateway
	}
	setDefault := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Window <= 0 {
		c.Window = 100
	}
	if c.MaxAhead <= 0 {
		c.MaxAhead = 10 * c.Window
	}
	setDefault(&c.AckTimeout, 30*time.Second)
	setDefault(&c.ConnectTimeout, 10*time.Second)
	setDefault(&c.KeepAlive, 30*time.Second)
	setDefault(&c.MinBackoff, time.Second)
	setDefault(&c.MaxBackoff, DefaultMaxBackoff)
	c.MinBackoff = min(c.MinBackoff, c.MaxBackoff)
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Reconnect delays. The default cap keeps the time from a broker's return to
// the first reconnect at 3 s or less, so a backlog starts draining within
// seconds; a cap above MaxBackoffCap is refused.
const (
	DefaultMaxBackoff = 3 * time.Second
	MaxBackoffCap     = 10 * time.Second
)

// Uplink sends the outbox to central. Create it with New, run it with Run.
type Uplink struct {
	cfg   Config
	box   *outbox.Outbox
	epoch string
	tls   *tls.Config
	log   *slog.Logger
	// jitter turns a backoff into the delay waited (50–100 % of it).
	jitter func(time.Duration) time.Duration

	ackSeen atomic.Uint64 // highest valid ack received
	ackKick chan struct{} // to the acker: ackSeen moved
	acked   chan struct{} // to the sender: the outbox head moved
	sentMax atomic.Uint64 // highest seq published by this Uplink

	connected  atomic.Bool
	reconnects atomic.Uint64
	lastAck    atomic.Int64 // unix nanos of the last ack that moved the outbox; 0: none yet
	ignored    [ignoreReasons]atomic.Uint64
	ackLog     logLimiter
	ackLogMu   sync.Mutex // protects ackLog
}

// Reasons an ack is ignored, for Status.AcksIgnored.
const (
	IgnoredUnsigned = iota // not signed by central's key (or not an ack at all)
	IgnoredGateway         // for another gateway
	IgnoredEpoch           // for another outbox epoch
	IgnoredAhead           // beyond what this uplink sent
	ignoreReasons
)

// Status is what the uplink is doing, for metrics and alarms.
type Status struct {
	Connected   bool      // connected to the broker and subscribed to acks
	Reconnects  uint64    // connections made since New
	LastAck     time.Time // the last ack that moved the outbox (zero: none since New)
	SentMax     uint64    // highest seq published since New
	AcksIgnored [ignoreReasons]uint64
}

// Status returns a snapshot.
func (u *Uplink) Status() Status {
	s := Status{Connected: u.connected.Load(), Reconnects: u.reconnects.Load(), SentMax: u.sentMax.Load()}
	if n := u.lastAck.Load(); n != 0 {
		s.LastAck = time.Unix(0, n)
	}
	for i := range s.AcksIgnored {
		s.AcksIgnored[i] = u.ignored[i].Load()
	}
	return s
}

// New checks cfg and loads its TLS files. It does not connect.
func New(cfg Config, box *outbox.Outbox) (*Uplink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	u := &Uplink{
		cfg:     cfg,
		box:     box,
		epoch:   box.Epoch(),
		log:     cfg.Log, // the caller names the site
		ackKick: make(chan struct{}, 1),
		acked:   make(chan struct{}, 1),
		jitter:  func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) },
		ackLog:  logLimiter{every: 10 * time.Second, now: cfg.Clock.Now},
	}
	if cfg.TLS != nil {
		tc, err := loadTLS(*cfg.TLS)
		if err != nil {
			return nil, err
		}
		u.tls = tc
	}
	return u, nil
}

func loadTLS(f TLSFiles) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("uplink tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("uplink tls ca file %s: no PEM certificate", f.CAFile)
		}
		tc.RootCAs = pool
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("uplink tls client certificate %s / key %s: %w", f.CertFile, f.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Run connects, sends and reconnects until ctx is done; then it publishes
// the retained status "offline", disconnects and returns nil. It returns an
// error only for a failure no reconnect can fix.
func (u *Uplink) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	actx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { u.ackLoop(actx) })

	backoff := u.cfg.MinBackoff
	// A connection lost is logged at once; failed reconnects after it at
	// most once a minute, with how many there were.
	fails := logLimiter{every: time.Minute, now: u.cfg.Clock.Now}
	for {
		connected, err := u.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			backoff = u.cfg.MinBackoff
			fails = logLimiter{every: time.Minute, now: u.cfg.Clock.Now}
		}
		wait := u.jitter(backoff)
		if n, ok := fails.allow(); ok {
			u.log.Warn("uplink disconnected; reconnecting", "err", err, "backoff", wait, "attempts_since_last_log", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-u.cfg.Clock.After(wait):
		}
		backoff = min(2*backoff, u.cfg.MaxBackoff)
	}
}

// ackLoop persists acks off the sending path: while one Ack fsyncs, later
// acks accumulate and the next Ack covers them all.
func (u *Uplink) ackLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.ackKick:
		}
		seq := u.ackSeen.Load()
		if seq <= u.box.Acked() {
			continue
		}
		if err := u.box.Ack(ctx, seq); err != nil {
			if ctx.Err() != nil {
				return
			}
			u.log.Error("uplink persist ack", "seq", seq, "err", err)
			continue // the next ack retries
		}
		u.lastAck.Store(u.cfg.Clock.Now().UnixNano())
		select {
		case u.acked <- struct{}{}:
		default:
		}
	}
}

// onAck handles a message on the ack topic. It runs on paho's goroutine and
// only records the ack. An ack counts only when it is signed by central's
// key, names this gateway and this outbox's epoch, and does not go beyond
// the highest seq this uplink published: anyone on the broker can publish
// on the ack topic, and an ack deletes data.
func (u *Uplink) onAck(_ mqtt.Client, m mqtt.Message) {
	a, err := reading.OpenAck(m.Payload(), u.cfg.CentralKey)
	switch {
	case err != nil:
		u.ignoreAck(IgnoredUnsigned, "uplink ignoring unsigned, forged or malformed ack", "err", err, "payload", truncate(m.Payload(), 200))
		return
	case a.Gateway != u.cfg.Gateway:
		u.ignoreAck(IgnoredGateway, "uplink ignoring ack for another gateway", "gateway", a.Gateway, "seq", a.Seq)
		return
	case a.Epoch != u.epoch:
		u.ignoreAck(IgnoredEpoch, "uplink ignoring ack for another outbox epoch", "epoch", a.Epoch, "our_epoch", u.epoch, "seq", a.Seq)
		return
	}
	if sent := u.sentMax.Load(); a.Seq > sent {
		u.ignoreAck(IgnoredAhead, "uplink ignoring ack beyond what it sent", "seq", a.Seq, "sent", sent, "head", u.box.Head())
		return
	}
	for {
		cur := u.ackSeen.Load()
		if a.Seq <= cur || u.ackSeen.CompareAndSwap(cur, a.Seq) {
			break
		}
	}
	select {
	case u.ackKick <- struct{}{}:
	default:
	}
}

// ignoreAck counts an ignored ack and logs it, at most every 10 s.
func (u *Uplink) ignoreAck(reason int, msg string, args ...any) {
	u.ignored[reason].Add(1)
	u.ackLogMu.Lock()
	n, ok := u.ackLog.allow()
	u.ackLogMu.Unlock()
	if ok {
		u.log.Warn(msg, append(args, "ignored_since_last_log", n)...)
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// session runs one connection. connected says whether it got as far as
// sending.
func (u *Uplink) session(ctx context.Context) (connected bool, err error) {
	lost := make(chan error, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(u.cfg.Broker).
		SetClientID(u.cfg.ClientID).
		SetUsername(u.cfg.Username).
		SetPassword(u.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(false). // Run reconnects with a fresh client
		SetConnectRetry(false).
		SetKeepAlive(u.cfg.KeepAlive).
		SetConnectTimeout(u.cfg.ConnectTimeout).
		SetWriteTimeout(u.cfg.ConnectTimeout).
		SetOrderMatters(false).
		SetWill(reading.StatusTopic(u.cfg.Site), StatusOffline, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	if u.tls != nil {
		opts.SetTLSConfig(u.tls)
	}
	c := mqtt.NewClient(opts)
	if err := u.wait(ctx, c.Connect(), "connect to "+u.cfg.Broker); err != nil {
		c.Disconnect(0)
		return false, err
	}
	defer c.Disconnect(250)
	if err := u.wait(ctx, c.Subscribe(reading.AckTopic(u.cfg.Site), 1, u.onAck), "subscribe to acks"); err != nil {
		return false, err
	}
	if u.cfg.OnCommand != nil {
		cmds := make(chan []byte, 16)
		cctx, stopCmds := context.WithCancel(ctx)
		var cwg sync.WaitGroup
		defer func() { stopCmds(); cwg.Wait() }() // before the disconnect
		cwg.Go(func() { u.commands(cctx, c, cmds) })
		onCmd := func(_ mqtt.Client, m mqtt.Message) {
			select {
			case cmds <- m.Payload():
			default:
				u.log.Warn("uplink dropping a command: too many waiting", "topic", m.Topic())
			}
		}
		if err := u.wait(ctx, c.Subscribe(reading.CmdTopic(u.cfg.Site), 1, onCmd), "subscribe to commands"); err != nil {
			return false, err
		}
	}
	if err := u.wait(ctx, c.Publish(reading.StatusTopic(u.cfg.Site), 1, true, StatusOnline), "publish status"); err != nil {
		return false, err
	}
	u.log.Info("uplink connected", "broker", u.cfg.Broker, "epoch", u.epoch, "acked", u.box.Acked(), "head", u.box.Head())
	u.reconnects.Add(1)
	u.connected.Store(true)
	err = u.send(ctx, c, lost)
	u.connected.Store(false)
	if ctx.Err() != nil {
		// Clean shutdown: the will is not published, so say it ourselves.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.cfg.ConnectTimeout)
		defer cancel()
		if err := u.wait(sctx, c.Publish(reading.StatusTopic(u.cfg.Site), 1, true, StatusOffline), "publish status"); err != nil {
			u.log.Warn("uplink could not publish offline status", "err", err)
		}
		return true, nil
	}
	return true, err
}

// commands hands each command to OnCommand and publishes its reply.
func (u *Uplink) commands(ctx context.Context, c publisher, cmds <-chan []byte) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-cmds:
			reply := u.cfg.OnCommand(ctx, msg)
			if reply == nil {
				continue
			}
			if err := u.wait(ctx, c.Publish(reading.ReplyTopic(u.cfg.Site), 1, false, reply), "publish reply"); err != nil {
				u.log.Warn("uplink reply not published; central times out and asks again", "err", err)
			}
		}
	}
}

// wait waits for a paho token, ctx or ConnectTimeout.
func (u *Uplink) wait(ctx context.Context, t mqtt.Token, what string) error {
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("uplink %s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("uplink %s: %w", what, ctx.Err())
	case <-u.cfg.Clock.After(u.cfg.ConnectTimeout):
		return fmt.Errorf("uplink %s: no answer in %s", what, u.cfg.ConnectTimeout)
	}
}

// publisher is the part of an MQTT client the sender uses.
type publisher interface {
	Publish(topic string, qos byte, retained bool, payload any) mqtt.Token
}

type inflight struct {
	seq uint64
	tok mqtt.Token
}

// cursor walks records from next up to (and including) last, reading
// chunks from the outbox.
type cursor struct {
	next, last uint64
	buf        []outbox.Record
}

const readChunk = 64

// take returns the next record of the cursor with a seq above acked, or
// false if it has none now.
func (c *cursor) take(box *outbox.Outbox, acked uint64) (outbox.Record, bool, error) {
	if c.next <= acked {
		c.next = acked + 1
	}
	for len(c.buf) > 0 && c.buf[0].Seq < c.next {
		c.buf = c.buf[1:]
	}
	if c.next > c.last {
		return outbox.Record{}, false, nil
	}
	if len(c.buf) == 0 {
		n := int(min(uint64(readChunk), c.last-c.next+1))
		recs, err := box.ReadFrom(c.next, n)
		if err != nil {
			return outbox.Record{}, false, err
		}
		if len(recs) == 0 {
			return outbox.Record{}, false, nil
		}
		c.buf = recs
	}
	r := c.buf[0]
	if r.Seq > c.last {
		c.buf = nil
		return outbox.Record{}, false, nil
	}
	c.buf = c.buf[1:]
	c.next = r.Seq + 1
	return r, true, nil
}

// nextGap returns the first gap record seq not yet sent.
func nextGap(pending []uint64, sent map[uint64]bool) (uint64, bool) {
	for _, s := range pending {
		if !sent[s] {
			return s, true
		}
	}
	return 0, false
}

// send publishes records until the connection is lost or ctx is done.
func (u *Uplink) send(ctx context.Context, c publisher, lost <-chan error) error {
	var (
		topic        = reading.BatchTopic(u.cfg.Site)
		clock        = u.cfg.Clock
		acked        = u.box.Acked()
		head         = u.box.Head()
		back         = cursor{next: acked + 1, last: head} // backlog at connect
		live         = cursor{next: head + 1, last: head}  // appended since
		fifo         []inflight
		sentMax      = acked // highest seq published this session
		lastProgress = clock.Now()
		preferLive   = true
		gapsSent     = map[uint64]bool{} // gap records published this session
	)
	publish := func(rec outbox.Record) {
		if sentMax <= acked {
			lastProgress = clock.Now() // the ack clock starts with the first outstanding record
		}
		fifo = append(fifo, inflight{rec.Seq, c.Publish(topic, 1, false, rec.Data)})
		sentMax = max(sentMax, rec.Seq)
		for {
			cur := u.sentMax.Load()
			if rec.Seq <= cur || u.sentMax.CompareAndSwap(cur, rec.Seq) {
				break
			}
		}
	}
	for {
		changed := u.box.Changed()
		head = u.box.Head()
		live.last = head
		// Free the window: PUBACKs arrive in order, so reap from the front.
	reap:
		for len(fifo) > 0 {
			select {
			case <-fifo[0].tok.Done():
				if err := fifo[0].tok.Error(); err != nil {
					return fmt.Errorf("publish seq %d: %w", fifo[0].seq, err)
				}
				fifo[0] = inflight{}
				fifo = fifo[1:]
			default:
				break reap
			}
		}
		if a := u.box.Acked(); a > acked {
			acked, lastProgress = a, clock.Now()
		}
		if sentMax > acked && clock.Now().Sub(lastProgress) >= u.cfg.AckTimeout {
			u.log.Warn("uplink acks stalled; resending from the first unacknowledged seq", "acked", acked, "sent", sentMax, "timeout", u.cfg.AckTimeout)
			back = cursor{next: acked + 1, last: head}
			live = cursor{next: head + 1, last: head}
			lastProgress = clock.Now()
			clear(gapsSent)
		}
		// Gap records first: central cannot acknowledge past a hole before
		// its gap record arrives, however far ahead the backlog allows.
		if len(fifo) < u.cfg.Window {
			if seq, ok := nextGap(u.box.PendingGaps(), gapsSent); ok {
				recs, err := u.box.ReadFrom(seq, 1)
				if err != nil {
					return fmt.Errorf("read outbox: %w", err)
				}
				gapsSent[seq] = true
				if len(recs) == 1 && recs[0].Seq == seq {
					publish(recs[0])
				}
				continue
			}
		}
		if len(fifo) < u.cfg.Window {
			backOK := back.next <= back.last && max(back.next, acked+1) <= acked+uint64(u.cfg.MaxAhead)
			liveOK := live.next <= live.last
			var (
				rec outbox.Record
				ok  bool
				err error
			)
			switch {
			case liveOK && (preferLive || !backOK):
				rec, ok, err = live.take(u.box, acked)
				preferLive = false
			case backOK:
				rec, ok, err = back.take(u.box, acked)
				preferLive = true
			}
			if err != nil {
				return fmt.Errorf("read outbox: %w", err)
			}
			if ok {
				publish(rec)
				continue
			}
			if liveOK || backOK {
				continue // a cursor found nothing (acked meanwhile); look again
			}
		}
		var tokDone <-chan struct{}
		if len(fifo) > 0 {
			tokDone = fifo[0].tok.Done()
		}
		var timeout <-chan time.Time
		if sentMax > acked {
			timeout = clock.After(lastProgress.Add(u.cfg.AckTimeout).Sub(clock.Now()))
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-lost:
			return fmt.Errorf("connection lost: %w", err)
		case <-changed:
		case <-u.acked:
		case <-tokDone:
		case <-timeout:
		}
	}
}
