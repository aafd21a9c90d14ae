package config

import (
	"strings"
	"testing"
)

func accessSite(access string) []byte {
	return []byte(`
site: s
gateway: g
buses: [{id: lan, tcp: "127.0.0.1:1502", devices: [{id: di-1, driver: diinput, unit: 2}, {id: cc-1, driver: phoenix, unit: 3},
  {id: em-1, driver: eichrecht, unit: 4}, {id: sm-1, driver: sdm630, unit: 5}, {id: cc-2, driver: phoenix, unit: 6}]}]
grid: {limit_a: 32, distributions: [{id: ud-1, limit_a: 32, circuits: [{id: c-1, limit_a: 32}]}]}
charge_points:
  - {id: cp-1, circuit: c-1, controller: cc-1, meter: em-1, max_a: 16` + access + `}
  - {id: cp-2, circuit: c-1, controller: cc-2, meter: sm-1, max_a: 16}
safety: {fire_loop: {device: di-1, input: 0}}
`)
}

func TestChargePointAccess(t *testing.T) {
	for name, tc := range map[string]struct {
		access, want, err string
	}{
		"default": {access: "", want: ""},
		"free":    {access: ", access: free", want: AccessFree},
		"central": {access: ", access: central", want: AccessCentral},
		"unknown": {access: ", access: paid", err: `charge_points[0].access: charge point "cp-1": access "paid": want free or central`},
	} {
		s, err := LoadBytes("site.yaml", accessSite(tc.access))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error containing %q", name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case s.ChargePoints[0].Access != tc.want || s.ChargePoints[1].Access != "":
			t.Errorf("%s: access %q, %q; want %q, \"\"", name, s.ChargePoints[0].Access, s.ChargePoints[1].Access, tc.want)
		}
	}
	b := strings.Replace(string(accessSite("")), "sm-1, max_a: 16}", "sm-1, max_a: 16, access: central}", 1)
	_, err := LoadBytes("site.yaml", []byte(b))
	if want := `charge_points[1].access: charge point "cp-2": access central needs an eichrecht meter`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("central on an sdm630: got %v, want %q", err, want)
	}
}

func TestCentralAccessNotUnderOCPP(t *testing.T) {
	b := string(accessSite(", access: central")) + `ocpp:
  url: wss://csms.example.net/ocpp
  charge_points: [{id: cp-1, password: secret}]
`
	_, err := LoadBytes("site.yaml", []byte(b))
	if want := `charge_points[0].access: charge point "cp-1": access central and an OCPP central system exclude each other`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}
