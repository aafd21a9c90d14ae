package emsapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/emsapi/emsapitest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

const waitFor = 10 * time.Second // deadline for anything to arrive from the broker

// msg is one message the test client saw.
type msg struct {
	topic    string
	payload  string
	retained bool
}

// watcher is an MQTT client subscribed to a topic filter; it records what
// arrives and remembers retained topics so the test can clear them.
type watcher struct {
	t      *testing.T
	client paho.Client
	ch     chan msg

	mu       sync.Mutex // protects retained
	retained map[string]bool
}

func newWatcher(t *testing.T, broker string, filters ...string) *watcher {
	t.Helper()
	w := &watcher{t: t, ch: make(chan msg, 1024), retained: map[string]bool{}}
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("parkgrid-test-%d", time.Now().UnixNano())).SetCleanSession(true)
	w.client = paho.NewClient(opts)
	if tok := w.client.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("test client connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.client.Disconnect(100) })
	for _, f := range filters {
		tok := w.client.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			if len(m.Payload()) > 0 {
				w.mu.Lock()
				w.retained[m.Topic()] = w.retained[m.Topic()] || m.Retained()
				w.mu.Unlock()
			}
			w.ch <- msg{topic: m.Topic(), payload: string(m.Payload()), retained: m.Retained()}
		})
		if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	return w
}

// publish publishes and waits.
func (w *watcher) publish(topic string, retained bool, payload string) {
	w.t.Helper()
	tok := w.client.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		w.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// clearRetained removes every retained message seen, plus extra topics.
func (w *watcher) clearRetained(extra ...string) {
	w.mu.Lock()
	topics := extra
	for tp, r := range w.retained {
		if r || strings.HasSuffix(tp, "/state") || strings.HasSuffix(tp, "/status") || strings.HasSuffix(tp, "/alarms") || strings.HasSuffix(tp, "/config") {
			topics = append(topics, tp)
		}
	}
	w.mu.Unlock()
	for _, tp := range topics {
		w.client.Publish(tp, 1, true, []byte{}).WaitTimeout(waitFor)
	}
}

// next returns the next message on topic for which ok holds, skipping others.
func (w *watcher) next(topic string, ok func(msg) bool) msg {
	w.t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-w.ch:
			if m.topic == topic && (ok == nil || ok(m)) {
				return m
			}
		case <-deadline:
			w.t.Fatalf("nothing matching on %s within %s", topic, waitFor)
			return msg{}
		}
	}
}

// mqttFixture runs an emsapi.MQTT over fakes against the real broker.
type mqttFixture struct {
	src    *emsapitest.Source
	ctrl   *emsapitest.Controller
	site   string
	topics emsapi.Topics
	w      *watcher
	m      *emsapi.MQTT
}

// uniqueSite keeps parallel runs on one broker apart.
func uniqueSite() string {
	return fmt.Sprintf("test%d", time.Now().UnixNano())
}

func newMQTTFixture(t *testing.T, broker string, mod func(*emsapi.MQTTOptions)) *mqttFixture {
	t.Helper()
	f := &mqttFixture{src: &emsapitest.Source{}, ctrl: &emsapitest.Controller{}, site: uniqueSite()}
	f.src.SetSite(emsapi.SiteState{Site: f.site, At: t0, Limits: []emsapi.Limit{{Source: "fuse", MaxCurrentMA: phases(250000, 250000, 250000)}}})
	// Like the control loop: an accepted limit shows in the site state.
	f.ctrl.OnLimit = func(l emsapi.Limit) {
		s := f.src.Site()
		s.Limits = append(s.Limits, l)
		f.src.SetSite(s)
	}
	o := emsapi.MQTTOptions{
		Options:       emsapi.Options{Source: f.src, Controller: f.ctrl, MaxTTL: time.Hour, Now: func() time.Time { return t0 }},
		Site:          f.site,
		Broker:        "tcp://" + broker,
		StateInterval: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	m, err := emsapi.NewMQTT(o)
	if err != nil {
		t.Fatalf("NewMQTT: %v", err)
	}
	f.m, f.topics = m, m.Topics()
	f.w = newWatcher(t, "tcp://"+svctest.MosquittoAddr(t), f.topics.Prefix+"/#")
	t.Cleanup(func() { f.w.clearRetained(f.topics.Status()) }) // runs after Run stopped and published offline
	return f
}

// start runs the service until the test ends and waits until it is online.
func (f *mqttFixture) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	})
	f.w.next(f.topics.Status(), func(m msg) bool { return m.payload == emsapi.StatusOnline })
}

func TestMQTTLimitIsAckedAndShownWithExpiry(t *testing.T) {
	broker := svctest.MosquittoAddr(t)
	f := newMQTTFixture(t, broker, nil)
	f.start(t)

	f.w.publish(f.topics.LimitSet(), false, `{"requestId":"r-1","maxPowerW":22000,"maxCurrentA":[32,32,16],"ttlS":300,"note":"tolerated"}`)

	reply := decode[emsapi.LimitReply](t, []byte(f.w.next(f.topics.LimitReply(), nil).payload))
	exp := t0.Add(300 * time.Second)
	wantLimit := emsapi.Limit{Source: "ems", MaxPowerW: i64(22000), MaxCurrentMA: phases(32000, 32000, 16000), ExpiresAt: &exp, RequestID: "r-1"}
	if diff := cmp.Diff(emsapi.LimitReply{RequestID: "r-1", OK: true, Effective: &wantLimit}, reply); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
	wantCalls := []emsapitest.LimitCall{{Req: emsapi.LimitRequest{RequestID: "r-1", MaxPowerW: i64(22000), MaxCurrentMA: phases(32000, 32000, 16000), TTL: 300 * time.Second}, Now: t0}}
	if diff := cmp.Diff(wantCalls, f.ctrl.Limits()); diff != "" {
		t.Errorf("controller calls (-want +got):\n%s", diff)
	}

	// The retained site state shows the EMS limit and when it expires.
	m := f.w.next(f.topics.State(), func(m msg) bool { return strings.Contains(m.payload, `"source":"ems"`) })
	if !strings.Contains(m.payload, `"expiresAt":"2026-11-24T10:05:00Z"`) {
		t.Errorf("state %s: want the EMS limit expiring at 10:05:00Z", m.payload)
	}
	st := decode[emsapi.SiteState](t, []byte(m.payload))
	if got := st.Limits[len(st.Limits)-1]; got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Errorf("state limit %+v, want expiresAt %s", got, exp)
	}
	// A new subscriber gets it as a retained message.
	late := newWatcher(t, "tcp://"+broker, f.topics.State())
	if m := late.next(f.topics.State(), nil); !m.retained || !strings.Contains(m.payload, "expiresAt") {
		t.Errorf("late subscriber got %+v, want the retained state with expiresAt", m)
	}
}

func TestMQTTMalformedCommandsAreRejected(t *testing.T) {
	f := newMQTTFixture(t, svctest.MosquittoAddr(t), nil)
	f.start(t)
	for i, tt := range []struct{ payload, wantErr, wantID string }{
		{`{"requestId":"bad-1",`, "bad JSON", ""},
		{`{"requestId":"bad-2","maxCurrentA":[16,16],"ttlS":60}`, "maxCurrentA has 2 values", "bad-2"},
		{`{"requestId":"bad-3","maxPowerW":-1,"ttlS":60}`, "maxPowerW -1", "bad-3"},
		{`{"requestId":"bad-4","maxPowerW":"1","ttlS":60}`, "field maxPowerW", "bad-4"},
		{`{"requestId":"bad-5","maxPowerW":1,"ttlS":0}`, "ttlS 0 not in 1..3600", "bad-5"},
		{`{"requestId":"bad-6","maxPowerW":1}`, "ttlS is required", "bad-6"},
		{`{"requestId":"bad-7","maxPowerW":1,"ttlS":86400}`, "ttlS 86400 not in 1..3600", "bad-7"},
	} {
		f.w.publish(f.topics.LimitSet(), false, tt.payload)
		got := decode[emsapi.LimitReply](t, []byte(f.w.next(f.topics.LimitReply(), nil).payload))
		if got.OK || got.Effective != nil || got.RequestID != tt.wantID || !strings.Contains(got.Error, tt.wantErr) {
			t.Errorf("case %d %s: reply %+v, want an error containing %q for %q", i, tt.payload, got, tt.wantErr, tt.wantID)
		}
	}
	// A controller that refuses: error reply, still nothing recorded.
	f.ctrl.SetLimitFn = func(context.Context, emsapi.LimitRequest, time.Time) (emsapi.Limit, error) {
		return emsapi.Limit{}, fmt.Errorf("fire alarm latched: %w", emsapi.ErrConflict)
	}
	f.w.publish(f.topics.LimitSet(), false, `{"requestId":"r-9","maxPowerW":1,"ttlS":60}`)
	if got := decode[emsapi.LimitReply](t, []byte(f.w.next(f.topics.LimitReply(), nil).payload)); got.OK || !strings.Contains(got.Error, "fire alarm latched") || got.RequestID != "r-9" {
		t.Errorf("refused: reply %+v", got)
	}
	if calls := f.ctrl.Limits(); len(calls) != 0 {
		t.Errorf("controller changed by rejected commands: %+v", calls)
	}
}

func TestMQTTRetainedCommandIsRejected(t *testing.T) {
	f := newMQTTFixture(t, svctest.MosquittoAddr(t), nil)
	// Left on the broker before the edge subscribes: delivered with retain=1.
	f.w.publish(f.topics.LimitSet(), true, `{"requestId":"stale","maxPowerW":0,"ttlS":60}`)
	t.Cleanup(func() { f.w.clearRetained(f.topics.LimitSet()) })
	f.start(t)

	got := decode[emsapi.LimitReply](t, []byte(f.w.next(f.topics.LimitReply(), nil).payload))
	if got.OK || got.RequestID != "stale" || !strings.Contains(got.Error, "retained") {
		t.Errorf("reply %+v, want an error about the retained command", got)
	}
	if calls := f.ctrl.Limits(); len(calls) != 0 {
		t.Errorf("controller applied a retained command: %+v", calls)
	}
	// The empty message that clears it is no command and gets no reply;
	// the next real command is answered.
	f.w.publish(f.topics.LimitSet(), true, "")
	f.w.publish(f.topics.LimitSet(), false, `{"requestId":"fresh","maxPowerW":5000,"ttlS":60}`)
	if got := decode[emsapi.LimitReply](t, []byte(f.w.next(f.topics.LimitReply(), nil).payload)); got.RequestID != "fresh" || !got.OK {
		t.Errorf("reply %+v, want fresh accepted (and no reply to the empty message)", got)
	}
}

func TestMQTTPointStatePublishedWhenChanged(t *testing.T) {
	f := newMQTTFixture(t, svctest.MosquittoAddr(t), nil)
	a := emsapi.PointState{ID: "cp-a", At: t0, State: "C", CurrentMA: [3]int64{16000, 16000, 16000}, SetpointMA: 16000, PowerW: 11000}
	b := emsapi.PointState{ID: "cp/b+", At: t0, State: "B", SetpointMA: 6000} // unsafe topic characters
	f.src.SetPoints(a, b)
	f.src.SetAlarms(emsapi.Alarm{ID: "fire", Kind: "fire", Message: "loop open", Since: t0, Active: true, Latched: true})
	f.start(t)

	if got := decode[emsapi.PointState](t, []byte(f.w.next(f.topics.Point("cp-a"), nil).payload)); !cmp.Equal(a, got) {
		t.Errorf("cp-a: %s", cmp.Diff(a, got))
	}
	if tp := f.topics.Point("cp/b+"); tp != f.topics.Prefix+"/point/cp_b_/state" {
		t.Errorf("topic for cp/b+ is %s", tp)
	}
	f.w.next(f.topics.Point("cp/b+"), nil)
	if al := decode[emsapi.AlarmList](t, []byte(f.w.next(f.topics.Alarms(), nil).payload)); len(al.Alarms) != 1 || !al.Alarms[0].Latched {
		t.Errorf("alarms %+v", al)
	}

	// Only a's timestamp moves, b's power changes: in the tick that sees
	// both, a (listed first) would be published before b if at all.
	a.At, b.PowerW = t0.Add(time.Second), 4200
	f.src.SetPoints(a, b)
	deadline := time.After(waitFor)
	for done := false; !done; {
		select {
		case m := <-f.w.ch:
			switch m.topic {
			case f.topics.Point("cp-a"):
				t.Fatalf("cp-a republished though only its timestamp changed: %s", m.payload)
			case f.topics.Point("cp/b+"):
				done = decode[emsapi.PointState](t, []byte(m.payload)).PowerW == 4200
			case f.topics.Alarms():
				t.Fatalf("alarms republished though unchanged: %s", m.payload)
			}
		case <-deadline:
			t.Fatal("cp/b+ change not published")
		}
	}
}

func TestMQTTHomeAssistantDiscovery(t *testing.T) {
	broker := svctest.MosquittoAddr(t)
	prefix := fmt.Sprintf("hatest%d", time.Now().UnixNano())
	f := newMQTTFixture(t, broker, func(o *emsapi.MQTTOptions) { o.HomeAssistant, o.DiscoveryPrefix = true, prefix })
	ha := newWatcher(t, "tcp://"+broker, prefix+"/#")
	t.Cleanup(func() { ha.clearRetained() })
	f.src.SetPoints(emsapi.PointState{ID: "cp-01", At: t0, State: "A"})
	f.start(t)

	topic := prefix + "/sensor/" + f.site + "_cp-01/power/config"
	m := ha.next(topic, nil)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(m.payload), &cfg); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"state_topic": f.topics.Point("cp-01"), "availability_topic": f.topics.Status(),
		"unit_of_measurement": "W", "device_class": "power", "value_template": "{{ value_json.powerW }}",
	} {
		if cfg[k] != want {
			t.Errorf("%s: %s = %v, want %v", topic, k, cfg[k], want)
		}
	}
	ha.next(prefix+"/sensor/"+f.site+"_cp-01/energy/config", nil)
}

// proxy forwards TCP to the broker and can cut every connection, as a
// network failure would, so the broker publishes the LWT.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex // protects conns
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(u, c); u.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestMQTTLastWillAndReconnect(t *testing.T) {
	broker := svctest.MosquittoAddr(t)
	p := newProxy(t, broker)
	f := newMQTTFixture(t, broker, func(o *emsapi.MQTTOptions) { o.Broker = "tcp://" + p.ln.Addr().String() })
	f.start(t)

	p.cut() // the broker sees the edge vanish and publishes its will
	f.w.next(f.topics.Status(), func(m msg) bool { return m.payload == emsapi.StatusOffline })
	// paho reconnects through the proxy; the edge is back and subscribed.
	f.w.next(f.topics.Status(), func(m msg) bool { return m.payload == emsapi.StatusOnline })
	deadline := time.Now().Add(waitFor)
	for {
		f.w.publish(f.topics.LimitSet(), false, `{"requestId":"after-reconnect","maxPowerW":1000,"ttlS":10}`)
		select {
		case m := <-f.w.ch:
			if m.topic == f.topics.LimitReply() && strings.Contains(m.payload, `"after-reconnect","ok":true`) {
				return
			}
		case <-time.After(200 * time.Millisecond): // resubscription may lag the online status
		}
		if time.Now().After(deadline) {
			t.Fatal("no reply after reconnect")
		}
	}
}

func TestMQTTStopPublishesOffline(t *testing.T) {
	broker := svctest.MosquittoAddr(t)
	f := newMQTTFixture(t, broker, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.m.Run(ctx) }()
	f.w.next(f.topics.Status(), func(m msg) bool { return m.payload == emsapi.StatusOnline })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	late := newWatcher(t, "tcp://"+broker, f.topics.Status())
	if m := late.next(f.topics.Status(), nil); m.payload != emsapi.StatusOffline || !m.retained {
		t.Errorf("status after stop: %+v, want retained offline", m)
	}
}

func TestMQTTRunWithoutBrokerStopsCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port nobody answers MQTT on
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	before := runtime.NumGoroutine()
	m, err := emsapi.NewMQTT(emsapi.MQTTOptions{
		Options: emsapi.Options{Source: &emsapitest.Source{}, Controller: &emsapitest.Controller{}},
		Site:    "nobroker", Broker: "tcp://" + addr, StateInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := m.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: %v", err)
	}
	t.Logf("Run stopped %s after the deadline", time.Since(start)-300*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run took %s to stop without a broker", took)
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails unless the goroutine count drops back to n. Exiting
// goroutines give no signal to wait on, so this polls.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewMQTTChecksOptions(t *testing.T) {
	base := emsapi.Options{Source: &emsapitest.Source{}, Controller: &emsapitest.Controller{}}
	for name, o := range map[string]emsapi.MQTTOptions{
		"no site":       {Options: base, Broker: "tcp://x:1883"},
		"site with /":   {Options: base, Site: "a/b", Broker: "tcp://x:1883"},
		"site with #":   {Options: base, Site: "a#", Broker: "tcp://x:1883"},
		"no broker":     {Options: base, Site: "s"},
		"wild prefix":   {Options: base, Site: "s", Broker: "tcp://x:1883", TopicPrefix: "a/+/b"},
		"no controller": {Options: emsapi.Options{Source: base.Source}, Site: "s", Broker: "tcp://x:1883"},
	} {
		if _, err := emsapi.NewMQTT(o); err == nil {
			t.Errorf("%s: NewMQTT accepted it", name)
		}
	}
	m, err := emsapi.NewMQTT(emsapi.MQTTOptions{Options: base, Site: "garage-north", Broker: "tcp://x:1883"})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Topics().LimitSet(); got != "parkgrid/v1/garage-north/ems/limit/set" {
		t.Errorf("LimitSet topic %s", got)
	}
}
