package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

var allCurves = []Curve{
	CurveSecp256r1, CurveSecp384r1, CurveSecp256k1,
	CurveBrainpoolP256r1, CurveBrainpoolP384r1, CurveSecp192r1, CurveSecp192k1,
}

// TestCurveConstants self-tests every constant table with the generic
// arithmetic: G is on the curve, n·G = ∞, (n-1)·G = -G, and p and n are
// (probable) primes of the expected size.
func TestCurveConstants(t *testing.T) {
	wantBits := map[Curve]int{
		CurveSecp256r1: 256, CurveSecp384r1: 384, CurveSecp256k1: 256,
		CurveBrainpoolP256r1: 256, CurveBrainpoolP384r1: 384, CurveSecp192r1: 192, CurveSecp192k1: 192,
	}
	for _, curve := range allCurves {
		c := curve.params()
		if c.p.BitLen() != wantBits[curve] || c.n.BitLen() != wantBits[curve] {
			t.Errorf("%s: p has %d bits, n %d, want %d", curve, c.p.BitLen(), c.n.BitLen(), wantBits[curve])
		}
		if !c.p.ProbablyPrime(32) || !c.n.ProbablyPrime(32) {
			t.Errorf("%s: p or n is not prime", curve)
		}
		if !c.isOnCurve(c.gx, c.gy) {
			t.Errorf("%s: G is not on the curve", curve)
		}
		g := affine(c.gx, c.gy)
		zero := new(big.Int)
		if pt := c.mul2(c.n, g, zero, infinity()); !pt.isInfinity() {
			t.Errorf("%s: n·G is not the point at infinity", curve)
		}
		nm1 := new(big.Int).Sub(c.n, big.NewInt(1))
		x, y := c.toAffine(c.mul2(nm1, g, zero, infinity()))
		if x.Cmp(c.gx) != 0 || new(big.Int).Add(y, c.gy).Cmp(c.p) != 0 {
			t.Errorf("%s: (n-1)·G is not -G", curve)
		}
		// 2·G computed by doubling equals G+G through add, and is on the curve.
		x2, y2 := c.toAffine(c.add(g, g))
		if !c.isOnCurve(x2, y2) {
			t.Errorf("%s: 2·G is not on the curve", curve)
		}
		if yy, ok := c.decompress(c.gx, c.gy.Bit(0) == 1); !ok || yy.Cmp(c.gy) != 0 {
			t.Errorf("%s: decompressing G gives %v, want %v", curve, yy, c.gy)
		}
	}
}

// TestAMinus3IsWrongForBrainpool documents why crypto/elliptic.CurveParams
// is not used: its generic code assumes a = -3, and with that assumption
// brainpool's and the Koblitz curves' generators are not on the curve.
func TestAMinus3IsWrongForBrainpool(t *testing.T) {
	for _, curve := range []Curve{CurveBrainpoolP256r1, CurveBrainpoolP384r1, CurveSecp256k1, CurveSecp192k1} {
		c := curve.params()
		aMinus3 := newShortCurve(c.name, c.p, new(big.Int).Sub(c.p, big.NewInt(3)), c.b, c.gx, c.gy, c.n)
		if aMinus3.isOnCurve(c.gx, c.gy) {
			t.Errorf("%s: G lies on y² = x³ - 3x + b too", curve)
		}
	}
}

// TestGenericMatchesStdlib cross-checks the generic verifier (a = -3) with
// crypto/ecdsa signatures on P-256, P-384 and the stdlib's own verdicts.
func TestGenericMatchesStdlib(t *testing.T) {
	for _, tc := range []struct {
		curve Curve
		std   elliptic.Curve
	}{{CurveSecp256r1, elliptic.P256()}, {CurveSecp384r1, elliptic.P384()}} {
		c := tc.curve.params()
		for i := 0; i < 8; i++ {
			key, err := ecdsa.GenerateKey(tc.std, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte{byte(i), 'o', 'c', 'm', 'f'}
			digest := sha256.Sum256(msg)
			r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			point, err := key.PublicKey.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			pub, err := newPublicKey(tc.curve, point)
			if err != nil {
				t.Fatal(err)
			}
			if !c.verify(pub.x, pub.y, digest[:], r, s) {
				t.Errorf("%s: generic verifier rejects a crypto/ecdsa signature", tc.curve)
			}
			bad := sha256.Sum256(append(msg, 0))
			if c.verify(pub.x, pub.y, bad[:], r, s) {
				t.Errorf("%s: generic verifier accepts a signature over another digest", tc.curve)
			}
		}
	}
}

// TestGenericMatchesDecred cross-checks the generic verifier (a = 0) with
// decred's secp256k1 signatures, including high-s twins.
func TestGenericMatchesDecred(t *testing.T) {
	c := CurveSecp256k1.params()
	for i := 0; i < 8; i++ {
		priv, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256([]byte{byte(i)})
		sig := k1ecdsa.Sign(priv, digest[:])
		rb, sb, ok := parseLenientDER(sig.Serialize())
		if !ok {
			t.Fatal("decred DER does not parse")
		}
		r, s := new(big.Int).SetBytes(rb), new(big.Int).SetBytes(sb)
		pub, err := newPublicKey(CurveSecp256k1, priv.PubKey().SerializeUncompressed())
		if err != nil {
			t.Fatal(err)
		}
		highS := new(big.Int).Sub(c.n, s)
		for name, ss := range map[string]*big.Int{"low-s": s, "high-s": highS} {
			if !c.verify(pub.x, pub.y, digest[:], r, ss) {
				t.Errorf("generic verifier rejects decred's %s signature", name)
			}
			if !verifySecp256k1(pub.k1, digest[:], r, ss) {
				t.Errorf("decred path rejects the %s signature", name)
			}
		}
	}
}

func TestHashToIntTruncates(t *testing.T) {
	digest := sha256.Sum256([]byte("ocmf"))
	n192 := CurveSecp192r1.params().n
	if got, want := hashToInt(digest[:], n192), new(big.Int).SetBytes(digest[:24]); got.Cmp(want) != 0 {
		t.Errorf("192-bit: got %x, want leftmost 24 bytes %x", got, want)
	}
	n384 := CurveSecp384r1.params().n
	if got, want := hashToInt(digest[:], n384), new(big.Int).SetBytes(digest[:]); got.Cmp(want) != 0 {
		t.Errorf("384-bit: got %x, want the whole digest %x", got, want)
	}
}
