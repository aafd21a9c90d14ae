package reading

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Site commands: central's way to the edge's EMS limit and its safety
// latch (docs/contract.md, "Commands and replies"). Kinds, argument and
// result names cross the wire: append only.
const (
	// KindSetLimit puts a site limit in force for a while, or withdraws
	// it: args max_current_ma, max_power_w, scope, ttl_s. The reply's
	// result is the limit in force after it (LimitInForce).
	KindSetLimit = "set-limit"
	// KindSafetyReset releases the fire-alarm latch: args who, why. The
	// edge refuses it while the alarm is still present.
	KindSafetyReset = "safety-reset"

	ArgMaxCurrentMA = "max_current_ma" // "l1,l2,l3" in mA, decimal integers; absent: no current limit
	ArgMaxPowerW    = "max_power_w"    // W, decimal integer; absent: no power limit
	ArgScope        = "scope"          // "connection" (default) or "ev"
	ArgTTLS         = "ttl_s"          // whole seconds the limit lasts; "0" withdraws the limit in force
	ArgWho          = "who"            // who resets (the audit log's)
	ArgWhy          = "why"            // why

	// Results of set-limit (Reply.Result).
	ResultSource       = "source"         // what sets the limit in force: "ems", "fuse", "grid", "14a" …
	ResultMaxCurrentMA = "max_current_ma" // "l1,l2,l3" mA the chargers may draw at the grid connection
	ResultMaxPowerW    = "max_power_w"    // W, when a power bound is in force
	ResultExpires      = "expires"        // RFC 3339: the end of the EMS limit in force; absent: none
	ResultRequest      = "request"        // the request id the edge keeps the limit under
)

// Scopes of a site limit (ArgScope).
const (
	ScopeConnection = "connection" // the grid connection: chargers plus the metered other load
	ScopeEV         = "ev"         // the chargers alone
)

// Bounds of the site commands' arguments: they catch unit mix-ups and
// overflows; the edge applies its own limits (its max TTL, fuses …).
const (
	MaxLimitTTL       = 24 * time.Hour
	MaxLimitCurrentMA = 100_000_000   // 100 kA per phase
	MaxLimitPowerW    = 1_000_000_000 // 1 GW
	maxWhoBytes       = 128
	maxWhyBytes       = 512
)

// SiteLimit is the decoded arguments of a set-limit command. A nil
// dimension limits nothing; 0 is a limit (no current). TTL 0 withdraws
// the limit in force and then no dimension may be set.
type SiteLimit struct {
	MaxCurrentMA *[3]int64
	MaxPowerW    *int64
	Scope        string // "" or ScopeConnection, or ScopeEV
	TTL          time.Duration
}

// Withdraw reports whether l withdraws the limit in force.
func (l SiteLimit) Withdraw() bool { return l.TTL == 0 }

// Args encodes l as command arguments.
func (l SiteLimit) Args() map[string]string {
	args := map[string]string{ArgTTLS: strconv.FormatInt(int64(l.TTL/time.Second), 10)}
	if c := l.MaxCurrentMA; c != nil {
		args[ArgMaxCurrentMA] = formatPhases(*c)
	}
	if p := l.MaxPowerW; p != nil {
		args[ArgMaxPowerW] = strconv.FormatInt(*p, 10)
	}
	if l.Scope != "" {
		args[ArgScope] = l.Scope
	}
	return args
}

// ParseSiteLimit decodes and checks the arguments of a set-limit command
// (ErrMalformed names what is wrong).
func ParseSiteLimit(args map[string]string) (SiteLimit, error) {
	l, err := parseSiteLimit(args)
	if err != nil {
		return SiteLimit{}, fmt.Errorf("%w: %s: %v", ErrMalformed, KindSetLimit, err)
	}
	return l, nil
}

func parseSiteLimit(args map[string]string) (SiteLimit, error) {
	for k := range args {
		switch k {
		case ArgMaxCurrentMA, ArgMaxPowerW, ArgScope, ArgTTLS:
		default:
			return SiteLimit{}, fmt.Errorf("unknown argument %q", k)
		}
	}
	var l SiteLimit
	v, ok := args[ArgTTLS]
	if !ok {
		return SiteLimit{}, fmt.Errorf("%s is required (0 withdraws)", ArgTTLS)
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s < 0 || s > int64(MaxLimitTTL/time.Second) {
		return SiteLimit{}, fmt.Errorf("%s %q: want whole seconds in 0..%d", ArgTTLS, v, int64(MaxLimitTTL/time.Second))
	}
	l.TTL = time.Duration(s) * time.Second
	if v, ok := args[ArgScope]; ok {
		if v != ScopeConnection && v != ScopeEV {
			return SiteLimit{}, fmt.Errorf("%s %q: want %q or %q", ArgScope, v, ScopeConnection, ScopeEV)
		}
		l.Scope = v
	}
	if v, ok := args[ArgMaxCurrentMA]; ok {
		c, err := ParsePhases(v)
		if err != nil {
			return SiteLimit{}, fmt.Errorf("%s: %v", ArgMaxCurrentMA, err)
		}
		for i, ma := range c {
			if ma > MaxLimitCurrentMA {
				return SiteLimit{}, fmt.Errorf("%s[%d] %d mA above %d", ArgMaxCurrentMA, i, ma, MaxLimitCurrentMA)
			}
		}
		l.MaxCurrentMA = &c
	}
	if v, ok := args[ArgMaxPowerW]; ok {
		p, err := strconv.ParseInt(v, 10, 64)
		if err != nil || p < 0 || p > MaxLimitPowerW {
			return SiteLimit{}, fmt.Errorf("%s %q: want an integer in 0..%d", ArgMaxPowerW, v, MaxLimitPowerW)
		}
		l.MaxPowerW = &p
	}
	switch {
	case l.Withdraw() && (l.MaxCurrentMA != nil || l.MaxPowerW != nil || l.Scope != ""):
		return SiteLimit{}, fmt.Errorf("%s 0 withdraws the limit and takes no %s, %s or %s", ArgTTLS, ArgMaxCurrentMA, ArgMaxPowerW, ArgScope)
	case !l.Withdraw() && l.MaxCurrentMA == nil && l.MaxPowerW == nil:
		return SiteLimit{}, fmt.Errorf("give %s, %s or both", ArgMaxCurrentMA, ArgMaxPowerW)
	}
	return l, nil
}

// formatPhases writes three per-phase values as "l1,l2,l3".
func formatPhases(v [3]int64) string {
	return strconv.FormatInt(v[0], 10) + "," + strconv.FormatInt(v[1], 10) + "," + strconv.FormatInt(v[2], 10)
}

// ParsePhases reads "l1,l2,l3": three decimal integers ≥ 0.
func ParsePhases(v string) ([3]int64, error) {
	var out [3]int64
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		return out, fmt.Errorf("%q: want three integers l1,l2,l3", v)
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return out, fmt.Errorf("%q: phase %d %q is not an integer ≥ 0", v, i+1, p)
		}
		out[i] = n
	}
	return out, nil
}

// LimitInForce is the result of a set-limit command: what the chargers may
// draw at the grid connection after it, as the edge's local EMS API
// answers (its "effective" limit).
type LimitInForce struct {
	Source       string   // the input that binds: "ems" while an EMS limit (local or central) binds
	MaxCurrentMA [3]int64 // per phase
	MaxPowerW    *int64   // nil: no power bound
	Expires      time.Time
	RequestID    string // the EMS limit's request id; "" when none is in force
}

// Result encodes l as a reply's result.
func (l LimitInForce) Result() map[string]string {
	r := map[string]string{ResultSource: l.Source, ResultMaxCurrentMA: formatPhases(l.MaxCurrentMA)}
	if l.MaxPowerW != nil {
		r[ResultMaxPowerW] = strconv.FormatInt(*l.MaxPowerW, 10)
	}
	if !l.Expires.IsZero() {
		r[ResultExpires] = l.Expires.UTC().Format(time.RFC3339Nano)
	}
	if l.RequestID != "" {
		r[ResultRequest] = l.RequestID
	}
	return r
}

// ParseLimitInForce decodes a set-limit reply's result.
func ParseLimitInForce(r map[string]string) (LimitInForce, error) {
	l := LimitInForce{Source: r[ResultSource], RequestID: r[ResultRequest]}
	if l.Source == "" {
		return LimitInForce{}, fmt.Errorf("%w: %s result: no %s", ErrMalformed, KindSetLimit, ResultSource)
	}
	c, err := ParsePhases(r[ResultMaxCurrentMA])
	if err != nil {
		return LimitInForce{}, fmt.Errorf("%w: %s result %s: %v", ErrMalformed, KindSetLimit, ResultMaxCurrentMA, err)
	}
	l.MaxCurrentMA = c
	if v, ok := r[ResultMaxPowerW]; ok {
		p, err := strconv.ParseInt(v, 10, 64)
		if err != nil || p < 0 {
			return LimitInForce{}, fmt.Errorf("%w: %s result %s %q", ErrMalformed, KindSetLimit, ResultMaxPowerW, v)
		}
		l.MaxPowerW = &p
	}
	if v, ok := r[ResultExpires]; ok {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return LimitInForce{}, fmt.Errorf("%w: %s result %s %q: want RFC 3339", ErrMalformed, KindSetLimit, ResultExpires, v)
		}
		l.Expires = t
	}
	return l, nil
}

// SafetyReset is the decoded arguments of a safety-reset command.
type SafetyReset struct {
	Who string // the operator (central: the API token's name)
	Why string
}

// Args encodes r as command arguments.
func (r SafetyReset) Args() map[string]string {
	return map[string]string{ArgWho: r.Who, ArgWhy: r.Why}
}

// ParseSafetyReset decodes and checks the arguments of a safety-reset
// command: who (1..128 bytes) and why (1..512 bytes), UTF-8 without
// control characters.
func ParseSafetyReset(args map[string]string) (SafetyReset, error) {
	for k := range args {
		if k != ArgWho && k != ArgWhy {
			return SafetyReset{}, fmt.Errorf("%w: %s: unknown argument %q", ErrMalformed, KindSafetyReset, k)
		}
	}
	r := SafetyReset{Who: args[ArgWho], Why: args[ArgWhy]}
	if err := CheckText(ArgWho, r.Who, maxWhoBytes); err != nil {
		return SafetyReset{}, fmt.Errorf("%w: %s: %v", ErrMalformed, KindSafetyReset, err)
	}
	if err := CheckText(ArgWhy, r.Why, maxWhyBytes); err != nil {
		return SafetyReset{}, fmt.Errorf("%w: %s: %v", ErrMalformed, KindSafetyReset, err)
	}
	return r, nil
}

// CheckText accepts 1..max bytes of UTF-8 without control characters: a
// name or reason that goes into logs and audit records. Its errors name
// field.
func CheckText(field, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", field)
	case len(s) > max:
		return fmt.Errorf("%s has %d bytes, at most %d", field, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s contains control character %U", field, r)
		}
	}
	return nil
}
