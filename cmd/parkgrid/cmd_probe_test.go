package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/drivers/probe"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestProbeReadsPymodbusSDM630 runs `parkgrid probe` against an SDM630
// served by pymodbus, a Modbus stack written independently of ours.
func TestProbeReadsPymodbusSDM630(t *testing.T) {
	addr := svctest.PymodbusSDM630(t)
	code, out, errOut := run(t, "probe", "--addr", addr, "--unit", "1", "--device", "sdm630", "--json", "--timeout", "2s")
	if code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errOut)
	}
	var res struct {
		Rows []probe.Row `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"value": 230.3,`) {
		t.Errorf("probe --json: voltage L1 is not a JSON number:\n%s", out)
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
