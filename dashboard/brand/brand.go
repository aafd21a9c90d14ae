// Package brand is the white label of an operator: name, colours, logo,
// background image and imprint/terms links, changed in the dashboard
// without a rebuild. It validates what an operator uploads (the content
// type is sniffed from the bytes, never taken from the request; PNG, JPEG
// and WebP only, SVG is refused because it can carry script; size and
// pixel limits) and names every image by the SHA-256 of its bytes, so the
// URL of an image never changes meaning and is served as immutable.
package brand

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of uploads
	_ "image/png"  // DecodeConfig of uploads
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Errors callers branch on with errors.Is.
var (
	ErrInvalid  = errors.New("invalid branding")
	ErrType     = errors.New("image type not allowed")
	ErrTooLarge = errors.New("image too large")
	ErrNotFound = errors.New("not found")
)

// Limits of uploads.
const (
	MaxLogoBytes       = 256 << 10
	MaxBackgroundBytes = 2 << 20
	MaxPixels          = 4096 // per side
)

// Kind names an image slot.
type Kind string

// Image slots.
const (
	KindLogo       Kind = "logo"
	KindBackground Kind = "background"
)

// MaxBytes is the size limit of k.
func (k Kind) MaxBytes() int {
	if k == KindBackground {
		return MaxBackgroundBytes
	}
	return MaxLogoBytes
}

// Theme is an operator's white label. Empty image hashes mean none.
type Theme struct {
	Operator       string
	Name           string // shown in the header and the title
	PrimaryColor   string // #rrggbb
	AccentColor    string // #rrggbb
	LogoHash       string // Asset.Hash
	BackgroundHash string
	ImprintURL     string // https
	TermsURL       string // https
	UpdatedAt      time.Time
}

// Default is the theme of an operator that set none.
func Default(operator string) Theme {
	return Theme{Operator: operator, Name: "parkgrid", PrimaryColor: "#0b6e4f", AccentColor: "#f2a541"}
}

var colourRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Validate checks every field of t.
func (t Theme) Validate() error {
	if t.Operator == "" {
		return fmt.Errorf("theme: %w: no operator", ErrInvalid)
	}
	if n := strings.TrimSpace(t.Name); n == "" || len(n) > 80 {
		return fmt.Errorf("theme of %q: %w: name must be 1 to 80 characters", t.Operator, ErrInvalid)
	}
	for _, c := range []struct{ field, v string }{{"primary colour", t.PrimaryColor}, {"accent colour", t.AccentColor}} {
		if !colourRE.MatchString(c.v) {
			return fmt.Errorf("theme of %q: %w: %s %q is not #rrggbb", t.Operator, ErrInvalid, c.field, c.v)
		}
	}
	for _, l := range []struct{ field, v string }{{"imprint link", t.ImprintURL}, {"terms link", t.TermsURL}} {
		if l.v == "" {
			continue
		}
		u, err := url.Parse(l.v)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(l.v) > 500 {
			return fmt.Errorf("theme of %q: %w: %s %q is not an https URL", t.Operator, ErrInvalid, l.field, l.v)
		}
	}
	for _, h := range []string{t.LogoHash, t.BackgroundHash} {
		if h != "" && !hashRE.MatchString(h) {
			return fmt.Errorf("theme of %q: %w: image hash %q", t.Operator, ErrInvalid, h)
		}
	}
	return nil
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidHash reports whether h has the form of an asset hash.
func ValidHash(h string) bool { return hashRE.MatchString(h) }

// Asset is an uploaded image, addressed by the SHA-256 of Data.
type Asset struct {
	Hash        string
	Operator    string
	ContentType string // image/png, image/jpeg or image/webp
	Data        []byte
	CreatedAt   time.Time
}

// Store keeps themes and assets.
type Store interface {
	Theme(ctx context.Context, operator string) (Theme, error) // ErrNotFound when never saved
	SaveTheme(ctx context.Context, t Theme) error
	PutAsset(ctx context.Context, a Asset) error           // idempotent per hash
	Asset(ctx context.Context, hash string) (Asset, error) // ErrNotFound
}

// NewAsset validates an upload for slot k and returns it as an asset.
func NewAsset(operator string, k Kind, data []byte, now time.Time) (Asset, error) {
	if len(data) > k.MaxBytes() {
		return Asset{}, fmt.Errorf("%s: %w: %d bytes, at most %d", k, ErrTooLarge, len(data), k.MaxBytes())
	}
	ct, err := Sniff(data)
	if err != nil {
		return Asset{}, fmt.Errorf("%s: %w", k, err)
	}
	sum := sha256.Sum256(data)
	return Asset{Hash: hex.EncodeToString(sum[:]), Operator: operator, ContentType: ct, Data: data, CreatedAt: now}, nil
}

// Sniff returns the content type of an image from its bytes: image/png,
// image/jpeg or image/webp whose header is well formed and whose size is
// within MaxPixels per side. Anything else (SVG, GIF, HTML, a PNG header on
// other bytes) is ErrType.
func Sniff(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return decodeConfig(data, "image/png")
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return decodeConfig(data, "image/jpeg")
	case len(data) >= 16 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return sniffWebP(data)
	}
	return "", fmt.Errorf("%w: only PNG, JPEG and WebP are accepted (SVG is refused)", ErrType)
}

func decodeConfig(data []byte, ct string) (string, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %s header does not decode: %v", ErrType, ct, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxPixels || cfg.Height > MaxPixels {
		return "", fmt.Errorf("%w: %d×%d pixels, at most %d per side", ErrTooLarge, cfg.Width, cfg.Height, MaxPixels)
	}
	return ct, nil
}

// sniffWebP checks the RIFF length and the first chunk (VP8, VP8L or VP8X)
// and reads the canvas size where the chunk gives it.
func sniffWebP(data []byte) (string, error) {
	if riff := binary.LittleEndian.Uint32(data[4:8]); int64(riff)+8 != int64(len(data)) {
		return "", fmt.Errorf("%w: WebP RIFF length %d does not match %d bytes", ErrType, riff, len(data))
	}
	need := map[string]int{"VP8X": 30, "VP8L": 25, "VP8 ": 30}[string(data[12:16])]
	if len(data) < need {
		return "", fmt.Errorf("%w: WebP header cut short", ErrType)
	}
	var w, h int
	switch string(data[12:16]) {
	case "VP8X":
		w = 1 + (int(data[24]) | int(data[25])<<8 | int(data[26])<<16)
		h = 1 + (int(data[27]) | int(data[28])<<8 | int(data[29])<<16)
	case "VP8L":
		if data[20] != 0x2f {
			return "", fmt.Errorf("%w: WebP lossless signature missing", ErrType)
		}
		b := binary.LittleEndian.Uint32(data[21:25])
		w, h = int(b&0x3fff)+1, int((b>>14)&0x3fff)+1
	case "VP8 ":
		if string(data[23:26]) != "\x9d\x01\x2a" {
			return "", fmt.Errorf("%w: WebP lossy start code missing", ErrType)
		}
		w = int(binary.LittleEndian.Uint16(data[26:28]) & 0x3fff)
		h = int(binary.LittleEndian.Uint16(data[28:30]) & 0x3fff)
	default:
		return "", fmt.Errorf("%w: unknown WebP chunk %q", ErrType, data[12:16])
	}
	if w < 1 || h < 1 || w > MaxPixels || h > MaxPixels {
		return "", fmt.Errorf("%w: %d×%d pixels, at most %d per side", ErrTooLarge, w, h, MaxPixels)
	}
	return "image/webp", nil
}
