// Package memory is the dashboard store in memory, for tests and the demo:
// the same behaviour as dashboard/store, proven by the same conformance
// suite (storetest), lost at exit.
package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/brand"
)

// Store is an in-memory dashboard store; the zero value is not ready, use
// New.
type Store struct {
	mu       sync.Mutex // protects the fields below
	users    map[string]auth.User
	sessions map[string]auth.Session
	audit    []auth.AuditEntry
	themes   map[string]brand.Theme
	assets   map[string]brand.Asset
}

// Interface guards.
var (
	_ auth.UserStore    = (*Store)(nil)
	_ auth.SessionStore = (*Store)(nil)
	_ auth.AuditLog     = (*Store)(nil)
	_ brand.Store       = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{users: map[string]auth.User{}, sessions: map[string]auth.Session{},
		themes: map[string]brand.Theme{}, assets: map[string]brand.Asset{}}
}

// CreateUser stores u.
func (s *Store) CreateUser(_ context.Context, u auth.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("user %q: %w", u.ID, auth.ErrExists)
	}
	for _, o := range s.users {
		if o.Email == u.Email {
			return fmt.Errorf("user %q (%s): %w", u.ID, u.Email, auth.ErrExists)
		}
	}
	u.CreatedAt = u.CreatedAt.Truncate(time.Microsecond).UTC()
	s.users[u.ID] = u
	return nil
}

// UserByEmail returns the user with e-mail email.
func (s *Store) UserByEmail(_ context.Context, email string) (auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Email == email {
			return u, nil
		}
	}
	return auth.User{}, fmt.Errorf("user %s: %w", email, auth.ErrNotFound)
}

// UserByID returns the user id.
func (s *Store) UserByID(_ context.Context, id string) (auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return auth.User{}, fmt.Errorf("user %s: %w", id, auth.ErrNotFound)
	}
	return u, nil
}

// UpdateUser replaces every field but id, operator and creation time.
func (s *Store) UpdateUser(_ context.Context, u auth.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[u.ID]
	if !ok || old.Operator != u.Operator {
		return fmt.Errorf("update user %q of %q: %w", u.ID, u.Operator, auth.ErrNotFound)
	}
	for _, o := range s.users {
		if o.ID != u.ID && o.Email == u.Email {
			return fmt.Errorf("user %q (%s): %w", u.ID, u.Email, auth.ErrExists)
		}
	}
	u.CreatedAt = old.CreatedAt
	s.users[u.ID] = u
	return nil
}

// Users lists operator's users by e-mail.
func (s *Store) Users(_ context.Context, operator string) ([]auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var us []auth.User
	for _, u := range s.users {
		if u.Operator == operator {
			us = append(us, u)
		}
	}
	slices.SortFunc(us, func(a, b auth.User) int { return strings.Compare(a.Email, b.Email) })
	return us, nil
}

func trunc(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// CreateSession stores se.
func (s *Store) CreateSession(_ context.Context, se auth.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[se.Key]; ok {
		return fmt.Errorf("session: %w", auth.ErrExists)
	}
	if _, ok := s.users[se.UserID]; !ok {
		return fmt.Errorf("create session of %q: no such user", se.UserID)
	}
	se.CreatedAt, se.ExpiresAt, se.LastSeen = trunc(se.CreatedAt), trunc(se.ExpiresAt), trunc(se.LastSeen)
	s.sessions[se.Key] = se
	return nil
}

// SessionByKey returns the session with key.
func (s *Store) SessionByKey(_ context.Context, key string) (auth.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[key]
	if !ok {
		return auth.Session{}, fmt.Errorf("session: %w", auth.ErrNotFound)
	}
	return se, nil
}

// TouchSession sets the last-seen time of key.
func (s *Store) TouchSession(_ context.Context, key string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.sessions[key]; ok {
		se.LastSeen = trunc(at)
		s.sessions[key] = se
	}
	return nil
}

// DeleteSession removes key.
func (s *Store) DeleteSession(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, key)
	return nil
}

// DeleteUserSessions removes every session of userID.
func (s *Store) DeleteUserSessions(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, se := range s.sessions {
		if se.UserID == userID {
			delete(s.sessions, k)
		}
	}
	return nil
}

// PurgeSessions deletes ended sessions.
func (s *Store) PurgeSessions(_ context.Context, expiresBefore, idleBefore time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, se := range s.sessions {
		if !se.ExpiresAt.After(expiresBefore) || se.LastSeen.Before(idleBefore) {
			delete(s.sessions, k)
			n++
		}
	}
	return n, nil
}

// Append adds e to the audit log.
func (s *Store) Append(_ context.Context, e auth.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.At = trunc(e.At)
	s.audit = append(s.audit, e)
	return nil
}

// Entries returns operator's latest limit entries, newest first.
func (s *Store) Entries(_ context.Context, operator string, limit int) ([]auth.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var es []auth.AuditEntry
	for i := len(s.audit) - 1; i >= 0 && len(es) < limit; i-- {
		if s.audit[i].Operator == operator {
			es = append(es, s.audit[i])
		}
	}
	return es, nil
}

// Theme returns operator's theme.
func (s *Store) Theme(_ context.Context, operator string) (brand.Theme, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.themes[operator]
	if !ok {
		return brand.Theme{}, fmt.Errorf("theme of %q: %w", operator, brand.ErrNotFound)
	}
	return t, nil
}

// SaveTheme stores t.
func (s *Store) SaveTheme(_ context.Context, t brand.Theme) error {
	if err := t.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.UpdatedAt = trunc(t.UpdatedAt)
	s.themes[t.Operator] = t
	return nil
}

// PutAsset stores a once per hash.
func (s *Store) PutAsset(_ context.Context, a brand.Asset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.assets[a.Hash]; !ok {
		a.CreatedAt = trunc(a.CreatedAt)
		a.Data = slices.Clone(a.Data)
		s.assets[a.Hash] = a
	}
	return nil
}

// Asset returns the asset with hash.
func (s *Store) Asset(_ context.Context, hash string) (brand.Asset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.assets[hash]
	if !ok {
		return brand.Asset{}, fmt.Errorf("asset %s: %w", hash, brand.ErrNotFound)
	}
	return a, nil
}
