package ocpp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testCSMS is a small OCPP-J central system over TLS: it checks the
// subprotocol and basic auth, answers the point's calls and records them.
type testCSMS struct {
	srv      *httptest.Server
	password string

	mu       sync.Mutex // protects the fields below
	calls    []string   // actions in order
	boots    int
	pending  int // answer this many BootNotifications with Pending
	interval int // heartbeat interval it names (s)
	refused  int // connections refused (auth)
	got      chan struct{}
}

func newTestCSMS(t *testing.T, password string, pending, interval int) *testCSMS {
	t.Helper()
	cs := &testCSMS{password: password, pending: pending, interval: interval, got: make(chan struct{}, 64)}
	up := websocket.Upgrader{Subprotocols: []string{"ocpp1.6"}}
	cs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		if !ok || user != "CP1" || pw != cs.password || !strings.HasSuffix(r.URL.Path, "/ocpp/CP1") || websocket.Subprotocols(r)[0] != "ocpp1.6" {
			cs.mu.Lock()
			cs.refused++
			cs.mu.Unlock()
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			var msg []json.RawMessage
			if err := conn.ReadJSON(&msg); err != nil {
				return
			}
			var typ int
			var id, action string
			if len(msg) < 4 || json.Unmarshal(msg[0], &typ) != nil || typ != 2 {
				continue
			}
			_ = json.Unmarshal(msg[1], &id)
			_ = json.Unmarshal(msg[2], &action)
			cs.mu.Lock()
			cs.calls = append(cs.calls, action)
			var res any = map[string]any{}
			now := time.Now().UTC().Format(time.RFC3339)
			switch action {
			case "BootNotification":
				cs.boots++
				status := "Accepted"
				if cs.boots <= cs.pending {
					status = "Pending"
				}
				res = map[string]any{"status": status, "currentTime": now, "interval": cs.interval}
			case "Heartbeat":
				res = map[string]any{"currentTime": now}
			case "Authorize":
				res = map[string]any{"idTagInfo": map[string]any{"status": "Accepted"}}
			case "StartTransaction":
				res = map[string]any{"transactionId": 5, "idTagInfo": map[string]any{"status": "Accepted"}}
			}
			cs.mu.Unlock()
			select {
			case cs.got <- struct{}{}:
			default:
			}
			if err := conn.WriteJSON([]any{3, id, res}); err != nil {
				return
			}
		}
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *testCSMS) url() string { return "wss" + strings.TrimPrefix(cs.srv.URL, "https") + "/ocpp" }

func (cs *testCSMS) actions() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.calls...)
}

// waitFor waits until cond holds over the actions seen.
func (cs *testCSMS) waitFor(t *testing.T, what string, within time.Duration, cond func([]string) bool) {
	t.Helper()
	deadline := time.After(within)
	for !cond(cs.actions()) {
		select {
		case <-cs.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s not seen within %s; calls: %v", what, within, cs.actions())
		}
	}
}

func runClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	cfg.Point, cfg.Identity, cfg.Vendor, cfg.Model = "cp-1", "CP1", "parkgrid", "test"
	cfg.StateFile = filepath.Join(t.TempDir(), "s.json")
	cfg.Limiter = &fakeLimiter{}
	if cfg.Points == nil {
		cfg.Points = &fakePoints{v: PointView{State: "A", HasMeter: true, Phases: 3}}
	}
	cfg.Tick, cfg.ReconnectMin, cfg.ReconnectMax, cfg.CallTimeout = 20*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond, 5*time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("client did not stop")
		}
	})
	return c
}

// Security profile 2: TLS with the CSMS's certificate checked against the
// configured CA, basic auth; BootNotification Pending is honoured (nothing
// else is sent until Accepted), then heartbeats at the CSMS's interval.
func TestSecurityProfile2AndBoot(t *testing.T) {
	const pw = "0123456789abcdef-pw"
	cs := newTestCSMS(t, pw, 2, 1)
	roots := x509.NewCertPool()
	roots.AddCert(cs.srv.Certificate())
	runClient(t, Config{URL: cs.url(), Password: pw, TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Heartbeat: time.Hour})
	cs.waitFor(t, "a heartbeat after the accepted boot", 10*time.Second, func(a []string) bool {
		for _, x := range a {
			if x == "Heartbeat" {
				return true
			}
		}
		return false
	})
	a := cs.actions()
	if len(a) < 4 || a[0] != "BootNotification" || a[1] != "BootNotification" || a[2] != "BootNotification" {
		t.Fatalf("calls %v: want three BootNotifications (Pending, Pending, Accepted) before anything else", a)
	}
	if a[3] != "StatusNotification" {
		t.Errorf("calls %v: the first call after the accepted boot is a StatusNotification", a)
	}
}

// Without the CSMS's CA the point does not connect (server verification),
// and with a wrong password the CSMS refuses it.
func TestSecurityProfile2Refusals(t *testing.T) {
	const pw = "0123456789abcdef-pw"
	t.Run("unknown CA", func(t *testing.T) {
		cs := newTestCSMS(t, pw, 0, 60)
		runClient(t, Config{URL: cs.url(), Password: pw, TLS: &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}})
		time.Sleep(500 * time.Millisecond)
		if a := cs.actions(); len(a) != 0 {
			t.Fatalf("connected to a CSMS whose certificate it cannot verify: %v", a)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cs := newTestCSMS(t, pw, 0, 60)
		roots := x509.NewCertPool()
		roots.AddCert(cs.srv.Certificate())
		runClient(t, Config{URL: cs.url(), Password: "not-the-password-0000", TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
		deadline := time.Now().Add(5 * time.Second)
		for {
			cs.mu.Lock()
			n := cs.refused
			cs.mu.Unlock()
			if n >= 2 {
				break // refused, and it tried again (backoff)
			}
			if time.Now().After(deadline) {
				t.Fatalf("refused %d times", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if a := cs.actions(); len(a) != 0 {
			t.Fatalf("calls with a wrong password: %v", a)
		}
	})
}

// A local Authorize accepted by the CSMS lets the next plugged car start
// a transaction; offline, Authorize refuses.
func TestLocalAuthorize(t *testing.T) {
	const pw = "0123456789abcdef-pw"
	cs := newTestCSMS(t, pw, 0, 60)
	roots := x509.NewCertPool()
	roots.AddCert(cs.srv.Certificate())
	pts := &fakePoints{v: PointView{State: "A", HasMeter: true, Phases: 3}}
	c := runClient(t, Config{URL: cs.url(), Password: pw, TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Points: pts})
	if ok, err := c.Authorize(context.Background(), "TAG-1"); err != ErrOffline && !ok {
		// the link may already be up; either answer is fine here
		t.Logf("authorize before registration: %v %v", ok, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !c.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("not registered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, err := c.Authorize(context.Background(), "TAG-1"); !ok || err != nil {
		t.Fatalf("Authorize: %v %v", ok, err)
	}
	pts.set(func(v *PointView) { v.State = "B" })
	cs.waitFor(t, "StartTransaction", 10*time.Second, func(a []string) bool {
		for _, x := range a {
			if x == "StartTransaction" {
				return true
			}
		}
		return false
	})
}
