package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/edge/emsapi/token"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// secureSite writes a site file with every security setting, its token
// file and secret files into a fresh directory and returns its path. extra
// is appended (YAML) to the ems block's rest and mqtt maps.
func secureSite(t *testing.T, rest, mqtt, uplink string) string {
	t.Helper()
	dir := t.TempDir()
	base, err := os.ReadFile(filepath.Join(goodDir, "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"gw.pem", "gw.key", "ca.pem"} {
		b, err := os.ReadFile(filepath.Join(goodDir, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, h, _ := token.New(nil)
	if err := token.Append(filepath.Join(dir, "ems.tokens"), token.Entry{Name: "ems-main", Scopes: []token.Scope{token.Read, token.Limit}, Hash: h}); err != nil {
		t.Fatal(err)
	}
	for name, pw := range map[string]string{"ems.secret": "ems-pass\n", "uplink.secret": "uplink-pass\r\nignored"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	site := string(base) + "ems:\n  rest: {" + rest + "}\n  mqtt: {" + mqtt + "}\nuplink: {" + uplink + "}\n"
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	secureREST   = "listen: '0.0.0.0:8443', tokens: ems.tokens, tls: {cert: gw.pem, key: gw.key}, allowed_hosts: [gw.garage.example], allowed_origins: ['https://ems.example']"
	secureMQTT   = "broker: 'ssl://broker.garage.example:8883', username: ems-edge, password_file: ems.secret, tls: {ca: ca.pem, cert: gw.pem, key: gw.key}"
	secureUplink = "broker: 'ssl://central.example:8883', key: gw.key, outbox: outbox, password_file: uplink.secret, tls: {ca: ca.pem}"
)

func TestSecureSiteLoads(t *testing.T) {
	path := secureSite(t, secureREST, secureMQTT, secureUplink)
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if r := s.EMS.REST; r.Tokens != filepath.Join(dir, "ems.tokens") || r.TLS.Cert != filepath.Join(dir, "gw.pem") {
		t.Errorf("rest paths not resolved: %+v %+v", r, r.TLS)
	}
	if m := s.EMS.MQTT; m.Password != "ems-pass" || m.TLS.CA != filepath.Join(dir, "ca.pem") {
		t.Errorf("ems mqtt: password %q, tls %+v", m.Password, m.TLS)
	}
	if s.Uplink.Password != "uplink-pass" {
		t.Errorf("uplink password %q, want the first line of the file", s.Uplink.Password)
	}
	for _, w := range s.Warnings {
		if strings.Contains(w, "ems") || strings.Contains(w, "password") || strings.Contains(w, "tls") {
			t.Errorf("warning about a secure setting: %q", w)
		}
	}
}

func TestSecuritySettingsRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		rest, mqtt, uplink string
		prepare            func(dir string)
		want               string
	}{
		"password file others may read": {rest: secureREST, mqtt: secureMQTT, uplink: secureUplink,
			prepare: func(dir string) { os.Chmod(filepath.Join(dir, "ems.secret"), 0o644) },
			want:    "ems.mqtt.password_file: ems: password_file "},
		"empty password file": {rest: secureREST, mqtt: secureMQTT, uplink: secureUplink,
			prepare: func(dir string) { os.WriteFile(filepath.Join(dir, "uplink.secret"), []byte("\n"), 0o600) },
			want:    "uplink.password_file: uplink: password_file"},
		"world-writable token file": {rest: secureREST, mqtt: secureMQTT, uplink: secureUplink,
			prepare: func(dir string) { os.Chmod(filepath.Join(dir, "ems.tokens"), 0o666) },
			want:    "ems.rest.tokens: ems: rest tokens: token file"},
		"broken token file": {rest: secureREST, mqtt: secureMQTT, uplink: secureUplink,
			prepare: func(dir string) {
				os.WriteFile(filepath.Join(dir, "ems.tokens"), []byte("ems read pgt_plaintext\n"), 0o600)
			},
			want: "line 1: hash must start with sha256:"},
		"tls key not matching": {rest: "listen: '0.0.0.0:8443', tokens: ems.tokens, tls: {cert: ca.pem, key: gw.key}", mqtt: secureMQTT, uplink: secureUplink,
			want: "ems.rest.tls: ems: rest tls:"},
		"allowed host with port": {rest: "listen: '127.0.0.1:8090', allowed_hosts: ['gw:8090']", mqtt: secureMQTT, uplink: secureUplink,
			want: `ems.rest.allowed_hosts[0]: ems: allowed host "gw:8090"`},
	} {
		t.Run(name, func(t *testing.T) {
			path := secureSite(t, tc.rest, tc.mqtt, tc.uplink)
			if tc.prepare != nil {
				tc.prepare(filepath.Dir(path))
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestCredentialsNeverInErrors: a broker URL with a password is refused,
// and neither the error nor a warning repeats the password.
func TestCredentialsNeverInErrors(t *testing.T) {
	for _, file := range []string{"ems_broker_userinfo.yaml", "uplink_broker_userinfo.yaml"} {
		_, err := Load(filepath.Join(badDir, file))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", file, err)
		}
	}
	for _, raw := range []string{"tcp://u:hunter2@h:1", "tcp://u:hunter2@h:1/%zz", "ws://hunter2@x"} {
		if got := redactURL(raw); strings.Contains(got, "hunter2") {
			t.Errorf("redactURL(%q) = %q", raw, got)
		}
	}
}

func TestSecurityWarnings(t *testing.T) {
	for name, tc := range map[string]struct{ rest, mqtt, uplink, want string }{
		"loopback without tokens": {"listen: '127.0.0.1:8090'", secureMQTT, secureUplink, "the REST API authenticates nobody"},
		"tokens in clear":         {"listen: '0.0.0.0:8090', tokens: ems.tokens", secureMQTT, secureUplink, "tokens travel to \"0.0.0.0:8090\" in clear text"},
		"ems password in clear":   {secureREST, "broker: 'tcp://10.0.0.9:1883', username: e, password_file: ems.secret", secureUplink, "ems: the password travels to tcp://10.0.0.9:1883 without TLS"},
		"uplink password in clear": {secureREST, secureMQTT, "broker: 'tcp://central.example:1883', key: gw.key, outbox: o, password_file: uplink.secret",
			"uplink: the password travels to tcp://central.example:1883 without TLS"},
	} {
		s, err := Load(secureSite(t, tc.rest, tc.mqtt, tc.uplink))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.Contains(strings.Join(s.Warnings, "\n"), tc.want) {
			t.Errorf("%s: warnings %q, want one containing %q", name, s.Warnings, tc.want)
		}
	}
}

// TestRecordLimitFitsCentral: a batch whose sealed envelope is at most
// MaxRecordBytesLimit is one central accepts (body and envelope limits).
func TestRecordLimitFitsCentral(t *testing.T) {
	// The largest body that fits: base64 is 4 bytes per 3, the envelope
	// adds its JSON around it.
	body := MaxRecordBytesLimit / 4 * 3
	if body > reading.MaxBodyBytes {
		t.Errorf("a %d-byte envelope can hold a %d-byte body, above central's %d", MaxRecordBytesLimit, body, reading.MaxBodyBytes)
	}
	if MaxRecordBytesLimit > 2*reading.MaxBodyBytes {
		t.Errorf("limit %d above central's envelope limit %d", MaxRecordBytesLimit, 2*reading.MaxBodyBytes)
	}
}

// TestOutboxSegmentWithinCentralLimit: segments large enough to let the
// outbox keep a batch central would refuse are refused at the check.
func TestOutboxSegmentWithinCentralLimit(t *testing.T) {
	if _, err := Load(secureSite(t, secureREST, secureMQTT, secureUplink+", outbox_segment_bytes: 4194304")); err != nil {
		t.Errorf("4 MiB segments: %v", err)
	}
	_, err := Load(secureSite(t, secureREST, secureMQTT, secureUplink+", outbox_segment_bytes: 67108864"))
	if err == nil || !strings.Contains(err.Error(), "uplink.outbox_segment_bytes: uplink: outbox_segment_bytes 67108864 is above") {
		t.Errorf("64 MiB segments: %v", err)
	}
}
