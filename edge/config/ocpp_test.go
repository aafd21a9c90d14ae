package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ocppSite is minimal.yaml with an ocpp: section appended.
func ocppSite(t *testing.T, section string) (*Site, error) {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(goodDir, "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "site.yaml")
	if rest, ok := strings.CutPrefix(section, "#access "); ok {
		// "#access X\n…": cp-1 gets access X.
		access, sec, _ := strings.Cut(rest, "\n")
		base = []byte(strings.Replace(string(base), "max_a: 16}", "max_a: 16, access: "+access+"}", 1))
		section = sec
	}
	return LoadBytes(name, append(append(base, '\n'), section...))
}

func TestOCPPConfigGood(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "cp-1.secret")
	if err := os.WriteFile(pwFile, []byte("0123456789abcdef-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ocppSite(t, `
data_dir: /var/lib/pg
ocpp:
  url: ws://127.0.0.1:9220/ocpp
  charge_points:
    - {id: cp-1, identity: PG-CP01, serial: "4711", password_file: `+pwFile+`}
`)
	if err != nil {
		t.Fatal(err)
	}
	o := s.OCPP
	if o.SecurityProfile != 1 || o.Heartbeat != DefaultOCPPHeartbeat || o.SampleInterval != time.Minute ||
		o.StateDir != "/var/lib/pg/ocpp" || o.Vendor != "parkgrid" || o.FixedCable == nil || !*o.FixedCable {
		t.Errorf("defaults not filled: %+v", o)
	}
	if p := o.ChargePoints[0]; p.Password != "0123456789abcdef-file" || p.Identity != "PG-CP01" {
		t.Errorf("point: %+v (password %q)", p, p.Password)
	}
	if !s.IsOCPP("cp-1") || s.IsOCPP("cp-2") || s.ChargePoints[0].Access != AccessOCPP {
		t.Error("IsOCPP")
	}
	if strings.Contains(o.ChargePoints[0].String(), "0123") {
		t.Error("String shows the password")
	}

	t.Setenv("PG_TEST_OCPP_PW", "from-the-environment-1")
	s, err = ocppSite(t, `
ocpp:
  url: wss://csms.example.com/ocpp
  charge_points:
    - {id: cp-1, password_env: PG_TEST_OCPP_PW}
`)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.OCPP.ChargePoints[0]; p.Password != "from-the-environment-1" || p.Identity != "cp-1" || s.OCPP.SecurityProfile != 2 {
		t.Errorf("env password, default identity, profile from wss: %+v profile %d", p, s.OCPP.SecurityProfile)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings for a wss site: %v", s.Warnings)
	}
}

func TestOCPPConfigBad(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.secret")
	if err := os.WriteFile(loose, []byte("0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := "password: 0123456789abcdef"
	for _, tc := range []struct{ name, section, want string }{
		{"no url", "ocpp:\n  charge_points: [{id: cp-1, " + pw + "}]\n", "ocpp.url: ocpp: url is missing"},
		{"http url", "ocpp:\n  url: http://csms/ocpp\n  charge_points: [{id: cp-1, " + pw + "}]\n", `url "http://csms/ocpp" is not a URL like wss://host/path`},
		{"credentials in url", "ocpp:\n  url: wss://u:secret@csms/ocpp\n  charge_points: [{id: cp-1, " + pw + "}]\n", "carries credentials"},
		{"profile mismatch", "ocpp:\n  url: ws://127.0.0.1/ocpp\n  security_profile: 2\n  charge_points: [{id: cp-1, " + pw + "}]\n", "security_profile 2 does not match url scheme ws"},
		{"ca on ws", "ocpp:\n  url: ws://127.0.0.1/ocpp\n  ca: " + loose + "\n  charge_points: [{id: cp-1, " + pw + "}]\n", "ca is set but url"},
		{"missing ca", "ocpp:\n  url: wss://csms/ocpp\n  ca: /nonexistent/ca.pem\n  charge_points: [{id: cp-1, " + pw + "}]\n", "ocpp.ca: ocpp ca:"},
		{"no points", "ocpp:\n  url: wss://csms/ocpp\n", "charge_points is empty"},
		{"unknown point", "ocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-9, " + pw + "}]\n", `charge point "cp-9" is not among the site's charge_points`},
		{"twice", "ocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-1, " + pw + "}, {id: cp-1, identity: x1, " + pw + "}]\n", `charge point "cp-1" listed twice`},
		{"bad identity", "ocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-1, identity: \"a/b\", " + pw + "}]\n", `identity "a/b" must be`},
		{"no password", "ocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-1}]\n", "no password"},
		{"short password", "ocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-1, password: short}]\n", "the password has 5 characters; OCPP 1.6 (AuthorizationKey) wants 16..40"},
		{"loose file", "ocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-1, password_file: " + loose + "}]\n", "readable or writable by group or others"},
		{"unset env", "ocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-1, password_env: PG_TEST_OCPP_UNSET_XYZ}]\n", "environment variable PG_TEST_OCPP_UNSET_XYZ is empty or unset"},
		{"heartbeat", "ocpp:\n  url: wss://csms/ocpp\n  heartbeat: 10ms\n  charge_points: [{id: cp-1, " + pw + "}]\n", "heartbeat 10ms must be at least 1s"},
		{"reconnect order", "ocpp:\n  url: wss://csms/ocpp\n  reconnect_min: 10s\n  reconnect_max: 1s\n  charge_points: [{id: cp-1, " + pw + "}]\n", "reconnect_max 1s is below reconnect_min 10s"},
		{"central and ocpp", "#access central\nocpp:\n  url: wss://csms/ocpp\n  charge_points: [{id: cp-1, " + pw + "}]\n", `access central and an OCPP central system exclude each other`},
		{"access ocpp unlisted", "#access ocpp\n", `charge_points[0].access: charge point "cp-1": access ocpp, but the ocpp: section does not list it`},
		{"unknown field", "ocpp:\n  url: wss://csms/ocpp\n  colour: red\n  charge_points: [{id: cp-1, " + pw + "}]\n", `unknown field "colour" in ocpp`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ocppSite(t, tc.section)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") && tc.name == "credentials in url" {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestOCPPConfigWarnsOnPlainWebsocket(t *testing.T) {
	s, err := ocppSite(t, "ocpp:\n  url: ws://csms.example.com/ocpp\n  charge_points: [{id: cp-1, password: 0123456789abcdef}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) == 0 || !strings.Contains(strings.Join(s.Warnings, "\n"), "unencrypted") {
		t.Errorf("no warning for ws:// to a remote host: %v", s.Warnings)
	}
}

// The example in deploy/ appended to deploy/site-small.yaml validates.
func TestOCPPExample(t *testing.T) {
	site, err := os.ReadFile("../../deploy/site-small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../deploy/ocpp.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "p01.secret")
	if err := os.WriteFile(secret, []byte("p01-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("/etc/parkgrid/ocpp/p01.secret", secret, "/etc/parkgrid/csms-ca.pem", ca).Replace(string(example))
	t.Setenv("PARKGRID_OCPP_P02", "p02-secret-0123456789")
	s, err := LoadBytes(filepath.Join(dir, "site.yaml"), append(append(site, '\n'), text...))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.OCPP.ChargePoints) != 2 || s.OCPP.SecurityProfile != 2 || !s.IsOCPP("p02") {
		t.Errorf("example: %+v", s.OCPP)
	}
}
