package tariff

import "time"

// Component is one price component of a preview.
type Component struct {
	Kind        LineKind      `json:"kind"`        // energy, time, start or cap
	AmountMinor int64         `json:"amountMinor"` // gross, per Unit
	Unit        string        `json:"unit"`        // "kWh", "min" or "session"
	After       time.Duration `json:"afterNs"`     // time fee: free time before it applies
}

// Preview is the price a driver sees before the session starts, as data a
// UI renders in its own locale. Components are in the order AFIR (EU
// 2023/1804 art. 5) lists them: per kWh, per minute, per session, then the
// cap. Every amount includes VAT at VATRateBP.
type Preview struct {
	TariffID   string      `json:"tariffId"`
	Class      Class       `json:"class"`
	Currency   string      `json:"currency"`
	VATRateBP  int64       `json:"vatRateBp"`
	Components []Component `json:"components"`
}

// NewPreview returns the preview of t. It lists only the components t has;
// the per-kWh price always.
func NewPreview(t Tariff) (Preview, error) {
	if err := t.Validate(); err != nil {
		return Preview{}, err
	}
	p := Preview{TariffID: t.ID, Class: t.Class, Currency: t.Currency, VATRateBP: t.VATRateBP}
	p.Components = append(p.Components, Component{Kind: LineEnergy, AmountMinor: t.EnergyPerKWhMinor, Unit: "kWh"})
	if t.TimeFeePerMinuteMinor > 0 {
		p.Components = append(p.Components, Component{Kind: LineTime, AmountMinor: t.TimeFeePerMinuteMinor, Unit: "min", After: t.FreeTime})
	}
	if t.StartFeeMinor > 0 {
		p.Components = append(p.Components, Component{Kind: LineStart, AmountMinor: t.StartFeeMinor, Unit: "session"})
	}
	if t.CapMinor > 0 {
		p.Components = append(p.Components, Component{Kind: LineCap, AmountMinor: t.CapMinor, Unit: "session"})
	}
	return p, nil
}
