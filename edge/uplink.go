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
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/poll"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/edge/sign"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/edge/uplink"
)

// This file wires the edge's uplink to central: meter samples, events and
// OCMF snapshots go into signed batches (uplink.Batcher), the batches into
// the durable outbox, and the outbox over MQTT to central (uplink.Uplink).
//
// Nothing here may stop the control loop: when the uplink cannot start
// (no key, a corrupt outbox) or the outbox refuses batches (full, disk
// full), the daemon logs it, raises the "uplink" alarm and keeps charging.

// Event kinds the edge sends to central besides poll's and safety's
// (which keep their own names, safety's prefixed "safety-"). Append only.
const (
	eventMeterKey        = "meter-key"         // attrs device, point, pubkey (hex DER SubjectPublicKeyInfo)
	eventEMSLimitSet     = "ems-limit-set"     // attrs request, max_current_ma, max_power_w, expires
	eventEMSLimitExpired = "ems-limit-expired" // attrs request
	eventSnapshotFailed  = "snapshot-failed"   // attrs kind, session
	eventOutboxAlarm     = "outbox-alarm"      // attrs pending_bytes, alarm_bytes, on
	eventOutboxError     = "outbox-error"      // a batch was refused (full, disk full); msg
)

// Alarm ids the uplink raises (emsapi.Alarm.ID).
const (
	alarmUplink = "uplink"        // not started: no key, corrupt outbox …
	alarmOutbox = "uplink/outbox" // batches refused, or the outbox above 80 %
)

// uplinkOverrides replace parts of the site file's uplink section; in-process
// callers (demo, tests) use them instead of editing YAML.
type uplinkOverrides struct {
	broker, key, outbox string
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
	}
	c = c.WithDefaults()
	return &c
}

// snapshotMeter is a charge point's Eichrecht meter.
type snapshotMeter struct {
	point, device string
	m             drivers.SnapshotMeter
}

// edgeUplink is the uplink side of one edge daemon.
type edgeUplink struct {
	d   *Daemon
	cfg config.Uplink
	log *slog.Logger

	meters []snapshotMeter // in charge-point order

	// Set by open; nil when the uplink did not start.
	box     *outbox.Outbox
	batcher *uplink.Batcher
	up      *uplink.Uplink

	kick  chan struct{}    // a control step happened (cap 1)
	snaps chan snapshotJob // to the snapshot worker

	appendErrors atomic.Uint64 // batches the outbox refused
	snapFailures atomic.Uint64
	outboxFailed atomic.Bool // the last append failed
}

// snapshotJob asks a point's meter for a signed snapshot.
type snapshotJob struct {
	meter   snapshotMeter
	kind    drivers.SnapshotKind
	session string
	at      time.Time
}

func newEdgeUplink(d *Daemon, cfg config.Uplink, meters []snapshotMeter) *edgeUplink {
	return &edgeUplink{
		d:      d,
		cfg:    cfg,
		log:    d.log.With("component", "uplink"),
		meters: meters,
		kick:   make(chan struct{}, 1),
		snaps:  make(chan snapshotJob, 4*len(meters)+16),
	}
}

// open loads the key, opens the outbox and builds the batcher and the
// uplink. On error nothing is left open; the caller raises the alarm and
// runs without uplink.
func (u *edgeUplink) open(ctx context.Context) error {
	key, err := sign.LoadPrivate(u.cfg.Key)
	if err != nil {
		return fmt.Errorf("uplink key %s (create it with `parkgrid keygen --out DIR`): %w", u.cfg.Key, err)
	}
	box, rep, err := outbox.Open(ctx, u.cfg.Outbox, outbox.Options{
		MaxBytes: u.cfg.OutboxMaxBytes,
		OnAlarm:  u.onOutboxAlarm,
		Log:      u.log,
		Now:      u.d.clk.Now,
	})
	if err != nil {
		var ce *outbox.CorruptError
		if errors.As(err, &ce) {
			u.log.Error("outbox corrupt: uplink NOT started; control, safety and the EMS API keep running. "+
				"Do not delete the outbox: a fresh one restarts seqs at 1 and central drops its batches as replays. "+
				"Procedure (edge/outbox/doc.go): the damaged segment was copied to quarantine; ask central for its "+
				"highest stored seq for this gateway, account for the seqs of the damaged segment that central lacks "+
				"(they are lost), move that segment out of the outbox directory and restart the edge.",
				"dir", u.cfg.Outbox, "segment", ce.Segment, "offset", ce.Offset, "seq", ce.Seq, "quarantine", ce.Quarantine, "err", err)
		}
		return fmt.Errorf("uplink outbox %s: %w", u.cfg.Outbox, err)
	}
	u.log.Info("outbox open", "dir", u.cfg.Outbox, "acked", rep.Acked, "head", rep.Head, "segments", rep.Segments, "torn_tails", len(rep.Truncated))
	b, err := uplink.NewBatcher(uplink.BatcherConfig{
		Site: u.d.site.ID, Gateway: u.d.site.Gateway, Key: key,
		MaxReadings: u.cfg.BatchMaxReadings, MaxDelay: u.cfg.BatchMaxDelay,
		Clock: u.d.clk, Log: u.log,
	}, appenderFunc(u.append(box)))
	if err != nil {
		box.Close()
		return err
	}
	ucfg := uplink.Config{
		Broker: u.cfg.Broker, Site: u.d.site.ID, Gateway: u.d.site.Gateway,
		Username: u.cfg.Username, Password: u.cfg.Password,
		Clock: u.d.clk, Log: u.log,
	}
	if t := u.cfg.TLS; t != nil {
		ucfg.TLS = &uplink.TLSFiles{CAFile: t.CA, CertFile: t.Cert, KeyFile: t.Key, ServerName: t.ServerName}
	}
	up, err := uplink.New(ucfg, box)
	if err != nil {
		box.Close()
		return err
	}
	u.box, u.batcher, u.up = box, b, up
	u.log.Info("uplink ready", "broker", u.cfg.Broker, "outbox", u.cfg.Outbox, "gateway", u.d.site.Gateway,
		"pubkey", sign.PublicHex(key.Public().(ed25519.PublicKey)))
	return nil
}

// appenderFunc adapts a function to uplink.Appender.
type appenderFunc func(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error)

func (f appenderFunc) Append(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error) {
	return f(ctx, payload)
}

// append is box.Append with the failure reported once per episode: an
// error log, the outbox alarm and an event (which reaches central with the
// first batch the outbox takes again). The batcher keeps the readings and
// retries.
func (u *edgeUplink) append(box *outbox.Outbox) appenderFunc {
	return func(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error) {
		seq, err := box.Append(ctx, payload)
		if err != nil {
			u.appendErrors.Add(1)
			if !u.outboxFailed.Swap(true) {
				u.log.Error("outbox refused a batch; readings are kept in memory and retried", "err", err)
				u.d.alarms.set(emsapi.Alarm{ID: alarmOutbox, Kind: "outbox", Message: "the outbox refuses batches: " + err.Error(), Since: u.d.clk.Now()})
				u.batcher.AddEvent(reading.Event{Time: u.d.clk.Now().UTC(), Kind: eventOutboxError, Message: err.Error()})
			}
			return 0, err
		}
		if u.outboxFailed.Swap(false) {
			u.log.Info("outbox takes batches again")
			if !u.box.Stats().Alarm {
				u.d.alarms.clear(alarmOutbox)
			}
		}
		return seq, nil
	}
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

// run runs the batcher, the MQTT uplink, the sampler and the snapshot
// worker until ctx ends, then flushes what is queued and closes the outbox.
// Errors are logged, never returned: the uplink does not stop the edge.
func (u *edgeUplink) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := u.up.Run(ctx); err != nil {
			u.log.Error("uplink stopped; batches stay in the outbox", "err", err)
			u.d.alarms.set(emsapi.Alarm{ID: alarmUplink, Kind: "uplink", Message: "uplink to central stopped: " + err.Error(), Since: u.d.clk.Now()})
		}
	})
	// The batcher outlives the sampler and the snapshot worker so that
	// their last readings are flushed into the outbox.
	bctx, stopBatcher := context.WithCancel(context.WithoutCancel(ctx))
	var bwg sync.WaitGroup
	bwg.Go(func() {
		if err := u.batcher.Run(bctx); err != nil {
			u.log.Error("batcher: final flush failed; those readings are lost", "err", err)
		}
	})
	wg.Go(func() { u.snapshotWorker(ctx) })
	wg.Go(func() { u.sample(ctx) })
	wg.Wait()
	stopBatcher()
	bwg.Wait()
	if err := u.box.Close(); err != nil {
		u.log.Error("close outbox", "err", err)
	}
}

// sample puts every meter's latest sample into the batch each
// ReadingInterval, and on every control step looks for cars arriving and
// leaving (snapshots) and for the EMS limit expiring.
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
	lastAt := map[string]time.Time{}
	sessions := newSessionTracker(u.d.site.ChargePoints, u.meters)
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
			for _, job := range sessions.step(u.d, now) {
				select {
				case u.snaps <- job:
				default:
					u.snapFailures.Add(1)
					u.log.Error("snapshot queue full; snapshot skipped", "point", job.meter.point, "kind", job.kind.String(), "session", job.session)
					u.event(reading.Event{Time: now.UTC(), Kind: eventSnapshotFailed, Device: job.meter.device, Point: job.meter.point, Message: "snapshot queue full", Attrs: map[string]string{"kind": job.kind.String(), "session": job.session}})
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
		}
	}
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

// snapshotWorker reads each Eichrecht meter's public key (retrying each
// ReadingInterval until it has them all) and takes the snapshots the
// sampler asks for, one at a time: they share the buses with the pollers.
func (u *edgeUplink) snapshotWorker(ctx context.Context) {
	pending := append([]snapshotMeter(nil), u.meters...)
	retry := u.cfg.ReadingInterval
	for {
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
		var again <-chan time.Time
		if len(pending) > 0 {
			again = u.d.clk.After(retry)
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return
			case job := <-u.snaps:
				u.snapshot(ctx, job)
			case <-again:
				waiting = false
			}
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

// snapshot takes one signed snapshot and queues it as a reading.
func (u *edgeUplink) snapshot(ctx context.Context, job snapshotJob) {
	cctx, cancel := context.WithTimeout(ctx, meterIOTimeout)
	defer cancel()
	ocmf, err := job.meter.m.Snapshot(cctx, job.kind, job.session)
	now := u.d.clk.Now()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		u.snapFailures.Add(1)
		u.log.Error("OCMF snapshot failed", "point", job.meter.point, "device", job.meter.device, "kind", job.kind.String(), "session", job.session, "err", err)
		u.event(reading.Event{Time: now.UTC(), Kind: eventSnapshotFailed, Device: job.meter.device, Point: job.meter.point, Message: err.Error(),
			Attrs: map[string]string{"kind": job.kind.String(), "session": job.session}})
		return
	}
	u.log.Info("OCMF snapshot", "point", job.meter.point, "kind", job.kind.String(), "session", job.session)
	u.batcher.Add(reading.Reading{Time: now.UTC(), Device: job.meter.device, Point: job.meter.point, Quantity: reading.QSnapshot, OCMF: ocmf, Session: job.session})
}

// sessionTracker follows each metered charge point's IEC 61851 state and
// asks for a begin snapshot when a car arrives (A → B/C/D) and an end
// snapshot when it leaves (back to A). Unknown or stale states change
// nothing; a car already connected when the edge starts gets no session
// (its begin was taken, or missed, before).
type sessionTracker struct {
	points []trackedPoint
}

type trackedPoint struct {
	meter      snapshotMeter
	controller string
	seen       bool   // a fresh state was read at least once
	connected  bool   // the last fresh state was B, C or D
	session    string // the open session, "" if none
}

func newSessionTracker(cps []config.ChargePoint, meters []snapshotMeter) *sessionTracker {
	byPoint := map[string]snapshotMeter{}
	for _, m := range meters {
		byPoint[m.point] = m
	}
	t := &sessionTracker{}
	for _, cp := range cps {
		if m, ok := byPoint[cp.ID]; ok {
			t.points = append(t.points, trackedPoint{meter: m, controller: cp.Controller})
		}
	}
	return t
}

// step looks at every point's state at now and returns the snapshots to take.
func (t *sessionTracker) step(d *Daemon, now time.Time) []snapshotJob {
	var jobs []snapshotJob
	for i := range t.points {
		p := &t.points[i]
		r := d.state.Charger(p.controller, now)
		if r.Stale || r.At.IsZero() {
			continue
		}
		var connected bool
		switch r.Value.State {
		case drivers.StateA:
		case drivers.StateB, drivers.StateC, drivers.StateD:
			connected = true
		default:
			continue // E, F: a fault says nothing about the car
		}
		first := !p.seen
		p.seen = true
		if connected == p.connected {
			continue
		}
		p.connected = connected
		switch {
		case connected && !first:
			p.session = fmt.Sprintf("%s-%d", p.meter.point, r.At.Unix())
			jobs = append(jobs, snapshotJob{meter: p.meter, kind: drivers.SnapshotBegin, session: p.session, at: r.At})
		case !connected && p.session != "":
			jobs = append(jobs, snapshotJob{meter: p.meter, kind: drivers.SnapshotEnd, session: p.session, at: r.At})
			p.session = ""
		}
	}
	return jobs
}
