package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Errors callers branch on with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrInvalid      = errors.New("invalid")
	ErrBadLogin     = errors.New("wrong e-mail or password")
	ErrRateLimited  = errors.New("too many login attempts")
	ErrForbidden    = errors.New("role does not allow this")
	ErrSessionEnded = errors.New("session expired or logged out")
)

// Role is what a user may do. Stored: append only, never rename a value.
type Role string

// Roles, weakest first.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether r has at least the rights of need.
func (r Role) Allows(need Role) bool { return r.Valid() && r.rank() >= need.rank() }

// User is one person who logs into the dashboard of one operator.
type User struct {
	ID           string
	Operator     string // tenant: the user sees only this operator's data
	Email        string // login name, lower case
	Name         string
	Role         Role
	PasswordHash string // bcrypt
	Disabled     bool
	CreatedAt    time.Time
}

// Validate checks the fields a store needs.
func (u User) Validate() error {
	switch {
	case u.ID == "":
		return fmt.Errorf("user: %w: no id", ErrInvalid)
	case u.Operator == "":
		return fmt.Errorf("user %q: %w: no operator", u.ID, ErrInvalid)
	case !u.Role.Valid():
		return fmt.Errorf("user %q: %w: role %q is not admin, operator or viewer", u.ID, ErrInvalid, u.Role)
	case u.PasswordHash == "":
		return fmt.Errorf("user %q: %w: no password hash", u.ID, ErrInvalid)
	}
	if _, err := NormalizeEmail(u.Email); err != nil {
		return fmt.Errorf("user %q: %w", u.ID, err)
	}
	return nil
}

// NormalizeEmail trims and lower-cases a bare address, refusing anything
// that is not one ("Name <a@b>" included).
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", fmt.Errorf("e-mail %q: %w: not a plain address", s, ErrInvalid)
	}
	return s, nil
}

// Session is a logged-in browser. Key is SessionKey of the cookie's id.
type Session struct {
	Key       string
	UserID    string
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time // absolute end; the idle end is LastSeen + idle time
	LastSeen  time.Time
}

// AuditEntry is one change someone made: who, what, when.
type AuditEntry struct {
	At       time.Time
	Operator string
	UserID   string // "" for the system
	Action   string // e.g. "tariff.update", "alarm.reset", "login"
	Target   string // what was changed, e.g. a tariff or point id
	Detail   string // human-readable; never a secret
	IP       string
}

// UserStore keeps users.
type UserStore interface {
	CreateUser(ctx context.Context, u User) error                // ErrExists for a taken id or e-mail
	UserByEmail(ctx context.Context, email string) (User, error) // ErrNotFound
	UserByID(ctx context.Context, id string) (User, error)       // ErrNotFound
	UpdateUser(ctx context.Context, u User) error                // ErrNotFound
	Users(ctx context.Context, operator string) ([]User, error)  // by e-mail
}

// SessionStore keeps sessions by key.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	SessionByKey(ctx context.Context, key string) (Session, error) // ErrNotFound
	TouchSession(ctx context.Context, key string, at time.Time) error
	DeleteSession(ctx context.Context, key string) error // no error when absent
	DeleteUserSessions(ctx context.Context, userID string) error
	// PurgeSessions deletes sessions past expiresBefore (absolute end) or
	// last seen before idleBefore, and returns how many.
	PurgeSessions(ctx context.Context, expiresBefore, idleBefore time.Time) (int64, error)
}

// AuditLog records changes, append only.
type AuditLog interface {
	Append(ctx context.Context, e AuditEntry) error
	Entries(ctx context.Context, operator string, limit int) ([]AuditEntry, error) // newest first
}

// HashPassword returns the bcrypt hash of a password of 10..72 bytes at
// bcrypt's default cost.
func HashPassword(pw string) (string, error) { return HashPasswordCost(pw, bcrypt.DefaultCost) }

// HashPasswordCost is HashPassword at a bcrypt cost of
// bcrypt.MinCost..bcrypt.MaxCost; tests use the minimum for speed.
func HashPasswordCost(pw string, cost int) (string, error) {
	if len(pw) < 10 || len(pw) > 72 {
		return "", fmt.Errorf("password: %w: must be 10 to 72 bytes long", ErrInvalid)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches hash in constant time per hash.
func CheckPassword(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// RandomToken returns n random bytes, base64url without padding.
func RandomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SessionKey is what the stores keep of a session id: its SHA-256, hex.
func SessionKey(id string) string {
	s := sha256.Sum256([]byte(id))
	return hex.EncodeToString(s[:])
}

// TokenEqual compares two tokens in constant time; empty never matches.
func TokenEqual(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
