package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	libocpp "github.com/lorenzodonini/ocpp-go/ocpp"
	ocpp16 "github.com/lorenzodonini/ocpp-go/ocpp1.6"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	"github.com/lorenzodonini/ocpp-go/ocppj"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// conn is one websocket connection to the CSMS.
type conn struct {
	cp   ocpp16.ChargePoint
	down chan struct{} // closed when the connection drops
	// remote holds the CALLERRORs that came from the CSMS, to tell them
	// from the library's own (a timeout, a failed write), which are no
	// answer and must not count as one.
	remote sync.Map // *libocpp.Error → struct{}
}

// refused reports whether err is a CALLERROR the CSMS sent.
func (cn *conn) refused(err error) bool {
	var oerr *libocpp.Error
	if !errors.As(err, &oerr) {
		return false
	}
	_, ok := cn.remote.Load(oerr)
	return ok
}

// runLink keeps the point connected and registered, and sends what the
// point has to say: status changes, queued transaction messages in order,
// heartbeats, triggered messages.
func (c *Client) runLink(ctx context.Context) {
	r := rand.New(rand.NewPCG(uint64(c.clk.Now().UnixNano()), uint64(len(c.cfg.Identity))))
	attempt := 0
	for ctx.Err() == nil {
		cn, err := c.dial()
		if err == nil {
			attempt = 0
			err = c.serve(ctx, cn)
			cn.cp.Stop()
			c.mu.Lock()
			c.connected, c.registered, c.cn = false, false, nil
			c.sentStatus = [3]string{}
			c.mu.Unlock()
		}
		if ctx.Err() != nil {
			return
		}
		wait := backoff(attempt, c.cfg.ReconnectMin, c.cfg.ReconnectMax, r)
		attempt++
		c.log.Warn("ocpp: CSMS not reachable; queued messages wait", "err", err, "retry_in", wait.Round(time.Millisecond), "queued", c.Pending())
		t, fire := c.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-fire:
		}
	}
}

// dial opens a connection (subprotocol ocpp1.6, basic auth with the
// point's identity and password, TLS with the configured roots).
func (c *Client) dial() (*conn, error) {
	var wsc *ws.Client
	if c.cfg.TLS != nil {
		wsc = ws.NewTLSClient(c.cfg.TLS)
	} else {
		wsc = ws.NewClient()
	}
	if c.cfg.Password != "" {
		wsc.SetBasicAuth(c.cfg.Identity, c.cfg.Password)
	}
	tc := ws.NewClientTimeoutConfig()
	tc.HandshakeTimeout = 10 * time.Second
	tc.RetryBackOffWaitMinimum = time.Hour // our loop reconnects, not the library
	wsc.SetTimeoutConfig(tc)
	disp := ocppj.NewDefaultClientDispatcher(ocppj.NewFIFOClientQueue(0))
	disp.SetTimeout(c.cfg.CallTimeout)
	endpoint := ocppj.NewClient(c.cfg.Identity, wsc, disp, nil, core.Profile, remotetrigger.Profile, smartcharging.Profile)
	cp := ocpp16.NewChargePoint(c.cfg.Identity, endpoint, wsc)
	cn := &conn{cp: cp, down: make(chan struct{})}
	var once sync.Once
	endpoint.SetOnDisconnectedHandler(func(err error) {
		once.Do(func() { close(cn.down) })
	})
	endpoint.SetInvalidMessageHook(callError)
	if orig := endpoint.GetErrorHandler(); orig != nil {
		endpoint.SetErrorHandler(func(err *libocpp.Error, details any) {
			cn.remote.Store(err, struct{}{})
			orig(err, details)
		})
	}
	h := &handler{c: c}
	cp.SetCoreHandler(h)
	cp.SetRemoteTriggerHandler(h)
	cp.SetSmartChargingHandler(h)
	if err := cp.Start(c.cfg.URL); err != nil {
		cp.Stop()
		return nil, fmt.Errorf("connect to %s as %s: %w", c.cfg.URL, c.cfg.Identity, err)
	}
	// cp.Errors is never asked for: without it the library drops its
	// error reports instead of blocking on an unread channel.
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	c.log.Info("ocpp: connected", "url", c.cfg.URL)
	return cn, nil
}

// errDown: the connection dropped.
var errDown = errors.New("connection to the CSMS dropped")

// call sends one request and waits for its answer, the connection's end
// or ctx.
func (c *Client) call(ctx context.Context, cn *conn, req libocpp.Request) (libocpp.Response, error) {
	type result struct {
		resp libocpp.Response
		err  error
	}
	done := make(chan result, 1)
	if err := cn.cp.SendRequestAsync(req, func(resp libocpp.Response, err error) { done <- result{resp, err} }); err != nil {
		return nil, fmt.Errorf("send %s: %w", req.GetFeatureName(), err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("%s: %w", req.GetFeatureName(), r.err)
		}
		return r.resp, nil
	case <-cn.down:
		return nil, fmt.Errorf("%s: %w", req.GetFeatureName(), errDown)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serve registers the point (BootNotification until Accepted) and then
// works the connection until it drops.
func (c *Client) serve(ctx context.Context, cn *conn) error {
	interval, err := c.boot(ctx, cn)
	if err != nil {
		return err
	}
	if interval > 0 {
		c.keys.setHeartbeat(interval)
	}
	c.mu.Lock()
	c.registered, c.cn = true, cn
	c.mu.Unlock()
	c.log.Info("ocpp: registered with the CSMS", "heartbeat", c.keys.heartbeat(), "queued", c.Pending())
	if _, err := c.call(ctx, cn, core.NewStatusNotificationRequest(0, core.NoError, core.ChargePointStatusAvailable)); err != nil {
		return err
	}
	hb, hbTick := c.clk.NewTicker(c.keys.heartbeat())
	defer hb.Stop()
	hbEvery := c.keys.heartbeat()
	var retryAt time.Time
	for {
		if err := c.sendStatus(ctx, cn); err != nil {
			return err
		}
		if now := c.clk.Now(); !now.Before(retryAt) {
			wait, err := c.drain(ctx, cn)
			if err != nil {
				return err
			}
			retryAt = now.Add(wait)
		}
		if e := c.keys.heartbeat(); e != hbEvery {
			hbEvery = e
			hb.Reset(e)
		}
		if err := c.wait(ctx, cn, retryAt, hbTick); err != nil {
			return err
		}
	}
}

// errStop ends serve without an error worth a log line.
var errStop = errors.New("stopped")

// wait waits for something to do on the connection, and does it.
func (c *Client) wait(ctx context.Context, cn *conn, retryAt time.Time, hbTick <-chan time.Time) error {
	var retry <-chan time.Time
	if !retryAt.IsZero() {
		t, fire := c.clk.NewTimer(max(retryAt.Sub(c.clk.Now()), time.Millisecond))
		defer t.Stop()
		retry = fire
	}
	select {
	case <-ctx.Done():
		return errStop
	case <-cn.down:
		return errDown
	case <-c.wake:
	case <-retry:
	case <-hbTick:
		if _, err := c.call(ctx, cn, core.NewHeartbeatRequest()); err != nil && !cn.refused(err) {
			return err
		}
	case what := <-c.trigger:
		return c.triggered(ctx, cn, what)
	case kind := <-c.resetC:
		c.log.Info("ocpp: reset by the CSMS: the transaction stops, the point registers again", "type", kind)
		c.awaitStop(ctx)
		if _, err := c.drain(ctx, cn); err != nil {
			return err
		}
		return fmt.Errorf("reset (%s) by the CSMS", kind)
	}
	return nil
}

// boot sends BootNotification until the CSMS accepts; Pending and
// Rejected wait the interval it names and try again (no other message is
// sent meanwhile).
func (c *Client) boot(ctx context.Context, cn *conn) (time.Duration, error) {
	for {
		req := core.NewBootNotificationRequest(c.cfg.Model, c.cfg.Vendor)
		req.ChargePointSerialNumber = c.cfg.Serial
		req.FirmwareVersion = c.cfg.Firmware
		resp, err := c.call(ctx, cn, req)
		if err != nil {
			return 0, err
		}
		conf := resp.(*core.BootNotificationConfirmation)
		interval := time.Duration(conf.Interval) * time.Second
		if conf.Status == core.RegistrationStatusAccepted {
			return interval, nil
		}
		if interval <= 0 {
			interval = c.keys.heartbeat()
		}
		c.log.Warn("ocpp: the CSMS did not accept the point yet", "status", conf.Status, "retry_in", interval)
		t, fire := c.clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-cn.down:
			t.Stop()
			return 0, errDown
		case <-fire:
		}
	}
}

// sendStatus sends the connector's status when it changed.
func (c *Client) sendStatus(ctx context.Context, cn *conn) error {
	c.mu.Lock()
	s, sent := c.status, c.sentStatus
	c.mu.Unlock()
	if s == sent || s[0] == "" {
		return nil
	}
	req := core.NewStatusNotificationRequest(connector, core.ChargePointErrorCode(s[1]), core.ChargePointStatus(s[0]))
	req.Info = s[2]
	req.Timestamp = types.NewDateTime(c.clk.Now().UTC())
	if _, err := c.call(ctx, cn, req); err != nil {
		if !cn.refused(err) {
			return err
		}
		c.log.Error("ocpp: the CSMS refused a StatusNotification", "status", s[0], "err", err)
	}
	c.mu.Lock()
	c.sentStatus = s
	c.mu.Unlock()
	return nil
}

// drain sends the queue's messages in order. A CALLERROR from the CSMS is
// tried again TransactionMessageAttempts times, TransactionMessageRetry
// Interval apart (the wait is returned), then the message is dropped and
// logged.
func (c *Client) drain(ctx context.Context, cn *conn) (time.Duration, error) {
	for {
		c.mu.Lock()
		if len(c.st.Queue) == 0 {
			c.mu.Unlock()
			return 0, nil
		}
		m := c.st.Queue[0]
		txID, known := c.st.TxIDs[m.LocalTx]
		c.mu.Unlock()
		req, err := buildRequest(m, txID, known)
		if err != nil {
			c.log.Error("ocpp: queued message dropped", "action", m.Action, "seq", m.Seq, "err", err)
			c.pop(m.Seq, nil)
			continue
		}
		resp, err := c.call(ctx, cn, req)
		switch {
		case cn.refused(err):
			cn.remote.Clear()
			c.mu.Lock()
			n := 0
			if len(c.st.Queue) > 0 && c.st.Queue[0].Seq == m.Seq {
				c.st.Queue[0].Tries++
				n = c.st.Queue[0].Tries
			}
			c.persist()
			c.mu.Unlock()
			if n >= c.keys.attempts() {
				c.log.Error("ocpp: the CSMS refused a queued message; dropped after the configured attempts", "action", m.Action, "seq", m.Seq, "tries", n, "err", err)
				c.pop(m.Seq, nil)
				continue
			}
			return c.keys.retryInterval(), nil
		case err != nil:
			return 0, err
		}
		c.pop(m.Seq, resp)
	}
}

// pop removes the queue's head (seq) and applies the CSMS's answer.
func (c *Client) pop(seq uint64, resp libocpp.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.st.Queue) == 0 || c.st.Queue[0].Seq != seq {
		return
	}
	m := c.st.Queue[0]
	c.st.Queue = slices.Delete(c.st.Queue, 0, 1)
	if conf, ok := resp.(*core.StartTransactionConfirmation); ok {
		c.st.TxIDs[m.LocalTx] = conf.TransactionId
		c.log.Info("ocpp: transaction id from the CSMS", "local_tx", m.LocalTx, "transaction", conf.TransactionId, "id_tag_status", conf.IdTagInfo.Status)
		if conf.IdTagInfo == nil || conf.IdTagInfo.Status != types.AuthorizationStatusAccepted {
			if c.st.Tx != nil && c.st.Tx.LocalID == m.LocalTx && c.stopReason == "" {
				c.stopReason = string(core.ReasonDeAuthorized) // StopTransactionOnInvalidId
			}
		}
	}
	if m.Action == actStop {
		// Later messages never name this transaction again.
		delete(c.st.TxIDs, m.LocalTx)
	}
	c.persist()
}

// buildRequest turns a queued message into its request with the CSMS's
// transaction id.
func buildRequest(m Message, txID int, known bool) (libocpp.Request, error) {
	switch m.Action {
	case actStart:
		var r core.StartTransactionRequest
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		return &r, nil
	case actStop:
		if !known {
			return nil, fmt.Errorf("transaction %d has no id from the CSMS (its start was refused)", m.LocalTx)
		}
		var r core.StopTransactionRequest
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		r.TransactionId = txID
		return &r, nil
	case actMeterValues:
		var r core.MeterValuesRequest
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		if known {
			r.TransactionId = &txID
		}
		return &r, nil
	}
	return nil, fmt.Errorf("unknown action %q", m.Action)
}

// awaitStop waits up to 10 s for the point to stop its transaction.
func (c *Client) awaitStop(ctx context.Context) {
	t, fire := c.clk.NewTimer(10 * time.Second)
	defer t.Stop()
	tk, tick := c.clk.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	for {
		c.mu.Lock()
		done := c.st.Tx == nil
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-fire:
			return
		case <-tick:
		}
	}
}

// triggered sends a message the CSMS asked for with TriggerMessage.
func (c *Client) triggered(ctx context.Context, cn *conn, what string) error {
	var err error
	switch remotetrigger.MessageTrigger(what) {
	case core.BootNotificationFeatureName:
		_, err = c.boot(ctx, cn)
	case core.HeartbeatFeatureName:
		_, err = c.call(ctx, cn, core.NewHeartbeatRequest())
	case core.StatusNotificationFeatureName:
		c.mu.Lock()
		c.sentStatus = [3]string{}
		c.mu.Unlock()
		err = c.sendStatus(ctx, cn)
	case core.MeterValuesFeatureName:
		now := c.clk.Now()
		v, _ := c.cfg.Points.View(c.cfg.Point, now)
		c.mu.Lock()
		mv := c.meterValueLocked(now, v, types.ReadingContextTrigger, "")
		c.mu.Unlock()
		req := core.NewMeterValuesRequest(connector, []types.MeterValue{mv})
		_, err = c.call(ctx, cn, req)
	}
	return err
}
