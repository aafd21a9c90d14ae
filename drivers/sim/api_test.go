package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestControlAPI(t *testing.T) {
	s := newSim(t, quietSite)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	post := func(path, body string, want int) map[string]any {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("POST %s: decode: %v", path, err)
		}
		if resp.StatusCode != want {
			t.Errorf("POST %s %s: %d %v, want %d", path, body, resp.StatusCode, out, want)
		}
		return out
	}
	state := func() State {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /api/state: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var st State
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	post("/api/car", `{"point":"p2","action":"plug","phases":1,"maxA":32,"socPct":50,"batteryWh":40000}`, 200)
	post("/api/step", `{"seconds":60}`, 200)
	st := state()
	p := st.Points[1]
	if p.Name != "p2" || p.State != "C" || p.Car == nil || p.Car.Phases != 1 || p.Car.MaxA != 32 || p.CurrentA != [3]float64{32, 0, 0} {
		t.Errorf("after plugging: %+v", p)
	}
	if !st.Time.Equal(time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC)) || !st.Manual {
		t.Errorf("time %v manual %v", st.Time, st.Manual)
	}
	if len(st.Devices) != 2+2+3*2 || st.Devices[0].Name != "grid" || st.Devices[0].Kind != KindSDM630 {
		t.Errorf("devices %+v", st.Devices)
	}
	// p2 is L2L3L1: its one phase is grid L2.
	if got := st.Subs[0].CurrentA; got != [3]float64{0, 32, 0} {
		t.Errorf("sub-distribution currents %v", got)
	}

	post("/api/car", `{"point":"p2","action":"plug"}`, 409)
	post("/api/car", `{"point":"nope","action":"plug"}`, 404)
	post("/api/car", `{"point":"p1","action":"plug","phases":2}`, 400)
	post("/api/car", `{"point":"p1","action":"dance"}`, 400)
	post("/api/car", `{"point":"p1","action":"plug","colour":"red"}`, 400)
	post("/api/car", `{"point":"p2","action":"unplug"}`, 200)
	if st := state(); st.Points[1].State != "A" {
		t.Errorf("after unplug: state %s", st.Points[1].State)
	}

	for _, c := range []struct {
		body string
		code int
	}{
		{`{"device":"p1.meter","kind":"offline"}`, 200},
		{`{"device":"ud1.meter","kind":"slow","value":300}`, 200},
		{`{"device":"grid","kind":"frozen-counter"}`, 200},
		{`{"device":"","kind":"fire-loop-open"}`, 200},
		{`{"device":"ud1","kind":"spd-tripped"}`, 200},
		{`{"device":"ud1.temp","kind":"over-temperature","value":61}`, 200},
		{`{"device":"p3","kind":"ev-fault","value":7}`, 200},
		{`{"device":"ghost","kind":"offline"}`, 404},
		{`{"device":"di","kind":"frozen-counter"}`, 400},
		{`{"device":"grid","kind":"melt"}`, 400},
		{`{"device":"grid","kind":"slow","value":-1}`, 400},
	} {
		post("/api/fault", c.body, c.code)
	}
	st = state()
	dev := map[string]DeviceState{}
	for _, d := range st.Devices {
		dev[d.Name] = d
	}
	if !dev["p1.meter"].Offline || dev["ud1.meter"].SlowMs != 300 || !dev["grid"].Frozen || !st.Grid.Frozen {
		t.Errorf("device faults: %+v", st.Devices)
	}
	if st.DI.FireLoop || st.FireLoopOpenedAt == nil || !st.Subs[0].SPDTripped || st.DI.Inputs[2] {
		t.Errorf("DI %+v, opened at %v, SPD %v", st.DI, st.FireLoopOpenedAt, st.Subs[0].SPDTripped)
	}
	if c := st.Subs[0].TemperatureC; c == nil || *c != 61 {
		t.Errorf("temperature %v", c)
	}
	if st.Points[2].State != "F" || st.Points[2].ErrorCode != 7 {
		t.Errorf("p3: %s %d", st.Points[2].State, st.Points[2].ErrorCode)
	}

	post("/api/fault", `{"device":"*","kind":"clear"}`, 200)
	st = state()
	for _, d := range st.Devices {
		if d.Offline || d.SlowMs != 0 || d.Frozen {
			t.Errorf("after clear: %+v", d)
		}
	}
	if !st.DI.FireLoop || st.Subs[0].SPDTripped || *st.Subs[0].TemperatureC == 61 || st.Points[2].State != "A" {
		t.Errorf("after clear: DI %+v SPD %v temp %v p3 %s", st.DI, st.Subs[0].SPDTripped, *st.Subs[0].TemperatureC, st.Points[2].State)
	}

	resp, err := http.Get(srv.URL + "/api/fault")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/fault: %d", resp.StatusCode)
	}
}

func TestRunServesTheAPIAndStops(t *testing.T) {
	cfg, err := ParseConfig([]byte(strings.Replace(quietSite, `api: "off"`, `api: 127.0.0.1:0`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Speed = 3600 // an hour per second
	cfg.Tick = 10 * time.Millisecond
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PlugCar("p1", Car{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.APIAddr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("API never listened")
		}
		time.Sleep(time.Millisecond)
	}
	// Real time runs at speed 3600: energy appears without Step.
	for {
		resp, err := http.Get("http://" + s.APIAddr() + "/api/state")
		if err != nil {
			t.Fatal(err)
		}
		var st State
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Points[0].EnergyWh > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no energy after 10 s at speed 3600: %+v", st.Points[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
