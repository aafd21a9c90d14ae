// Package qrsheet renders the printable QR/NFC sheet of an operator's
// charge points: an A4 PDF with, per charge point, a QR code of its
// driver-app URL, the label to stick beside it and the NDEF URI record to
// write onto its NFC tag (the same URL, as the bytes an NFC writer app
// shows).
package qrsheet

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"

	"codeberg.org/go-pdf/fpdf"
	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// Label is one charge point on the sheet.
type Label struct {
	Point string // id
	Title string // printed label, e.g. "P-07"
	Site  string
	URL   string // https://…/c/<point>
}

// uriPrefixes are the NDEF URI identifier codes (NFC Forum URI RTD,
// table 3) for the prefixes a charge point URL can have.
var uriPrefixes = []struct {
	code   byte
	prefix string
}{{0x02, "https://www."}, {0x01, "http://www."}, {0x04, "https://"}, {0x03, "http://"}}

// NDEF returns the NDEF message of one short URI record holding u: what
// an NFC writer puts on the tag.
func NDEF(u string) ([]byte, error) {
	code, rest := byte(0), u
	for _, p := range uriPrefixes {
		if r, ok := strings.CutPrefix(u, p.prefix); ok {
			code, rest = p.code, r
			break
		}
	}
	payload := append([]byte{code}, rest...)
	if len(payload) > 255 {
		return nil, fmt.Errorf("ndef: URL of %d bytes does not fit a short record", len(u))
	}
	// MB | ME | SR, TNF 1 (well known), type length 1, payload length, type "U".
	return append([]byte{0xD1, 0x01, byte(len(payload)), 'U'}, payload...), nil
}

// Layout of the A4 sheet in mm: 2 columns × 4 rows of labels.
const (
	cols, rows   = 2, 4
	cellW, cellH = 95.0, 68.0
	marginX      = 10.0
	marginY      = 12.0
	qrSize       = 42.0
)

// Render writes the sheet of labels as a PDF to w; title heads each page.
func Render(w io.Writer, title string, labels []Label) error {
	if len(labels) == 0 {
		return errors.New("qr sheet: no charge points")
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle("QR/NFC "+title, true)
	pdf.SetAutoPageBreak(false, 0)
	tr := pdf.UnicodeTranslatorFromDescriptor("cp1252")
	for i, l := range labels {
		slot := i % (cols * rows)
		if slot == 0 {
			pdf.AddPage()
			pdf.SetFont("Helvetica", "B", 11)
			pdf.Text(marginX, 8, tr(title+" - QR / NFC"))
		}
		x := marginX + float64(slot%cols)*cellW
		y := marginY + float64(slot/cols)*cellH
		pdf.SetDrawColor(160, 160, 160)
		pdf.SetDashPattern([]float64{1, 1}, 0)
		pdf.Rect(x, y, cellW-4, cellH-4, "D")
		pdf.SetDashPattern(nil, 0)
		img, err := qrPNG(l.URL)
		if err != nil {
			return fmt.Errorf("qr sheet: point %s: %w", l.Point, err)
		}
		name := "qr-" + l.Point
		pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(img))
		pdf.ImageOptions(name, x+3, y+3, qrSize, qrSize, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		pdf.SetFont("Helvetica", "B", 20)
		pdf.Text(x+qrSize+7, y+14, tr(l.Title))
		pdf.SetFont("Helvetica", "", 9)
		pdf.Text(x+qrSize+7, y+21, tr(l.Site))
		pdf.Text(x+qrSize+7, y+27, tr("Scan, pay, charge"))
		pdf.Text(x+qrSize+7, y+31, tr("Scannen, zahlen, laden"))
		nd, err := NDEF(l.URL)
		if err != nil {
			return fmt.Errorf("qr sheet: point %s: %w", l.Point, err)
		}
		pdf.SetFont("Courier", "", 7)
		pdf.SetXY(x+3, y+qrSize+5)
		pdf.MultiCell(cellW-10, 3.2, tr("URL: "+l.URL+"\nNFC NDEF URI record: "+fmt.Sprintf("% X", nd)), "", "L", false)
		if err := pdf.Error(); err != nil {
			return fmt.Errorf("qr sheet: %w", err)
		}
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("qr sheet: %w", err)
	}
	return nil
}

// qrPNG encodes u as a QR code (error correction M) in a PNG.
func qrPNG(u string) ([]byte, error) {
	code, err := qr.Encode(u, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("qr encode: %w", err)
	}
	code, err = barcode.Scale(code, 400, 400)
	if err != nil {
		return nil, fmt.Errorf("qr scale: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, code); err != nil {
		return nil, fmt.Errorf("qr png: %w", err)
	}
	return b.Bytes(), nil
}
