package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Errors callers branch on with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid catalog entry")
	ErrExists   = errors.New("already exists")
)

// Operator runs sites and sells their energy; it is the seller on the
// invoice and the payee of its sessions' payments.
type Operator struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Address       string `json:"address"`
	VATID         string `json:"vatId,omitempty"`
	TaxNumber     string `json:"taxNumber,omitempty"`
	Currency      string `json:"currency"`      // ISO 4217
	HoldMinor     int64  `json:"holdMinor"`     // the payment hold per session, the session's cost cap
	InvoicePrefix string `json:"invoicePrefix"` // e.g. "PG-"
	TimeZone      string `json:"timeZone"`      // receipts' times, e.g. Europe/Berlin
	PayeeAccount  string `json:"payeeAccount,omitempty"`
	FeeFixedMinor int64  `json:"feeFixedMinor,omitempty"`
	FeeBP         int64  `json:"feeBp,omitempty"`
}

// Payee is where the operator's money goes at the provider.
func (o Operator) Payee() payment.Payee {
	return payment.Payee{Account: o.PayeeAccount, Fee: payment.Fee{FixedMinor: o.FeeFixedMinor, BP: o.FeeBP}}
}

// Validate checks an operator on its own.
func (o Operator) Validate() error {
	if err := checkID(o.ID); err != nil {
		return fmt.Errorf("operator %q: %w: id %w", o.ID, ErrInvalid, err)
	}
	if o.Name == "" || o.Address == "" {
		return fmt.Errorf("operator %q: %w: name and address required (the invoice's seller)", o.ID, ErrInvalid)
	}
	if _, err := tariff.Exponent(o.Currency); err != nil {
		return fmt.Errorf("operator %q: %w: %w", o.ID, ErrInvalid, err)
	}
	if o.HoldMinor <= 0 || o.HoldMinor > tariff.MaxUnitPriceMinor {
		return fmt.Errorf("operator %q: %w: hold %d not in 1..%d", o.ID, ErrInvalid, o.HoldMinor, tariff.MaxUnitPriceMinor)
	}
	if o.FeeFixedMinor < 0 || o.FeeBP < 0 || o.FeeBP > 10000 {
		return fmt.Errorf("operator %q: %w: fee %d + %d bp", o.ID, ErrInvalid, o.FeeFixedMinor, o.FeeBP)
	}
	if o.TimeZone != "" {
		if _, err := time.LoadLocation(o.TimeZone); err != nil {
			return fmt.Errorf("operator %q: %w: time zone: %w", o.ID, ErrInvalid, err)
		}
	}
	return nil
}

// Site is a car park of an operator.
type Site struct {
	ID       string `json:"id"` // the edge's site id (MQTT topic level); unique across operators
	Operator string `json:"operator"`
	Name     string `json:"name"`
	Address  string `json:"address"`
	// Coordinates in micro-degrees (WGS 84), for the BNetzA register.
	LatE6 int64 `json:"latE6"`
	LonE6 int64 `json:"lonE6"`
	// Register is the site's entry in the BNetzA charging-point register
	// (LSV §5); nil: the site is not reported (not public).
	Register *Register `json:"register,omitempty"`
}

// Register is what the BNetzA register needs of a site besides its
// coordinates: the structured address and the commissioning date.
type Register struct {
	Street         string    `json:"street"`
	HouseNumber    string    `json:"houseNumber"`
	AddressExtra   string    `json:"addressExtra,omitempty"`
	PostalCode     string    `json:"postalCode"`
	City           string    `json:"city"`
	State          string    `json:"state"`    // Bundesland
	District       string    `json:"district"` // Kreis/kreisfreie Stadt
	CommissionedOn time.Time `json:"commissionedOn"`
}

// Validate checks a site on its own.
func (s Site) Validate() error {
	if err := checkID(s.ID); err != nil {
		return fmt.Errorf("site %q: %w: id %w", s.ID, ErrInvalid, err)
	}
	if s.Operator == "" || s.Address == "" {
		return fmt.Errorf("site %q: %w: operator and address required", s.ID, ErrInvalid)
	}
	if s.LatE6 < -90_000_000 || s.LatE6 > 90_000_000 || s.LonE6 < -180_000_000 || s.LonE6 > 180_000_000 {
		return fmt.Errorf("site %q: %w: coordinates %d, %d out of range", s.ID, ErrInvalid, s.LatE6, s.LonE6)
	}
	return nil
}

// Point is a charge point of a site.
type Point struct {
	Site      string   `json:"site"`
	ID        string   `json:"id"` // the edge's charge point id
	Operator  string   `json:"operator"`
	Meter     string   `json:"meter"` // its Eichrecht meter (device id at the edge)
	EVSEID    string   `json:"evseId,omitempty"`
	MaxPowerW int64    `json:"maxPowerW"`
	Tariffs   []string `json:"tariffs"`         // tariff ids offered here, in the order shown
	Plugs     []string `json:"plugs,omitempty"` // plug types as the register names them, e.g. "AC Steckdose Typ 2"
}

// Validate checks a point on its own.
func (p Point) Validate() error {
	if err := checkID(p.ID); err != nil {
		return fmt.Errorf("point %s/%q: %w: id %w", p.Site, p.ID, ErrInvalid, err)
	}
	if p.Site == "" || p.Operator == "" || p.Meter == "" {
		return fmt.Errorf("point %s/%s: %w: site, operator and meter required", p.Site, p.ID, ErrInvalid)
	}
	if len(p.Tariffs) == 0 {
		return fmt.Errorf("point %s/%s: %w: no tariff offered", p.Site, p.ID, ErrInvalid)
	}
	if p.MaxPowerW < 0 {
		return fmt.Errorf("point %s/%s: %w: max power %d W", p.Site, p.ID, ErrInvalid, p.MaxPowerW)
	}
	return nil
}

// Tariff is one version of an operator's tariff.
type Tariff struct {
	Operator  string        `json:"operator"`
	Version   int64         `json:"version"` // 1, 2, … per (operator, id); set by PutTariff
	Retired   bool          `json:"retired"` // no longer offered
	CreatedAt time.Time     `json:"createdAt"`
	Tariff    tariff.Tariff `json:"tariff"` // Tariff.ID is the tariff's id
}

// Validate checks a tariff version on its own.
func (t Tariff) Validate() error {
	if t.Operator == "" {
		return fmt.Errorf("tariff %q: %w: no operator", t.Tariff.ID, ErrInvalid)
	}
	if err := checkID(t.Tariff.ID); err != nil {
		return fmt.Errorf("tariff %q: %w: id %w", t.Tariff.ID, ErrInvalid, err)
	}
	if err := t.Tariff.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Token is an operator API token as stored: its hash, never the secret.
type Token struct {
	ID        string    `json:"id"`
	Operator  string    `json:"operator"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"` // HashSecret of the secret
	CreatedAt time.Time `json:"createdAt"`
}

// Start is a driver's start of a session through the API: the
// client-chosen id that makes the start idempotent, the session it made
// and the hash of the driver's per-session token.
type Start struct {
	ClientID  string    `json:"clientId"` // chosen by the driver app; unique per point
	Session   string    `json:"session"`
	Operator  string    `json:"operator"`
	Site      string    `json:"site"`
	Point     string    `json:"point"`
	Email     string    `json:"email"`
	Method    string    `json:"method"`         // "payment" or "code"
	Code      string    `json:"code,omitempty"` // access code id
	TokenHash string    `json:"-"`              // HashSecret of the driver token
	HoldID    string    `json:"holdId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Store keeps the catalog. Implementations are safe for concurrent use;
// every method taking an operator filters by it in the query.
type Store interface {
	PutOperator(ctx context.Context, o Operator) error
	Operator(ctx context.Context, id string) (Operator, error)
	PutSite(ctx context.Context, s Site) error
	Site(ctx context.Context, operator, id string) (Site, error)
	Sites(ctx context.Context, operator string) ([]Site, error)
	PutPoint(ctx context.Context, p Point) error
	// Point finds a point by site and id (the driver's lookup, not scoped).
	Point(ctx context.Context, site, id string) (Point, error)
	Points(ctx context.Context, operator string) ([]Point, error)

	// PutTariff stores t as the next version of (t.Operator, t.Tariff.ID)
	// and returns it with Version and CreatedAt set. A tariff equal to the
	// current version is not stored again (the current one is returned).
	PutTariff(ctx context.Context, t Tariff, now time.Time) (Tariff, error)
	// Tariff returns the current version, or ErrNotFound (also if retired).
	Tariff(ctx context.Context, operator, id string) (Tariff, error)
	// Tariffs returns the current versions of the operator's tariffs.
	Tariffs(ctx context.Context, operator string) ([]Tariff, error)
	// RetireTariff stores a retired version; running sessions keep theirs.
	RetireTariff(ctx context.Context, operator, id string, now time.Time) error

	AddToken(ctx context.Context, t Token) error
	// KeepTokens deletes every token whose id is not in ids (the config
	// is the list of valid tokens) and returns how many it deleted.
	KeepTokens(ctx context.Context, ids []string) (int64, error)
	// TokenByHash returns the token whose hash is hash, or ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)

	// PutStart stores s unless (s.Site, s.Point, s.ClientID) is stored;
	// it returns the stored start and whether it is new.
	PutStart(ctx context.Context, s Start) (Start, bool, error)
	// StartOf finds a session's start (the driver's lookup, checked
	// against the driver token by the caller).
	StartOf(ctx context.Context, session string) (Start, error)
	// OperatorStart finds a session's start if it is operator's.
	OperatorStart(ctx context.Context, operator, session string) (Start, error)
	StartByHold(ctx context.Context, holdID string) (Start, error)
	SetStartHold(ctx context.Context, session, holdID string) error
	// Starts returns the operator's starts, newest first (limit 0: all).
	Starts(ctx context.Context, operator string, limit int) ([]Start, error)

	payment.EventLog
}

// NewSecret returns a random bearer secret with prefix (e.g. "pgo_" for
// operator tokens) and its hash.
func NewSecret(prefix string) (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("new secret: %w", err)
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret), nil
}

// HashSecret is how secrets are stored: SHA-256, hex. The secrets are 256
// random bits, so a fast hash is enough.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return fmt.Sprintf("%x", sum)
}

// SecretMatches compares secret with a stored hash in constant time.
func SecretMatches(secret, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(hash)) == 1
}

// NewID returns a random id with prefix, 128 bits.
func NewID(prefix string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// checkID accepts ids usable in URLs and MQTT topics.
func checkID(s string) error {
	if s == "" || len(s) > 64 {
		return errors.New("must have 1..64 characters")
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return fmt.Errorf("%q: only letters, digits, '-', '_' and '.'", s)
	}
	return nil
}

// CheckID is checkID for other packages' ids (access codes, client ids).
func CheckID(s string) error { return checkID(s) }
