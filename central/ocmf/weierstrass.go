package ocmf

import "math/big"

// shortCurve is a short-Weierstrass curve y² = x³ + a·x + b over GF(p) with
// a base point G of prime order n and cofactor 1. Its arithmetic is generic
// in a (crypto/elliptic.CurveParams assumes a = -3, which is wrong for
// brainpool and the Koblitz curves). It only verifies signatures, on public
// data, so it is written for clarity, not constant time.
//
// A *shortCurve is immutable once built.
type shortCurve struct {
	name              string
	p, a, b, gx, gy   *big.Int
	n                 *big.Int
	coordLen, scalLen int // bytes of a coordinate and of a scalar
}

func newShortCurve(name string, p, a, b, gx, gy, n *big.Int) *shortCurve {
	return &shortCurve{
		name: name, p: p, a: a, b: b, gx: gx, gy: gy, n: n,
		coordLen: (p.BitLen() + 7) / 8,
		scalLen:  (n.BitLen() + 7) / 8,
	}
}

// jacobian is a point (X:Y:Z) standing for (X/Z², Y/Z³); Z = 0 is infinity.
type jacobian struct{ x, y, z *big.Int }

func infinity() jacobian {
	return jacobian{new(big.Int), big.NewInt(1), new(big.Int)}
}

func affine(x, y *big.Int) jacobian {
	return jacobian{new(big.Int).Set(x), new(big.Int).Set(y), big.NewInt(1)}
}

func (pt jacobian) isInfinity() bool { return pt.z.Sign() == 0 }

// isOnCurve reports whether (x, y) is a finite point of the curve with
// coordinates reduced mod p.
func (c *shortCurve) isOnCurve(x, y *big.Int) bool {
	if x.Sign() < 0 || x.Cmp(c.p) >= 0 || y.Sign() < 0 || y.Cmp(c.p) >= 0 {
		return false
	}
	return c.rhs(x).Cmp(new(big.Int).Mod(new(big.Int).Mul(y, y), c.p)) == 0
}

// rhs returns x³ + a·x + b mod p.
func (c *shortCurve) rhs(x *big.Int) *big.Int {
	r := new(big.Int).Mul(x, x)
	r.Add(r, c.a)
	r.Mul(r, x)
	r.Add(r, c.b)
	return r.Mod(r, c.p)
}

// decompress returns y for x with the parity of odd (SEC 1, 2.3.4).
func (c *shortCurve) decompress(x *big.Int, odd bool) (*big.Int, bool) {
	if x.Cmp(c.p) >= 0 {
		return nil, false
	}
	y := new(big.Int).ModSqrt(c.rhs(x), c.p)
	if y == nil {
		return nil, false
	}
	if (y.Bit(0) == 1) != odd {
		y.Sub(c.p, y)
	}
	return y, c.isOnCurve(x, y)
}

func (c *shortCurve) mod(x *big.Int) *big.Int { return x.Mod(x, c.p) }

func (c *shortCurve) double(pt jacobian) jacobian {
	if pt.isInfinity() || pt.y.Sign() == 0 {
		return infinity()
	}
	xx := c.mod(new(big.Int).Mul(pt.x, pt.x))
	yy := c.mod(new(big.Int).Mul(pt.y, pt.y))
	yyyy := c.mod(new(big.Int).Mul(yy, yy))
	s := c.mod(new(big.Int).Lsh(new(big.Int).Mul(pt.x, yy), 2)) // 4·X·Y²
	m := new(big.Int).Mul(xx, big.NewInt(3))                    // 3·X² + a·Z⁴
	if c.a.Sign() != 0 {
		zz := c.mod(new(big.Int).Mul(pt.z, pt.z))
		zzzz := c.mod(new(big.Int).Mul(zz, zz))
		m.Add(m, new(big.Int).Mul(c.a, zzzz))
	}
	c.mod(m)
	x3 := new(big.Int).Mul(m, m)
	x3.Sub(x3, new(big.Int).Lsh(s, 1))
	c.mod(x3)
	y3 := new(big.Int).Sub(s, x3)
	y3.Mul(y3, m)
	y3.Sub(y3, new(big.Int).Lsh(yyyy, 3))
	c.mod(y3)
	z3 := new(big.Int).Mul(pt.y, pt.z)
	z3.Lsh(z3, 1)
	c.mod(z3)
	return jacobian{x3, y3, z3}
}

func (c *shortCurve) add(p1, p2 jacobian) jacobian {
	if p1.isInfinity() {
		return p2
	}
	if p2.isInfinity() {
		return p1
	}
	z1z1 := c.mod(new(big.Int).Mul(p1.z, p1.z))
	z2z2 := c.mod(new(big.Int).Mul(p2.z, p2.z))
	u1 := c.mod(new(big.Int).Mul(p1.x, z2z2))
	u2 := c.mod(new(big.Int).Mul(p2.x, z1z1))
	s1 := c.mod(new(big.Int).Mul(p1.y, c.mod(new(big.Int).Mul(p2.z, z2z2))))
	s2 := c.mod(new(big.Int).Mul(p2.y, c.mod(new(big.Int).Mul(p1.z, z1z1))))
	if u1.Cmp(u2) == 0 {
		if s1.Cmp(s2) == 0 {
			return c.double(p1)
		}
		return infinity()
	}
	h := c.mod(new(big.Int).Sub(u2, u1))
	r := c.mod(new(big.Int).Sub(s2, s1))
	hh := c.mod(new(big.Int).Mul(h, h))
	hhh := c.mod(new(big.Int).Mul(hh, h))
	v := c.mod(new(big.Int).Mul(u1, hh))
	x3 := new(big.Int).Mul(r, r)
	x3.Sub(x3, hhh)
	x3.Sub(x3, new(big.Int).Lsh(v, 1))
	c.mod(x3)
	y3 := new(big.Int).Sub(v, x3)
	y3.Mul(y3, r)
	y3.Sub(y3, new(big.Int).Mul(s1, hhh))
	c.mod(y3)
	z3 := new(big.Int).Mul(p1.z, p2.z)
	z3.Mul(z3, h)
	c.mod(z3)
	return jacobian{x3, y3, z3}
}

// mul2 returns k1·P1 + k2·P2 by Shamir's trick (k1, k2 ≥ 0).
func (c *shortCurve) mul2(k1 *big.Int, p1 jacobian, k2 *big.Int, p2 jacobian) jacobian {
	both := c.add(p1, p2)
	acc := infinity()
	for i := max(k1.BitLen(), k2.BitLen()) - 1; i >= 0; i-- {
		acc = c.double(acc)
		switch b1, b2 := k1.Bit(i), k2.Bit(i); {
		case b1 == 1 && b2 == 1:
			acc = c.add(acc, both)
		case b1 == 1:
			acc = c.add(acc, p1)
		case b2 == 1:
			acc = c.add(acc, p2)
		}
	}
	return acc
}

// toAffine returns the affine coordinates of a finite point.
func (c *shortCurve) toAffine(pt jacobian) (x, y *big.Int) {
	zinv := new(big.Int).ModInverse(pt.z, c.p)
	zinv2 := c.mod(new(big.Int).Mul(zinv, zinv))
	x = c.mod(new(big.Int).Mul(pt.x, zinv2))
	y = c.mod(new(big.Int).Mul(pt.y, c.mod(new(big.Int).Mul(zinv2, zinv))))
	return x, y
}

// hashToInt converts a digest to an integer, keeping its leftmost
// bitlen(n) bits (SEC 1, 4.1.3 step 5): SHA-256 on a 192-bit curve is cut to
// 192 bits; on P-384 it is used whole.
func hashToInt(digest []byte, n *big.Int) *big.Int {
	bits := n.BitLen()
	if size := (bits + 7) / 8; len(digest) > size {
		digest = digest[:size]
	}
	e := new(big.Int).SetBytes(digest)
	if excess := len(digest)*8 - bits; excess > 0 {
		e.Rsh(e, uint(excess))
	}
	return e
}

// verify checks an ECDSA signature (SEC 1, 4.1.4) for the point (qx, qy),
// which the caller has validated to be on the curve. High-s signatures are
// accepted: ECDSA does not define low-s, and half of real meters sign high-s.
func (c *shortCurve) verify(qx, qy *big.Int, digest []byte, r, s *big.Int) bool {
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(c.n) >= 0 || s.Cmp(c.n) >= 0 {
		return false
	}
	e := hashToInt(digest, c.n)
	w := new(big.Int).ModInverse(s, c.n)
	if w == nil {
		return false
	}
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, c.n)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, c.n)
	pt := c.mul2(u1, affine(c.gx, c.gy), u2, affine(qx, qy))
	if pt.isInfinity() {
		return false
	}
	x, _ := c.toAffine(pt)
	return x.Mod(x, c.n).Cmp(r) == 0
}
