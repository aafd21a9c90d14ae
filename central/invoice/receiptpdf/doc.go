// Package receiptpdf renders an invoice.Receipt as a one-document PDF: the
// seller, number and date, the charge point and the session's start, end
// and energy, the price lines with the gross total, the VAT rate and
// amount and the net amount, the payment, and the meter's signed OCMF
// records as text and as QR codes with the meter's public key, so that the
// driver can check the energy with transparency software (Eichrecht).
//
// The output is deterministic: the same receipt renders to the same bytes
// (the PDF's dates are the receipt's issue time), so a stored receipt can
// be rendered again and compared. Labels are German with English beside
// them; amounts are written the German way (1.234,56 €).
package receiptpdf
