package tariff

import (
	"errors"
	"testing"
)

func TestParseAmount(t *testing.T) {
	good := []struct {
		s, cur string
		want   int64
	}{
		{"0.49", "EUR", 49}, {"0.4", "EUR", 40}, {"12", "EUR", 1200}, {"12.00", "EUR", 1200},
		{"007.05", "EUR", 705}, {"1234567890123.99", "EUR", 123456789012399}, {"150", "ISK", 150},
	}
	for _, tc := range good {
		got, err := ParseAmount(tc.s, tc.cur)
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tc.s, tc.cur, got, err, tc.want)
		}
	}
	bad := []struct{ s, cur string }{
		{"", "EUR"}, {".5", "EUR"}, {"5.", "EUR"}, {"0.499", "EUR"}, {"-1", "EUR"}, {"+1", "EUR"},
		{"1e3", "EUR"}, {"0,49", "EUR"}, {" 1", "EUR"}, {"1.2.3", "EUR"}, {"1.5", "ISK"},
		{"12345678901234", "EUR"}, {"١", "EUR"}, {"NaN", "EUR"},
	}
	for _, tc := range bad {
		if got, err := ParseAmount(tc.s, tc.cur); !errors.Is(err, ErrAmount) {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want ErrAmount", tc.s, tc.cur, got, err)
		}
	}
	if _, err := ParseAmount("1", "XBT"); !errors.Is(err, ErrCurrency) {
		t.Errorf("unknown currency: %v", err)
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		minor int64
		cur   string
		want  string
	}{
		{49, "EUR", "0.49"}, {5, "EUR", "0.05"}, {0, "EUR", "0.00"}, {1200, "EUR", "12.00"},
		{-105, "EUR", "-1.05"}, {150, "ISK", "150"}, {-9223372036854775808, "EUR", "-92233720368547758.08"},
	}
	for _, tc := range tests {
		if got, err := FormatAmount(tc.minor, tc.cur); err != nil || got != tc.want {
			t.Errorf("FormatAmount(%d, %s) = %q, %v; want %q", tc.minor, tc.cur, got, err, tc.want)
		}
	}
}

// FuzzParseAmount: ParseAmount never panics, never returns a negative
// amount, and what it accepts formats back to an amount it parses equal.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0.49", "12", "0.499", ".5", "-1", "1e3", "99999999999999", "0.0", "١"} {
		f.Add(s, "EUR")
	}
	f.Add("150", "ISK")
	f.Fuzz(func(t *testing.T, s, cur string) {
		v, err := ParseAmount(s, cur)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseAmount(%q) = %d < 0", s, v)
		}
		back, err := FormatAmount(v, cur)
		if err != nil {
			t.Fatalf("FormatAmount(%d, %q): %v", v, cur, err)
		}
		again, err := ParseAmount(back, cur)
		if err != nil || again != v {
			t.Fatalf("%q → %d → %q → %d, %v", s, v, back, again, err)
		}
	})
}
