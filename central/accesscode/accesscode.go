package accesscode

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parkgrid/parkgrid/central/catalog"
)

// Errors callers branch on with errors.Is.
var (
	ErrNotFound    = errors.New("access code not found")
	ErrInvalid     = errors.New("invalid access code")
	ErrRevoked     = errors.New("access code revoked")
	ErrNotYetValid = errors.New("access code not yet valid")
	ErrExpired     = errors.New("access code expired")
	ErrUsedUp      = errors.New("access code used up")
)

// Kind is what a code grants. Stored: append only.
type Kind string

// Kinds.
const (
	KindFlatrate   Kind = "flatrate"
	KindVisitor    Kind = "visitor"
	KindCostCentre Kind = "costcentre"
)

// Code is an access code as stored (its secret only as a hash).
type Code struct {
	ID         string    `json:"id"`
	Operator   string    `json:"operator"`
	Kind       Kind      `json:"kind"`
	Label      string    `json:"label"`                // who or what it is for
	Group      string    `json:"group,omitempty"`      // user group (fleet, employees …); "" none
	CostCentre string    `json:"costCentre,omitempty"` // costcentre: the centre billed
	ValidFrom  time.Time `json:"validFrom"`            // zero: from its creation
	ValidUntil time.Time `json:"validUntil,omitzero"`  // zero: no end (not for flatrate)
	MaxUses    int64     `json:"maxUses"`              // visitor: 0 = until ValidUntil only
	Uses       int64     `json:"uses"`
	Revoked    bool      `json:"revoked"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	CreatedAt  time.Time `json:"createdAt"`
	Hash       string    `json:"-"` // catalog.HashSecret of the secret
}

// User groups: what an operator groups its codes (and so the drivers who
// use them) by. A code's group is free text; these are the suggested
// ones. GroupPublic is the group of sessions started without a code (card,
// PayPal); no code can be in it.
const (
	GroupFleet     = "fleet"
	GroupEmployees = "employees"
	GroupVisitors  = "visitors"
	GroupPublic    = "public"
	MaxGroupLen    = 40 // characters
)

// SuggestedGroups are the groups offered when a code is made.
func SuggestedGroups() []string { return []string{GroupFleet, GroupEmployees, GroupVisitors} }

// CheckGroup checks a code's group: "" (none) or 1 to MaxGroupLen
// printable characters without leading or trailing space, and not
// GroupPublic.
func CheckGroup(g string) error {
	switch {
	case g == "":
		return nil
	case !utf8.ValidString(g) || utf8.RuneCountInString(g) > MaxGroupLen:
		return fmt.Errorf("%w: group must be at most %d characters", ErrInvalid, MaxGroupLen)
	case strings.TrimSpace(g) != g:
		return fmt.Errorf("%w: group %q has leading or trailing space", ErrInvalid, g)
	case strings.EqualFold(g, GroupPublic):
		return fmt.Errorf("%w: group %q is reserved for sessions without a code", ErrInvalid, g)
	}
	for _, r := range g {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: group %q has a control or non-printable character", ErrInvalid, g)
		}
	}
	return nil
}

// Use is one redemption of a code.
type Use struct {
	Code    string    `json:"code"`
	Session string    `json:"session"`
	At      time.Time `json:"at"`
}

// Validate checks a new code.
func (c Code) Validate() error {
	if c.Uses != 0 {
		return fmt.Errorf("access code %s: %w: a new code has no uses (%d)", c.ID, ErrInvalid, c.Uses)
	}
	return c.check()
}

// Edit is what an operator may change of a code: not its kind, secret or
// uses.
type Edit struct {
	Label      string    `json:"label"`
	Group      string    `json:"group,omitempty"` // "" removes the code from its group
	CostCentre string    `json:"costCentre,omitempty"`
	ValidFrom  time.Time `json:"validFrom,omitzero"`
	ValidUntil time.Time `json:"validUntil,omitzero"`
	MaxUses    int64     `json:"maxUses,omitempty"`
}

// Apply returns c with e applied, or why that code would be invalid.
// Lowering MaxUses to the uses so far makes the code used up.
func (c Code) Apply(e Edit) (Code, error) {
	c.Label, c.Group, c.CostCentre, c.ValidUntil, c.MaxUses = e.Label, e.Group, e.CostCentre, e.ValidUntil, e.MaxUses
	if !e.ValidFrom.IsZero() {
		c.ValidFrom = e.ValidFrom
	}
	return c, c.check()
}

func (c Code) check() error {
	if err := catalog.CheckID(c.ID); err != nil {
		return fmt.Errorf("access code %q: %w: id %w", c.ID, ErrInvalid, err)
	}
	if c.Operator == "" || len(c.Hash) != 64 {
		return fmt.Errorf("access code %s: %w: operator and hash required", c.ID, ErrInvalid)
	}
	if !c.ValidUntil.IsZero() && !c.ValidUntil.After(c.ValidFrom) {
		return fmt.Errorf("access code %s: %w: valid until %v not after valid from %v", c.ID, ErrInvalid, c.ValidUntil, c.ValidFrom)
	}
	if c.MaxUses < 0 {
		return fmt.Errorf("access code %s: %w: max uses %d", c.ID, ErrInvalid, c.MaxUses)
	}
	if err := CheckGroup(c.Group); err != nil {
		return fmt.Errorf("access code %s: %w", c.ID, err)
	}
	switch c.Kind {
	case KindFlatrate:
		if c.ValidUntil.IsZero() || c.MaxUses != 0 {
			return fmt.Errorf("access code %s: %w: a flatrate needs a period (valid_until) and no use limit", c.ID, ErrInvalid)
		}
	case KindVisitor:
		if c.MaxUses == 0 && c.ValidUntil.IsZero() {
			return fmt.Errorf("access code %s: %w: a visitor code needs max uses or valid_until", c.ID, ErrInvalid)
		}
	case KindCostCentre:
		if c.CostCentre == "" {
			return fmt.Errorf("access code %s: %w: a cost-centre code needs its cost centre", c.ID, ErrInvalid)
		}
	default:
		return fmt.Errorf("access code %s: %w: kind %q is not flatrate, visitor or costcentre", c.ID, ErrInvalid, c.Kind)
	}
	return nil
}

// Redeemable reports why c cannot start a session at now, or nil.
func (c Code) Redeemable(now time.Time) error {
	switch {
	case c.Revoked:
		return fmt.Errorf("access code %s: %w", c.ID, ErrRevoked)
	case now.Before(c.ValidFrom):
		return fmt.Errorf("access code %s: %w (from %s)", c.ID, ErrNotYetValid, c.ValidFrom.UTC().Format(time.RFC3339))
	case !c.ValidUntil.IsZero() && !now.Before(c.ValidUntil):
		return fmt.Errorf("access code %s: %w (%s)", c.ID, ErrExpired, c.ValidUntil.UTC().Format(time.RFC3339))
	case c.MaxUses > 0 && c.Uses >= c.MaxUses:
		return fmt.Errorf("access code %s: %w (%d of %d)", c.ID, ErrUsedUp, c.Uses, c.MaxUses)
	}
	return nil
}

// Redeem is the rule Store.Redeem applies: a session already counted on c
// gets c back unchanged (a retried start); otherwise c must be redeemable,
// and its use is counted.
func Redeem(c Code, alreadyUsed bool, now time.Time) (Code, error) {
	if alreadyUsed {
		return c, nil
	}
	if err := c.Redeemable(now); err != nil {
		return c, err
	}
	c.Uses++
	return c, nil
}

// Store keeps codes and their uses. Every method filters by operator.
type Store interface {
	Create(ctx context.Context, c Code) error
	Code(ctx context.Context, operator, id string) (Code, error)
	Codes(ctx context.Context, operator string) ([]Code, error)
	Revoke(ctx context.Context, operator, id string, now time.Time) (Code, error)
	// Update applies e to the operator's code (Code.Apply) and stores it.
	Update(ctx context.Context, operator, id string, e Edit) (Code, error)
	// Redeem finds the operator's code whose secret hashes to hash,
	// applies Redeem for session and stores the use, atomically.
	Redeem(ctx context.Context, operator, hash, session string, now time.Time) (Code, error)
	Uses(ctx context.Context, operator, id string) ([]Use, error)
}
