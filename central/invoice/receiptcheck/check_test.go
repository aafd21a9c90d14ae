package receiptcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// receipt renders a receipt billing wh Wh with the given records and key.
func receipt(t *testing.T, records []string, key string, wh int64, compressed bool) []byte {
	t.Helper()
	r := invoicetest.Sample("op-1", "s-1").Receipt
	r.Number = invoice.FormatNumber("MITTE-", 42)
	p, err := tariff.Price(tariff.Tariff{ID: "eco", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 49, VATRateBP: 1900}, wh, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r.Price, r.OCMF, r.MeterPublicKey = p, records, key
	var b bytes.Buffer
	if err := receiptpdf.Render(&b, r, receiptpdf.Options{Uncompressed: !compressed}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type katRecord struct {
	OCMF   string `json:"ocmf"`
	Key    string `json:"public_key_hex"`
	Expect string `json:"expect"`
	Source string `json:"source"`
}

// keba is the shared data's KEBA KCP30 record: one real record with the
// begin and the end reading.
func keba(t *testing.T) katRecord {
	b, err := os.ReadFile(filepath.Join(svctest.SharedDir(t, "testdata/ocmf"), "kat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []katRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Expect == "valid" && strings.Contains(r.OCMF, `"GI":"KEBA_KCP30"`) && strings.Contains(r.OCMF, `"TX":"E"`) {
			return r
		}
	}
	t.Fatal("no KEBA record with begin and end in kat.json")
	return katRecord{}
}

func TestReadAndCheck(t *testing.T) {
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		t.Fatal(err)
	}
	t0 := sessiontest.T0
	sim := []string{m.Record(1, "B", 1_000, t0), m.Record(2, "E", 13_345, t0.Add(30*time.Minute))}
	k := keba(t)
	for _, tc := range []struct {
		name    string
		records []string
		key     string
		wh      int64
		valid   bool
	}{
		{"simulator meter", sim, m.PublicKey, 12_345, true},
		{"real KEBA record", []string{k.OCMF}, k.Key, 0, true},
		{"tampered end register", []string{sim[0], strings.Replace(sim[1], `"RV":13.345`, `"RV":23.345`, 1)}, m.PublicKey, 22_345, false},
		{"billed more than signed", sim, m.PublicKey, 12_346, false},
		{"end record missing", sim[:1], m.PublicKey, 12_345, false},
	} {
		for _, compressed := range []bool{true, false} {
			pdf := receipt(t, tc.records, tc.key, tc.wh, compressed)
			r, err := Read(pdf)
			if err != nil {
				t.Fatalf("%s: read: %v", tc.name, err)
			}
			if len(r.Records) != len(tc.records) || r.Records[0] != tc.records[0] {
				t.Fatalf("%s: records %q", tc.name, r.Records)
			}
			if r.PrintedWh != tc.wh || !strings.EqualFold(r.PrintedKey, tc.key) {
				t.Fatalf("%s: printed %d Wh, key %q; want %d, %q", tc.name, r.PrintedWh, r.PrintedKey, tc.wh, tc.key)
			}
			res, err := Check(r, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid != tc.valid {
				t.Errorf("%s (compressed %v): valid %v, reasons %v", tc.name, compressed, res.Valid, res.Reasons)
			}
		}
	}
	other, _ := sessiontest.NewMeter("other")
	r, err := Read(receipt(t, sim, m.PublicKey, 12_345, true))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := Check(r, other.PublicKey); err != nil || res.Valid {
		t.Errorf("another meter's key: valid %v, %v", res.Valid, err)
	}
	if _, err := Check(r, "not a key"); !errors.Is(err, ErrKey) {
		t.Errorf("bad key: %v", err)
	}
}

func TestReadRefuses(t *testing.T) {
	if _, err := Read([]byte("OCMF|{}|{}")); !errors.Is(err, ErrNotPDF) {
		t.Errorf("not a PDF: %v", err)
	}
	if _, err := Read([]byte("%PDF-1.3\n1 0 obj\n<< /Length 999 >>\nstream\nxx")); !errors.Is(err, ErrNotPDF) {
		t.Errorf("truncated PDF: %v", err)
	}
}

func TestParseKWh(t *testing.T) {
	for s, want := range map[string]int64{"12,345 kWh": 12345, "0,000 kWh": 0, "1.234,567 kWh": 1234567} {
		if got, ok := parseKWh(s); !ok || got != want {
			t.Errorf("%q: %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"12,34 kWh", "12 kWh", "x,123 kWh", "12,345"} {
		if _, ok := parseKWh(s); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

// FuzzRead: no input makes the PDF reader or the QR decoder panic or run
// away.
func FuzzRead(f *testing.F) {
	m, err := sessiontest.NewMeter("F")
	if err != nil {
		f.Fatal(err)
	}
	r := invoicetest.Sample("op", "s").Receipt
	r.OCMF = []string{m.Record(1, "B", 1, sessiontest.T0)}
	var b bytes.Buffer
	if err := receiptpdf.Render(&b, r, receiptpdf.Options{}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("%PDF-1.3\n1 0 obj\n<< /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length 1 >>\nstream\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := Read(data); err == nil {
			Check(r, m.PublicKey) //nolint:errcheck // must not panic
		}
	})
}
