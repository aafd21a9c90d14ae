package session

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/parkgrid/parkgrid/central/tariff"
)

func price(t interface{ Fatalf(string, ...any) }, tr tariff.Tariff, wh int64) int64 {
	b, err := tariff.Price(tr, wh, 0)
	if err != nil {
		t.Fatalf("price %d Wh: %v", wh, err)
	}
	return b.GrossMinor
}

func TestEnergyCapWhCases(t *testing.T) {
	eco := tariff.Tariff{ID: "eco", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 49, StartFeeMinor: 100, VATRateBP: 1900}
	capped := eco
	capped.CapMinor = 3000
	withTime := eco
	withTime.TimeFeePerMinuteMinor = 10
	for _, tc := range []struct {
		name string
		t    tariff.Tariff
		hold int64
		want int64
	}{
		// 100 + round(Wh × 49 / 1000) ≤ 5000 ⇔ Wh × 49 < 4900.5 × 1000 ⇔ Wh ≤ 100,010
		{"eco 50 EUR", eco, 5000, 100_010},
		{"start fee only", eco, 100, 10}, // round(10 × 0.049) = 0; 11 Wh → 0.539 → 1
		{"tariff cap within hold", capped, 3000, Unlimited},
		{"tariff cap above hold", capped, 2999, 59_173}, // 100 + round(2899.477) = 2999; 59,174 Wh → 3000
		{"time fee ignored (no time billed yet)", withTime, 5000, 100_010},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EnergyCapWh(tc.t, tc.hold)
			if err != nil || got != tc.want {
				t.Fatalf("EnergyCapWh = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if _, err := EnergyCapWh(eco, 99); !errors.Is(err, ErrInvalid) {
		t.Errorf("hold below the start fee: %v, want ErrInvalid", err)
	}
	if _, err := EnergyCapWh(tariff.Tariff{ID: "bad"}, 5000); !errors.Is(err, tariff.ErrInvalid) {
		t.Errorf("invalid tariff: %v, want tariff.ErrInvalid", err)
	}
}

func genTariff() *rapid.Generator[tariff.Tariff] {
	return rapid.Custom(func(t *rapid.T) tariff.Tariff {
		tr := tariff.Tariff{
			ID: "gen", Currency: "EUR",
			Class:             rapid.SampledFrom([]tariff.Class{tariff.ClassEco, tariff.ClassPremium}).Draw(t, "class"),
			EnergyPerKWhMinor: rapid.Int64Range(1, tariff.MaxUnitPriceMinor).Draw(t, "perKWh"),
			StartFeeMinor:     rapid.Int64Range(0, 2000).Draw(t, "start"),
			VATRateBP:         rapid.Int64Range(0, 2500).Draw(t, "vat"),
		}
		if rapid.Bool().Draw(t, "hasCap") {
			tr.CapMinor = rapid.Int64Range(tr.StartFeeMinor, 1_000_000).Draw(t, "cap")
		}
		if rapid.Bool().Draw(t, "hasTimeFee") {
			tr.TimeFeePerMinuteMinor = rapid.Int64Range(1, 100).Draw(t, "perMinute")
			tr.FreeTime = time.Duration(rapid.Int64Range(0, 240).Draw(t, "freeMin")) * time.Minute
		}
		return tr
	})
}

// TestEnergyCapWhIsTheBoundary: price(cap) ≤ hold < price(cap + 1 Wh), or
// the cap is unlimited and the most energy a session may have costs no
// more than the hold.
func TestEnergyCapWhIsTheBoundary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := genTariff().Draw(t, "tariff")
		p0 := price(t, tr, 0)
		hold := rapid.Int64Range(p0, p0+rapid.SampledFrom([]int64{100, 10_000, 1_000_000, 1_000_000_000}).Draw(t, "span")).Draw(t, "hold")
		got, err := EnergyCapWh(tr, hold)
		if err != nil {
			t.Fatalf("EnergyCapWh(%+v, %d): %v", tr, hold, err)
		}
		if got == Unlimited {
			if p := price(t, tr, tariff.MaxEnergyWh); p > hold {
				t.Fatalf("unlimited, but %d Wh cost %d > hold %d", tariff.MaxEnergyWh, p, hold)
			}
			return
		}
		if got < 0 || got >= tariff.MaxEnergyWh {
			t.Fatalf("cap %d Wh out of range", got)
		}
		if p := price(t, tr, got); p > hold {
			t.Fatalf("price(cap %d Wh) = %d > hold %d", got, p, hold)
		}
		if p := price(t, tr, got+1); p <= hold {
			t.Fatalf("price(cap+1 = %d Wh) = %d ≤ hold %d: the cap is not the largest", got+1, p, hold)
		}
	})
}
