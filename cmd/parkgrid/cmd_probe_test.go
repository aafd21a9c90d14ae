package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// pymodbusPython returns a python3 that can import pymodbus: the one on
// PATH, else Debian's /usr/bin/python3 (where python3-pymodbus installs).
func pymodbusPython(t *testing.T) string {
	t.Helper()
	py := svctest.Command(t, "python3", "apt-get install python3")
	for _, p := range []string{py, "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import pymodbus").Run() == nil {
			return p
		}
	}
	svctest.Missing(t, "python3 module pymodbus", "apt-get install -y python3-pymodbus")
	return ""
}

// TestProbeReadsPymodbusSDM630 runs `parkgrid probe` against an SDM630
// served by pymodbus, a Modbus stack written independently of ours.
func TestProbeReadsPymodbusSDM630(t *testing.T) {
	py := pymodbusPython(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := filepath.Join(svctest.RepoRoot(t), "drivers", "sdm630", "testdata", "pymodbus_sdm630.py")
	cmd := exec.CommandContext(ctx, py, script, strconv.Itoa(port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("pymodbus server exited before it was ready")
		}
	case <-ctx.Done():
		t.Fatal("pymodbus server not ready within 30 s")
	}

	addr := "127.0.0.1:" + strconv.Itoa(port)
	code, out, errOut := run(t, "probe", "--addr", addr, "--unit", "1", "--device", "sdm630", "--json", "--timeout", "2s")
	if code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errOut)
	}
	var res struct {
		Rows []struct{ Name, Value, Unit string } `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, r := range res.Rows {
		got[r.Name] = r.Value + " " + r.Unit
	}
	// The values pymodbus_sdm630.py serves, as the probe prints them.
	want := map[string]string{
		"voltage L1": "230.3 V", "voltage L2": "229.5 V", "voltage L3": "231.0 V",
		"current L1": "16.063 A", "current L3": "15.500 A",
		"total power": "118 W", "import energy": "12345.688 kWh", "total energy": "23456.500 kWh",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	code, table, _ := run(t, "probe", "--addr", addr, "--unit", "1", "--device", "sdm630")
	if code != 0 || !strings.Contains(table, "voltage L1") || !strings.Contains(table, "input 0x0000") {
		t.Errorf("table output: exit %d\n%s", code, table)
	}
}
