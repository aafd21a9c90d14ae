package tariff

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrAmount is wrapped by every error of ParseAmount.
var ErrAmount = errors.New("invalid amount")

// ErrCurrency is returned for a currency code Exponent does not know.
var ErrCurrency = errors.New("unsupported currency")

// maxAmountDigits bounds the integer digits ParseAmount accepts: 10¹⁵ minor
// units leave int64 headroom for every sum a receipt makes.
const maxAmountDigits = 13

// Exponent returns the number of decimal places of currency's minor unit
// (ISO 4217), e.g. 2 for EUR (cents). It knows the currencies of the
// European markets parkgrid sells into.
func Exponent(currency string) (int, error) {
	switch currency {
	case "EUR", "CHF", "GBP", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "RON", "BGN", "USD":
		return 2, nil
	case "ISK":
		return 0, nil
	}
	return 0, fmt.Errorf("currency %q: %w", currency, ErrCurrency)
}

// ParseAmount parses a non-negative decimal amount written with a dot,
// such as "0.49" or "12", into minor units of currency (49, 1200 for EUR).
// It never goes through a float. Refused: signs, spaces, exponents, a comma,
// more decimals than the currency has ("0.499" EUR), an empty integer or
// fraction part (".5", "5."), more than 13 integer digits.
func ParseAmount(s, currency string) (int64, error) {
	exp, err := Exponent(currency)
	if err != nil {
		return 0, err
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	switch {
	case intPart == "":
		return 0, fmt.Errorf("amount %q: %w: no digits before the decimal point", s, ErrAmount)
	case hasDot && frac == "":
		return 0, fmt.Errorf("amount %q: %w: no digits after the decimal point", s, ErrAmount)
	case len(intPart) > maxAmountDigits:
		return 0, fmt.Errorf("amount %q: %w: more than %d integer digits", s, ErrAmount, maxAmountDigits)
	case len(frac) > exp:
		return 0, fmt.Errorf("amount %q: %w: %s has %d decimal places", s, ErrAmount, currency, exp)
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("amount %q: %w: only digits and one '.' allowed", s, ErrAmount)
	}
	digits := intPart + frac + strings.Repeat("0", exp-len(frac))
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil { // unreachable within maxAmountDigits; kept for safety
		return 0, fmt.Errorf("amount %q: %w: %v", s, ErrAmount, err)
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount writes minor units of currency as a plain decimal with a dot
// and all of the currency's decimal places ("0.49", "-1.05", "12"); the
// inverse of ParseAmount for non-negative amounts. Locale formatting ("0,49
// €") is the UI's job.
func FormatAmount(minor int64, currency string) (string, error) {
	exp, err := Exponent(currency)
	if err != nil {
		return "", err
	}
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u // two's complement: also right for math.MinInt64
	}
	digits := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if neg {
		digits = "-" + digits
	}
	return digits, nil
}
