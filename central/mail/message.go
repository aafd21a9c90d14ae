package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// ErrInvalid: a message or config refused before anything is stored or
// sent.
var ErrInvalid = errors.New("invalid mail")

// Attachment is one file attached to a message.
type Attachment struct {
	Name        string // file name shown to the recipient
	ContentType string // e.g. "application/pdf"
	Data        []byte
}

// Message is an e-mail to build. From and To are RFC 5322 addresses
// ("Parkhaus Mitte <rechnung@example.com>").
type Message struct {
	From        string
	To          string
	Subject     string
	Text        string // the body, plain text, UTF-8
	Attachments []Attachment
}

// Built is a message ready to send: the envelope and the exact bytes.
type Built struct {
	From string // envelope sender, the bare address
	To   string // envelope recipient, the bare address
	Raw  []byte // the RFC 5322 message, CRLF line ends
}

// MaxMessageBytes bounds a built message (10 MiB, what most servers take).
const MaxMessageBytes = 10 << 20

func header(name, value string) (string, error) {
	if strings.ContainsAny(value, "\r\n") {
		return "", fmt.Errorf("mail: %w: line break in %s header", ErrInvalid, name)
	}
	return name + ": " + value + "\r\n", nil
}

// Build writes m as a multipart/mixed MIME message: the text as
// quoted-printable UTF-8, each attachment base64 in lines of 76. id names
// the message (the outbox id): the Message-ID and the part boundary are
// derived from it, so one id and one now give the same bytes again. now is
// the Date header.
func Build(m Message, id string, now time.Time) (Built, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return Built{}, fmt.Errorf("mail: %w: from %q: %w", ErrInvalid, m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return Built{}, fmt.Errorf("mail: %w: to %q: %w", ErrInvalid, m.To, err)
	}
	if id == "" {
		return Built{}, fmt.Errorf("mail: %w: no message id", ErrInvalid)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return Built{}, fmt.Errorf("mail: %w: line break in the subject", ErrInvalid)
	}
	sum := sha256.Sum256([]byte(id))
	tag := hex.EncodeToString(sum[:12])
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	boundary := "parkgrid-" + tag

	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + tag + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary})},
	} {
		line, err := header(h[0], h[1])
		if err != nil {
			return Built{}, err
		}
		b.WriteString(line)
	}
	b.WriteString("\r\n")

	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		return Built{}, fmt.Errorf("mail: body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return Built{}, fmt.Errorf("mail: body: %w", err)
	}
	b.WriteString("\r\n")

	for _, a := range m.Attachments {
		ctype, _, err := mime.ParseMediaType(a.ContentType)
		if err != nil || a.Name == "" {
			return Built{}, fmt.Errorf("mail: %w: attachment %q of type %q", ErrInvalid, a.Name, a.ContentType)
		}
		disp := mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})
		if disp == "" {
			return Built{}, fmt.Errorf("mail: %w: attachment name %q", ErrInvalid, a.Name)
		}
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + mime.FormatMediaType(ctype, map[string]string{"name": a.Name}) + "\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\nContent-Disposition: " + disp + "\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	if b.Len() > MaxMessageBytes {
		return Built{}, fmt.Errorf("mail: %w: %d bytes, at most %d", ErrInvalid, b.Len(), MaxMessageBytes)
	}
	return Built{From: from.Address, To: to.Address, Raw: b.Bytes()}, nil
}
