package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parkgrid/parkgrid/central/invoice/receiptcheck"
	"github.com/parkgrid/parkgrid/central/ocmf"
)

// maxVerifyInput bounds what verify reads from a file or stdin.
const maxVerifyInput = ocmf.MaxRecordBytes + 1

// runVerify checks one OCMF record's signature, or a receipt PDF's
// records and billed energy (verify_receipt.go). Valid: it prints "valid"
// and then the meter, the pagination and the readings, and exits 0.
// Invalid: "invalid: <reason>", exit 1. When the check cannot be made (bad
// usage, a malformed --pubkey, an unreadable file, an unknown session) it
// exits 2, so a script can tell "forged" from "could not check".
func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "verify")
	pubHex := fs.String("pubkey", "", "meter public key: hex DER SubjectPublicKeyInfo (spaces allowed), PEM, base64 SPKI or bare X||Y hex")
	embedded := fs.Bool("embedded-key", false, "use the public key named inside the record (its fourth section); proves integrity, not who signed")
	session := fs.String("session", "", "take the meter key enrolled for this stored session (needs --config)")
	cfgPath := fs.String("config", "deploy/central.yaml", "central config, to find the store for --session")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(fs, "give one FILE (or - for standard input)")
	}
	sources := 0
	for _, set := range []bool{*pubHex != "", *embedded, *session != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return usageError(fs, "give exactly one of --pubkey, --embedded-key, --session")
	}
	if *pubHex != "" {
		if err := checkKeyText(*pubHex); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("parkgrid verify: --pubkey: %v", err)}
		}
	}
	raw, err := readRecord(e, fs.Arg(0))
	if err != nil {
		return &exitError{code: 2, msg: "parkgrid verify: " + err.Error()}
	}
	if receiptcheck.IsPDF(raw) || strings.HasSuffix(strings.ToLower(fs.Arg(0)), ".pdf") {
		return verifyReceipt(ctx, e, raw, receiptKey{pubkey: *pubHex, embedded: *embedded, session: *session, cfg: *cfgPath})
	}
	rec, err := ocmf.Parse(raw)
	if err != nil {
		return invalid(e, err)
	}
	key := *pubHex
	switch {
	case *embedded:
		if rec.KeySection == "" {
			return invalid(e, errors.New("the record names no public key; pass --pubkey"))
		}
		key = rec.KeySection
	case *session != "":
		k, err := sessionMeterKey(ctx, *cfgPath, *session)
		if err != nil {
			return &exitError{code: 2, msg: "parkgrid verify: " + err.Error()}
		}
		key = k
	}
	pub, err := ocmf.ParsePublicKey(key, rec.Signature.SA)
	if err != nil {
		return invalid(e, err)
	}
	if err := ocmf.Verify(rec, pub); err != nil {
		return invalid(e, err)
	}
	_, err = io.WriteString(e.stdout, describe(rec))
	return err
}

// checkKeyText refuses a --pubkey that is not a key in any accepted
// spelling, whatever record it is used with: a typo is a usage error, not
// a forged record.
func checkKeyText(s string) error {
	_, err := ocmf.ParsePublicKey(s, "")
	if errors.Is(err, ocmf.ErrMalformed) || errors.Is(err, ocmf.ErrBadPublicKey) {
		return err
	}
	return nil
}

// describe says what a valid record vouches for: "valid", the meter, the
// pagination and identification, and one line per reading.
func describe(rec ocmf.Record) string {
	var b strings.Builder
	b.WriteString("valid\n")
	f := rec.Fields
	field := func(name, v string) {
		if strings.TrimSpace(v) != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, strings.TrimSpace(v))
		}
	}
	meter := strings.TrimSpace(strings.Join([]string{f.MV, f.MM}, " "))
	if f.MS != "" {
		meter = strings.TrimSpace(meter + " serial " + f.MS)
	}
	if f.MF != "" {
		meter += " firmware " + f.MF
	}
	field("meter", meter)
	field("pagination", f.PG)
	field("identification", strings.TrimSpace(f.IT+" "+f.ID))
	field("charge point", strings.TrimSpace(f.CT+" "+f.CI))
	for i, r := range f.RD {
		fmt.Fprintf(&b, "reading %d: %s  %s  %s %s", i+1, r.TM.Raw, r.TX, strings.TrimSpace(r.RV.Text), r.RU)
		if r.RI != "" {
			fmt.Fprintf(&b, "  (%s)", r.RI)
		}
		if r.ST != "" {
			fmt.Fprintf(&b, "  meter state %s", r.ST)
		}
		b.WriteString("\n")
	}
	if rec.DecodeErr != nil {
		fmt.Fprintf(&b, "note: the signature is valid but some fields did not decode: %v\n", rec.DecodeErr)
	}
	return b.String()
}

func invalid(e *env, reason error) error {
	fmt.Fprintf(e.stdout, "invalid: %v\n", reason)
	return &exitError{code: 1}
}

func readRecord(e *env, name string) ([]byte, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxVerifyInput))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) >= maxVerifyInput {
		return nil, fmt.Errorf("read %s: larger than %d bytes; not an OCMF record", name, ocmf.MaxRecordBytes)
	}
	return b, nil
}
