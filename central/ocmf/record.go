package ocmf

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxRecordBytes bounds the size of a record Parse accepts. Real records,
// including ones that carry a certificate in a vendor field, are a few KiB.
const MaxRecordBytes = 1 << 20

const header = "OCMF|"

// Record is one parsed OCMF record.
type Record struct {
	// Payload is the payload section exactly as it appears after "OCMF|":
	// the bytes that were signed. It is never re-serialised.
	Payload []byte

	// SignatureSection is the signature section's JSON object, verbatim.
	SignatureSection []byte

	// Signature holds the signature section's fields.
	Signature Signature

	// KeySection is the withdrawn optional fourth section (S.A.F.E. issue
	// #16), normally a public key, with surrounding spaces trimmed; empty when
	// absent. It is informational: Verify never trusts a key that travels with
	// the data it vouches for.
	KeySection string

	// Fields are the payload's fields, decoded leniently.
	Fields Fields

	// DecodeErr says why Fields are incomplete: the payload is not even
	// lenient JSON, or some fields had an unexpected type or value and were
	// left empty. It never affects Verify, which works on Payload alone.
	DecodeErr error
}

// Signature is the signature section. Values are kept as written.
type Signature struct {
	SA string // algorithm; "" means ECDSA-secp256r1-SHA256
	SE string // encoding of SD: "" or "hex" (default), "base64"
	SM string // MIME type, informational ("application/x-der")
	SD string // signature data
}

// Parse splits an OCMF record into its sections and decodes its fields.
//
// The payload is found by a brace- and string-aware scan from the '{' that
// follows "OCMF|", so a '|' inside a payload string does not split it. The
// signature section follows after one '|'; a fourth '|' section (a public
// key) is tolerated; anything else is ErrMalformed. Leading white space and
// trailing white space or NUL padding (from Modbus registers) around the
// whole record are ignored.
//
// Parse fails only when the sections cannot be found or the signature
// section cannot be read. A payload whose fields do not decode still parses:
// see Record.DecodeErr.
func Parse[T string | []byte](record T) (Record, error) {
	data := bytes.TrimLeft([]byte(record), " \t\r\n")
	data = bytes.TrimRight(data, " \t\r\n\x00")
	if len(data) > MaxRecordBytes {
		return Record{}, fmt.Errorf("parse OCMF record: %w: %d bytes, at most %d", ErrMalformed, len(data), MaxRecordBytes)
	}
	if !bytes.HasPrefix(data, []byte(header)) {
		return Record{}, fmt.Errorf("parse OCMF record: %w: does not start with %q", ErrMalformed, header)
	}
	pos := len(header)
	payloadEnd, err := objectEnd(data, pos)
	if err != nil {
		return Record{}, fmt.Errorf("parse OCMF record: payload section: %w", err)
	}
	if payloadEnd == len(data) {
		return Record{}, fmt.Errorf("parse OCMF record: %w: no signature section", ErrMalformed)
	}
	if data[payloadEnd] != '|' {
		return Record{}, fmt.Errorf("parse OCMF record: %w: unexpected %q after the payload at byte %d", ErrMalformed, data[payloadEnd], payloadEnd)
	}
	sigStart := payloadEnd + 1
	sigEnd, err := objectEnd(data, sigStart)
	if err != nil {
		return Record{}, fmt.Errorf("parse OCMF record: signature section: %w", err)
	}
	var keySection string
	if rest := data[sigEnd:]; len(rest) > 0 {
		if rest[0] != '|' {
			return Record{}, fmt.Errorf("parse OCMF record: %w: unexpected %q after the signature section at byte %d", ErrMalformed, rest[0], sigEnd)
		}
		if bytes.IndexByte(rest[1:], '|') >= 0 {
			return Record{}, fmt.Errorf("parse OCMF record: %w: more than four sections", ErrMalformed)
		}
		keySection = string(bytes.TrimSpace(rest[1:]))
	}

	rec := Record{
		Payload:          bytes.Clone(data[pos:payloadEnd]),
		SignatureSection: bytes.Clone(data[sigStart:sigEnd]),
		KeySection:       keySection,
	}
	rec.Signature, err = decodeSignature(rec.SignatureSection)
	if err != nil {
		return Record{}, fmt.Errorf("parse OCMF record: signature section: %w", err)
	}
	rec.Fields, rec.DecodeErr = decodeFields(rec.Payload)
	return rec, nil
}

// objectEnd returns the index just past the '}' that closes the JSON object
// starting at data[start]. It tracks strings (with backslash escapes) and
// brace depth only, so it finds the exact extent of payloads that are not
// strict JSON.
func objectEnd(data []byte, start int) (int, error) {
	if start >= len(data) || data[start] != '{' {
		return 0, fmt.Errorf("%w: not a JSON object at byte %d", ErrMalformed, start)
	}
	depth := 0
	inString := false
	for i := start; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++ // skip the escaped byte, including \" and \\
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: JSON object starting at byte %d is not closed", ErrMalformed, start)
}

func decodeSignature(section []byte) (Signature, error) {
	v, err := parseLenientJSON(section)
	if err != nil {
		return Signature{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var sig Signature
	var errs []error
	for _, f := range []struct {
		key string
		dst *string
	}{{"SA", &sig.SA}, {"SE", &sig.SE}, {"SM", &sig.SM}, {"SD", &sig.SD}} {
		m, ok := v.get(f.key)
		if !ok || m.kind == jsonNull {
			continue
		}
		s, ok := m.text()
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s is a JSON %s", ErrMalformed, f.key, m.kind))
			continue
		}
		*f.dst = s
	}
	return sig, errors.Join(errs...)
}
