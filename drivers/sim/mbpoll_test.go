package sim

import (
	"context"
	"math"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestMbpollReadsTheGridMeter checks the simulator against someone else's
// Modbus client: Debian's mbpoll reads the grid meter's voltages as
// big-endian floats (FC04, 0-based addresses) and must see what the control
// API reports.
func TestMbpollReadsTheGridMeter(t *testing.T) {
	mbpoll := svctest.Command(t, "mbpoll", "apt-get install mbpoll")
	s := startSim(t, `
listen: 127.0.0.1:0
api: "off"
start: `+fixedStart+`
seed: 3
voltage: {noise_v: 2}
grid: {unit: 1, base_load_w: [1000, 2000, 3000]}
sub_distributions:
  - name: ud1
    points: [{name: p, count: 2, unit: 11, meter_unit: 21}]
`)
	s.Step(5 * time.Second) // noisy voltages, not 230.00
	_, port, err := net.SplitHostPort(s.ModbusAddr(MainListener))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// -t 3:float: input registers as 32-bit floats; -B: high word first;
	// -0: -r is the 0-based PDU address; -c 3: three floats (6 registers).
	out, err := exec.CommandContext(ctx, mbpoll, "-m", "tcp", "-a", "1", "-t", "3:float", "-B", "-0", "-r", "0",
		"-c", "3", "-1", "-o", "2", "-p", port, "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll: %v\n%s", err, out)
	}
	// Lines like "[0]: 230.12" (the reference of each float).
	re := regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(-?[0-9.]+)`)
	got := map[int]float64{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		ref, _ := strconv.Atoi(m[1])
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("mbpoll value %q: %v", m[2], err)
		}
		got[ref] = v
	}
	want := s.State().Grid.VoltageV
	for g := range 3 {
		v, ok := got[2*g]
		if !ok {
			t.Fatalf("mbpoll printed no value for reference %d:\n%s", 2*g, out)
		}
		if math.Abs(v-want[g]) > 0.01 {
			t.Errorf("L%d: mbpoll %.3f V, control API %.3f V\n%s", g+1, v, want[g], out)
		}
	}
	if want[0] == 230 && want[1] == 230 && want[2] == 230 {
		t.Errorf("voltages without noise: the comparison proves little")
	}
	t.Logf("mbpoll:\n%s", out)
}
