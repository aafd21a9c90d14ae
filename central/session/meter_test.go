package session_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
)

var t0 = sessiontest.T0

func meter(t testing.TB, serial string) *sessiontest.Meter {
	t.Helper()
	m, err := sessiontest.NewMeter(serial)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMeasure(t *testing.T) {
	m, other := meter(t, "SIM-1"), meter(t, "SIM-2")
	begin := m.Record(7, "B", 12_345, t0)
	mid := m.Record(8, "C", 20_000, t0.Add(10*time.Minute))
	end := m.Record(9, "E", 31_002, t0.Add(30*time.Minute))
	v := sessiontest.Verified
	for _, tc := range []struct {
		name      string
		snaps     []session.Snapshot
		wantWh    int64
		wantFlags []session.Flag
	}{
		{"begin and end", v(begin, end), 18_657, nil},
		{"with an intermediate, any order", v(end, mid, begin), 18_657, nil},
		{"a redelivered record counts once", v(begin, end, begin), 18_657, nil},
		{"no end", v(begin, mid), 0, []session.Flag{session.FlagEndMissing}},
		{"no begin", v(mid, end), 0, []session.Flag{session.FlagBeginMissing}},
		{"nothing", nil, 0, []session.Flag{session.FlagBeginMissing, session.FlagEndMissing}},
		{"end not verified", append(v(begin), session.Snapshot{OCMF: end}), 0, []session.Flag{session.FlagEndMissing, session.FlagNotVerified}},
		{"intermediate not verified", append(v(begin, end), session.Snapshot{OCMF: mid}), 18_657, []session.Flag{session.FlagNotVerified}},
		{"garbage", append(v(begin, end), session.Snapshot{OCMF: "OCMF|{", Verified: true}), 18_657, []session.Flag{session.FlagNotVerified}},
		{"counter backwards", v(begin, m.Record(8, "C", 10_000, t0.Add(time.Minute)), end), 18_657, []session.Flag{session.FlagCounterBackwards}},
		{"end below begin", v(begin, m.Record(9, "E", 12_000, t0.Add(time.Minute))), 0, []session.Flag{session.FlagCounterBackwards}},
		{"end page before begin page", v(m.Record(9, "B", 12_345, t0), m.Record(8, "E", 31_002, t0.Add(time.Hour))), 18_657, []session.Flag{session.FlagCounterBackwards, session.FlagPagination}},
		{"later page signed earlier", v(begin, m.Record(8, "C", 20_000, t0.Add(-time.Minute)), end), 18_657, []session.Flag{session.FlagPagination}},
		{"one page, two contents", v(begin, mid, m.Record(8, "C", 21_000, t0.Add(11*time.Minute)), end), 18_657, []session.Flag{session.FlagPagination}},
		{"two begins", v(begin, m.Record(8, "B", 20_000, t0.Add(time.Minute)), end), 0, []session.Flag{session.FlagPagination}},
		{"fiscal pagination", v(begin, strings.Replace(m.Record(9, "E", 31_002, t0.Add(time.Hour)), `"PG":"T9"`, `"PG":"F9"`, 1)), 0, []session.Flag{session.FlagEndMissing, session.FlagPagination}},
		{"other meter's end", v(begin, other.Record(9, "E", 31_002, t0.Add(time.Hour))), 18_657, []session.Flag{session.FlagMeterMismatch}},
		{"Wh register, exact", v(m.RecordValue(1, "B", "1000", "Wh", t0), m.RecordValue(2, "E", "1500", "Wh", t0.Add(time.Hour))), 500, nil},
		{"mWh fraction, half up", v(m.RecordValue(1, "B", "1.0000", "kWh", t0), m.RecordValue(2, "E", "1.0105", "kWh", t0.Add(time.Hour))), 11, nil},
		{"not an energy unit", v(begin, m.RecordValue(9, "E", "31.002", "sec", t0.Add(time.Hour))), 0, []session.Flag{session.FlagEndMissing, session.FlagUnreadable}},
		{"finer than 1 mWh", v(begin, m.RecordValue(9, "E", "31.0020001", "kWh", t0.Add(time.Hour))), 0, []session.Flag{session.FlagEndMissing, session.FlagUnreadable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := session.Measure(tc.snaps)
			if diff := cmp.Diff(tc.wantFlags, got.Flags); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
			if got.EnergyWh != tc.wantWh {
				t.Errorf("energy %d Wh, want %d", got.EnergyWh, tc.wantWh)
			}
		})
	}
}

func TestMeasureKeepsTheSignedRecords(t *testing.T) {
	m := meter(t, "SIM-1")
	begin, end := m.Record(1, "B", 0, t0), m.Record(2, "E", 7_500, t0.Add(45*time.Minute))
	got := session.Measure(sessiontest.Verified(end, begin))
	want := session.Measurement{BeginMilliWh: 0, EndMilliWh: 7_500_000, EnergyWh: 7_500, Start: t0, End: t0.Add(45 * time.Minute), OCMF: []string{begin, end}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzMeasure: snapshots are outside bytes (meter → edge → central). Any
// input is measured without panicking; an unflagged result has a begin
// and an end, a non-negative energy that is the rounded register
// difference, and the begin record among the inputs.
func FuzzMeasure(f *testing.F) {
	m := meter(f, "SIM-1")
	f.Add(m.Record(1, "B", 100, t0), m.Record(2, "E", 2_100, t0.Add(time.Hour)))
	f.Add(m.RecordValue(3, "B", "1.0000", "kWh", t0), m.RecordValue(4, "E", `"  2.5"`, "kWh", t0))
	f.Add(`OCMF|{"PG":"T1","RD":[{"TX":"B","RV":1,"RU":"kWh"},{"TX":"E","RV":2,"RU":"kWh"}]}|{}`, "")
	f.Add("OCMF|{", "|||")
	f.Fuzz(func(t *testing.T, a, b string) {
		got := session.Measure(sessiontest.Verified(a, b))
		if len(got.Flags) > 0 {
			return
		}
		if got.EnergyWh < 0 || got.EnergyWh != session.Energy(got.EndMilliWh-got.BeginMilliWh) {
			t.Fatalf("energy %d Wh from %d → %d mWh", got.EnergyWh, got.BeginMilliWh, got.EndMilliWh)
		}
		if len(got.OCMF) == 0 || (got.OCMF[0] != a && got.OCMF[0] != b) {
			t.Fatalf("begin record not among the inputs: %q", got.OCMF)
		}
	})
}
