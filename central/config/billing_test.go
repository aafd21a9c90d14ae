package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const billingBase = `store: {driver: sqlite, path: x.db}
`

const demoOperator = `
operators:
  - id: demo-op
    name: Parkhaus Demo GmbH
    address: Hauptstr. 1, 10115 Berlin
    vat_id: DE123456789
    currency: EUR
    hold: "50.00"
    invoice_prefix: PG-
    time_zone: Europe/Berlin
    tariffs:
      - {id: eco, class: eco, per_kwh: "0.39", start_fee: "1.00", per_minute: "0.10", free_minutes: 240, vat: "19"}
      - {id: premium, class: premium, per_kwh: "0.59", vat: "19"}
    sites:
      - id: sim-small
        name: Demo
        address: Parkweg 2, 10115 Berlin
        lat: "52.520008"
        lon: "-13.4"
        register: {street: Parkweg, house_number: "2", postal_code: "10115", city: Berlin, state: Berlin, district: Berlin, commissioned: 2026-11-01}
        points:
          - {id: p01, meter: p01.meter, evse_id: DE*PGR*E0001, max_power_w: 22000, tariffs: [eco, premium], plugs: [AC Steckdose Typ 2]}
api:
  tokens:
    - {id: ops, operator: demo-op, name: ops, hash: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
`

func TestBillingGood(t *testing.T) {
	c, err := Parse(filepath.Join(t.TempDir(), "c.yaml"), []byte(billingBase+demoOperator+"payment: {provider: fake}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.CodeEnergyCapWh != DefaultCodeEnergyCapWh || c.API.HoldValidity != DefaultHoldValidity || c.Payment.Provider != ProviderFake {
		t.Errorf("defaults: %+v %+v", c.API, c.Payment)
	}
	sd, err := c.Operators[0].Catalog()
	if err != nil {
		t.Fatal(err)
	}
	eco := sd.Tariffs[0].Tariff
	if sd.Operator.HoldMinor != 5000 || eco.EnergyPerKWhMinor != 39 || eco.StartFeeMinor != 100 || eco.TimeFeePerMinuteMinor != 10 ||
		eco.FreeTime != 240*time.Minute || eco.VATRateBP != 1900 || sd.Tariffs[1].Tariff.Class != "premium" {
		t.Errorf("seed %+v", sd)
	}
	if r := sd.Sites[0].Register; r == nil || r.PostalCode != "10115" || r.CommissionedOn != time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) || sd.Points[0].Plugs[0] != "AC Steckdose Typ 2" {
		t.Errorf("register %+v, plugs %v", sd.Sites[0].Register, sd.Points[0].Plugs)
	}
	if sd.Sites[0].LatE6 != 52_520_008 || sd.Sites[0].LonE6 != -13_400_000 || len(sd.Points) != 1 || sd.Points[0].Operator != "demo-op" {
		t.Errorf("sites %+v points %+v", sd.Sites, sd.Points)
	}
}

func TestBillingSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sk"), []byte("sk_test_123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PG_TEST_WHSEC", "whsec_abc")
	c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(billingBase+"payment: {provider: stripe, stripe: {secret_key_file: sk, webhook_secret: \"${PG_TEST_WHSEC}\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Payment.Stripe.SecretKey != "sk_test_123" || c.Payment.Stripe.WebhookSecret != "whsec_abc" {
		t.Errorf("stripe secrets not read")
	}
}

func TestBillingBad(t *testing.T) {
	op := func(edit func(string) string) string { return billingBase + edit(demoOperator) }
	for name, tc := range map[string]struct{ yaml, want string }{
		"provider":       {billingBase + "payment: {provider: bitcoin}\n", `payment.provider "bitcoin"`},
		"stripe no key":  {billingBase + "payment: {provider: stripe}\n", `payment.stripe.secret_key: required`},
		"paypal http":    {billingBase + "payment: {provider: paypal, paypal: {base_url: http://x, client_id: a, secret: b, webhook_id: c}}\n", `payment.paypal.base_url "http://x"`},
		"hold":           {op(func(s string) string { return strings.Replace(s, `hold: "50.00"`, `hold: "50.001"`, 1) }), `hold "50.001"`},
		"zero hold":      {op(func(s string) string { return strings.Replace(s, `hold: "50.00"`, `hold: "0"`, 1) }), `hold 0 not in`},
		"class":          {op(func(s string) string { return strings.Replace(s, "class: premium", "class: gold", 1) }), `class "gold" is not eco or premium`},
		"no per kwh":     {op(func(s string) string { return strings.Replace(s, `per_kwh: "0.59", `, "", 1) }), `price per kWh 0`},
		"vat":            {op(func(s string) string { return strings.Replace(s, `vat: "19"}`, `vat: "19%"}`, 1) }), `want a percentage`},
		"unknown tariff": {op(func(s string) string { return strings.Replace(s, "[eco, premium]", "[eco, gold]", 1) }), `"gold" is not a tariff of operator demo-op`},
		"lat":            {op(func(s string) string { return strings.Replace(s, `"52.520008"`, `"95"`, 1) }), `lat "95": beyond ±90 degrees`},
		"lon decimals":   {op(func(s string) string { return strings.Replace(s, `"-13.4"`, `"13.1234567"`, 1) }), `at most six decimals`},
		"no meter":       {op(func(s string) string { return strings.Replace(s, "meter: p01.meter, ", "", 1) }), `site, operator and meter required`},
		"token operator": {op(func(s string) string { return strings.Replace(s, "operator: demo-op", "operator: other", 1) }), `api.tokens[0].operator "other"`},
		"token hash":     {op(func(s string) string { return strings.Replace(s, "hash: 9f86", "hash: XX86", 1) }), `api.tokens[0].hash: want the token's SHA-256`},
		"time zone":      {op(func(s string) string { return strings.Replace(s, "Europe/Berlin", "Mars/Olympus", 1) }), `time zone`},
		"commissioned":   {op(func(s string) string { return strings.Replace(s, "2026-11-01", "1.11.2026", 1) }), `register.commissioned "1.11.2026": want YYYY-MM-DD`},
		"register city":  {op(func(s string) string { return strings.Replace(s, "city: Berlin, ", "", 1) }), `register: street, postal_code and city are required`},
		"no plugs":       {op(func(s string) string { return strings.Replace(s, ", plugs: [AC Steckdose Typ 2]", "", 1) }), `needs evse_id, max_power_w and plugs`},
		"code cap":       {billingBase + "api: {code_energy_cap_wh: -5}\n", `api.code_energy_cap_wh -5`},
		"hold validity":  {billingBase + "api: {hold_validity: 1s}\n", `api.hold_validity 1s`},
		"site twice": {op(func(s string) string {
			return strings.Replace(s, "\napi:", `
  - id: other-op
    name: Other
    address: Weg 3
    currency: EUR
    hold: "30"
    tariffs: [{id: eco, class: eco, per_kwh: "0.30", vat: "19"}]
    sites: [{id: sim-small, address: Weg 3, lat: "1", lon: "1", points: []}]
api:`, 1)
		}), `sites[0].id "sim-small": also a site of demo-op`},
	} {
		_, err := Parse(filepath.Join(t.TempDir(), "c.yaml"), []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
}

func FuzzMicroDegrees(f *testing.F) {
	for _, s := range []string{"52.520008", "-13.4", "180", "-90.000000", "1.1234567", "", "-", ".5", "1e5", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := MicroDegrees(s, 180)
		if err != nil {
			return
		}
		if v < -180_000_000 || v > 180_000_000 {
			t.Fatalf("%q → %d out of range", s, v)
		}
		back, err := MicroDegrees(formatMicro(v), 180)
		if err != nil || back != v {
			t.Fatalf("%q → %d → %d (%v)", s, v, back, err)
		}
	})
}

func formatMicro(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%06d", sign, v/1_000_000, v%1_000_000)
}
