package main

import (
	"strings"
	"testing"
)

func TestCentralCheck(t *testing.T) {
	code, out, errOut := run(t, "central", "--check", "--config", "../../deploy/central.yaml")
	if code != 0 || !strings.Contains(out, "store sqlite, broker embedded on 127.0.0.1:1884, 1 gateways: ok") {
		t.Errorf("check: code %d, out %q, err %q", code, out, errOut)
	}
	if code, _, errOut := run(t, "central"); code != 2 || !strings.Contains(errOut, "--config is required") {
		t.Errorf("no config: code %d, err %q", code, errOut)
	}
}
