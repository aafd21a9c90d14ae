package emsapi

import (
	"context"
	"errors"
	"time"
)

// Errors a caller or a Controller wraps so that both transports report the
// same thing: the REST API maps them to status codes, MQTT to error replies.
var (
	// ErrInvalid marks a request that is malformed or out of range (400).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound marks a request for something that does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a valid request the controller refuses in the
	// current state, e.g. resetting an alarm whose input is still open (409).
	ErrConflict = errors.New("refused in the current state")
)

// Source is what the API reports. Each method returns a consistent
// snapshot and must not block for long (the control loop's last state,
// behind a mutex or an atomic pointer). The API may call it from several
// goroutines at once.
type Source interface {
	Site() SiteState
	Points() []PointState
	Alarms() []Alarm
}

// Controller carries out commands. Errors wrapping ErrInvalid, ErrNotFound
// or ErrConflict are reported as such; other errors as internal ones.
type Controller interface {
	// SetLimit puts the validated request in force until now+req.TTL and
	// returns the site limit that results (the binding minimum of every
	// limit, with its source and the EMS limit's expiry).
	SetLimit(ctx context.Context, req LimitRequest, now time.Time) (Limit, error)
	// ResetAlarm clears a latched alarm on an operator's word; the
	// controller audits who and why.
	ResetAlarm(ctx context.Context, who, why string, now time.Time) error
}

// ConfigView returns the site configuration as the API may show it: no
// secrets (passwords, keys, tokens). The result is encoded as JSON.
type ConfigView interface {
	RedactedConfig() any
}

// SiteState is the whole site at one moment (points and alarms have their
// own topics and routes).
type SiteState struct {
	Site         string    `json:"site"`
	At           time.Time `json:"at"`           // when the state was taken
	CurrentMA    [3]int64  `json:"currentMA"`    // grid phases L1, L2, L3
	PowerW       int64     `json:"powerW"`       // active power at the grid connection
	Limits       []Limit   `json:"limits"`       // every limit in force
	SafeBudget   bool      `json:"safeBudget"`   // the grid meter is stale: the configured safe budget applies
	AlarmLatched bool      `json:"alarmLatched"` // a latched alarm holds every charger at 0 A until reset
}

// Limit is one limit on the site. Unset dimensions are nil.
type Limit struct {
	Source       string     `json:"source"`                 // e.g. "ems", "fuse", "grid", "thermal", "14a", "safe-budget"
	MaxPowerW    *int64     `json:"maxPowerW,omitempty"`    // W
	MaxCurrentMA *[3]int64  `json:"maxCurrentMA,omitempty"` // mA per grid phase
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`    // nil: does not expire
	RequestID    string     `json:"requestId,omitempty"`    // the EMS request that set it
}

// PointState is one charge point at one moment.
type PointState struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`                 // when the values were read
	State      string    `json:"state"`              // IEC 61851-1 letter A..F, "" when unknown
	CurrentMA  [3]int64  `json:"currentMA"`          // charger phases L1, L2, L3
	SetpointMA int64     `json:"setpointMA"`         // current the charger is allowed
	PowerW     int64     `json:"powerW"`             // active power
	EnergyWh   int64     `json:"energyWh"`           // meter register
	Limiting   string    `json:"limiting,omitempty"` // why the setpoint is below what the car asks, e.g. "site", "circuit", "ems", "thermal", "alarm"
	Stale      bool      `json:"stale"`              // values older than three poll intervals
}

// Alarm is one alarm, active or latched.
type Alarm struct {
	ID      string    `json:"id"`              // stable, e.g. "fire", "spd/ud-1"
	Kind    string    `json:"kind"`            // e.g. "fire", "spd", "over-temperature", "wire-break"
	Point   string    `json:"point,omitempty"` // the charge point, if it concerns one
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
	Active  bool      `json:"active"`  // the condition is still present
	Latched bool      `json:"latched"` // holds until an operator resets it
}

// PointList is the body of GET /api/v1/points.
type PointList struct {
	Points []PointState `json:"points"`
}

// AlarmList is the body of GET /api/v1/alarms and of the alarms topic.
type AlarmList struct {
	Alarms []Alarm `json:"alarms"`
}

// siteOf returns s with nil slices made empty, so JSON shows [] not null.
func siteOf(s SiteState) SiteState {
	if s.Limits == nil {
		s.Limits = []Limit{}
	}
	return s
}

func pointListOf(ps []PointState) PointList {
	if ps == nil {
		ps = []PointState{}
	}
	return PointList{Points: ps}
}

func alarmListOf(as []Alarm) AlarmList {
	if as == nil {
		as = []Alarm{}
	}
	return AlarmList{Alarms: as}
}
