package tariff

import (
	"errors"
	"fmt"
	"time"
)

// Class is the charging class a tariff belongs to; a driver picks one at
// the start and the edge's load management serves premium first.
type Class string

// Classes.
const (
	ClassEco     Class = "eco"
	ClassPremium Class = "premium"
)

// Limits that keep every computation of Price inside int64 (see doc.go).
const (
	MaxUnitPriceMinor = 1_000_000             // per kWh, per minute, start fee, cap: 10,000.00 EUR
	MaxEnergyWh       = 1_000_000_000         // 1 GWh per session
	MaxDuration       = 366 * 24 * time.Hour  // one session
	MaxVATRateBP      = 10_000                // 100 %
	maxCapMinor       = 1_000_000 * 1_000_000 // cap may exceed a unit price
)

// ErrInvalid is wrapped by every error of Validate and Price.
var ErrInvalid = errors.New("invalid tariff input")

// Tariff is what an operator charges for one class at one site. Every price
// is gross, VAT included, in minor units of Currency. Zero means "none" for
// every optional component.
type Tariff struct {
	ID       string
	Class    Class
	Currency string // ISO 4217, e.g. "EUR"

	EnergyPerKWhMinor     int64         // the main component (AFIR); > 0 (0 only when CoveredBy is set)
	StartFeeMinor         int64         // per session; optional
	TimeFeePerMinuteMinor int64         // per whole minute after FreeTime; optional
	FreeTime              time.Duration // minutes before the time fee starts; whole minutes
	CapMinor              int64         // the session total never exceeds it; 0: no cap
	VATRateBP             int64         // VAT rate in basis points: 1900 = 19 %

	// CoveredBy names what already pays for the energy (a flatrate access
	// code: "flatrate code fleet-2026"). Set, every price must be 0 and the
	// session costs nothing; unset, a price per kWh of 0 is refused as the
	// configuration mistake it usually is.
	CoveredBy string `json:",omitempty"`
}

// Validate checks t on its own: known currency and class, prices in range,
// whole free minutes.
func (t Tariff) Validate() error {
	if _, err := Exponent(t.Currency); err != nil {
		return fmt.Errorf("tariff %q: %w: %w", t.ID, ErrInvalid, err)
	}
	if t.Class != ClassEco && t.Class != ClassPremium {
		return fmt.Errorf("tariff %q: %w: class %q is not eco or premium", t.ID, ErrInvalid, t.Class)
	}
	if t.CoveredBy != "" {
		if t.EnergyPerKWhMinor != 0 || t.StartFeeMinor != 0 || t.TimeFeePerMinuteMinor != 0 || t.CapMinor != 0 {
			return fmt.Errorf("tariff %q: %w: covered by %q but priced", t.ID, ErrInvalid, t.CoveredBy)
		}
	} else if t.EnergyPerKWhMinor <= 0 || t.EnergyPerKWhMinor > MaxUnitPriceMinor {
		return fmt.Errorf("tariff %q: %w: price per kWh %d not in 1..%d", t.ID, ErrInvalid, t.EnergyPerKWhMinor, MaxUnitPriceMinor)
	}
	for _, p := range []struct {
		name string
		v    int64
		max  int64
	}{
		{"start fee", t.StartFeeMinor, MaxUnitPriceMinor},
		{"time fee per minute", t.TimeFeePerMinuteMinor, MaxUnitPriceMinor},
		{"cap", t.CapMinor, maxCapMinor},
		{"VAT rate (basis points)", t.VATRateBP, MaxVATRateBP},
	} {
		if p.v < 0 || p.v > p.max {
			return fmt.Errorf("tariff %q: %w: %s %d not in 0..%d", t.ID, ErrInvalid, p.name, p.v, p.max)
		}
	}
	if t.FreeTime < 0 || t.FreeTime > MaxDuration || t.FreeTime%time.Minute != 0 {
		return fmt.Errorf("tariff %q: %w: free time %v is not whole minutes in 0..%v", t.ID, ErrInvalid, t.FreeTime, MaxDuration)
	}
	if t.CapMinor > 0 && t.CapMinor < t.StartFeeMinor {
		return fmt.Errorf("tariff %q: %w: cap %d below the start fee %d", t.ID, ErrInvalid, t.CapMinor, t.StartFeeMinor)
	}
	return nil
}

// Covered returns t at no cost, covered by what (see Tariff.CoveredBy):
// the class, currency and VAT rate stay, every price becomes 0.
func Covered(t Tariff, by string) Tariff {
	return Tariff{ID: t.ID, Class: t.Class, Currency: t.Currency, VATRateBP: t.VATRateBP, CoveredBy: by}
}
