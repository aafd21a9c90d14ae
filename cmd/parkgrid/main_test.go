package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = realMain(context.Background(), args, &env{stdin: strings.NewReader(""), stdout: &o, stderr: &e, log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return code, o.String(), e.String()
}

func TestUsageAndUnknownCommand(t *testing.T) {
	if code, _, errOut := run(t); code != 2 || !strings.Contains(errOut, "usage: parkgrid") {
		t.Errorf("no args: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown: code %d, stderr %q", code, errOut)
	}
	if code, out, _ := run(t, "version"); code != 0 || !strings.HasPrefix(out, "parkgrid ") {
		t.Errorf("version: code %d, out %q", code, out)
	}
}

// TestEveryCommandHasHelp: NAME --help (and -h) prints the usage line and
// what the command does on stdout and exits 0; a bad flag exits 2.
func TestEveryCommandHasHelp(t *testing.T) {
	for name, c := range commands() {
		for _, h := range []string{"--help", "-h"} {
			code, out, errOut := run(t, name, h)
			if code != 0 || !strings.HasPrefix(out, "usage: parkgrid "+name) || !strings.Contains(out, c.about) || c.about == "" {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", name, h, code, out, errOut)
			}
		}
		if code, _, errOut := run(t, name, "--no-such-flag"); code != 2 || !strings.Contains(errOut, "usage: parkgrid "+name) {
			t.Errorf("%s --no-such-flag: exit %d, stderr %q", name, code, errOut)
		}
	}
	if code, out, _ := run(t, "help", "verify"); code != 0 || !strings.HasPrefix(out, "usage: parkgrid verify") {
		t.Errorf("help verify: exit %d, out %q", code, out)
	}
	if code, out, _ := run(t, "--help"); code != 0 || !strings.Contains(out, "usage: parkgrid <command>") {
		t.Errorf("--help: exit %d, out %q", code, out)
	}
}

func TestVersionFlag(t *testing.T) {
	for _, a := range []string{"version", "--version", "-version"} {
		if code, out, _ := run(t, a); code != 0 || !strings.HasPrefix(out, "parkgrid "+version+" (go") {
			t.Errorf("%s: exit %d, out %q", a, code, out)
		}
	}
}
