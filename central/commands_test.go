package central

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/central/command"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// TestCentralCommandsReachTheEdge runs central (SQLite, embedded broker)
// and a gateway on its broker that answers commands as an edge does: an
// authorisation is answered ok, a stop with an error; both go with
// central's login and ACL, signed with central's key, and come back signed
// with the gateway's.
func TestCentralCommandsReachTheEdge(t *testing.T) {
	gwPub, gwKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := fmt.Sprintf(`store: {driver: sqlite, path: %s}
mqtt: {listen: "127.0.0.1:0", client_id: central-cmd-test}
gateways:
  - {id: gw-1, site: site-a, pubkey: %s}
http: {listen: "127.0.0.1:0"}
`, filepath.Join(dir, "central.db"), hex.EncodeToString(gwPub))
	path := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	centralPub := writeKey(t, filepath.Join(dir, centralconfig.DefaultCentralKey))
	cfg, err := centralconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("central: %v", err)
			}
		case <-time.After(20 * time.Second):
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			t.Error("central did not stop")
		}
	}()
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	addr, err := svc.Addrs(sctx)
	if err != nil {
		t.Fatalf("central did not start: %v", err)
	}

	// The gateway: answers an authorisation ok and anything else with an
	// error.
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr.Broker).SetClientID("gw-1").
		SetUsername("gw-1").SetPassword(reading.MQTTPassword(gwKey, "gw-1")))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	onCmd := func(cl mqtt.Client, m mqtt.Message) {
		cmd, err := reading.OpenCommand(m.Payload(), centralPub, "gw-1", time.Now())
		if err != nil {
			t.Errorf("command: %v", err)
			return
		}
		r := reading.Reply{ID: cmd.ID, Site: "site-a", Gateway: "gw-1", At: time.Now(), OK: cmd.Kind == reading.KindAuthorise}
		if !r.OK {
			r.Error = "no such session"
		}
		msg, err := reading.SealReply(r, gwKey)
		if err != nil {
			t.Error(err)
			return
		}
		cl.Publish(reading.ReplyTopic("site-a"), 1, false, msg)
	}
	if tok := c.Subscribe(reading.CmdTopic("site-a"), 1, onCmd); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	actx, acancel := context.WithTimeout(ctx, 20*time.Second)
	defer acancel()
	for {
		// The command connection may still be on its way to the broker.
		err := svc.commands.Authorize(actx, "site-a", "cp-1", "s-1", reading.ClassEco, 1000, time.Time{})
		if err == nil {
			break
		}
		if actx.Err() != nil {
			t.Fatalf("authorize: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := svc.commands.Stop(actx, "site-a", "cp-1", "s-1"); !errors.Is(err, command.ErrRefused) {
		t.Errorf("stop: %v, want ErrRefused", err)
	}
	if err := svc.commands.Stop(actx, "site-b", "cp-1", "s-1"); !errors.Is(err, command.ErrNoGateway) {
		t.Errorf("stop at a site without gateway: %v, want ErrNoGateway", err)
	}
}

// writeKey writes a new central key as `parkgrid keygen` does and returns
// its public key.
func writeKey(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pub
}
