package ocpp

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func amps(a ...float64) []Period {
	var out []Period
	for i := 0; i+1 < len(a); i += 2 {
		out = append(out, Period{Start: time.Duration(a[i]) * time.Second, Milli: int64(a[i+1] * 1000)})
	}
	return out
}

func TestLimit(t *testing.T) {
	tx := Tx{Active: true, ID: 42, Start: t0.Add(-10 * time.Minute)}
	abs := func(id, level int, purpose string, periods []Period) Profile {
		return Profile{ID: id, StackLevel: level, Purpose: purpose, Kind: KindAbsolute, Start: t0.Add(-time.Hour), Periods: periods}
	}
	for _, tc := range []struct {
		name      string
		ps        []Profile
		at        time.Time
		tx        Tx
		wantMA    int64
		wantOK    bool
		wantUntil time.Time
	}{
		{name: "none", at: t0, tx: tx},
		{name: "tx default", ps: []Profile{abs(1, 0, PurposeTxDefault, amps(0, 16))}, at: t0, tx: tx, wantMA: 16000, wantOK: true},
		{name: "tx profile over tx default even when higher",
			ps: []Profile{abs(1, 5, PurposeTxDefault, amps(0, 8)), abs(2, 0, PurposeTx, amps(0, 20))}, at: t0, tx: tx, wantMA: 20000, wantOK: true},
		{name: "max profile caps the tx profile",
			ps: []Profile{abs(1, 0, PurposeMax, amps(0, 12)), abs(2, 0, PurposeTx, amps(0, 20))}, at: t0, tx: tx, wantMA: 12000, wantOK: true},
		{name: "higher stack level wins within a purpose",
			ps: []Profile{abs(1, 0, PurposeTxDefault, amps(0, 32)), abs(2, 3, PurposeTxDefault, amps(0, 10))}, at: t0, tx: tx, wantMA: 10000, wantOK: true},
		{name: "a higher level without a period in force falls back",
			ps: []Profile{abs(1, 0, PurposeTxDefault, amps(0, 32)), {ID: 2, StackLevel: 3, Purpose: PurposeTxDefault, Kind: KindAbsolute, Start: t0.Add(time.Hour), Periods: amps(0, 10)}},
			at: t0, tx: tx, wantMA: 32000, wantOK: true, wantUntil: t0.Add(time.Hour)},
		{name: "tx profile of another transaction does not apply",
			ps: []Profile{{ID: 2, TxID: 7, Purpose: PurposeTx, Kind: KindAbsolute, Start: t0.Add(-time.Hour), Periods: amps(0, 6)}}, at: t0, tx: tx},
		{name: "period steps; until is the next step",
			ps: []Profile{abs(1, 0, PurposeTxDefault, amps(0, 32, 3900, 10))}, at: t0, tx: tx, wantMA: 32000, wantOK: true, wantUntil: t0.Add(5 * time.Minute)},
		{name: "after the duration: no limit",
			ps: []Profile{{ID: 1, Purpose: PurposeMax, Kind: KindAbsolute, Start: t0.Add(-time.Hour), Duration: 30 * time.Minute, Periods: amps(0, 6)}}, at: t0, tx: tx},
		{name: "validTo ends it", ps: []Profile{{ID: 1, Purpose: PurposeMax, Kind: KindAbsolute, Start: t0.Add(-time.Hour), ValidTo: t0, Periods: amps(0, 6)}}, at: t0, tx: tx},
		{name: "validFrom in the future", ps: []Profile{{ID: 1, Purpose: PurposeMax, Kind: KindAbsolute, ValidFrom: t0.Add(time.Minute), Start: t0.Add(-time.Hour), Periods: amps(0, 6)}},
			at: t0, tx: tx, wantUntil: t0.Add(time.Minute)},
		{name: "relative counts from the transaction's start",
			ps: []Profile{{ID: 1, Purpose: PurposeTx, Kind: KindRelative, Periods: amps(0, 16, 900, 8)}}, at: t0, tx: tx, wantMA: 16000, wantOK: true, wantUntil: t0.Add(5 * time.Minute)},
		{name: "relative without a transaction", ps: []Profile{{ID: 1, Purpose: PurposeTxDefault, Kind: KindRelative, Periods: amps(0, 16)}}, at: t0},
		{name: "daily recurring: the evening period",
			ps: []Profile{{ID: 1, Purpose: PurposeMax, Kind: KindRecurring, Recurrency: Daily, Start: t0.Add(-72 * time.Hour).Add(-2 * time.Hour), Periods: amps(0, 6, 4*3600, 32)}},
			at: t0, tx: tx, wantMA: 6000, wantOK: true, wantUntil: t0.Add(2 * time.Hour)},
		{name: "power on three phases", ps: []Profile{{ID: 1, Purpose: PurposeMax, Kind: KindAbsolute, Start: t0, UnitW: true, Periods: []Period{{Milli: 11040_000}}}},
			at: t0, tx: tx, wantMA: 16000, wantOK: true},
		{name: "power on one phase", ps: []Profile{{ID: 1, Purpose: PurposeMax, Kind: KindAbsolute, Start: t0, UnitW: true, Periods: []Period{{Milli: 3680_000, Phases: 1}}}},
			at: t0, tx: tx, wantMA: 16000, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mA, until, ok := Limit(tc.ps, tc.at, tc.tx, 3)
			if mA != tc.wantMA || ok != tc.wantOK || !until.Equal(tc.wantUntil) {
				t.Errorf("Limit = %d mA, until %s, ok %v; want %d, %s, %v", mA, until, ok, tc.wantMA, tc.wantUntil, tc.wantOK)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tx := Tx{Active: true, ID: 9}
	good := Profile{ID: 1, Purpose: PurposeTxDefault, Kind: KindAbsolute, Periods: amps(0, 16)}
	for _, tc := range []struct {
		name      string
		p         Profile
		connector int
		tx        Tx
		ok        bool
	}{
		{"good", good, 1, tx, true},
		{"max on connector 1", Profile{Purpose: PurposeMax, Kind: KindAbsolute, Periods: amps(0, 16)}, 1, tx, false},
		{"max on connector 0", Profile{Purpose: PurposeMax, Kind: KindAbsolute, Periods: amps(0, 16)}, 0, tx, true},
		{"tx profile without a transaction", Profile{Purpose: PurposeTx, Kind: KindRelative, Periods: amps(0, 16)}, 1, Tx{}, false},
		{"tx profile of another transaction", Profile{TxID: 8, Purpose: PurposeTx, Kind: KindRelative, Periods: amps(0, 16)}, 1, tx, false},
		{"stack level too high", Profile{StackLevel: MaxStackLevel + 1, Purpose: PurposeTxDefault, Kind: KindAbsolute, Periods: amps(0, 16)}, 1, tx, false},
		{"first period not at 0", Profile{Purpose: PurposeTxDefault, Kind: KindAbsolute, Periods: amps(60, 16)}, 1, tx, false},
		{"periods out of order", Profile{Purpose: PurposeTxDefault, Kind: KindAbsolute, Periods: amps(0, 16, 600, 8, 300, 10)}, 1, tx, false},
		{"recurring without start", Profile{Purpose: PurposeTxDefault, Kind: KindRecurring, Recurrency: Daily, Periods: amps(0, 16)}, 1, tx, false},
		{"unknown purpose", Profile{Purpose: "Other", Kind: KindAbsolute, Periods: amps(0, 16)}, 1, tx, false},
		{"negative limit", Profile{Purpose: PurposeTxDefault, Kind: KindAbsolute, Periods: []Period{{Milli: -1}}}, 1, tx, false},
	} {
		err := tc.p.Check(tc.connector, tc.tx)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrProfile)) {
			t.Errorf("%s: Check = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestInstallAndClear(t *testing.T) {
	ps, _ := Install(nil, Profile{ID: 1, StackLevel: 0, Purpose: PurposeTxDefault})
	ps, _ = Install(ps, Profile{ID: 2, StackLevel: 1, Purpose: PurposeTxDefault})
	ps, _ = Install(ps, Profile{ID: 3, StackLevel: 0, Purpose: PurposeTxDefault}) // replaces 1 (same level and purpose)
	ps, _ = Install(ps, Profile{ID: 2, StackLevel: 2, Purpose: PurposeMax})       // replaces 2 (same id)
	if got := ids(ps); !cmp.Equal(got, []int{3, 2}) {
		t.Fatalf("installed %v, want [3 2]", got)
	}
	one := 2
	left, n := Clear(ps, ClearFilter{ID: &one})
	if n != 1 || !cmp.Equal(ids(left), []int{3}) {
		t.Errorf("clear id 2: %v (%d)", ids(left), n)
	}
	left, n = Clear(ps, ClearFilter{Purpose: PurposeTxDefault})
	if n != 1 || !cmp.Equal(ids(left), []int{2}) {
		t.Errorf("clear TxDefault: %v (%d)", ids(left), n)
	}
	left, n = Clear(ps, ClearFilter{})
	if n != 2 || len(left) != 0 {
		t.Errorf("clear all: %v (%d)", ids(left), n)
	}
	var full []Profile
	for i := range MaxProfiles {
		full, _ = Install(full, Profile{ID: i, StackLevel: i % (MaxStackLevel + 1), Purpose: []string{PurposeTxDefault, PurposeMax}[i/(MaxStackLevel+1)]})
	}
	if _, err := Install(full, Profile{ID: 99, StackLevel: 9, Purpose: PurposeTx}); !errors.Is(err, ErrProfile) {
		t.Errorf("installing past MaxProfiles: %v", err)
	}
}

func ids(ps []Profile) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestComposite(t *testing.T) {
	ps := []Profile{
		{ID: 1, Purpose: PurposeMax, Kind: KindAbsolute, Start: t0, Periods: amps(0, 20, 600, 12)},
		{ID: 2, Purpose: PurposeTxDefault, Kind: KindAbsolute, Start: t0, Duration: 20 * time.Minute, Periods: amps(0, 16)},
	}
	got := Composite(ps, t0, time.Hour, Tx{Active: true}, 3, false, 32000)
	want := []Period{{Start: 0, Milli: 16000}, {Start: 10 * time.Minute, Milli: 12000}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Composite (-want +got):\n%s", diff)
	}
	gotW := Composite(ps, t0, time.Hour, Tx{Active: true}, 3, true, 32000)
	if gotW[0].Milli != 16000*NominalVoltageV*3 {
		t.Errorf("composite in W: %v", gotW)
	}
	// Without profiles the point's own maximum.
	if got := Composite(nil, t0, time.Hour, Tx{}, 3, false, 32000); !cmp.Equal(got, []Period{{Milli: 32000}}) {
		t.Errorf("no profiles: %v", got)
	}
}

// genProfile draws a valid profile around t0.
func genProfile(id int) *rapid.Generator[Profile] {
	return rapid.Custom(func(t *rapid.T) Profile {
		n := rapid.IntRange(1, 4).Draw(t, "periods")
		var ps []Period
		start := time.Duration(0)
		for i := range n {
			if i > 0 {
				start += time.Duration(rapid.IntRange(1, 3600).Draw(t, "step")) * time.Second
			}
			ps = append(ps, Period{Start: start, Milli: int64(rapid.IntRange(0, 63).Draw(t, "a")) * 1000})
		}
		p := Profile{ID: id, StackLevel: rapid.IntRange(0, 3).Draw(t, "level"),
			Purpose: rapid.SampledFrom([]string{PurposeMax, PurposeTxDefault, PurposeTx}).Draw(t, "purpose"),
			Kind:    rapid.SampledFrom([]string{KindAbsolute, KindRelative, KindRecurring}).Draw(t, "kind"),
			Start:   t0.Add(time.Duration(rapid.IntRange(-7200, 7200).Draw(t, "start")) * time.Second),
			Periods: ps}
		if p.Kind == KindRecurring {
			p.Recurrency = Daily
		}
		if rapid.Bool().Draw(t, "hasDuration") {
			p.Duration = time.Duration(rapid.IntRange(1, 7200).Draw(t, "dur")) * time.Second
		}
		return p
	})
}

// The composite limit is never above the ChargePointMaxProfile in force;
// a top-level max profile caps whatever else is installed; the limit holds
// unchanged until the time Limit names.
func TestLimitProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 5).Draw(t, "n")
		var ps []Profile
		for i := range n {
			ps = append(ps, genProfile(i).Draw(t, "profile"))
		}
		at := t0.Add(time.Duration(rapid.IntRange(-3600, 3*3600).Draw(t, "at")) * time.Second)
		tx := Tx{Active: rapid.Bool().Draw(t, "tx"), Start: t0.Add(-time.Minute)}
		mA, until, ok := Limit(ps, at, tx, 3)
		if ok && mA < 0 {
			t.Fatalf("negative limit %d", mA)
		}
		// The ChargePointMaxProfile in force (highest stack level) caps it.
		top, capMA := -1, int64(0)
		for _, p := range ps {
			if idx, _ := p.window(at, tx); p.Purpose == PurposeMax && idx >= 0 {
				switch v := p.Periods[idx].Milli; {
				case p.StackLevel > top:
					top, capMA = p.StackLevel, v
				case p.StackLevel == top:
					capMA = min(capMA, v)
				}
			}
		}
		if top >= 0 && (!ok || mA > capMA) {
			t.Fatalf("limit %d mA (ok %v) above the max profile's %d mA", mA, ok, capMA)
		}
		cap := Profile{ID: 99, StackLevel: MaxStackLevel, Purpose: PurposeMax, Kind: KindAbsolute, Start: at.Add(-time.Second), Periods: amps(0, float64(rapid.IntRange(0, 63).Draw(t, "cap")))}
		mA2, _, ok2 := Limit(append(ps, cap), at, tx, 3)
		if !ok2 || mA2 > cap.Periods[0].Milli {
			t.Fatalf("with a top-level max profile of %d mA the limit is %d mA (ok %v; before %d, ok %v)", cap.Periods[0].Milli, mA2, ok2, mA, ok)
		}
		if !until.IsZero() {
			mid := at.Add(until.Sub(at) / 2)
			if m, _, o := Limit(ps, mid, tx, 3); m != mA || o != ok {
				t.Fatalf("limit changed before %s: %d/%v at %s, %d/%v at %s", until, mA, ok, at, m, o, mid)
			}
		}
	})
}

func TestPowerConversionRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mA := int64(rapid.IntRange(0, 63000).Draw(t, "mA"))
		ph := rapid.SampledFrom([]int{1, 3}).Draw(t, "phases")
		if got := MilliToMA(MAToMilli(mA, true, ph), true, ph); got != mA {
			t.Fatalf("%d mA → %d mW → %d mA", mA, MAToMilli(mA, true, ph), got)
		}
		if MilliToMA(mA, false, ph) != mA {
			t.Fatal("current must pass unchanged")
		}
	})
}
