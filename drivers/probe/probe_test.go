package probe

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/modbus/modbustest"
)

func floats(vals map[uint16]float32, n uint16) []uint16 {
	out := make([]uint16, n)
	for reg, f := range vals {
		bits := math.Float32bits(f)
		out[reg], out[reg+1] = uint16(bits>>16), uint16(bits)
	}
	return out
}

// site serves one device of each kind: sdm630 unit 1, eichrecht 2, phoenix
// 3, diinput 4, xymd02 5.
func site(t *testing.T) (*modbus.Bus, []byte) {
	m := modbustest.NewMemory()
	m.Set(1, modbustest.InputRegisters, 0, floats(map[uint16]float32{
		0: 230.25, 2: 229.5, 4: 231, 6: 16.0625, 8: 0, 10: 15.5,
		12: 3698.5, 14: 0, 16: -3580.25, 0x34: 118.25, 0x46: 50, 0x48: 12345.6875,
	}, 80)...)
	m.Set(1, modbustest.InputRegisters, 0x156, floats(map[uint16]float32{0: 23456.5}, 2)...)

	m.Set(2, modbustest.HoldingRegisters, 0, make([]uint16, 0x81)...)
	m.Set(2, modbustest.HoldingRegisters, 0, 0, 0, 0x00bc, 0x614e, 0, 3680, 0, 16000, 0, 0, 0, 0, 2301, 2299, 2310)
	m.Set(2, modbustest.HoldingRegisters, 0x10, 0, 0, 41)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	m.Set(2, modbustest.HoldingRegisters, 0x40, uint16(len(der)))
	m.SetBytes(2, modbustest.HoldingRegisters, 0x41, der)

	m.Set(3, modbustest.InputRegisters, 100, 'C')
	m.Set(3, modbustest.InputRegisters, 102, 70, 0) // 70 s charging: above any current
	m.Set(3, modbustest.InputRegisters, 108, 230, 0, 231, 0, 229, 0, 16, 0, 16, 0, 16, 0, 11040, 0)
	m.Set(3, modbustest.Coils, 400, 1)
	m.Set(3, modbustest.HoldingRegisters, 528, 16)
	m.Set(3, modbustest.HoldingRegisters, 904, 0x86a0, 1) // 100000 Wh

	m.Set(4, modbustest.DiscreteInputs, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1)
	m.Set(5, modbustest.InputRegisters, 1, 0xFFF6, 456)

	srv := modbustest.NewServer(t, m)
	bus := modbus.NewTCP(srv.Addr, modbus.Options{Name: "probe-test", Timeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return bus, der
}

func TestProbe(t *testing.T) {
	bus, der := site(t)
	tests := []struct {
		kind string
		unit uint8
		want []Row
	}{
		{"sdm630", 1, []Row{
			{"voltage L1", "230.3", "V", "input 0x0000"},
			{"voltage L2", "229.5", "V", "input 0x0002"},
			{"voltage L3", "231.0", "V", "input 0x0004"},
			{"current L1", "16.063", "A", "input 0x0006"},
			{"current L2", "0.000", "A", "input 0x0008"},
			{"current L3", "15.500", "A", "input 0x000a"},
			{"power L1", "3699", "W", "input 0x000c"},
			{"power L2", "0", "W", "input 0x000e"},
			{"power L3", "-3580", "W", "input 0x0010"},
			{"total power", "118", "W", "input 0x0034"},
			{"frequency", "50.000", "Hz", "input 0x0046"},
			{"import energy", "12345.688", "kWh", "input 0x0048"},
			{"total energy", "23456.500", "kWh", "input 0x0156"},
		}},
		{"eichrecht", 2, []Row{
			{"import energy", "12345.678", "kWh", "holding 0x0000"},
			{"power", "3680", "W", "holding 0x0004"},
			{"voltage L1", "230.1", "V", "holding 0x000c"},
			{"voltage L2", "229.9", "V", "holding 0x000d"},
			{"voltage L3", "231.0", "V", "holding 0x000e"},
			{"current L1", "16.000", "A", "holding 0x0006"},
			{"current L2", "0.000", "A", "holding 0x0008"},
			{"current L3", "0.000", "A", "holding 0x000a"},
			{"snapshot status", "0 (idle)", "", "holding 0x0010"},
			{"snapshot length", "0", "bytes", "holding 0x0011"},
			{"snapshot counter", "41", "", "holding 0x0012"},
			{"public key", hex.EncodeToString(der), "DER hex", "holding 0x0041"},
		}},
		{"phoenix", 3, []Row{
			{"state", "C", "", "input 0x0064"},
			{"charge time", "70", "s", "input 0x0066"},
			{"charging enabled", "true", "", "coil 0x0190"},
			{"max current", "16", "A", "holding 0x0210"},
			{"voltage L1", "230", "V", "input 0x006c"},
			{"voltage L2", "231", "V", "input 0x006e"},
			{"voltage L3", "229", "V", "input 0x0070"},
			{"current L1", "16", "A", "input 0x0072"},
			{"current L2", "16", "A", "input 0x0074"},
			{"current L3", "16", "A", "input 0x0076"},
			{"power", "11040", "W", "input 0x0078"},
			{"energy", "100000", "Wh", "holding 0x0388"},
		}},
		{"diinput", 4, []Row{
			{"fire loop", "closed (healthy)", "", "discrete 0x0000"},
			{"fire loop supervision", "closed (intact)", "", "discrete 0x0001"},
			{"SPD 1", "closed (healthy)", "", "discrete 0x0002"},
			{"SPD 2", "closed (healthy)", "", "discrete 0x0003"},
			{"SPD 3", "open (TRIPPED)", "", "discrete 0x0004"},
			{"SPD 4", "closed (healthy)", "", "discrete 0x0005"},
			{"SPD 5", "closed (healthy)", "", "discrete 0x0006"},
			{"SPD 6", "closed (healthy)", "", "discrete 0x0007"},
			{"SPD 7", "closed (healthy)", "", "discrete 0x0008"},
			{"SPD 8", "closed (healthy)", "", "discrete 0x0009"},
		}},
		{"xymd02", 5, []Row{
			{"temperature", "-1.0", "°C", "input 0x0001"},
			{"humidity", "45.6", "%", "input 0x0002"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			res, err := Probe(context.Background(), bus, tt.unit, tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, res.Rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if res.Errors != 0 {
				t.Errorf("errors = %d", res.Errors)
			}
		})
	}
}

func TestProbeWrongKindShowsErrorRows(t *testing.T) {
	bus, _ := site(t)
	// Unit 3 is a charge controller: as an Eichrecht meter, nothing reads.
	res, err := Probe(context.Background(), bus, 3, "eichrecht")
	if err == nil {
		t.Fatal("no error although no group could be read")
	}
	if !errors.Is(err, modbus.ErrException) {
		t.Errorf("err = %v, want the exception", err)
	}
	if res.Errors != 3 || len(res.Rows) != 3 || !strings.HasPrefix(res.Rows[0].Value, "error: ") {
		t.Errorf("result = %+v, want 3 error rows", res)
	}
	if _, err := Probe(context.Background(), bus, 9, "xymd02"); err == nil {
		t.Error("probe of an absent unit succeeded")
	}
	if _, err := Probe(context.Background(), bus, 1, "toaster"); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestWriteTableAndJSON(t *testing.T) {
	res := Result{Kind: "xymd02", Unit: 5, Rows: []Row{
		{"temperature", "-1.0", "°C", "input 0x0001"},
		{"humidity", "error: timeout", "", "input 0x0002"},
	}, Errors: 1}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	want := "xymd02 unit 5\n" +
		"NAME         VALUE           UNIT  REGISTER\n" +
		"temperature  -1.0            °C    input 0x0001\n" +
		"humidity     error: timeout        input 0x0002\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	buf.Reset()
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

func TestFixed(t *testing.T) {
	for v, want := range map[int64]string{0: "0.000", 5: "0.005", -5: "-0.005", 12345688: "12345.688", -1000: "-1.000"} {
		if got := fixed(v, 3); got != want {
			t.Errorf("fixed(%d, 3) = %q, want %q", v, got, want)
		}
	}
	if got := fixed(math.MinInt64, 0); got != "-9223372036854775808" {
		t.Errorf("fixed(MinInt64) = %q", got)
	}
}

func TestProbePartialDevice(t *testing.T) {
	// An SDM630 look-alike without the total-energy register: the main block
	// shows, the missing group becomes one error row, and Probe succeeds.
	m := modbustest.NewMemory()
	m.Set(1, modbustest.InputRegisters, 0, make([]uint16, 80)...)
	srv := modbustest.NewServer(t, m)
	bus := modbus.NewTCP(srv.Addr, modbus.Options{Name: "partial"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	res, err := Probe(context.Background(), bus, 1, "sdm630")
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 1 || len(res.Rows) != 13 {
		t.Fatalf("result = %+v, want 12 values and 1 error row", res)
	}
	last := res.Rows[12]
	if last.Name != "total energy" || !strings.HasPrefix(last.Value, "error: ") || !strings.Contains(last.Value, "illegal data address") {
		t.Errorf("last row = %+v", last)
	}
}

// TestJSONNumbersAreNumbers: --json writes measured values as JSON numbers
// and states as strings.
func TestJSONNumbersAreNumbers(t *testing.T) {
	var buf bytes.Buffer
	r := Result{Kind: "sdm630", Unit: 1, Rows: []Row{
		{Name: "voltage L1", Value: "230.3", Unit: "V", Register: "input 0x0000"},
		{Name: "power", Value: "-3580", Unit: "W", Register: "input 0x000c"},
		{Name: "fire loop", Value: "closed (healthy)", Register: "discrete 0x0000"},
		{Name: "energy", Value: "error: timeout", Register: "input 0x0048"},
	}}
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rows []struct {
			Value any `json:"value"`
		} `json:"rows"`
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := []any{json.Number("230.3"), json.Number("-3580"), "closed (healthy)", "error: timeout"}
	for i, w := range want {
		if got.Rows[i].Value != w {
			t.Errorf("row %d value %#v, want %#v", i, got.Rows[i].Value, w)
		}
	}
}

// TestDIInputWithEightInputs: a module with 8 inputs (fire loop,
// supervision, 6 SPD contacts) is probed without an error row.
func TestDIInputWithEightInputs(t *testing.T) {
	m := modbustest.NewMemory()
	m.Set(4, modbustest.DiscreteInputs, 0, 1, 1, 1, 1, 0, 1, 1, 1)
	srv := modbustest.NewServer(t, m)
	bus := modbus.NewTCP(srv.Addr, modbus.Options{Name: "di8", Timeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	res, err := Probe(ctx, bus, 4, "diinput")
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || len(res.Rows) != 8 {
		t.Fatalf("rows %+v, errors %d; want 8 rows, none an error", res.Rows, res.Errors)
	}
	if res.Rows[4].Name != "SPD 3" || !strings.HasPrefix(res.Rows[4].Value, "open") || res.Rows[7].Name != "SPD 6" {
		t.Errorf("rows %+v", res.Rows)
	}
}
