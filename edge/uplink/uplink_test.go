package uplink

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// deliverAndAck: a backlog and live batches reach central, acks move the
// outbox head, and a clean stop leaves the retained status "offline".
func deliverAndAck(t *testing.T, brokerURL, site string) {
	f := newFixture(t, site)
	c := startCentral(t, brokerURL, site, f.gw, f.pub)
	t.Cleanup(func() { // leave no retained status behind on a shared broker
		c.c.Publish(reading.StatusTopic(site), 1, true, []byte{}).WaitTimeout(2 * time.Second)
	})
	f.add(t, 300) // backlog
	stop := f.run(t, Config{Broker: brokerURL})
	f.add(t, 50) // live
	waitAcked(t, f.box, 350, 20*time.Second)
	c.waitFor("status online", 5*time.Second, func(c *central) bool { return slices.Contains(c.statuses, StatusOnline) })
	stop()
	c.waitFor("status offline", 5*time.Second, func(c *central) bool {
		return len(c.statuses) > 0 && c.statuses[len(c.statuses)-1] == StatusOffline
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.contig != 350 || c.bad != 0 {
		t.Fatalf("central contiguous %d (bad %d), want 350", c.contig, c.bad)
	}
	if st := f.box.Stats(); st.PendingRecords != 0 {
		t.Fatalf("outbox still holds %d records", st.PendingRecords)
	}
}

func TestDeliverAndAckMochi(t *testing.T) {
	b := startBroker(t)
	deliverAndAck(t, b.url(), "mochi-p1")
}

func TestDeliverAndAckMosquitto(t *testing.T) {
	addr := svctest.MosquittoAddr(t)
	deliverAndAck(t, "tcp://"+addr, fmt.Sprintf("test-%d", time.Now().UnixNano()))
}

func TestBrokerRestartDrainsBacklog(t *testing.T) {
	b := startBroker(t)
	f := newFixture(t, "restart-p1")
	c := startCentral(t, b.url(), f.site, f.gw, f.pub)
	f.run(t, Config{Broker: b.url()})
	f.add(t, 50)
	waitAcked(t, f.box, 50, 10*time.Second)

	b.stop()
	f.add(t, 500) // the outage
	if got := f.box.Acked(); got != 50 {
		t.Fatalf("acked %d with the broker down", got)
	}
	b.start()
	f.add(t, 20) // live after the restart
	waitAcked(t, f.box, 570, 20*time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := uint64(1); s <= 570; s++ {
		if c.stored[s] == nil {
			t.Fatalf("central lacks seq %d", s)
		}
	}
}

func TestLostBatchesAreResentAfterAckTimeout(t *testing.T) {
	b := startBroker(t)
	f := newFixture(t, "lossy-p1")
	c := startCentral(t, b.url(), f.site, f.gw, f.pub)
	c.mu.Lock()
	c.dropNext = 7 // central "crashes" before storing the first 7
	c.mu.Unlock()
	f.add(t, 40)
	f.run(t, Config{Broker: b.url(), AckTimeout: 200 * time.Millisecond})
	waitAcked(t, f.box, 40, 10*time.Second)
}

func TestConnectionCutAndLWT(t *testing.T) {
	b := startBroker(t)
	f := newFixture(t, "cut-p1")
	c := startCentral(t, b.url(), f.site, f.gw, f.pub)
	f.run(t, Config{Broker: b.url(), ClientID: "edge-cut"})
	f.add(t, 10)
	waitAcked(t, f.box, 10, 10*time.Second)
	cl, ok := b.srv.Clients.Get("edge-cut")
	if !ok {
		t.Fatal("edge client not connected")
	}
	cl.Stop(errors.New("test cuts the connection"))
	c.waitFor("LWT offline then online again", 10*time.Second, func(c *central) bool {
		i := slices.Index(c.statuses, StatusOffline)
		return i >= 0 && slices.Contains(c.statuses[i:], StatusOnline)
	})
	f.add(t, 10)
	waitAcked(t, f.box, 20, 10*time.Second)
}

// TestMalformedAcksAreIgnored: an ack deletes data, so only an ack signed
// by central's key, for this gateway and this outbox's epoch, and within
// what was sent, counts.
func TestMalformedAcksAreIgnored(t *testing.T) {
	b := startBroker(t)
	f := newFixture(t, "acks-p1")
	c := startCentral(t, b.url(), f.site, f.gw, f.pub)
	c.mu.Lock()
	c.ackOn = false
	c.mu.Unlock()
	log, _ := newLogSink(t)
	f.add(t, 5)
	f.run(t, Config{Broker: b.url(), Log: log})
	c.waitFor("all 5", 10*time.Second, func(c *central) bool { return c.contig == 5 })
	_, forger, _ := ed25519.GenerateKey(nil)
	signed := func(k ed25519.PrivateKey, a reading.Ack) string {
		m, err := reading.SealAck(a, k)
		if err != nil {
			t.Fatal(err)
		}
		return string(m)
	}
	epoch := f.box.Epoch()
	otherEpoch := strings.Repeat("ab", 16)
	msgs := []struct {
		msg    string
		reason int
	}{
		{`garbage`, IgnoredUnsigned},
		{`{"v":1,"gateway":"` + f.gw + `","seq":5}`, IgnoredUnsigned},
		{`{"v":2,"seq":5}`, IgnoredUnsigned},
		{``, IgnoredUnsigned},
		{signed(forger, reading.Ack{Gateway: f.gw, Epoch: epoch, Seq: 5}), IgnoredUnsigned},
		{signed(centralKey, reading.Ack{Gateway: "someone-else", Epoch: epoch, Seq: 5}), IgnoredGateway},
		{signed(centralKey, reading.Ack{Gateway: f.gw, Epoch: otherEpoch, Seq: 5}), IgnoredEpoch},
		{signed(centralKey, reading.Ack{Gateway: f.gw, Epoch: epoch, Seq: 999999}), IgnoredAhead},
	}
	want := [ignoreReasons]uint64{}
	for _, m := range msgs {
		want[m.reason]++
		if err := b.srv.Publish(reading.AckTopic(f.site), []byte(m.msg), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.up.Status().AcksIgnored != want {
		if time.Now().After(deadline) {
			t.Fatalf("acks ignored %v, want %v", f.up.Status().AcksIgnored, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := f.box.Acked(); got != 0 {
		t.Fatalf("an ignored ack moved the head to %d", got)
	}
	c.ackNow() // a good ack still works
	waitAcked(t, f.box, 5, 5*time.Second)
	// LastAck is stored just after the outbox's Ack returns: wait for it.
	for f.up.Status().LastAck.IsZero() {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("Status.LastAck not set by a good ack")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	srvCert := issue(t, ca, caKey, "broker", false)
	cliCert := issue(t, ca, caKey, "gw-tls-p1", true)
	writeCert(t, dir, "client", cliCert)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	b := &broker{t: t, addr: freeAddr(t), tlsAdr: freeAddr(t), tlsCfg: &tls.Config{
		Certificates: []tls.Certificate{srvCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}}
	b.start()
	t.Cleanup(b.stop)
	f := newFixture(t, "tls-p1")
	startCentral(t, b.url(), f.site, f.gw, f.pub) // central on the plain listener
	f.add(t, 20)
	f.run(t, Config{Broker: "ssl://" + b.tlsAdr, TLS: &TLSFiles{
		CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client.key"),
	}})
	waitAcked(t, f.box, 20, 10*time.Second)

	// Without a client certificate the broker refuses the edge.
	g := newFixture(t, "tls-p2")
	log, logs := newLogSink(t)
	g.add(t, 1)
	stop := g.run(t, Config{Broker: "ssl://" + b.tlsAdr, Log: log, TLS: &TLSFiles{CAFile: filepath.Join(dir, "ca.pem")}})
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(logs(), func(l string) bool { return strings.Contains(l, "reconnecting") }) {
		if time.Now().After(deadline) {
			t.Fatal("no failed connect logged without a client certificate")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if g.box.Acked() != 0 {
		t.Fatal("delivered without a client certificate")
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no broker":    {Site: "s", Gateway: "g"},
		"bad scheme":   {Broker: "http://x:1", Site: "s", Gateway: "g"},
		"no site":      {Broker: "tcp://x:1", Gateway: "g"},
		"cert no key":  {Broker: "ssl://x:1", Site: "s", Gateway: "g", TLS: &TLSFiles{CertFile: "c.pem"}},
		"missing file": {Broker: "ssl://x:1", Site: "s", Gateway: "g", TLS: &TLSFiles{CAFile: "/nonexistent/ca.pem"}},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "parkgrid test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, client bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writeCert(t *testing.T, dir, name string, c tls.Certificate) {
	t.Helper()
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", c.Certificate[0])
	der, _ := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	writePEM(t, filepath.Join(dir, name+".key"), "PRIVATE KEY", der)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
