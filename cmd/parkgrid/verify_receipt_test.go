package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestVerifyReceipt renders receipts with receiptpdf from the shared real
// OCMF data and runs `parkgrid verify` on them: valid → 0, a tampered
// record → 1, not a PDF → 2.
func TestVerifyReceipt(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(svctest.SharedDir(t, "testdata/ocmf"), "kat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []katRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	var keba katRecord
	for _, r := range recs {
		if r.Expect == "valid" && strings.Contains(r.OCMF, `"GI":"KEBA_KCP30"`) && strings.Contains(r.OCMF, `"TX":"E"`) {
			keba = r
		}
	}
	if keba.OCMF == "" {
		t.Fatal("no KEBA record with begin and end in kat.json")
	}
	write := func(name string, records []string, wh int64) string {
		r := invoicetest.Sample("op-1", "s-1").Receipt
		r.Number = "MITTE-000042"
		p, err := tariff.Price(tariff.Tariff{ID: "eco", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 49, StartFeeMinor: 100, VATRateBP: 1900}, wh, 21*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r.Price, r.OCMF, r.MeterPublicKey = p, records, keba.Key
		var pdf bytes.Buffer
		if err := receiptpdf.Render(&pdf, r, receiptpdf.Options{}); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(f, pdf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	valid := write("receipt.pdf", []string{keba.OCMF}, 0)
	tampered := write("tampered.pdf", []string{strings.Replace(keba.OCMF, `"RV":0.2597`, `"RV":1.2597`, 1)}, 1000)
	notPDF := filepath.Join(t.TempDir(), "receipt.pdf")
	os.WriteFile(notPDF, []byte("this is no receipt"), 0o600)

	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"verify", "--pubkey", keba.Key, valid}, 0, "valid\nenergy: 0.000 kWh billed = end 0.2597 − begin 0.2596 kWh"},
		{[]string{"verify", "--embedded-key", valid}, 0, "printed on the receipt"},
		{[]string{"verify", "--pubkey", keba.Key, tampered}, 1, "invalid: record 1 does not verify"},
		{[]string{"verify", "--pubkey", keba.Key, notPDF}, 2, ""},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) {
			t.Errorf("%v: exit %d, out %q, err %q; want %d with %q", tc.args[1:], code, out, errOut, tc.code, tc.out)
		}
	}
}
