package edge

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/command"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/poll"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/edge/session"
	"github.com/parkgrid/parkgrid/edge/sign"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/edge/uplink"
)

// This file wires the edge's uplink to central: meter samples and events
// go into signed batches (uplink.Batcher, cut every second), OCMF snapshots
// and session events straight into the outbox (edge/session, fsynced before
// the session moves on), and the outbox over MQTT to central
// (uplink.Uplink), whose acks must carry central's signature.
//
// Nothing here may stop the control loop: when the uplink cannot start
// (no key, an outbox that cannot be opened) or the outbox refuses records
// (full, disk full), the daemon logs it, raises an alarm and keeps
// charging; the outbox recovers by itself once space returns.

// Event kinds the edge sends to central besides poll's, safety's (prefixed
// "safety-") and edge/session's. Append only.
const (
	eventMeterKey        = "meter-key"         // attrs device, point, pubkey (hex DER SubjectPublicKeyInfo)
	eventEMSLimitSet     = "ems-limit-set"     // attrs request, max_current_ma, max_power_w, expires
	eventEMSLimitExpired = "ems-limit-expired" // attrs request
	// "snapshot-failed" (attrs kind, session) is retired: edge/session
	// retries a snapshot until it is stored. Do not reuse the name.
	eventOutboxAlarm = "outbox-alarm"  // attrs pending_bytes, alarm_bytes, on
	eventOutboxError = "outbox-error"  // a record was refused (full, disk full); msg, attrs refused
	eventOutboxGap   = "outbox-gap"    // attrs from, to, reason: seqs declared lost (the gap record says it too)
	eventNoAck       = "uplink-no-ack" // attrs since, pending_records: no ack for no_ack_alarm
)

// Alarm ids the uplink raises (emsapi.Alarm.ID).
const (
	alarmUplink = "uplink"        // not started: no key, unusable outbox …
	alarmOutbox = "uplink/outbox" // records refused, or the outbox above 80 %
	alarmNoAck  = "uplink/no-ack" // records waiting without an ack for no_ack_alarm
	alarmHoles  = "uplink/holes"  // records the outbox cannot deliver (declared lost)
)

// uplinkOverrides replace parts of the site file's uplink section; in-process
// callers (demo, tests) use them instead of editing YAML.
type uplinkOverrides struct {
	broker, key, outbox, centralKey string
}

// apply returns the uplink config in force: the site's, with overrides.
// A broker override enables the uplink even without a section.
func (o uplinkOverrides) apply(u *config.Uplink) *config.Uplink {
	if u == nil && o.broker == "" {
		return nil
	}
	var c config.Uplink
	if u != nil {
		c = *u
	}
	if o.broker != "" {
		c.Broker = o.broker
	}
	if o.key != "" {
		c.Key = o.key
	}
	if o.outbox != "" {
		c.Outbox = o.outbox
		c.SessionState = "" // beside the outbox
	}
	if o.centralKey != "" {
		c.CentralKey = o.centralKey
	}
	c = c.WithDefaults()
	return &c
}

// snapshotMeter is a charge point's Eichrecht meter.
type snapshotMeter struct {
	point, device string
	m             interface {
		session.Meter
		PublicKey(ctx context.Context) ([]byte, error)
	}
}

// edgeUplink is the uplink side of one edge daemon.
type edgeUplink struct {
	d   *Daemon
	cfg config.Uplink
	log *slog.Logger

	meters []snapshotMeter // in charge-point order

	// Set by open; nil when the uplink did not start.
	box      *outbox.Outbox
	signer   uplink.Signer
	batcher  *uplink.Batcher
	up       *uplink.Uplink
	sessions *session.Manager
	commands *command.Handler // central's commands (access.go)

	kick chan struct{} // a control step happened (cap 1)

	appendErrors atomic.Uint64 // records the outbox refused
	outboxFailed atomic.Bool   // the last append failed

	mu           sync.Mutex // protects the fields below
	oldestSeq    uint64     // the seq oldestSent belongs to
	oldestSent   time.Time  // "sent" of the oldest unacknowledged record
	waitingSince time.Time  // records pending without an ack since (zero: none pending)
	noAckRaised  bool
}

func newEdgeUplink(d *Daemon, cfg config.Uplink, meters []snapshotMeter) *edgeUplink {
	return &edgeUplink{
		d:      d,
		cfg:    cfg,
		log:    d.log.With("component", "uplink"),
		meters: meters,
		kick:   make(chan struct{}, 1),
	}
}

// centralKey reads central's public key: hex in the config, or a file.
func centralKey(v string) (ed25519.PublicKey, error) {
	if v == "" {
		return nil, errors.New("uplink central_key is not set: acks from central cannot be verified")
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	k, err := sign.LoadPublic(v)
	if err != nil {
		return nil, fmt.Errorf("uplink central_key %s: %w", v, err)
	}
	return k, nil
}

// open loads the keys, opens the outbox (declaring any holes it found),
// and builds the batcher, the session manager and the uplink. On error
// nothing is left open; the caller raises the alarm and runs without
// uplink.
func (u *edgeUplink) open(ctx context.Context) error {
	key, err := sign.LoadPrivate(u.cfg.Key)
	if err != nil {
		return fmt.Errorf("uplink key %s (create it with `parkgrid keygen --out DIR`): %w", u.cfg.Key, err)
	}
	ck, err := centralKey(u.cfg.CentralKey)
	if err != nil {
		return err
	}
	box, rep, err := outbox.Open(ctx, u.cfg.Outbox, outbox.Options{
		SegmentBytes: u.cfg.OutboxSegmentBytes,
		MaxBytes:     u.cfg.OutboxMaxBytes,
		OnAlarm:      u.onOutboxAlarm,
		Log:          u.log,
		Now:          u.d.clk.Now,
	})
	if err != nil {
		if errors.Is(err, outbox.ErrCorrupt) {
			u.log.Error("outbox unusable: uplink NOT started; control, safety and the EMS API keep running. "+
				"Restore the named file, or move the outbox directory aside: a new outbox is a new epoch, which central stores beside the old one.",
				"dir", u.cfg.Outbox, "err", err)
		}
		return fmt.Errorf("uplink outbox %s: %w", u.cfg.Outbox, err)
	}
	u.log.Info("outbox open", "dir", u.cfg.Outbox, "epoch", rep.Epoch, "new", rep.Created, "acked", rep.Acked, "head", rep.Head,
		"segments", rep.Segments, "torn_tails", len(rep.Truncated), "holes", len(rep.Holes))
	u.signer = uplink.Signer{Site: u.d.site.ID, Gateway: u.d.site.Gateway, Epoch: box.Epoch(), Key: key, Now: u.d.clk.Now}
	u.box = box
	b, err := uplink.NewBatcher(uplink.BatcherConfig{
		Site: u.d.site.ID, Gateway: u.d.site.Gateway, Epoch: box.Epoch(), Key: key,
		MaxReadings: u.cfg.BatchMaxReadings, MaxDelay: u.cfg.BatchMaxDelay,
		Clock: u.d.clk, Log: u.log,
	}, appenderFunc(u.append))
	if err != nil {
		box.Close()
		return err
	}
	ucfg := uplink.Config{
		Broker: u.cfg.Broker, Site: u.d.site.ID, Gateway: u.d.site.Gateway, CentralKey: ck,
		Username: u.cfg.Username, Password: u.cfg.Password,
		Clock: u.d.clk, Log: u.log, OnCommand: u.handleCommand,
	}
	if t := u.cfg.TLS; t != nil {
		ucfg.TLS = &uplink.TLSFiles{CAFile: t.CA, CertFile: t.Cert, KeyFile: t.Key, ServerName: t.ServerName}
	}
	up, err := uplink.New(ucfg, box)
	if err != nil {
		box.Close()
		return err
	}
	var points []session.Point
	for _, m := range u.meters {
		points = append(points, session.Point{ID: m.point, Device: m.device, Meter: m.m, Central: centralAccess(u.d.site, m.point)})
	}
	sm, err := session.New(session.Config{StateFile: u.cfg.SessionState, Points: points, Journal: journal{u}, Clock: u.d.clk, Log: u.log,
		Gate: u.d.control, Classes: u.d.control})
	if err != nil {
		box.Close()
		return err
	}
	if u.commands, err = u.openCommands(key, ck, sm); err != nil {
		box.Close()
		return err
	}
	u.batcher, u.up, u.sessions = b, up, sm
	u.declareGaps(ctx)
	u.log.Info("uplink ready", "broker", u.cfg.Broker, "outbox", u.cfg.Outbox, "gateway", u.d.site.Gateway,
		"pubkey", sign.PublicHex(key.Public().(ed25519.PublicKey)), "central_key", sign.PublicHex(ck), "sessions", u.cfg.SessionState)
	return nil
}

// journal is the session manager's view of the outbox.
type journal struct{ u *edgeUplink }

func (j journal) Store(ctx context.Context, rs []reading.Reading, es []reading.Event) (uint64, error) {
	return j.u.signer.Store(ctx, appenderFunc(j.u.append), rs, es)
}

func (j journal) Hold() func() { return j.u.box.Hold() }

func (j journal) Epoch() string { return j.u.box.Epoch() }

func (j journal) StoredSnapshots(after uint64) (map[string]bool, error) {
	pub := j.u.signer.Key.Public().(ed25519.PublicKey)
	out := map[string]bool{}
	for rec, err := range j.u.box.Stored(after+1, 64) {
		if err != nil {
			return nil, err
		}
		b, _, err := reading.Open(rec.Data, func(string) (ed25519.PublicKey, error) { return pub, nil })
		if err != nil {
			continue // not ours to judge here; central will
		}
		for _, r := range b.Readings {
			if r.OCMF != "" {
				out[r.OCMF] = true
			}
		}
	}
	return out, nil
}

// declareGaps replaces the outbox's undeclared holes by signed gap records.
func (u *edgeUplink) declareGaps(ctx context.Context) {
	holes := u.box.Holes()
	if len(holes) == 0 {
		return
	}
	n, err := u.box.DeclareGaps(ctx, u.signer.Gap)
	if err != nil {
		u.log.Error("outbox gaps not declared yet; retrying", "err", err)
	}
	var lost uint64
	for _, h := range holes {
		lost += h.To - h.From + 1
		if !h.Declared {
			u.batcher.AddEvent(reading.Event{Time: u.d.clk.Now().UTC(), Kind: eventOutboxGap, Message: h.Why,
				Attrs: map[string]string{"from": strconv.FormatUint(h.From, 10), "to": strconv.FormatUint(h.To, 10), "reason": h.Reason, "segment": h.Segment}})
		}
	}
	if n > 0 || len(holes) > 0 {
		u.d.alarms.set(emsapi.Alarm{ID: alarmHoles, Kind: "outbox", Since: u.d.clk.Now(),
			Message: fmt.Sprintf("the outbox could not deliver %d record(s) (damaged or missing on disk); they are declared lost to central, intact records are delivered, copies are in %s/quarantine", lost, u.cfg.Outbox)})
	}
}

// appenderFunc adapts a function to uplink.Appender.
type appenderFunc func(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error)

func (f appenderFunc) Append(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error) {
	return f(ctx, payload)
}

// append is box.Append with the failure reported once per episode: an
// error log, the outbox alarm and an event (which reaches central with the
// first batch the outbox takes again). Callers keep what was refused and
// retry.
func (u *edgeUplink) append(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error) {
	seq, err := u.box.Append(ctx, payload)
	if err != nil {
		n := u.appendErrors.Add(1)
		if !u.outboxFailed.Swap(true) {
			u.log.Error("outbox refuses records; readings, snapshots and events are kept in memory and retried", "err", err)
			u.d.alarms.set(emsapi.Alarm{ID: alarmOutbox, Kind: "outbox", Message: "the outbox refuses records: " + err.Error(), Since: u.d.clk.Now()})
			u.batcher.AddEvent(reading.Event{Time: u.d.clk.Now().UTC(), Kind: eventOutboxError, Message: err.Error(),
				Attrs: map[string]string{"refused": strconv.FormatUint(n, 10)}})
		}
		return 0, err
	}
	if u.outboxFailed.Swap(false) {
		u.log.Info("outbox takes records again", "refused_total", u.appendErrors.Load())
		if !u.box.Stats().Alarm {
			u.d.alarms.clear(alarmOutbox)
		}
	}
	return seq, nil
}

// onOutboxAlarm is the outbox crossing 80 % of its cap, up or down.
func (u *edgeUplink) onOutboxAlarm(s outbox.Stats) {
	attrs := map[string]string{"pending_bytes": strconv.FormatInt(s.PendingBytes, 10), "alarm_bytes": strconv.FormatInt(s.AlarmBytes, 10), "on": strconv.FormatBool(s.Alarm)}
	if s.Alarm {
		u.log.Warn("outbox above its alarm threshold: central has not acknowledged for a long time", "pending_bytes", s.PendingBytes, "alarm_bytes", s.AlarmBytes)
		u.d.alarms.set(emsapi.Alarm{ID: alarmOutbox, Kind: "outbox", Message: fmt.Sprintf("outbox holds %d bytes not acknowledged by central (alarm at %d, cap %d)", s.PendingBytes, s.AlarmBytes, s.MaxBytes), Since: u.d.clk.Now()})
	} else if !u.outboxFailed.Load() {
		u.d.alarms.clear(alarmOutbox)
	}
	if b := u.batcher; b != nil {
		b.AddEvent(reading.Event{Time: u.d.clk.Now().UTC(), Kind: eventOutboxAlarm, Attrs: attrs})
	}
}

// outboxStats are the outbox's counters (zero without uplink).
func (u *edgeUplink) outboxStats() outbox.Stats {
	if !u.started() {
		return outbox.Stats{}
	}
	return u.box.Stats()
}

// started reports whether open succeeded.
func (u *edgeUplink) started() bool { return u != nil && u.batcher != nil }

// event queues an event for central (no-op without uplink).
func (u *edgeUplink) event(e reading.Event) {
	if u.started() {
		u.batcher.AddEvent(e)
	}
}

func (u *edgeUplink) onDeviceEvent(ev poll.Event) {
	e := reading.Event{Time: ev.At.UTC(), Kind: string(ev.Kind), Device: ev.Device, Attrs: map[string]string{"bus": ev.Bus}}
	if ev.Err != nil {
		e.Message = ev.Err.Error()
	}
	u.event(e)
}

func (u *edgeUplink) onSafetyEvent(ev safety.Event) {
	attrs := map[string]string{}
	if ev.Cause != "" {
		attrs["cause"] = string(ev.Cause)
	}
	if ev.Node != "" {
		attrs["node"] = ev.Node
	}
	u.event(reading.Event{Time: ev.At.UTC(), Kind: "safety-" + string(ev.Kind), Point: ev.Point, Message: ev.Detail, Attrs: attrs})
}

// onLimit is an EMS limit put in force (from the EMS API).
func (u *edgeUplink) onLimit(req emsapi.LimitRequest, eff control.Effective, now time.Time) {
	attrs := map[string]string{"request": req.RequestID, "expires": eff.Expires.UTC().Format(time.RFC3339)}
	if req.MaxCurrentMA != nil {
		attrs["max_current_ma"] = fmt.Sprintf("%d,%d,%d", req.MaxCurrentMA[0], req.MaxCurrentMA[1], req.MaxCurrentMA[2])
	}
	if req.MaxPowerW != nil {
		attrs["max_power_w"] = strconv.FormatInt(*req.MaxPowerW, 10)
	}
	u.event(reading.Event{Time: now.UTC(), Kind: eventEMSLimitSet, Attrs: attrs})
}

func (u *edgeUplink) onStep() {
	if u == nil {
		return
	}
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// run runs the batcher, the MQTT uplink, the sessions, the sampler and the
// meter-key reader until ctx ends, then flushes what is queued and closes
// the outbox. Errors are logged, never returned: the uplink does not stop
// the edge.
func (u *edgeUplink) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := u.up.Run(ctx); err != nil {
			u.log.Error("uplink stopped; records stay in the outbox", "err", err)
			u.d.alarms.set(emsapi.Alarm{ID: alarmUplink, Kind: "uplink", Message: "uplink to central stopped: " + err.Error(), Since: u.d.clk.Now()})
		}
	})
	// The batcher outlives the sampler so that its last readings are
	// flushed into the outbox.
	bctx, stopBatcher := context.WithCancel(context.WithoutCancel(ctx))
	var bwg sync.WaitGroup
	bwg.Go(func() {
		if err := u.batcher.Run(bctx); err != nil {
			u.log.Error("batcher: final flush failed; those readings are lost", "err", err)
		}
	})
	wg.Go(func() { _ = u.sessions.Run(ctx) })
	wg.Go(func() { u.readKeys(ctx) })
	wg.Go(func() { u.sample(ctx) })
	wg.Wait()
	stopBatcher()
	bwg.Wait()
	if err := u.box.Close(); err != nil {
		u.log.Error("close outbox", "err", err)
	}
}

// sample puts every meter's latest sample into the batch each
// ReadingInterval, and on every control step hands the charge points'
// states to the sessions, watches for the EMS limit expiring and for acks
// that do not come, and declares outbox holes found meanwhile.
func (u *edgeUplink) sample(ctx context.Context) {
	ticker, tick := u.d.clk.NewTicker(u.cfg.ReadingInterval)
	defer ticker.Stop()
	pointOf := map[string]string{}
	var meters []string
	if g := u.d.site.Grid.Meter; g != "" {
		meters = append(meters, g)
	}
	for _, cp := range u.d.site.ChargePoints {
		if cp.Meter != "" {
			pointOf[cp.Meter] = cp.ID
		}
	}
	for _, dev := range u.d.site.Devices() {
		if dev.Driver.IsMeter() && dev.ID != u.d.site.Grid.Meter {
			meters = append(meters, dev.ID)
		}
	}
	controllerOf := map[string]string{}
	for _, cp := range u.d.site.ChargePoints {
		controllerOf[cp.ID] = cp.Controller
	}
	lastAt := map[string]time.Time{}
	var emsRequest string // the EMS limit in force at the last step
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			now := u.d.clk.Now()
			for _, id := range meters {
				for _, r := range meterReadings(u.d.state.Meter(id, now), id, pointOf[id], now, lastAt) {
					u.batcher.Add(r)
				}
			}
		case <-u.kick:
			now := u.d.clk.Now()
			for _, m := range u.meters {
				if s := u.d.state.Meter(m.device, now); !s.Stale && !s.At.IsZero() {
					u.sessions.ObserveCounter(m.point, s.Value.ImportWh)
				}
				r := u.d.state.Charger(controllerOf[m.point], now)
				if r.Stale || r.At.IsZero() {
					continue
				}
				switch r.Value.State {
				case drivers.StateA:
					u.sessions.Observe(m.point, false, r.At)
				case drivers.StateB, drivers.StateC, drivers.StateD:
					u.sessions.Observe(m.point, true, r.At)
				}
			}
			req := ""
			if e := u.d.control.Status().EMS; e != nil {
				req = e.RequestID
			}
			if emsRequest != "" && req == "" {
				u.event(reading.Event{Time: now.UTC(), Kind: eventEMSLimitExpired, Attrs: map[string]string{"request": emsRequest}})
			}
			emsRequest = req
			u.watchAcks(now)
			if u.box.Stats().Undeclared > 0 {
				u.declareGaps(ctx)
			}
		}
	}
}

// watchAcks raises the no-ack alarm when records have waited NoAckAlarm
// without an ack from central, and clears it when acks come again.
func (u *edgeUplink) watchAcks(now time.Time) {
	st := u.box.Stats()
	last := u.up.Status().LastAck
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case st.PendingRecords == 0 && st.Holes == 0:
		u.waitingSince = time.Time{}
	case u.waitingSince.IsZero():
		u.waitingSince = now
	}
	if !u.waitingSince.IsZero() && last.After(u.waitingSince) {
		u.waitingSince = last
	}
	waiting := !u.waitingSince.IsZero() && now.Sub(u.waitingSince) >= u.cfg.NoAckAlarm
	switch {
	case waiting && !u.noAckRaised:
		u.noAckRaised = true
		u.log.Error("no ack from central: records wait in the outbox", "since", u.waitingSince, "pending_records", st.PendingRecords, "connected", u.up.Status().Connected)
		u.d.alarms.set(emsapi.Alarm{ID: alarmNoAck, Kind: "uplink", Since: u.waitingSince,
			Message: fmt.Sprintf("central has acknowledged nothing for %s; %d records wait in the outbox (connected to the broker: %v)", now.Sub(u.waitingSince).Round(time.Second), st.PendingRecords, u.up.Status().Connected)})
		u.batcher.AddEvent(reading.Event{Time: now.UTC(), Kind: eventNoAck,
			Attrs: map[string]string{"since": u.waitingSince.UTC().Format(time.RFC3339), "pending_records": strconv.FormatUint(st.PendingRecords, 10)}})
	case !waiting && u.noAckRaised:
		u.noAckRaised = false
		u.log.Info("central acknowledges again")
		u.d.alarms.clear(alarmNoAck)
	}
}

// oldestUnacked returns the "sent" time of the oldest record central has
// not acknowledged (zero when none), reading it once per acked head.
func (u *edgeUplink) oldestUnacked() time.Time {
	if !u.started() {
		return time.Time{}
	}
	recs, err := u.box.ReadFrom(0, 1)
	if err != nil || len(recs) == 0 {
		return time.Time{}
	}
	u.mu.Lock()
	if u.oldestSeq == recs[0].Seq {
		t := u.oldestSent
		u.mu.Unlock()
		return t
	}
	u.mu.Unlock()
	pub := u.signer.Key.Public().(ed25519.PublicKey)
	b, _, err := reading.Open(recs[0].Data, func(string) (ed25519.PublicKey, error) { return pub, nil })
	if err != nil {
		return time.Time{}
	}
	u.mu.Lock()
	u.oldestSeq, u.oldestSent = recs[0].Seq, b.Sent
	u.mu.Unlock()
	return b.Sent
}

// meterReadings turns one meter's latest sample into readings: every
// quantity with the sample's time when it is new, nothing when it was sent
// already, and stale markers (no values) when it is stale.
func meterReadings(r site.Reading[drivers.MeterSample], device, point string, now time.Time, lastAt map[string]time.Time) []reading.Reading {
	if r.Stale {
		out := make([]reading.Reading, 0, 2)
		for _, q := range []string{reading.QEnergyWh, reading.QPowerW} {
			out = append(out, reading.Reading{Time: now.UTC(), Device: device, Point: point, Quantity: q, Stale: true})
		}
		return out
	}
	if r.At.IsZero() || !r.At.After(lastAt[device]) {
		return nil
	}
	lastAt[device] = r.At
	v, t := r.Value, r.At.UTC()
	q := func(name string, val int64) reading.Reading {
		return reading.Reading{Time: t, Device: device, Point: point, Quantity: name, Value: val}
	}
	return []reading.Reading{
		q(reading.QEnergyWh, v.ImportWh),
		q(reading.QPowerW, v.PowerW),
		q(reading.QCurrentL1MA, v.CurrentMA[0]),
		q(reading.QCurrentL2MA, v.CurrentMA[1]),
		q(reading.QCurrentL3MA, v.CurrentMA[2]),
		q(reading.QVoltageL1DV, v.VoltageDV[0]),
		q(reading.QVoltageL2DV, v.VoltageDV[1]),
		q(reading.QVoltageL3DV, v.VoltageDV[2]),
	}
}

// readKeys reads each Eichrecht meter's public key, retrying each
// ReadingInterval until it has them all, and sends each as a meter-key
// event.
func (u *edgeUplink) readKeys(ctx context.Context) {
	pending := append([]snapshotMeter(nil), u.meters...)
	for len(pending) > 0 {
		var left []snapshotMeter
		for _, m := range pending {
			if ctx.Err() != nil {
				return
			}
			if !u.readKey(ctx, m) {
				left = append(left, m)
			}
		}
		pending = left
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-u.d.clk.After(u.cfg.ReadingInterval):
		}
	}
}

const meterIOTimeout = 10 * time.Second

// readKey emits the meter-key event for m; false if the meter did not answer.
func (u *edgeUplink) readKey(ctx context.Context, m snapshotMeter) bool {
	cctx, cancel := context.WithTimeout(ctx, meterIOTimeout)
	defer cancel()
	der, err := m.m.PublicKey(cctx)
	if err != nil {
		if ctx.Err() == nil {
			u.log.Warn("meter public key not read; retrying", "device", m.device, "point", m.point, "err", err)
		}
		return false
	}
	u.event(reading.Event{Time: u.d.clk.Now().UTC(), Kind: eventMeterKey, Device: m.device, Point: m.point,
		Attrs: map[string]string{"device": m.device, "point": m.point, "pubkey": hex.EncodeToString(der)}})
	return true
}
