package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/ocmf"
)

// Contexts of an S.A.F.E. <value>, from the record's transaction reading.
const (
	ContextBegin        = "Transaction.Begin"
	ContextEnd          = "Transaction.End"
	ContextIntermediate = "Transaction.Intermediate"
)

// SignedRecords are the signed meter records of one session, exactly as
// the meter produced them, with the meter's public key.
type SignedRecords struct {
	Session   string
	OCMF      []string
	PublicKey string // hex SubjectPublicKeyInfo (or raw point), as published
}

// RecordsOfReceipt takes the signed records from an issued receipt.
func RecordsOfReceipt(sessionID string, r invoice.Receipt) SignedRecords {
	return SignedRecords{Session: sessionID, OCMF: r.OCMF, PublicKey: r.MeterPublicKey}
}

// The XML container of the S.A.F.E. transparency software:
//
//	<values>
//	  <value transactionId="1" context="Transaction.Begin">
//	    <signedData format="OCMF" encoding="plain" transactionId="…">OCMF|…|…</signedData>
//	    <publicKey encoding="hex">3059…</publicKey>
//	  </value>
//	</values>
//
// signedData must hold the record with no white space around it, or the
// signature cannot be checked.
type safeValues struct {
	XMLName xml.Name    `xml:"values"`
	Values  []safeValue `xml:"value"`
}

type safeValue struct {
	TransactionID string         `xml:"transactionId,attr"`
	Context       string         `xml:"context,attr"`
	SignedData    safeSigned     `xml:"signedData"`
	PublicKey     *safePublicKey `xml:"publicKey,omitempty"`
}

type safeSigned struct {
	Format        string `xml:"format,attr"`
	Encoding      string `xml:"encoding,attr"`
	TransactionID string `xml:"transactionId,attr,omitempty"`
	Data          string `xml:",chardata"`
}

type safePublicKey struct {
	Encoding string `xml:"encoding,attr"`
	Key      string `xml:",chardata"`
}

// recordContext names a record by its first transaction reading.
func recordContext(rec string) string {
	r, err := ocmf.Parse(rec)
	if err != nil {
		return ContextIntermediate
	}
	for _, rd := range r.Fields.RD {
		switch rd.TX {
		case "":
			continue
		case "B":
			return ContextBegin
		case "E", "L", "R", "A", "P":
			return ContextEnd
		default:
			return ContextIntermediate
		}
	}
	return ContextIntermediate
}

// WriteSAFE writes the records as the S.A.F.E. XML container, one <value>
// per record numbered from 1, each with the meter's public key (hex). A
// record that is not OCMF, or a key that does not parse, is refused: the
// file is for checking signatures, and a broken one would only mislead.
func WriteSAFE(w io.Writer, sr SignedRecords) error {
	if len(sr.OCMF) == 0 {
		return fmt.Errorf("safe export of session %s: %w: no signed records", sr.Session, ErrInvalid)
	}
	var key *safePublicKey
	if sr.PublicKey != "" {
		if _, err := ocmf.ParsePublicKey(sr.PublicKey, ""); err != nil {
			return fmt.Errorf("safe export of session %s: %w: meter public key: %w", sr.Session, ErrInvalid, err)
		}
		key = &safePublicKey{Encoding: "hex", Key: publicKeyText(sr.PublicKey)}
	}
	doc := safeValues{}
	for i, rec := range sr.OCMF {
		if !strings.HasPrefix(rec, "OCMF|") {
			return fmt.Errorf("safe export of session %s: %w: record %d is not OCMF", sr.Session, ErrInvalid, i+1)
		}
		if !xmlText(rec) {
			return fmt.Errorf("safe export of session %s: %w: record %d holds characters XML cannot carry", sr.Session, ErrInvalid, i+1)
		}
		if _, err := ocmf.Parse(rec); err != nil {
			return fmt.Errorf("safe export of session %s: %w: record %d: %w", sr.Session, ErrInvalid, i+1, err)
		}
		doc.Values = append(doc.Values, safeValue{
			TransactionID: strconv.Itoa(i + 1), Context: recordContext(rec),
			SignedData: safeSigned{Format: "OCMF", Encoding: "plain", TransactionID: sr.Session, Data: rec},
			PublicKey:  key,
		})
	}
	// Written by hand rather than with encoding/xml's encoder, which
	// escapes every quote of the JSON as &#34;: the file stays readable,
	// and only &, < and > are escaped, as XML requires.
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<values>\n")
	for _, v := range doc.Values {
		fmt.Fprintf(&b, "  <value transactionId=\"%s\" context=\"%s\">\n", attr(v.TransactionID), attr(v.Context))
		fmt.Fprintf(&b, "    <signedData format=\"OCMF\" encoding=\"plain\" transactionId=\"%s\">%s</signedData>\n",
			attr(v.SignedData.TransactionID), text(v.SignedData.Data))
		if v.PublicKey != nil {
			fmt.Fprintf(&b, "    <publicKey encoding=\"hex\">%s</publicKey>\n", text(v.PublicKey.Key))
		}
		b.WriteString("  </value>\n")
	}
	b.WriteString("</values>\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("safe export of session %s: %w", sr.Session, err)
	}
	return nil
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "\r", "&#xD;", "\n", "&#xA;", "\t", "&#x9;")
)

// xmlText reports whether s is valid UTF-8 of characters XML 1.0 allows.
func xmlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

func text(s string) string { return textEscaper.Replace(s) }
func attr(s string) string { return attrEscaper.Replace(s) }

// SAFEValue is one record read back from an S.A.F.E. container.
type SAFEValue struct {
	TransactionID string
	Context       string
	Format        string
	Encoding      string
	Data          string // the signed data exactly as in the file
	PublicKey     string
	KeyEncoding   string
}

// MaxSAFEBytes bounds what ReadSAFE accepts.
const MaxSAFEBytes = 4 << 20

// ReadSAFE reads an S.A.F.E. XML container (ours or another's) back into
// its values; it is what a check of an export, or an import, starts from.
func ReadSAFE(r io.Reader) ([]SAFEValue, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSAFEBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read safe xml: %w", err)
	}
	if len(data) > MaxSAFEBytes {
		return nil, fmt.Errorf("read safe xml: %w: larger than %d bytes", ErrInvalid, MaxSAFEBytes)
	}
	var doc safeValues
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read safe xml: %w: %w", ErrInvalid, err)
	}
	if len(doc.Values) == 0 {
		return nil, fmt.Errorf("read safe xml: %w: no <value>", ErrInvalid)
	}
	out := make([]SAFEValue, len(doc.Values))
	for i, v := range doc.Values {
		out[i] = SAFEValue{TransactionID: v.TransactionID, Context: v.Context, Format: v.SignedData.Format,
			Encoding: v.SignedData.Encoding, Data: v.SignedData.Data}
		if v.PublicKey != nil {
			out[i].PublicKey, out[i].KeyEncoding = strings.TrimSpace(v.PublicKey.Key), v.PublicKey.Encoding
		}
	}
	return out, nil
}

// VerifySAFE checks every value of a container with central/ocmf: the
// record's signature with the key in the file. It returns one error per
// value that fails, joined.
func VerifySAFE(vals []SAFEValue) error {
	var errs []error
	for _, v := range vals {
		if v.Format != "OCMF" || v.Encoding != "plain" {
			errs = append(errs, fmt.Errorf("value %s: format %q encoding %q", v.TransactionID, v.Format, v.Encoding))
			continue
		}
		rec, err := ocmf.Parse(v.Data)
		if err != nil {
			errs = append(errs, fmt.Errorf("value %s: %w", v.TransactionID, err))
			continue
		}
		key, err := ocmf.ParsePublicKey(v.PublicKey, rec.Signature.SA)
		if err != nil {
			errs = append(errs, fmt.Errorf("value %s: key: %w", v.TransactionID, err))
			continue
		}
		if err := ocmf.Verify(rec, key); err != nil {
			errs = append(errs, fmt.Errorf("value %s: %w", v.TransactionID, err))
		}
	}
	return errors.Join(errs...)
}
