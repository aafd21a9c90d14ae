package brand_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/dashboard/brand"
)

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegOf(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webpLossless is a minimal VP8L header of a w×h image.
func webpLossless(w, h int) []byte {
	body := []byte("WEBPVP8L")
	body = binary.LittleEndian.AppendUint32(body, 5)
	body = append(body, 0x2f)
	body = binary.LittleEndian.AppendUint32(body, uint32(w-1)|uint32(h-1)<<14)
	body = append(body, 0) // pad to even
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	return append(out, body...)
}

func TestSniff(t *testing.T) {
	for _, c := range []struct {
		name    string
		data    []byte
		want    string
		wantErr error
	}{
		{"png", pngOf(t, 4, 3), "image/png", nil},
		{"jpeg", jpegOf(t), "image/jpeg", nil},
		{"webp", webpLossless(20, 10), "image/webp", nil},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "", brand.ErrType},
		{"svg with xml prolog", []byte(`<?xml version="1.0"?><svg/>`), "", brand.ErrType},
		{"html", []byte("<!doctype html><script>x</script>"), "", brand.ErrType},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "", brand.ErrType},
		{"png magic then garbage", append([]byte("\x89PNG\r\n\x1a\n"), []byte("<script>")...), "", brand.ErrType},
		{"webp wrong length", append(webpLossless(2, 2), 0, 0), "", brand.ErrType},
		{"huge png", pngOf(t, 5000, 1), "", brand.ErrTooLarge},
		{"huge webp", webpLossless(9000, 10), "", brand.ErrTooLarge},
		{"empty", nil, "", brand.ErrType},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := brand.Sniff(c.data)
			if got != c.want || !errors.Is(err, c.wantErr) {
				t.Errorf("got %q, %v; want %q, %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestNewAssetSizeLimits(t *testing.T) {
	now := time.Unix(0, 0)
	big := pngOf(t, 1, 1)
	big = append(big, make([]byte, brand.MaxLogoBytes)...) // trailing bytes after IEND still sniff as PNG
	if _, err := brand.NewAsset("op", brand.KindLogo, big, now); !errors.Is(err, brand.ErrTooLarge) {
		t.Errorf("oversize logo: got %v, want ErrTooLarge", err)
	}
	if a, err := brand.NewAsset("op", brand.KindBackground, big, now); err != nil || a.ContentType != "image/png" || len(a.Hash) != 64 {
		t.Errorf("same bytes as a background (2 MiB limit): %+v, %v", a.ContentType, err)
	}
	a1, _ := brand.NewAsset("op", brand.KindLogo, pngOf(t, 2, 2), now)
	a2, _ := brand.NewAsset("op", brand.KindLogo, pngOf(t, 2, 2), now)
	a3, _ := brand.NewAsset("op", brand.KindLogo, pngOf(t, 3, 2), now)
	if a1.Hash != a2.Hash || a1.Hash == a3.Hash || !brand.ValidHash(a1.Hash) {
		t.Errorf("hashes: %s %s %s", a1.Hash, a2.Hash, a3.Hash)
	}
}

func TestThemeValidate(t *testing.T) {
	ok := brand.Default("op1")
	if err := ok.Validate(); err != nil {
		t.Fatalf("default theme: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*brand.Theme)
		want string
	}{
		{"no operator", func(th *brand.Theme) { th.Operator = "" }, "no operator"},
		{"empty name", func(th *brand.Theme) { th.Name = " " }, "name"},
		{"css injection in colour", func(th *brand.Theme) { th.PrimaryColor = "#fff;}body{display:none" }, "primary colour"},
		{"named colour", func(th *brand.Theme) { th.AccentColor = "red" }, "accent colour"},
		{"javascript link", func(th *brand.Theme) { th.ImprintURL = "javascript:alert(1)" }, "imprint link"},
		{"http link", func(th *brand.Theme) { th.TermsURL = "http://example.com/agb" }, "terms link"},
		{"bad hash", func(th *brand.Theme) { th.LogoHash = "../../etc/passwd" }, "image hash"},
	} {
		t.Run(c.name, func(t *testing.T) {
			th := ok
			c.edit(&th)
			err := th.Validate()
			if !errors.Is(err, brand.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrInvalid naming %q", err, c.want)
			}
		})
	}
}

// FuzzSniff: uploads are outside bytes; Sniff never panics and accepts
// only the three types.
func FuzzSniff(f *testing.F) {
	f.Add(pngOf(f, 2, 2))
	f.Add(jpegOf(f))
	f.Add(webpLossless(3, 3))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X"))
	f.Add([]byte("<svg/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ct, err := brand.Sniff(data)
		if err == nil && ct != "image/png" && ct != "image/jpeg" && ct != "image/webp" {
			t.Fatalf("accepted %q", ct)
		}
	})
}
