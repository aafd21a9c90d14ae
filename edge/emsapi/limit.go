package emsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// Bounds a request must stay within, whatever the site. They only catch
// nonsense (a unit mix-up, an overflow); the Controller applies the site's
// own limits.
const (
	MaxRequestBytes   = 64 << 10        // largest command or request body accepted
	maxRequestIDLen   = 128             // bytes
	maxPowerW         = 1_000_000_000   // 1 GW
	maxCurrentA       = 100_000         // per phase
	maxWhoLen         = 64              // bytes
	maxWhyLen         = 512             // bytes
	defaultMaxTTL     = time.Hour       // when the options leave MaxTTL zero
	controllerTimeout = 5 * time.Second // how long a command waits for the Controller
	publishTimeout    = 5 * time.Second // how long a publish waits for the broker
)

// Scopes of a limit request: what it caps.
const (
	ScopeConnection = "connection" // the grid connection: chargers plus the metered other load (default)
	ScopeEV         = "ev"         // the chargers alone
)

// LimitRequest is a validated limit request.
type LimitRequest struct {
	RequestID    string
	MaxPowerW    *int64    // nil: the request limits no power
	MaxCurrentMA *[3]int64 // nil: the request limits no current; else mA per grid phase
	Scope        string    // "" or ScopeConnection: the connection; ScopeEV: the chargers
	TTL          time.Duration
	Withdraw     bool // withdraw the limit in force now (no limit fields, no TTL)
}

// LimitReply answers a limit request: on the limit/reply topic, and as the
// body of a successful POST /api/v1/limit.
type LimitReply struct {
	RequestID string `json:"requestId"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	Effective *Limit `json:"effective,omitempty"` // the site limit in force after the request
}

// limitWire is a limit request as it travels.
type limitWire struct {
	RequestID   *string   `json:"requestId"`
	MaxPowerW   *int64    `json:"maxPowerW"`
	MaxCurrentA []float64 `json:"maxCurrentA"`
	TTLS        *int64    `json:"ttlS"`
	Scope       *string   `json:"scope"`
	Withdraw    bool      `json:"withdraw"`
}

// ParseLimit decodes and validates a limit request (the body of POST
// /api/v1/limit and the payload of <prefix>/limit/set); maxTTL is the
// longest TTL the site allows. Every error wraps ErrInvalid. On error the
// returned request still carries the requestId when one could be read, so
// the error reply can name it.
func ParseLimit(b []byte, maxTTL time.Duration) (LimitRequest, error) {
	req, err := parseLimit(b, maxTTL)
	if err != nil {
		return LimitRequest{RequestID: salvageRequestID(b)}, fmt.Errorf("limit request: %w: %w", ErrInvalid, err)
	}
	return req, nil
}

func parseLimit(b []byte, maxTTL time.Duration) (LimitRequest, error) {
	if len(b) > MaxRequestBytes {
		return LimitRequest{}, fmt.Errorf("%d bytes, at most %d", len(b), MaxRequestBytes)
	}
	var w limitWire
	if err := json.Unmarshal(b, &w); err != nil {
		return LimitRequest{}, jsonError(err)
	}
	if w.RequestID == nil {
		return LimitRequest{}, errors.New("requestId is required")
	}
	if err := reading.CheckText("requestId", *w.RequestID, maxRequestIDLen); err != nil {
		return LimitRequest{}, err
	}
	req := LimitRequest{RequestID: *w.RequestID}
	if w.Withdraw {
		if w.MaxPowerW != nil || w.MaxCurrentA != nil || w.TTLS != nil || w.Scope != nil {
			return LimitRequest{}, errors.New("withdraw takes no maxPowerW, maxCurrentA, ttlS or scope")
		}
		req.Withdraw = true
		return req, nil
	}
	if w.Scope != nil {
		switch *w.Scope {
		case ScopeConnection, ScopeEV:
			req.Scope = *w.Scope
		default:
			return LimitRequest{}, fmt.Errorf("scope %q: want %q or %q", *w.Scope, ScopeConnection, ScopeEV)
		}
	}

	if w.TTLS == nil {
		return LimitRequest{}, errors.New("ttlS is required")
	}
	if maxTTL <= 0 {
		maxTTL = defaultMaxTTL
	}
	maxS := int64(maxTTL / time.Second)
	if *w.TTLS < 1 || *w.TTLS > maxS {
		return LimitRequest{}, fmt.Errorf("ttlS %d not in 1..%d", *w.TTLS, maxS)
	}
	req.TTL = time.Duration(*w.TTLS) * time.Second

	if w.MaxPowerW == nil && w.MaxCurrentA == nil {
		return LimitRequest{}, errors.New("give maxPowerW, maxCurrentA or both")
	}
	if w.MaxPowerW != nil {
		if p := *w.MaxPowerW; p < 0 || p > maxPowerW {
			return LimitRequest{}, fmt.Errorf("maxPowerW %d not in 0..%d", p, maxPowerW)
		}
		p := *w.MaxPowerW
		req.MaxPowerW = &p
	}
	if w.MaxCurrentA != nil {
		if len(w.MaxCurrentA) != 3 {
			return LimitRequest{}, fmt.Errorf("maxCurrentA has %d values, want 3 (L1, L2, L3)", len(w.MaxCurrentA))
		}
		var ma [3]int64
		for i, a := range w.MaxCurrentA {
			if !(a >= 0 && a <= maxCurrentA) { // also catches NaN
				return LimitRequest{}, fmt.Errorf("maxCurrentA[%d] %g not in 0..%d", i, a, maxCurrentA)
			}
			ma[i] = AmpsToMA(a)
		}
		req.MaxCurrentMA = &ma
	}
	return req, nil
}

// AmpsToMA converts a current in A to whole mA, rounding to the nearest.
func AmpsToMA(a float64) int64 { return int64(math.Round(a * 1000)) }

// jsonError turns a decoding error into one that names the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("want a JSON object, got %s", te.Value)
		}
		return fmt.Errorf("field %s: want %s, got %s", te.Field, jsonType(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("bad JSON at byte %d: %w", se.Offset, err)
	}
	return fmt.Errorf("bad JSON: %w", err)
}

func jsonType(kind string) string {
	switch kind {
	case "int64", "int", "uint64":
		return "an integer"
	case "float64":
		return "a number"
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	}
	return kind
}

// salvageRequestID reads just the requestId of a request that failed
// validation; "" when there is none to read.
func salvageRequestID(b []byte) string {
	var w struct {
		RequestID string `json:"requestId"`
	}
	if len(b) > MaxRequestBytes || json.Unmarshal(b, &w) != nil || reading.CheckText("requestId", w.RequestID, maxRequestIDLen) != nil {
		return ""
	}
	return w.RequestID
}

// AlarmReset is a validated alarm reset request.
type AlarmReset struct {
	Who string // the operator
	Why string // the reason, for the audit log
}

// ParseAlarmReset decodes and validates the body of POST
// /api/v1/alarms/reset: {"who": "...", "why": "..."}, both required. Every
// error wraps ErrInvalid.
func ParseAlarmReset(b []byte) (AlarmReset, error) {
	r, err := parseAlarmReset(b)
	if err != nil {
		return AlarmReset{}, fmt.Errorf("alarm reset: %w: %w", ErrInvalid, err)
	}
	return r, nil
}

func parseAlarmReset(b []byte) (AlarmReset, error) {
	if len(b) > MaxRequestBytes {
		return AlarmReset{}, fmt.Errorf("%d bytes, at most %d", len(b), MaxRequestBytes)
	}
	var w struct {
		Who *string `json:"who"`
		Why *string `json:"why"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return AlarmReset{}, jsonError(err)
	}
	if w.Who == nil || w.Why == nil {
		return AlarmReset{}, errors.New("who and why are required")
	}
	if err := reading.CheckText("who", *w.Who, maxWhoLen); err != nil {
		return AlarmReset{}, err
	}
	if err := reading.CheckText("why", *w.Why, maxWhyLen); err != nil {
		return AlarmReset{}, err
	}
	return AlarmReset{Who: *w.Who, Why: *w.Why}, nil
}

// parseAlarmResetFor parses a reset request made with the token named
// principal ("" without authentication, when ParseAlarmReset's rules
// apply). The token's name is who the audit log records; a "who" in the
// body is optional then and kept beside it as the operator it names
// ("ems-main (j.meier)"), since the body is only the caller's word.
func parseAlarmResetFor(b []byte, principal string) (AlarmReset, error) {
	if principal == "" {
		return ParseAlarmReset(b)
	}
	r, err := parseAuthenticatedReset(b, principal)
	if err != nil {
		return AlarmReset{}, fmt.Errorf("alarm reset: %w: %w", ErrInvalid, err)
	}
	return r, nil
}

func parseAuthenticatedReset(b []byte, principal string) (AlarmReset, error) {
	if len(b) > MaxRequestBytes {
		return AlarmReset{}, fmt.Errorf("%d bytes, at most %d", len(b), MaxRequestBytes)
	}
	var w struct {
		Who *string `json:"who"`
		Why *string `json:"why"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return AlarmReset{}, jsonError(err)
	}
	if w.Why == nil {
		return AlarmReset{}, errors.New("why is required")
	}
	if err := reading.CheckText("why", *w.Why, maxWhyLen); err != nil {
		return AlarmReset{}, err
	}
	who := principal
	if w.Who != nil && *w.Who != principal {
		if err := reading.CheckText("who", *w.Who, maxWhoLen); err != nil {
			return AlarmReset{}, err
		}
		who += " (" + *w.Who + ")"
	}
	return AlarmReset{Who: who, Why: *w.Why}, nil
}
