package config

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/parkgrid/parkgrid/central/broker"
)

// This file checks central's security settings: credentials and TLS of the
// broker connection, the embedded broker's TLS, users and limits, the
// PostgreSQL connection's TLS and the bounds of ingest.

// resolve makes the file paths of the security settings relative to dir
// (the config file's directory).
func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.MQTT.PasswordFile)
	if t := c.MQTT.TLS; t != nil {
		abs(&t.CA)
		abs(&t.Cert)
		abs(&t.Key)
	}
	if t := c.MQTT.ListenTLS; t != nil {
		abs(&t.Cert)
		abs(&t.Key)
		abs(&t.ClientCA)
	}
}

func (c *Config) validateSecurity() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	exists := func(field, path string) {
		if _, err := os.Stat(path); err != nil {
			bad("%s: %v", field, err)
		}
	}
	m := &c.MQTT

	if u, err := url.Parse(m.Broker); err == nil && u.User != nil {
		bad("mqtt.broker %q: credentials in the URL; use mqtt.username and password_file (URLs end up in logs)", redact(m.Broker))
	}
	if m.PasswordFile != "" {
		if m.Password != "" {
			bad("mqtt.password_file: set password or password_file, not both")
		} else if pw, err := readSecret(m.PasswordFile); err != nil {
			bad("mqtt.password_file: %v", err)
		} else {
			m.Password = pw
		}
	}
	if t := m.TLS; t != nil {
		if m.Embedded() {
			bad("mqtt.tls: only for an external broker (mqtt.broker); the embedded broker's TLS is mqtt.listen_tls")
		}
		if (t.Cert == "") != (t.Key == "") {
			bad("mqtt.tls: cert %q and key %q must be set together", t.Cert, t.Key)
		}
		for f, p := range map[string]string{"ca": t.CA, "cert": t.Cert, "key": t.Key} {
			if p != "" {
				exists("mqtt.tls."+f, p)
			}
		}
	}

	if !m.Embedded() && (m.ListenTLS != nil || len(m.Users) > 0) {
		bad("mqtt.listen_tls, mqtt.users: only for the embedded broker (mqtt.broker empty); an external broker has its own users and ACL")
	}
	if t := m.ListenTLS; t != nil {
		if t.Cert == "" || t.Key == "" {
			bad("mqtt.listen_tls: cert and key are required")
		}
		for f, p := range map[string]string{"cert": t.Cert, "key": t.Key, "client_ca": t.ClientCA} {
			if p != "" {
				exists("mqtt.listen_tls."+f, p)
			}
		}
	}
	gateways := map[string]bool{}
	for _, g := range c.Gateways {
		gateways[g.ID] = true
	}
	if gateways[DefaultEmbeddedUsername] {
		bad("gateways: id %q is central's own login at its broker", DefaultEmbeddedUsername)
	}
	users := map[string]bool{}
	for i, u := range m.Users {
		where := fmt.Sprintf("mqtt.users[%d]", i)
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t/+#"):
			bad("%s.name %q: want a login name without spaces or '/', '+', '#'", where, u.Name)
		case users[u.Name]:
			bad("%s.name %q: used twice", where, u.Name)
		case gateways[u.Name]:
			bad("%s.name %q: a gateway's id; gateways log in on their own", where, u.Name)
		case u.Name == DefaultEmbeddedUsername:
			bad("%s.name %q: central's own login", where, u.Name)
		}
		users[u.Name] = true
		if err := broker.CheckHash(u.PasswordHash); err != nil {
			bad("%s.password_hash: %v", where, err)
		}
		if len(u.Publish)+len(u.Subscribe) == 0 {
			bad("%s: no publish or subscribe rules: the user could do nothing", where)
		}
		for j, f := range u.Publish {
			if err := broker.CheckFilter(f); err != nil {
				bad("%s.publish[%d]: %v", where, j, err)
			}
		}
		for j, f := range u.Subscribe {
			if err := broker.CheckFilter(f); err != nil {
				bad("%s.subscribe[%d]: %v", where, j, err)
			}
		}
	}
	if m.Limits.SessionExpiry < 0 {
		bad("mqtt.limits.session_expiry %s: must not be negative", m.Limits.SessionExpiry)
	}
	if l := m.Limits.MaxPacketBytes; l != 0 && l < broker.DefaultMaxPacketBytes {
		bad("mqtt.limits.max_packet_bytes %d: below %d, the largest batch central accepts (edges would stall on it)", l, broker.DefaultMaxPacketBytes)
	}

	if c.Store.Driver == DriverPostgres {
		if err := checkSSLMode(c.Store.DSN); err != nil {
			bad("store.dsn %q: %v", redact(c.Store.DSN), err)
		}
	}
	if c.Ingest.QueueMiB < 1 {
		bad("ingest.queue_mib %d: must be >= 1", c.Ingest.QueueMiB)
	}
	if r := c.Ingest.Rejections; r.Keep < 0 || r.MaxMiB < 0 {
		bad("ingest.rejections: keep %s, max_mib %d: must not be negative", r.Keep, r.MaxMiB)
	}
	for i, g := range c.Gateways {
		if strings.HasPrefix(g.ID, "$") || strings.ContainsAny(g.ID, " \t/+#") {
			bad("gateways[%d].id %q: must not start with '$' or contain spaces, '/', '+', '#' (it is an MQTT login)", i, g.ID)
		}
	}
	return errs
}

// readSecret reads the first line of a file that group and others cannot
// read.
func readSecret(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable or writable by group or others (mode %04o; chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pw := strings.TrimRight(string(line), "\r")
	if pw == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return pw, nil
}

// checkSSLMode refuses a PostgreSQL connection to another machine that
// does not verify the server's certificate: sslmode disable, allow and
// prefer send the password and the meter data in clear (or to whoever
// answers), require does not check who answers.
func checkSSLMode(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil // reported elsewhere
	}
	hosts := strings.Split(u.Host, ",")
	if h := u.Query().Get("host"); h != "" {
		hosts = []string{h}
	}
	local := true
	for _, h := range hosts {
		host := h
		if hh, _, err := net.SplitHostPort(h); err == nil {
			host = hh
		}
		host = strings.Trim(host, "[]")
		ip := net.ParseIP(host)
		if !(host == "" || host == "localhost" || strings.HasPrefix(host, "/") || (ip != nil && ip.IsLoopback())) {
			local = false
		}
	}
	if local {
		return nil
	}
	switch mode := u.Query().Get("sslmode"); mode {
	case "verify-full", "verify-ca":
		return nil
	case "":
		return fmt.Errorf("no sslmode to a server on another machine: add sslmode=verify-full (and sslrootcert=…)")
	default:
		return fmt.Errorf("sslmode=%s to a server on another machine does not verify it: use sslmode=verify-full (and sslrootcert=…)", mode)
	}
}
