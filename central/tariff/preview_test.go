package tariff

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPreviewAFIROrder(t *testing.T) {
	tr := eur(49)
	tr.StartFeeMinor = 100
	tr.TimeFeePerMinuteMinor = 10
	tr.FreeTime = 240 * time.Minute
	tr.CapMinor = 5000
	p, err := NewPreview(tr)
	if err != nil {
		t.Fatal(err)
	}
	want := Preview{TariffID: "t1", Class: ClassEco, Currency: "EUR", VATRateBP: 1900, Components: []Component{
		{Kind: LineEnergy, AmountMinor: 49, Unit: "kWh"},
		{Kind: LineTime, AmountMinor: 10, Unit: "min", After: 240 * time.Minute},
		{Kind: LineStart, AmountMinor: 100, Unit: "session"},
		{Kind: LineCap, AmountMinor: 5000, Unit: "session"},
	}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	p, err = NewPreview(eur(39))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Components) != 1 || p.Components[0].Kind != LineEnergy {
		t.Errorf("energy-only tariff previews %+v", p.Components)
	}
	if _, err := NewPreview(Tariff{}); err == nil {
		t.Error("NewPreview of the zero tariff succeeded")
	}
}
