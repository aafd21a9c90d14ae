package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/parkgrid/parkgrid/edge/sign"
)

// runKeygen writes a gateway key pair and prints the public key for
// enrolment at central.
func runKeygen(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	out := fs.String("out", "", "directory for "+sign.PrivateFile+" (mode 0600) and "+sign.PublicFile+" (required)")
	force := fs.Bool("force", false, "replace an existing key pair (the old key stops verifying at central)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: parkgrid keygen --out DIR [--force]\n\nWrites an Ed25519 gateway key pair and prints the public key (hex) to enrol at central.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0}
		}
		return &exitError{code: 2}
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return &exitError{code: 2, msg: "parkgrid keygen: --out DIR is required and takes no other arguments"}
	}
	pub, err := sign.Generate(*out, *force, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s (secret, mode 0600) and %s\nenrol this public key for the gateway at central:\n",
		filepath.Join(*out, sign.PrivateFile), filepath.Join(*out, sign.PublicFile))
	_, err = fmt.Fprintln(e.stdout, sign.PublicHex(pub))
	return err
}
