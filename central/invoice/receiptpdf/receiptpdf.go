package receiptpdf

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Options tune Render. The zero value is usable.
type Options struct {
	// Location the times are shown in; nil: UTC. Receipts in Germany use
	// Europe/Berlin.
	Location *time.Location
	// VerifyHint tells the driver how to check the OCMF records; "": a
	// sentence naming the S.A.F.E. transparency software.
	VerifyHint string
	// Uncompressed writes plain content streams (for inspection and tests).
	Uncompressed bool
}

const defaultHint = "Prüfen Sie die signierten Messwerte mit der Transparenzsoftware der S.A.F.E. e.V. " +
	"(safe-ev.de): OCMF-Datensatz und öffentlichen Schlüssel einfügen oder QR-Code scannen. / " +
	"Check the signed meter values with the S.A.F.E. transparency software: paste the OCMF record and the public key, or scan the QR code."

// Render writes r as PDF to w.
func Render(w io.Writer, r invoice.Receipt, opt Options) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("receipt pdf %s: %w", r.Number, err)
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	hint := opt.VerifyHint
	if hint == "" {
		hint = defaultHint
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(!opt.Uncompressed)
	pdf.SetCreationDate(r.IssuedAt)
	pdf.SetModificationDate(r.IssuedAt)
	pdf.SetCatalogSort(true)
	pdf.SetTitle("Rechnung "+r.Number, true)
	pdf.SetAuthor(r.Seller.Name, true)
	pdf.SetCreator("parkgrid", true)
	pdf.SetMargins(20, 20, 20)
	pdf.SetAutoPageBreak(true, 20)
	pdf.AddPage()
	tr := pdf.UnicodeTranslatorFromDescriptor("") // cp1252: €, umlauts

	text := func(style string, size float64, h float64, s string) {
		pdf.SetFont("Helvetica", style, size)
		pdf.MultiCell(0, h, tr(s), "", "L", false)
	}
	row := func(label, value string) {
		pdf.SetFont("Helvetica", "", 9)
		pdf.CellFormat(55, 5, tr(label), "", 0, "L", false, 0, "")
		pdf.MultiCell(0, 5, tr(value), "", "L", false)
	}

	// Seller and title.
	text("B", 12, 6, r.Seller.Name)
	text("", 9, 4.5, r.Seller.Address)
	switch {
	case r.Seller.VATID != "":
		text("", 9, 4.5, "USt-IdNr. / VAT id: "+r.Seller.VATID)
	case r.Seller.TaxNumber != "":
		text("", 9, 4.5, "Steuernummer / Tax number: "+r.Seller.TaxNumber)
	}
	pdf.Ln(6)
	title := "Rechnung / Invoice"
	if r.Number != "" {
		title += " " + r.Number
	}
	text("B", 16, 8, title)
	pdf.Ln(2)
	row("Rechnungsdatum / Date", r.IssuedAt.In(loc).Format("02.01.2006"))
	if r.Buyer != "" {
		row("Kunde / Customer", r.Buyer)
	}
	row("Ladepunkt / Charge point", chargePoint(r.ChargePoint))
	row("Beginn / Start", r.Start.In(loc).Format("02.01.2006 15:04:05 MST"))
	row("Ende / End", r.End.In(loc).Format("02.01.2006 15:04:05 MST"))
	row("Dauer / Duration", duration(r.End.Sub(r.Start)))
	row("Energie / Energy", kWh(r.Price.EnergyWh))
	row("Leistung / Service", "Laden eines Elektrofahrzeugs / Electric vehicle charging")
	pdf.Ln(4)

	// Price lines.
	cur := r.Price.Currency
	pdf.SetFont("Helvetica", "B", 9)
	pdf.CellFormat(70, 6, tr("Position / Item"), "B", 0, "L", false, 0, "")
	pdf.CellFormat(30, 6, tr("Menge / Qty"), "B", 0, "R", false, 0, "")
	pdf.CellFormat(35, 6, tr("Preis / Price"), "B", 0, "R", false, 0, "")
	pdf.CellFormat(0, 6, tr("Betrag / Amount"), "B", 1, "R", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	for _, l := range r.Price.Lines {
		name, qty, unit := lineText(l, cur)
		pdf.CellFormat(70, 6, tr(name), "", 0, "L", false, 0, "")
		pdf.CellFormat(30, 6, tr(qty), "", 0, "R", false, 0, "")
		pdf.CellFormat(35, 6, tr(unit), "", 0, "R", false, 0, "")
		pdf.CellFormat(0, 6, tr(amount(l.AmountMinor, cur)), "", 1, "R", false, 0, "")
	}
	total := func(style, label, value string, border string) {
		pdf.SetFont("Helvetica", style, 9)
		pdf.CellFormat(145, 6, tr(label), border, 0, "R", false, 0, "")
		pdf.CellFormat(0, 6, tr(value), border, 1, "R", false, 0, "")
	}
	total("B", "Gesamtbetrag brutto / Total incl. VAT", amount(r.Price.GrossMinor, cur), "T")
	total("", "enthaltene USt. "+rate(r.Price.VATRateBP)+" / VAT "+rate(r.Price.VATRateBP)+" included", amount(r.Price.VATMinor, cur), "")
	total("", "Nettobetrag / Net amount", amount(r.Price.NetMinor, cur), "")
	pdf.Ln(3)
	if r.Payment != "" {
		row("Zahlung / Payment", r.Payment)
	}

	// Signed meter data.
	if len(r.OCMF) > 0 {
		pdf.Ln(4)
		text("B", 11, 6, "Signierte Messwerte / Signed meter values (OCMF)")
		text("", 8, 4, hint)
		if r.MeterPublicKey != "" {
			pdf.Ln(1)
			text("B", 8, 4, "Öffentlicher Schlüssel des Zählers / Meter public key:")
			pdf.SetFont("Courier", "", 6.5)
			pdf.MultiCell(0, 3, r.MeterPublicKey, "", "L", false)
		}
		for i, s := range r.OCMF {
			img, err := qrPNG(s, i)
			if err != nil {
				return fmt.Errorf("receipt pdf %s: OCMF record %d: %w", r.Number, i+1, err)
			}
			name := fmt.Sprintf("ocmf-%d", i)
			pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(img))
			const side = 45.0
			if pdf.GetY()+side+10 > 297-20 {
				pdf.AddPage()
			}
			pdf.Ln(3)
			y := pdf.GetY()
			pdf.ImageOptions(name, 20, y, side, side, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
			pdf.SetXY(20+side+5, y)
			pdf.SetFont("Helvetica", "B", 8)
			pdf.CellFormat(0, 4, tr(fmt.Sprintf("Datensatz %d / Record %d", i+1, i+1)), "", 2, "L", false, 0, "")
			pdf.SetFont("Courier", "", 6)
			pdf.SetLeftMargin(20 + side + 5)
			pdf.MultiCell(0, 2.8, s, "", "L", false)
			pdf.SetLeftMargin(20)
			pdf.SetY(max(pdf.GetY(), y+side))
		}
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("receipt pdf %s: %w", r.Number, err)
	}
	return nil
}

// qrPNG encodes s as a QR code image in PNG, with medium error correction
// where it fits and low where the record is too long for that. The i-th
// image is i pixels wider (white margin): fpdf orders images by width
// alone, over a map, so equal widths would come out in random order and
// the PDF would not be reproducible.
func qrPNG(s string, i int) ([]byte, error) {
	var (
		code barcode.Barcode
		err  error
	)
	for _, level := range []qr.ErrorCorrectionLevel{qr.M, qr.L} {
		if code, err = qr.Encode(s, level, qr.Auto); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	n := code.Bounds().Dx()
	if code, err = barcode.Scale(code, n*4+i, n*4+i); err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, code); err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return b.Bytes(), nil
}

func chargePoint(c invoice.ChargePoint) string {
	parts := []string{c.Point}
	if c.EVSEID != "" {
		parts = append(parts, "EVSE "+c.EVSEID)
	}
	if c.Address != "" {
		parts = append(parts, c.Address)
	}
	return strings.Join(parts, ", ")
}

func lineText(l tariff.Line, cur string) (name, qty, unit string) {
	switch l.Kind {
	case tariff.LineEnergy:
		return "Energie / Energy", kWh(l.Quantity), amount(l.UnitPriceMinor, cur) + "/kWh"
	case tariff.LineTime:
		return "Zeitgebühr / Time fee", fmt.Sprintf("%d min", l.Quantity), amount(l.UnitPriceMinor, cur) + "/min"
	case tariff.LineStart:
		return "Startgebühr / Start fee", "1", amount(l.UnitPriceMinor, cur)
	case tariff.LineCap:
		return "Preisobergrenze / Price cap", "", amount(l.UnitPriceMinor, cur)
	}
	return string(l.Kind), fmt.Sprint(l.Quantity), amount(l.UnitPriceMinor, cur)
}

// kWh writes Wh as kWh with three decimals, German style: 12345 → "12,345 kWh".
func kWh(wh int64) string {
	return fmt.Sprintf("%s,%03d kWh", group(strconv.FormatInt(wh/1000, 10)), wh%1000)
}

// amount writes minor units the German way: 123456 EUR → "1.234,56 €".
func amount(minor int64, cur string) string {
	s, err := tariff.FormatAmount(minor, cur)
	if err != nil {
		return fmt.Sprintf("%d %s (minor units)", minor, cur)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	out := group(whole)
	if frac != "" {
		out += "," + frac
	}
	if neg {
		out = "-" + out
	}
	if cur == "EUR" {
		return out + " €"
	}
	return out + " " + cur
}

// group puts '.' between the thousands of a string of digits.
func group(s string) string {
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "." + s[i:]
	}
	return s
}

// rate writes basis points as a percentage: 1900 → "19 %", 1950 → "19,5 %".
func rate(bp int64) string {
	s := fmt.Sprint(bp / 100)
	if f := bp % 100; f != 0 {
		s += "," + strings.TrimRight(fmt.Sprintf("%02d", f), "0")
	}
	return s + " %"
}

func duration(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d h", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
