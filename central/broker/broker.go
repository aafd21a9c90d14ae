// Package broker runs central's embedded MQTT broker
// (github.com/mochi-mqtt/server): the broker of a single-machine central
// (`make run`, demos, small installations).
//
// # Who may do what
//
// Listen starts a broker that authenticates every client and enforces an
// ACL per identity (Rules); an anonymous client cannot connect:
//
//   - central itself logs in with a password made at start and never
//     written down (Config.Central); it alone publishes parkgrid/v1/+/down/#
//     and joins the share group $share/<group>/parkgrid/v1/+/up/#.
//   - a gateway logs in with its id as username and either the password
//     derived from its Ed25519 key (reading.MQTTPassword, checked against
//     the key central has enrolled, so nothing else is distributed and a
//     revoked key or gateway stops logging in) or, on a TLS listener with
//     client CAs, a client certificate whose CN is its id. It publishes
//     only parkgrid/v1/<its site>/{up/#,status,ems/#} and subscribes only to
//     parkgrid/v1/<its site>/{down/#,ems/limit/set}.
//   - further users (Config.Users: an EMS, monitoring) log in with a
//     password checked against a Mosquitto-compatible $7$ hash and get the
//     rules configured for them.
//
// Nobody may subscribe to '#' or $SYS. A client's will message must be a
// topic it may publish; a client id held by one identity cannot be taken
// over by another (which would steal its session).
//
// # Limits
//
// The broker bounds what a client can make it hold (Limits): the packet
// size (a 100 MB message is refused before it is read), clients, messages
// in flight per client, pending writes and how long an abandoned session
// is kept.
//
// Start is the old open broker, for tests and benchmarks of other
// packages only: every client may do everything, so it listens on
// loopback only.
package broker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// DefaultListen is the embedded broker's address: not 1883, which a local
// Mosquitto may hold.
const DefaultListen = "127.0.0.1:1884"

// Broker is a running embedded broker.
type Broker struct {
	srv   *mqtt.Server
	addr  string // the public listener
	local string // where central's own clients connect (the public listener, or a loopback one beside a TLS listener)
	tls   bool
	auth  *authHook // nil for Start's open broker

	closed atomic.Bool
}

// Login is a username and password.
type Login struct {
	Username string
	Password string
}

// User is a further login of the broker with its rules.
type User struct {
	Name         string
	PasswordHash string // $7$ (HashPassword, mosquitto_passwd)
	Rules        Rules
}

// GatewayLogin is what the broker needs to know of a gateway.
type GatewayLogin struct {
	Site string
	Keys []ed25519.PublicKey // keys whose derived password logs in: the enrolled, unrevoked ones
}

// ErrUnknownGateway is what Gateways returns for an id that may not log in
// (unknown, removed or revoked).
var ErrUnknownGateway = errors.New("unknown or revoked gateway")

// Gateways tells the broker about gateways; central's store answers.
type Gateways interface {
	GatewayLogin(ctx context.Context, id string) (GatewayLogin, error)
}

// Limits bound what clients can make the broker hold. Zero values take the
// defaults.
type Limits struct {
	MaxPacketBytes   uint32        // default reading.MaxBodyBytes*2 + 64 KiB (the largest batch central accepts)
	MaxClients       int64         // default 10000
	MaxInflight      uint16        // QoS 1 messages held per client; default 1024
	ReceiveMaximum   uint16        // unacknowledged QoS 1 messages a client may send; default 256
	MaxWritesPending int32         // messages queued for writing per client; default 1024
	SessionExpiry    time.Duration // how long a disconnected session is kept; default 1 h
}

// Defaults of Limits.
const (
	DefaultMaxPacketBytes   = reading.MaxBodyBytes*2 + 64<<10
	DefaultMaxClients       = 10000
	DefaultMaxInflight      = 1024
	DefaultReceiveMaximum   = 256
	DefaultMaxWritesPending = 1024
	DefaultSessionExpiry    = time.Hour
)

func (l *Limits) defaults() {
	if l.MaxPacketBytes == 0 {
		l.MaxPacketBytes = DefaultMaxPacketBytes
	}
	if l.MaxClients == 0 {
		l.MaxClients = DefaultMaxClients
	}
	if l.MaxInflight == 0 {
		l.MaxInflight = DefaultMaxInflight
	}
	if l.ReceiveMaximum == 0 {
		l.ReceiveMaximum = DefaultReceiveMaximum
	}
	if l.MaxWritesPending == 0 {
		l.MaxWritesPending = DefaultMaxWritesPending
	}
	if l.SessionExpiry <= 0 {
		l.SessionExpiry = DefaultSessionExpiry
	}
}

// Config configures Listen.
type Config struct {
	// Listen is host:port (port 0 picks one). Without TLS it must be a
	// loopback address: passwords would cross the network in clear.
	Listen string
	// TLS, when set, serves TLS on Listen. With ClientCAs (and ClientAuth
	// VerifyClientCertIfGiven or stronger) gateways may log in with a
	// certificate whose CN is their id.
	TLS *tls.Config

	Central    Login  // central's own clients (ingest); see NewCentralLogin
	ShareGroup string // central's share group; default "central"
	Gateways   Gateways
	Users      []User
	Limits     Limits

	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil: time.Now (paces the refusal log)
}

// NewCentralLogin makes central's login for its own broker: a random
// password that lives in memory only.
func NewCentralLogin(username string) (Login, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Login{}, fmt.Errorf("embedded broker: central password: %w", err)
	}
	return Login{Username: username, Password: hex.EncodeToString(b)}, nil
}

// Listen starts an authenticating broker and serves until Close.
func Listen(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ShareGroup == "" {
		cfg.ShareGroup = "central"
	}
	if cfg.TLS == nil {
		if err := CheckListen(cfg.Listen); err != nil {
			return nil, fmt.Errorf("%w (or give the embedded broker TLS)", err)
		}
	} else if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("embedded broker listen %q: %w", cfg.Listen, err)
	}
	if cfg.Central.Username == "" || len(cfg.Central.Password) < 16 {
		return nil, errors.New("embedded broker: central's login is missing (NewCentralLogin)")
	}
	if cfg.Gateways == nil {
		return nil, errors.New("embedded broker: Config.Gateways is nil")
	}
	users := make(map[string]userEntry, len(cfg.Users))
	for _, u := range cfg.Users {
		h, err := parseHash(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: user %q: %w", u.Name, err)
		}
		if u.Name == "" || u.Name == cfg.Central.Username {
			return nil, fmt.Errorf("embedded broker: user name %q is empty or central's", u.Name)
		}
		users[u.Name] = userEntry{hash: h, rules: u.Rules}
	}
	cfg.Limits.defaults()
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = cfg.Limits.MaxPacketBytes
	caps.MaximumClients = cfg.Limits.MaxClients
	caps.MaximumInflight = cfg.Limits.MaxInflight
	caps.ReceiveMaximum = cfg.Limits.ReceiveMaximum
	caps.MaximumClientWritesPending = cfg.Limits.MaxWritesPending
	caps.MaximumSessionExpiryInterval = uint32(cfg.Limits.SessionExpiry / time.Second)
	// MaximumMessageExpiryInterval stays mochi's day: it also removes
	// retained messages (the edges' online status) that old.
	caps.MaximumQos = 1 // parkgrid uses QoS 1 at most; QoS 2 state is not worth holding for anyone
	srv := mqtt.New(&mqtt.Options{
		// mochi logs every refused connection at warn level; the hook logs
		// refusals rate-limited, so mochi's own lines are kept to errors.
		Logger:       slog.New(minLevel{cfg.Logger.Handler(), slog.LevelError}).With("component", "broker"),
		Capabilities: caps,
		InlineClient: false,
	})
	h := &authHook{cfg: cfg, users: users, srv: srv, log: newRefusalLog(cfg.Logger, cfg.Now)}
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: auth hook: %w", err)
	}
	pub := listeners.NewTCP(listeners.Config{ID: "public", Address: cfg.Listen, TLSConfig: cfg.TLS})
	if err := srv.AddListener(pub); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", cfg.Listen, err)
	}
	b := &Broker{srv: srv, addr: pub.Address(), local: pub.Address(), tls: cfg.TLS != nil, auth: h}
	if cfg.TLS != nil {
		// Central's own clients reach the broker on loopback, without TLS.
		local := listeners.NewTCP(listeners.Config{ID: localListener, Address: "127.0.0.1:0"})
		if err := srv.AddListener(local); err != nil {
			_ = srv.Close()
			return nil, fmt.Errorf("embedded broker: local listener: %w", err)
		}
		b.local = local.Address()
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	cfg.Logger.Info("embedded MQTT broker listening", "addr", b.addr, "tls", b.tls, "users", len(users))
	return b, nil
}

// localListener is the id of the loopback listener beside a TLS one; only
// central's login is accepted there.
const localListener = "central-local"

// Start starts an open broker on a loopback address (port 0 picks a free
// one) that lets every client do everything: for tests and benchmarks of
// other packages, never for central (which uses Listen).
func Start(listen string, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckListen(listen); err != nil {
		return nil, err
	}
	srv := mqtt.New(&mqtt.Options{Logger: log.With("component", "broker"), InlineClient: false})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: auth hook: %w", err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: listen})
	if err := srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", listen, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	b := &Broker{srv: srv, addr: l.Address(), local: l.Address()}
	log.Warn("open MQTT broker listening (test only: no authentication)", "addr", b.addr)
	return b, nil
}

// CheckListen refuses addresses that are not loopback.
func CheckListen(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("embedded broker listen %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("embedded broker listen %q: must be a loopback address without TLS; use TLS or an external broker for anything else", listen)
	}
	return nil
}

// Addr is the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's URL for clients elsewhere: tcp://host:port, or
// ssl://host:port with TLS.
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.addr
	}
	return "tcp://" + b.addr
}

// LocalURL is where central's own clients connect (tcp on loopback).
func (b *Broker) LocalURL() string { return "tcp://" + b.local }

// Close stops the broker and its goroutines. Closing it again does
// nothing.
func (b *Broker) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	if b.auth != nil {
		b.auth.closing.Store(true)
	}
	if err := b.srv.Close(); err != nil {
		return fmt.Errorf("embedded broker: close: %w", err)
	}
	return nil
}

// allowAll lets every client connect and use every topic (Start only).
type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "allow-all" }

func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
