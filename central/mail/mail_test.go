package mail_test

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/mail"
	"github.com/parkgrid/parkgrid/central/mail/mailtest"
	mailsqlite "github.com/parkgrid/parkgrid/central/mail/sqlite"
)

var t0 = mailtest.T0

func receipt(t *testing.T) (mail.Message, []byte) {
	pdf := make([]byte, 5000)
	if _, err := rand.Read(pdf); err != nil {
		t.Fatal(err)
	}
	copy(pdf, "%PDF-1.3\n")
	return mail.Message{
		From: "Parkhaus Mitte GmbH <rechnung@parkhaus.example>", To: "Jörg Fahrer <driver@example.org>",
		Subject: "Ihre Rechnung MITTE-000042 – Ladevorgang",
		Text:    "Guten Tag,\nim Anhang Ihre Rechnung über 7,05 € für 12,345 kWh.\nGrüße\n",
		Attachments: []mail.Attachment{
			{Name: "Rechnung-MITTE-000042.pdf", ContentType: "application/pdf", Data: pdf},
			{Name: "Messwerte-OCMF.xml", ContentType: "application/xml", Data: []byte("<values/>")},
		},
	}, pdf
}

// TestBuildMIME parses the built message with the standard library's
// mail, mime and multipart readers: headers, the text, and the attachment
// bytes exactly.
func TestBuildMIME(t *testing.T) {
	m, pdf := receipt(t)
	b, err := mail.Build(m, "receipt/op/42", t0)
	if err != nil {
		t.Fatal(err)
	}
	if b.From != "rechnung@parkhaus.example" || b.To != "driver@example.org" {
		t.Errorf("envelope %s → %s", b.From, b.To)
	}
	for i, line := range strings.Split(string(b.Raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d has %d characters", i+1, len(line))
		}
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(b.Raw))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != m.Subject {
		t.Errorf("subject %q, %v", subj, err)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(t0) {
		t.Errorf("date %v, %v", d, err)
	}
	if to, err := msg.Header.AddressList("To"); err != nil || to[0].Name != "Jörg Fahrer" {
		t.Errorf("to %v, %v", to, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q, %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	type part struct {
		ctype, name string
		body        []byte
	}
	var parts []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(p)
		var body []byte
		switch p.Header.Get("Content-Transfer-Encoding") {
		case "base64":
			body, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
		case "quoted-printable":
			body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		case "": // multipart.Reader decodes quoted-printable itself and drops the header
			body = raw
		default:
			t.Fatalf("part encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts = append(parts, part{ct, p.FileName(), body})
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	if parts[0].ctype != "text/plain" || string(parts[0].body) != strings.ReplaceAll(m.Text, "\n", "\r\n") {
		t.Errorf("text part %q %q", parts[0].ctype, parts[0].body)
	}
	if parts[1].ctype != "application/pdf" || parts[1].name != "Rechnung-MITTE-000042.pdf" || !bytes.Equal(parts[1].body, pdf) {
		t.Errorf("pdf part %q %q, %d bytes, equal %v", parts[1].ctype, parts[1].name, len(parts[1].body), bytes.Equal(parts[1].body, pdf))
	}
	if parts[2].name != "Messwerte-OCMF.xml" || string(parts[2].body) != "<values/>" {
		t.Errorf("xml part %q %q", parts[2].name, parts[2].body)
	}
	again, _ := mail.Build(m, "receipt/op/42", t0)
	if !bytes.Equal(again.Raw, b.Raw) {
		t.Error("the same message built twice differs")
	}
}

func TestBuildRefuses(t *testing.T) {
	m, _ := receipt(t)
	for name, change := range map[string]func(*mail.Message){
		"header injection": func(m *mail.Message) { m.To = "driver@example.org\r\nBcc: all@example.org" },
		"subject break":    func(m *mail.Message) { m.Subject = "hi\r\nBcc: x@y.example" },
		"bad from":         func(m *mail.Message) { m.From = "nobody" },
		"bad attachment":   func(m *mail.Message) { m.Attachments[0].ContentType = "" },
	} {
		mm := m
		mm.Attachments = append([]mail.Attachment(nil), m.Attachments...)
		change(&mm)
		if _, err := mail.Build(mm, "id", t0); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

const password = "s3cret-Pa55-word"

func TestSendSTARTTLSWithAuth(t *testing.T) {
	srv := mailtest.NewServer(t, false, "parkgrid", password)
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "localhost", Port: srv.Port, Username: "parkgrid", PasswordFile: pwFile, RootCAs: srv.RootCAs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := receipt(t)
	b, err := mail.Build(m, "r/1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), b.From, b.To, b.Raw); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 || !got[0].TLS || got[0].Auth != "parkgrid" || got[0].From != b.From || got[0].To[0] != b.To {
		t.Fatalf("received %+v", got)
	}
	if !bytes.Equal(got[0].Data, b.Raw) {
		t.Error("the server received other bytes than were built")
	}
}

func TestSendImplicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, true, "parkgrid", password)
	env := func(k string) string {
		if k == "PARKGRID_SMTP_PASSWORD" {
			return password
		}
		return ""
	}
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "localhost", Port: srv.Port, Security: mail.ImplicitTLS, Username: "parkgrid",
		PasswordEnv: "PARKGRID_SMTP_PASSWORD", RootCAs: srv.RootCAs}, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), "a@x.example", "b@y.example", []byte("Subject: t\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := srv.Received(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("received %+v", got)
	}
}

// TestSendRefusesUntrustedServer: a certificate the config does not trust
// stops the send before any credential is sent.
func TestSendRefusesUntrustedServer(t *testing.T) {
	srv := mailtest.NewServer(t, false, "parkgrid", password)
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "localhost", Port: srv.Port, Username: "parkgrid", PasswordEnv: "P"},
		func(string) string { return password })
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), "a@x.example", "b@y.example", []byte("x"))
	if err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("send to an untrusted server: %v", err)
	}
}

func TestWrongPasswordIsPermanentAndNotLeaked(t *testing.T) {
	srv := mailtest.NewServer(t, false, "parkgrid", "other")
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "localhost", Port: srv.Port, Username: "parkgrid", PasswordEnv: "P", RootCAs: srv.RootCAs},
		func(string) string { return password })
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), "a@x.example", "b@y.example", []byte("x"))
	var perm *mail.PermanentError
	if !errors.As(err, &perm) || strings.Contains(err.Error(), password) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestNewSMTPRefuses(t *testing.T) {
	env := func(string) string { return "" }
	for name, c := range map[string]mail.SMTPConfig{
		"no host":           {Port: 587},
		"auth in the clear": {Host: "127.0.0.1", Port: 25, Security: mail.Plain, Username: "u", PasswordEnv: "P"},
		"plain to a remote": {Host: "smtp.example.com", Port: 25, Security: mail.Plain},
		"user, no password": {Host: "smtp.example.com", Port: 587, Username: "u", PasswordEnv: "UNSET"},
		"unknown security":  {Host: "smtp.example.com", Port: 587, Security: "ssl3"},
		"port out of range": {Host: "smtp.example.com", Port: 70000},
	} {
		if _, err := mail.NewSMTP(c, env); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := mail.NewSMTP(mail.SMTPConfig{Host: "x", Port: 1, Username: "u", PasswordFile: "/nonexistent"}, env); err == nil {
		t.Error("missing password file accepted")
	}
}

func openSQLite(t *testing.T) mail.Store {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "mail.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := mailsqlite.Migrate(t.Context(), db, t0); err != nil {
		t.Fatal(err)
	}
	return mailsqlite.New(db)
}

// TestOutboxRetriesAndSendsOnce: a temporary refusal is retried after the
// backoff, a sent message is never sent again, a permanent refusal is
// given up at once, and the password never reaches the log.
func TestOutboxRetriesAndSendsOnce(t *testing.T) {
	srv := mailtest.NewServer(t, false, "parkgrid", password)
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "localhost", Port: srv.Port, Username: "parkgrid", PasswordEnv: "P", RootCAs: srv.RootCAs},
		func(string) string { return password })
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("smtp configured", "smtp", mail.SMTPConfig{Host: "localhost", Port: srv.Port, Username: "parkgrid", PasswordEnv: "P"})
	store := openSQLite(t)
	o := mail.NewOutbox(store, s, log)
	ctx := t.Context()
	m, _ := receipt(t)
	for range 2 {
		if _, err := o.Enqueue(ctx, "receipt/op/42", m, t0); err != nil {
			t.Fatal(err)
		}
	}
	srv.Fail(&smtp.SMTPError{Code: 451, Message: "try later"})
	if rep, err := o.Deliver(ctx, t0); err != nil || rep != (mail.DeliverReport{Retry: 1}) {
		t.Fatalf("first run: %+v, %v", rep, err)
	}
	if it, _ := store.Get(ctx, "receipt/op/42"); it.Attempts != 1 || !it.NextAttempt.Equal(t0.Add(mail.Backoff(1))) || !strings.Contains(it.LastError, "451") {
		t.Fatalf("after a 451: %+v", it)
	}
	if rep, _ := o.Deliver(ctx, t0.Add(30*time.Second)); rep != (mail.DeliverReport{}) {
		t.Fatalf("delivered before the backoff: %+v", rep)
	}
	if rep, err := o.Deliver(ctx, t0.Add(time.Minute)); err != nil || rep != (mail.DeliverReport{Sent: 1}) {
		t.Fatalf("retry: %+v, %v", rep, err)
	}
	for _, at := range []time.Duration{time.Hour, 48 * time.Hour} {
		if rep, _ := o.Deliver(ctx, t0.Add(at)); rep != (mail.DeliverReport{}) {
			t.Fatalf("a sent mail went again: %+v", rep)
		}
	}
	if n := len(srv.Received()); n != 1 {
		t.Fatalf("server received %d messages, want 1", n)
	}

	m.To = "gone@example.org"
	o.Enqueue(ctx, "receipt/op/43", m, t0)
	srv.Fail(&smtp.SMTPError{Code: 550, Message: "no such user"})
	if rep, _ := o.Deliver(ctx, t0.Add(2*time.Hour)); rep != (mail.DeliverReport{Dead: 1}) {
		t.Fatalf("550: %+v", rep)
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("the password is in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "mail given up") {
		t.Errorf("log lacks the give-up:\n%s", logs.String())
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute}
	for i, w := range want {
		if got := mail.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := mail.Backoff(100); got != 6*time.Hour {
		t.Errorf("Backoff(100) = %v", got)
	}
}

func TestSQLiteStoreConformance(t *testing.T) {
	mailtest.RunStore(t, openSQLite)
}

func TestMigrations(t *testing.T) {
	for _, d := range []string{"postgres", "sqlite"} {
		if ms, err := mail.Migrations(d); err != nil || len(ms) != 1 {
			t.Errorf("%s: %d, %v", d, len(ms), err)
		}
	}
}

// TestQueueReceipt: an invoice's receipt is queued once, with the PDF
// receiptpdf renders attached byte for byte.
func TestQueueReceipt(t *testing.T) {
	srv := mailtest.NewServer(t, false, "", "")
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "localhost", Port: srv.Port, RootCAs: srv.RootCAs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := mail.NewOutbox(openSQLite(t), s, nil)
	inv := invoicetest.Sample("op-1", "s-1")
	inv.Number = 7
	inv.Receipt.Number = "MITTE-000007"
	for i, want := range []bool{true, false} {
		added, err := mail.QueueReceipt(t.Context(), o, inv, "rechnung@parkhaus.example", "driver@example.org", time.UTC, t0)
		if err != nil || added != want {
			t.Fatalf("queue %d: %v, %v", i, added, err)
		}
	}
	if rep, err := o.Deliver(t.Context(), t0); err != nil || rep.Sent != 1 {
		t.Fatalf("deliver: %+v, %v", rep, err)
	}
	var want bytes.Buffer
	if err := receiptpdf.Render(&want, inv.Receipt, receiptpdf.Options{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("%d received", len(got))
	}
	enc := base64.StdEncoding.EncodeToString(want.Bytes())
	if !strings.Contains(strings.ReplaceAll(string(got[0].Data), "\r\n", ""), enc) {
		t.Error("the mail does not carry the rendered receipt PDF")
	}
}
