package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// uniqueSite gives the edge a site id of its own, so tests sharing a broker
// use their own topics and client ids.
func uniqueSite(t *testing.T, c *config.Site) {
	c.ID = fmt.Sprintf("t%d-%s", time.Now().UnixNano(), strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-"))
	if len(c.ID) > 60 {
		c.ID = c.ID[:60]
	}
	if c.EMS.MQTT != nil {
		c.EMS.MQTT.TopicPrefix = "parkgrid/v1/" + c.ID + "/ems"
	}
}

// mqttClient connects a test client to broker (tcp://host:port).
func mqttClient(t *testing.T, broker, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func subscribe(t *testing.T, c paho.Client, topic string, n int) <-chan []byte {
	t.Helper()
	ch := make(chan []byte, n)
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case ch <- append([]byte(nil), m.Payload()...):
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return ch
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func nextReply(t *testing.T, ch <-chan []byte, within time.Duration) emsapi.LimitReply {
	t.Helper()
	select {
	case b := <-ch:
		var r emsapi.LimitReply
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("reply %s: %v", b, err)
		}
		return r
	case <-time.After(within):
		t.Fatalf("no limit reply within %s", within)
	}
	return emsapi.LimitReply{}
}

// setpointSum adds up what the simulator's chargers offer (A): holding 528
// while enabled. (A paused Phoenix controller is disabled and keeps its 528
// value: the EV-ETH map has no 0 A setting.)
func setpointSum(st sim.State) int {
	n := 0
	for _, p := range st.Points {
		n += p.OfferedA
	}
	return n
}

// TestEdgeEMSLimitOverMQTT: a limit sent over MQTT is acked with the
// effective limit, cuts the chargers, and expires after its TTL, after
// which the cars charge again. A malformed command gets an error reply and
// changes nothing.
func TestEdgeEMSLimitOverMQTT(t *testing.T) {
	broker := "tcp://" + svctest.MosquittoAddr(t)
	s := simSmall(t)
	plugCars(t, s)
	r := startEdgeWith(t, s, func(c *config.Site) {
		c.Control.RaiseEvery, c.Control.MinOn, c.Control.MinOff = 0, 0, 0
		uniqueSite(t, c)
	}, func(o *Options) { o.EMSBroker = broker })
	r.untilStep("cars charging", 15*time.Second, charging(cars...))
	before := setpointSum(s.State())

	topics := emsapi.Topics{Prefix: "parkgrid/v1/" + r.d.site.ID + "/ems"}
	c := mqttClient(t, broker, "test-ems-"+r.d.site.ID)
	replies := subscribe(t, c, topics.LimitReply(), 10)
	status := subscribe(t, c, topics.Status(), 10)
	select {
	case b := <-status:
		if string(b) != emsapi.StatusOnline {
			t.Fatalf("status %q", b)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("edge not online on the EMS broker")
	}

	// Malformed: two phases only. Error reply, nothing changes.
	publish(t, c, topics.LimitSet(), `{"requestId":"bad-1","maxCurrentA":[10,10],"ttlS":30}`)
	rep := nextReply(t, replies, 10*time.Second)
	if rep.OK || rep.RequestID != "bad-1" || !strings.Contains(rep.Error, "maxCurrentA has 2 values") {
		t.Fatalf("malformed command: reply %+v", rep)
	}
	publish(t, c, topics.LimitSet(), `not json`)
	if rep := nextReply(t, replies, 10*time.Second); rep.OK || rep.Error == "" {
		t.Fatalf("non-JSON command: reply %+v", rep)
	}
	for range 3 {
		r.untilStep("a step", 5*time.Second, func(sim.State) bool { return true })
	}
	if st := r.d.Control().Status(); st.EMS != nil {
		t.Fatalf("a malformed command put a limit in force: %+v", st.EMS)
	}
	if !charging(cars...)(s.State()) {
		t.Fatalf("a malformed command changed the chargers: %+v", s.State().Points)
	}

	// 10 A per phase for 4 s: the cars are cut to fit.
	const ttl = 4 * time.Second
	sent := time.Now()
	publish(t, c, topics.LimitSet(), `{"requestId":"r-1","maxCurrentA":[10,10,10],"ttlS":4}`)
	rep = nextReply(t, replies, 10*time.Second)
	if !rep.OK || rep.RequestID != "r-1" || rep.Effective == nil || rep.Effective.MaxCurrentMA == nil {
		t.Fatalf("limit reply %+v", rep)
	}
	for ph, ma := range *rep.Effective.MaxCurrentMA {
		if ma > 10_000 {
			t.Errorf("effective limit L%d %d mA, above the 10 A asked for", ph+1, ma)
		}
	}
	if rep.Effective.ExpiresAt == nil || rep.Effective.ExpiresAt.Before(sent.Add(ttl-time.Second)) {
		t.Errorf("effective limit expires %v, want about %s after %s", rep.Effective.ExpiresAt, ttl, sent)
	}
	st := r.untilStep("chargers cut to the EMS limit", ttl, func(st sim.State) bool { return setpointSum(st) <= 30 })
	t.Logf("setpoints %d A before, %d A under the EMS limit", before, setpointSum(st))
	if e := r.d.Control().Status().EMS; e == nil || e.RequestID != "r-1" {
		t.Errorf("control's EMS limit %+v", e)
	}
	for _, nl := range r.d.Control().Status().Limits {
		for ph, load := range nl.Load {
			if nl.Node == r.d.site.Grid.ID && load > 10_000 {
				t.Errorf("planned grid load L%d %d mA above the EMS limit", ph+1, load)
			}
		}
	}

	// It expires: the cars charge again.
	r.untilStep("charging after the limit expired", ttl+15*time.Second, charging(cars...))
	if time.Since(sent) < ttl {
		t.Errorf("charging resumed %s after the limit, before its TTL of %s", time.Since(sent), ttl)
	}
	if e := r.d.Control().Status().EMS; e != nil {
		t.Errorf("EMS limit still in force after its TTL: %+v", e)
	}
}

// TestEdgeRESTAlarmReset trips the fire loop and resets it through the real
// router on a real port: refused (409) while the loop is open, accepted
// once it is closed. /metrics is served beside the API.
func TestEdgeRESTAlarmReset(t *testing.T) {
	s := simSmall(t)
	plugCars(t, s)
	r := startEdgeWith(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 }, func(o *Options) { o.RESTListen = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := r.d.RESTAddr(ctx)
	if err != nil || addr == "" {
		t.Fatalf("REST address %q: %v", addr, err)
	}
	base := "http://" + addr
	r.untilStep("cars charging", 15*time.Second, charging(cars...))

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	alarms := func() emsapi.AlarmList {
		t.Helper()
		code, body := do("GET", "/api/v1/alarms", "")
		var l emsapi.AlarmList
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
			t.Fatalf("GET alarms: %d %s", code, body)
		}
		return l
	}

	if code, body := do("POST", "/api/v1/alarms/reset", `{"who":"op","why":"nothing to reset"}`); code != http.StatusConflict {
		t.Errorf("reset without a latch: %d %s, want 409", code, body)
	}

	if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultFireLoopOpen}); err != nil {
		t.Fatal(err)
	}
	r.untilSafety(safety.EventCutDone, 15*time.Second) // a liveness deadline; the speed is a benchmark
	l := alarms()
	if len(l.Alarms) == 0 || l.Alarms[0].ID != "fire" || !l.Alarms[0].Latched || !l.Alarms[0].Active || l.Alarms[0].Kind != string(safety.CauseFireLoop) {
		t.Fatalf("alarms with the loop open: %+v", l)
	}
	if code, body := do("POST", "/api/v1/alarms/reset", `{"who":"op","why":"try"}`); code != http.StatusConflict || !strings.Contains(body, "alarm still present") {
		t.Errorf("reset with the loop open: %d %s, want 409", code, body)
	}
	if code, body := do("POST", "/api/v1/alarms/reset", `{"who":"op"}`); code != http.StatusBadRequest {
		t.Errorf("reset without why: %d %s, want 400", code, body)
	}
	if code, body := do("GET", "/api/v1/site", ""); code != 200 || !strings.Contains(body, `"alarmLatched":true`) {
		t.Errorf("GET site while latched: %d %s", code, body)
	}

	if err := s.InjectFault(sim.Fault{Device: "di", Kind: sim.FaultClear}); err != nil {
		t.Fatal(err)
	}
	r.untilStep("loop closed", 5*time.Second, func(sim.State) bool {
		c, _ := r.d.Safety().Present(time.Now())
		return c == ""
	})
	if l := alarms(); len(l.Alarms) == 0 || l.Alarms[0].Active || !l.Alarms[0].Latched {
		t.Errorf("alarms with the loop closed, still latched: %+v", l)
	}
	if code, body := do("POST", "/api/v1/alarms/reset", `{"who":"op","why":"drill over"}`); code != http.StatusOK {
		t.Fatalf("reset with the loop closed: %d %s", code, body)
	}
	if st := r.d.Safety().Status(); st.Latched || st.LastReset == nil || st.LastReset.Who != "op" || st.LastReset.Why != "drill over" {
		t.Errorf("after the reset: %+v", st)
	}
	if l := alarms(); len(l.Alarms) != 0 {
		t.Errorf("alarms after the reset: %+v", l)
	}
	r.untilStep("charging after reset", 10*time.Second, charging(cars...))

	// A limit through REST, then the points and /metrics.
	code, body := do("POST", "/api/v1/limit", `{"requestId":"rest-1","maxPowerW":11000,"ttlS":60}`)
	if code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("POST limit: %d %s", code, body)
	}
	r.untilStep("the limit in the loop's status", 5*time.Second, func(sim.State) bool { return r.d.Control().Status().EMS != nil })
	if code, body := do("GET", "/api/v1/site", ""); code != 200 || !strings.Contains(body, `"requestId":"rest-1"`) {
		t.Errorf("GET site under an EMS limit: %d %s", code, body)
	}
	code, body = do("GET", "/api/v1/points/p01", "")
	var p emsapi.PointState
	if code != 200 || json.Unmarshal([]byte(body), &p) != nil || p.ID != "p01" || p.State == "" {
		t.Errorf("GET point p01: %d %s", code, body)
	}
	code, body = do("GET", "/metrics", "")
	for _, want := range []string{"parkgrid_edge_control_loop_duration_seconds_count", "parkgrid_edge_bus_requests_total"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics: %d, no %q", code, want)
		}
	}
	if code, body := do("GET", "/api/v1/config", ""); code != 200 || !strings.Contains(body, `"charge_points"`) {
		t.Errorf("GET config: %d %.200s", code, body)
	}
}
