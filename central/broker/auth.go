package broker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// userEntry is a configured user, hash parsed.
type userEntry struct {
	hash  parsedHash
	rules Rules
}

// authHook authenticates every client and checks every publish, subscribe
// and delivery against the client's rules.
type authHook struct {
	mqtt.HookBase
	cfg   Config
	users map[string]userEntry
	srv   *mqtt.Server
	log   *refusalLog

	mu    sync.Mutex       // protects rules
	rules map[string]Rules // by identity (the username the hook set at login)

	// closing is set when Close begins: a client that logs in while mochi
	// closes its listeners would be attached after they dropped their
	// clients and keep Close waiting for ever, so it is refused.
	closing atomic.Bool
}

func (h *authHook) ID() string { return "parkgrid-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate decides who the client is; false refuses it.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	c := pk.Connect
	if h.closing.Load() {
		return false
	}
	name, rules, why := h.authenticate(cl, string(c.Username), string(c.Password))
	if why != "" {
		h.log.refuse("login refused", "user", bounded(string(c.Username)), "client", bounded(c.ClientIdentifier), "remote", cl.Net.Remote, "why", why)
		return false
	}
	if c.WillFlag && !rules.CanPublish(c.WillTopic) {
		h.log.refuse("login refused", "user", name, "client", bounded(c.ClientIdentifier), "remote", cl.Net.Remote, "why", "will topic not allowed: "+bounded(c.WillTopic))
		return false
	}
	if old, ok := h.srv.Clients.Get(c.ClientIdentifier); ok && string(old.Properties.Username) != name {
		h.log.refuse("login refused", "user", name, "client", bounded(c.ClientIdentifier), "remote", cl.Net.Remote, "why", "client id belongs to another identity")
		return false
	}
	cl.Properties.Username = []byte(name)
	h.mu.Lock()
	if h.rules == nil {
		h.rules = map[string]Rules{}
	}
	h.rules[name] = rules
	h.mu.Unlock()
	return true
}

// authenticate returns the identity and its rules, or why not.
func (h *authHook) authenticate(cl *mqtt.Client, user, pass string) (string, Rules, string) {
	if user == h.cfg.Central.Username && user != "" {
		if equalSecret(pass, h.cfg.Central.Password) {
			return user, CentralRules(h.cfg.ShareGroup), ""
		}
		return "", Rules{}, "bad password"
	}
	if cl.Net.Listener == localListener {
		return "", Rules{}, "the local listener is central's"
	}
	if u, ok := h.users[user]; ok {
		if pass != "" && u.hash.verify(pass) {
			return user, u.rules, ""
		}
		return "", Rules{}, "bad password"
	}
	if cn := clientCertCN(cl); cn != "" && (user == "" || user == cn) && pass == "" {
		site, why := h.gatewaySite(cn, func(GatewayLogin) bool { return true })
		return cn, GatewayRules(site), why
	}
	if user == "" {
		return "", Rules{}, "anonymous"
	}
	site, why := h.gatewaySite(user, func(g GatewayLogin) bool {
		for _, k := range g.Keys {
			if reading.VerifyMQTTPassword(k, user, pass) {
				return true
			}
		}
		return false
	})
	return user, GatewayRules(site), why
}

// gatewaySite looks the gateway up and checks its credential.
func (h *authHook) gatewaySite(id string, ok func(GatewayLogin) bool) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := h.cfg.Gateways.GatewayLogin(ctx, id)
	if err != nil {
		return "", "gateway: " + err.Error()
	}
	if g.Site == "" || !ok(g) {
		return "", "bad credentials for gateway"
	}
	return g.Site, ""
}

// clientCertCN is the CN of the client's verified certificate, "" without.
func clientCertCN(cl *mqtt.Client) string {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.CommonName
}

// OnACLCheck allows what the client's identity's rules allow.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	name := string(cl.Properties.Username)
	h.mu.Lock()
	r, ok := h.rules[name]
	h.mu.Unlock()
	if !ok {
		return false
	}
	if write {
		if r.CanPublish(topic) {
			return true
		}
		h.log.refuse("publish refused", "user", name, "topic", bounded(topic))
		return false
	}
	if r.CanSubscribe(topic) {
		return true
	}
	h.log.refuse("subscribe refused", "user", name, "filter", bounded(topic))
	return false
}

// equalSecret compares two secrets in constant time.
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// bounded keeps outside text short in logs.
func bounded(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// refusalLog logs refusals at most 20 times a minute, then once how many
// were not logged: a client hammering the broker cannot flood the log.
type refusalLog struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex // protects the fields below
	window     time.Time
	n          int
	suppressed int
}

const refusalsPerMinute = 20

func newRefusalLog(log *slog.Logger, now func() time.Time) *refusalLog {
	return &refusalLog{log: log, now: now}
}

func (r *refusalLog) refuse(msg string, args ...any) {
	now := r.now()
	r.mu.Lock()
	if now.Sub(r.window) >= time.Minute || now.Before(r.window) {
		if r.suppressed > 0 {
			r.log.Warn("embedded broker: refusals not logged", "count", r.suppressed)
		}
		r.window, r.n, r.suppressed = now, 0, 0
	}
	r.n++
	if r.n > refusalsPerMinute {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.log.Warn("embedded broker: "+msg, args...)
}

// minLevel drops records below level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
