package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/parkgrid/parkgrid/edge/sign"
)

// runKeygen writes a gateway key pair and prints the public key for
// enrolment at central.
func runKeygen(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "keygen")
	out := fs.String("out", "", "directory for "+sign.PrivateFile+" (mode 0600) and "+sign.PublicFile+" (required)")
	force := fs.Bool("force", false, "replace an existing key pair (the old key stops verifying at central)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return usageError(fs, "--out DIR is required and takes no other arguments")
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
