package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
)

// newFlags returns the flag set of command name, whose usage names the
// command, says what it does and lists its flags.
func newFlags(e *env, name string) *flag.FlagSet {
	c := commands()[name]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: parkgrid %s %s\n\n%s\n", name, c.synopsis, c.about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args. Asked for help (-h, -help, --help), it prints the
// usage on stdout and ends the command with status 0; a bad flag ends it
// with status 2 and the usage on stderr.
func parseFlags(e *env, fs *flag.FlagSet, args []string) error {
	flags := args
	if i := slices.Index(args, "--"); i >= 0 {
		flags = args[:i]
	}
	for _, a := range flags {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return &exitError{code: 0}
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0}
		}
		return &exitError{code: 2}
	}
	return nil
}

// usageError ends a command with status 2 after its usage and msg.
func usageError(fs *flag.FlagSet, msg string) error {
	fs.Usage()
	return &exitError{code: 2, msg: "parkgrid " + fs.Name() + ": " + msg}
}
