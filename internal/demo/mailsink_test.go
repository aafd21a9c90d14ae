package demo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/mail"
)

// lockedBuffer is an io.Writer safe for the sink's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMailSinkSavesWhatCentralSends: central's SMTP client, configured as
// demoMail configures it, delivers a receipt-like message to the sink,
// which writes its exact bytes as an .eml file and says where.
func TestMailSinkSavesWhatCentralSends(t *testing.T) {
	dir := t.TempDir()
	var out lockedBuffer
	ccfg := &centralconfig.Config{}
	sink, err := demoMail(dir, ccfg, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m := ccfg.Mail
	if m == nil || m.Host != "127.0.0.1" || m.Security != centralconfig.SMTPNone || m.Port != sink.Port() {
		t.Fatalf("central's mail config: %+v", m)
	}
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: m.Host, Port: m.Port, Security: mail.Security(m.Security), Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mail.Build(mail.Message{From: m.From, To: "Driver <driver@example.com>", Subject: "Rechnung / Invoice DEMO-000001 – Parkhaus Demo GmbH",
		Text: "Guten Tag\n", Attachments: []mail.Attachment{{Name: "Rechnung.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.3\n")}}},
		"receipt/demo-op/1", time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Send(t.Context(), b.From, b.To, b.Raw); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	if len(files) != 2 || filepath.Base(files[0]) != "0001-driver@example.com.eml" {
		t.Fatalf("files %v", files)
	}
	got, err := os.ReadFile(files[0])
	if err != nil || !bytes.Equal(got, b.Raw) {
		t.Errorf("saved message differs from the sent one (%v)", err)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("saved message readable by others: %v, %v", fi.Mode(), err)
	}
	if !strings.Contains(out.String(), `mail: "Rechnung / Invoice DEMO-000001 – Parkhaus Demo GmbH" to driver@example.com saved as `+files[0]) {
		t.Errorf("notice:\n%s", out.String())
	}
	if n, _ := filepath.Glob(filepath.Join(dir, "mail", ".incoming-*")); len(n) != 0 {
		t.Errorf("temporary files left: %v", n)
	}

	// A second run continues the numbering.
	sink2, err := startMailSink(filepath.Join(dir, "mail"), &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink2.Close()
	s2, _ := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: sink2.Port(), Security: mail.Plain}, nil)
	if err := s2.Send(t.Context(), b.From, "other@example.com", b.Raw); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mail", "0003-other@example.com.eml")); err != nil {
		t.Error(err)
	}
}

func TestMailSinkRefusesABadRecipient(t *testing.T) {
	dir := t.TempDir()
	sink, err := startMailSink(dir, &lockedBuffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	s, _ := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: sink.Port(), Security: mail.Plain}, nil)
	for _, to := range []string{"../../etc/passwd", "a..b@example.com"} {
		err = s.Send(t.Context(), "a@b.example", to, []byte("Subject: x\r\n\r\nx\r\n"))
		var perm *mail.PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("recipient %q: %v, want a permanent refusal", to, err)
		}
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

func TestDemoMailKeepsAConfiguredServer(t *testing.T) {
	own := &centralconfig.Mail{Host: "smtp.example.com", From: "a@b.example"}
	ccfg := &centralconfig.Config{Mail: own}
	sink, err := demoMail(t.TempDir(), ccfg, &lockedBuffer{}, nil)
	if err != nil || sink != nil || ccfg.Mail != own {
		t.Errorf("a configured mail server was replaced: %v, %v", sink, err)
	}
}

// FuzzEMLName: whatever recipient a client sends, the file stays one name
// inside the mail directory.
func FuzzEMLName(f *testing.F) {
	for _, s := range []string{"driver@example.com", "../../etc/passwd", "a/b\\c", "", ".hidden", "ä@ö.example", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, to string) {
		name := emlName(7, to)
		if filepath.Base(name) != name || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || len(name) > 120 ||
			!strings.HasSuffix(name, ".eml") || filepath.Join("/mail", name) != "/mail/"+name {
			t.Fatalf("recipient %q gives file name %q", to, name)
		}
	})
}
