// Package config reads and checks central's YAML configuration before
// anything starts. Every error names the file, the field and the value.
//
//	store:                       # where batches, readings and keys live
//	  driver: sqlite             # sqlite | postgres
//	  path: /var/lib/parkgrid/central.db   # sqlite (relative: to the working directory)
//	  dsn: postgres://…          # postgres; ${VAR} is expanded
//	mqtt:
//	  broker: ""                 # tcp://host:1883 or ssl://host:8883 of the (clustered) broker; empty: embedded broker
//	  client_id: central-1       # stable per replica
//	  share_group: central       # MQTT shared subscription of this central's replicas
//	  username: ""               # central's login at the external broker
//	  password: ""               # ${VAR} is expanded; or:
//	  password_file: ""          # first line is the password (relative to this file)
//	  tls: {ca: …, cert: …, key: …, server_name: …}   # TLS to the external broker (relative to this file)
//	  # The embedded broker (broker empty) authenticates everyone: central
//	  # itself, gateways (password derived from their key, or a client
//	  # certificate with CN = gateway id) and the users below; see
//	  # central/broker for the ACL.
//	  listen: 127.0.0.1:1884     # loopback only, unless listen_tls is set
//	  listen_tls: {cert: …, key: …, client_ca: …}   # client_ca: gateways may log in with a certificate
//	  users:                     # further logins of the embedded broker, e.g. a site's EMS
//	    - name: ems-site-a
//	      password_hash: $7$…    # mosquitto_passwd format (Mosquitto 2)
//	      publish: [parkgrid/v1/site-a/ems/limit/set]
//	      subscribe: [parkgrid/v1/site-a/ems/#]
//	  limits: {max_packet_bytes: 0, max_clients: 0, max_inflight: 0, session_expiry: 1h}   # 0: central/broker's defaults
//	ingest:
//	  max_group: 256             # batches per transaction
//	  linger: 5ms                # how long a group waits to fill
//	  workers: 0                 # verifiers; 0: one per CPU
//	  queue_mib: 256             # messages received but not yet committed, in MiB
//	  rejections: {keep: 720h, max_mib: 1024}   # the rejection log's retention
//	gateways:                    # enrolled edge gateways; a gateway removed from this list is revoked at start
//	  - id: gw-1
//	    site: site-a
//	    pubkey: <64 hex digits, Ed25519>   # a new key here is a rotation: the old one stays in the key history
//	    revoked_keys: [<64 hex digits>]    # old keys that must never verify again (compromised)
//	    meters:                  # meter keys that come with the gateway's enrolment
//	      - device: meter-1
//	        pubkey: <hex DER SubjectPublicKeyInfo, as the meter publishes it>
//	meters:                      # further meter keys
//	  - site: site-a
//	    device: meter-2
//	    pubkey: …
//	influx:                      # optional copy of readings to InfluxDB
//	  url: http://127.0.0.1:8086
//	  org: ""
//	  bucket: parkgrid/autogen   # InfluxDB 1.8: database/retention-policy
//	  token: ""                  # 1.8: user:password; ${VAR} is expanded
//	http:
//	  listen: 127.0.0.1:8081     # /metrics, /api/v1/ingest/stats, /api/v1/ingest/gateways
//	central_key: central-key/gateway.key   # central's own Ed25519 private key (`parkgrid keygen --out central-key`;
//	                           # relative to this file; this is the default): it signs acks and commands, and the
//	                           # edges enrol its public key (uplink.central_key); central does not start without it
package config

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is central's configuration.
type Config struct {
	Store    Store     `yaml:"store"`
	MQTT     MQTT      `yaml:"mqtt"`
	Ingest   Ingest    `yaml:"ingest"`
	Gateways []Gateway `yaml:"gateways"`
	Meters   []Meter   `yaml:"meters"`
	Influx   *Influx   `yaml:"influx"`
	HTTP     HTTP      `yaml:"http"`
	// CentralKey is the file of central's Ed25519 private key, which signs
	// every ack and command (edge/reading); default DefaultCentralKey.
	CentralKey string `yaml:"central_key"`
	// Billing (billing.go): operators seeded into the catalog, the payment
	// provider, the REST API.
	Operators []Operator `yaml:"operators"`
	Payment   Payment    `yaml:"payment"`
	API       API        `yaml:"api"`
	// Mail and Jobs (mail.go): receipts by e-mail, the periodic jobs.
	Mail *Mail `yaml:"mail"`
	Jobs Jobs  `yaml:"jobs"`
	// Web (web.go): the driver app and the operator dashboard.
	Web *Web `yaml:"web"`
}

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Store selects the store.
type Store struct {
	Driver string `yaml:"driver"`
	Path   string `yaml:"path"`
	DSN    string `yaml:"dsn"`
}

// MQTT is the broker connection, or the embedded broker.
type MQTT struct {
	Broker   string `yaml:"broker"`
	Listen   string `yaml:"listen"`
	ClientID string `yaml:"client_id"`
	// ShareGroup names the MQTT shared subscription the replicas of one
	// central share ($share/<group>/parkgrid/v1/+/up/batch); two centrals
	// on one broker with different groups each get every batch.
	ShareGroup string `yaml:"share_group"`
	Username   string `yaml:"username"`
	Password   string `yaml:"password"`
	// PasswordFile holds the password instead (first line, relative to the
	// config file, not readable by group or others); Load reads it.
	PasswordFile string     `yaml:"password_file"`
	TLS          *ClientTLS `yaml:"tls"` // to the external broker

	// The embedded broker's settings (Broker empty).
	ListenTLS *ServerTLS   `yaml:"listen_tls"`
	Users     []MQTTUser   `yaml:"users"`
	Limits    BrokerLimits `yaml:"limits"`
}

// ClientTLS are central's TLS files for the external broker (relative to
// the config file): CA alone verifies the broker; Cert and Key add a client
// certificate.
type ClientTLS struct {
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

// ServerTLS is the embedded broker's TLS (relative to the config file).
// With ClientCA, gateways may log in with a certificate whose CN is their
// id.
type ServerTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// MQTTUser is a further login of the embedded broker.
type MQTTUser struct {
	Name         string   `yaml:"name"`
	PasswordHash string   `yaml:"password_hash"` // $7$ (mosquitto_passwd)
	Publish      []string `yaml:"publish"`       // topic filters it may publish on
	Subscribe    []string `yaml:"subscribe"`     // topic filters it may subscribe to
}

// BrokerLimits bound the embedded broker (0: central/broker's defaults).
type BrokerLimits struct {
	MaxPacketBytes uint32        `yaml:"max_packet_bytes"`
	MaxClients     int64         `yaml:"max_clients"`
	MaxInflight    uint16        `yaml:"max_inflight"`
	SessionExpiry  time.Duration `yaml:"session_expiry"`
}

// Embedded reports whether central runs its own broker.
func (m MQTT) Embedded() bool { return m.Broker == "" }

// Ingest tunes group commit and bounds what ingest holds.
type Ingest struct {
	MaxGroup   int           `yaml:"max_group"`
	Linger     time.Duration `yaml:"linger"`
	Workers    int           `yaml:"workers"`
	QueueMiB   int           `yaml:"queue_mib"` // messages received, not yet committed; default 256
	Rejections Retention     `yaml:"rejections"`
}

// Retention bounds the rejection log: rows older than Keep and the oldest
// rows beyond MaxMiB of stored messages are deleted.
type Retention struct {
	Keep   time.Duration `yaml:"keep"`    // default 720h (30 days)
	MaxMiB int           `yaml:"max_mib"` // default 1024
}

// Gateway is an enrolled edge gateway and the meters enrolled with it.
type Gateway struct {
	ID     string `yaml:"id"`
	Site   string `yaml:"site"`
	PubKey string `yaml:"pubkey"`
	// RevokedKeys are earlier keys of the gateway that must never verify
	// again, not even for batches signed before the rotation (hex).
	RevokedKeys []string       `yaml:"revoked_keys"`
	Meters      []GatewayMeter `yaml:"meters"`
}

// RevokedPublicKeys decodes RevokedKeys (valid after Load).
func (g Gateway) RevokedPublicKeys() []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, 0, len(g.RevokedKeys))
	for _, k := range g.RevokedKeys {
		b, _ := hex.DecodeString(k)
		out = append(out, b)
	}
	return out
}

// PublicKey decodes PubKey (valid after Load).
func (g Gateway) PublicKey() ed25519.PublicKey {
	b, _ := hex.DecodeString(g.PubKey)
	return b
}

// GatewayMeter is a meter key enrolled with its gateway's site.
type GatewayMeter struct {
	Device string `yaml:"device"`
	PubKey string `yaml:"pubkey"`
}

// Meter is a meter key of a site.
type Meter struct {
	Site   string `yaml:"site"`
	Device string `yaml:"device"`
	PubKey string `yaml:"pubkey"`
}

// Influx is the optional InfluxDB copy.
type Influx struct {
	URL    string `yaml:"url"`
	Org    string `yaml:"org"`
	Bucket string `yaml:"bucket"`
	Token  string `yaml:"token"`
}

// HTTP is the metrics and stats listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Defaults.
const (
	DefaultEmbeddedListen = "127.0.0.1:1884" // not 1883, which a local Mosquitto may hold
	DefaultHTTPListen     = "127.0.0.1:8081"
	DefaultClientID       = "parkgrid-central"
	DefaultShareGroup     = "central"
	// DefaultCentralKey is central's key file, relative to the config file
	// (`parkgrid keygen --out central-key` makes it).
	DefaultCentralKey     = "central-key/gateway.key"
	DefaultQueueMiB       = 256
	DefaultRejectionsKeep = 30 * 24 * time.Hour
	DefaultRejectionsMiB  = 1024
	// DefaultEmbeddedUsername is central's own login at its embedded broker.
	DefaultEmbeddedUsername = "parkgrid-central"
)

// Load reads, expands and checks the file at path.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, raw)
}

// Parse checks raw as the content of the file named name.
func Parse(name string, raw []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.Store.DSN = os.ExpandEnv(c.Store.DSN)
	c.MQTT.Password = os.ExpandEnv(c.MQTT.Password)
	if c.Influx != nil {
		c.Influx.Token = os.ExpandEnv(c.Influx.Token)
	}
	if c.MQTT.Embedded() && c.MQTT.Listen == "" {
		c.MQTT.Listen = DefaultEmbeddedListen
	}
	if c.MQTT.ClientID == "" {
		c.MQTT.ClientID = DefaultClientID
	}
	if c.MQTT.ShareGroup == "" {
		c.MQTT.ShareGroup = DefaultShareGroup
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultHTTPListen
	}
	if c.Ingest.QueueMiB == 0 {
		c.Ingest.QueueMiB = DefaultQueueMiB
	}
	if c.Ingest.Rejections.Keep == 0 {
		c.Ingest.Rejections.Keep = DefaultRejectionsKeep
	}
	if c.Ingest.Rejections.MaxMiB == 0 {
		c.Ingest.Rejections.MaxMiB = DefaultRejectionsMiB
	}
	c.resolve(filepath.Dir(name))
	c.resolveBilling(filepath.Dir(name))
	c.resolveMail(filepath.Dir(name))
	c.resolveWeb(filepath.Dir(name))
	if c.CentralKey == "" {
		c.CentralKey = DefaultCentralKey
	}
	if !filepath.IsAbs(c.CentralKey) {
		c.CentralKey = filepath.Join(filepath.Dir(name), c.CentralKey)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch c.Store.Driver {
	case DriverSQLite:
		if c.Store.Path == "" {
			bad("store.path: required for driver sqlite")
		}
		if c.Store.DSN != "" {
			bad("store.dsn %q: only for driver postgres", redact(c.Store.DSN))
		}
	case DriverPostgres:
		if !strings.HasPrefix(c.Store.DSN, "postgres://") && !strings.HasPrefix(c.Store.DSN, "postgresql://") {
			bad("store.dsn %q: want postgres://user@host:port/db", redact(c.Store.DSN))
		}
		if c.Store.Path != "" {
			bad("store.path %q: only for driver sqlite", c.Store.Path)
		}
	default:
		bad("store.driver %q: want sqlite or postgres", c.Store.Driver)
	}
	if strings.ContainsAny(c.MQTT.ShareGroup, "/+#$ ") {
		bad("mqtt.share_group %q: a share group may not contain '/', '+', '#', '$' or spaces", c.MQTT.ShareGroup)
	}

	if c.MQTT.Embedded() {
		if c.MQTT.ListenTLS == nil {
			if err := checkLoopback(c.MQTT.Listen); err != nil {
				bad("mqtt.listen %q: %v", c.MQTT.Listen, err)
			}
		} else if _, _, err := net.SplitHostPort(c.MQTT.Listen); err != nil {
			bad("mqtt.listen %q: want host:port", c.MQTT.Listen)
		}
	} else {
		u, err := url.Parse(c.MQTT.Broker)
		if err != nil || u.Host == "" || !oneOf(u.Scheme, "tcp", "mqtt", "ssl", "tls", "ws", "wss") {
			bad("mqtt.broker %q: want tcp://host:port (or ssl://, ws://), or empty for the embedded broker", redact(c.MQTT.Broker))
		}
	}
	if c.Ingest.MaxGroup < 0 || c.Ingest.Linger < 0 || c.Ingest.Workers < 0 {
		bad("ingest: max_group %d, linger %s, workers %d: must not be negative", c.Ingest.MaxGroup, c.Ingest.Linger, c.Ingest.Workers)
	}
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, c.validateBilling()...)
	errs = append(errs, c.validateMail()...)
	errs = append(errs, c.validateWeb()...)

	gws := make(map[string]bool)
	keys := make(map[string]string)      // gateway pubkey → where
	meters := make(map[[2]string]string) // (site, device) → where
	addMeter := func(site, device, key, where string) {
		if device == "" {
			bad("%s.device: required", where)
		}
		if err := checkMeterKey(key); err != nil {
			bad("%s.pubkey %q: %v", where, abbrev(key), err)
		}
		k := [2]string{site, device}
		if prev, ok := meters[k]; ok && device != "" {
			bad("%s: meter %s/%s already has a key at %s", where, site, device, prev)
		}
		meters[k] = where
	}
	for i, g := range c.Gateways {
		where := fmt.Sprintf("gateways[%d]", i)
		if g.ID == "" {
			bad("%s.id: required", where)
		} else if gws[g.ID] {
			bad("%s.id %q: enrolled twice", where, g.ID)
		}
		gws[g.ID] = true
		if err := checkName(g.Site); err != nil {
			bad("%s.site %q: %v", where, g.Site, err)
		}
		if b, err := hex.DecodeString(g.PubKey); err != nil || len(b) != ed25519.PublicKeySize {
			bad("%s.pubkey %q: want %d hex digits (an Ed25519 public key)", where, abbrev(g.PubKey), 2*ed25519.PublicKeySize)
		} else if prev, ok := keys[g.PubKey]; ok {
			bad("%s.pubkey %q: the same key as %s; every gateway needs its own key", where, abbrev(g.PubKey), prev)
		} else {
			keys[g.PubKey] = where + ".pubkey"
		}
		for j, k := range g.RevokedKeys {
			kw := fmt.Sprintf("%s.revoked_keys[%d]", where, j)
			if b, err := hex.DecodeString(k); err != nil || len(b) != ed25519.PublicKeySize {
				bad("%s %q: want %d hex digits", kw, abbrev(k), 2*ed25519.PublicKeySize)
			} else if k == g.PubKey {
				bad("%s: the gateway's current key cannot be revoked; enrol a new pubkey", kw)
			}
		}
		for j, m := range g.Meters {
			addMeter(g.Site, m.Device, m.PubKey, fmt.Sprintf("%s.meters[%d]", where, j))
		}
	}
	for i, m := range c.Meters {
		where := fmt.Sprintf("meters[%d]", i)
		if err := checkName(m.Site); err != nil {
			bad("%s.site %q: %v", where, m.Site, err)
		}
		addMeter(m.Site, m.Device, m.PubKey, where)
	}

	if c.Influx != nil {
		u, err := url.Parse(c.Influx.URL)
		if err != nil || u.Host == "" || !oneOf(u.Scheme, "http", "https") {
			bad("influx.url %q: want http(s)://host:port", c.Influx.URL)
		}
		if c.Influx.Bucket == "" {
			bad("influx.bucket: required (InfluxDB 1.8: database/retention-policy)")
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen %q: want host:port", c.HTTP.Listen)
	}
	return errors.Join(errs...)
}

// checkName accepts a site name usable as one MQTT topic level.
func checkName(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if strings.ContainsAny(s, "/+#$ \t") {
		return errors.New("must not contain '/', '+', '#', '$' or spaces (it is an MQTT topic level)")
	}
	return nil
}

// checkMeterKey accepts what meters publish: hex DER (spaces or colons
// allowed), base64 or PEM. Parsing it for the curve happens at verify time.
func checkMeterKey(s string) error {
	t := strings.TrimSpace(s)
	if t == "" {
		return errors.New("required")
	}
	if strings.HasPrefix(t, "-----BEGIN") {
		return nil
	}
	h := strings.NewReplacer(" ", "", ":", "").Replace(t)
	if b, err := hex.DecodeString(h); err == nil && len(b) >= 32 {
		return nil
	}
	for _, ch := range t {
		if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", ch) {
			return errors.New("want hex DER, base64 or PEM")
		}
	}
	if len(t) < 40 {
		return errors.New("too short for a public key")
	}
	return nil
}

func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("without listen_tls the embedded broker listens on loopback only (passwords would cross the network in clear); set mqtt.listen_tls, or mqtt.broker for an external broker")
	}
	return nil
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

func abbrev(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// redact hides a DSN's password.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}
