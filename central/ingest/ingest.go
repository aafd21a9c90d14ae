package ingest

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Store is what ingest needs from central's store; store.Store has it.
type Store interface {
	Gateway(ctx context.Context, id string) (store.Gateway, error)
	MeterKey(ctx context.Context, site, device string) (store.MeterKey, error)
	SaveBatches(ctx context.Context, items []store.Item) ([]store.Outcome, error)
	HighestContiguousSeq(ctx context.Context, gateway, epoch string) (uint64, error)
	RecordRejections(ctx context.Context, rs []store.Rejection) error
	// Evidence binding and key history (binding.go).
	MeterKeys(ctx context.Context, site, device string) ([]store.MeterKey, error)
	WithEvidence(ctx context.Context, site string, meters []string, fn func(store.EvidenceTx) error) error
}

// SnapshotVerifier checks an OCMF record's signature with a meter's public
// key as published (e.g. hex DER); nil means valid. OCMF implements it.
type SnapshotVerifier interface {
	VerifySnapshot(ocmf string, meterPubKey string) error
}

// BatchWriter receives every newly stored batch after its commit, e.g. the
// InfluxDB writer. It must not block.
type BatchWriter interface {
	WriteBatch(b reading.Batch)
}

// Config says where and how to ingest.
type Config struct {
	Broker   string // tcp://host:port
	ClientID string // stable per replica: the broker keeps its session (un-acked messages) across restarts
	Username string
	Password string
	TLS      *tls.Config // nil: plain TCP unless the scheme (ssl, tls, wss) asks for TLS with the system roots
	Topic    string      // default reading.SharedBatchTopic

	MaxGroup    int           // batches per transaction; default 256
	MaxGroupMiB int           // message bytes per transaction; default 32
	Linger      time.Duration // how long a group waits to fill; default 5 ms
	Workers     int           // parallel verifiers; default GOMAXPROCS
	QueueLen    int           // messages received but not yet committed; default 4096
	QueueBytes  int64         // their bytes; default 256 MiB (bounds.go)
	KeyCacheTTL time.Duration // how long enrolments are cached; default 10 s

	// AckKey is central's own Ed25519 key: every ack is signed with it
	// (reading.SealAck), and the edges enrol its public key. Required.
	AckKey ed25519.PrivateKey
}

// Options are the injected dependencies besides the store and verifier.
type Options struct {
	Logger   *slog.Logger          // nil: discard
	Registry prometheus.Registerer // nil: metrics are kept but not registered
	Now      func() time.Time      // nil: time.Now
	Writer   BatchWriter           // nil: none
}

// Ingester is one ingest replica. Run it once.
type Ingester struct {
	cfg      Config
	store    Store
	verifier SnapshotVerifier
	writer   BatchWriter
	log      *slog.Logger
	m        *metrics
	tm       *trustMetrics
	keys     *keyCache
	budget   *byteBudget
	rlog     *rejectionLog

	readyOnce sync.Once
	ready     chan struct{}
}

// New validates cfg and builds an Ingester.
func New(cfg Config, st Store, v SnapshotVerifier, opt Options) (*Ingester, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if st == nil || v == nil {
		return nil, errors.New("ingest: a store and a snapshot verifier are required")
	}
	if len(cfg.AckKey) != ed25519.PrivateKeySize {
		return nil, errors.New("ingest: central's ack key (Ed25519) is required: edges ignore unsigned acks")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	m, err := newMetrics(opt.Registry)
	if err != nil {
		return nil, err
	}
	tm, err := newTrustMetrics(opt.Registry)
	if err != nil {
		return nil, err
	}
	return &Ingester{
		cfg: cfg, store: st, verifier: v, writer: opt.Writer, log: opt.Logger, m: m, tm: tm,
		keys:   newKeyCache(st, cfg.KeyCacheTTL, opt.Now),
		budget: newByteBudget(cfg.QueueBytes, tm.queueBytes),
		rlog:   newRejectionLog(opt.Logger, opt.Now, rejectionLinesPerMinute, tm.logsSuppressed),
		ready:  make(chan struct{}),
	}, nil
}

func (c *Config) setDefaults() error {
	u, err := url.Parse(c.Broker)
	if err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "mqtt" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Errorf("ingest: broker %q: want tcp://host:port (or ssl://, ws://)", c.Broker)
	}
	if c.ClientID == "" {
		return errors.New("ingest: client id is required (stable per replica, so the broker keeps its session)")
	}
	if c.Topic == "" {
		c.Topic = reading.SharedBatchTopic
	}
	if c.MaxGroup <= 0 {
		c.MaxGroup = 256
	}
	if c.MaxGroupMiB <= 0 {
		c.MaxGroupMiB = 32
	}
	if c.Linger <= 0 {
		c.Linger = 5 * time.Millisecond
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 4096
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.KeyCacheTTL <= 0 {
		c.KeyCacheTTL = 10 * time.Second
	}
	return nil
}

// Stats returns the counters since New.
func (in *Ingester) Stats() Stats { return in.m.stats() }

// Ready is closed once the subscription is in place.
func (in *Ingester) Ready() <-chan struct{} { return in.ready }

// job is one received message on its way through verification (workers, in
// parallel) to the committer (in arrival order).
type job struct {
	msg  mqtt.Message
	done chan struct{} // closed when v and err are set
	v    verdict
	err  error
}

// Run connects to the broker, subscribes and ingests until ctx ends. It then
// disconnects without acknowledging anything not yet committed, so the
// broker delivers those messages again to the next session with this client
// id. It returns nil when ctx ended, else why it could not run.
func (in *Ingester) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan *job, in.cfg.QueueLen) // arrival order, to the committer
	work := make(chan *job, in.cfg.QueueLen) // to the verifiers
	stopping := make(chan struct{})
	handler := func(_ mqtt.Client, m mqtt.Message) {
		if !in.budget.acquire(int64(len(m.Payload())), stopping) {
			return
		}
		j := &job{msg: m, done: make(chan struct{})}
		select {
		case jobs <- j:
		case <-stopping:
			return
		}
		select {
		case work <- j:
		case <-stopping:
		}
	}

	opts := mqtt.NewClientOptions().
		AddBroker(in.cfg.Broker).
		SetClientID(in.cfg.ClientID).
		SetUsername(in.cfg.Username).
		SetPassword(in.cfg.Password).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true). // the handler only queues; PUBACKs then go out in arrival order
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(handler). // messages of the stored session arrive before SUBSCRIBE is answered
		SetOnConnectHandler(func(c mqtt.Client) {
			tok := c.Subscribe(in.cfg.Topic, 1, nil)
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				in.log.Error("subscribe failed", "topic", in.cfg.Topic, "err", tok.Error())
				return
			}
			in.log.Info("subscribed", "topic", in.cfg.Topic, "client", in.cfg.ClientID)
			in.readyOnce.Do(func() { close(in.ready) })
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			in.log.Warn("broker connection lost; reconnecting", "err", err)
		}).
		SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
			if f, ok := n.(mqtt.ConnectionNotificationBrokerFailed); ok {
				in.log.Warn("cannot connect to the broker; retrying", "broker", f.Broker.Redacted(), "err", f.Reason)
			}
		})
	if in.cfg.TLS != nil {
		opts.SetTLSConfig(in.cfg.TLS)
	}
	client := mqtt.NewClient(opts)
	tok := client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("ingest: connect %s: %w", in.cfg.Broker, err)
		}
	case <-ctx.Done():
		close(stopping)
		client.Disconnect(0)
		return nil
	}
	in.log.Info("ingest connected", "broker", in.cfg.Broker, "client", in.cfg.ClientID)

	var wg sync.WaitGroup
	for range in.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case j := <-work:
					j.v, j.err = in.check(runCtx, j.msg.Topic(), j.msg.Payload())
					close(j.done)
				case <-runCtx.Done():
					return
				}
			}
		})
	}
	confirm := make(chan ackToken, 1024)
	wg.Go(func() { in.commitLoop(runCtx, jobs, client, confirm) })
	wg.Go(func() { in.confirmAcks(runCtx, confirm) })

	<-ctx.Done()
	close(stopping)
	cancel()
	wg.Wait()
	client.Disconnect(250)
	in.log.Info("ingest stopped", "client", in.cfg.ClientID)
	return nil
}

// await waits for j's verification; false when ctx ended first.
func await(ctx context.Context, j *job) bool {
	select {
	case <-j.done:
		return j.err == nil
	case <-ctx.Done():
		return false
	}
}

// commitLoop groups verified messages and commits them until ctx ends.
func (in *Ingester) commitLoop(ctx context.Context, jobs <-chan *job, client mqtt.Client, confirm chan<- ackToken) {
	group := make([]*job, 0, in.cfg.MaxGroup)
	maxBytes := in.cfg.MaxGroupMiB << 20
	for {
		group = group[:0]
		select {
		case j := <-jobs:
			if !await(ctx, j) {
				return
			}
			group = append(group, j)
		case <-ctx.Done():
			return
		}
		bytes := len(group[0].msg.Payload())
		linger := time.NewTimer(in.cfg.Linger)
	fill:
		for len(group) < in.cfg.MaxGroup && bytes < maxBytes {
			select {
			case j := <-jobs:
				if !await(ctx, j) {
					linger.Stop()
					return
				}
				group = append(group, j)
				bytes += len(j.msg.Payload())
			case <-linger.C:
				break fill
			case <-ctx.Done():
				linger.Stop()
				return
			}
		}
		linger.Stop()
		if err := in.flush(ctx, client, group, confirm); err != nil {
			return // only when ctx ended
		}
	}
}

// flush stores a group in one transaction, records its rejections, then
// acknowledges every message of the group (MQTT PUBACK, in arrival order)
// and publishes each gateway's highest contiguous seq.
func (in *Ingester) flush(ctx context.Context, client mqtt.Client, group []*job, confirm chan<- ackToken) error {
	start := time.Now()
	var (
		items      []store.Item
		itemJob    []*job
		rejections []store.Rejection
	)
	for _, j := range group {
		in.m.message()
		if j.v.reject != nil {
			rejections = append(rejections, *j.v.reject)
			continue
		}
		items = append(items, j.v.item)
		itemJob = append(itemJob, j)
	}
	var outcomes []store.Outcome
	if len(items) > 0 {
		err := in.retryStore(ctx, "save batches", func(ctx context.Context) error {
			var err error
			outcomes, err = in.store.SaveBatches(ctx, items)
			return err
		})
		if err != nil {
			return err
		}
	}
	acks := make(map[store.Stream]ackTo) // gateway and epoch → where to ack
	var stored []reading.Batch
	for k, o := range outcomes {
		it, j := items[k], itemJob[k]
		switch o {
		case store.Stored:
			in.m.stored(len(it.Batch.Readings))
			acks[it.Key().Stream()] = ackTo{j.v.site, acks[it.Key().Stream()].legacy || it.Batch.Version == 1}
			stored = append(stored, it.Batch)
		case store.Duplicate:
			in.m.duplicate()
			acks[it.Key().Stream()] = ackTo{j.v.site, acks[it.Key().Stream()].legacy || it.Batch.Version == 1}
			in.log.Debug("batch already stored; acking again", "gateway", it.Gateway, "seq", it.Seq)
		default:
			rejections = append(rejections, store.NewRejection(j.msg.Topic(), it.Gateway, it.Seq, ReasonReplayConflict,
				fmt.Sprintf("seq %d of gateway %q is stored with other bytes: %v", it.Seq, it.Gateway, store.ErrConflict), j.msg.Payload()))
		}
	}
	if len(rejections) > 0 {
		for _, r := range rejections {
			in.rlog.warn(r.Reason, "gateway", r.Gateway, "seq", r.Seq, "topic", r.Topic, "bytes", r.Size, "err", r.Detail)
		}
		if err := in.retryStore(ctx, "record rejections", func(ctx context.Context) error {
			return in.store.RecordRejections(ctx, rejections)
		}); err != nil {
			return err
		}
		for _, r := range rejections {
			in.m.reject(r.Reason)
		}
	}
	for _, j := range group {
		j.msg.Ack()
		in.budget.release(int64(len(j.msg.Payload())))
	}
	in.m.commit(time.Since(start), len(items))
	if in.writer != nil {
		for _, b := range stored {
			in.writer.WriteBatch(b)
		}
	}
	return in.publishAcks(ctx, client, acks, confirm)
}

// ackTo is where a stream's ack goes: the site's ack topic, and whether the
// gateway still sends v1 batches (an edge built before signed acks, which
// also gets the unsigned v1 ack it understands).
type ackTo struct {
	site   string
	legacy bool
}

// ackToken is a published ack whose confirmation the confirmer awaits.
type ackToken struct {
	gateway string
	seq     uint64
	tok     mqtt.Token
}

// publishAcks sends each gateway, per outbox epoch, its highest contiguous
// seq, signed with central's ack key. It never waits
// for the broker's PUBACK: paho reads PUBACKs on the same path that delivers
// batches, which backs up while the committer is busy, so waiting here could
// stall both. The confirmer goroutine waits instead. A lost ack is harmless:
// the edge sends the batch again and is acked again.
func (in *Ingester) publishAcks(ctx context.Context, client mqtt.Client, acks map[store.Stream]ackTo, confirm chan<- ackToken) error {
	for st, to := range acks {
		site := to.site
		var seq uint64
		if err := in.retryStore(ctx, "read contiguous seq", func(ctx context.Context) error {
			var err error
			seq, err = in.store.HighestContiguousSeq(ctx, st.Gateway, st.Epoch)
			return err
		}); err != nil {
			return err
		}
		if seq == 0 {
			continue
		}
		msg, err := reading.SealAck(reading.Ack{Gateway: st.Gateway, Epoch: st.Epoch, Seq: seq}, in.cfg.AckKey)
		if err != nil {
			return fmt.Errorf("ingest: encode ack: %w", err)
		}
		if to.legacy {
			// An edge from before epochs: it reads only the v1 ack, which
			// newer edges ignore (unsigned). Dropped once no v1 batch comes.
			client.Publish(reading.AckTopic(site), 1, false, reading.LegacyAck(st.Gateway, seq))
		}
		a := ackToken{st.Gateway, seq, client.Publish(reading.AckTopic(site), 1, false, msg)}
		select {
		case confirm <- a:
		default: // confirmer behind: this ack goes unconfirmed (and uncounted)
		}
	}
	return nil
}

// confirmAcks waits for each published ack's PUBACK and counts or logs it.
func (in *Ingester) confirmAcks(ctx context.Context, confirm <-chan ackToken) {
	for {
		select {
		case a := <-confirm:
			select {
			case <-a.tok.Done():
			case <-time.After(30 * time.Second):
			case <-ctx.Done():
				return
			}
			if err := a.tok.Error(); err != nil || !isDone(a.tok) {
				in.log.Warn("ack not confirmed by the broker", "gateway", a.gateway, "seq", a.seq, "err", err)
				continue
			}
			in.m.ack()
		case <-ctx.Done():
			return
		}
	}
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// retryStore runs op until it succeeds or ctx ends; a store that is down
// stalls ingest (nothing is acked) instead of losing data.
func (in *Ingester) retryStore(ctx context.Context, what string, op func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		in.m.storeError()
		in.log.Error("store failed; retrying", "op", what, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}
