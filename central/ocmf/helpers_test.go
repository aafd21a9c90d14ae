package ocmf

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"testing"
)

func marshalSPKIHex(tb testing.TB, pub *ecdsa.PublicKey) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(der)
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
func b64(b []byte) string   { return base64.StdEncoding.EncodeToString(b) }
func bigFrom(b []byte) *big.Int {
	return new(big.Int).SetBytes(b)
}

// pad left-pads b with zeros to n bytes.
func pad(b []byte, n int) []byte {
	b = trim(b)
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out
}

// trim drops leading zero bytes.
func trim(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// derInt writes content verbatim as an INTEGER (no sign-pad fixing: tests
// use it to build non-canonical encodings on purpose).
func derInt(content []byte) []byte {
	return append([]byte{0x02, byte(len(content))}, content...)
}

func derSeq(parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append([]byte{0x30, byte(len(body))}, body...)
}
