package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// OCPP presents the site's charge points to an OCPP 1.6J central system
// (CSMS), each as its own OCPP charge point with its own identity and
// password. The CSMS decides who may charge there; the site's limits and
// fuses still apply (a CSMS can lower a point's current, never raise it
// above them).
//
//	ocpp:
//	  url: wss://csms.example.com/ocpp   # the point connects to <url>/<identity>
//	  ca: csms-ca.pem                     # wss: the CA that signed the CSMS's certificate (default: system roots)
//	  security_profile: 2                 # 1: basic auth over ws; 2: basic auth over TLS (default from the scheme)
//	  vendor: parkgrid                    # BootNotification chargePointVendor / Model
//	  model: parkgrid-edge
//	  firmware: "1.0"
//	  state_dir: ocpp                     # default <data_dir>/ocpp: queued messages, transactions
//	  heartbeat: 5m                       # until the CSMS names its interval
//	  meter_value_sample_interval: 60s    # initial MeterValueSampleInterval
//	  reconnect_min: 1s                   # backoff with jitter between these
//	  reconnect_max: 2m
//	  fixed_cable: true                   # UnlockConnector: NotSupported
//	  charge_points:
//	    - id: cp-1                        # the site's charge point
//	      identity: PG-HH-P1-CP01         # default: id
//	      serial: "4711"
//	      password_file: cp-1.secret      # or password_env: NAME, or password (16..40 characters)
type OCPP struct {
	URL             string        `yaml:"url"`
	CA              string        `yaml:"ca"`
	SecurityProfile int           `yaml:"security_profile"`
	Vendor          string        `yaml:"vendor"`
	Model           string        `yaml:"model"`
	Firmware        string        `yaml:"firmware"`
	StateDir        string        `yaml:"state_dir"`
	Heartbeat       time.Duration `yaml:"heartbeat"`
	SampleInterval  time.Duration `yaml:"meter_value_sample_interval"`
	ReconnectMin    time.Duration `yaml:"reconnect_min"`
	ReconnectMax    time.Duration `yaml:"reconnect_max"`
	FixedCable      *bool         `yaml:"fixed_cable"` // default true
	ChargePoints    []OCPPPoint   `yaml:"charge_points"`
}

// OCPPPoint is one charge point under the CSMS.
type OCPPPoint struct {
	ID           string `yaml:"id"`       // the site's charge point
	Identity     string `yaml:"identity"` // its OCPP identity; default ID
	Serial       string `yaml:"serial"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// String hides the password.
func (p OCPPPoint) String() string {
	return fmt.Sprintf("{id:%s identity:%s}", p.ID, p.Identity)
}

// OCPP defaults.
const (
	DefaultOCPPHeartbeat      = 5 * time.Minute
	DefaultOCPPSampleInterval = time.Minute
	DefaultOCPPReconnectMin   = time.Second
	DefaultOCPPReconnectMax   = 2 * time.Minute
	DefaultOCPPStateDir       = "ocpp"
)

// AccessOCPP is the access of a charge point under the OCPP central
// system: no current until the CSMS authorises a transaction. Every point
// listed under ocpp: gets it.
const AccessOCPP = "ocpp"

// IsOCPP reports whether the charge point runs under the OCPP central
// system.
func (s *Site) IsOCPP(point string) bool {
	if s.OCPP == nil {
		return false
	}
	for _, p := range s.OCPP.ChargePoints {
		if p.ID == point {
			return true
		}
	}
	return false
}

// ocpp checks the ocpp: section and fills its defaults. It runs after
// safety(), which settles data_dir.
func (v *validator) ocpp() {
	o := v.site.OCPP
	for i, cp := range v.site.ChargePoints {
		if cp.Access == AccessOCPP && !v.site.IsOCPP(cp.ID) {
			v.errf(fmt.Sprintf("charge_points[%d].access", i), "charge point %q: access ocpp, but the ocpp: section does not list it", cp.ID)
		}
	}
	if o == nil {
		return
	}
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		v.errf("ocpp.url", "ocpp: url is missing: the CSMS's websocket URL, e.g. wss://csms.example.com/ocpp")
		return
	case err != nil || u.Host == "" || (u.Scheme != "ws" && u.Scheme != "wss"):
		v.errf("ocpp.url", "ocpp: url %q is not a URL like wss://host/path (schemes ws, wss)", redactURL(o.URL))
		return
	case u.User != nil:
		v.errf("ocpp.url", "ocpp: url %q carries credentials; set each point's password_file instead (URLs end up in logs)", redactURL(o.URL))
		return
	case u.RawQuery != "" || u.Fragment != "":
		v.errf("ocpp.url", "ocpp: url %q must not have a query or fragment: the identity is appended as the last path element", o.URL)
		return
	}
	want := 1
	if u.Scheme == "wss" {
		want = 2
	}
	switch {
	case o.SecurityProfile == 0:
		o.SecurityProfile = want
	case o.SecurityProfile != want:
		v.errf("ocpp.security_profile", "ocpp: security_profile %d does not match url scheme %s (profile 1: ws with basic auth, 2: wss with basic auth; profile 3 is not supported)", o.SecurityProfile, u.Scheme)
	}
	if o.SecurityProfile == 1 {
		if h := u.Hostname(); h != "localhost" && !isLoopbackHost(h) {
			v.warnf("ocpp.url", "ocpp: security profile 1 (ws://) sends the points' passwords unencrypted to %s; use wss:// (profile 2)", u.Host)
		}
	}
	if o.CA != "" {
		if u.Scheme != "wss" {
			v.errf("ocpp.ca", "ocpp: ca is set but url %q is not wss://", o.URL)
		}
		v.resolvePath(&o.CA)
		v.mustExist("ocpp.ca", "ocpp ca", o.CA)
	}
	if o.Vendor == "" {
		o.Vendor = "parkgrid"
	}
	if o.Model == "" {
		o.Model = "parkgrid-edge"
	}
	if len(o.Vendor) > 20 || len(o.Model) > 20 || len(o.Firmware) > 50 {
		v.errf("ocpp.vendor", "ocpp: vendor and model are at most 20 characters, firmware at most 50 (OCPP 1.6 BootNotification)")
	}
	switch {
	case o.StateDir == "":
		o.StateDir = filepath.Join(v.site.DataDir, DefaultOCPPStateDir)
	default:
		v.resolvePath(&o.StateDir)
	}
	dur := func(field string, d *time.Duration, def, lo time.Duration) {
		switch {
		case *d == 0 && !v.has("ocpp."+field):
			*d = def
		case *d < lo:
			v.errf("ocpp."+field, "ocpp: %s %s must be at least %s", field, *d, lo)
		}
	}
	dur("heartbeat", &o.Heartbeat, DefaultOCPPHeartbeat, time.Second)
	dur("meter_value_sample_interval", &o.SampleInterval, DefaultOCPPSampleInterval, time.Second)
	dur("reconnect_min", &o.ReconnectMin, DefaultOCPPReconnectMin, 10*time.Millisecond)
	dur("reconnect_max", &o.ReconnectMax, DefaultOCPPReconnectMax, 10*time.Millisecond)
	if o.ReconnectMax < o.ReconnectMin {
		v.errf("ocpp.reconnect_max", "ocpp: reconnect_max %s is below reconnect_min %s", o.ReconnectMax, o.ReconnectMin)
	}
	if o.FixedCable == nil {
		t := true
		o.FixedCable = &t
	}
	if len(o.ChargePoints) == 0 {
		v.errf("ocpp.charge_points", "ocpp: charge_points is empty: name the site's charge points the CSMS runs")
	}
	known := map[string]bool{}
	for _, cp := range v.site.ChargePoints {
		known[cp.ID] = true
	}
	cpIndex := map[string]int{}
	for i, cp := range v.site.ChargePoints {
		cpIndex[cp.ID] = i
	}
	ids, identities := map[string]bool{}, map[string]bool{}
	for i := range o.ChargePoints {
		p := &o.ChargePoints[i]
		path := fmt.Sprintf("ocpp.charge_points[%d]", i)
		switch {
		case !known[p.ID]:
			v.errf(path+".id", "ocpp: charge point %q is not among the site's charge_points", p.ID)
		case ids[p.ID]:
			v.errf(path+".id", "ocpp: charge point %q listed twice", p.ID)
		}
		ids[p.ID] = true
		if i, ok := cpIndex[p.ID]; ok {
			// access central beside ocpp is refused with the charge point
			// (validate.go); every other point here gets access ocpp.
			if cp := &v.site.ChargePoints[i]; cp.Access != AccessCentral {
				cp.Access = AccessOCPP
			}
		}
		if p.Identity == "" {
			p.Identity = p.ID
		}
		if !validIdentity(p.Identity) {
			v.errf(path+".identity", "ocpp: charge point %q: identity %q must be 1..48 characters of A-Z a-z 0-9 - _ . : (it becomes a URL path element)", p.ID, p.Identity)
		}
		if identities[p.Identity] {
			v.errf(path+".identity", "ocpp: identity %q used twice", p.Identity)
		}
		identities[p.Identity] = true
		if len(p.Serial) > 25 {
			v.errf(path+".serial", "ocpp: charge point %q: serial is at most 25 characters", p.ID)
		}
		what := fmt.Sprintf("ocpp charge point %q", p.ID)
		if p.PasswordEnv != "" {
			if p.Password != "" || p.PasswordFile != "" {
				v.errf(path+".password_env", "%s: set one of password, password_file, password_env", what)
				continue
			}
			p.Password = os.Getenv(p.PasswordEnv)
			if p.Password == "" {
				v.errf(path+".password_env", "%s: environment variable %s is empty or unset", what, p.PasswordEnv)
				continue
			}
		}
		v.secret(path, what, &p.Password, &p.PasswordFile)
		switch n := len(p.Password); {
		case n == 0 && p.PasswordFile == "":
			v.errf(path+".password_file", "%s: no password: security profiles 1 and 2 authenticate each point with its own (password_file, password_env or password)", what)
		case n > 0 && (n < 16 || n > 40):
			v.errf(path+".password", "%s: the password has %d characters; OCPP 1.6 (AuthorizationKey) wants 16..40", what, n)
		}
	}
}

// validIdentity: a charge point identity that is safe as one URL path
// element (OCPP 1.6 CiString25/48 for the ids a CSMS stores).
func validIdentity(s string) bool {
	if s == "" || len(s) > 48 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == ':':
		default:
			return false
		}
	}
	return true
}
