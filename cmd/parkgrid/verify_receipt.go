package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/parkgrid/parkgrid/central/invoice/receiptcheck"
)

// receiptKey is where verify takes the meter key for a receipt from.
type receiptKey struct {
	pubkey   string // --pubkey
	embedded bool   // --embedded-key: the key printed on the receipt
	session  string // --session, with cfg
	cfg      string
}

// verifyReceipt checks a receipt PDF: the OCMF records of its QR codes
// against the meter key, and the energy it bills against end − begin of
// the verified records. Exit 0 valid, 1 invalid, 2 could not check (not a
// PDF, no readable QR code, no usable key).
func verifyReceipt(ctx context.Context, e *env, pdf []byte, k receiptKey) error {
	cannot := func(err error) error { return &exitError{code: 2, msg: "parkgrid verify: receipt: " + err.Error()} }
	r, err := receiptcheck.Read(pdf)
	if err != nil {
		return cannot(err)
	}
	key, from := k.pubkey, "--pubkey"
	switch {
	case k.embedded:
		if r.PrintedKey == "" {
			return cannot(errors.New("the receipt prints no meter public key; pass --pubkey"))
		}
		key, from = r.PrintedKey, "printed on the receipt (proves the records are unchanged, not whose meter signed them)"
	case k.session != "":
		if key, err = sessionMeterKey(ctx, k.cfg, k.session); err != nil {
			return cannot(err)
		}
		from = "enrolled for session " + k.session
	}
	res, err := receiptcheck.Check(r, key)
	if err != nil {
		return cannot(err)
	}
	if !res.Valid {
		fmt.Fprintf(e.stdout, "invalid: %s\n", strings.Join(res.Reasons, "; "))
		return &exitError{code: 1}
	}
	m := res.Measured
	var b strings.Builder
	b.WriteString("valid\n")
	fmt.Fprintf(&b, "energy: %s kWh billed = end %s − begin %s kWh of the signed records\n",
		kwh(res.PrintedWh), kwhMilli(m.EndMilliWh), kwhMilli(m.BeginMilliWh))
	fmt.Fprintf(&b, "signed: %s to %s\n", m.Start.UTC().Format("2006-01-02 15:04:05Z"), m.End.UTC().Format("2006-01-02 15:04:05Z"))
	fmt.Fprintf(&b, "records: %d, each verified with the meter key %s\n", len(res.Records), from)
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

func kwh(wh int64) string { return fmt.Sprintf("%d.%03d", wh/1000, wh%1000) }

// kwhMilli writes a register in mWh as kWh, with as many decimals as it
// needs (at least three).
func kwhMilli(mwh int64) string {
	s := fmt.Sprintf("%d.%06d", mwh/1_000_000, mwh%1_000_000)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 4 {
		s = s[:len(s)-1]
	}
	return s
}
