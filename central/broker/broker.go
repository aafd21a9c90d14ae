// Package broker runs an embedded MQTT broker (github.com/mochi-mqtt/server)
// for a single-machine central: `make run`, demos and tests. It allows every
// client and topic, so it listens on loopback only.
//
// Production does not use it: edges and central replicas meet at an
// external, clustered broker (EMQX, VerneMQ, HiveMQ, Mosquitto …) with
// authentication, TLS and shared subscriptions, and central's mqtt.broker
// setting names it.
package broker

import (
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// DefaultListen is the embedded broker's address: not 1883, which a local
// Mosquitto may hold.
const DefaultListen = "127.0.0.1:1884"

// Broker is a running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// Start listens on listen (host:port; port 0 picks a free one), which must be
// a loopback address, and serves until Close.
func Start(listen string, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckListen(listen); err != nil {
		return nil, err
	}
	srv := mqtt.New(&mqtt.Options{
		Logger:       slog.New(quietHandler{log.Handler()}).With("component", "broker"),
		InlineClient: false,
	})
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
	b := &Broker{srv: srv, addr: l.Address()}
	log.Info("embedded MQTT broker listening", "addr", b.addr)
	return b, nil
}

// CheckListen refuses addresses that are not loopback: the embedded broker
// authenticates nobody.
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
		return fmt.Errorf("embedded broker listen %q: must be a loopback address (it allows every client); use an external broker for anything else", listen)
	}
	return nil
}

// Addr is the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the address as a broker URL for MQTT clients (tcp://host:port).
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker and its goroutines.
func (b *Broker) Close() error {
	if err := b.srv.Close(); err != nil {
		return fmt.Errorf("embedded broker: close: %w", err)
	}
	return nil
}

// allowAll lets every client connect and use every topic (mochi's
// auth.AllowHook, without the YAML ledger that package pulls in).
type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "allow-all" }

func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
