package accesscode_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/payment"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func hash(s string) string { return catalog.HashSecret(s) }

func TestValidate(t *testing.T) {
	ok := accesscode.Code{ID: "c1", Operator: "op", Hash: hash("x"), CreatedAt: t0}
	for name, tc := range map[string]struct {
		edit func(c *accesscode.Code)
		ok   bool
	}{
		"flatrate with period":    {func(c *accesscode.Code) { c.Kind, c.ValidUntil = accesscode.KindFlatrate, t0.AddDate(0, 1, 0) }, true},
		"flatrate without period": {func(c *accesscode.Code) { c.Kind = accesscode.KindFlatrate }, false},
		"flatrate with max uses": {func(c *accesscode.Code) {
			c.Kind, c.ValidUntil, c.MaxUses = accesscode.KindFlatrate, t0.AddDate(0, 1, 0), 3
		}, false},
		"visitor n uses":      {func(c *accesscode.Code) { c.Kind, c.MaxUses = accesscode.KindVisitor, 3 }, true},
		"visitor until":       {func(c *accesscode.Code) { c.Kind, c.ValidUntil = accesscode.KindVisitor, t0.Add(time.Hour) }, true},
		"visitor unlimited":   {func(c *accesscode.Code) { c.Kind = accesscode.KindVisitor }, false},
		"cost centre":         {func(c *accesscode.Code) { c.Kind, c.CostCentre = accesscode.KindCostCentre, "KST-4711" }, true},
		"cost centre without": {func(c *accesscode.Code) { c.Kind = accesscode.KindCostCentre }, false},
		"unknown kind":        {func(c *accesscode.Code) { c.Kind = "free" }, false},
		"no hash":             {func(c *accesscode.Code) { c.Kind, c.MaxUses, c.Hash = accesscode.KindVisitor, 1, "" }, false},
		"until before from": {func(c *accesscode.Code) {
			c.Kind, c.ValidFrom, c.ValidUntil = accesscode.KindVisitor, t0, t0.Add(-time.Hour)
		}, false},
		"bad id":     {func(c *accesscode.Code) { c.Kind, c.MaxUses, c.ID = accesscode.KindVisitor, 1, "a b" }, false},
		"with group": {func(c *accesscode.Code) { c.Kind, c.MaxUses, c.Group = accesscode.KindVisitor, 1, "fleet" }, true},
		"public group": {func(c *accesscode.Code) {
			c.Kind, c.MaxUses, c.Group = accesscode.KindVisitor, 1, "Public"
		}, false},
		"negative max uses": {func(c *accesscode.Code) {
			c.Kind, c.MaxUses, c.ValidUntil = accesscode.KindVisitor, -1, t0.Add(time.Hour)
		}, false},
	} {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, accesscode.ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", name, err)
		}
	}
}

// TestRedeemCountsAndExpires runs random sequences of redemptions (new and
// retried sessions, at random times, with revocations) against a model:
// uses = distinct sessions redeemed, never above MaxUses, none at or after
// ValidUntil, before ValidFrom or after the revocation; a retried session
// never counts twice and always succeeds.
func TestRedeemCountsAndExpires(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := accesscode.Code{ID: "c", Operator: "op", Kind: accesscode.KindVisitor, Hash: hash("s"),
			ValidFrom: t0.Add(time.Duration(rapid.IntRange(0, 10).Draw(t, "from_min")) * time.Minute),
			MaxUses:   int64(rapid.IntRange(0, 5).Draw(t, "max"))}
		if c.MaxUses == 0 || rapid.Bool().Draw(t, "has_until") {
			c.ValidUntil = c.ValidFrom.Add(time.Duration(rapid.IntRange(1, 120).Draw(t, "until_min")) * time.Minute)
		}
		used := map[string]bool{}
		revokedAt := time.Time{}
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		now := t0
		for i := range steps {
			now = now.Add(time.Duration(rapid.IntRange(0, 15).Draw(t, "advance_min")) * time.Minute)
			if rapid.IntRange(0, 9).Draw(t, "revoke") == 0 && revokedAt.IsZero() {
				c.Revoked, revokedAt = true, now
			}
			session := rapid.SampledFrom([]string{"s1", "s2", "s3", "s4", "s5", "s6", "s7"}).Draw(t, "session")
			before := c
			next, err := accesscode.Redeem(c, used[session], now)
			switch {
			case used[session]:
				if err != nil || next.Uses != before.Uses {
					t.Fatalf("step %d: retried session %s: %v, uses %d → %d", i, session, err, before.Uses, next.Uses)
				}
			case err == nil:
				if c.Revoked || now.Before(c.ValidFrom) || (!c.ValidUntil.IsZero() && !now.Before(c.ValidUntil)) ||
					(c.MaxUses > 0 && before.Uses >= c.MaxUses) {
					t.Fatalf("step %d: redeemed at %v: code %+v", i, now, before)
				}
				if next.Uses != before.Uses+1 {
					t.Fatalf("step %d: uses %d → %d", i, before.Uses, next.Uses)
				}
				used[session] = true
			default:
				if next.Uses != before.Uses {
					t.Fatalf("step %d: refused (%v) but counted", i, err)
				}
			}
			c = next
			if c.Uses != int64(len(used)) {
				t.Fatalf("step %d: uses %d, distinct sessions %d", i, c.Uses, len(used))
			}
			if c.MaxUses > 0 && c.Uses > c.MaxUses {
				t.Fatalf("step %d: uses %d above max %d", i, c.Uses, c.MaxUses)
			}
		}
	})
}

func TestRedeemableErrors(t *testing.T) {
	base := accesscode.Code{ID: "c", Kind: accesscode.KindVisitor, ValidFrom: t0, ValidUntil: t0.Add(time.Hour), MaxUses: 2}
	for name, tc := range map[string]struct {
		edit func(c *accesscode.Code)
		at   time.Time
		want error
	}{
		"ok":            {func(*accesscode.Code) {}, t0, nil},
		"revoked":       {func(c *accesscode.Code) { c.Revoked = true }, t0, accesscode.ErrRevoked},
		"not yet":       {func(*accesscode.Code) {}, t0.Add(-time.Second), accesscode.ErrNotYetValid},
		"at the end":    {func(*accesscode.Code) {}, t0.Add(time.Hour), accesscode.ErrExpired},
		"used up":       {func(c *accesscode.Code) { c.Uses = 2 }, t0, accesscode.ErrUsedUp},
		"one use left":  {func(c *accesscode.Code) { c.Uses = 1 }, t0, nil},
		"no limit left": {func(c *accesscode.Code) { c.MaxUses, c.Uses = 0, 99 }, t0, nil},
	} {
		c := base
		tc.edit(&c)
		if err := c.Redeemable(tc.at); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// provider records which calls reach the real provider.
type provider struct{ calls []string }

func (p *provider) Authorize(_ context.Context, r payment.AuthorizeRequest) (payment.Hold, error) {
	p.calls = append(p.calls, "authorize "+r.Reference)
	return payment.Hold{ID: "pi_1", Status: payment.StatusPending}, nil
}
func (p *provider) Confirm(_ context.Context, r payment.ConfirmRequest) (payment.Hold, error) {
	p.calls = append(p.calls, "confirm "+r.HoldID)
	return payment.Hold{ID: r.HoldID}, nil
}
func (p *provider) Capture(_ context.Context, r payment.CaptureRequest) (payment.Capture, error) {
	p.calls = append(p.calls, "capture "+r.HoldID)
	return payment.Capture{ID: "ch_1"}, nil
}
func (p *provider) Cancel(_ context.Context, r payment.CancelRequest) (payment.Hold, error) {
	p.calls = append(p.calls, "cancel "+r.HoldID)
	return payment.Hold{}, nil
}

func TestCheckGroup(t *testing.T) {
	for g, ok := range map[string]bool{
		"":                      true,
		"fleet":                 true,
		"employees":             true,
		"Fuhrpark Süd":          true,
		strings.Repeat("ä", 40): true,
		strings.Repeat("a", 41): false,
		" fleet":                false,
		"fleet ":                false,
		"fl\neet":               false,
		"a\x00b":                false,
		"\xff":                  false,
		"public":                false,
		"PUBLIC":                false,
		"visitors (north gate)": true,
	} {
		err := accesscode.CheckGroup(g)
		if (err == nil) != ok {
			t.Errorf("CheckGroup(%q) = %v, want ok %v", g, err, ok)
		}
		if err != nil && !errors.Is(err, accesscode.ErrInvalid) {
			t.Errorf("CheckGroup(%q): %v does not wrap ErrInvalid", g, err)
		}
	}
	for _, g := range accesscode.SuggestedGroups() {
		if err := accesscode.CheckGroup(g); err != nil {
			t.Errorf("suggested group %q: %v", g, err)
		}
	}
}

func TestApplyGroup(t *testing.T) {
	c := accesscode.Code{ID: "c1", Operator: "op", Kind: accesscode.KindVisitor, MaxUses: 2, Group: "fleet", Hash: hash("x")}
	got, err := c.Apply(accesscode.Edit{MaxUses: 2, Group: "employees"})
	if err != nil || got.Group != "employees" {
		t.Errorf("apply group: %+v %v", got, err)
	}
	if got, err = c.Apply(accesscode.Edit{MaxUses: 2}); err != nil || got.Group != "" {
		t.Errorf("clear group: %+v %v", got, err)
	}
	if _, err = c.Apply(accesscode.Edit{MaxUses: 2, Group: "public"}); !errors.Is(err, accesscode.ErrInvalid) {
		t.Errorf("group public: %v", err)
	}
}

// FuzzCheckGroup: a group CheckGroup accepts is short, printable and
// trimmed, whatever bytes an operator sends.
func FuzzCheckGroup(f *testing.F) {
	for _, s := range []string{"", "fleet", " x", "\x00", "public", strings.Repeat("z", 41)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, g string) {
		if accesscode.CheckGroup(g) != nil || g == "" {
			return
		}
		if !utf8.ValidString(g) || utf8.RuneCountInString(g) > accesscode.MaxGroupLen || strings.TrimSpace(g) != g ||
			strings.EqualFold(g, accesscode.GroupPublic) || strings.ContainsFunc(g, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("accepted %q", g)
		}
	})
}
