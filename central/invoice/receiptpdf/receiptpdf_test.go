package receiptpdf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

func sample() invoice.Receipt {
	r := invoicetest.Sample("op-1", "s1").Receipt
	r.Number = invoice.FormatNumber("MITTE-", 42)
	r.MeterPublicKey = "3059301306072A8648CE3D020106082A8648CE3D03010703420004" + strings.Repeat("AB", 64)
	return r
}

// TestRenderDeterministic: the same receipt gives the same bytes.
func TestRenderDeterministic(t *testing.T) {
	var a bytes.Buffer
	if err := Render(&a, sample(), Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(a.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", a.Bytes()[:min(16, a.Len())])
	}
	for i := range 20 { // map order inside fpdf varies from run to run
		var b bytes.Buffer
		if err := Render(&b, sample(), Options{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("rendering %d differs from the first", i+2)
		}
	}
	if dir := os.Getenv("PARKGRID_RECEIPT_OUT"); dir != "" { // for a look at it: pdftoppm -png
		os.WriteFile(dir+"/receipt.pdf", a.Bytes(), 0o644)
	}
}

// TestRenderContent looks for the figures in the uncompressed page text
// (cp1252, as the PDF's core fonts encode it).
func TestRenderContent(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		svctest.Missing(t, "time zone data (Europe/Berlin)", fmt.Sprintf("%v; apt install tzdata (CI=true fails here)", err))
	}
	var b bytes.Buffer
	if err := Render(&b, sample(), Options{Uncompressed: true, Location: loc}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"Parkhaus Mitte GmbH", "DE123456789", "Rechnung / Invoice MITTE-000042", "25.11.2026",
		"cp-07, EVSE DE*PGR*E0007*1", "09:55:00 CET", "11:30:00 CET", "12,345 kWh",
		"0,49 \x80/kWh", "6,05 \x80", "1,00 \x80", // energy line, start fee
		"7,05 \x80", "USt. 19 %", "1,13 \x80", "5,92 \x80", // gross, VAT, net
		"Datensatz 1", "Datensatz 2", `OCMF|{"FV":"1.0"`, "3059301306072A8648CE3D",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if n := strings.Count(page, "/Subtype /Image"); n != 2 {
		t.Errorf("%d images, want 2 QR codes", n)
	}
}

func TestRenderRefusesInvalidReceipt(t *testing.T) {
	r := sample()
	r.Price.GrossMinor++
	if err := Render(&bytes.Buffer{}, r, Options{}); !errors.Is(err, invoice.ErrInvalid) {
		t.Errorf("err = %v", err)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{amount(123456, "EUR"), "1.234,56 €"}, {amount(5, "EUR"), "0,05 €"}, {amount(-950, "EUR"), "-9,50 €"},
		{amount(150, "ISK"), "150 ISK"}, {kWh(12345), "12,345 kWh"}, {kWh(7), "0,007 kWh"}, {kWh(1234567), "1.234,567 kWh"},
		{rate(1900), "19 %"}, {rate(1950), "19,5 %"}, {rate(705), "7,05 %"}, {duration(95*time.Minute + 500*time.Millisecond), "1:35:01 h"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestLongOCMF: a record of realistic length (one or two thousand bytes)
// still fits a QR code; one beyond the QR limit is an error, not a panic.
func TestLongOCMF(t *testing.T) {
	r := sample()
	r.OCMF = []string{"OCMF|" + strings.Repeat("x", 2000) + "|{}"}
	if err := Render(&bytes.Buffer{}, r, Options{}); err != nil {
		t.Errorf("2 kB record: %v", err)
	}
	r.OCMF = []string{strings.Repeat("x", 4000)}
	if err := Render(&bytes.Buffer{}, r, Options{}); err == nil {
		t.Error("4 kB record rendered, want an error")
	}
}
