package config

// This file holds the billing sections of central's config: the operators
// with their sites, charge points and tariffs (seeded into the catalog at
// start), the payment provider, and the REST API's settings.
//
//	payment:
//	  provider: fake              # fake | stripe | paypal | "" (access codes only)
//	  webhook_secret_file: ""     # fake: signs its webhooks (relative to this file)
//	  stripe: {secret_key_file: stripe.key, webhook_secret_file: stripe-whsec, on_behalf_of: false}
//	  paypal: {base_url: https://api-m.sandbox.paypal.com, client_id: …, secret_file: paypal.secret, webhook_id: …}
//	api:
//	  code_energy_cap_wh: 30000   # energy cap of sessions started with an access code (no hold)
//	  hold_validity: 24h          # how long the edge keeps a point authorised
//	  tokens:                     # operator API tokens: `parkgrid token --operator ID` prints a line
//	    - {id: ops-1, operator: demo-op, name: ops, hash: <sha256 hex of the token>}
//	operators:
//	  - id: demo-op
//	    name: Parkhaus Demo GmbH
//	    address: Hauptstr. 1, 10115 Berlin
//	    vat_id: DE123456789
//	    currency: EUR
//	    hold: "50.00"             # the payment hold per session, its cost cap
//	    invoice_prefix: PG-
//	    time_zone: Europe/Berlin
//	    payee_account: ""         # Stripe connected account / PayPal merchant id
//	    fee: {fixed: "0.00", bp: 0}
//	    tariffs:
//	      - {id: eco, class: eco, per_kwh: "0.39", start_fee: "0.00", per_minute: "0.10", free_minutes: 240, cap: "", vat: "19"}
//	    sites:
//	      - id: sim-small          # the edge's site id
//	        name: Demo
//	        address: Parkweg 2, 10115 Berlin
//	        lat: "52.520008"
//	        lon: "13.404954"
//	        register: {street: Parkweg, house_number: "2", postal_code: "10115", city: Berlin, state: Berlin, district: Berlin, commissioned: 2026-11-01}
//	        points:            # plugs as the BNetzA register names them
//	          - {id: p01, meter: p01.meter, evse_id: DE*PGR*E0001, max_power_w: 22000, tariffs: [eco, premium], plugs: [AC Steckdose Typ 2]}

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Payment providers.
const (
	ProviderFake   = "fake"
	ProviderStripe = "stripe"
	ProviderPayPal = "paypal"
)

// Payment selects the payment provider. Secrets come from files (relative
// to the config file, not readable by group or others) or ${VAR}s; Load
// reads them and they are never logged.
type Payment struct {
	Provider          string `yaml:"provider"`
	WebhookSecretFile string `yaml:"webhook_secret_file"` // fake
	WebhookSecret     string `yaml:"-"`
	Stripe            Stripe `yaml:"stripe"`
	PayPal            PayPal `yaml:"paypal"`
}

// Stripe is the Stripe adapter's settings.
type Stripe struct {
	SecretKey         string `yaml:"secret_key"` // ${VAR} expanded; or:
	SecretKeyFile     string `yaml:"secret_key_file"`
	WebhookSecret     string `yaml:"webhook_secret"`
	WebhookSecretFile string `yaml:"webhook_secret_file"`
	OnBehalfOf        bool   `yaml:"on_behalf_of"`
	URL               string `yaml:"url"` // "": Stripe's; stripe-mock in tests
}

// PayPal is the PayPal adapter's settings.
type PayPal struct {
	BaseURL    string `yaml:"base_url"`
	ClientID   string `yaml:"client_id"`
	Secret     string `yaml:"secret"` // ${VAR} expanded; or:
	SecretFile string `yaml:"secret_file"`
	WebhookID  string `yaml:"webhook_id"`
	BrandName  string `yaml:"brand_name"`
}

// API is the REST API's settings.
type API struct {
	CodeEnergyCapWh int64         `yaml:"code_energy_cap_wh"`
	HoldValidity    time.Duration `yaml:"hold_validity"`
	Tokens          []APIToken    `yaml:"tokens"`
}

// APIToken is an operator API token by its hash.
type APIToken struct {
	ID       string `yaml:"id"`
	Operator string `yaml:"operator"`
	Name     string `yaml:"name"`
	Hash     string `yaml:"hash"` // SHA-256 of the token, hex (catalog.HashSecret)
}

// Defaults of the API section.
const (
	DefaultCodeEnergyCapWh = 30_000
	DefaultHoldValidity    = 24 * time.Hour
)

// Operator is an operator with its tariffs and sites.
type Operator struct {
	ID            string   `yaml:"id"`
	Name          string   `yaml:"name"`
	Address       string   `yaml:"address"`
	VATID         string   `yaml:"vat_id"`
	TaxNumber     string   `yaml:"tax_number"`
	Currency      string   `yaml:"currency"`
	Hold          string   `yaml:"hold"` // decimal, e.g. "50.00"
	InvoicePrefix string   `yaml:"invoice_prefix"`
	TimeZone      string   `yaml:"time_zone"`
	PayeeAccount  string   `yaml:"payee_account"`
	Fee           Fee      `yaml:"fee"`
	Tariffs       []Tariff `yaml:"tariffs"`
	Sites         []Site   `yaml:"sites"`
}

// Fee is the platform's fee on the operator's charges.
type Fee struct {
	Fixed string `yaml:"fixed"` // decimal
	BP    int64  `yaml:"bp"`    // basis points of the amount
}

// Tariff is a tariff in decimal prices (gross).
type Tariff struct {
	ID          string `yaml:"id"`
	Class       string `yaml:"class"` // eco | premium
	PerKWh      string `yaml:"per_kwh"`
	StartFee    string `yaml:"start_fee"`
	PerMinute   string `yaml:"per_minute"`
	FreeMinutes int64  `yaml:"free_minutes"`
	Cap         string `yaml:"cap"`
	VAT         string `yaml:"vat"` // percent, e.g. "19" or "7.7"
}

// Site is a site of an operator.
type Site struct {
	ID      string  `yaml:"id"`
	Name    string  `yaml:"name"`
	Address string  `yaml:"address"`
	Lat     string  `yaml:"lat"` // decimal degrees
	Lon     string  `yaml:"lon"`
	Points  []Point `yaml:"points"`
	// Register, for a public site: its BNetzA register entry.
	Register *SiteRegister `yaml:"register"`
}

// SiteRegister is a public site's structured address and commissioning
// date for the BNetzA charging-point register.
type SiteRegister struct {
	Street       string `yaml:"street"`
	HouseNumber  string `yaml:"house_number"`
	AddressExtra string `yaml:"address_extra"`
	PostalCode   string `yaml:"postal_code"`
	City         string `yaml:"city"`
	State        string `yaml:"state"`
	District     string `yaml:"district"`
	Commissioned string `yaml:"commissioned"` // YYYY-MM-DD
}

// Point is a charge point of a site.
type Point struct {
	ID        string   `yaml:"id"`
	Meter     string   `yaml:"meter"`
	EVSEID    string   `yaml:"evse_id"`
	MaxPowerW int64    `yaml:"max_power_w"`
	Tariffs   []string `yaml:"tariffs"`
	Plugs     []string `yaml:"plugs"` // as the register names them, e.g. "AC Steckdose Typ 2"
}

// Seed is an operator as the catalog stores it.
type Seed struct {
	Operator catalog.Operator
	Tariffs  []catalog.Tariff
	Sites    []catalog.Site
	Points   []catalog.Point
}

// Catalog converts o (checked by Load) into catalog entries.
func (o Operator) Catalog() (Seed, error) {
	var errs []error
	amount := func(field, s string) int64 {
		if s == "" {
			return 0
		}
		v, err := tariff.ParseAmount(s, o.Currency)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", field, s, err))
		}
		return v
	}
	sd := Seed{Operator: catalog.Operator{ID: o.ID, Name: o.Name, Address: o.Address, VATID: o.VATID, TaxNumber: o.TaxNumber,
		Currency: o.Currency, HoldMinor: amount("hold", o.Hold), InvoicePrefix: o.InvoicePrefix, TimeZone: o.TimeZone,
		PayeeAccount: o.PayeeAccount, FeeFixedMinor: amount("fee.fixed", o.Fee.Fixed), FeeBP: o.Fee.BP}}
	if err := sd.Operator.Validate(); err != nil {
		errs = append(errs, err)
	}
	ids := map[string]bool{}
	for i, t := range o.Tariffs {
		where := fmt.Sprintf("tariffs[%d]", i)
		vat, err := tariff.ParseAmount(t.VAT, "EUR") // percent with two decimals = basis points
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.vat %q: want a percentage like 19 or 7.7: %w", where, t.VAT, err))
		}
		ct := catalog.Tariff{Operator: o.ID, Tariff: tariff.Tariff{ID: t.ID, Class: tariff.Class(t.Class), Currency: o.Currency,
			EnergyPerKWhMinor: amount(where+".per_kwh", t.PerKWh), StartFeeMinor: amount(where+".start_fee", t.StartFee),
			TimeFeePerMinuteMinor: amount(where+".per_minute", t.PerMinute), FreeTime: time.Duration(t.FreeMinutes) * time.Minute,
			CapMinor: amount(where+".cap", t.Cap), VATRateBP: vat}}
		if err := ct.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if ids[t.ID] {
			errs = append(errs, fmt.Errorf("%s.id %q: defined twice", where, t.ID))
		}
		ids[t.ID] = true
		sd.Tariffs = append(sd.Tariffs, ct)
	}
	for i, s := range o.Sites {
		where := fmt.Sprintf("sites[%d]", i)
		lat, err := MicroDegrees(s.Lat, 90)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.lat %q: %w", where, s.Lat, err))
		}
		lon, err := MicroDegrees(s.Lon, 180)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.lon %q: %w", where, s.Lon, err))
		}
		cs := catalog.Site{ID: s.ID, Operator: o.ID, Name: s.Name, Address: s.Address, LatE6: lat, LonE6: lon}
		if r := s.Register; r != nil {
			day, err := time.Parse(time.DateOnly, r.Commissioned)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.register.commissioned %q: want YYYY-MM-DD", where, r.Commissioned))
			}
			if r.Street == "" || r.PostalCode == "" || r.City == "" {
				errs = append(errs, fmt.Errorf("%s.register: street, postal_code and city are required", where))
			}
			cs.Register = &catalog.Register{Street: r.Street, HouseNumber: r.HouseNumber, AddressExtra: r.AddressExtra,
				PostalCode: r.PostalCode, City: r.City, State: r.State, District: r.District, CommissionedOn: day}
		}
		if err := cs.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		sd.Sites = append(sd.Sites, cs)
		for j, p := range s.Points {
			pw := fmt.Sprintf("%s.points[%d]", where, j)
			cp := catalog.Point{Site: s.ID, ID: p.ID, Operator: o.ID, Meter: p.Meter, EVSEID: p.EVSEID, MaxPowerW: p.MaxPowerW,
				Tariffs: p.Tariffs, Plugs: p.Plugs}
			if s.Register != nil && (len(p.Plugs) == 0 || p.MaxPowerW <= 0 || p.EVSEID == "") {
				errs = append(errs, fmt.Errorf("%s: a point of a registered site needs evse_id, max_power_w and plugs", pw))
			}
			if err := cp.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", pw, err))
			}
			for _, id := range p.Tariffs {
				if !ids[id] {
					errs = append(errs, fmt.Errorf("%s.tariffs: %q is not a tariff of operator %s", pw, id, o.ID))
				}
			}
			sd.Points = append(sd.Points, cp)
		}
	}
	return sd, errors.Join(errs...)
}

// MicroDegrees parses decimal degrees ("52.520008", "-13.4") into
// micro-degrees, refusing more than six decimals and |value| > limit.
func MicroDegrees(s string, limit int64) (int64, error) {
	if s == "" {
		return 0, errors.New("required (decimal degrees)")
	}
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" || len(whole) > 3 || len(frac) > 6 || strings.ContainsAny(whole+frac, "+-") {
		return 0, errors.New("want decimal degrees with at most six decimals")
	}
	w, err := strconv.ParseUint(whole, 10, 16)
	if err != nil {
		return 0, errors.New("want decimal degrees with at most six decimals")
	}
	var f uint64
	if frac != "" {
		if f, err = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 32); err != nil {
			return 0, errors.New("want decimal degrees with at most six decimals")
		}
	}
	v := int64(w)*1_000_000 + int64(f)
	if v > limit*1_000_000 {
		return 0, fmt.Errorf("beyond ±%d degrees", limit)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// resolveBilling makes the secret files relative to dir.
func (c *Config) resolveBilling(dir string) {
	for _, p := range []*string{&c.Payment.WebhookSecretFile, &c.Payment.Stripe.SecretKeyFile, &c.Payment.Stripe.WebhookSecretFile, &c.Payment.PayPal.SecretFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.API.CodeEnergyCapWh == 0 {
		c.API.CodeEnergyCapWh = DefaultCodeEnergyCapWh
	}
	if c.API.HoldValidity == 0 {
		c.API.HoldValidity = DefaultHoldValidity
	}
}

// secret reads a secret from its file or takes the ${VAR}-expanded value;
// exactly one of them.
func secret(field string, value, file *string, required bool) error {
	*value = os.ExpandEnv(*value)
	switch {
	case *value != "" && *file != "":
		return fmt.Errorf("%s: set %s or %s_file, not both", field, field, field)
	case *file != "":
		s, err := readSecret(*file)
		if err != nil {
			return fmt.Errorf("%s_file: %w", field, err)
		}
		*value = s
	case *value == "" && required:
		return fmt.Errorf("%s: required (%s_file, or ${VAR})", field, field)
	}
	return nil
}

func (c *Config) validateBilling() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	p := &c.Payment
	switch p.Provider {
	case "":
	case ProviderFake:
		if err := secret("payment.webhook_secret", &p.WebhookSecret, &p.WebhookSecretFile, false); err != nil {
			bad("%v", err)
		}
	case ProviderStripe:
		if err := secret("payment.stripe.secret_key", &p.Stripe.SecretKey, &p.Stripe.SecretKeyFile, true); err != nil {
			bad("%v", err)
		}
		if err := secret("payment.stripe.webhook_secret", &p.Stripe.WebhookSecret, &p.Stripe.WebhookSecretFile, true); err != nil {
			bad("%v", err)
		}
	case ProviderPayPal:
		if err := secret("payment.paypal.secret", &p.PayPal.Secret, &p.PayPal.SecretFile, true); err != nil {
			bad("%v", err)
		}
		if !strings.HasPrefix(p.PayPal.BaseURL, "https://") && !strings.HasPrefix(p.PayPal.BaseURL, "http://127.0.0.1") {
			bad("payment.paypal.base_url %q: want https://api-m.paypal.com or the sandbox", p.PayPal.BaseURL)
		}
		if p.PayPal.ClientID == "" || p.PayPal.WebhookID == "" {
			bad("payment.paypal: client_id and webhook_id are required")
		}
	default:
		bad("payment.provider %q: want fake, stripe, paypal or empty (access codes only)", p.Provider)
	}
	if c.API.CodeEnergyCapWh < 0 || c.API.CodeEnergyCapWh > tariff.MaxEnergyWh {
		bad("api.code_energy_cap_wh %d: not in 1..%d", c.API.CodeEnergyCapWh, tariff.MaxEnergyWh)
	}
	if c.API.HoldValidity < time.Minute {
		bad("api.hold_validity %s: at least 1m", c.API.HoldValidity)
	}
	ops := map[string]bool{}
	sites := map[string]string{}
	for i, o := range c.Operators {
		where := fmt.Sprintf("operators[%d]", i)
		if ops[o.ID] {
			bad("%s.id %q: defined twice", where, o.ID)
		}
		ops[o.ID] = true
		if _, err := o.Catalog(); err != nil {
			bad("%s: %v", where, err)
		}
		for j, s := range o.Sites {
			if prev, ok := sites[s.ID]; ok {
				bad("%s.sites[%d].id %q: also a site of %s", where, j, s.ID, prev)
			}
			sites[s.ID] = o.ID
		}
	}
	tokens := map[string]bool{}
	for i, t := range c.API.Tokens {
		where := fmt.Sprintf("api.tokens[%d]", i)
		if catalog.CheckID(t.ID) != nil || tokens[t.ID] {
			bad("%s.id %q: required, unique, letters, digits, '-', '_', '.'", where, t.ID)
		}
		tokens[t.ID] = true
		if !ops[t.Operator] {
			bad("%s.operator %q: not an operator of this config", where, t.Operator)
		}
		if len(t.Hash) != 64 || strings.Trim(t.Hash, "0123456789abcdef") != "" {
			bad("%s.hash: want the token's SHA-256 in 64 lower-case hex digits (parkgrid token --operator)", where)
		}
	}
	return errs
}
