package ocmf

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Verify checks rec's signature over rec.Payload, the exact payload bytes,
// with the meter's public key. It returns nil only for a valid signature.
//
// Errors wrap ErrUnsupportedAlgorithm (SA unknown), ErrCurveMismatch (key on
// another curve than SA), ErrSignatureMissing (no SD), ErrMalformed (SD not
// decodable or not a signature), ErrBadPublicKey (zero key) or
// ErrBadSignature (payload changed or signed by another key).
func Verify(rec Record, pub PublicKey) error {
	sa := strings.TrimSpace(rec.Signature.SA)
	curve, ok := algorithmCurve(sa)
	if !ok {
		return fmt.Errorf("verify OCMF signature: %w: SA %q", ErrUnsupportedAlgorithm, rec.Signature.SA)
	}
	alg := sa
	if alg == "" {
		alg = "ECDSA-secp256r1-SHA256 (SA absent)"
	}
	if pub.curve == CurveUnknown {
		return fmt.Errorf("verify OCMF signature %s: %w: no key", alg, ErrBadPublicKey)
	}
	if pub.curve != curve {
		return fmt.Errorf("verify OCMF signature %s: %w: key is %s", alg, ErrCurveMismatch, pub.curve)
	}
	sd, err := decodeSD(rec.Signature)
	if err != nil {
		return fmt.Errorf("verify OCMF signature %s: %w", alg, err)
	}
	c := curve.params()
	r, s, err := parseSignature(sd, c.scalLen)
	if err != nil {
		return fmt.Errorf("verify OCMF signature %s: %w", alg, err)
	}
	digest := sha256.Sum256(rec.Payload)
	var valid bool
	switch {
	case pub.std != nil:
		valid = ecdsa.Verify(pub.std, digest[:], r, s)
	case pub.k1 != nil:
		valid = verifySecp256k1(pub.k1, digest[:], r, s)
	default:
		valid = c.verify(pub.x, pub.y, digest[:], r, s)
	}
	if !valid {
		return fmt.Errorf("verify OCMF signature %s: %w", alg, ErrBadSignature)
	}
	return nil
}

func verifySecp256k1(pub *secp256k1.PublicKey, digest []byte, r, s *big.Int) bool {
	var rs, ss secp256k1.ModNScalar
	if r.BitLen() > 256 || s.BitLen() > 256 {
		return false
	}
	if rs.SetByteSlice(r.Bytes()) || ss.SetByteSlice(s.Bytes()) { // overflow: r or s ≥ n
		return false
	}
	return k1ecdsa.NewSignature(&rs, &ss).Verify(digest, pub)
}

// decodeSD decodes the signature data per SE: hex (default) or base64.
func decodeSD(sig Signature) ([]byte, error) {
	sd := strings.TrimSpace(sig.SD)
	if sd == "" {
		return nil, ErrSignatureMissing
	}
	switch enc := strings.ToLower(strings.TrimSpace(sig.SE)); enc {
	case "", "hex":
		b, err := hex.DecodeString(sd)
		if err != nil {
			return nil, fmt.Errorf("decode SD as hex: %w: %w", ErrMalformed, err)
		}
		return b, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(sd)
		if err != nil {
			if b2, err2 := base64.RawStdEncoding.DecodeString(sd); err2 == nil {
				return b2, nil
			}
			return nil, fmt.Errorf("decode SD as base64: %w: %w", ErrMalformed, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("decode SD: %w: unknown SE %q", ErrMalformed, sig.SE)
	}
}

// parseSignature reads (r, s) from DER, leniently, or from a bare r || s of
// exactly twice the scalar length (Isabellenhütte). DER is read the way the
// S.A.F.E. reference (BouncyCastle) reads it: INTEGERs as unsigned
// magnitudes, with or without a 0x00 pad, and lengths in short or
// non-minimal long form. The structure itself must be exact: one SEQUENCE of
// two INTEGERs and nothing after it.
func parseSignature(sd []byte, scalarLen int) (r, s *big.Int, err error) {
	if rb, sb, ok := parseLenientDER(sd); ok {
		return new(big.Int).SetBytes(rb), new(big.Int).SetBytes(sb), nil
	}
	if len(sd) == 2*scalarLen {
		return new(big.Int).SetBytes(sd[:scalarLen]), new(big.Int).SetBytes(sd[scalarLen:]), nil
	}
	return nil, nil, fmt.Errorf("%w: SD is neither DER nor a %d-byte r||s (%d bytes)", ErrMalformed, 2*scalarLen, len(sd))
}

func parseLenientDER(b []byte) (r, s []byte, ok bool) {
	seq, rest, ok := derElement(b, 0x30)
	if !ok || len(rest) != 0 {
		return nil, nil, false
	}
	r, seq, ok = derElement(seq, 0x02)
	if !ok || len(r) == 0 {
		return nil, nil, false
	}
	s, seq, ok = derElement(seq, 0x02)
	if !ok || len(s) == 0 || len(seq) != 0 {
		return nil, nil, false
	}
	return r, s, true
}

// derElement reads one TLV with the given tag and returns its content and
// the bytes after it.
func derElement(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, hdr := int(b[1]), 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k { // indefinite length or absurd size
			return nil, nil, false
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if len(b)-hdr < n {
		return nil, nil, false
	}
	return b[hdr : hdr+n], b[hdr+n:], true
}
