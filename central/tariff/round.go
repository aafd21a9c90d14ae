package tariff

// RoundHalfUpDiv is parkgrid's one rounding rule: num/den rounded to the
// nearest integer, an exact half rounded up. It requires num ≥ 0, den > 0
// and num + den/2 within int64; Price guarantees all three through its
// limits. It panics otherwise, as that is a programming error.
func RoundHalfUpDiv(num, den int64) int64 {
	if num < 0 || den <= 0 {
		panic("tariff: RoundHalfUpDiv needs num >= 0 and den > 0")
	}
	return num/den + boolInt(num%den >= den-den/2)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// EnergyAmountMinor is the gross price of wh Wh at perKWhMinor minor units
// per kWh: RoundHalfUpDiv(wh × perKWhMinor, 1000).
func EnergyAmountMinor(wh, perKWhMinor int64) int64 {
	return RoundHalfUpDiv(wh*perKWhMinor, 1000)
}

// VATInGrossMinor is the VAT contained in a gross amount at rateBP basis
// points: RoundHalfUpDiv(gross × rateBP, 10000 + rateBP). The net amount is
// gross minus this, so net + VAT = gross exactly.
func VATInGrossMinor(grossMinor, rateBP int64) int64 {
	return RoundHalfUpDiv(grossMinor*rateBP, 10000+rateBP)
}
