package config

// This file holds the mail and jobs sections of central's config: the SMTP
// server receipts are e-mailed through, and the periodic jobs (central/jobs).
//
//	mail:                          # optional; absent: receipts are not e-mailed (drivers download them from the API)
//	  host: smtp.example.com
//	  port: 587                    # default by security: 587 starttls, 465 tls, 25 none
//	  security: starttls           # starttls | tls | none (none: a relay on loopback only, without login)
//	  username: parkgrid           # "": no login
//	  password_file: smtp.secret   # first line (relative to this file, mode 0600); or:
//	  password_env: PARKGRID_SMTP_PASSWORD   # read when central starts
//	  ca: ""                       # PEM file of a private CA that signs the server's certificate
//	  hello: ""                    # EHLO name; "": localhost
//	  timeout: 30s                 # per message
//	  from: "Parkhaus Demo GmbH <rechnung@parkhaus.example>"
//	  keep: 2160h                  # sent and given-up mails are deleted after this (they hold the driver's address)
//	  operators:                   # optional sender per operator (white label)
//	    demo-op: {from: "Parkhaus Mitte <rechnung@mitte.example>"}
//	jobs:
//	  time_zone: Europe/Berlin     # schedules and the nightly report's day; default UTC
//	  reports_dir: reports         # nightly usage reports, <dir>/<operator>/usage-…; "": none (relative to this file)
//	  hold_life: 168h              # how long a card hold lasts; default 7 days
//	  hold_margin: 12h             # act this long before it lapses
//	  schedules:                   # cron specs (minute hour dom month dow) to override
//	    nightly-report: "30 2 * * *"   # names: JobNames (mail-retry, reconcile, hold-expiry, nightly-report, retention)

import (
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// SMTP security settings (central/mail's).
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNone     = "none"
)

// Mail is the SMTP server receipts are sent through. The password is
// never in the config: PasswordFile or PasswordEnv names where it is.
type Mail struct {
	Host         string        `yaml:"host"`
	Port         int           `yaml:"port"`
	Security     string        `yaml:"security"`
	Username     string        `yaml:"username"`
	PasswordFile string        `yaml:"password_file"`
	PasswordEnv  string        `yaml:"password_env"`
	CA           string        `yaml:"ca"`
	Hello        string        `yaml:"hello"`
	Timeout      time.Duration `yaml:"timeout"`
	From         string        `yaml:"from"`
	// Keep is how long sent and given-up mails stay in the outbox.
	Keep      time.Duration           `yaml:"keep"`
	Operators map[string]MailOperator `yaml:"operators"`
}

// MailOperator is an operator's own sender.
type MailOperator struct {
	From string `yaml:"from"`
}

// FromFor is the sender of operator's mails.
func (m *Mail) FromFor(operator string) string {
	if o, ok := m.Operators[operator]; ok && o.From != "" {
		return o.From
	}
	return m.From
}

// RootCAs reads CA (nil without one: the system's roots).
func (m *Mail) RootCAs() (*x509.CertPool, error) {
	if m.CA == "" {
		return nil, nil
	}
	b, err := os.ReadFile(m.CA)
	if err != nil {
		return nil, fmt.Errorf("mail.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("mail.ca %s: no PEM certificate", m.CA)
	}
	return pool, nil
}

// Jobs configures central's periodic jobs.
type Jobs struct {
	TimeZone   string `yaml:"time_zone"`
	ReportsDir string `yaml:"reports_dir"`
	// HoldLife and HoldMargin are the hold-expiry rule (central/jobs
	// HoldRule); 0: its defaults.
	HoldLife   time.Duration     `yaml:"hold_life"`
	HoldMargin time.Duration     `yaml:"hold_margin"`
	Schedules  map[string]string `yaml:"schedules"`
}

// JobNames are the jobs whose schedules the config may override
// (central/jobs.Standard's names).
var JobNames = []string{"mail-retry", "reconcile", "hold-expiry", "nightly-report", "retention"}

// Defaults of the mail section.
const (
	DefaultMailKeep    = 90 * 24 * time.Hour
	DefaultMailTimeout = 30 * time.Second
)

// Location is the jobs' time zone (valid after Load).
func (j Jobs) Location() *time.Location {
	if j.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(j.TimeZone)
	if err != nil {
		return time.UTC // Load refused it
	}
	return loc
}

// resolveMail fills the defaults and makes the files relative to dir.
func (c *Config) resolveMail(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Jobs.ReportsDir)
	m := c.Mail
	if m == nil {
		return
	}
	abs(&m.PasswordFile)
	abs(&m.CA)
	if m.Security == "" {
		m.Security = SMTPStartTLS
	}
	if m.Port == 0 {
		switch m.Security {
		case SMTPTLS:
			m.Port = 465
		case SMTPNone:
			m.Port = 25
		default:
			m.Port = 587
		}
	}
	if m.Timeout == 0 {
		m.Timeout = DefaultMailTimeout
	}
	if m.Keep == 0 {
		m.Keep = DefaultMailKeep
	}
}

// cronParser parses schedules as central/jobs does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (c *Config) validateMail() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if m := c.Mail; m != nil {
		if m.Host == "" || (strings.ContainsAny(m.Host, " /:@") && net.ParseIP(m.Host) == nil) {
			bad("mail.host %q: want the SMTP server's host name", m.Host)
		}
		if m.Port < 1 || m.Port > 65535 {
			bad("mail.port %d: not in 1..65535", m.Port)
		}
		switch m.Security {
		case SMTPStartTLS, SMTPTLS:
		case SMTPNone:
			if ip := net.ParseIP(m.Host); m.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				bad("mail.security none: only to a relay on loopback (127.0.0.1, ::1, localhost), not %q; use starttls or tls", m.Host)
			}
			if m.Username != "" {
				bad("mail.username: no login over an unencrypted connection (security none); use starttls or tls")
			}
		default:
			bad("mail.security %q: want starttls, tls or none", m.Security)
		}
		switch {
		case m.PasswordFile != "" && m.PasswordEnv != "":
			bad("mail: set password_file or password_env, not both")
		case m.Username == "" && (m.PasswordFile != "" || m.PasswordEnv != ""):
			bad("mail: a password without mail.username")
		case m.Username != "" && m.PasswordFile == "" && m.PasswordEnv == "":
			bad("mail.username %q: set password_file or password_env (the password is never written in the config)", m.Username)
		case m.PasswordFile != "":
			// Checked now so that --check finds it; read again at start.
			if _, err := readSecret(m.PasswordFile); err != nil {
				bad("mail.password_file: %v", err)
			}
		case m.PasswordEnv != "" && strings.ContainsAny(m.PasswordEnv, "$={} "):
			bad("mail.password_env %q: want the name of an environment variable, not its value", m.PasswordEnv)
		}
		if _, err := m.RootCAs(); err != nil {
			bad("%v", err)
		}
		if m.Timeout < time.Second {
			bad("mail.timeout %s: at least 1s", m.Timeout)
		}
		if m.Keep < 24*time.Hour {
			bad("mail.keep %s: at least 24h", m.Keep)
		}
		checkFrom := func(field, from string) {
			if a, err := mail.ParseAddress(from); err != nil || strings.ContainsAny(from, "\r\n") {
				bad("%s %q: want an address like \"Parkhaus GmbH <rechnung@parkhaus.example>\"", field, from)
			} else if !strings.Contains(a.Address, "@") {
				bad("%s %q: the address needs a domain", field, from)
			}
		}
		if m.From == "" {
			bad("mail.from: required (the sender of receipts)")
		} else {
			checkFrom("mail.from", m.From)
		}
		ops := make(map[string]bool, len(c.Operators))
		for _, o := range c.Operators {
			ops[o.ID] = true
		}
		for _, id := range slices.Sorted(maps.Keys(m.Operators)) {
			if !ops[id] {
				bad("mail.operators.%s: not an operator of this config", id)
			}
			if f := m.Operators[id].From; f != "" {
				checkFrom("mail.operators."+id+".from", f)
			}
		}
	}

	j := c.Jobs
	if j.TimeZone != "" {
		if _, err := time.LoadLocation(j.TimeZone); err != nil {
			bad("jobs.time_zone %q: want an IANA zone like Europe/Berlin", j.TimeZone)
		}
	}
	if j.HoldLife < 0 || j.HoldMargin < 0 || (j.HoldLife > 0 && j.HoldMargin >= j.HoldLife) {
		bad("jobs: hold_life %s, hold_margin %s: want 0 ≤ margin < life", j.HoldLife, j.HoldMargin)
	}
	for _, name := range slices.Sorted(maps.Keys(j.Schedules)) {
		spec := j.Schedules[name]
		if !slices.Contains(JobNames, name) {
			bad("jobs.schedules.%s: no such job (want one of %s)", name, strings.Join(JobNames, ", "))
			continue
		}
		s, err := cronParser.Parse(spec)
		if err != nil {
			bad("jobs.schedules.%s %q: %v", name, spec, err)
		} else if _, ok := s.(cron.ConstantDelaySchedule); ok {
			bad("jobs.schedules.%s %q: use a wall-clock schedule like \"*/5 * * * *\": @every counts from each replica's start", name, spec)
		}
	}
	return errs
}
