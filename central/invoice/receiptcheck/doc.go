// Package receiptcheck checks a receipt PDF as a driver would: it reads
// the OCMF records from the receipt's QR codes (the images
// central/invoice/receiptpdf embeds), verifies each record's signature
// with the meter's public key, measures the session from the verified
// records the way billing does (end − begin, central/session.Measure) and
// compares that energy with the energy the receipt bills.
//
// The QR decoder reads clean, upright codes rendered straight into an
// image, as receipts carry them; it corrects no errors and refuses a
// damaged code rather than guess. The PDF reader handles the plain PDF
// structure fpdf writes (direct stream lengths, no object streams).
//
// The meter key should come from outside the receipt (the charge point's
// display, the BNetzA register, central's enrolment). The key printed on
// the receipt can be used instead: that proves the records were not
// changed since they were signed with that key, not who holds it.
package receiptcheck
