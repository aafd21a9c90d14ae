package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestParsePublicKeyForms(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	point, _ := key.PublicKey.Bytes()
	compressed := append([]byte{2 + point[64]&1}, point[1:33]...)
	h := strings.ToUpper(hex.EncodeToString(der))
	var spaced []string
	for i := 0; i < len(h); i += 4 {
		spaced = append(spaced, h[i:min(i+4, len(h))])
	}
	var colons []string
	for i := 0; i < len(h); i += 2 {
		colons = append(colons, h[i:i+2])
	}
	forms := map[string]string{
		"hex SPKI":          h,
		"lower hex SPKI":    strings.ToLower(h),
		"spaced hex SPKI":   strings.Join(spaced, " "),
		"colon hex SPKI":    strings.Join(colons, ":"),
		"base64 SPKI":       base64.StdEncoding.EncodeToString(der),
		"PEM SPKI":          string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		"bare X||Y":         hex.EncodeToString(point[1:]),
		"04||X||Y":          hex.EncodeToString(point),
		"compressed":        hex.EncodeToString(compressed),
		"base64 X||Y":       base64.StdEncoding.EncodeToString(point[1:]),
		"wrapped in spaces": "\n  " + h + "  \n",
	}
	for name, s := range forms {
		pub, err := ParsePublicKey(s, "ECDSA-secp256r1-SHA256")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := hex.EncodeToString(pub.Bytes()); got != hex.EncodeToString(point) {
			t.Errorf("%s: point %s, want %x", name, got, point)
		}
		if pub.Curve() != CurveSecp256r1 {
			t.Errorf("%s: curve %s", name, pub.Curve())
		}
	}
	// Without SA a bare point is read on the OCMF default curve.
	if pub, err := ParsePublicKey(hex.EncodeToString(point[1:]), ""); err != nil || pub.Curve() != CurveSecp256r1 {
		t.Errorf("bare point without SA: %v %v", pub.Curve(), err)
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	point, _ := key.PublicKey.Bytes()
	offCurve := append([]byte(nil), point...)
	offCurve[64] ^= 1
	k384, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	der521, _ := x509.MarshalPKIXPublicKey(&k384.PublicKey)
	for _, tc := range []struct {
		name, key, sa string
		want          error
	}{
		{"empty", "", "", ErrMalformed},
		{"log4j prefix", "${jndi:ldap://x/a}" + hex.EncodeToString(der), "", ErrMalformed},
		{"SPKI on another curve than SA", hex.EncodeToString(der), "ECDSA-secp256k1-SHA256", ErrCurveMismatch},
		{"bare point of wrong length", hex.EncodeToString(point[1:63]), "", ErrMalformed},
		{"bare point, unknown SA", hex.EncodeToString(point[1:]), "RSA-2048-SHA256", ErrUnsupportedAlgorithm},
		{"point off the curve", hex.EncodeToString(offCurve), "", ErrBadPublicKey},
		{"P-521 SPKI", hex.EncodeToString(der521), "", ErrUnsupportedAlgorithm},
		{"bad PEM", "-----BEGIN PUBLIC KEY-----\nnope", "", ErrMalformed},
	} {
		if _, err := ParsePublicKey(tc.key, tc.sa); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestParsePublicKeyCurves reads an SPKI key of every curve from the test
// vectors and checks that its curve comes from the OID.
func TestParsePublicKeyCurves(t *testing.T) {
	want := map[string]Curve{
		"secp256r1": CurveSecp256r1, "secp384r1": CurveSecp384r1, "secp256k1": CurveSecp256k1,
		"brainpoolP256r1": CurveBrainpoolP256r1, "brainpoolP384r1": CurveBrainpoolP384r1,
		"secp192r1": CurveSecp192r1, "secp192k1": CurveSecp192k1,
	}
	seen := map[Curve]bool{}
	for i, k := range loadKAT(t) {
		if !strings.HasPrefix(k.KeyHex, "30") {
			continue
		}
		pub, err := ParsePublicKey(k.KeyHex, "")
		if err != nil {
			t.Errorf("kat[%d]: %v", i, err)
			continue
		}
		if i != 13 && pub.Curve() != want[k.Curve] { // kat[13] pairs a P-256 key with a secp256k1 record
			t.Errorf("kat[%d]: curve %s, want %s", i, pub.Curve(), k.Curve)
		}
		seen[pub.Curve()] = true
	}
	if len(seen) != 7 {
		t.Errorf("saw keys on %d curves, want 7", len(seen))
	}
}
