package tariff

import (
	"fmt"
	"time"
)

// LineKind names what a receipt line charges for. The values are stored
// and cross the API: append only.
type LineKind string

// Line kinds, in the order Price emits them.
const (
	LineEnergy LineKind = "energy" // Quantity Wh at UnitPriceMinor per kWh
	LineTime   LineKind = "time"   // Quantity minutes at UnitPriceMinor per minute
	LineStart  LineKind = "start"  // one session at UnitPriceMinor
	LineCap    LineKind = "cap"    // negative: brings the total down to the cap
)

// Line is one receipt line. AmountMinor is gross; only a LineCap is
// negative.
type Line struct {
	Kind           LineKind `json:"kind"`
	Quantity       int64    `json:"quantity"`       // Wh, minutes, 1 session; 0 for the cap
	UnitPriceMinor int64    `json:"unitPriceMinor"` // per kWh, per minute, per session; the cap for LineCap
	AmountMinor    int64    `json:"amountMinor"`
}

// Breakdown is the priced session: the lines, the gross total they sum to,
// and the VAT and net amount contained in it.
type Breakdown struct {
	TariffID      string        `json:"tariffId"`
	Currency      string        `json:"currency"`
	EnergyWh      int64         `json:"energyWh"`
	Duration      time.Duration `json:"durationNs"`
	BilledMinutes int64         `json:"billedMinutes"`
	Lines         []Line        `json:"lines"`
	GrossMinor    int64         `json:"grossMinor"` // = sum of Lines
	VATRateBP     int64         `json:"vatRateBp"`
	VATMinor      int64         `json:"vatMinor"` // VATInGrossMinor(GrossMinor, VATRateBP)
	NetMinor      int64         `json:"netMinor"` // GrossMinor − VATMinor
}

// BilledMinutes is the number of whole minutes of d after the free time: a
// started minute is not billed.
func BilledMinutes(d, free time.Duration) int64 {
	if d <= free {
		return 0
	}
	return int64((d - free) / time.Minute)
}

// Price prices a session of energyWh Wh that lasted d under t. It fails
// only on an invalid tariff or inputs outside 0..MaxEnergyWh and
// 0..MaxDuration; see doc.go for the rounding rule.
func Price(t Tariff, energyWh int64, d time.Duration) (Breakdown, error) {
	if err := t.Validate(); err != nil {
		return Breakdown{}, err
	}
	if energyWh < 0 || energyWh > MaxEnergyWh {
		return Breakdown{}, fmt.Errorf("price with tariff %q: %w: energy %d Wh not in 0..%d", t.ID, ErrInvalid, energyWh, MaxEnergyWh)
	}
	if d < 0 || d > MaxDuration {
		return Breakdown{}, fmt.Errorf("price with tariff %q: %w: duration %v not in 0..%v", t.ID, ErrInvalid, d, MaxDuration)
	}
	b := Breakdown{
		TariffID:  t.ID,
		Currency:  t.Currency,
		EnergyWh:  energyWh,
		Duration:  d,
		VATRateBP: t.VATRateBP,
		Lines:     make([]Line, 0, 4),
	}
	b.Lines = append(b.Lines, Line{
		Kind: LineEnergy, Quantity: energyWh, UnitPriceMinor: t.EnergyPerKWhMinor,
		AmountMinor: EnergyAmountMinor(energyWh, t.EnergyPerKWhMinor),
	})
	if t.TimeFeePerMinuteMinor > 0 {
		b.BilledMinutes = BilledMinutes(d, t.FreeTime)
		b.Lines = append(b.Lines, Line{
			Kind: LineTime, Quantity: b.BilledMinutes, UnitPriceMinor: t.TimeFeePerMinuteMinor,
			AmountMinor: b.BilledMinutes * t.TimeFeePerMinuteMinor,
		})
	}
	if t.StartFeeMinor > 0 {
		b.Lines = append(b.Lines, Line{Kind: LineStart, Quantity: 1, UnitPriceMinor: t.StartFeeMinor, AmountMinor: t.StartFeeMinor})
	}
	var sum int64
	for _, l := range b.Lines {
		sum += l.AmountMinor
	}
	if t.CapMinor > 0 && sum > t.CapMinor {
		b.Lines = append(b.Lines, Line{Kind: LineCap, UnitPriceMinor: t.CapMinor, AmountMinor: t.CapMinor - sum})
		sum = t.CapMinor
	}
	b.GrossMinor = sum
	b.VATMinor = VATInGrossMinor(sum, t.VATRateBP)
	b.NetMinor = sum - b.VATMinor
	return b, nil
}
