package receiptcheck

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

// ErrNotPDF: the input is not a PDF this reader understands.
var ErrNotPDF = errors.New("not a readable PDF")

// MaxPDFBytes bounds the input; receipts are tens of kilobytes.
const MaxPDFBytes = 16 << 20

// maxPixels bounds one image (2048 × 2048; receipts carry a few hundred
// pixels a side).
const maxPixels = 2048 * 2048

// maxText bounds one decompressed content stream.
const maxText = 4 << 20

// stream is one PDF stream object: its dictionary text and raw data.
type stream struct {
	dict []byte
	data []byte
}

var (
	reObj    = regexp.MustCompile(`\d+\s+\d+\s+obj\b`)
	reStream = regexp.MustCompile(`>>\s*stream\r?\n`)
	reLength = regexp.MustCompile(`/Length\s+(\d+)(\s+\d+\s+R)?`)
)

// streams finds the stream objects of a PDF written the simple way (as
// fpdf writes them): "N 0 obj << … /Length L … >> stream", the length a
// direct number. Object streams and cross-reference streams are not read.
func streams(pdf []byte) ([]stream, error) {
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return nil, fmt.Errorf("%w: no %%PDF- header", ErrNotPDF)
	}
	if len(pdf) > MaxPDFBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrNotPDF, MaxPDFBytes)
	}
	var out []stream
	objs := reObj.FindAllIndex(pdf, -1)
	for i := 0; i < len(objs); i++ {
		start := objs[i][1]
		end := len(pdf)
		if i+1 < len(objs) {
			end = objs[i+1][0]
		}
		body := pdf[start:end]
		sm := reStream.FindIndex(body)
		if sm == nil {
			continue // an object without a stream
		}
		dict := body[:sm[0]+2]
		lm := reLength.FindSubmatch(dict)
		if lm == nil || len(lm[2]) > 0 {
			return nil, fmt.Errorf("%w: a stream without a direct /Length", ErrNotPDF)
		}
		n, err := strconv.Atoi(string(lm[1]))
		dataStart := start + sm[1]
		if err != nil || n < 0 || n > len(pdf)-dataStart {
			return nil, fmt.Errorf("%w: stream length %s past the end", ErrNotPDF, lm[1])
		}
		out = append(out, stream{dict: dict, data: pdf[dataStart : dataStart+n]})
		// Skip object headers that occur inside the stream's data.
		for i+1 < len(objs) && objs[i+1][0] < dataStart+n {
			i++
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no streams", ErrNotPDF)
	}
	return out, nil
}

func dictInt(dict []byte, key string) (int, bool) {
	m := regexp.MustCompile(`/` + key + `\s+(\d+)`).FindSubmatch(dict)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(m[1]))
	return n, err == nil
}

func dictName(dict []byte, key string) string {
	m := regexp.MustCompile(`/` + key + `\s*/([A-Za-z0-9]+)`).FindSubmatch(dict)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func inflate(data []byte, limit int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("inflates past %d bytes", limit)
	}
	return out, nil
}

// images returns the image XObjects of a PDF as grey images: DeviceGray
// or DeviceRGB, 8 or 16 bits, uncompressed or FlateDecode with or without
// PNG predictors — what fpdf writes for PNG images.
func images(pdf []byte) ([]Gray, error) {
	ss, err := streams(pdf)
	if err != nil {
		return nil, err
	}
	var out []Gray
	for i, s := range ss {
		if dictName(s.dict, "Subtype") != "Image" {
			continue
		}
		g, err := decodeImage(s)
		if err != nil {
			return nil, fmt.Errorf("%w: image %d: %w", ErrNotPDF, i, err)
		}
		out = append(out, g)
	}
	return out, nil
}

func decodeImage(s stream) (Gray, error) {
	w, okW := dictInt(s.dict, "Width")
	h, okH := dictInt(s.dict, "Height")
	bpc, okB := dictInt(s.dict, "BitsPerComponent")
	if !okW || !okH || !okB || w <= 0 || h <= 0 || w*h > maxPixels {
		return Gray{}, fmt.Errorf("size %dx%d, %d bits", w, h, bpc)
	}
	colors := 0
	switch cs := dictName(s.dict, "ColorSpace"); cs {
	case "DeviceGray":
		colors = 1
	case "DeviceRGB":
		colors = 3
	default:
		return Gray{}, fmt.Errorf("colour space %q", cs)
	}
	if bpc != 8 && bpc != 16 {
		return Gray{}, fmt.Errorf("%d bits per component", bpc)
	}
	bpp := colors * bpc / 8 // bytes per pixel
	rowBytes := w * bpp
	raw := s.data
	switch f := dictName(s.dict, "Filter"); f {
	case "":
	case "FlateDecode":
		pred, _ := dictInt(s.dict, "Predictor")
		limit := h * rowBytes
		if pred >= 10 {
			limit += h
		}
		var err error
		if raw, err = inflate(s.data, limit); err != nil {
			return Gray{}, err
		}
		if pred >= 10 {
			if raw, err = unpredict(raw, rowBytes, bpp, h); err != nil {
				return Gray{}, err
			}
		}
	default:
		return Gray{}, fmt.Errorf("filter %q", f)
	}
	if len(raw) < h*rowBytes {
		return Gray{}, fmt.Errorf("%d bytes of pixels, want %d", len(raw), h*rowBytes)
	}
	g := Gray{W: w, H: h, Pix: make([]uint8, w*h)}
	step := bpc / 8 // bytes per component; the high byte counts
	for i := range w * h {
		p := raw[i*bpp:]
		if colors == 1 {
			g.Pix[i] = p[0]
			continue
		}
		r, gg, b := int(p[0]), int(p[step]), int(p[2*step])
		g.Pix[i] = uint8((299*r + 587*gg + 114*b) / 1000)
	}
	return g, nil
}

// unpredict undoes PNG row filters (predictor 10–15: a filter byte per
// row).
func unpredict(data []byte, rowBytes, bpp, rows int) ([]byte, error) {
	if len(data) < rows*(rowBytes+1) {
		return nil, fmt.Errorf("%d bytes for %d predicted rows of %d", len(data), rows, rowBytes)
	}
	out := make([]byte, rows*rowBytes)
	prev := make([]byte, rowBytes)
	for y := range rows {
		in := data[y*(rowBytes+1):]
		filter, row := in[0], in[1:rowBytes+1]
		cur := out[y*rowBytes : (y+1)*rowBytes]
		for x := range rowBytes {
			var a, c byte
			if x >= bpp {
				a, c = cur[x-bpp], prev[x-bpp]
			}
			b := prev[x]
			switch filter {
			case 0:
				cur[x] = row[x]
			case 1:
				cur[x] = row[x] + a
			case 2:
				cur[x] = row[x] + b
			case 3:
				cur[x] = row[x] + byte((int(a)+int(b))/2)
			case 4:
				cur[x] = row[x] + paeth(a, b, c)
			default:
				return nil, fmt.Errorf("PNG filter %d", filter)
			}
		}
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

var reTj = regexp.MustCompile(`\(((?:[^()\\]|\\.)*)\)\s*Tj`)

// texts returns the strings of the PDF's text operators (… Tj) in content
// order, unescaped, as bytes in the fonts' encoding (cp1252 for fpdf's
// core fonts).
func texts(pdf []byte) ([]string, error) {
	ss, err := streams(pdf)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range ss {
		if dictName(s.dict, "Subtype") == "Image" {
			continue
		}
		data := s.data
		switch dictName(s.dict, "Filter") {
		case "FlateDecode":
			if data, err = inflate(s.data, maxText); err != nil {
				continue // not a content stream we can read (fonts …)
			}
		case "":
		default:
			continue
		}
		for _, m := range reTj.FindAllSubmatch(data, -1) {
			out = append(out, unescape(m[1]))
		}
	}
	return out, nil
}

// unescape reads a PDF literal string's escapes.
func unescape(b []byte) string {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		i++
		switch c := b[i]; c {
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, j := 0, 0
			for ; j < 3 && i+j < len(b) && b[i+j] >= '0' && b[i+j] <= '7'; j++ {
				v = v*8 + int(b[i+j]-'0')
			}
			out = append(out, byte(v))
			i += j - 1
		case '\r', '\n':
			// a line continuation
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
