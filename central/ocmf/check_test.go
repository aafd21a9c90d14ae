package ocmf

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func codes(devs []Deviation) []string {
	var out []string
	for _, d := range devs {
		out = append(out, d.Code)
	}
	return out
}

func TestCheck(t *testing.T) {
	const sig = `|{"SD":"00"}`
	for _, tc := range []struct {
		name, payload string
		want          []string
	}{
		{"clean transaction",
			`{"IL":"VERIFIED","RD":[{"TM":"2024-03-01T08:00:00,000+0100 S","TX":"B","RV":100.000,"RI":"1-b:1.8.0","RU":"kWh","EF":"","ST":"G"},` +
				`{"TM":"2024-03-01T09:30:00,000+0100 S","TX":"E","RV":129.500,"RI":"1-b:1.8.0","RU":"kWh","EF":"","ST":"G"}]}`,
			nil},
		{"begin only, unsynchronised, faulty",
			`{"IL":"MISMATCH","RD":[{"TM":"2024-03-01T08:00:00,000+0100 U","TX":"B","RV":1,"RI":"1-b:1.8.0","RU":"kWh","EF":"E","ST":"F"}]}`,
			[]string{DevIdentification, DevMeterState, DevErrorFlags, DevTimeNotSynced, DevEndCount}},
		{"end below begin",
			`{"RD":[{"TM":"2024-03-01T08:00:00,000+0100 S","TX":"B","RV":"100","RI":"x","RU":"kWh","ST":"G"},` +
				`{"TM":"2024-03-01T07:00:00,000+0100 S","TX":"E","RV":"99.9","RI":"x","RU":"kWh","ST":"G"}]}`,
			[]string{DevBeginAfterEnd, DevBeginAfterEnd}},
		{"undecodable", `{"RD":[}`, []string{DevPayloadUndecodable, DevBeginCount, DevEndCount}},
	} {
		rec, err := Parse("OCMF|" + tc.payload + sig)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, codes(Check(rec))); diff != "" {
			t.Errorf("%s: deviations (-want +got):\n%s\n%v", tc.name, diff, Check(rec))
		}
	}
}

func TestCheckKnownRecords(t *testing.T) {
	recs := loadKAT(t)
	// The KEBA record carries begin and end; its clock is informative (I)
	// and relative (R), which Check reports.
	rec, err := Parse(recs[0].OCMF)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{DevTimeNotSynced, DevTimeNotSynced}, codes(Check(rec))); diff != "" {
		t.Errorf("kat[0] deviations (-want +got):\n%s", diff)
	}
}
