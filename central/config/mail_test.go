package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const mailBase = `store: {driver: sqlite, path: x.db}
operators:
  - id: op-1
    name: Parkhaus Test GmbH
    address: Hauptstr. 1, 10115 Berlin
    currency: EUR
    hold: "50.00"
    invoice_prefix: T-
    tariffs: [{id: eco, class: eco, per_kwh: "0.39", vat: "19"}]
`

func TestMailGood(t *testing.T) {
	dir := t.TempDir()
	const password = "Sm7p-s3cret"
	if err := os.WriteFile(filepath.Join(dir, "smtp.secret"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(mailBase+`
mail:
  host: smtp.example.com
  username: parkgrid
  password_file: smtp.secret
  from: "Parkhaus Test GmbH <rechnung@parkhaus.example>"
  operators: {op-1: {from: "Mitte <mitte@parkhaus.example>"}}
jobs:
  time_zone: Europe/Berlin
  reports_dir: reports
  hold_life: 144h
  schedules: {nightly-report: "15 3 * * *", mail-retry: "*/2 * * * *"}
`))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Mail
	if m.Port != 587 || m.Security != SMTPStartTLS || m.Timeout != DefaultMailTimeout || m.Keep != DefaultMailKeep ||
		m.PasswordFile != filepath.Join(dir, "smtp.secret") {
		t.Errorf("mail defaults: %+v", m)
	}
	if m.FromFor("op-1") != "Mitte <mitte@parkhaus.example>" || m.FromFor("op-2") != m.From {
		t.Errorf("senders: %q %q", m.FromFor("op-1"), m.FromFor("op-2"))
	}
	if c.Jobs.ReportsDir != filepath.Join(dir, "reports") || c.Jobs.Location().String() != "Europe/Berlin" {
		t.Errorf("jobs: %+v", c.Jobs)
	}
	for _, tc := range []struct{ security, port string }{{"tls", "465"}, {"none", "25"}} {
		y := mailBase + "mail: {host: 127.0.0.1, security: " + tc.security + ", from: a@b.example}\n"
		c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(y))
		if err != nil || c.Mail.Port == 0 || strconv.Itoa(c.Mail.Port) != tc.port {
			t.Errorf("%s: port %v, %v", tc.security, c, err)
		}
	}
	if c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(mailBase)); err != nil || c.Mail != nil || c.Jobs.Location() != time.UTC {
		t.Errorf("no mail section: %+v, %v", c, err)
	}
}

// TestMailBad: each refused setting with the error it must give; no error
// carries the password of a password file.
func TestMailBad(t *testing.T) {
	dir := t.TempDir()
	const password = "Sm7p-s3cret"
	if err := os.WriteFile(filepath.Join(dir, "open.secret"), []byte(password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notpem"), []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	const from = ", from: a@b.example"
	for yaml, want := range map[string]string{
		"mail: {host: smtp.example.com" + from + ", security: ssl}":                                  `mail.security "ssl": want starttls, tls or none`,
		"mail: {host: smtp.example.com" + from + ", security: none}":                                 `mail.security none: only to a relay on loopback`,
		"mail: {host: 127.0.0.1" + from + ", security: none, username: u, password_env: P}":          `mail.username: no login over an unencrypted connection`,
		"mail: {host: smtp.example.com" + from + ", username: u}":                                    `mail.username "u": set password_file or password_env`,
		"mail: {host: smtp.example.com" + from + ", password_env: P}":                                `mail: a password without mail.username`,
		"mail: {host: smtp.example.com" + from + ", username: u, password_env: P, password_file: x}": `set password_file or password_env, not both`,
		"mail: {host: smtp.example.com" + from + ", username: u, password_file: open.secret}":        `readable or writable by group or others`,
		"mail: {host: smtp.example.com" + from + ", username: u, password_file: none.secret}":        `mail.password_file: stat`,
		"mail: {host: smtp.example.com" + from + ", username: u, password_env: \"${X}\"}":            `mail.password_env "${X}": want the name of an environment variable`,
		"mail: {host: smtp.example.com" + from + ", port: 70000}":                                    `mail.port 70000: not in 1..65535`,
		"mail: {host: \"smtp.example.com:587\"" + from + "}":                                         `mail.host "smtp.example.com:587": want the SMTP server's host name`,
		"mail: {host: smtp.example.com" + from + ", ca: notpem}":                                     `no PEM certificate`,
		"mail: {host: smtp.example.com" + from + ", timeout: 1ms}":                                   `mail.timeout 1ms: at least 1s`,
		"mail: {host: smtp.example.com" + from + ", keep: 1h}":                                       `mail.keep 1h0m0s: at least 24h`,
		"mail: {host: smtp.example.com}":                                                             `mail.from: required`,
		"mail: {host: smtp.example.com, from: \"nobody\"}":                                           `mail.from "nobody": want an address`,
		"mail: {host: smtp.example.com" + from + ", operators: {op-9: {from: x@y.example}}}":         `mail.operators.op-9: not an operator of this config`,
		"mail: {host: smtp.example.com" + from + ", operators: {op-1: {from: \"a\\r\\nBcc: x\"}}}":   `mail.operators.op-1.from`,
		"jobs: {time_zone: Mars/Olympus}":                                                            `jobs.time_zone "Mars/Olympus": want an IANA zone`,
		"jobs: {schedules: {mail-retry: \"@every 1m\"}}":                                             `jobs.schedules.mail-retry "@every 1m": use a wall-clock schedule`,
		"jobs: {schedules: {mail-retry: \"every minute\"}}":                                          `jobs.schedules.mail-retry "every minute":`,
		"jobs: {schedules: {backup: \"@daily\"}}":                                                    `jobs.schedules.backup: no such job`,
		"jobs: {hold_life: 1h, hold_margin: 2h}":                                                     `jobs: hold_life 1h0m0s, hold_margin 2h0m0s: want 0 ≤ margin < life`,
	} {
		_, err := Parse(filepath.Join(dir, "c.yaml"), []byte(mailBase+yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant one containing %q", yaml, err, want)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error carries the password: %v", yaml, err)
		}
	}
}

func TestMailRootCAs(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(mailBase+"mail: {host: smtp.example.com, from: a@b.example, ca: ca.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pool, err := c.Mail.RootCAs(); err != nil || pool == nil {
		t.Errorf("roots: %v, %v", pool, err)
	}
	if pool, err := (&Mail{}).RootCAs(); pool != nil || err != nil {
		t.Errorf("no ca: %v, %v", pool, err)
	}
}

// TestDeployExampleBlock: the commented billing and mail example in
// deploy/central.yaml loads once uncommented, so the example stays true.
func TestDeployExampleBlock(t *testing.T) {
	const path = "../../deploy/central.yaml"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case line == "# >>> example":
			in = true
			continue
		case line == "# <<< example":
			in = false
		case in:
			line = strings.TrimPrefix(line, "#")
		}
		out = append(out, line)
	}
	if in || len(out) == len(strings.Split(string(raw), "\n")) {
		t.Fatal("no closed '# >>> example' block")
	}
	c, err := Parse(path, []byte(strings.Join(out, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mail == nil || c.Mail.Port != 25 || len(c.Operators) != 1 || c.Payment.Provider != ProviderFake || len(c.API.Tokens) != 1 ||
		c.Jobs.ReportsDir == "" {
		t.Errorf("example: mail %+v, %d operators, payment %q, %d tokens, jobs %+v", c.Mail, len(c.Operators), c.Payment.Provider, len(c.API.Tokens), c.Jobs)
	}
}
