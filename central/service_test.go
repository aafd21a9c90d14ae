package central_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/central"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// TestCentralServes runs the whole central (SQLite, embedded broker, HTTP)
// from a config file, sends it one signed batch with an OCMF snapshot as a
// gateway would, and reads the ack, the metrics and the stats.
func TestCentralServes(t *testing.T) {
	gwPub, gwKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	meter, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&meter.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := fmt.Sprintf(`store: {driver: sqlite, path: %s}
mqtt: {listen: "127.0.0.1:0", client_id: central-test}
ingest: {linger: 1ms}
gateways:
  - id: gw-1
    site: site-a
    pubkey: %s
    meters: [{device: meter-1, pubkey: %s}]
http: {listen: "127.0.0.1:0"}
`, filepath.Join(dir, "db", "central.db"), hex.EncodeToString(gwPub), hex.EncodeToString(der))
	addr, ackPub := runCentral(t, dir, yaml)

	// The embedded broker lets no anonymous client in, nor a gateway with
	// another key's password; the gateway logs in with the password its key
	// derives.
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, o := range map[string]*mqtt.ClientOptions{
		"anonymous":       mqtt.NewClientOptions().SetClientID("anon"),
		"wrong password":  mqtt.NewClientOptions().SetClientID("gw-x").SetUsername("gw-1").SetPassword(reading.MQTTPassword(otherKey, "gw-1")),
		"unknown gateway": mqtt.NewClientOptions().SetClientID("gw-9").SetUsername("gw-9").SetPassword(reading.MQTTPassword(otherKey, "gw-9")),
	} {
		c := mqtt.NewClient(o.AddBroker(addr.Broker).SetConnectRetry(false).SetAutoReconnect(false))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
			c.Disconnect(50)
			t.Errorf("%s: connected to central's broker", name)
		}
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr.Broker).SetClientID("gw-1").
		SetUsername("gw-1").SetPassword(reading.MQTTPassword(gwKey, "gw-1")))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	acks := make(chan reading.Ack, 1)
	if tok := c.Subscribe(reading.AckTopic("site-a"), 1, func(_ mqtt.Client, m mqtt.Message) {
		if a, err := reading.OpenAck(m.Payload(), ackPub); err == nil {
			acks <- a
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	rec, err := ocmf.SignP256([]byte(`{"FV":"1.0","RD":[{"TX":"B","RV":1.5,"RU":"kWh","ST":"G"}]}`), meter)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := reading.Seal(reading.Batch{Site: "site-a", Gateway: "gw-1", Seq: 1, Sent: time.Now(), Readings: []reading.Reading{
		{Time: time.Now(), Device: "meter-1", Point: "cp-1", Quantity: reading.QSnapshot, OCMF: rec, Session: "s-1"},
		{Time: time.Now(), Device: "meter-1", Point: "cp-1", Quantity: reading.QPowerW, Value: 7200},
	}}, gwKey)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish(reading.BatchTopic("site-a"), 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case a := <-acks:
		if a.Seq != 1 || a.Gateway != "gw-1" {
			t.Errorf("ack = %+v", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no ack")
	}

	get := func(p string) string {
		resp, err := http.Get("http://" + addr.HTTP + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", p, resp.Status)
		}
		return string(b)
	}
	if m := get("/metrics"); !strings.Contains(m, `parkgrid_ingest_batches_total{outcome="stored"} 1`) ||
		!strings.Contains(m, `parkgrid_ingest_readings_stored_total 2`) || !strings.Contains(m, "go_goroutines") {
		t.Errorf("metrics lack the ingest counters:\n%.2000s", m)
	}
	var stats struct {
		BatchesStored int64 `json:"batches_stored"`
	}
	if err := json.Unmarshal([]byte(get("/api/v1/ingest/stats")), &stats); err != nil || stats.BatchesStored != 1 {
		t.Errorf("stats: %+v, %v", stats, err)
	}
	if h := get("/healthz"); strings.TrimSpace(h) != "ok" {
		t.Errorf("healthz = %q", h)
	}
}

// writeCentralKey writes a new central key as `parkgrid keygen` does (PKCS#8
// PEM, mode 0600) and returns its public key.
func writeCentralKey(t *testing.T, path string) ed25519.PublicKey {
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

// runCentral writes yaml to dir/central.yaml beside a new central key, runs
// central until the test ends and returns where it listens and central's
// public key.
func runCentral(t *testing.T, dir, yaml string) (central.Addrs, ed25519.PublicKey) {
	t.Helper()
	path := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := writeCentralKey(t, filepath.Join(dir, centralconfig.DefaultCentralKey))
	cfg, err := centralconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := central.New(cfg, central.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("central: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("central did not stop")
		}
	})
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	addr, err := svc.Addrs(sctx)
	if err != nil {
		t.Fatalf("central did not start: %v", err)
	}
	return addr, pub
}
