package web

import (
	"errors"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// FuzzSplitPoint: a point id from a URL parses only into two catalog ids,
// and PointID of those gives it back.
func FuzzSplitPoint(f *testing.F) {
	for _, s := range []string{"sim-small~p01", "a~b", "~", "a~", "~b", "a~b~c", "../x~y", "s.1~p_2", "\x00~a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		site, point, err := splitPoint(id)
		if err != nil {
			if !errors.Is(err, dashboard.ErrNotFound) {
				t.Fatalf("%q: %v, want ErrNotFound", id, err)
			}
			return
		}
		if catalog.CheckID(site) != nil || catalog.CheckID(point) != nil || PointID(site, point) != id {
			t.Fatalf("%q parsed to %q, %q", id, site, point)
		}
	})
}

func TestEMSLimit(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	until := now.Add(time.Minute).Format(time.RFC3339)
	ev := func(attrs map[string]string) reading.Event {
		return reading.Event{Time: now, Kind: eventEMSLimitSet, Attrs: attrs}
	}
	for name, tc := range map[string]struct {
		evs    []reading.Event
		ok     bool
		wantMA int64
	}{
		"none":           {nil, false, 0},
		"per phase":      {[]reading.Event{ev(map[string]string{"expires": until, "max_current_ma": "32000,16000,20000"})}, true, 16000},
		"power":          {[]reading.Event{ev(map[string]string{"expires": until, "max_power_w": "22080"})}, true, 32000},
		"expired":        {[]reading.Event{ev(map[string]string{"expires": now.Add(-time.Second).Format(time.RFC3339), "max_power_w": "1"})}, false, 0},
		"bad expiry":     {[]reading.Event{ev(map[string]string{"expires": "soon", "max_power_w": "1"})}, false, 0},
		"garbage values": {[]reading.Event{ev(map[string]string{"expires": until, "max_current_ma": "x,,-5"})}, false, 0},
		"newest counts": {[]reading.Event{ev(map[string]string{"expires": until, "max_current_ma": "1000,1000,1000"}),
			ev(map[string]string{"expires": until, "max_current_ma": "6000,6000,6000"})}, true, 6000},
	} {
		l, ok := emsLimit(tc.evs, now)
		if ok != tc.ok || l.CurrentMA != tc.wantMA {
			t.Errorf("%s: %+v %v, want %d mA %v", name, l, ok, tc.wantMA, tc.ok)
		}
	}
}

func TestAlarmsOf(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	e := func(kind, node string) reading.Event {
		return reading.Event{Time: t0, Kind: kind, Attrs: map[string]string{"node": node}}
	}
	al := alarmsOf("s", []reading.Event{e("safety-trip", ""), e("safety-overtemp-stop", "ud1"), e("safety-spd-tripped", "ud2"),
		e("safety-spd-cleared", "ud2"), e("safety-trip", "")})
	if len(al) != 2 || al[0].ID != "s~fire~" || !al[0].Latched || al[1].Kind != "temperature" || al[1].Latched {
		t.Fatalf("alarms %+v", al)
	}
	if al := alarmsOf("s", []reading.Event{e("safety-trip", ""), e("safety-reset", "")}); len(al) != 0 {
		t.Errorf("after the reset: %+v", al)
	}
}
