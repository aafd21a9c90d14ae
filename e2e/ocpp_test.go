package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// csmsEvent is one line the strict CSMS (e2e/testdata/csms/csms.js)
// writes.
type csmsEvent struct {
	Ev          string          `json:"ev"`
	Identity    string          `json:"identity"`
	N           int             `json:"n"`
	Method      string          `json:"method"`
	Params      json.RawMessage `json:"params"`
	ID          int             `json:"id"`
	Result      json.RawMessage `json:"result"`
	Error       json.RawMessage `json:"error"`
	UID         string          `json:"uid"`
	Code        string          `json:"code"`
	Description string          `json:"description"`
	Port        int             `json:"port"`
	Raw         string          `json:"-"`
}

// csms runs the Node central system and talks to it over stdin/stdout.
type csms struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	port  int
	mu    sync.Mutex // protects the fields below
	evs   []csmsEvent
	next  int
	ch    chan struct{} // a new event (cap 1)
	errCh chan struct{}
}

// startCSMS starts csms.js with the points' passwords. Without node (or
// the npm packages `make csms` installs) it skips locally and fails with
// CI=true.
func startCSMS(t *testing.T, passwords map[string]string) *csms {
	t.Helper()
	node := svctest.Command(t, "node", "install Node.js (apt-get install nodejs npm), then `make csms`")
	dir := filepath.Join(svctest.RepoRoot(t), "e2e", "testdata", "csms")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ocpp-rpc")); err != nil {
		svctest.Missing(t, "npm package ocpp-rpc in e2e/testdata/csms/node_modules", "run `make csms` (npm ci)")
	}
	pw, _ := json.Marshal(passwords)
	cmd := exec.Command(node, "csms.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CSMS_PASSWORDS="+string(pw), "CSMS_HEARTBEAT=5")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &csms{t: t, cmd: cmd, in: in, ch: make(chan struct{}, 1), errCh: make(chan struct{})}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var ev csmsEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				continue
			}
			ev.Raw = sc.Text()
			c.mu.Lock()
			c.evs = append(c.evs, ev)
			c.mu.Unlock()
			select {
			case c.ch <- struct{}{}:
			default:
			}
		}
	}()
	ev := c.wait("listening", 20*time.Second, func(e csmsEvent) bool { return e.Ev == "listening" })
	c.port = ev.Port
	return c
}

// wait returns the first event (from the start) that matches, or fails.
func (c *csms) wait(what string, within time.Duration, match func(csmsEvent) bool) csmsEvent {
	c.t.Helper()
	deadline := time.After(within)
	for {
		for _, e := range c.events() {
			if match(e) {
				return e
			}
		}
		select {
		case <-c.ch:
		case <-deadline:
			c.t.Fatalf("CSMS: no %s within %s", what, within)
		}
	}
}

// events returns a copy of the events so far.
func (c *csms) events() []csmsEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]csmsEvent(nil), c.evs...)
}

// do sends a command and waits for its reply.
func (c *csms) do(cmd map[string]any) csmsEvent {
	c.t.Helper()
	c.mu.Lock()
	c.next++
	id := c.next
	c.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("CSMS command: %v", err)
	}
	return c.wait(fmt.Sprintf("reply to %s", b), 30*time.Second, func(e csmsEvent) bool { return e.Ev == "reply" && e.ID == id })
}

// call makes a strict OCPP call to the point and returns its result.
func (c *csms) call(identity, method string, params any) map[string]any {
	c.t.Helper()
	r := c.do(map[string]any{"cmd": "call", "identity": identity, "method": method, "params": params})
	if len(r.Error) > 0 {
		c.t.Fatalf("CSMS %s: error %s", method, r.Error)
	}
	var out map[string]any
	if err := json.Unmarshal(r.Result, &out); err != nil {
		c.t.Fatalf("CSMS %s result %s: %v", method, r.Result, err)
	}
	return out
}

// violations are the messages that failed the OCPP 1.6J schemas.
func (c *csms) violations() []string {
	var out []string
	for _, e := range c.events() {
		if e.Ev == "violation" {
			out = append(out, e.Raw)
		}
	}
	return out
}

// calls are the point's calls of one method, in order.
func (c *csms) calls(method string) []csmsEvent {
	var out []csmsEvent
	for _, e := range c.events() {
		if e.Ev == "call" && e.Method == method {
			out = append(out, e)
		}
	}
	return out
}

// queuedMeterTimes reads an OCPP point's state file ("<crc32c> <json>")
// and returns the first timestamp of each queued MeterValues.
func queuedMeterTimes(t *testing.T, file string) []time.Time {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(b), " ")
	if !ok {
		t.Fatalf("%s: no checksum", file)
	}
	var st struct {
		Queue []struct {
			Action  string          `json:"action"`
			Payload json.RawMessage `json:"payload"`
		} `json:"queue"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []time.Time
	for _, m := range st.Queue {
		var mv struct {
			MeterValue []meterValue `json:"meterValue"`
		}
		if m.Action != "MeterValues" || json.Unmarshal(m.Payload, &mv) != nil || len(mv.MeterValue) == 0 {
			continue
		}
		out = append(out, mv.MeterValue[0].Timestamp)
	}
	return out
}

// simPoint returns one point of the simulator.
func simPoint(t *testing.T, s *sim.Sim, name string) sim.PointState {
	t.Helper()
	for _, p := range s.State().Points {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("simulator has no point %s", name)
	return sim.PointState{}
}

// waitSim waits until cond holds for the point.
func waitSim(t *testing.T, s *sim.Sim, name, what string, within time.Duration, cond func(sim.PointState) bool) sim.PointState {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := simPoint(t, s, name)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("point %s: %s not reached within %s (setpoint %d A, offered %d A, state %s, enabled %v)", name, what, within, p.SetpointA, p.OfferedA, p.State, p.Enabled)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sampled is one sampledValue of a meter value.
type sampled struct {
	Value, Context, Format, Measurand, Phase, Unit string
}

type meterValue struct {
	Timestamp    time.Time `json:"timestamp"`
	SampledValue []sampled `json:"sampledValue"`
}

// TestE2EOCPPStrictCSMS runs a site's charge point under a strict OCPP-J
// 1.6 central system written outside Go (npm ocpp-rpc 2.2.1, strictMode:
// every message in both directions checked against the official OCPP 1.6J
// JSON schemas) with the simulator and the edge: boot, status, remote
// start, start transaction with the signed begin value, meter values, a
// 10 A charging profile that the simulated charger's setpoint follows, an
// outage of the CSMS during the session, remote stop with the signed end
// value, malformed calls that get the right CALLERROR, and a whole
// transaction made while the CSMS is down (its id mapped after the
// reconnect). Any schema violation fails the test.
//
// The outage is a compressed hour: MeterValueSampleInterval is 1 s
// standing for 1 min, and the CSMS is unreachable for 60 samples (60 s of
// wall time); every sample taken meanwhile must arrive after the
// reconnect, in order, none lost.
func TestE2EOCPPStrictCSMS(t *testing.T) {
	const (
		identity = "PG-E2E-P01"
		password = "e2e-secret-0123456789"
		point    = "p01"
	)
	outage := 60 * time.Second
	if testing.Short() {
		outage = 10 * time.Second
	}
	cs := startCSMS(t, map[string]string{identity: password})
	s := e2eSim(t, 1, 0)
	// Only the OCPP point's car draws: no rotation or scarcity among the
	// cars the simulator starts with decides when it gets current.
	for _, p := range s.State().Points {
		_ = s.UnplugCar(p.Name)
	}
	dir := e2eDir(t)

	raw, err := os.ReadFile(filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["site"], doc["gateway"], doc["data_dir"] = uniqueID("e2e-ocpp"), uniqueID("e2e-gw"), dir
	doc["buses"].([]any)[0].(map[string]any)["tcp"] = s.ModbusAddr(sim.MainListener)
	delete(doc, "ems")
	delete(doc, "influx")
	delete(doc, "uplink")
	// A DI read slowed by a loaded test machine (-race, 2 cores) must not
	// trip safety mid-test (as in loadmgmt_site_test.go).
	doc["safety"].(map[string]any)["offline_after"] = "5s"
	doc["ocpp"] = map[string]any{
		"url": fmt.Sprintf("ws://127.0.0.1:%d/ocpp", cs.port), "heartbeat": "5s", "meter_value_sample_interval": "1s",
		"reconnect_min": "100ms", "reconnect_max": "1s", "firmware": "e2e",
		"charge_points": []any{map[string]any{"id": point, "identity": identity, "serial": "E2E-1", "password": password}},
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	sitePath := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(sitePath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(sitePath)
	if err != nil {
		t.Fatalf("site file: %v", err)
	}
	logf, err := os.Create(filepath.Join(dir, "edge.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d, err := edge.New(cfg, edge.Options{Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug})), RESTListen: edge.Off})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-runDone:
		case <-time.After(20 * time.Second):
			t.Error("edge did not stop within 20 s")
		}
		if t.Failed() {
			showLogTail(t, filepath.Join(dir, "edge.log"))
		}
	})
	defer func() {
		if v := cs.violations(); len(v) > 0 {
			t.Errorf("%d messages failed the OCPP 1.6J schemas:\n%s", len(v), strings.Join(v, "\n"))
		}
	}()

	// Boot and status.
	cs.wait("connection", 30*time.Second, func(e csmsEvent) bool { return e.Ev == "connect" && e.Identity == identity })
	boot := cs.wait("BootNotification", 10*time.Second, func(e csmsEvent) bool { return e.Method == "BootNotification" })
	if !strings.Contains(string(boot.Params), `"chargePointSerialNumber":"E2E-1"`) {
		t.Errorf("BootNotification %s: want the configured serial", boot.Params)
	}
	statusIs := func(status string) func(csmsEvent) bool {
		return func(e csmsEvent) bool {
			var p struct {
				ConnectorID int    `json:"connectorId"`
				Status      string `json:"status"`
			}
			_ = json.Unmarshal(e.Params, &p)
			return e.Method == "StatusNotification" && p.ConnectorID == 1 && p.Status == status
		}
	}
	cs.wait("status Available", 20*time.Second, statusIs("Available"))

	// A car plugs in: Preparing, and no current until the CSMS authorises.
	if err := s.PlugCar(point, sim.Car{Phases: 3, MaxA: 32, SocPct: 10, BatteryWh: 200000}); err != nil {
		t.Fatal(err)
	}
	cs.wait("status Preparing", 20*time.Second, statusIs("Preparing"))
	time.Sleep(3 * time.Second) // several control steps: the gate must hold
	if p := simPoint(t, s, point); p.OfferedA != 0 && p.Enabled {
		t.Fatalf("point %s offers %d A before any authorisation", point, p.OfferedA)
	}

	// Remote start → StartTransaction → signed begin value → meter values.
	if r := cs.call(identity, "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-E2E-1"}); r["status"] != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %v", r)
	}
	start := cs.wait("StartTransaction", 30*time.Second, func(e csmsEvent) bool { return e.Method == "StartTransaction" })
	var startReq struct {
		MeterStart int64  `json:"meterStart"`
		IDTag      string `json:"idTag"`
	}
	_ = json.Unmarshal(start.Params, &startReq)
	txID := 1001 // the CSMS counts from 1001
	cs.wait("status Charging", 60*time.Second, statusIs("Charging"))
	beginSigned := cs.wait("signed begin value", 30*time.Second, func(e csmsEvent) bool {
		return e.Method == "MeterValues" && strings.Contains(string(e.Params), `"Transaction.Begin"`) && strings.Contains(string(e.Params), `"SignedData"`)
	})
	if !strings.Contains(string(beginSigned.Params), `OCMF|`) || !strings.Contains(string(beginSigned.Params), fmt.Sprintf(`"transactionId":%d`, txID)) {
		t.Errorf("begin value %s: want an OCMF record for transaction %d", beginSigned.Params, txID)
	}
	waitSim(t, s, point, "setpoint above 10 A", 60*time.Second, func(p sim.PointState) bool { return p.SetpointA > 10 && p.Enabled })
	periodic := cs.wait("periodic meter values", 30*time.Second, func(e csmsEvent) bool {
		return e.Method == "MeterValues" && strings.Contains(string(e.Params), `"Sample.Periodic"`) && strings.Contains(string(e.Params), `"Current.Import"`)
	})
	for _, want := range []string{`"Energy.Active.Import.Register"`, `"Power.Active.Import"`, `"phase":"L1"`, `"phase":"L3"`} {
		if !strings.Contains(string(periodic.Params), want) {
			t.Errorf("periodic meter values %s lack %s", periodic.Params, want)
		}
	}

	// A 10 A TxProfile: the simulated charger's setpoint follows.
	prof := map[string]any{"connectorId": 1, "csChargingProfiles": map[string]any{
		"chargingProfileId": 7, "transactionId": txID, "stackLevel": 1, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
		"chargingSchedule": map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 10.0}}},
	}}
	if r := cs.call(identity, "SetChargingProfile", prof); r["status"] != "Accepted" {
		t.Fatalf("SetChargingProfile: %v", r)
	}
	waitSim(t, s, point, "setpoint ≤ 10 A", 30*time.Second, func(p sim.PointState) bool { return p.SetpointA <= 10 && p.SetpointA >= 6 })
	comp := cs.call(identity, "GetCompositeSchedule", map[string]any{"connectorId": 1, "duration": 600, "chargingRateUnit": "A"})
	if b, _ := json.Marshal(comp); comp["status"] != "Accepted" || !strings.Contains(string(b), `"limit":10`) {
		t.Errorf("GetCompositeSchedule: %s, want Accepted with a 10 A period", b)
	}

	// A 0 A profile on top: no current, the connector reports
	// SuspendedEVSE; clearing it lifts the limit again.
	zero := map[string]any{"connectorId": 1, "csChargingProfiles": map[string]any{
		"chargingProfileId": 8, "transactionId": txID, "stackLevel": 2, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
		"chargingSchedule": map[string]any{"chargingRateUnit": "W", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 0.0}}},
	}}
	if r := cs.call(identity, "SetChargingProfile", zero); r["status"] != "Accepted" {
		t.Fatalf("SetChargingProfile 0 W: %v", r)
	}
	waitSim(t, s, point, "no current under a 0 W profile", 30*time.Second, func(p sim.PointState) bool { return p.SetpointA == 0 || !p.Enabled })
	cs.wait("status SuspendedEVSE", 20*time.Second, statusIs("SuspendedEVSE"))
	if r := cs.call(identity, "ClearChargingProfile", map[string]any{"id": 8}); r["status"] != "Accepted" {
		t.Fatalf("ClearChargingProfile: %v", r)
	}

	// The CSMS becomes unreachable during the session.
	before := len(cs.calls("MeterValues"))
	cs.do(map[string]any{"cmd": "down"})
	cs.wait("disconnect", 20*time.Second, func(e csmsEvent) bool { return e.Ev == "disconnect" })
	downAt := time.Now()
	time.Sleep(outage)
	// What the point queued on disk while the CSMS was down (its state
	// file, written atomically): all of it must arrive, in order.
	queued := queuedMeterTimes(t, filepath.Join(dir, "ocpp", point+".json"))
	upAt := time.Now()
	cs.do(map[string]any{"cmd": "up"})
	if len(queued) < int(outage/time.Second)/2 {
		t.Fatalf("only %d meter values queued during a %s outage at a 1 s sample interval", len(queued), outage)
	}
	lastQueued := queued[len(queued)-1]
	cs.wait("the queued meter values", 60*time.Second, func(e csmsEvent) bool {
		var mv struct {
			MeterValue []meterValue `json:"meterValue"`
		}
		_ = json.Unmarshal(e.Params, &mv)
		return e.Method == "MeterValues" && len(mv.MeterValue) > 0 && !mv.MeterValue[0].Timestamp.Before(lastQueued)
	})
	var stamps []time.Time
	var lastN int
	for _, e := range cs.calls("MeterValues")[before:] {
		var mv struct {
			TransactionID int          `json:"transactionId"`
			MeterValue    []meterValue `json:"meterValue"`
		}
		if err := json.Unmarshal(e.Params, &mv); err != nil {
			t.Fatal(err)
		}
		if mv.TransactionID != txID {
			t.Errorf("meter values %s: transactionId %d, want %d", e.Params, mv.TransactionID, txID)
		}
		if e.N <= lastN {
			t.Errorf("meter values out of order at call %d", e.N)
		}
		lastN = e.N
		for _, m := range mv.MeterValue {
			stamps = append(stamps, m.Timestamp)
		}
	}
	for i := 1; i < len(stamps); i++ {
		if !stamps[i].After(stamps[i-1]) {
			t.Errorf("meter value %d at %s is not after %s: order lost", i, stamps[i], stamps[i-1])
		}
	}
	at := slices.IndexFunc(stamps, func(ts time.Time) bool { return ts.Equal(queued[0]) })
	if at < 0 || len(stamps) < at+len(queued) {
		t.Fatalf("the CSMS got %d meter values; the %d queued while it was down are not all among them", len(stamps), len(queued))
	}
	for i, ts := range queued {
		if !stamps[at+i].Equal(ts) {
			t.Fatalf("queued meter value %d (%s) arrived as %s: lost or out of order", i, ts, stamps[at+i])
		}
	}
	t.Logf("outage %s: all %d meter values queued while the CSMS was down arrived after the reconnect, in order",
		upAt.Sub(downAt).Round(time.Second), len(queued))

	// Remote stop → StopTransaction with the signed end value.
	if r := cs.call(identity, "RemoteStopTransaction", map[string]any{"transactionId": txID}); r["status"] != "Accepted" {
		t.Fatalf("RemoteStopTransaction: %v", r)
	}
	stop := cs.wait("StopTransaction", 30*time.Second, func(e csmsEvent) bool { return e.Method == "StopTransaction" })
	var stopReq struct {
		MeterStop       int64        `json:"meterStop"`
		TransactionID   int          `json:"transactionId"`
		Reason          string       `json:"reason"`
		TransactionData []meterValue `json:"transactionData"`
	}
	_ = json.Unmarshal(stop.Params, &stopReq)
	if stopReq.TransactionID != txID || stopReq.Reason != "Remote" || stopReq.MeterStop < startReq.MeterStart {
		t.Errorf("StopTransaction %s: want transaction %d, reason Remote, meterStop ≥ meterStart %d", stop.Params, txID, startReq.MeterStart)
	}
	if !strings.Contains(string(stop.Params), `"Transaction.End"`) || !strings.Contains(string(stop.Params), `"SignedData"`) || !strings.Contains(string(stop.Params), "OCMF|") {
		t.Errorf("StopTransaction %s: want the signed end value (OCMF, SignedData, Transaction.End)", stop.Params)
	}
	if stopReq.MeterStop <= startReq.MeterStart {
		t.Errorf("meterStop %d ≤ meterStart %d after minutes of charging", stopReq.MeterStop, startReq.MeterStart)
	}
	waitSim(t, s, point, "no current after the stop", 30*time.Second, func(p sim.PointState) bool { return p.SetpointA == 0 || !p.Enabled })
	// Finishing: the car is still plugged in.
	cs.wait("status Finishing", 20*time.Second, statusIs("Finishing"))
	if len(cs.calls("Heartbeat")) == 0 {
		t.Error("no Heartbeat at the CSMS's 5 s interval")
	}

	// Core requests answer with real values.
	conf := cs.call(identity, "GetConfiguration", map[string]any{"key": []string{"MeterValueSampleInterval", "NoSuchKey"}})
	if b, _ := json.Marshal(conf); !strings.Contains(string(b), `"value":"1"`) || !strings.Contains(string(b), `"unknownKey":["NoSuchKey"]`) {
		t.Errorf("GetConfiguration: %s", b)
	}
	if r := cs.call(identity, "ChangeConfiguration", map[string]any{"key": "NoSuchKey", "value": "1"}); r["status"] != "NotSupported" {
		t.Errorf("ChangeConfiguration of an unknown key: %v", r)
	}
	if r := cs.call(identity, "ChangeConfiguration", map[string]any{"key": "NumberOfConnectors", "value": "2"}); r["status"] != "Rejected" {
		t.Errorf("ChangeConfiguration of a read-only key: %v", r)
	}
	if r := cs.call(identity, "UnlockConnector", map[string]any{"connectorId": 1}); r["status"] != "NotSupported" {
		t.Errorf("UnlockConnector on a fixed cable: %v", r)
	}
	if r := cs.call(identity, "DataTransfer", map[string]any{"vendorId": "com.example"}); r["status"] != "UnknownVendorId" {
		t.Errorf("DataTransfer: %v", r)
	}
	n := len(cs.calls("StatusNotification"))
	if r := cs.call(identity, "TriggerMessage", map[string]any{"requestedMessage": "StatusNotification", "connectorId": 1}); r["status"] != "Accepted" {
		t.Errorf("TriggerMessage: %v", r)
	}
	cs.wait("triggered StatusNotification", 10*time.Second, func(csmsEvent) bool { return len(cs.calls("StatusNotification")) > n })

	// Malformed and schema-violating calls get the right CALLERROR.
	for _, tc := range []struct{ msg, uid, want string }{
		{`[2,"bad-missing","RemoteStartTransaction",{"connectorId":1}]`, "bad-missing", "OccurrenceConstraintViolation"},
		{`[2,"bad-action","BrewCoffee",{}]`, "bad-action", "NotImplemented"},
		{`[2,"bad-enum","ChangeAvailability",{"connectorId":1,"type":"Sideways"}]`, "bad-enum", "PropertyConstraintViolation"},
		{`[2,"bad-type","GetCompositeSchedule",{"connectorId":"one","duration":60}]`, "bad-type", "FormationViolation"},
		{`[2,"bad-unsupported","ReserveNow",{"connectorId":1,"expiryDate":"2030-01-01T00:00:00Z","idTag":"X","reservationId":1}]`, "bad-unsupported", "NotSupported"},
	} {
		cs.do(map[string]any{"cmd": "raw", "identity": identity, "message": tc.msg})
		e := cs.wait("CALLERROR for "+tc.uid, 10*time.Second, func(e csmsEvent) bool { return e.Ev == "callerror" && e.UID == tc.uid })
		if e.Code != tc.want {
			t.Errorf("%s: CALLERROR %s (%s), want %s", tc.msg, e.Code, e.Description, tc.want)
		}
	}
	cs.do(map[string]any{"cmd": "raw", "identity": identity, "message": `{not json`})
	if r := cs.call(identity, "GetConfiguration", map[string]any{"key": []string{"NumberOfConnectors"}}); r["configurationKey"] == nil {
		t.Errorf("after bad input the point no longer answers: %v", r)
	}
	for _, e := range cs.events() {
		if e.Ev == "callerror" && !strings.HasPrefix(e.UID, "bad-") {
			t.Errorf("the point answered a valid call with a CALLERROR: %s", e.Raw)
		}
	}
	offlineSession(t, cs, s, dir, identity, point)
	t.Logf("CSMS saw %d calls from the point; %d StartTransaction, %d MeterValues, %d StopTransaction; meterStart %d Wh, meterStop %d Wh",
		len(cs.events()), len(cs.calls("StartTransaction")), len(cs.calls("MeterValues")), len(cs.calls("StopTransaction")), startReq.MeterStart, stopReq.MeterStop)
}

// offlineSession: the CSMS authorises a start, then becomes unreachable;
// the car plugs in, charges and leaves while it is down. The whole
// transaction waits on disk and arrives in order after the reconnect:
// StartTransaction, then its meter values and StopTransaction carrying
// the transaction id the CSMS assigned meanwhile.
func offlineSession(t *testing.T, cs *csms, s *sim.Sim, dir, identity, point string) {
	t.Helper()
	if err := s.UnplugCar(point); err != nil {
		t.Fatal(err)
	}
	waitSim(t, s, point, "state A", 20*time.Second, func(p sim.PointState) bool { return p.State == "A" })
	if r := cs.call(identity, "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-E2E-2"}); r["status"] != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %v", r)
	}
	starts, stops := len(cs.calls("StartTransaction")), len(cs.calls("StopTransaction"))
	disconnects := 0
	for _, e := range cs.events() {
		if e.Ev == "disconnect" {
			disconnects++
		}
	}
	cs.do(map[string]any{"cmd": "down"})
	cs.wait("disconnect", 20*time.Second, func(csmsEvent) bool {
		n := 0
		for _, e := range cs.events() {
			if e.Ev == "disconnect" {
				n++
			}
		}
		return n > disconnects
	})
	if err := s.PlugCar(point, sim.Car{Phases: 3, MaxA: 16, SocPct: 10, BatteryWh: 200000}); err != nil {
		t.Fatal(err)
	}
	// The transaction starts offline (current may come only after the
	// charger's minimum off time since the last session: not waited for).
	file := filepath.Join(dir, "ocpp", point+".json")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(readFile(t, file), `"action":"StartTransaction"`) {
		if time.Now().After(deadline) {
			t.Fatal("no StartTransaction queued while the CSMS is down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // periodic samples queue up
	if err := s.UnplugCar(point); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(readFile(t, file), `"action":"StopTransaction"`) {
		if time.Now().After(deadline) {
			t.Fatal("no StopTransaction queued after the car left")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cs.do(map[string]any{"cmd": "up"})
	cs.wait("the offline StopTransaction", 60*time.Second, func(csmsEvent) bool { return len(cs.calls("StopTransaction")) > stops })
	stop := cs.calls("StopTransaction")[stops]
	if got := cs.calls("StartTransaction"); len(got) != starts+1 {
		t.Fatalf("%d StartTransaction after the offline session, want %d", len(got), starts+1)
	}
	start := cs.calls("StartTransaction")[starts]
	const txID = 1002 // the CSMS's second id
	var st struct {
		TransactionID int    `json:"transactionId"`
		Reason        string `json:"reason"`
		MeterStop     int64  `json:"meterStop"`
	}
	_ = json.Unmarshal(stop.Params, &st)
	if st.TransactionID != txID || st.Reason != "EVDisconnected" {
		t.Errorf("offline StopTransaction %s: want transactionId %d (assigned after the reconnect), reason EVDisconnected", stop.Params, txID)
	}
	var mvs int
	for _, e := range cs.calls("MeterValues") {
		if e.N > start.N && e.N < stop.N {
			if !strings.Contains(string(e.Params), fmt.Sprintf(`"transactionId":%d`, txID)) {
				t.Errorf("meter values of the offline transaction without its id: %s", e.Params)
			}
			mvs++
		}
	}
	if mvs < 2 {
		t.Errorf("%d meter values between the offline start and stop, want the signed begin value and samples", mvs)
	}
	t.Logf("offline session: StartTransaction, %d MeterValues and StopTransaction arrived in order after the reconnect, mapped to transaction %d", mvs, txID)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
