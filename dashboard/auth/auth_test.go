package auth_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/store/memory"
)

var t0 = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

func newManager(t *testing.T) (*auth.Manager, *memory.Store) {
	t.Helper()
	st := memory.New()
	h, err := auth.HashPasswordCost("correct horse battery", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.User{
		{ID: "u1", Operator: "op1", Email: "ada@example.com", Name: "Ada", Role: auth.RoleAdmin, PasswordHash: h},
		{ID: "u2", Operator: "op1", Email: "off@example.com", Name: "Off", Role: auth.RoleViewer, PasswordHash: h, Disabled: true},
	} {
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	m, err := auth.NewManager(st, st, st, auth.Config{MaxFailuresUser: 3, MaxFailuresIP: 5, FailureWindow: 10 * time.Minute, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

func TestLoginRotatesSessionID(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t)
	first, _, _, err := m.Login(ctx, "ada@example.com", "correct horse battery", "192.0.2.1", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	// An attacker plants first in a victim's browser; the victim logs in.
	second, _, _, err := m.Login(ctx, "ADA@example.com ", "correct horse battery", "192.0.2.1", first, t0)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("login kept the session id the browser had")
	}
	if _, _, err := m.Authenticate(ctx, first, t0); !errors.Is(err, auth.ErrSessionEnded) {
		t.Errorf("the planted id still opens a session: %v", err)
	}
	if _, u, err := m.Authenticate(ctx, second, t0); err != nil || u.ID != "u1" {
		t.Errorf("new id: user %q, err %v", u.ID, err)
	}
}

func TestLoginFailures(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t)
	for _, c := range []struct{ name, email, pw string }{
		{"wrong password", "ada@example.com", "wrong password!"},
		{"unknown user", "eve@example.com", "correct horse battery"},
		{"disabled user", "off@example.com", "correct horse battery"},
		{"not an address", "ada", "correct horse battery"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, _, err := m.Login(ctx, c.email, c.pw, fmt.Sprint("198.51.100.", len(c.name)), "", t0); !errors.Is(err, auth.ErrBadLogin) {
				t.Errorf("got %v, want ErrBadLogin", err)
			}
		})
	}
}

func TestLoginRateLimitPerUser(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t)
	for i := range 3 { // from different IPs: the per-user limit still counts
		ip := fmt.Sprint("203.0.113.", i)
		if _, _, _, err := m.Login(ctx, "ada@example.com", "guess guess "+ip, ip, "", t0); !errors.Is(err, auth.ErrBadLogin) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	_, _, _, err := m.Login(ctx, "ada@example.com", "correct horse battery", "203.0.113.99", "", t0.Add(time.Minute))
	if !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("4th try with the right password inside the window: got %v, want ErrRateLimited", err)
	}
	if _, _, _, err := m.Login(ctx, "ada@example.com", "correct horse battery", "203.0.113.99", "", t0.Add(11*time.Minute)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLoginRateLimitPerIP(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t)
	for i := range 5 { // different e-mails from one IP
		if _, _, _, err := m.Login(ctx, fmt.Sprintf("x%d@example.com", i), "whatever123", "192.0.2.7", "", t0); !errors.Is(err, auth.ErrBadLogin) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if _, _, _, err := m.Login(ctx, "ada@example.com", "correct horse battery", "192.0.2.7", "", t0); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("6th try from the IP: got %v, want ErrRateLimited", err)
	}
	if _, _, _, err := m.Login(ctx, "ada@example.com", "correct horse battery", "192.0.2.8", "", t0); err != nil {
		t.Fatalf("another IP: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	ctx := context.Background()
	m, st := newManager(t)
	id, _, _, err := m.Login(ctx, "ada@example.com", "correct horse battery", "192.0.2.1", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	// Active every 20 minutes: the idle timeout (30 min) never bites …
	at := t0
	for at.Before(t0.Add(11*time.Hour + 40*time.Minute)) {
		at = at.Add(20 * time.Minute)
		if _, _, err := m.Authenticate(ctx, id, at); err != nil {
			t.Fatalf("at %v: %v", at.Sub(t0), err)
		}
	}
	// … but the absolute lifetime (12 h) does.
	if _, _, err := m.Authenticate(ctx, id, t0.Add(12*time.Hour)); !errors.Is(err, auth.ErrSessionEnded) {
		t.Errorf("after 12 h: got %v, want ErrSessionEnded", err)
	}
	id2, _, _, _ := m.Login(ctx, "ada@example.com", "correct horse battery", "192.0.2.1", "", t0)
	if _, _, err := m.Authenticate(ctx, id2, t0.Add(31*time.Minute)); !errors.Is(err, auth.ErrSessionEnded) {
		t.Errorf("idle 31 min: got %v, want ErrSessionEnded", err)
	}
	id3, _, _, _ := m.Login(ctx, "ada@example.com", "correct horse battery", "192.0.2.1", "", t0)
	if err := m.Logout(ctx, id3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Authenticate(ctx, id3, t0); !errors.Is(err, auth.ErrSessionEnded) {
		t.Errorf("after logout: got %v, want ErrSessionEnded", err)
	}
	es, _ := st.Entries(ctx, "op1", 10)
	if len(es) != 3 || es[0].Action != "login" {
		t.Errorf("audit: %+v, want 3 logins", es)
	}
}

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		have, need auth.Role
		want       bool
	}{
		{auth.RoleAdmin, auth.RoleViewer, true},
		{auth.RoleAdmin, auth.RoleAdmin, true},
		{auth.RoleOperator, auth.RoleAdmin, false},
		{auth.RoleOperator, auth.RoleOperator, true},
		{auth.RoleViewer, auth.RoleOperator, false},
		{auth.Role("root"), auth.RoleViewer, false},
		{auth.Role(""), auth.RoleViewer, false},
	} {
		if got := c.have.Allows(c.need); got != c.want {
			t.Errorf("%q allows %q: %v, want %v", c.have, c.need, got, c.want)
		}
	}
}

func TestHashPassword(t *testing.T) {
	if _, err := auth.HashPassword("short"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("short password: %v", err)
	}
	h, err := auth.HashPassword("long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if !auth.CheckPassword(h, "long enough password") || auth.CheckPassword(h, "long enough passwore") {
		t.Error("CheckPassword does not tell right from wrong")
	}
	if auth.TokenEqual("", "") || !auth.TokenEqual("a", "a") || auth.TokenEqual("a", "b") {
		t.Error("TokenEqual")
	}
}
