package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Security is how the connection to the SMTP server is protected.
type Security string

// Securities.
const (
	StartTLS    Security = "starttls" // plain connect, then STARTTLS (port 587); the default
	ImplicitTLS Security = "tls"      // TLS from the first byte (port 465)
	// Plain sends unencrypted; allowed only to a loopback relay, and never
	// with authentication.
	Plain Security = "none"
)

// SMTPConfig is the mail server as configured.
type SMTPConfig struct {
	Host     string
	Port     int
	Security Security // "": StartTLS
	Username string   // "": no authentication
	// The password is read from PasswordFile (trailing newline cut) or the
	// environment variable PasswordEnv, never written in the config.
	PasswordFile string
	PasswordEnv  string
	// RootCAs verifies the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// HelloName is the EHLO name; "": "localhost".
	HelloName string
	Timeout   time.Duration // per send; 0: 30 s
}

// LogValue leaves the password's source out of logs as well as the
// password (which the config never holds).
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.Int("port", c.Port),
		slog.String("security", string(c.Security)), slog.Bool("auth", c.Username != ""))
}

// SMTP sends messages to one server. Build it with NewSMTP.
type SMTP struct {
	cfg      SMTPConfig
	password string
	addr     string
}

// NewSMTP checks cfg and reads the password (getenv: os.Getenv in
// production). Errors name the file or variable, never the password.
func NewSMTP(cfg SMTPConfig, getenv func(string) string) (*SMTP, error) {
	if cfg.Security == "" {
		cfg.Security = StartTLS
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.Host == "" || cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp: %w: host %q port %d", ErrInvalid, cfg.Host, cfg.Port)
	}
	switch cfg.Security {
	case StartTLS, ImplicitTLS:
	case Plain:
		if cfg.Username != "" {
			return nil, fmt.Errorf("smtp: %w: authentication over an unencrypted connection", ErrInvalid)
		}
		if ip := net.ParseIP(cfg.Host); cfg.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("smtp: %w: security %q only to a loopback relay, not %s", ErrInvalid, Plain, cfg.Host)
		}
	default:
		return nil, fmt.Errorf("smtp: %w: security %q (starttls, tls, none)", ErrInvalid, cfg.Security)
	}
	s := &SMTP{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
	if cfg.Username != "" {
		switch {
		case cfg.PasswordFile != "":
			b, err := os.ReadFile(cfg.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("smtp: password file: %w", err)
			}
			s.password = strings.TrimRight(string(b), "\r\n")
		case cfg.PasswordEnv != "":
			s.password = getenv(cfg.PasswordEnv)
		}
		if s.password == "" {
			return nil, fmt.Errorf("smtp: %w: user %q has no password (set password_file or password_env)", ErrInvalid, cfg.Username)
		}
	}
	return s, nil
}

// PermanentError is a refusal the server says will not change on retry
// (an SMTP 5xx reply).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

func classify(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		return &PermanentError{Err: err}
	}
	return err
}

// Send delivers one message: from and to are the envelope (bare
// addresses), raw the message bytes.
func (s *SMTP) Send(ctx context.Context, from, to string, raw []byte) (err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	tlsCfg := &tls.Config{ServerName: s.cfg.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	d := net.Dialer{}
	var conn net.Conn
	if s.cfg.Security == ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsCfg}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("smtp %s: dial: %w", s.addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl) //nolint:errcheck // a failed deadline shows as a timeout below
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *smtp.Client
	if s.cfg.Security == StartTLS {
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			conn.Close()
			return fmt.Errorf("smtp %s: starttls: %w", s.addr, err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return fmt.Errorf("smtp %s: hello: %w", s.addr, classify(err))
	}
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.password)); err != nil {
			return fmt.Errorf("smtp %s: auth as %s: %w", s.addr, s.cfg.Username, classify(err))
		}
	}
	if err := c.SendMail(from, []string{to}, bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("smtp %s: send to %s: %w", s.addr, to, classify(err))
	}
	if err := c.Quit(); err != nil {
		// The message was accepted; a failed QUIT does not unsend it.
		return nil
	}
	return nil
}
