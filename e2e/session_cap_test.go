package e2e

import (
	"context"
	"crypto/ed25519"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/command"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/session/storesnap"
	"github.com/parkgrid/parkgrid/central/sessionrun"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// TestE2ESessionCapWithoutUplink: a charge point with access central gets
// no current for a car plugged in before central authorises it. Central
// authorises a session with a small energy cap (a signed command, answered
// by the edge's signed reply); the begin snapshot moves the session to
// charging. The edge is killed and started again mid-session: it keeps
// the session and its cap. Then the uplink is cut (central and its
// embedded broker stop) and the edge alone stops the car at the cap.
// Central comes back on the same broker port, the edge delivers the end
// snapshot from its outbox, and the session completes and is billed
// end − begin of the signed snapshots.
//
// The edge is the real binary on the simulator (speed 15: about 45 Wh of a
// 16 A three-phase car per second); central runs in-process with the
// session service on the in-memory store and the fake payment provider.
func TestE2ESessionCapWithoutUplink(t *testing.T) {
	const capWh = 600
	parkgridBinary(t)
	dir := e2eDir(t)
	s := e2eSimTraffic(t, 15, 0, 1000*time.Hour)
	st := centralconfig.Store{Driver: centralconfig.DriverSQLite, Path: filepath.Join(dir, "central.db")}
	f := newEdgeFiles(t, dir, s, uniqueID("e2e-site"), uniqueID("e2e-gw"))
	f.fastSessions()
	point := ""
	for _, p := range s.State().Points {
		if p.Car == nil {
			point = p.Name
			break
		}
	}
	if point == "" {
		t.Fatal("no free point in the simulator")
	}
	meter := ""
	for _, cp := range f.doc["charge_points"].([]any) {
		if cp := cp.(map[string]any); cp["id"] == point {
			cp["access"] = "central"
			meter, _ = cp["meter"].(string)
		}
	}

	// Central on a broker port that stays the same across its restart.
	path := centralFile(t, dir, st, "", uniqueID("e2e-central"), f)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().String()
	ln.Close()
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), `listen: "127.0.0.1:0"`, `listen: "`+port+`"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCentral(t, path)
	f.writeSite(t, c.Broker)
	ingestStore := openStore(t, st)

	// Central's session side, in this process.
	payments := fake.New(fake.Options{AutoApprove: true})
	sessions := sessiontest.NewMemory()
	svc, err := session.New(session.Config{Store: sessions, Payments: payments, Snapshots: storesnap.New(ingestStore), Issuers: sessiontest.Issuers{}})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := sessionrun.New(sessionrun.Config{Sessions: svc, Lister: sessions, Snapshots: storesnap.New(ingestStore)})
	if err != nil {
		t.Fatal(err)
	}
	var cmd *command.Commander
	conn := command.NewMQTT(command.MQTTConfig{Broker: c.Broker, ClientID: uniqueID("e2e-cmd"), Username: tapUser, Password: tapPassword,
		ReplyTopic: reading.ReplyTopic(f.Site)}, func(msg []byte) { cmd.HandleReply(msg) })
	cmd, err = command.New(command.Config{Key: f.CentralKey, Directory: siteGateway{f}, Publisher: conn, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cctx, stopConn := context.WithCancel(context.Background())
	connDone := make(chan struct{})
	go func() { defer close(connDone); _ = conn.Run(cctx) }()
	stopCmd := sync.OnceFunc(func() { stopConn(); <-connDone })
	t.Cleanup(stopCmd)

	edgeLog := filepath.Join(dir, "edge.log")
	showLogTail(t, edgeLog)
	p := startProc(t, edgeLog, "uplink ready", "edge", "--config", f.SitePath)
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("the edge exited: %v", p.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the edge's uplink not ready within 30 s")
	}
	select {
	case <-conn.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("command connection not subscribed within 10 s")
	}

	// A car plugged in before the authorisation draws nothing.
	if err := s.PlugCar(point, sim.Car{SocPct: 10}); err != nil {
		t.Fatal(err)
	}
	// The simulated controller offers current on its own until the edge's
	// next control step sees the car and cuts it.
	for deadline := time.Now().Add(5 * time.Second); capPoint(s, point).PowerW != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the edge did not cut the unauthorised car at %s: %+v", point, capPoint(s, point))
		}
	}
	e0 := capPoint(s, point).EnergyWh
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ps := capPoint(s, point); ps.EnergyWh != e0 || ps.PowerW != 0 {
			t.Fatalf("unauthorised car at %s draws %d W (%d Wh)", point, ps.PowerW, ps.EnergyWh-e0)
		}
	}

	id := uniqueID("e2e-session")
	started, err := svc.Start(t.Context(), session.StartRequest{ID: id, Operator: "op", Site: f.Site, Point: point, Meter: meter,
		Tariff: sessiontest.Tariff(), HoldMinor: 5000, Payee: payment.Payee{Account: "acct_1"}}, time.Now())
	if err != nil || started.State != session.StateAuthorized {
		t.Fatalf("start: %v, %s", err, started.State)
	}
	actx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		err := cmd.Authorize(actx, f.Site, point, id, reading.ClassEco, capWh, time.Now().Add(time.Hour))
		if err == nil {
			break
		}
		if actx.Err() != nil {
			t.Fatalf("authorize: %v", err)
		}
		t.Logf("authorize: %v; again", err)
	}
	waitSession(t, runner, sessions, id, session.StateCharging, 30*time.Second)

	// The edge dies (kill -9) mid-session and starts again: it keeps the
	// session, its open gate and its cap.
	p.kill()
	// Connected, not just ready: a client that connects while the embedded
	// broker closes can hold the broker's Close (mochi), so the cut below
	// waits for the edge to be in.
	p = startProc(t, edgeLog, "uplink connected", "edge", "--config", f.SitePath)
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("the edge exited: %v", p.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the restarted edge's uplink not connected within 30 s")
	}
	if ps := capPoint(s, point); ps.EnergyWh-e0 >= capWh {
		t.Fatalf("the cap was reached before the uplink was cut (%d Wh): lower the simulator's speed", ps.EnergyWh-e0)
	}

	// Cut the uplink: central and its broker stop. (The test's own command
	// client goes first: a client that reconnects while the embedded broker
	// closes can hold its Close.)
	stopCmd()
	stopCentralOrDump(t, c)
	var stopped sim.PointState
	// Normally a few seconds; on a loaded machine the simulator's bus can
	// time out, and safety then holds every charger for 10 s.
	deadline := time.Now().Add(60 * time.Second)
	for {
		stopped = capPoint(s, point)
		if stopped.EnergyWh-e0 >= capWh && stopped.PowerW == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge did not stop %s at the cap without uplink: %d Wh, %d W", point, stopped.EnergyWh-e0, stopped.PowerW)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("stopped without uplink at %d Wh (cap %d Wh)", stopped.EnergyWh-e0, capWh)
	if over := stopped.EnergyWh - e0 - capWh; over > 200 {
		t.Errorf("stopped %d Wh beyond the cap", over)
	}

	// Central comes back; the end snapshot arrives from the outbox.
	startCentral(t, path)
	done := waitSession(t, runner, sessions, id, session.StateInvoiced, 40*time.Second)
	b := done.Billing
	if b == nil || b.EnergyWh < capWh || b.EnergyWh > stopped.EnergyWh-e0+5 || len(done.Review) > 0 {
		t.Fatalf("billed %+v (review %v); want between the cap %d Wh and the %d Wh the car got", b, done.Review, capWh, stopped.EnergyWh-e0)
	}
	t.Logf("billed %d Wh, %d minor units of %s", b.EnergyWh, b.Price.GrossMinor, done.Tariff.Currency)
	if ps := capPoint(s, point); ps.PowerW != 0 || ps.EnergyWh-stopped.EnergyWh > 5 {
		t.Errorf("the point charges again after the session: %d W, %d Wh more", ps.PowerW, ps.EnergyWh-stopped.EnergyWh)
	}
}

// stopCentralOrDump is c.stop that prints every goroutine of this
// process (central runs in it) when central does not stop in time.
func stopCentralOrDump(t *testing.T, c *centralRun) {
	t.Helper()
	cancel := c.cancel
	c.cancel = nil
	cancel()
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("central: %v", err)
		}
	case <-time.After(15 * time.Second):
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatal("central did not stop within 15 s")
	}
}

// siteGateway is the command directory of the test's one site.
type siteGateway struct{ f *edgeFiles }

func (d siteGateway) SiteGateway(_ context.Context, site string) (string, ed25519.PublicKey, error) {
	if site != d.f.Site {
		return "", nil, command.ErrNoGateway
	}
	return d.f.Gateway, d.f.Pub, nil
}

func capPoint(s *sim.Sim, name string) sim.PointState {
	for _, p := range s.State().Points {
		if p.Name == name {
			return p
		}
	}
	return sim.PointState{}
}

// waitSession passes the runner until the session is in want.
func waitSession(t *testing.T, r *sessionrun.Runner, st session.Store, id string, want session.State, within time.Duration) session.Session {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := r.Pass(t.Context(), time.Now()); err != nil {
			t.Logf("session pass: %v", err)
		}
		s, err := st.Session(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is %s after %s, want %s", id, s.State, within, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
