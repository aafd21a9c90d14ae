package mail

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
)

// ReceiptID is the outbox id of an invoice's receipt mail: one per
// invoice, so queueing it again is a no-op.
func ReceiptID(operator string, number int64) string {
	return fmt.Sprintf("receipt/%s/%d", operator, number)
}

// ReceiptMessage is the mail of an issued invoice: a short German/English
// text, the receipt PDF, and the signed meter records as a text file the
// driver can paste into the transparency software.
func ReceiptMessage(inv invoice.Invoice, pdf []byte, from, to string) Message {
	r := inv.Receipt
	name := r.Number
	if name == "" {
		name = fmt.Sprintf("%d", inv.Number)
	}
	m := Message{
		From: from, To: to,
		Subject: "Rechnung / Invoice " + name + " – " + r.Seller.Name,
		Text: "Guten Tag,\n\nim Anhang finden Sie die Rechnung " + name + " für Ihren Ladevorgang an " + r.ChargePoint.Point +
			".\nDie signierten Messwerte (OCMF) liegen bei; Sie können sie mit der Transparenzsoftware der S.A.F.E. e.V. prüfen.\n\n" +
			"Hello,\n\nattached is invoice " + name + " for your charging session at " + r.ChargePoint.Point +
			".\nThe signed meter values (OCMF) are attached; check them with the S.A.F.E. transparency software.\n\n" + r.Seller.Name + "\n",
		Attachments: []Attachment{{Name: "Rechnung-" + name + ".pdf", ContentType: "application/pdf", Data: pdf}},
	}
	if len(r.OCMF) > 0 {
		var b strings.Builder
		if r.MeterPublicKey != "" {
			b.WriteString("Public key: " + r.MeterPublicKey + "\r\n")
		}
		for _, rec := range r.OCMF {
			b.WriteString(rec + "\r\n")
		}
		m.Attachments = append(m.Attachments, Attachment{Name: "Messwerte-" + name + ".txt", ContentType: "text/plain; charset=utf-8", Data: []byte(b.String())})
	}
	return m
}

// QueueReceipt renders inv's receipt as PDF (times in loc) and queues it
// to the driver's address under ReceiptID; false if it was queued before.
func QueueReceipt(ctx context.Context, o *Outbox, inv invoice.Invoice, from, to string, loc *time.Location, now time.Time) (bool, error) {
	var pdf bytes.Buffer
	if err := receiptpdf.Render(&pdf, inv.Receipt, receiptpdf.Options{Location: loc}); err != nil {
		return false, fmt.Errorf("mail receipt %d of %s: %w", inv.Number, inv.Operator, err)
	}
	return o.Enqueue(ctx, ReceiptID(inv.Operator, inv.Number), ReceiptMessage(inv, pdf.Bytes(), from, to), now)
}
