package ocmf

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number, Coef × 10^Exp, as a meter wrote it.
// Energy and money never pass through float64 in parkgrid; readings keep
// their decimal text and convert to integer units by the rules below.
type Decimal struct {
	Coef int64
	Exp  int32
}

// maxDecimalExp bounds the exponent so that scaling never loops long.
const maxDecimalExp = 64

// ParseDecimal reads a decimal literal: optional sign, digits with an optional
// fraction, optional exponent ("0.2596", "0100.000", "1.606848e7", "-5").
// Surrounding spaces are ignored, so space-padded string readings such as
// "       9.038" parse. It fails with ErrInexact when the digits do not fit an
// int64 coefficient, with ErrMalformed when the text is not a number.
func ParseDecimal(s string) (Decimal, error) {
	t := strings.TrimSpace(s)
	mant, expPart, hasExp := t, "", false
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		mant, expPart, hasExp = t[:i], t[i+1:], true
	}
	neg := false
	if mant != "" && (mant[0] == '+' || mant[0] == '-') {
		neg = mant[0] == '-'
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" {
		return Decimal{}, fmt.Errorf("decimal %q: %w", s, ErrMalformed)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return Decimal{}, fmt.Errorf("decimal %q: %w", s, ErrMalformed)
		}
	}
	if len(strings.TrimLeft(digits, "0")) > 19 {
		return Decimal{}, fmt.Errorf("decimal %q: %w: more than 19 significant digits", s, ErrInexact)
	}
	coef, _ := new(big.Int).SetString(digits, 10)
	exp := -int64(len(frac))
	if hasExp {
		e, err := strconv.ParseInt(expPart, 10, 32)
		if err != nil {
			return Decimal{}, fmt.Errorf("decimal %q exponent: %w", s, ErrMalformed)
		}
		exp += e
	}
	if neg {
		coef.Neg(coef)
	}
	if !coef.IsInt64() {
		return Decimal{}, fmt.Errorf("decimal %q: %w: does not fit int64", s, ErrInexact)
	}
	if coef.Sign() == 0 {
		exp = 0
	}
	if exp < -maxDecimalExp || exp > maxDecimalExp {
		return Decimal{}, fmt.Errorf("decimal %q: %w: exponent out of range", s, ErrInexact)
	}
	return Decimal{Coef: coef.Int64(), Exp: int32(exp)}, nil
}

// String formats d without exponent, e.g. "0.2596", "16068480".
func (d Decimal) String() string {
	s := strconv.FormatInt(d.Coef, 10)
	if d.Exp >= 0 {
		return s + strings.Repeat("0", int(d.Exp))
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	n := int(-d.Exp)
	if len(s) <= n {
		s = strings.Repeat("0", n-len(s)+1) + s
	}
	s = s[:len(s)-n] + "." + s[len(s)-n:]
	if neg {
		s = "-" + s
	}
	return s
}

// Cmp compares a and b exactly: -1, 0 or +1.
func (d Decimal) Cmp(o Decimal) int {
	return d.big().Cmp(o.big())
}

// big returns d as a rational number.
func (d Decimal) big() *big.Rat {
	r := new(big.Rat).SetInt64(d.Coef)
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs32(d.Exp))), nil)
	if d.Exp >= 0 {
		return r.Mul(r, new(big.Rat).SetInt(pow))
	}
	return r.Quo(r, new(big.Rat).SetInt(pow))
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// scaledExact returns d as an integer count of 10^exp units, failing with
// ErrInexact when digits would be lost or the result overflows int64.
func (d Decimal) scaledExact(exp int32) (int64, error) {
	q, rem := d.scale(exp)
	if rem.Sign() != 0 || !q.IsInt64() {
		return 0, fmt.Errorf("%s as a multiple of 1e%d: %w", d, exp, ErrInexact)
	}
	return q.Int64(), nil
}

// scaledHalfAwayFromZero returns d as an integer count of 10^exp units,
// rounding half away from zero (0.5 → 1, -0.5 → -1; "kaufmännisches Runden").
// This is the one rounding rule for readings; it fails with ErrInexact only
// on int64 overflow.
func (d Decimal) scaledHalfAwayFromZero(exp int32) (int64, error) {
	q, rem := d.scale(exp)
	if rem.Sign() != 0 {
		// rem has the sign of d; |rem|/den ≥ 1/2 rounds away from zero.
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp-d.Exp)), nil)
		twice := new(big.Int).Abs(rem)
		twice.Lsh(twice, 1)
		if twice.Cmp(den) >= 0 {
			if d.Coef < 0 {
				q.Sub(q, big.NewInt(1))
			} else {
				q.Add(q, big.NewInt(1))
			}
		}
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("%s as a multiple of 1e%d: %w", d, exp, ErrInexact)
	}
	return q.Int64(), nil
}

// scale divides d by 10^exp, truncating toward zero; rem carries the sign of d.
func (d Decimal) scale(exp int32) (q, rem *big.Int) {
	c := big.NewInt(d.Coef)
	if d.Exp >= exp {
		pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Exp-exp)), nil)
		return c.Mul(c, pow), new(big.Int)
	}
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp-d.Exp)), nil)
	return new(big.Int).QuoRem(c, pow, new(big.Int))
}

// unitExp maps an energy unit (RU) to its power of ten relative to Wh.
func unitExp(unit string) (int32, error) {
	switch unit {
	case "Wh":
		return 0, nil
	case "kWh":
		return 3, nil
	case "MWh":
		return 6, nil
	}
	return 0, fmt.Errorf("unit %q: %w", unit, ErrNotEnergy)
}

// energyExact converts value in unit to a count of 10^exp Wh, exactly.
func energyExact(value Decimal, unit string, exp int32) (int64, error) {
	ue, err := unitExp(unit)
	if err != nil {
		return 0, err
	}
	return Decimal{Coef: value.Coef, Exp: value.Exp + ue}.scaledExact(exp)
}

// energyRounded converts value in unit to whole Wh, half away from zero.
func energyRounded(value Decimal, unit string) (int64, error) {
	ue, err := unitExp(unit)
	if err != nil {
		return 0, err
	}
	return Decimal{Coef: value.Coef, Exp: value.Exp + ue}.scaledHalfAwayFromZero(0)
}
