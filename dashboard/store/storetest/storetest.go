// Package storetest is the conformance suite of the dashboard stores:
// every implementation (memory, SQLite, PostgreSQL) runs Run and behaves
// the same.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/brand"
)

// Stores is what a dashboard store implements.
type Stores interface {
	auth.UserStore
	auth.SessionStore
	auth.AuditLog
	brand.Store
}

// Run runs the suite; open returns a fresh, empty store per call.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	t.Run("users", func(t *testing.T) { users(t, open(t)) })
	t.Run("sessions", func(t *testing.T) { sessions(t, open(t)) })
	t.Run("audit", func(t *testing.T) { audit(t, open(t)) })
	t.Run("branding", func(t *testing.T) { branding(t, open(t)) })
}

var t0 = time.Date(2026, 12, 6, 15, 0, 0, 123456000, time.UTC)

func user(id, op, email string, role auth.Role) auth.User {
	return auth.User{ID: id, Operator: op, Email: email, Name: "N " + id, Role: role, PasswordHash: "$2a$10$hash" + id, CreatedAt: t0}
}

func users(t *testing.T, s Stores) {
	ctx := context.Background()
	a := user("u1", "op1", "a@example.com", auth.RoleAdmin)
	b := user("u2", "op1", "b@example.com", auth.RoleViewer)
	c := user("u3", "op2", "c@example.com", auth.RoleOperator)
	for _, u := range []auth.User{b, a, c} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("create %s: %v", u.ID, err)
		}
	}
	if err := s.CreateUser(ctx, user("u4", "op2", "a@example.com", auth.RoleViewer)); !errors.Is(err, auth.ErrExists) {
		t.Errorf("taken e-mail: got %v, want ErrExists", err)
	}
	if err := s.CreateUser(ctx, user("u1", "op2", "z@example.com", auth.RoleViewer)); !errors.Is(err, auth.ErrExists) {
		t.Errorf("taken id: got %v, want ErrExists", err)
	}
	if err := s.CreateUser(ctx, user("u5", "op2", "z@example.com", auth.Role("root"))); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("bad role: got %v, want ErrInvalid", err)
	}
	got, err := s.UserByEmail(ctx, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Errorf("UserByEmail (-want +got):\n%s", d)
	}
	if _, err := s.UserByID(ctx, "nobody"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("unknown id: got %v, want ErrNotFound", err)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("unknown e-mail: got %v, want ErrNotFound", err)
	}
	list, err := s.Users(ctx, "op1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]auth.User{a, b}, list); d != "" {
		t.Errorf("Users(op1) (-want +got):\n%s", d)
	}
	b.Role, b.Disabled, b.Name = auth.RoleOperator, true, "Bea"
	if err := s.UpdateUser(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByID(ctx, "u2"); !cmp.Equal(b, got) {
		t.Errorf("after update: %+v, want %+v", got, b)
	}
	other := c
	other.Operator = "op1" // tenant isolation: op1 cannot update op2's user
	if err := s.UpdateUser(ctx, other); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("update across operators: got %v, want ErrNotFound", err)
	}
	b.Email = "c@example.com"
	if err := s.UpdateUser(ctx, b); !errors.Is(err, auth.ErrExists) {
		t.Errorf("update to a taken e-mail: got %v, want ErrExists", err)
	}
}

func sessions(t *testing.T, s Stores) {
	ctx := context.Background()
	if err := s.CreateUser(ctx, user("u1", "op1", "a@example.com", auth.RoleAdmin)); err != nil {
		t.Fatal(err)
	}
	se := auth.Session{Key: auth.SessionKey("id1"), UserID: "u1", CSRF: "tok", CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, se); !errors.Is(err, auth.ErrExists) {
		t.Errorf("same key twice: got %v, want ErrExists", err)
	}
	got, err := s.SessionByKey(ctx, se.Key)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(se, got); d != "" {
		t.Errorf("SessionByKey (-want +got):\n%s", d)
	}
	later := t0.Add(5 * time.Minute)
	if err := s.TouchSession(ctx, se.Key, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SessionByKey(ctx, se.Key); !got.LastSeen.Equal(later) {
		t.Errorf("last seen %v, want %v", got.LastSeen, later)
	}
	se2 := se
	se2.Key = auth.SessionKey("id2")
	if err := s.CreateSession(ctx, se2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, se.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByKey(ctx, se.Key); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("deleted session: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, se.Key); err != nil {
		t.Errorf("deleting an absent session: %v", err)
	}
	// Purge: "old" and id2 (from above) expired at t0+1h, "idle" idle, "live" live.
	for _, p := range []struct {
		id         string
		last, ends time.Time
	}{{"old", t0, t0.Add(time.Hour)}, {"idle", t0.Add(10 * time.Minute), t0.Add(5 * time.Hour)}, {"live", t0.Add(50 * time.Minute), t0.Add(5 * time.Hour)}} {
		if err := s.CreateSession(ctx, auth.Session{Key: auth.SessionKey(p.id), UserID: "u1", CSRF: "c", CreatedAt: t0, LastSeen: p.last, ExpiresAt: p.ends}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeSessions(ctx, t0.Add(time.Hour), t0.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("purged %d sessions, want 3 (two expired, one idle)", n)
	}
	if _, err := s.SessionByKey(ctx, auth.SessionKey("live")); err != nil {
		t.Errorf("live session purged: %v", err)
	}
	if err := s.DeleteUserSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByKey(ctx, se2.Key); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("after DeleteUserSessions: got %v, want ErrNotFound", err)
	}
}

func audit(t *testing.T, s Stores) {
	ctx := context.Background()
	var want []auth.AuditEntry
	for i, op := range []string{"op1", "op2", "op1", "op1"} {
		e := auth.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Operator: op, UserID: "u1", Action: "tariff.update", Target: "t" + string(rune('0'+i)), Detail: "x", IP: "192.0.2.1"}
		if err := s.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		if op == "op1" {
			want = append([]auth.AuditEntry{e}, want...)
		}
	}
	got, err := s.Entries(ctx, "op1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want[:2], got); d != "" {
		t.Errorf("Entries(op1, 2) (-want +got):\n%s", d)
	}
}

func branding(t *testing.T, s Stores) {
	ctx := context.Background()
	if _, err := s.Theme(ctx, "op1"); !errors.Is(err, brand.ErrNotFound) {
		t.Errorf("no theme yet: got %v, want ErrNotFound", err)
	}
	th := brand.Default("op1")
	th.Name, th.ImprintURL, th.UpdatedAt = "Stadtwerke", "https://example.com/imprint", t0
	if err := s.SaveTheme(ctx, th); err != nil {
		t.Fatal(err)
	}
	th.PrimaryColor = "#112233"
	if err := s.SaveTheme(ctx, th); err != nil {
		t.Fatal(err)
	}
	got, err := s.Theme(ctx, "op1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(th, got); d != "" {
		t.Errorf("Theme (-want +got):\n%s", d)
	}
	bad := th
	bad.PrimaryColor = "red; background:url(x)"
	if err := s.SaveTheme(ctx, bad); !errors.Is(err, brand.ErrInvalid) {
		t.Errorf("bad colour: got %v, want ErrInvalid", err)
	}
	a := brand.Asset{Hash: "ab00000000000000000000000000000000000000000000000000000000000cd", Operator: "op1", ContentType: "image/png", Data: []byte{1, 2, 3}, CreatedAt: t0}
	if err := s.PutAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	dup := a
	dup.Data = []byte{9}
	if err := s.PutAsset(ctx, dup); err != nil {
		t.Fatalf("same hash again: %v", err)
	}
	gotA, err := s.Asset(ctx, a.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, gotA); d != "" {
		t.Errorf("Asset (-want +got):\n%s", d)
	}
	if _, err := s.Asset(ctx, "00"); !errors.Is(err, brand.ErrNotFound) {
		t.Errorf("unknown asset: got %v, want ErrNotFound", err)
	}
}
