package sqlstore_test

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/accesscode/sqlstore"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqldb/sqldbtest"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) *sqlstore.Store {
		return migrated(t, sqldbtest.SQLite(t), sqldb.SQLite)
	})
}

func TestPostgres(t *testing.T) {
	open := sqldbtest.Postgres(t)
	run(t, func(t *testing.T) *sqlstore.Store { return migrated(t, open(t), sqldb.Postgres) })
}

func migrated(t *testing.T, db *sql.DB, dialect string) *sqlstore.Store {
	if err := sqlstore.Migrate(t.Context(), db, dialect, t0); err != nil {
		t.Fatal(err)
	}
	return sqlstore.New(db, dialect)
}

func visitor(op, id, secret string, maxUses int64) accesscode.Code {
	return accesscode.Code{ID: id, Operator: op, Kind: accesscode.KindVisitor, Label: "guest", MaxUses: maxUses,
		ValidFrom: t0, ValidUntil: t0.Add(24 * time.Hour), Hash: catalog.HashSecret(secret), CreatedAt: t0}
}

func run(t *testing.T, open func(t *testing.T) *sqlstore.Store) {
	t.Run("RedeemCountsOncePerSession", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Create(ctx, visitor("a", "v1", "secret-1", 2)); err != nil {
			t.Fatal(err)
		}
		h := catalog.HashSecret("secret-1")
		for _, sess := range []string{"s1", "s1", "s2"} {
			if _, err := s.Redeem(ctx, "a", h, sess, t0.Add(time.Minute)); err != nil {
				t.Fatalf("redeem %s: %v", sess, err)
			}
		}
		if _, err := s.Redeem(ctx, "a", h, "s3", t0.Add(time.Minute)); !errors.Is(err, accesscode.ErrUsedUp) {
			t.Errorf("third session: %v, want ErrUsedUp", err)
		}
		c, err := s.Code(ctx, "a", "v1")
		if err != nil || c.Uses != 2 {
			t.Errorf("uses %d (%v), want 2", c.Uses, err)
		}
		uses, err := s.Uses(ctx, "a", "v1")
		if err != nil || len(uses) != 2 || uses[0].Session != "s1" || uses[1].Session != "s2" {
			t.Errorf("uses %+v (%v)", uses, err)
		}
	})
	t.Run("ScopedByOperator", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Create(ctx, visitor("a", "v1", "secret-1", 2)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Redeem(ctx, "b", catalog.HashSecret("secret-1"), "s1", t0); !errors.Is(err, accesscode.ErrNotFound) {
			t.Errorf("b redeems a's code: %v", err)
		}
		if _, err := s.Code(ctx, "b", "v1"); !errors.Is(err, accesscode.ErrNotFound) {
			t.Errorf("b reads a's code: %v", err)
		}
		if _, err := s.Revoke(ctx, "b", "v1", t0); !errors.Is(err, accesscode.ErrNotFound) {
			t.Errorf("b revokes a's code: %v", err)
		}
		if list, _ := s.Codes(ctx, "b"); len(list) != 0 {
			t.Errorf("b lists %v", list)
		}
	})
	t.Run("RevokeAndExpiry", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Create(ctx, visitor("a", "v1", "secret-1", 0)); err != nil {
			t.Fatal(err)
		}
		h := catalog.HashSecret("secret-1")
		if _, err := s.Redeem(ctx, "a", h, "late", t0.Add(24*time.Hour)); !errors.Is(err, accesscode.ErrExpired) {
			t.Errorf("after valid_until: %v", err)
		}
		c, err := s.Revoke(ctx, "a", "v1", t0.Add(time.Minute))
		if err != nil || !c.Revoked || !c.RevokedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("revoke %+v %v", c, err)
		}
		if _, err := s.Redeem(ctx, "a", h, "s1", t0.Add(2*time.Minute)); !errors.Is(err, accesscode.ErrRevoked) {
			t.Errorf("revoked: %v", err)
		}
		if c, _ := s.Revoke(ctx, "a", "v1", t0.Add(time.Hour)); !c.RevokedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("second revoke moved the time to %v", c.RevokedAt)
		}
	})
	t.Run("ConcurrentRedeemsNeverExceedMax", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Create(ctx, visitor("a", "v1", "secret-1", 5)); err != nil {
			t.Fatal(err)
		}
		h := catalog.HashSecret("secret-1")
		var (
			wg sync.WaitGroup
			mu sync.Mutex
			ok int
		)
		for i := range 20 {
			wg.Go(func() {
				_, err := s.Redeem(ctx, "a", h, fmt.Sprintf("s%d", i), t0)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if !errors.Is(err, accesscode.ErrUsedUp) {
					t.Errorf("redeem s%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		c, _ := s.Code(ctx, "a", "v1")
		uses, _ := s.Uses(ctx, "a", "v1")
		if ok != 5 || c.Uses != 5 || len(uses) != 5 {
			t.Errorf("successes %d, uses %d, use rows %d; want 5 each", ok, c.Uses, len(uses))
		}
	})
	t.Run("Update", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Create(ctx, visitor("a", "v1", "secret-1", 1)); err != nil {
			t.Fatal(err)
		}
		h := catalog.HashSecret("secret-1")
		if _, err := s.Redeem(ctx, "a", h, "s1", t0); err != nil {
			t.Fatal(err)
		}
		c, err := s.Update(ctx, "a", "v1", accesscode.Edit{Label: "two more", MaxUses: 3, ValidUntil: t0.Add(48 * time.Hour)})
		if err != nil || c.MaxUses != 3 || c.Uses != 1 || c.Label != "two more" || c.Hash != h || !c.ValidFrom.Equal(t0) {
			t.Fatalf("updated %+v, %v", c, err)
		}
		if _, err := s.Redeem(ctx, "a", h, "s2", t0.Add(30*time.Hour)); err != nil {
			t.Errorf("redeem after raising the limit and the end: %v", err)
		}
		if _, err := s.Update(ctx, "a", "v1", accesscode.Edit{}); !errors.Is(err, accesscode.ErrInvalid) {
			t.Errorf("visitor code without limit or end: %v", err)
		}
		if _, err := s.Update(ctx, "b", "v1", accesscode.Edit{MaxUses: 9}); !errors.Is(err, accesscode.ErrNotFound) {
			t.Errorf("b updates a's code: %v", err)
		}
	})
	t.Run("Group", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		fleet := visitor("a", "f1", "secret-1", 3)
		fleet.Group = "fleet"
		bad := visitor("a", "p1", "secret-2", 3)
		bad.Group = "public"
		if err := s.Create(ctx, bad); !errors.Is(err, accesscode.ErrInvalid) {
			t.Errorf("create in group public: %v", err)
		}
		for _, c := range []accesscode.Code{fleet, visitor("a", "g1", "secret-3", 3), visitor("b", "x1", "secret-4", 3)} {
			if err := s.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := s.Code(ctx, "a", "f1"); err != nil || c.Group != "fleet" {
			t.Errorf("stored group %q (%v)", c.Group, err)
		}
		c, err := s.Update(ctx, "a", "g1", accesscode.Edit{Label: "staff", Group: "employees", MaxUses: 3, ValidUntil: t0.Add(time.Hour)})
		if err != nil || c.Group != "employees" {
			t.Fatalf("update group: %+v %v", c, err)
		}
		if _, err := s.Update(ctx, "a", "g1", accesscode.Edit{Group: "bad\x00", MaxUses: 3}); !errors.Is(err, accesscode.ErrInvalid) {
			t.Errorf("bad group: %v", err)
		}
		if _, err := s.Update(ctx, "b", "f1", accesscode.Edit{Group: "mine", MaxUses: 3}); !errors.Is(err, accesscode.ErrNotFound) {
			t.Errorf("b regroups a's code: %v", err)
		}
		list, err := s.Codes(ctx, "a")
		got := map[string]string{}
		for _, c := range list {
			got[c.ID] = c.Group
		}
		if err != nil || len(got) != 2 || got["f1"] != "fleet" || got["g1"] != "employees" {
			t.Errorf("a's codes by group %v (%v)", got, err)
		}
		if list, _ := s.Codes(ctx, "b"); len(list) != 1 || list[0].Group != "" {
			t.Errorf("b's codes %+v", list)
		}
	})
	t.Run("HashOnlyStored", func(t *testing.T) {
		s := open(t)
		if err := s.Create(t.Context(), visitor("a", "v1", "secret-plain-text", 1)); err != nil {
			t.Fatal(err)
		}
		c, _ := s.Code(t.Context(), "a", "v1")
		if c.Hash != catalog.HashSecret("secret-plain-text") {
			t.Errorf("hash %q", c.Hash)
		}
	})
}
