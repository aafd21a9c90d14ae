package tariff

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func eur(perKWh int64) Tariff {
	return Tariff{ID: "t1", Class: ClassEco, Currency: "EUR", EnergyPerKWhMinor: perKWh, VATRateBP: 1900}
}

// TestPriceHandComputed checks cases worked out by hand.
func TestPriceHandComputed(t *testing.T) {
	withTime := eur(49)
	withTime.TimeFeePerMinuteMinor = 10
	withTime.FreeTime = 240 * time.Minute
	withTime.StartFeeMinor = 100
	capped := eur(59)
	capped.CapMinor = 2000
	reduced := eur(100)
	reduced.VATRateBP = 700

	tests := []struct {
		name   string
		t      Tariff
		wh     int64
		d      time.Duration
		lines  []Line
		gross  int64
		vat    int64
		billed int64
	}{
		{
			// 12.345 kWh × 0.49 = 6.04905 → 6.05; VAT 6.05 × 19/119 = 0.96597 → 0.97
			name: "energy only", t: eur(49), wh: 12345, d: 30 * time.Minute,
			lines: []Line{{LineEnergy, 12345, 49, 605}}, gross: 605, vat: 97,
		},
		{
			// 0.5 kWh × 0.49 = 0.245 → 0.25 (an exact half rounds up)
			name: "exact half rounds up", t: eur(49), wh: 500,
			lines: []Line{{LineEnergy, 500, 49, 25}}, gross: 25, vat: 4, // 25 × 19/119 = 3.99 → 4
		},
		{
			// 1.499 kWh × 0.49 = 0.73451 → 0.73
			name: "below half rounds down", t: eur(49), wh: 1499,
			lines: []Line{{LineEnergy, 1499, 49, 73}}, gross: 73, vat: 12, // 73 × 19/119 = 11.66 → 12
		},
		{
			// 245.5 min, 240 free: 5 whole minutes × 0.10; start fee 1.00
			// 20 kWh × 0.49 = 9.80; total 11.30; VAT 11.30 × 19/119 = 1.80420 → 1.80
			name: "time fee after free minutes and start fee", t: withTime, wh: 20000, d: 245*time.Minute + 30*time.Second,
			lines: []Line{{LineEnergy, 20000, 49, 980}, {LineTime, 5, 10, 50}, {LineStart, 1, 100, 100}},
			gross: 1130, vat: 180, billed: 5,
		},
		{
			name: "inside the free time", t: withTime, wh: 1000, d: 240 * time.Minute,
			lines: []Line{{LineEnergy, 1000, 49, 49}, {LineTime, 0, 10, 0}, {LineStart, 1, 100, 100}},
			gross: 149, vat: 24, // 149 × 19/119 = 23.79 → 24
		},
		{
			// 50 kWh × 0.59 = 29.50 capped at 20.00; VAT 20 × 19/119 = 3.1933 → 3.19
			name: "cap", t: capped, wh: 50000, d: time.Hour,
			lines: []Line{{LineEnergy, 50000, 59, 2950}, {LineCap, 0, 2000, -950}}, gross: 2000, vat: 319,
		},
		{
			name: "cap not reached", t: capped, wh: 10000,
			lines: []Line{{LineEnergy, 10000, 59, 590}}, gross: 590, vat: 94, // 590 × 19/119 = 94.20
		},
		{
			name: "nothing charged", t: eur(49),
			lines: []Line{{LineEnergy, 0, 49, 0}}, gross: 0, vat: 0,
		},
		{
			// 7 %: 1.07 gross = 1.00 net + 0.07 VAT
			name: "reduced VAT", t: reduced, wh: 1070,
			lines: []Line{{LineEnergy, 1070, 100, 107}}, gross: 107, vat: 7,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Price(tc.t, tc.wh, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.lines, b.Lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if b.GrossMinor != tc.gross || b.VATMinor != tc.vat || b.NetMinor != tc.gross-tc.vat || b.BilledMinutes != tc.billed {
				t.Errorf("gross %d vat %d net %d billed %d; want %d %d %d %d",
					b.GrossMinor, b.VATMinor, b.NetMinor, b.BilledMinutes, tc.gross, tc.vat, tc.gross-tc.vat, tc.billed)
			}
		})
	}
}

func TestPriceRefuses(t *testing.T) {
	bad := func(f func(*Tariff)) Tariff { t := eur(49); f(&t); return t }
	tests := []struct {
		name string
		t    Tariff
		wh   int64
		d    time.Duration
	}{
		{"negative energy", eur(49), -1, 0},
		{"energy beyond limit", eur(49), MaxEnergyWh + 1, 0},
		{"negative duration", eur(49), 0, -time.Second},
		{"duration beyond limit", eur(49), 0, MaxDuration + 1},
		{"unknown currency", bad(func(t *Tariff) { t.Currency = "XXX" }), 1, 0},
		{"unknown class", bad(func(t *Tariff) { t.Class = "gold" }), 1, 0},
		{"free energy", bad(func(t *Tariff) { t.EnergyPerKWhMinor = 0 }), 1, 0},
		{"negative start fee", bad(func(t *Tariff) { t.StartFeeMinor = -1 }), 1, 0},
		{"VAT over 100 %", bad(func(t *Tariff) { t.VATRateBP = 10001 }), 1, 0},
		{"free time not whole minutes", bad(func(t *Tariff) { t.FreeTime = 90 * time.Second }), 1, 0},
		{"cap below start fee", bad(func(t *Tariff) { t.StartFeeMinor = 500; t.CapMinor = 400 }), 1, 0},
	}
	for _, tc := range tests {
		if _, err := Price(tc.t, tc.wh, tc.d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func genTariff() *rapid.Generator[Tariff] {
	return rapid.Custom(func(t *rapid.T) Tariff {
		tr := Tariff{
			ID:                "gen",
			Class:             rapid.SampledFrom([]Class{ClassEco, ClassPremium}).Draw(t, "class"),
			Currency:          rapid.SampledFrom([]string{"EUR", "CHF", "ISK"}).Draw(t, "currency"),
			EnergyPerKWhMinor: rapid.Int64Range(1, MaxUnitPriceMinor).Draw(t, "perKWh"),
			VATRateBP:         rapid.SampledFrom([]int64{0, 700, 1900, 2100, 2500, 7700, MaxVATRateBP}).Draw(t, "vat"),
		}
		if rapid.Bool().Draw(t, "hasStart") {
			tr.StartFeeMinor = rapid.Int64Range(1, MaxUnitPriceMinor).Draw(t, "start")
		}
		if rapid.Bool().Draw(t, "hasTime") {
			tr.TimeFeePerMinuteMinor = rapid.Int64Range(1, MaxUnitPriceMinor).Draw(t, "perMinute")
			tr.FreeTime = time.Duration(rapid.IntRange(0, 24*60).Draw(t, "freeMinutes")) * time.Minute
		}
		if rapid.Bool().Draw(t, "hasCap") {
			tr.CapMinor = rapid.Int64Range(max(1, tr.StartFeeMinor), 100*MaxUnitPriceMinor).Draw(t, "cap")
		}
		return tr
	})
}

// genSmallTariff draws realistic prices, where rounding matters most.
func genSmallTariff() *rapid.Generator[Tariff] {
	return rapid.Custom(func(t *rapid.T) Tariff {
		tr := genTariff().Draw(t, "tariff")
		tr.EnergyPerKWhMinor = rapid.Int64Range(1, 150).Draw(t, "perKWhSmall")
		return tr
	})
}

func genEnergy() *rapid.Generator[int64] {
	return rapid.OneOf(rapid.Int64Range(0, 200_000), rapid.Int64Range(0, MaxEnergyWh))
}

func genDuration() *rapid.Generator[time.Duration] {
	return rapid.OneOf(
		rapid.Custom(func(t *rapid.T) time.Duration {
			return time.Duration(rapid.Int64Range(0, int64(48*time.Hour)).Draw(t, "d"))
		}),
		rapid.Custom(func(t *rapid.T) time.Duration {
			return time.Duration(rapid.Int64Range(0, int64(MaxDuration)).Draw(t, "dLong"))
		}),
	)
}

func mustPrice(t *rapid.T, tr Tariff, wh int64, d time.Duration) Breakdown {
	b, err := Price(tr, wh, d)
	if err != nil {
		t.Fatalf("Price(%+v, %d, %v): %v", tr, wh, d, err)
	}
	return b
}

// TestPriceInvariants: the lines sum to the total, nothing but the cap line
// is negative, the cap holds, net + VAT = gross, and the VAT is within half
// a minor unit of the exact figure.
func TestPriceInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := rapid.OneOf(genTariff(), genSmallTariff()).Draw(t, "tariff")
		wh := genEnergy().Draw(t, "wh")
		d := genDuration().Draw(t, "d")
		b := mustPrice(t, tr, wh, d)
		var sum int64
		for _, l := range b.Lines {
			sum += l.AmountMinor
			if l.AmountMinor < 0 && l.Kind != LineCap {
				t.Fatalf("negative %s line %d", l.Kind, l.AmountMinor)
			}
		}
		if sum != b.GrossMinor {
			t.Fatalf("lines sum to %d, gross is %d", sum, b.GrossMinor)
		}
		if b.GrossMinor < 0 || b.VATMinor < 0 || b.NetMinor < 0 {
			t.Fatalf("negative total: gross %d vat %d net %d", b.GrossMinor, b.VATMinor, b.NetMinor)
		}
		if tr.CapMinor > 0 && b.GrossMinor > tr.CapMinor {
			t.Fatalf("gross %d above cap %d", b.GrossMinor, tr.CapMinor)
		}
		if b.NetMinor+b.VATMinor != b.GrossMinor {
			t.Fatalf("net %d + vat %d != gross %d", b.NetMinor, b.VATMinor, b.GrossMinor)
		}
		// |VAT − gross·r/(1+r)| ≤ ½, in integers.
		den := 10000 + tr.VATRateBP
		if dev := 2 * (b.VATMinor*den - b.GrossMinor*tr.VATRateBP); dev > den || dev < -den {
			t.Fatalf("VAT %d of gross %d at %d bp is off by more than half a unit", b.VATMinor, b.GrossMinor, tr.VATRateBP)
		}
		// The energy line is within half a unit of the exact price.
		e := b.Lines[0]
		if dev := 2 * (e.AmountMinor*1000 - wh*tr.EnergyPerKWhMinor); dev > 1000 || dev < -1000 {
			t.Fatalf("energy line %d for %d Wh at %d is off by more than half a unit", e.AmountMinor, wh, tr.EnergyPerKWhMinor)
		}
	})
}

// TestPriceMonotonic: more energy or more time never costs less.
func TestPriceMonotonic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := rapid.OneOf(genTariff(), genSmallTariff()).Draw(t, "tariff")
		wh := genEnergy().Draw(t, "wh")
		d := genDuration().Draw(t, "d")
		moreWh := min(MaxEnergyWh, wh+rapid.Int64Range(0, 100_000).Draw(t, "dWh"))
		moreD := min(MaxDuration, d+time.Duration(rapid.Int64Range(0, int64(10*time.Hour)).Draw(t, "dD")))
		base := mustPrice(t, tr, wh, d).GrossMinor
		if g := mustPrice(t, tr, moreWh, d).GrossMinor; g < base {
			t.Fatalf("%d Wh costs %d, %d Wh costs %d", wh, base, moreWh, g)
		}
		if g := mustPrice(t, tr, wh, moreD).GrossMinor; g < base {
			t.Fatalf("%v costs %d, %v costs %d", d, base, moreD, g)
		}
	})
}

func TestRoundHalfUpDiv(t *testing.T) {
	tests := []struct{ num, den, want int64 }{
		{0, 1000, 0}, {499, 1000, 0}, {500, 1000, 1}, {501, 1000, 1}, {1500, 1000, 2},
		{2, 3, 1}, {1, 3, 0}, {4, 3, 1}, {5, 3, 2}, {1, 2, 1}, {3, 2, 2},
		{1<<62 + 5, 10, (1<<62)/10 + 1}, // 4611686018427387909 / 10 = …0.9 → up
	}
	for _, tc := range tests {
		if got := RoundHalfUpDiv(tc.num, tc.den); got != tc.want {
			t.Errorf("RoundHalfUpDiv(%d, %d) = %d, want %d", tc.num, tc.den, got, tc.want)
		}
	}
}

// TestRoundHalfUpDivIsNearest compares with the exact definition.
func TestRoundHalfUpDivIsNearest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		num := rapid.Int64Range(0, 1<<50).Draw(t, "num")
		den := rapid.Int64Range(1, 1<<12).Draw(t, "den")
		q := RoundHalfUpDiv(num, den)
		// q is the nearest: 2·|q·den − num| ≤ den, and a tie went up.
		dev := 2 * (q*den - num)
		if dev > den || dev < -den || dev == -den {
			t.Fatalf("RoundHalfUpDiv(%d, %d) = %d", num, den, q)
		}
	})
}

func BenchmarkPrice(b *testing.B) {
	tr := eur(49)
	tr.StartFeeMinor = 100
	tr.TimeFeePerMinuteMinor = 10
	tr.FreeTime = 240 * time.Minute
	tr.CapMinor = 5000
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Price(tr, int64(20000+i%1000), 5*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCoveredCostsNothing: a tariff covered by a flatrate prices every
// session at 0 with the energy shown; a covered tariff with a price, and a
// free tariff without a cover, are refused.
func TestCoveredCostsNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := Covered(genTariff().Draw(t, "tariff"), "flatrate code fleet")
		wh, d := genEnergy().Draw(t, "wh"), genDuration().Draw(t, "d")
		b := mustPrice(t, tr, wh, d)
		if b.GrossMinor != 0 || b.NetMinor != 0 || b.VATMinor != 0 {
			t.Fatalf("covered session costs %d gross, %d net, %d VAT", b.GrossMinor, b.NetMinor, b.VATMinor)
		}
		if b.EnergyWh != wh || len(b.Lines) == 0 || b.Lines[0].Kind != LineEnergy || b.Lines[0].Quantity != wh {
			t.Fatalf("covered session does not show its energy: %+v", b)
		}
	})
	priced := Covered(eur(30), "flatrate")
	priced.StartFeeMinor = 100
	if _, err := Price(priced, 1000, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("covered tariff with a start fee: err = %v, want ErrInvalid", err)
	}
	free := eur(0)
	if _, err := Price(free, 1000, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("free tariff without a cover: err = %v, want ErrInvalid", err)
	}
}
