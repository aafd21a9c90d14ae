package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/parkgrid/parkgrid/edge/emsapi/token"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// This file checks the site file's security settings: the REST API's
// authentication and TLS, and the MQTT connections' credentials and TLS.

// resolvePath makes p relative to the site file's directory.
func (v *validator) resolvePath(p *string) {
	if *p != "" && !filepath.IsAbs(*p) {
		*p = filepath.Join(filepath.Dir(v.site.Path), *p)
	}
}

// redactURL hides a URL's userinfo for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < i {
				return raw[:j+3] + "…@" + raw[i+1:]
			}
		}
		return raw
	}
	u.User = nil
	return strings.Replace(u.String(), "://", "://…@", 1)
}

// noCredentialsInURL refuses a broker URL with user:password@: URLs are
// logged and shown, credentials are not.
func (v *validator) noCredentialsInURL(path, what, raw string) bool {
	u, err := url.Parse(raw)
	if (err == nil && u.User != nil) || (err != nil && strings.Contains(raw, "@")) {
		v.errf(path, "%s: broker %q carries credentials in the URL; put them in username and password_file instead (URLs end up in logs)", what, redactURL(raw))
		return false
	}
	return true
}

// secret reads *file into *password when set (resolving it first). The
// file must not be readable by group or others; its first line is the
// password.
func (v *validator) secret(prefix, what string, password, file *string) {
	if *file == "" {
		return
	}
	if *password != "" {
		v.errf(prefix+".password_file", "%s: set password or password_file, not both", what)
		return
	}
	v.resolvePath(file)
	fi, err := os.Stat(*file)
	if err != nil {
		v.errf(prefix+".password_file", "%s: password_file: %v", what, err)
		return
	}
	if fi.Mode().Perm()&0o077 != 0 {
		v.errf(prefix+".password_file", "%s: password_file %s is readable or writable by group or others (mode %04o; chmod 600)", what, *file, fi.Mode().Perm())
		return
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		v.errf(prefix+".password_file", "%s: password_file: %v", what, err)
		return
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pw := strings.TrimRight(string(line), "\r")
	if pw == "" {
		v.errf(prefix+".password_file", "%s: password_file %s is empty", what, *file)
		return
	}
	*password = pw
}

// mustExist checks that a file named in the site file can be read.
func (v *validator) mustExist(path, what, file string) {
	if _, err := os.Stat(file); err != nil {
		v.errf(path, "%s: %v", what, err)
	}
}

// clientTLS checks and resolves an MQTT client's TLS block.
func (v *validator) clientTLS(prefix, what string, t *ClientTLS) {
	if t == nil {
		return
	}
	if (t.Cert == "") != (t.Key == "") {
		v.errf(prefix+".tls", "%s: tls cert %q and key %q must be set together", what, t.Cert, t.Key)
	}
	for _, f := range []struct {
		name string
		p    *string
	}{{"ca", &t.CA}, {"cert", &t.Cert}, {"key", &t.Key}} {
		if *f.p != "" {
			v.resolvePath(f.p)
			v.mustExist(prefix+".tls."+f.name, what+": tls "+f.name, *f.p)
		}
	}
}

// tlsScheme reports whether a broker URL's scheme asks for TLS.
func tlsScheme(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || u.Scheme == "wss")
}

// brokerIsLocal reports whether a broker URL names this machine.
func brokerIsLocal(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return isLoopbackHost(u.Hostname())
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnClearPassword warns when a password would travel to a remote broker
// without TLS.
func (v *validator) warnClearPassword(path, what, broker, password string, t *ClientTLS) {
	if password != "" && t == nil && !tlsScheme(broker) && !brokerIsLocal(broker) {
		v.warnf(path, "%s: the password travels to %s without TLS (use ssl://… and a tls block)", what, redactURL(broker))
	}
}

// mqttSecurity checks the EMS MQTT block's credentials and TLS.
func (v *validator) emsMQTTSecurity(m *EMSMQTT) {
	v.noCredentialsInURL("ems.mqtt.broker", "ems", m.Broker)
	v.secret("ems.mqtt", "ems", &m.Password, &m.PasswordFile)
	if m.Password != "" && m.Username == "" {
		v.errf("ems.mqtt.username", "ems: a password needs a username")
	}
	v.clientTLS("ems.mqtt", "ems", m.TLS)
	v.warnClearPassword("ems.mqtt.broker", "ems", m.Broker, m.Password, m.TLS)
}

// uplinkSecurity checks the uplink's credentials and TLS.
func (v *validator) uplinkSecurity(u *Uplink) {
	// The outbox keeps records up to the smaller of its segment size and
	// its own cap (8 MiB): with segments above MaxRecordBytesLimit it could
	// keep a batch central refuses as oversized for ever.
	if u.OutboxSegmentBytes > MaxRecordBytesLimit {
		v.errf("uplink.outbox_segment_bytes", "uplink: outbox_segment_bytes %d is above %d: the outbox could then keep a batch larger than central accepts (a %d-byte body), and stall on it",
			u.OutboxSegmentBytes, MaxRecordBytesLimit, reading.MaxBodyBytes)
	}
	v.noCredentialsInURL("uplink.broker", "uplink", u.Broker)
	v.secret("uplink", "uplink", &u.Password, &u.PasswordFile)
	v.warnClearPassword("uplink.broker", "uplink", u.Broker, u.Password, u.TLS)
}

// restSecurity checks the REST API's listen address, tokens and TLS. A
// listener other machines can reach must authenticate.
func (v *validator) restSecurity(r *EMSREST) {
	host, _, err := net.SplitHostPort(r.Listen)
	if err != nil {
		return // reported by ems()
	}
	loopback := isLoopbackHost(host)
	if r.Tokens == "" {
		if !loopback {
			v.errf("ems.rest.listen", "ems: rest listen %q is reachable from other machines but ems.rest.tokens is not set: "+
				"make a token file with `parkgrid token --file FILE --name NAME --scopes read,limit`, or listen on 127.0.0.1", r.Listen)
		} else {
			v.warnf("ems.rest", "ems: the REST API authenticates nobody (no ems.rest.tokens): any process on this machine may reset alarms")
		}
	} else {
		v.resolvePath(&r.Tokens)
		if _, err := token.Load(r.Tokens); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w (create it with `parkgrid token --file %s --name NAME --scopes read`)", err, r.Tokens)
			}
			v.errf("ems.rest.tokens", "ems: rest tokens: %v", err)
		}
	}
	if t := r.TLS; t != nil {
		if t.Cert == "" || t.Key == "" {
			v.errf("ems.rest.tls", "ems: rest tls needs cert and key")
		} else {
			v.resolvePath(&t.Cert)
			v.resolvePath(&t.Key)
			if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
				v.errf("ems.rest.tls", "ems: rest tls: %v", err)
			}
		}
	} else if !loopback && r.Tokens != "" {
		v.warnf("ems.rest.listen", "ems: tokens travel to %q in clear text; set ems.rest.tls on a network you do not trust", r.Listen)
	}
	for i, h := range r.AllowedHosts {
		if h == "" || strings.ContainsAny(h, ":/ @") {
			v.errf(fmt.Sprintf("ems.rest.allowed_hosts[%d]", i), "ems: allowed host %q: want a host name without port, e.g. gateway.garage.example", h)
		}
	}
	for i, o := range r.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.User != nil || u.RawQuery != "" {
			v.errf(fmt.Sprintf("ems.rest.allowed_origins[%d]", i), "ems: allowed origin %q: want scheme://host[:port], e.g. https://ems.example", o)
		}
	}
	if r.MaxConns < 0 {
		v.errf("ems.rest.max_conns", "ems: rest max_conns %d must be >= 0", r.MaxConns)
	}
	if r.MaxConnsPerIP < 0 {
		v.errf("ems.rest.max_conns_per_ip", "ems: rest max_conns_per_ip %d must be >= 0", r.MaxConnsPerIP)
	}
}

// MaxRecordBytesLimit is the largest outbox record (a sealed batch
// envelope) that is sure to be a message central accepts: the envelope
// carries the body base64-encoded, so an envelope of at most this size
// holds a body of at most reading.MaxBodyBytes, and it is below central's
// envelope limit of 2*reading.MaxBodyBytes. The outbox's record limit must
// not be above it: a larger record could be a batch central refuses as
// oversized for ever, and the outbox would stall on it.
const MaxRecordBytesLimit = reading.MaxBodyBytes / 3 * 4
