package command

import (
	"context"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// Scopes of a Limit: what it caps.
const (
	ScopeConnection = reading.ScopeConnection // the grid connection: chargers plus the other load metered there (default)
	ScopeEV         = reading.ScopeEV         // the chargers alone
)

// Limit is a site limit for SetLimit. A nil dimension limits nothing; 0 is
// a limit (no charging). TTL > 0 keeps it in force that long from the
// moment the edge accepts it (the edge clamps it to its own maximum, and
// Effective.Expires says what it took); TTL 0 withdraws the limit in force
// and then no dimension may be set.
type Limit struct {
	MaxCurrentMA *[3]int64 // per grid phase L1, L2, L3
	MaxPowerW    *int64    // over all phases
	Scope        string    // "" or ScopeConnection, or ScopeEV
	TTL          time.Duration
}

// Effective is what the chargers of a site may draw at its grid connection
// after a SetLimit, as the edge answers it (the "effective" limit of its
// local EMS API): the input that binds, per phase and, when a power bound
// is in force, in total; Expires and RequestID name the EMS limit in force
// (zero and "" when there is none, e.g. after a withdrawal).
type Effective struct {
	Source       string // "ems" while an EMS limit binds; else "fuse", "grid", "thermal", "14a", "safe-budget" …
	MaxCurrentMA [3]int64
	MaxPowerW    *int64
	Expires      time.Time
	RequestID    string // "central/<command id>" for a limit set through central
}

// SetLimit puts l in force at site (or withdraws the limit in force, TTL
// 0) and returns the site's limit after it. The site has one EMS limit:
// the last one set, by central or by the site's local EMS, is in force.
// Errors: ErrInvalid before anything is sent, ErrNoGateway, ErrRefused
// with the edge's reason, ErrNoReply.
func (c *Commander) SetLimit(ctx context.Context, site string, l Limit) (Effective, error) {
	sl := reading.SiteLimit{MaxCurrentMA: l.MaxCurrentMA, MaxPowerW: l.MaxPowerW, Scope: l.Scope, TTL: l.TTL}
	if l.TTL < 0 || l.TTL%time.Second != 0 {
		return Effective{}, fmt.Errorf("set limit at %s: %w: ttl %s: want whole seconds ≥ 0", site, ErrInvalid, l.TTL)
	}
	if _, err := reading.ParseSiteLimit(sl.Args()); err != nil {
		return Effective{}, fmt.Errorf("set limit at %s: %w: %v", site, ErrInvalid, err)
	}
	res, err := c.Send(ctx, site, reading.KindSetLimit, sl.Args())
	if err != nil {
		return Effective{}, fmt.Errorf("set limit at %s: %w", site, err)
	}
	eff, err := reading.ParseLimitInForce(res)
	if err != nil {
		return Effective{}, fmt.Errorf("set limit at %s: the edge's answer: %w", site, err)
	}
	return Effective(eff), nil
}

// ResetSafety releases the safety latch at site; who (the operator) and
// why go to the edge's audit log. The edge refuses while the alarm is
// still present (or when nothing is latched): ErrRefused with its reason.
func (c *Commander) ResetSafety(ctx context.Context, site, who, why string) error {
	r := reading.SafetyReset{Who: who, Why: why}
	if _, err := reading.ParseSafetyReset(r.Args()); err != nil {
		return fmt.Errorf("reset safety at %s: %w: %v", site, ErrInvalid, err)
	}
	if _, err := c.Send(ctx, site, reading.KindSafetyReset, r.Args()); err != nil {
		return fmt.Errorf("reset safety at %s: %w", site, err)
	}
	return nil
}
