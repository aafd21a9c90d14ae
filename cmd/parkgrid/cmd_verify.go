package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/parkgrid/parkgrid/central/ocmf"
)

// maxVerifyInput bounds what verify reads from a file or stdin.
const maxVerifyInput = ocmf.MaxRecordBytes + 1

// runVerify checks one OCMF record's signature and prints "valid" or
// "invalid: <reason>"; it exits 0 only when the record is valid.
func runVerify(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: parkgrid verify (--pubkey HEX | --embedded-key | --session ID --config central.yaml) FILE|-")
		fs.PrintDefaults()
	}
	pubHex := fs.String("pubkey", "", "meter public key: hex DER SubjectPublicKeyInfo (spaces allowed), base64 SPKI or bare X||Y hex")
	embedded := fs.Bool("embedded-key", false, "use the public key named inside the record (its fourth section); proves integrity, not who signed")
	session := fs.String("session", "", "take the meter key enrolled for this stored session (needs --config)")
	cfgPath := fs.String("config", "deploy/central.yaml", "central config, to find the store for --session")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2}
	}
	sources := 0
	for _, set := range []bool{*pubHex != "", *embedded, *session != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return &exitError{code: 2, msg: "parkgrid verify: give exactly one of --pubkey, --embedded-key, --session"}
	}
	raw, err := readRecord(e, fs.Arg(0))
	if err != nil {
		return err
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
			return err
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
	_, err = fmt.Fprintln(e.stdout, "valid")
	return err
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
