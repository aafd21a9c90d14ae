package demo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
)

// The demo's mail: central e-mails receipts over SMTP, and the demo runs
// its own SMTP server for it, so a user who finishes a session sees the
// receipt arrive without a mail server on the machine. The sink listens on
// loopback only, offers no login and relays nothing: each message it
// accepts is written as an .eml file (open it with any mail client) into
// the demo directory, and a line says where.

// mailSink is the demo's SMTP server.
type mailSink struct {
	dir  string
	srv  *smtp.Server
	port int

	mu  sync.Mutex // protects out, seq and the files' numbering
	out io.Writer
	seq int
	log *slog.Logger
}

// maxSinkMessage bounds one message (a receipt is far smaller).
const maxSinkMessage = 12 << 20

// startMailSink serves SMTP on 127.0.0.1 (a free port) and writes every
// message into dir (made 0700: receipts carry the driver's address),
// announcing each on out.
func startMailSink(dir string, out io.Writer, log *slog.Logger) (*mailSink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo mail directory: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo mail: %w", err)
	}
	s := &mailSink{dir: dir, out: out, log: log, port: ln.Addr().(*net.TCPAddr).Port}
	// Continue numbering after the files of earlier runs.
	if old, err := filepath.Glob(filepath.Join(dir, "*.eml")); err == nil {
		s.seq = len(old)
	}
	s.srv = smtp.NewServer(sinkBackend{s})
	s.srv.Domain = "localhost"
	s.srv.MaxMessageBytes = maxSinkMessage
	s.srv.MaxRecipients = 10
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	s.srv.ErrorLog = discardLogger{}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

// Port is where the sink listens on 127.0.0.1.
func (s *mailSink) Port() int { return s.port }

// Close stops the sink.
func (s *mailSink) Close() error { return s.srv.Close() }

// unsafeFileChars are replaced in the recipient part of a file name.
var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9@._-]+`)

// emlName is the file name of the seq-th message to to: one path element
// whatever the recipient (the SMTP client chooses it), at most 120 bytes.
func emlName(seq int, to string) string {
	r := unsafeFileChars.ReplaceAllString(to, "_")
	if len(r) > 100 {
		r = r[:100]
	}
	if r == "" || r[0] == '.' {
		r = "_" + r
	}
	return fmt.Sprintf("%04d-%s.eml", seq, r)
}

// save writes one message as <seq>-<recipient>.eml (temporary file, then
// rename: a reader never sees half a message) and announces it.
func (s *mailSink) save(to string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	name := emlName(s.seq, to)
	tmp, err := os.CreateTemp(s.dir, ".incoming-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	path := filepath.Join(s.dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	subject := ""
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		subject, _ = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	}
	fmt.Fprintf(s.out, "mail: %q to %s saved as %s\n", subject, to, path)
	s.log.Info("mail received", "to", to, "file", path, "bytes", len(data))
	return nil
}

type sinkBackend struct{ s *mailSink }

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: b.s}, nil }

type sinkSession struct {
	s  *mailSink
	to []string
}

func (se *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }

func (se *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, err := mail.ParseAddress(to); err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "bad recipient address"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, maxSinkMessage+1))
	if err != nil {
		return err
	}
	if len(data) > maxSinkMessage {
		return smtp.ErrDataTooLarge
	}
	var errs []error
	for _, to := range se.to {
		errs = append(errs, se.s.save(to, data))
	}
	if err := errors.Join(errs...); err != nil {
		se.s.log.Warn("mail not saved", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store the message"}
	}
	return nil
}

func (se *sinkSession) Reset()        { se.to = nil }
func (se *sinkSession) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// demoMail gives central the sink as its mail server unless the central
// config names one itself; it returns the sink (nil then) to close after
// central stopped.
func demoMail(dir string, ccfg *centralconfig.Config, out io.Writer, log *slog.Logger) (*mailSink, error) {
	if ccfg.Mail != nil {
		return nil, nil
	}
	s, err := startMailSink(filepath.Join(dir, "mail"), out, log)
	if err != nil {
		return nil, err
	}
	ccfg.Mail = &centralconfig.Mail{Host: "127.0.0.1", Port: s.Port(), Security: centralconfig.SMTPNone,
		From: "Parkhaus Demo GmbH <rechnung@demo.parkgrid.invalid>", Timeout: 10 * time.Second, Keep: centralconfig.DefaultMailKeep}
	return s, nil
}

// printMail says where receipt e-mails land.
func printMail(w io.Writer, s *mailSink) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "Receipt e-mails (SMTP sink on 127.0.0.1:%d, nothing leaves this machine) are saved in %s as .eml files.\n", s.Port(), s.dir)
}
