package ocmf

import (
	"errors"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Decimal
		str  string
	}{
		{"0.2596", Decimal{2596, -4}, "0.2596"},
		{"0100.000", Decimal{100000, -3}, "100.000"},
		{"       9.038", Decimal{9038, -3}, "9.038"},
		{"00000000.000", Decimal{0, 0}, "0"},
		{"1.606848e7", Decimal{1606848, 1}, "16068480"},
		{"-5", Decimal{-5, 0}, "-5"},
		{"-0.05", Decimal{-5, -2}, "-0.05"},
		{"+12.5E-1", Decimal{125, -2}, "1.25"},
		{"3.", Decimal{3, 0}, "3"},
		{".5", Decimal{5, -1}, "0.5"},
		{"9223372036854775807", Decimal{9223372036854775807, 0}, "9223372036854775807"},
	} {
		got, err := ParseDecimal(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseDecimal(%q) = %+v (%s), %v; want %+v (%s)", tc.in, got, got, err, tc.want, tc.str)
		}
	}
	for in, want := range map[string]error{
		"":                                  ErrMalformed,
		"abc":                               ErrMalformed,
		"1.2.3":                             ErrMalformed,
		"1e":                                ErrMalformed,
		"--1":                               ErrMalformed,
		"0x10":                              ErrMalformed,
		"9223372036854775808":               ErrInexact,
		"123456789012345678901234567890123": ErrInexact,
		"1e1000":                            ErrInexact,
	} {
		if _, err := ParseDecimal(in); !errors.Is(err, want) {
			t.Errorf("ParseDecimal(%q): got %v, want %v", in, err, want)
		}
	}
}

func TestEnergyConversion(t *testing.T) {
	for _, tc := range []struct {
		rv, ru string
		mWh    int64
		mWhErr error
		wh     int64
		whErr  error
	}{
		{"0.2596", "kWh", 259600, nil, 260, nil},
		{"0.2594", "kWh", 259400, nil, 259, nil},
		{"259.5", "Wh", 259500, nil, 260, nil},  // half rounds away from zero
		{"259.49", "Wh", 259490, nil, 259, nil}, //
		{"-0.5", "Wh", -500, nil, -1, nil},      // away from zero, also below zero
		{"1709.539307", "Wh", 0, ErrInexact, 1710, nil},
		{"1.606848e7", "Wh", 16068480000, nil, 16068480, nil},
		{"62500.2031", "kWh", 62500203100, nil, 62500203, nil},
		{"2", "MWh", 2000000000, nil, 2000000, nil},
		{"30", "sec", 0, ErrNotEnergy, 0, ErrNotEnergy},
		{"9223372036854775807", "kWh", 0, ErrInexact, 0, ErrInexact},
	} {
		d, err := ParseDecimal(tc.rv)
		if err != nil {
			t.Fatal(err)
		}
		r := Reading{RU: tc.ru, RV: Value{Text: tc.rv, Decimal: d, Present: true}}
		mWh, err := r.EnergyMilliWh()
		if mWh != tc.mWh || !errors.Is(err, tc.mWhErr) {
			t.Errorf("%s %s: EnergyMilliWh = %d, %v; want %d, %v", tc.rv, tc.ru, mWh, err, tc.mWh, tc.mWhErr)
		}
		wh, err := r.EnergyWh()
		if wh != tc.wh || !errors.Is(err, tc.whErr) {
			t.Errorf("%s %s: EnergyWh = %d, %v; want %d, %v", tc.rv, tc.ru, wh, err, tc.wh, tc.whErr)
		}
	}
	if _, err := (Reading{RU: "kWh"}).EnergyWh(); !errors.Is(err, ErrMalformed) {
		t.Errorf("reading without RV: got %v, want ErrMalformed", err)
	}
}

func TestDecimalCmp(t *testing.T) {
	a, _ := ParseDecimal("100.000")
	b, _ := ParseDecimal("1e2")
	c, _ := ParseDecimal("129.5")
	if a.Cmp(b) != 0 || a.Cmp(c) != -1 || c.Cmp(a) != 1 {
		t.Errorf("Cmp: %d %d %d", a.Cmp(b), a.Cmp(c), c.Cmp(a))
	}
}
