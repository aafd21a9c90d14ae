// Package config reads and checks central's YAML configuration before
// anything starts. Every error names the file, the field and the value.
//
//	store:                       # where batches, readings and keys live
//	  driver: sqlite             # sqlite | postgres
//	  path: /var/lib/parkgrid/central.db   # sqlite (relative: to the working directory)
//	  dsn: postgres://…          # postgres; ${VAR} is expanded
//	mqtt:
//	  broker: ""                 # tcp://host:1883 of the (clustered) broker; empty: embedded broker
//	  listen: 127.0.0.1:1884     # the embedded broker's address (loopback only)
//	  client_id: central-1       # stable per replica
//	  share_group: central       # MQTT shared subscription of this central's replicas
//	  username: ""
//	  password: ""               # ${VAR} is expanded
//	ingest:
//	  max_group: 256             # batches per transaction
//	  linger: 5ms                # how long a group waits to fill
//	  workers: 0                 # verifiers; 0: one per CPU
//	gateways:                    # enrolled edge gateways
//	  - id: gw-1
//	    site: site-a
//	    pubkey: <64 hex digits, Ed25519>
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
//	  listen: 127.0.0.1:8081     # /metrics and /api/v1/ingest/stats
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
}

// Embedded reports whether central runs its own broker.
func (m MQTT) Embedded() bool { return m.Broker == "" }

// Ingest tunes group commit.
type Ingest struct {
	MaxGroup int           `yaml:"max_group"`
	Linger   time.Duration `yaml:"linger"`
	Workers  int           `yaml:"workers"`
}

// Gateway is an enrolled edge gateway and the meters enrolled with it.
type Gateway struct {
	ID     string         `yaml:"id"`
	Site   string         `yaml:"site"`
	PubKey string         `yaml:"pubkey"`
	Meters []GatewayMeter `yaml:"meters"`
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
		if err := checkLoopback(c.MQTT.Listen); err != nil {
			bad("mqtt.listen %q: %v", c.MQTT.Listen, err)
		}
	} else {
		u, err := url.Parse(c.MQTT.Broker)
		if err != nil || u.Host == "" || !oneOf(u.Scheme, "tcp", "mqtt", "ssl", "tls", "ws", "wss") {
			bad("mqtt.broker %q: want tcp://host:port (or ssl://, ws://), or empty for the embedded broker", c.MQTT.Broker)
		}
	}
	if c.Ingest.MaxGroup < 0 || c.Ingest.Linger < 0 || c.Ingest.Workers < 0 {
		bad("ingest: max_group %d, linger %s, workers %d: must not be negative", c.Ingest.MaxGroup, c.Ingest.Linger, c.Ingest.Workers)
	}

	gws := make(map[string]bool)
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
		return errors.New("the embedded broker allows every client, so it listens on loopback only; set mqtt.broker for anything else")
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
