package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	"github.com/parkgrid/parkgrid/central/invoice/postgres"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// BenchmarkInvoicesWithPDF measures invoices per second including the
// receipt PDF: each operation issues an invoice (a committed transaction
// with the completion write and the gap-free number, through two pools)
// and renders its receipt with receiptpdf (A4, two QR codes of real-sized
// signed records, compressed).
// pdf-only renders without the database, issue-only issues without the
// PDF: the two costs the combined figure is made of. 4×GOMAXPROCS
// goroutines, 8 operators.
func BenchmarkInvoicesWithPDF(b *testing.B) {
	pools := replicas(b, svctest.PostgresDSN(b))
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		loc = time.UTC
	}
	var (
		mu sync.Mutex
		i  int
	)
	next := func() int { mu.Lock(); defer mu.Unlock(); i++; return i }
	// Real-sized records: a simulator-style meter's signed begin and end
	// (about 450 bytes each, as the demo receipt's), signed once.
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		b.Fatal(err)
	}
	t0 := sessiontest.T0
	records := []string{m.Record(1, "B", 1_000, t0), m.Record(2, "E", 13_345, t0.Add(95*time.Minute))}
	sample := func(k int) invoice.Invoice {
		inv := invoicetest.Sample(fmt.Sprintf("op-%d", k%8), fmt.Sprintf("pdf-%d", k))
		inv.Receipt.OCMF, inv.Receipt.MeterPublicKey = records, m.PublicKey
		return inv
	}
	render := func(inv invoice.Invoice) error {
		inv.Receipt.Number = invoice.FormatNumber("PG-", inv.Number)
		return receiptpdf.Render(io.Discard, inv.Receipt, receiptpdf.Options{Location: loc})
	}
	run := func(b *testing.B, issue, pdf bool) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := next()
				inv := sample(k)
				if issue {
					var err error
					if inv, err = postgres.Complete(context.Background(), pools[k%2], inv, completionWrite(inv.Session)); err != nil {
						b.Error(err)
						return
					}
				} else {
					inv.Number = int64(k)
				}
				if pdf {
					if err := render(inv); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "invoices/s")
	}
	b.Run("issue+pdf", func(b *testing.B) { run(b, true, true) })
	b.Run("pdf-only", func(b *testing.B) { run(b, false, true) })
	b.Run("issue-only", func(b *testing.B) { run(b, true, false) })
	var size bytes.Buffer
	inv := sample(0)
	inv.Number = 1
	inv.Receipt.Number = "PG-000001"
	if err := receiptpdf.Render(&size, inv.Receipt, receiptpdf.Options{Location: loc}); err == nil {
		b.Logf("receipt PDF: %d bytes", size.Len())
	}
}
