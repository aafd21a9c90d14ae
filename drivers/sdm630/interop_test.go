package sdm630_test

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// pythonWithPymodbus returns a python3 that can import pymodbus: the one on
// PATH, else Debian's /usr/bin/python3 (python3-pymodbus installs there,
// while a pyenv or venv python3 may shadow it on PATH).
func pythonWithPymodbus(t *testing.T) string {
	t.Helper()
	py := svctest.Command(t, "python3", "apt-get install python3")
	for _, p := range []string{py, "/usr/bin/python3"} {
		if out, err := exec.Command(p, "-c", "import pymodbus; print(pymodbus.__version__)").Output(); err == nil {
			t.Logf("%s: pymodbus %s", p, out)
			return p
		}
	}
	svctest.Missing(t, "python3 module pymodbus", "apt-get install -y python3-pymodbus")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestInteropPymodbus reads an SDM630 served by pymodbus (a Modbus stack
// written independently of ours) through the real Bus and driver.
func TestInteropPymodbus(t *testing.T) {
	py := pythonWithPymodbus(t)
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, py, "testdata/pymodbus_sdm630.py", strconv.Itoa(port))
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

	bus := modbus.NewTCP(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), modbus.Options{Name: "pymodbus", Timeout: 2 * time.Second})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = bus.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	m := sdm630.New("interop", bus, 1)
	got, err := m.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := drivers.MeterSample{
		VoltageDV:        [3]int64{2303, 2295, 2310},
		CurrentMA:        [3]int64{16063, 0, 15500},
		PhasePowerW:      [3]int64{3699, 0, -3580},
		PowerW:           118,
		FrequencyMilliHz: 49984,
		ImportWh:         12345688,
		Has:              drivers.HasPhasePower | drivers.HasFrequency,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample (-want +got):\n%s", diff)
	}
	if wh, err := m.EnergyWh(ctx); err != nil || wh != 12345688 {
		t.Errorf("EnergyWh = %d, %v; want 12345688", wh, err)
	}
	if wh, err := m.TotalWh(ctx); err != nil || wh != 23456500 {
		t.Errorf("TotalWh = %d, %v; want 23456500", wh, err)
	}
}
