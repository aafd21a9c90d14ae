package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// PublicKey is a meter's validated public key. The zero value is no key.
// Build one with ParsePublicKey.
type PublicKey struct {
	curve Curve
	x, y  *big.Int // affine point, on the curve; never mutated

	std *ecdsa.PublicKey     // secp256r1, secp384r1
	k1  *secp256k1.PublicKey // secp256k1
}

// Curve returns the key's curve.
func (k PublicKey) Curve() Curve { return k.curve }

// Bytes returns the key as an uncompressed SEC 1 point, 04 || X || Y.
func (k PublicKey) Bytes() []byte {
	if k.curve == CurveUnknown {
		return nil
	}
	size := k.curve.params().coordLen
	out := make([]byte, 1+2*size)
	out[0] = 4
	k.x.FillBytes(out[1 : 1+size])
	k.y.FillBytes(out[1+size:])
	return out
}

// ParsePublicKey reads a meter's public key as published:
//
//   - hex DER SubjectPublicKeyInfo, also in spaced groups ("3059 3013 …") or
//     with ':' separators;
//   - base64 SubjectPublicKeyInfo ("MFkwEwYH…"), or PEM;
//   - a bare SEC 1 point: X || Y (64, 96 or 48 bytes), 04 || X || Y, or
//     compressed 02/03 || X, in hex or base64. A bare point carries no curve:
//     it is read on the curve of sa, the SA of the records it will verify
//     ("" means the OCMF default, secp256r1).
//
// For an SPKI key the curve comes from its OID; when sa names a known
// algorithm on another curve, ParsePublicKey fails with ErrCurveMismatch.
// (Verify checks the curve again, so a key parsed with sa = "" is safe.)
func ParsePublicKey(s, sa string) (PublicKey, error) {
	der, err := decodeKeyText(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse public key: %w", err)
	}
	sa = strings.TrimSpace(sa)
	saCurve, saKnown := algorithmCurve(sa)
	if curve, point, ok := parseSPKI(der); ok {
		if curve == CurveUnknown {
			return PublicKey{}, fmt.Errorf("parse public key: %w: SPKI names a curve outside OCMF table 22", ErrUnsupportedAlgorithm)
		}
		if saKnown && sa != "" && curve != saCurve {
			return PublicKey{}, fmt.Errorf("parse public key: %w: key is %s, SA %q is %s", ErrCurveMismatch, curve, sa, saCurve)
		}
		return newPublicKey(curve, point)
	}
	if !saKnown {
		return PublicKey{}, fmt.Errorf("parse public key: bare point for SA %q: %w", sa, ErrUnsupportedAlgorithm)
	}
	return newPublicKey(saCurve, der)
}

// decodeKeyText turns the published text into bytes.
func decodeKeyText(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, fmt.Errorf("%w: unreadable PEM", ErrMalformed)
		}
		return block.Bytes, nil
	}
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	if compact == "" {
		return nil, fmt.Errorf("%w: empty key", ErrMalformed)
	}
	if h := strings.ReplaceAll(compact, ":", ""); isHex(h) {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("%w: hex: %w", ErrMalformed, err)
		}
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(compact); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: key is neither hex nor base64", ErrMalformed)
}

func isHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseSPKI reads an EC SubjectPublicKeyInfo (RFC 5480) with a named curve.
// ok is false when der is not such a structure; curve is CurveUnknown for an
// EC key on a curve OCMF does not use.
func parseSPKI(der []byte) (curve Curve, point []byte, ok bool) {
	var spki struct {
		Algorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &spki)
	if err != nil || len(rest) != 0 {
		return CurveUnknown, nil, false
	}
	if !spki.Algorithm.Algorithm.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}) { // id-ecPublicKey
		return CurveUnknown, nil, false
	}
	var named asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &named); err != nil || len(rest) != 0 {
		return CurveUnknown, nil, true // explicit parameters: not supported
	}
	return curveByOID(named.String()), spki.PublicKey.RightAlign(), true
}

// newPublicKey decodes a SEC 1 point (or a bare X || Y) on curve and
// validates it.
func newPublicKey(curve Curve, point []byte) (PublicKey, error) {
	c := curve.params()
	size := c.coordLen
	var x, y *big.Int
	switch {
	case len(point) == 2*size:
		x = new(big.Int).SetBytes(point[:size])
		y = new(big.Int).SetBytes(point[size:])
	case len(point) == 1+2*size && point[0] == 4:
		x = new(big.Int).SetBytes(point[1 : 1+size])
		y = new(big.Int).SetBytes(point[1+size:])
	case len(point) == 1+size && (point[0] == 2 || point[0] == 3):
		x = new(big.Int).SetBytes(point[1:])
		var ok bool
		if y, ok = c.decompress(x, point[0] == 3); !ok {
			return PublicKey{}, fmt.Errorf("parse public key: %w: compressed point is not on %s", ErrBadPublicKey, curve)
		}
	default:
		return PublicKey{}, fmt.Errorf("parse public key: %w: %d bytes is no %s point", ErrMalformed, len(point), curve)
	}
	if !c.isOnCurve(x, y) {
		return PublicKey{}, fmt.Errorf("parse public key: %w: point is not on %s", ErrBadPublicKey, curve)
	}
	k := PublicKey{curve: curve, x: x, y: y}
	uncompressed := k.Bytes()
	var err error
	switch curve {
	case CurveSecp256r1:
		k.std, err = ecdsa.ParseUncompressedPublicKey(elliptic.P256(), uncompressed)
	case CurveSecp384r1:
		k.std, err = ecdsa.ParseUncompressedPublicKey(elliptic.P384(), uncompressed)
	case CurveSecp256k1:
		k.k1, err = secp256k1.ParsePubKey(uncompressed)
	}
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse public key: %w: %w", ErrBadPublicKey, err)
	}
	return k, nil
}
