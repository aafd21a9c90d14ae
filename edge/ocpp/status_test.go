package ocpp

import (
	"testing"

	"pgregory.net/rapid"
)

func TestConnectorStatus(t *testing.T) {
	ok := PointView{State: "A", HasMeter: true, SetpointMA: 16000}
	with := func(f func(*Observed)) Observed {
		o := Observed{PointView: ok}
		f(&o)
		return o
	}
	for _, tc := range []struct {
		name       string
		o          Observed
		status     string
		errorCode  string
		infoPrefix string
	}{
		{"A: free", with(func(*Observed) {}), StatusAvailable, ErrNone, ""},
		{"B without a transaction: waiting for authorisation", with(func(o *Observed) { o.State = "B" }), StatusPreparing, ErrNone, ""},
		{"C without a transaction", with(func(o *Observed) { o.State = "C" }), StatusPreparing, ErrNone, ""},
		{"C charging", with(func(o *Observed) { o.State, o.InTx = "C", true }), StatusCharging, ErrNone, ""},
		{"D charging (ventilation)", with(func(o *Observed) { o.State, o.InTx = "D", true }), StatusCharging, ErrNone, ""},
		{"load management gives 0 A", with(func(o *Observed) { o.State, o.InTx, o.SetpointMA = "C", true, 0 }), StatusSuspendedEVSE, ErrNone, ""},
		{"car full: B while offered current", with(func(o *Observed) { o.State, o.InTx = "B", true }), StatusSuspendedEV, ErrNone, ""},
		{"B at 0 A: the EVSE suspends", with(func(o *Observed) { o.State, o.InTx, o.SetpointMA = "B", true, 0 }), StatusSuspendedEVSE, ErrNone, ""},
		{"ended, car still plugged", with(func(o *Observed) { o.State, o.Finishing = "B", true }), StatusFinishing, ErrNone, ""},
		{"E", with(func(o *Observed) { o.State = "E" }), StatusFaulted, ErrEVComm, "IEC 61851 state E"},
		{"F", with(func(o *Observed) { o.State = "F" }), StatusFaulted, ErrOther, "IEC 61851 state F"},
		{"controller offline", with(func(o *Observed) { o.ControllerStale = true }), StatusFaulted, ErrInternal, "charge controller offline"},
		{"never read", with(func(o *Observed) { o.State = "?" }), StatusFaulted, ErrInternal, "charge controller offline"},
		{"meter offline, still available", with(func(o *Observed) { o.MeterStale = true }), StatusAvailable, ErrPowerMeter, "Eichrecht meter"},
		{"safety holds a car", with(func(o *Observed) { o.State, o.Blocked = "B", "fire alarm" }), StatusFaulted, ErrOther, "held by safety: fire alarm"},
		{"safety holds a transaction", with(func(o *Observed) { o.State, o.Blocked, o.InTx = "C", "fire alarm", true }), StatusSuspendedEVSE, ErrOther, "held by safety"},
		{"inoperative", with(func(o *Observed) { o.Unavailable = true }), StatusUnavailable, ErrNone, ""},
		{"inoperative after the transaction", with(func(o *Observed) { o.State, o.Unavailable, o.InTx = "C", true, true }), StatusCharging, ErrNone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, code, info := ConnectorStatus(tc.o)
			if st != tc.status || code != tc.errorCode || len(info) < len(tc.infoPrefix) || info[:len(tc.infoPrefix)] != tc.infoPrefix {
				t.Errorf("got %s/%s %q, want %s/%s %q…", st, code, info, tc.status, tc.errorCode, tc.infoPrefix)
			}
		})
	}
}

// Every input maps to a valid OCPP 1.6 status and error code, the info
// fits CiString50, Faulted always carries an error code, and a point
// without a transaction never reports Charging.
func TestConnectorStatusProperties(t *testing.T) {
	statuses := map[string]bool{StatusAvailable: true, StatusPreparing: true, StatusCharging: true, StatusSuspendedEVSE: true,
		StatusSuspendedEV: true, StatusFinishing: true, StatusUnavailable: true, StatusFaulted: true}
	rapid.Check(t, func(t *rapid.T) {
		o := Observed{PointView: PointView{
			State:           rapid.SampledFrom([]string{"A", "B", "C", "D", "E", "F", "?", ""}).Draw(t, "state"),
			ControllerStale: rapid.Bool().Draw(t, "ctlStale"),
			MeterStale:      rapid.Bool().Draw(t, "meterStale"),
			HasMeter:        rapid.Bool().Draw(t, "hasMeter"),
			Blocked:         rapid.SampledFrom([]string{"", "fire alarm", "a very long reason that goes on and on past fifty characters"}).Draw(t, "blocked"),
			SetpointMA:      int64(rapid.IntRange(0, 63000).Draw(t, "sp")),
		}, InTx: rapid.Bool().Draw(t, "tx"), Unavailable: rapid.Bool().Draw(t, "unavail"), Finishing: rapid.Bool().Draw(t, "fin")}
		st, code, info := ConnectorStatus(o)
		if !statuses[st] || code == "" || len(info) > 50 {
			t.Fatalf("%+v → %q %q %q", o, st, code, info)
		}
		if st == StatusFaulted && code == ErrNone {
			t.Fatalf("Faulted without an error code: %+v", o)
		}
		if !o.InTx && (st == StatusCharging || st == StatusSuspendedEV) {
			t.Fatalf("%s without a transaction: %+v", st, o)
		}
	})
}
