package broker

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/edge/reading"
)

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:1884": true, "localhost:1884": true, "[::1]:1884": true, "127.0.0.1:0": true,
		"0.0.0.0:1884": false, ":1884": false, "192.168.1.5:1884": false, "127.0.0.1": false,
	} {
		if err := CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
	if _, err := Start("0.0.0.0:0", nil); err == nil {
		t.Error("Start on 0.0.0.0 succeeded")
	}
}

// TestRoundTrip delivers a QoS 1 message through a shared subscription on
// the open test broker.
func TestRoundTrip(t *testing.T) {
	b, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := connect(t, b.URL(), "sub", "", "")
	got := subscribeOK(t, s, "$share/g/a/+")
	p := connect(t, b.URL(), "pub", "", "")
	publishOK(t, p, "a/b", 1, "one")
	if m := next(t, got); m.payload != "one" {
		t.Errorf("got %q", m.payload)
	}
}

// fakeGateways is a Gateways over a map; absent ids are unknown.
type fakeGateways map[string]GatewayLogin

func (f fakeGateways) GatewayLogin(_ context.Context, id string) (GatewayLogin, error) {
	g, ok := f[id]
	if !ok {
		return GatewayLogin{}, fmt.Errorf("gateway %q: %w", id, ErrUnknownGateway)
	}
	return g, nil
}

// world is an authenticating broker with two sites, central and an EMS.
type world struct {
	b       *Broker
	central Login
	keys    map[string]ed25519.PrivateKey // gateway id → key
	emsPass string
}

func newWorld(t *testing.T, mod func(*Config)) *world {
	t.Helper()
	w := &world{keys: map[string]ed25519.PrivateKey{}}
	gws := fakeGateways{}
	for id, site := range map[string]string{"gw-a": "site-a", "gw-b": "site-b", "gw-revoked": "site-c"} {
		pub, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		w.keys[id] = key
		if id != "gw-revoked" {
			gws[id] = GatewayLogin{Site: site, Keys: []ed25519.PublicKey{pub}}
		}
	}
	var err error
	if w.central, err = NewCentralLogin("parkgrid-central"); err != nil {
		t.Fatal(err)
	}
	w.emsPass = "ems-secret-1"
	hash, err := HashPassword(w.emsPass, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listen: "127.0.0.1:0", Central: w.central, Gateways: gws,
		Users: []User{{Name: "ems-a", PasswordHash: hash, Rules: Rules{
			Publish: []string{"parkgrid/v1/site-a/ems/limit/set"}, Subscribe: []string{"parkgrid/v1/site-a/ems/#"},
		}}},
	}
	if mod != nil {
		mod(&cfg)
	}
	if w.b, err = Listen(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.b.Close() })
	return w
}

func (w *world) password(gw string) string { return reading.MQTTPassword(w.keys[gw], gw) }

// message is one received message.
type message struct{ topic, payload string }

func tryConnect(url, id, user, pass string, mod func(*paho.ClientOptions)) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	if mod != nil {
		mod(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	return c, tok.Error()
}

func connect(t *testing.T, url, id, user, pass string) paho.Client {
	t.Helper()
	c, err := tryConnect(url, id, user, pass, nil)
	if err != nil {
		t.Fatalf("connect %s as %q: %v", id, user, err)
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// subscribe returns the SUBACK code and a channel of received messages.
func subscribe(t *testing.T, c paho.Client, filter string) (byte, <-chan message) {
	t.Helper()
	ch := make(chan message, 64)
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		ch <- message{m.Topic(), string(m.Payload())}
	})
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("subscribe %s: timed out", filter)
	}
	key := filter // paho keys a shared subscription's result by its filter without $share/<group>/
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, key, _ = strings.Cut(rest, "/")
	}
	code, ok := tok.(*paho.SubscribeToken).Result()[key]
	if !ok {
		t.Fatalf("subscribe %s: no result", filter)
	}
	return code, ch
}

func subscribeOK(t *testing.T, c paho.Client, filter string) <-chan message {
	t.Helper()
	code, ch := subscribe(t, c, filter)
	if code > 1 {
		t.Fatalf("subscribe %s refused: 0x%02x", filter, code)
	}
	return ch
}

func publishOK(t *testing.T, c paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func next(t *testing.T, ch <-chan message) message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return message{}
}

// TestEmbeddedBrokerLogins: who may connect.
func TestEmbeddedBrokerLogins(t *testing.T) {
	w := newWorld(t, nil)
	url := w.b.URL()
	for _, tc := range []struct {
		name, id, user, pass string
		ok                   bool
	}{
		{"anonymous", "anon", "", "", false},
		{"anonymous with a password", "anon2", "", "x", false},
		{"central", "parkgrid-central-1", w.central.Username, w.central.Password, true},
		{"central, wrong password", "c2", w.central.Username, w.central.Password + "x", false},
		{"gateway, derived password", "parkgrid-edge-gw-a", "gw-a", w.password("gw-a"), true},
		{"gateway, wrong password", "e1", "gw-a", strings.Repeat("0", 128), false},
		{"gateway, another gateway's password", "e2", "gw-a", w.password("gw-b"), false},
		{"gateway, no password", "e3", "gw-a", "", false},
		{"revoked gateway", "e4", "gw-revoked", w.password("gw-revoked"), false},
		{"unknown user", "e5", "mallory", "x", false},
		{"ems user", "ems-1", "ems-a", w.emsPass, true},
		{"ems user, wrong password", "ems-2", "ems-a", "nope", false},
	} {
		c, err := tryConnect(url, tc.id, tc.user, tc.pass, nil)
		if (err == nil) != tc.ok {
			t.Errorf("%s: connect error %v, want ok=%v", tc.name, err, tc.ok)
		}
		if c != nil && err == nil {
			c.Disconnect(50)
		}
	}

	// A client id held by one identity is not taken over by another (that
	// would steal central's session and its batches).
	c := connect(t, url, "parkgrid-central-1", w.central.Username, w.central.Password)
	defer c.Disconnect(50)
	if _, err := tryConnect(url, "parkgrid-central-1", "gw-b", w.password("gw-b"), nil); err == nil {
		t.Error("gw-b took over central's client id")
	}
	// A will on another site's topic is refused at connect.
	if _, err := tryConnect(url, "e6", "gw-a", w.password("gw-a"), func(o *paho.ClientOptions) {
		o.SetWill("parkgrid/v1/site-b/down/ack", "x", 1, false)
	}); err == nil {
		t.Error("gw-a connected with a will on site-b's ack topic")
	}
	if _, err := tryConnect(url, "e7", "gw-a", w.password("gw-a"), func(o *paho.ClientOptions) {
		o.SetWill("parkgrid/v1/site-a/status", "offline", 1, true)
	}); err != nil {
		t.Errorf("gw-a with its status will: %v", err)
	}
}

// TestEmbeddedBrokerACL: what each identity may subscribe to and publish.
func TestEmbeddedBrokerACL(t *testing.T) {
	w := newWorld(t, nil)
	url := w.b.URL()
	central := connect(t, url, "central", w.central.Username, w.central.Password)
	gwA := connect(t, url, "gw-a", "gw-a", w.password("gw-a"))
	gwA2 := connect(t, url, "gw-a-ems", "gw-a", w.password("gw-a"))
	gwB := connect(t, url, "gw-b", "gw-b", w.password("gw-b"))
	ems := connect(t, url, "ems", "ems-a", w.emsPass)

	subs := []struct {
		who    string
		c      paho.Client
		filter string
		ok     bool
	}{
		{"gw-a", gwA, "#", false},
		{"gw-a", gwA, "$SYS/#", false},
		{"gw-a", gwA, "parkgrid/v1/+/down/#", false},
		{"gw-a", gwA, "parkgrid/v1/site-b/down/ack", false},
		{"gw-a", gwA, "parkgrid/v1/site-a/up/batch", false},
		{"gw-a", gwA, "$share/central/parkgrid/v1/+/up/batch", false},
		{"gw-a", gwA, "$share/central/parkgrid/v1/site-a/up/batch", false},
		{"gw-a", gwA, "parkgrid/v1/site-a/down/#", true},
		{"gw-a", gwA, "parkgrid/v1/site-a/down/ack", true},
		{"gw-b", gwB, "parkgrid/v1/site-a/ems/#", false},
		{"central", central, "#", false},
		{"central", central, "parkgrid/v1/+/ems/#", false},
		{"central", central, "$share/other/parkgrid/v1/+/up/batch", false},
		{"central", central, "$share/central/parkgrid/v1/+/up/batch", true},
		{"ems", ems, "parkgrid/v1/site-a/ems/#", true},
		{"ems", ems, "parkgrid/v1/site-b/ems/#", false},
		{"ems", ems, "parkgrid/v1/+/ems/#", false},
	}
	for _, s := range subs {
		code, _ := subscribe(t, s.c, s.filter)
		if ok := code <= 1; ok != s.ok {
			t.Errorf("%s subscribe %s: SUBACK 0x%02x, want allowed=%v", s.who, s.filter, code, s.ok)
		}
	}

	// Deliveries. Each forbidden publish (QoS 0, so the broker drops it
	// without disconnecting) is followed by an allowed one on the same
	// connection; the broker handles a connection's packets in order, so
	// the observer sees the allowed one first and alone.
	batches := subscribeOK(t, central, "$share/central/parkgrid/v1/+/up/#")
	downA := subscribeOK(t, gwA2, "parkgrid/v1/site-a/down/#")
	limitsA := subscribeOK(t, gwA2, "parkgrid/v1/site-a/ems/limit/set")
	for _, tc := range []struct {
		who       string
		c         paho.Client
		forbidden string
		allowed   string
		observer  <-chan message
	}{
		{"gw-a", gwA, "parkgrid/v1/site-b/up/batch", "parkgrid/v1/site-a/up/batch", batches},
		{"gw-b", gwB, "parkgrid/v1/site-a/up/batch", "parkgrid/v1/site-b/up/batch", batches},
		{"central", central, "parkgrid/v1/site-a/up/batch", "parkgrid/v1/site-a/down/ack", downA},
		{"gw-b", gwB, "parkgrid/v1/site-a/down/ack", "parkgrid/v1/site-b/up/reply", batches},
		{"gw-a", gwA, "parkgrid/v1/site-a/down/cmd", "parkgrid/v1/site-a/up/reply", batches},
		{"gw-a", gwA, "parkgrid/v1/site-a/ems/limit/set", "parkgrid/v1/site-a/up/batch", batches},
		{"ems", ems, "parkgrid/v1/site-b/ems/limit/set", "parkgrid/v1/site-a/ems/limit/set", limitsA},
	} {
		publishOK(t, tc.c, tc.forbidden, 0, "forbidden")
		publishOK(t, tc.c, tc.allowed, 1, "allowed")
		if m := next(t, tc.observer); m.topic != tc.allowed || m.payload != "allowed" {
			t.Errorf("%s: after publishing on %s then %s, the observer got %+v", tc.who, tc.forbidden, tc.allowed, m)
		}
	}
	for name, ch := range map[string]<-chan message{"batches": batches, "site-a down": downA, "site-a limits": limitsA} {
		select {
		case m := <-ch:
			t.Errorf("%s: unexpected %+v", name, m)
		default:
		}
	}

	// A forbidden QoS 1 publish from an MQTT 3.1.1 client ends its
	// connection (the broker has no other way to refuse it).
	lost := make(chan error, 1)
	mal, err := tryConnect(url, "gw-b-2", "gw-b", w.password("gw-b"), func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mal.Disconnect(50)
	mal.Publish("parkgrid/v1/site-a/up/batch", 1, false, "x")
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Error("forbidden QoS 1 publish did not end the connection")
	}
}

// TestEmbeddedBrokerPacketLimit: a message above the packet limit is
// refused before it is read into memory, and ends the connection.
func TestEmbeddedBrokerPacketLimit(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Limits.MaxPacketBytes = 64 << 10 })
	central := connect(t, w.b.URL(), "central", w.central.Username, w.central.Password)
	batches := subscribeOK(t, central, "$share/central/parkgrid/v1/+/up/#")
	lost := make(chan error, 1)
	gw, err := tryConnect(w.b.URL(), "gw-a", "gw-a", w.password("gw-a"), func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Disconnect(50)
	gw.Publish("parkgrid/v1/site-a/up/batch", 1, false, strings.Repeat("x", 100<<10))
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("oversized publish did not end the connection")
	}
	select {
	case m := <-batches:
		t.Errorf("oversized message delivered (%d bytes)", len(m.payload))
	default:
	}
}

func TestLimitsDefaults(t *testing.T) {
	w := newWorld(t, nil)
	c := w.b.srv.Options.Capabilities
	if c.MaximumPacketSize != DefaultMaxPacketBytes || c.MaximumSessionExpiryInterval != 3600 ||
		c.MaximumInflight != DefaultMaxInflight || c.MaximumClients != DefaultMaxClients || c.MaximumQos != 1 {
		t.Errorf("capabilities %+v", c)
	}
	if DefaultMaxPacketBytes < reading.MaxBodyBytes*2 {
		t.Errorf("packet limit %d below the largest batch central accepts (%d)", DefaultMaxPacketBytes, reading.MaxBodyBytes*2)
	}
}

func TestListenRefuses(t *testing.T) {
	login, _ := NewCentralLogin("c")
	for name, cfg := range map[string]Config{
		"public without TLS": {Listen: "0.0.0.0:0", Central: login, Gateways: fakeGateways{}},
		"no central login":   {Listen: "127.0.0.1:0", Gateways: fakeGateways{}},
		"no gateways":        {Listen: "127.0.0.1:0", Central: login},
		"bad user hash":      {Listen: "127.0.0.1:0", Central: login, Gateways: fakeGateways{}, Users: []User{{Name: "u", PasswordHash: "plain"}}},
		"user named central": {Listen: "127.0.0.1:0", Central: login, Gateways: fakeGateways{}, Users: []User{{Name: "c", PasswordHash: mustHash(t, "x")}}},
	} {
		if b, err := Listen(cfg); err == nil {
			b.Close()
			t.Errorf("%s: Listen succeeded", name)
		}
	}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := HashPassword(pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestEmbeddedBrokerClientCertificate: on a TLS listener with client CAs
// a gateway logs in with its certificate (CN = gateway id) and gets its
// site's rules; central's own clients use the loopback listener.
func TestEmbeddedBrokerClientCertificate(t *testing.T) {
	pki := newPKI(t)
	w := newWorld(t, func(c *Config) {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pki.server},
			ClientCAs: pki.pool, ClientAuth: tls.VerifyClientCertIfGiven}
	})
	if !strings.HasPrefix(w.b.URL(), "ssl://") || !strings.HasPrefix(w.b.LocalURL(), "tcp://127.0.0.1:") {
		t.Fatalf("URL %s, LocalURL %s", w.b.URL(), w.b.LocalURL())
	}
	central := connect(t, w.b.LocalURL(), "central", w.central.Username, w.central.Password)
	batches := subscribeOK(t, central, "$share/central/parkgrid/v1/+/up/#")
	if _, err := tryConnect(w.b.LocalURL(), "x", "gw-a", w.password("gw-a"), nil); err == nil {
		t.Error("a gateway logged in on central's local listener")
	}
	withCert := func(cert tls.Certificate) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pki.pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}})
		}
	}
	gw, err := tryConnect(w.b.URL(), "gw-a", "", "", withCert(pki.client("gw-a")))
	if err != nil {
		t.Fatalf("gateway with its certificate: %v", err)
	}
	defer gw.Disconnect(50)
	publishOK(t, gw, "parkgrid/v1/site-b/up/batch", 0, "forbidden")
	publishOK(t, gw, "parkgrid/v1/site-a/up/batch", 1, "allowed")
	if m := next(t, batches); m.topic != "parkgrid/v1/site-a/up/batch" {
		t.Errorf("got %+v", m)
	}
	for name, mod := range map[string]func(*paho.ClientOptions){
		"no certificate, no password": func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pki.pool, ServerName: "localhost"})
		},
		"certificate of an unknown gateway": withCert(pki.client("gw-x")),
		"certificate of a revoked gateway":  withCert(pki.client("gw-revoked")),
	} {
		if c, err := tryConnect(w.b.URL(), "c-"+strings.ReplaceAll(name, " ", "-"), "", "", mod); err == nil {
			c.Disconnect(50)
			t.Errorf("%s: connected", name)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		p, f string
		want bool
	}{
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"a/#", "a/#", true}, {"a/+", "a/b", true},
		{"a/+", "a/+", true}, {"a/+", "a/#", false}, {"a/+", "a/b/c", false}, {"a/b", "a/+", false},
		{"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true},
		{"a/b", "a/b", true}, {"a/b", "a/c", false}, {"a/b", "a", false}, {"a", "a/b", false},
		{"p/+/up/#", "p/s1/up/batch", true}, {"p/+/up/#", "p/+/up/#", true}, {"p/s1/up/#", "p/+/up/#", false},
	} {
		if got := Covers(strings.Split(tc.p, "/"), strings.Split(tc.f, "/")); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.p, tc.f, got, tc.want)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h := mustHash(t, "s3cret")
	p, err := parseHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if !p.verify("s3cret") || p.verify("s3cret ") || p.verify("") {
		t.Error("verify gives wrong answers")
	}
	for _, bad := range []string{"", "s3cret", "$6$x$y", "$7$0$AAAA$AAAA", "$7$101$!!$AAAA", "$7$9999999$AAAA$" + strings.Repeat("A", 88)} {
		if CheckHash(bad) == nil {
			t.Errorf("CheckHash(%q) accepted", bad)
		}
	}
}

func TestRefusalLogIsBounded(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	h := &captureHandler{mu: &mu, lines: &lines}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := newRefusalLog(slogNew(h), func() time.Time { return now })
	for range 1000 {
		r.refuse("login refused")
	}
	now = now.Add(time.Minute)
	r.refuse("login refused")
	mu.Lock()
	defer mu.Unlock()
	if n := len(lines); n != refusalsPerMinute+2 {
		t.Errorf("%d log lines for 1001 refusals, want %d", n, refusalsPerMinute+2)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "not logged") }) {
		t.Error("no summary of the refusals not logged")
	}
}

// TestClosingBrokerRefusesLogins: once Close begins, a login is refused,
// so a client connecting during Close cannot keep it waiting.
func TestClosingBrokerRefusesLogins(t *testing.T) {
	w := newWorld(t, nil)
	url := "tcp://" + w.b.Addr()
	c := connect(t, url, "gw-a", "gw-a", w.password("gw-a"))
	c.Disconnect(0)
	w.b.auth.closing.Store(true)
	if c, err := tryConnect(url, "gw-a", "gw-a", w.password("gw-a"), nil); err == nil {
		c.Disconnect(0)
		t.Fatal("a gateway logged in while the broker was closing")
	}
	done := make(chan error, 1)
	go func() { done <- w.b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}
