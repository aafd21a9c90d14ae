package emsapi_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/emsapi"
)

func i64(v int64) *int64 { return &v }

func phases(l1, l2, l3 int64) *[3]int64 { return &[3]int64{l1, l2, l3} }

func TestParseLimitGood(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want emsapi.LimitRequest
	}{
		{"both", `{"requestId":"r-1","maxPowerW":22000,"maxCurrentA":[32,32,16],"ttlS":300}`,
			emsapi.LimitRequest{RequestID: "r-1", MaxPowerW: i64(22000), MaxCurrentMA: phases(32000, 32000, 16000), TTL: 300 * time.Second}},
		{"power only", `{"requestId":"r-2","maxPowerW":0,"ttlS":1}`,
			emsapi.LimitRequest{RequestID: "r-2", MaxPowerW: i64(0), TTL: time.Second}},
		{"current only, fractional A rounded to mA", `{"requestId":"r-3","maxCurrentA":[6.5,0.0004,16.0006],"ttlS":3600}`,
			emsapi.LimitRequest{RequestID: "r-3", MaxCurrentMA: phases(6500, 0, 16001), TTL: time.Hour}},
		{"unknown fields tolerated", `{"requestId":"r-4","maxPowerW":1,"ttlS":5,"priority":"high","v":2}`,
			emsapi.LimitRequest{RequestID: "r-4", MaxPowerW: i64(1), TTL: 5 * time.Second}},
		{"null power with current", `{"requestId":"r-5","maxPowerW":null,"maxCurrentA":[1,2,3],"ttlS":5}`,
			emsapi.LimitRequest{RequestID: "r-5", MaxCurrentMA: phases(1000, 2000, 3000), TTL: 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := emsapi.ParseLimit([]byte(tt.in), time.Hour)
			if err != nil {
				t.Fatalf("ParseLimit(%s): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseLimit(%s) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseLimitBad(t *testing.T) {
	tests := []struct {
		in     string
		want   string // substring of the error
		wantID string // requestId salvaged for the error reply
	}{
		{``, "bad JSON", ""},
		{`{`, "bad JSON", ""},
		{`not json`, "bad JSON", ""},
		{`{"requestId":"r","maxPowerW":1,"ttlS":5} trailing`, "bad JSON", ""},
		{`[]`, "want a JSON object", ""},
		{`"limit"`, "want a JSON object", ""},
		{`null`, "requestId is required", ""},
		{`{}`, "requestId is required", ""},
		{`{"maxPowerW":1,"ttlS":5}`, "requestId is required", ""},
		{`{"requestId":"","maxPowerW":1,"ttlS":5}`, "requestId is empty", ""},
		{`{"requestId":7,"maxPowerW":1,"ttlS":5}`, "field requestId: want a string, got number", ""},
		{`{"requestId":"a\u0000b","maxPowerW":1,"ttlS":5}`, "control character", ""},
		{`{"requestId":"` + strings.Repeat("x", 129) + `","maxPowerW":1,"ttlS":5}`, "at most 128", ""},
		{`{"requestId":"r","maxPowerW":1}`, "ttlS is required", "r"},
		{`{"requestId":"r","maxPowerW":1,"ttlS":0}`, "ttlS 0 not in 1..3600", "r"},
		{`{"requestId":"r","maxPowerW":1,"ttlS":-5}`, "ttlS -5 not in 1..3600", "r"},
		{`{"requestId":"r","maxPowerW":1,"ttlS":3601}`, "ttlS 3601 not in 1..3600", "r"},
		{`{"requestId":"r","maxPowerW":1,"ttlS":1.5}`, "field ttlS: want an integer", "r"},
		{`{"requestId":"r","maxPowerW":1,"ttlS":5e0}`, "field ttlS: want an integer", "r"},
		{`{"requestId":"r","maxPowerW":1,"ttlS":"60"}`, "field ttlS: want an integer, got string", "r"},
		{`{"requestId":"r","ttlS":5}`, "give maxPowerW, maxCurrentA or both", "r"},
		{`{"requestId":"r","maxPowerW":-1,"ttlS":5}`, "maxPowerW -1 not in 0..", "r"},
		{`{"requestId":"r","maxPowerW":1e12,"ttlS":5}`, "field maxPowerW: want an integer", "r"},
		{`{"requestId":"r","maxPowerW":99999999999999999999,"ttlS":5}`, "field maxPowerW: want an integer", "r"},
		{`{"requestId":"r","maxPowerW":"11000","ttlS":5}`, "field maxPowerW: want an integer, got string", "r"},
		{`{"requestId":"r","maxPowerW":2000000000,"ttlS":5}`, "maxPowerW 2000000000 not in 0..1000000000", "r"},
		{`{"requestId":"r","maxCurrentA":[16,16],"ttlS":5}`, "maxCurrentA has 2 values, want 3", "r"},
		{`{"requestId":"r","maxCurrentA":[16,16,16,16],"ttlS":5}`, "maxCurrentA has 4 values, want 3", "r"},
		{`{"requestId":"r","maxCurrentA":[],"ttlS":5}`, "maxCurrentA has 0 values, want 3", "r"},
		{`{"requestId":"r","maxCurrentA":[16,-1,16],"ttlS":5}`, "maxCurrentA[1] -1 not in 0..", "r"},
		{`{"requestId":"r","maxCurrentA":[16,16,1e9],"ttlS":5}`, "maxCurrentA[2] 1e+09 not in 0..", "r"},
		{`{"requestId":"r","maxCurrentA":[16,"16",16],"ttlS":5}`, "field maxCurrentA", "r"},
		{`{"requestId":"r","maxCurrentA":16,"ttlS":5}`, "field maxCurrentA: want an array, got number", "r"},
		{`{"requestId":"r","maxCurrentA":{"l1":16},"ttlS":5}`, "field maxCurrentA: want an array, got object", "r"},
		{`{"requestId":"r","maxPowerW":1,"ttlS":5,"pad":"` + strings.Repeat("x", emsapi.MaxRequestBytes) + `"}`, "at most 65536", ""},
	}
	for _, tt := range tests {
		got, err := emsapi.ParseLimit([]byte(tt.in), time.Hour)
		if err == nil {
			t.Errorf("ParseLimit(%.80s) = %+v, want an error containing %q", tt.in, got, tt.want)
			continue
		}
		if !errors.Is(err, emsapi.ErrInvalid) {
			t.Errorf("ParseLimit(%.80s): error %v does not wrap ErrInvalid", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseLimit(%.80s): error %q, want it to contain %q", tt.in, err, tt.want)
		}
		if want := (emsapi.LimitRequest{RequestID: tt.wantID}); !cmp.Equal(want, got) {
			t.Errorf("ParseLimit(%.80s) on error returned %+v, want only the requestId %q", tt.in, got, tt.wantID)
		}
	}
}

func TestParseLimitDefaultMaxTTL(t *testing.T) {
	if _, err := emsapi.ParseLimit([]byte(`{"requestId":"r","maxPowerW":1,"ttlS":3600}`), 0); err != nil {
		t.Errorf("maxTTL 0 must mean one hour: %v", err)
	}
	if _, err := emsapi.ParseLimit([]byte(`{"requestId":"r","maxPowerW":1,"ttlS":3601}`), 0); err == nil {
		t.Error("maxTTL 0 accepted a TTL above one hour")
	}
}

// wireOf encodes a valid request as a client would send it.
func wireOf(r emsapi.LimitRequest) []byte {
	m := map[string]any{"requestId": r.RequestID, "ttlS": int64(r.TTL / time.Second)}
	if r.MaxPowerW != nil {
		m["maxPowerW"] = *r.MaxPowerW
	}
	if r.MaxCurrentMA != nil {
		a := make([]float64, 3)
		for i, ma := range r.MaxCurrentMA {
			a[i] = float64(ma) / 1000
		}
		m["maxCurrentA"] = a
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{
		`{"requestId":"r-1","maxPowerW":22000,"maxCurrentA":[32,32,16],"ttlS":300}`,
		`{"requestId":"r-2","maxPowerW":0,"ttlS":1}`,
		`{"requestId":"r-3","maxCurrentA":[6.5,0.0004,16.0005],"ttlS":3600}`,
		`{"requestId":"r","maxCurrentA":[16,16],"ttlS":5}`,
		`{"requestId":"r","maxPowerW":-1,"ttlS":5}`,
		`{"requestId":"r","maxPowerW":1,"ttlS":"60","x":[1,{"y":null}]}`,
		`{"requestId":"\u00e9\ud83d\ude00","maxCurrentA":[1e-3,1e2,1E+1],"ttlS":7}`,
		`[]`, `null`, ``, `{"requestId":null}`,
	} {
		f.Add([]byte(s))
	}
	const maxTTL = 2 * time.Hour
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := emsapi.ParseLimit(b, maxTTL)
		if err != nil {
			if !errors.Is(err, emsapi.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if req.MaxPowerW != nil || req.MaxCurrentMA != nil || req.TTL != 0 {
				t.Fatalf("error %v, but the request carries values: %+v", err, req)
			}
			if req.RequestID != "" && (len(req.RequestID) > 128 || !utf8.ValidString(req.RequestID)) {
				t.Fatalf("salvaged requestId %q is not a valid one", req.RequestID)
			}
			return
		}
		if req.RequestID == "" || len(req.RequestID) > 128 || !utf8.ValidString(req.RequestID) || strings.ContainsFunc(req.RequestID, unicode.IsControl) {
			t.Fatalf("accepted requestId %q", req.RequestID)
		}
		if req.TTL < time.Second || req.TTL > maxTTL || req.TTL%time.Second != 0 {
			t.Fatalf("accepted TTL %s", req.TTL)
		}
		if req.MaxPowerW == nil && req.MaxCurrentMA == nil {
			t.Fatal("accepted a request without a limit")
		}
		if req.MaxPowerW != nil && (*req.MaxPowerW < 0 || *req.MaxPowerW > 1_000_000_000) {
			t.Fatalf("accepted maxPowerW %d", *req.MaxPowerW)
		}
		if req.MaxCurrentMA != nil {
			for i, ma := range req.MaxCurrentMA {
				if ma < 0 || ma > 100_000_000 {
					t.Fatalf("accepted maxCurrentMA[%d] %d", i, ma)
				}
			}
		}
		// What was accepted reads back the same when sent again.
		again, err := emsapi.ParseLimit(wireOf(req), maxTTL)
		if err != nil {
			t.Fatalf("re-encoded %s rejected: %v", wireOf(req), err)
		}
		if diff := cmp.Diff(req, again); diff != "" {
			t.Fatalf("re-encoded request differs (-first +again):\n%s", diff)
		}
	})
}

func TestParseAlarmReset(t *testing.T) {
	got, err := emsapi.ParseAlarmReset([]byte(`{"who":"j.meier","why":"all-clear from the fire brigade","extra":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (emsapi.AlarmReset{Who: "j.meier", Why: "all-clear from the fire brigade"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for in, want := range map[string]string{
		`{"who":"j"}`:              "who and why are required",
		`{"why":"x"}`:              "who and why are required",
		`{"who":"","why":"x"}`:     "who is empty",
		`{"who":"j","why":""}`:     "why is empty",
		`{"who":1,"why":"x"}`:      "field who: want a string",
		`{"who":"j","why":"a\nb"}`: "control character",
		`{"who":"j","why":"x"`:     "bad JSON",
		`{"who":"` + strings.Repeat("w", 65) + `","why":"x"}`: "at most 64",
	} {
		_, err := emsapi.ParseAlarmReset([]byte(in))
		if err == nil || !errors.Is(err, emsapi.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAlarmReset(%s): error %v, want ErrInvalid containing %q", in, err, want)
		}
	}
}

func FuzzParseAlarmReset(f *testing.F) {
	f.Add([]byte(`{"who":"j.meier","why":"checked"}`))
	f.Add([]byte(`{"who":"","why":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := emsapi.ParseAlarmReset(b)
		if err != nil {
			if !errors.Is(err, emsapi.ErrInvalid) || r != (emsapi.AlarmReset{}) {
				t.Fatalf("error %v with result %+v", err, r)
			}
			return
		}
		if r.Who == "" || r.Why == "" || len(r.Who) > 64 || len(r.Why) > 512 {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// TestParseLimitScopeAndWithdraw: scope names what a limit caps; withdraw
// ends the limit in force and takes nothing else.
func TestParseLimitScopeAndWithdraw(t *testing.T) {
	for _, c := range []struct {
		body string
		want emsapi.LimitRequest
		err  string
	}{
		{body: `{"requestId":"a","maxPowerW":1000,"ttlS":5,"scope":"ev"}`, want: emsapi.LimitRequest{RequestID: "a", MaxPowerW: ptr(int64(1000)), Scope: emsapi.ScopeEV, TTL: 5 * time.Second}},
		{body: `{"requestId":"b","maxPowerW":1000,"ttlS":5,"scope":"connection"}`, want: emsapi.LimitRequest{RequestID: "b", MaxPowerW: ptr(int64(1000)), Scope: emsapi.ScopeConnection, TTL: 5 * time.Second}},
		{body: `{"requestId":"c","withdraw":true}`, want: emsapi.LimitRequest{RequestID: "c", Withdraw: true}},
		{body: `{"requestId":"d","maxPowerW":1000,"ttlS":5,"scope":"site"}`, err: `scope "site"`},
		{body: `{"requestId":"e","withdraw":true,"ttlS":5}`, err: "withdraw takes no"},
		{body: `{"requestId":"f","withdraw":true,"maxCurrentA":[1,1,1]}`, err: "withdraw takes no"},
	} {
		got, err := emsapi.ParseLimit([]byte(c.body), time.Hour)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, emsapi.ErrInvalid) {
				t.Errorf("%s: err %v, want one containing %q", c.body, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.body, diff)
		}
	}
}

func ptr[T any](v T) *T { return &v }
