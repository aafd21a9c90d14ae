package session

import (
	"fmt"

	"github.com/parkgrid/parkgrid/central/tariff"
)

// EnergyCapWh returns the largest energy, in whole Wh, whose price under t
// (tariff.Price with no billed time) is at most holdMinor, or Unlimited
// when even tariff.MaxEnergyWh costs no more than the hold (the tariff's
// cap is within it). It fails when the tariff is invalid or the hold does
// not pay for the start fee with no energy at all.
//
// Price is non-decreasing in energy, so a binary search over 0..MaxEnergyWh
// finds the boundary: price(cap) ≤ hold < price(cap+1).
func EnergyCapWh(t tariff.Tariff, holdMinor int64) (int64, error) {
	price := func(wh int64) (int64, error) {
		b, err := tariff.Price(t, wh, 0)
		return b.GrossMinor, err
	}
	p0, err := price(0)
	if err != nil {
		return 0, fmt.Errorf("energy cap: %w", err)
	}
	if p0 > holdMinor {
		return 0, fmt.Errorf("energy cap of tariff %q: %w: hold %d below the price of no energy %d", t.ID, ErrInvalid, holdMinor, p0)
	}
	if pMax, _ := price(tariff.MaxEnergyWh); pMax <= holdMinor {
		return Unlimited, nil
	}
	lo, hi := int64(0), int64(tariff.MaxEnergyWh) // price(lo) ≤ hold < price(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		p, _ := price(mid) // valid tariff, mid in range: no error
		if p <= holdMinor {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}
