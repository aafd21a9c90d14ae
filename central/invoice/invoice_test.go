package invoice_test

import (
	"errors"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
)

func TestFormatNumber(t *testing.T) {
	for n, want := range map[int64]string{1: "PG-000001", 42: "PG-000042", 1234567: "PG-1234567"} {
		if got := invoice.FormatNumber("PG-", n); got != want {
			t.Errorf("FormatNumber(PG-, %d) = %q, want %q", n, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := invoicetest.Sample("op", "s").Validate(); err != nil {
		t.Fatalf("sample: %v", err)
	}
	tests := map[string]func(*invoice.Invoice){
		"no operator":            func(i *invoice.Invoice) { i.Operator = "" },
		"no session":             func(i *invoice.Invoice) { i.Session = "" },
		"no issue time":          func(i *invoice.Invoice) { i.IssuedAt = time.Time{} },
		"no seller":              func(i *invoice.Invoice) { i.Receipt.Seller.Name = "" },
		"no charge point":        func(i *invoice.Invoice) { i.Receipt.ChargePoint.Point = "" },
		"end before start":       func(i *invoice.Invoice) { i.Receipt.End = i.Receipt.Start.Add(-time.Second) },
		"lines do not add up":    func(i *invoice.Invoice) { i.Receipt.Price.Lines[0].AmountMinor++ },
		"VAT + net is not gross": func(i *invoice.Invoice) { i.Receipt.Price.VATMinor++ },
	}
	for name, mutate := range tests {
		inv := invoicetest.Sample("op", "s")
		mutate(&inv)
		if err := inv.Validate(); !errors.Is(err, invoice.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestMigrations(t *testing.T) {
	for _, d := range []string{"postgres", "sqlite"} {
		ms, err := invoice.Migrations(d)
		if err != nil || len(ms) == 0 || ms[0].Version != 1 {
			t.Errorf("%s: %v, %v", d, ms, err)
		}
	}
	if _, err := invoice.Migrations("oracle"); err == nil {
		t.Error("unknown dialect accepted")
	}
}
