package central

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/parkgrid/parkgrid/central/broker"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/store"
)

// This file wires central's trust settings: the enrolment of gateways and
// meter keys from the config (with revocation of what the config no longer
// lists), the embedded broker's authentication, TLS to an external broker
// and the rejection log's retention.

// enrol makes the store's enrolments what the config says: every listed
// gateway enrolled with its key (a new key is a rotation; the old one stays
// in the history), its revoked_keys revoked, every gateway the config no
// longer lists revoked, and every meter key set. Each change is in the
// store's audit log.
func enrol(ctx context.Context, st store.Store, cfg *centralconfig.Config, log *slog.Logger) error {
	listed := map[string]bool{}
	for _, g := range cfg.Gateways {
		listed[g.ID] = true
		if err := st.EnrollGateway(ctx, store.Gateway{ID: g.ID, Site: g.Site, PublicKey: g.PublicKey()}); err != nil {
			return fmt.Errorf("config gateways: %w", err)
		}
		for _, k := range g.RevokedPublicKeys() {
			if err := st.RevokeGatewayKey(ctx, g.ID, k, "config", "listed in revoked_keys"); err != nil {
				return fmt.Errorf("config gateways %q revoked_keys: %w", g.ID, err)
			}
		}
		for _, m := range g.Meters {
			if err := st.SetMeterKey(ctx, store.MeterKey{Site: g.Site, Device: m.Device, PublicKey: m.PubKey}); err != nil {
				return fmt.Errorf("config gateway %q meter %q: %w", g.ID, m.Device, err)
			}
		}
	}
	for _, m := range cfg.Meters {
		if err := st.SetMeterKey(ctx, store.MeterKey{Site: m.Site, Device: m.Device, PublicKey: m.PubKey}); err != nil {
			return fmt.Errorf("config meter %s/%s: %w", m.Site, m.Device, err)
		}
	}
	ids, err := st.GatewayIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if listed[id] {
			continue
		}
		g, err := st.Gateway(ctx, id)
		if err != nil {
			return err
		}
		if g.Revoked() {
			continue
		}
		if err := st.RevokeGateway(ctx, id, "config", "no longer in the central config"); err != nil {
			return err
		}
		log.Warn("gateway revoked: it is no longer in the config; its batches and broker logins are refused from now on", "gateway", id, "site", g.Site)
	}
	return nil
}

// gatewayLogins answers the embedded broker from the store.
type gatewayLogins struct{ st store.Store }

var _ broker.Gateways = gatewayLogins{}

// GatewayLogin implements broker.Gateways: an enrolled, unrevoked gateway
// logs in with any of its unrevoked keys.
func (g gatewayLogins) GatewayLogin(ctx context.Context, id string) (broker.GatewayLogin, error) {
	gw, err := g.st.Gateway(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return broker.GatewayLogin{}, fmt.Errorf("gateway %q: %w", id, broker.ErrUnknownGateway)
	}
	if err != nil {
		return broker.GatewayLogin{}, err
	}
	keys := gw.VerifyingKeys()
	if gw.Revoked() || len(keys) == 0 {
		return broker.GatewayLogin{}, fmt.Errorf("gateway %q: %w", id, broker.ErrUnknownGateway)
	}
	out := broker.GatewayLogin{Site: gw.Site}
	for _, k := range keys {
		out.Keys = append(out.Keys, ed25519.PublicKey(k.PublicKey))
	}
	return out, nil
}

// embeddedBroker starts the embedded broker with central's own login, the
// gateways of the store and the config's users, TLS and limits.
func embeddedBroker(cfg *centralconfig.Config, st store.Store, log *slog.Logger) (*broker.Broker, broker.Login, error) {
	m := cfg.MQTT
	username := m.Username
	if username == "" {
		username = centralconfig.DefaultEmbeddedUsername
	}
	login, err := broker.NewCentralLogin(username)
	if err != nil {
		return nil, broker.Login{}, err
	}
	bc := broker.Config{
		Listen: m.Listen, Central: login, ShareGroup: m.ShareGroup, Gateways: gatewayLogins{st},
		Limits: broker.Limits{MaxPacketBytes: m.Limits.MaxPacketBytes, MaxClients: m.Limits.MaxClients,
			MaxInflight: m.Limits.MaxInflight, SessionExpiry: m.Limits.SessionExpiry},
		Logger: log,
	}
	for _, u := range m.Users {
		bc.Users = append(bc.Users, broker.User{Name: u.Name, PasswordHash: u.PasswordHash,
			Rules: broker.Rules{Publish: slices.Clone(u.Publish), Subscribe: slices.Clone(u.Subscribe)}})
	}
	if t := m.ListenTLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, broker.Login{}, fmt.Errorf("mqtt.listen_tls: %w", err)
		}
		bc.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if t.ClientCA != "" {
			pool, err := certPool(t.ClientCA)
			if err != nil {
				return nil, broker.Login{}, fmt.Errorf("mqtt.listen_tls.client_ca: %w", err)
			}
			bc.TLS.ClientCAs, bc.TLS.ClientAuth = pool, tls.VerifyClientCertIfGiven
		}
	}
	b, err := broker.Listen(bc)
	return b, login, err
}

// externalTLS is central's TLS to an external broker; nil without a tls
// block (the scheme may still ask for TLS with the system roots).
func externalTLS(t *centralconfig.ClientTLS) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pool, err := certPool(t.CA)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.ca: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func certPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// pruneEvery is how often the rejection log's retention is applied.
const pruneEvery = time.Minute

// pruneRejections applies the rejection log's retention now and every
// pruneEvery until ctx ends.
func pruneRejections(ctx context.Context, st store.Store, r centralconfig.Retention, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		var before time.Time
		if r.Keep > 0 {
			before = now().Add(-r.Keep)
		}
		if n, err := st.PruneRejections(ctx, before, int64(r.MaxMiB)<<20); err != nil && ctx.Err() == nil {
			log.Warn("rejection log retention failed; trying again", "err", err)
		} else if n > 0 {
			log.Info("rejection log pruned", "deleted", n, "keep", r.Keep, "max_mib", r.MaxMiB)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
