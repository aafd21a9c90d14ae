package receiptcheck

import (
	"errors"
	"image/color"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// toGray draws a code into a white image with a margin, as receiptpdf's
// images carry it.
func toGray(t testing.TB, code barcode.Barcode, margin int) Gray {
	t.Helper()
	b := code.Bounds()
	g := Gray{W: b.Dx() + 2*margin, H: b.Dy() + 2*margin}
	g.Pix = make([]uint8, g.W*g.H)
	for i := range g.Pix {
		g.Pix[i] = 255
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g.Pix[(y-b.Min.Y+margin)*g.W+x-b.Min.X+margin] = color.GrayModel.Convert(code.At(x, y)).(color.Gray).Y
		}
	}
	return g
}

func encode(t testing.TB, s string, level qr.ErrorCorrectionLevel, mode qr.Encoding, scale int) Gray {
	t.Helper()
	code, err := qr.Encode(s, level, mode)
	if err != nil {
		t.Fatalf("encode %d bytes: %v", len(s), err)
	}
	n := code.Bounds().Dx()
	if code, err = barcode.Scale(code, n*scale, n*scale); err != nil {
		t.Fatal(err)
	}
	return toGray(t, code, 3)
}

// TestDecodeRoundTrip decodes what boombuler/barcode encodes, over every
// version a receipt's record can need, every EC level, and the numeric,
// alphanumeric and byte modes.
func TestDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const printable = ` !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_abcdefghijklmnopqrstuvwxyz{|}~äöü€`
	runes := []rune(printable)
	versions := map[int]bool{}
	levels := []qr.ErrorCorrectionLevel{qr.L, qr.M, qr.Q, qr.H}
	for v := 1; v <= 40; v++ {
		for _, li := range []int{v % 4} {
			spec := ecBlocks[v-1][li]
			countBits := 8
			if v >= 10 {
				countBits = 16
			}
			capacity := ((spec.n1*spec.d1+spec.n2*spec.d2)*8 - 4 - countBits) / 8
			var b strings.Builder
			for b.Len() < capacity-3 {
				b.WriteRune(runes[rng.IntN(len(runes))])
			}
			s := b.String()
			img := encode(t, s, levels[li], qr.Unicode, 1+v%3)
			got, err := decodeQR(img)
			if err != nil || got != s {
				t.Fatalf("version %d level %v, %d bytes: %v\n got %q\nwant %q", v, levels[li], len(s), err, got, s)
			}
			g, _ := sample(img)
			versions[(g.dim-17)/4] = true
		}
	}
	if len(versions) < 40 {
		t.Errorf("only %d versions covered", len(versions))
	}
	for _, s := range []string{"0123456789", "12345678901", "HELLO WORLD $%*+-./:", "A"} {
		mode := qr.AlphaNumeric
		if strings.Trim(s, "0123456789") == "" {
			mode = qr.Numeric
		}
		if got, err := decodeQR(encode(t, s, qr.M, mode, 2)); err != nil || got != s {
			t.Errorf("%q: %q, %v", s, got, err)
		}
	}
}

// TestDecodeRefusesDamage: a module flipped in the data area is caught by
// the Reed-Solomon check, never decoded into other text.
func TestDecodeRefusesDamage(t *testing.T) {
	s := `OCMF|{"FV":"1.0","RD":[{"TX":"B","RV":1.234}]}|{"SD":"3045"}`
	img := encode(t, s, qr.M, qr.Unicode, 4)
	g, _ := sample(img)
	fn := function((g.dim - 17) / 4)
	flipped := 0
	for y := g.dim - 1; y >= 0 && flipped == 0; y-- {
		for x := g.dim - 1; x >= 0; x-- {
			if fn[y][x] {
				continue
			}
			for py := range 4 { // the module is 4×4 pixels, after the 3 pixel margin
				for px := range 4 {
					i := (3+y*4+py)*img.W + 3 + x*4 + px
					img.Pix[i] = 255 - img.Pix[i]
				}
			}
			flipped++
			break
		}
	}
	if got, err := decodeQR(img); !errors.Is(err, ErrNoQR) {
		t.Errorf("damaged code decoded as %q, %v", got, err)
	}
	if _, err := decodeQR(Gray{W: 10, H: 10, Pix: make([]uint8, 100)}); !errors.Is(err, ErrNoQR) {
		t.Errorf("black square: %v", err)
	}
}
