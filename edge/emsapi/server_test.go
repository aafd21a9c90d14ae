package emsapi_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/edge/emsapi"
)

// serve runs the fixture's router on a loopback port with o and returns
// the address; the server stops at cleanup.
func serve(t *testing.T, o emsapi.ServerOptions) string {
	t.Helper()
	f := newFixture(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- emsapi.Serve(ctx, ln, f.h, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve returned %v, want context.Canceled", err)
		}
	})
	return ln.Addr().String()
}

// dialFrom connects to addr from the loopback address src (127.0.0.x: on
// Linux every address of 127/8 is the loopback interface).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer waits (up to within) for the server to close c; it
// reports whether it did.
func closedByServer(c net.Conn, within time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// get sends GET path over a fresh connection from src and returns the status.
func get(t *testing.T, src, addr, path string) int {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, src, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestServeSlowClientsCannotStarve: one address opens many connections and
// sends each request half-way, then stalls (a slowloris). Beyond its share
// the server closes them at once, so they cost the edge no file descriptor,
// and a client from another address is served.
func TestServeSlowClientsCannotStarve(t *testing.T) {
	addr := serve(t, emsapi.ServerOptions{MaxConns: 12, MaxConnsPerIP: 4, ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute})
	var conns []net.Conn
	for range 30 {
		c := dialFrom(t, "127.0.0.1", addr)
		if _, err := io.WriteString(c, "POST /api/v1/limit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The server holds 4 of them and closes the rest as it accepts them. A
	// short look at each first; a second, patient look at those still open
	// if more than 4 are (a busy machine accepts slowly).
	var open []net.Conn
	for _, c := range conns {
		if !closedByServer(c, 200*time.Millisecond) {
			open = append(open, c)
		}
	}
	if len(open) > 4 {
		var still []net.Conn
		for _, c := range open {
			if !closedByServer(c, 5*time.Second) {
				still = append(still, c)
			}
		}
		open = still
	}
	if len(open) > 4 {
		t.Errorf("%d of 30 stalled connections from one address held open, want at most 4", len(open))
	}
	if code := get(t, "127.0.0.2", addr, "/api/v1/site"); code != 200 {
		t.Errorf("GET site from another address while one stalls: %d", code)
	}
}

// TestServeCutsSlowBody: a request whose body never completes is cut off
// after ReadTimeout, freeing its slot.
func TestServeCutsSlowBody(t *testing.T) {
	addr := serve(t, emsapi.ServerOptions{MaxConns: 1, ReadTimeout: 200 * time.Millisecond})
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := io.WriteString(c, "POST /api/v1/limit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"req"); err != nil {
		t.Fatal(err)
	}
	// The one slot is taken; the server must give it back by itself.
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("stalled request was not cut off: %v", err)
	}
	if line != "" && !strings.Contains(line, " 400 ") {
		t.Errorf("stalled request answered %q, want 400 or a closed connection", line)
	}
	if code := get(t, "127.0.0.1", addr, "/api/v1/site"); code != 200 {
		t.Errorf("GET site after the stalled request was cut: %d", code)
	}
}

// TestServeCutsSilentConnection: a connection that sends nothing holds its
// slot only for ReadHeaderTimeout.
func TestServeCutsSilentConnection(t *testing.T) {
	addr := serve(t, emsapi.ServerOptions{MaxConns: 1, ReadHeaderTimeout: 200 * time.Millisecond})
	c := dialFrom(t, "127.0.0.1", addr)
	if !closedByServer(c, 20*time.Second) {
		t.Fatal("silent connection not closed")
	}
	if code := get(t, "127.0.0.1", addr, "/api/v1/site"); code != 200 {
		t.Errorf("GET site: %d", code)
	}
}

// TestServeTLS: with a certificate the API speaks HTTPS only.
func TestServeTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	addr := serve(t, emsapi.ServerOptions{TLS: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}})
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := cl.Get("https://" + addr + "/api/v1/site")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + addr + "/api/v1/site"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on a TLS listener")
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
