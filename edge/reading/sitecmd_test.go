package reading

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSiteLimitArgs(t *testing.T) {
	ma, w := [3]int64{20_000, 0, 16_500}, int64(0)
	for name, l := range map[string]SiteLimit{
		"current":  {MaxCurrentMA: &ma, TTL: time.Minute},
		"power ev": {MaxPowerW: &w, Scope: ScopeEV, TTL: 24 * time.Hour},
		"both":     {MaxCurrentMA: &ma, MaxPowerW: &w, Scope: ScopeConnection, TTL: time.Second},
		"withdraw": {},
	} {
		got, err := ParseSiteLimit(l.Args())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	for args, want := range map[string]string{
		"":                                      "ttl_s is required",
		"ttl_s=60":                              "give max_current_ma, max_power_w or both",
		"ttl_s=-1,max_power_w=1":                `ttl_s "-1"`,
		"ttl_s=1.5,max_power_w=1":               `ttl_s "1.5"`,
		"ttl_s=60,max_current_ma=1;2":           "want three integers",
		"ttl_s=60,max_current_ma=1;2;":          `phase 3 ""`,
		"ttl_s=60,max_current_ma=1;2;100000001": "above 100000000",
		"ttl_s=60,max_power_w=1000000001":       "max_power_w",
		"ttl_s=0,scope=ev":                      "ttl_s 0 withdraws",
		"ttl_s=60,max_power_w=1,from=x":         `unknown argument "from"`,
	} {
		m := map[string]string{}
		if args != "" {
			for _, kv := range strings.Split(args, ",") {
				k, v, _ := strings.Cut(kv, "=")
				m[k] = strings.ReplaceAll(v, ";", ",")
			}
		}
		if _, err := ParseSiteLimit(m); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", args, err, want)
		}
	}
}

func TestLimitInForceResult(t *testing.T) {
	w := int64(13_800)
	for _, l := range []LimitInForce{
		{Source: "ems", MaxCurrentMA: [3]int64{20_000, 20_000, 20_000}, MaxPowerW: &w, Expires: time.Date(2026, 12, 6, 15, 10, 0, 5, time.UTC), RequestID: "central/x"},
		{Source: "fuse", MaxCurrentMA: [3]int64{250_000, 250_000, 250_000}},
	} {
		got, err := ParseLimitInForce(l.Result())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	for _, r := range []map[string]string{{}, {"source": "ems"}, {"source": "ems", "max_current_ma": "1,2,3", "expires": "soon"}} {
		if _, err := ParseLimitInForce(r); err == nil {
			t.Errorf("%v parsed", r)
		}
	}
}

// FuzzParseSiteLimit: what parses stays within the bounds and encodes
// back to the same limit.
func FuzzParseSiteLimit(f *testing.F) {
	f.Add("20000,20000,20000", "", "ev", "60")
	f.Add("", "11000", "", "0")
	f.Add("1,2", "-1", "x", "86401")
	f.Fuzz(func(t *testing.T, ma, w, scope, ttl string) {
		args := map[string]string{ArgTTLS: ttl}
		for k, v := range map[string]string{ArgMaxCurrentMA: ma, ArgMaxPowerW: w, ArgScope: scope} {
			if v != "" {
				args[k] = v
			}
		}
		l, err := ParseSiteLimit(args)
		if err != nil {
			return
		}
		if l.TTL < 0 || l.TTL > MaxLimitTTL || (l.MaxPowerW != nil && (*l.MaxPowerW < 0 || *l.MaxPowerW > MaxLimitPowerW)) {
			t.Fatalf("out of bounds: %+v", l)
		}
		again, err := ParseSiteLimit(l.Args())
		if err != nil || !cmp.Equal(l, again) {
			t.Fatalf("round trip: %+v → %v → %+v, %v", l, l.Args(), again, err)
		}
	})
}

func TestParseSafetyReset(t *testing.T) {
	if r, err := ParseSafetyReset(SafetyReset{Who: "ops", Why: "all clear"}.Args()); err != nil || r.Who != "ops" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, args := range []map[string]string{
		{"who": "ops"}, {"why": "x"}, {"who": "ops", "why": "a\tb"}, {"who": strings.Repeat("x", 129), "why": "x"},
		{"who": "ops", "why": "x", "force": "1"}, {"who": "\xff", "why": "x"},
	} {
		if _, err := ParseSafetyReset(args); err == nil {
			t.Errorf("%q parsed", args)
		}
	}
}
