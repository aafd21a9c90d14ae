// Package tariff prices a charging session: the tariff an operator sets per
// site and class (eco or premium), the price preview a driver sees before
// the start (AFIR), and Price, which turns the energy and time of a finished
// session into receipt lines. It does no I/O and reads no clock.
//
// # Units
//
// Money is an integer count of the currency's minor unit (AmountMinor int64,
// cents for EUR) with an ISO 4217 currency code; energy is integer Wh;
// durations are time.Duration. No float is used anywhere. Prices in a
// Tariff are gross, VAT included, because that is what a driver in the EU
// is shown (PAngV §3, AFIR art. 5): the per-kWh price on the charge point,
// the receipt total and the amount captured are the same figure.
//
// # The rounding rule
//
// There is one rounding rule, RoundHalfUpDiv(num, den): the integer
// quotient num/den rounded to the nearest unit, halves away from zero
// (num, den ≥ 0, so "up"). It is applied exactly twice:
//
//  1. Once per line, to the line's exact gross amount:
//     energy line = RoundHalfUpDiv(Wh × gross minor units per kWh, 1000).
//     The time line (whole minutes × price per minute) and the start fee
//     are integers already and are not rounded.
//  2. Once per receipt, to extract the VAT contained in the gross total:
//     VAT = RoundHalfUpDiv(gross × rate_bp, 10000 + rate_bp), where rate_bp
//     is the VAT rate in basis points (1900 = 19 %); net = gross − VAT.
//
// Consequences: the lines sum to the gross total exactly (the total is
// defined as that sum); net + VAT = gross to the cent by construction; the
// VAT differs from the exact VAT by at most half a minor unit. VAT is
// computed on the total, never per line, so per-line roundings cannot add
// up to a different VAT figure than the one on the receipt (§14 UStG
// requires the tax amount per rate; a session has one rate).
//
// Time is billed per whole minute after the free time (a started minute is
// not charged). A cap limits the gross total: when the lines exceed it, a
// negative cap line brings the total down to the cap, so the lines still
// sum to the total and the driver sees what the cap saved.
//
// # Limits
//
// Price refuses inputs beyond MaxEnergyWh, MaxDuration and tariffs beyond
// MaxUnitPriceMinor and MaxVATRateBP. Within them every product above fits
// in int64 with room to spare (10⁹ Wh × 10⁶ minor units/kWh = 10¹⁵), so no
// intermediate can overflow.
package tariff
