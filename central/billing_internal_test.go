package central

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

var tb0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// samples is the meter's energy register, one sample a minute from tb0.
type samples []int64

func (s samples) Readings(_ context.Context, f store.ReadingFilter) ([]store.StoredReading, error) {
	var out []store.StoredReading
	for i, v := range s {
		at := tb0.Add(time.Duration(i) * time.Minute)
		if at.Before(f.From) || f.Site != "site-a" || f.Device != "m1" || f.Quantity != reading.QEnergyWh {
			continue
		}
		out = append(out, store.StoredReading{Site: f.Site, Reading: reading.Reading{Time: at, Device: f.Device, Quantity: f.Quantity, Value: v}})
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

type transitions []session.Transition

func (t transitions) Transitions(context.Context, string) ([]session.Transition, error) {
	return t, nil
}

func TestLiveEnergy(t *testing.T) {
	s := session.Session{ID: "s1", Site: "site-a", Meter: "m1"}
	charging := transitions{{To: session.StateCreated, At: tb0}, {To: session.StateAuthorized, At: tb0}, {To: session.StateCharging, At: tb0.Add(2 * time.Minute)}}
	for name, tc := range map[string]struct {
		trs     transitions
		samples samples
		now     time.Time
		want    int64
		known   bool
	}{
		"since charging":   {charging, samples{100, 110, 120, 500, 900, 1300}, tb0.Add(5 * time.Minute), 1180, true},
		"not charging yet": {charging[:2], samples{100, 200}, tb0.Add(time.Minute), 0, false},
		"no samples yet":   {charging, samples{100, 110}, tb0.Add(3 * time.Minute), 0, false},
		"register reset":   {charging, samples{0, 0, 900, 10}, tb0.Add(3 * time.Minute), 0, true},
	} {
		l := liveEnergy{st: tc.samples, sessions: tc.trs, now: func() time.Time { return tc.now }}
		wh, since, known, err := l.EnergySoFar(t.Context(), s)
		if err != nil || known != tc.known || wh != tc.want || (known && !since.Equal(tb0.Add(2*time.Minute))) {
			t.Errorf("%s: %d Wh since %v, known %v, %v; want %d, %v", name, wh, since, known, err, tc.want, tc.known)
		}
	}
}

type codes map[string]accesscode.Code

func (c codes) Code(_ context.Context, operator, id string) (accesscode.Code, error) {
	code, ok := c[operator+"/"+id]
	if !ok {
		return accesscode.Code{}, accesscode.ErrNotFound
	}
	return code, nil
}

func TestCodeLabels(t *testing.T) {
	l := codeLabels{codes{"op/kst-1": {ID: "kst-1", CostCentre: "KST-4711"}}}
	got, err := l.Labels(t.Context(), session.Session{Operator: "op", Payee: accesscode.Payee("kst-1")})
	if err != nil || got != (report.Labels{AccessCode: "kst-1", CostCentre: "KST-4711"}) {
		t.Errorf("code session labels %+v, %v", got, err)
	}
	if got, err := l.Labels(t.Context(), session.Session{Operator: "op", Payee: payment.Payee{Account: "acct_1"}}); err != nil || got != (report.Labels{}) {
		t.Errorf("card session labels %+v, %v", got, err)
	}
	if _, err := l.Labels(t.Context(), session.Session{Operator: "other", Payee: accesscode.Payee("kst-1")}); !errors.Is(err, accesscode.ErrNotFound) {
		t.Errorf("another operator's code: %v", err)
	}
}
