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
