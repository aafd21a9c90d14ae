package dashboard

import (
	"context"
	"errors"
	"time"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// The interfaces below are what the web pages consume. The lead adapts
// central's services to them; dashtest has hand-written fakes.

// Errors a Driver returns that get their own page (errors.Is).
var (
	ErrNotFound     = errors.New("not found")
	ErrOffline      = errors.New("charge point offline")
	ErrFaulted      = errors.New("charge point faulted")
	ErrOccupied     = errors.New("charge point occupied")
	ErrDeclined     = errors.New("payment declined")
	ErrCodeExpired  = errors.New("access code expired or used up")
	ErrCodeInvalid  = errors.New("access code unknown")
	ErrInvalidInput = errors.New("invalid input")
)

// PointState is what a charge point is doing, as the driver and the
// operator see it.
type PointState string

// Point states.
const (
	PointAvailable PointState = "available"
	PointOccupied  PointState = "occupied" // a car is plugged in or charging under another session
	PointCharging  PointState = "charging"
	PointFaulted   PointState = "faulted"
	PointOffline   PointState = "offline" // the site's edge does not report
)

// PointInfo is what the driver page shows before the start.
type PointInfo struct {
	ID        string
	Operator  string // tenant; selects the white label
	Label     string // printed on the charger, e.g. "P-07"
	SiteName  string
	Address   string
	MaxPowerW int64
	Connector string // e.g. "Type 2"
	State     PointState
	HoldMinor int64 // the payment hold: the session's cost cap
	Currency  string
}

// PaymentMethod is how a driver pays.
type PaymentMethod string

// Payment methods.
const (
	PayCard   PaymentMethod = "card"   // provider-hosted page (cards, Apple Pay, Google Pay, 3-D Secure)
	PayPayPal PaymentMethod = "paypal" // PayPal approval page
	PayCode   PaymentMethod = "code"   // an access code: no payment page
)

// StartRequest asks to start charging.
type StartRequest struct {
	Point      string
	Email      string // where the receipt goes
	Class      tariff.Class
	Method     PaymentMethod
	AccessCode string // PayCode only
	ReturnURL  string // where the payment page sends the driver back
	Lang       string // "de" or "en": the receipt's language
}

// StartResult is the session made; RedirectURL is the provider's hosted
// payment page, empty when nothing is left to approve (access code).
type StartResult struct {
	SessionID   string
	RedirectURL string
}

// Progress is a session as the driver sees it live.
type Progress struct {
	SessionID    string        `json:"sessionId"`
	Point        string        `json:"point"`
	State        session.State `json:"state"`
	EnergyWh     int64         `json:"energyWh"`
	PowerW       int64         `json:"powerW"`
	Started      time.Time     `json:"started"` // zero before charging
	Duration     time.Duration `json:"durationNs"`
	CostMinor    int64         `json:"costMinor"` // so far, gross
	Currency     string        `json:"currency"`
	Failure      string        `json:"failure,omitempty"` // "declined", "code-expired", "offline", "faulted" or free text
	ReceiptReady bool          `json:"receiptReady"`
}

// Receipt is a receipt document.
type Receipt struct {
	Filename string
	PDF      []byte
}

// DriverPoints answers what the driver sees before the start.
type DriverPoints interface {
	Point(ctx context.Context, id string) (PointInfo, error)
	Preview(ctx context.Context, point string) ([]tariff.Preview, error) // AFIR order inside each
}

// DriverSessions starts, watches and stops a driver's session.
type DriverSessions interface {
	Start(ctx context.Context, r StartRequest) (StartResult, error)
	Status(ctx context.Context, sessionID string) (Progress, error)
	Stop(ctx context.Context, sessionID string) error
}

// DriverReceipts hands out receipts.
type DriverReceipts interface {
	Receipt(ctx context.Context, sessionID string) (Receipt, error)
}

// ProgressFeed streams a session's progress until ctx ends or the session
// is final; the channel is closed then.
type ProgressFeed interface {
	Subscribe(ctx context.Context, sessionID string) (<-chan Progress, error)
}

// Driver is everything the driver app needs.
type Driver interface {
	DriverPoints
	DriverSessions
	DriverReceipts
	ProgressFeed
}

// Site is a car park with its charge points, for the operator.
type Site struct {
	ID     string
	Name   string
	Points []Point
}

// Point is a charge point with its live state.
type Point struct {
	ID      string
	Label   string
	State   PointState
	PowerW  int64
	Faults  []string // human-readable, e.g. "RCD tripped"
	Session string   // the running session, if any
}

// Alarm is a latched safety alarm (fire alarm, SPD, over-temperature).
type Alarm struct {
	ID      string
	Site    string
	Kind    string // "fire", "spd", "temperature"
	Circuit string
	Since   time.Time
	Latched bool // waiting for an operator's reset
}

// LiveSession is a running session for the operator.
type LiveSession struct {
	ID        string
	Site      string
	Point     string
	Class     tariff.Class
	State     session.State
	PowerW    int64
	EnergyWh  int64
	Started   time.Time
	CostMinor int64
	Currency  string
}

// Limit is one limit acting on a site.
type Limit struct {
	Name      string // "fuse", "grid meter headroom", "EMS", "thermal", "§14a"
	CurrentMA int64
	Expires   time.Time // zero: no expiry
}

// SiteLoad is the load-management view of one site.
type SiteLoad struct {
	Site     string
	Limits   []Limit
	Binding  string   // the Name of the limit that bites
	PhaseMA  [3]int64 // measured load per phase
	BudgetMA int64    // the effective limit
}

// SiteTariff is a tariff in force at a site.
type SiteTariff struct {
	Site   string
	Tariff tariff.Tariff
}

// AccessCode is a code drivers type instead of paying.
type AccessCode struct {
	ID         string
	Code       string
	Kind       string // "flatrate", "visitor", "cost-centre"
	Label      string
	Group      string // user group (fleet, employees …); "" none
	UsesLeft   int64  // visitor: -1 unlimited
	ValidUntil time.Time
	Revoked    bool
	Uses       int64
}

// ReportLink is a downloadable report.
type ReportLink struct {
	ID    string
	Title string
	Kind  string // "csv", "xlsx"
}

// Report is a report file.
type Report struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Each operator interface takes the operator (tenant) of the logged-in
// user first: an implementation answers only for that operator's data.

// SiteView lists sites and charge points with live state.
type SiteView interface {
	Sites(ctx context.Context, operator string) ([]Site, error)
}

// AlarmControl lists and resets alarms.
type AlarmControl interface {
	Alarms(ctx context.Context, operator string) ([]Alarm, error)
	ResetAlarm(ctx context.Context, operator, alarmID, by string) error
}

// SessionView lists running sessions.
type SessionView interface {
	LiveSessions(ctx context.Context, operator string) ([]LiveSession, error)
}

// LoadViewer shows load management per site.
type LoadViewer interface {
	Load(ctx context.Context, operator string) ([]SiteLoad, error)
}

// TariffEditor lists and changes tariffs.
type TariffEditor interface {
	Tariffs(ctx context.Context, operator string) ([]SiteTariff, error)
	SaveTariff(ctx context.Context, operator string, t SiteTariff) error
}

// CodeAdmin lists, creates, regroups and revokes access codes.
type CodeAdmin interface {
	Codes(ctx context.Context, operator string) ([]AccessCode, error)
	CreateCode(ctx context.Context, operator string, c AccessCode) (AccessCode, error)
	// SetCodeGroup puts the operator's code id in user group ("" none);
	// ErrNotFound for another operator's code, ErrInvalidInput for a bad
	// group.
	SetCodeGroup(ctx context.Context, operator, id, group string) (AccessCode, error)
	RevokeCode(ctx context.Context, operator, id string) error
}

// ReportSource lists and produces reports.
type ReportSource interface {
	Reports(ctx context.Context, operator string) ([]ReportLink, error)
	Report(ctx context.Context, operator, id string) (Report, error)
}

// DayEnergy is the energy charged at one site on one day.
type DayEnergy struct {
	Day      time.Time // midnight, the operator's time zone
	Site     string
	EnergyWh int64
}

// EnergyChart gives the reports page its chart: kWh per day and site in
// [from, to).
type EnergyChart interface {
	EnergyPerDay(ctx context.Context, operator string, from, to time.Time) ([]DayEnergy, error)
}
