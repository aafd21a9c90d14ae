package receiptcheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/session"
)

// Receipt is what a receipt PDF carries for checking.
type Receipt struct {
	Records    []string // the OCMF records of its QR codes, in page order
	PrintedKey string   // the meter public key printed on it; "" if none
	// PrintedWh is the energy the receipt bills, in Wh; -1 if the
	// receipt names none.
	PrintedWh int64
}

// Labels receiptpdf prints (cp1252 bytes: "Ö" is 0xD6, "ä" 0xE4).
const (
	energyLabel = "Energie / Energy"
	keyLabel    = "Meter public key:"
)

// Read extracts the records, the printed key and the billed energy from a
// receipt PDF. ErrNotPDF: not a PDF it can read; ErrNoQR: a QR code it
// cannot decode, or none with an OCMF record.
func Read(pdf []byte) (Receipt, error) {
	imgs, err := images(pdf)
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{PrintedWh: -1}
	for i, img := range imgs {
		s, err := decodeQR(img)
		if err != nil {
			return Receipt{}, fmt.Errorf("QR code %d: %w", i+1, err)
		}
		if strings.HasPrefix(s, "OCMF|") {
			r.Records = append(r.Records, s)
		}
	}
	if len(r.Records) == 0 {
		return Receipt{}, fmt.Errorf("%w: the receipt has no QR code with an OCMF record", ErrNoQR)
	}
	txt, err := texts(pdf)
	if err != nil {
		return Receipt{}, err
	}
	for i, s := range txt {
		switch {
		case s == energyLabel && i+1 < len(txt) && r.PrintedWh < 0:
			if wh, ok := parseKWh(txt[i+1]); ok {
				r.PrintedWh = wh
			}
		case strings.HasSuffix(s, keyLabel) && r.PrintedKey == "":
			var key strings.Builder
			for _, part := range txt[i+1:] {
				if !isHex(part) {
					break
				}
				key.WriteString(part)
			}
			r.PrintedKey = key.String()
		}
	}
	return r, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// parseKWh reads receiptpdf's energy, "1.234,567 kWh", as Wh.
func parseKWh(s string) (int64, bool) {
	num, ok := strings.CutSuffix(s, " kWh")
	if !ok {
		return 0, false
	}
	whole, frac, ok := strings.Cut(strings.ReplaceAll(num, ".", ""), ",")
	if !ok || len(frac) != 3 {
		return 0, false
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w < 0 || w > 1e12 {
		return 0, false
	}
	return w*1000 + f, true
}

// RecordResult is the check of one record.
type RecordResult struct {
	OCMF string
	Err  error // nil: the signature verifies with the key
}

// Result is the verdict on a receipt.
type Result struct {
	Records  []RecordResult
	Measured session.Measurement // from the verified records only
	// PrintedWh is the energy the receipt bills (-1: none printed).
	PrintedWh int64
	// Valid: every record verifies, the records make one clean
	// measurement (no review flags), and it equals the billed energy.
	Valid   bool
	Reasons []string // why not, when not Valid
}

// ErrKey: the key given is no key at all; the check cannot be made.
var ErrKey = errors.New("unusable meter key")

// Check verifies r's records with key (hex SPKI, PEM, base64 or raw
// point, as ocmf.ParsePublicKey reads it).
func Check(r Receipt, key string) (Result, error) {
	if _, err := ocmf.ParsePublicKey(key, ""); errors.Is(err, ocmf.ErrMalformed) || errors.Is(err, ocmf.ErrBadPublicKey) || key == "" {
		return Result{}, fmt.Errorf("%w: %v", ErrKey, err)
	}
	res := Result{PrintedWh: r.PrintedWh}
	var snaps []session.Snapshot
	for i, s := range r.Records {
		err := verify(s, key)
		res.Records = append(res.Records, RecordResult{OCMF: s, Err: err})
		if err != nil {
			res.Reasons = append(res.Reasons, fmt.Sprintf("record %d does not verify: %v", i+1, err))
		}
		snaps = append(snaps, session.Snapshot{OCMF: s, Verified: err == nil})
	}
	res.Measured = session.Measure(snaps)
	if len(res.Measured.Flags) > 0 {
		res.Reasons = append(res.Reasons, fmt.Sprintf("the records do not make one clean measurement: %v", res.Measured.Flags))
	}
	switch {
	case r.PrintedWh < 0:
		res.Reasons = append(res.Reasons, "the receipt names no billed energy")
	case len(res.Measured.Flags) == 0 && r.PrintedWh != res.Measured.EnergyWh:
		res.Reasons = append(res.Reasons, fmt.Sprintf("the receipt bills %d Wh, the signed records prove %d Wh", r.PrintedWh, res.Measured.EnergyWh))
	}
	res.Valid = len(res.Reasons) == 0
	return res, nil
}

func verify(s, key string) error {
	rec, err := ocmf.Parse(s)
	if err != nil {
		return err
	}
	pub, err := ocmf.ParsePublicKey(key, rec.Signature.SA)
	if err != nil {
		return err
	}
	return ocmf.Verify(rec, pub)
}

// IsPDF reports whether data starts like a PDF.
func IsPDF(data []byte) bool { return strings.HasPrefix(string(data[:min(len(data), 5)]), "%PDF-") }
