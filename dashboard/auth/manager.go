package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Config sets the session and rate-limit rules; zero fields take defaults.
type Config struct {
	IdleTimeout     time.Duration // default 30 min
	MaxLifetime     time.Duration // default 12 h
	MaxFailuresIP   int           // per IP and window; default 20
	MaxFailuresUser int           // per e-mail and window; default 5
	FailureWindow   time.Duration // default 15 min
	PasswordCost    int           // bcrypt cost of new hashes; default bcrypt.DefaultCost
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.MaxLifetime <= 0 {
		c.MaxLifetime = 12 * time.Hour
	}
	if c.MaxFailuresIP <= 0 {
		c.MaxFailuresIP = 20
	}
	if c.MaxFailuresUser <= 0 {
		c.MaxFailuresUser = 5
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 15 * time.Minute
	}
	if c.PasswordCost == 0 {
		c.PasswordCost = bcrypt.DefaultCost
	}
	return c
}

// Manager logs users in and out and resolves session cookies.
type Manager struct {
	users    UserStore
	sessions SessionStore
	audit    AuditLog
	cfg      Config
	byIP     *Limiter
	byUser   *Limiter
	dummy    string // a real bcrypt hash compared when the user is unknown
}

// NewManager returns a Manager over the stores.
func NewManager(users UserStore, sessions SessionStore, audit AuditLog, cfg Config) (*Manager, error) {
	if users == nil || sessions == nil || audit == nil {
		return nil, errors.New("auth: users, sessions and audit stores are required")
	}
	cfg = cfg.withDefaults()
	if cfg.PasswordCost < bcrypt.MinCost || cfg.PasswordCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: password cost %d not in %d..%d", cfg.PasswordCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	pw, err := RandomToken(18)
	if err != nil {
		return nil, err
	}
	dummy, err := HashPasswordCost(pw, cfg.PasswordCost)
	if err != nil {
		return nil, err
	}
	return &Manager{
		users: users, sessions: sessions, audit: audit, cfg: cfg, dummy: dummy,
		byIP:   NewLimiter(cfg.MaxFailuresIP, cfg.FailureWindow),
		byUser: NewLimiter(cfg.MaxFailuresUser, cfg.FailureWindow),
	}, nil
}

// HashPassword hashes pw at the manager's cost.
func (m *Manager) HashPassword(pw string) (string, error) {
	return HashPasswordCost(pw, m.cfg.PasswordCost)
}

// Login checks email and password and makes a new session. oldID is the
// session id the browser sent (may be ""): it is deleted, so an id planted
// before the login never becomes a logged-in one. It returns the new
// cookie id. Too many failures from ip or for email give ErrRateLimited
// before the password is looked at.
func (m *Manager) Login(ctx context.Context, email, password, ip, oldID string, now time.Time) (string, Session, User, error) {
	if oldID != "" {
		if err := m.sessions.DeleteSession(ctx, SessionKey(oldID)); err != nil {
			return "", Session{}, User{}, fmt.Errorf("login: drop the old session: %w", err)
		}
	}
	norm, err := NormalizeEmail(email)
	if err != nil {
		norm = email // still counted against the IP
	}
	userKey := "user:" + norm
	if !m.byIP.Allowed("ip:"+ip, now) || !m.byUser.Allowed(userKey, now) {
		return "", Session{}, User{}, ErrRateLimited
	}
	u, err := m.users.UserByEmail(ctx, norm)
	switch {
	case errors.Is(err, ErrNotFound):
		CheckPassword(m.dummy, password) // same time as a wrong password
		m.fail(ip, userKey, now)
		return "", Session{}, User{}, ErrBadLogin
	case err != nil:
		return "", Session{}, User{}, fmt.Errorf("login: %w", err)
	}
	if !CheckPassword(u.PasswordHash, password) || u.Disabled {
		m.fail(ip, userKey, now)
		_ = m.audit.Append(ctx, AuditEntry{At: now, Operator: u.Operator, UserID: u.ID, Action: "login.failed", Target: u.Email, IP: ip})
		return "", Session{}, User{}, ErrBadLogin
	}
	m.byUser.Reset(userKey)
	id, err := RandomToken(32)
	if err != nil {
		return "", Session{}, User{}, err
	}
	csrf, err := RandomToken(32)
	if err != nil {
		return "", Session{}, User{}, err
	}
	s := Session{Key: SessionKey(id), UserID: u.ID, CSRF: csrf, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(m.cfg.MaxLifetime)}
	if err := m.sessions.CreateSession(ctx, s); err != nil {
		return "", Session{}, User{}, fmt.Errorf("login: store session: %w", err)
	}
	if err := m.audit.Append(ctx, AuditEntry{At: now, Operator: u.Operator, UserID: u.ID, Action: "login", Target: u.Email, IP: ip}); err != nil {
		return "", Session{}, User{}, fmt.Errorf("login: audit: %w", err)
	}
	return id, s, u, nil
}

func (m *Manager) fail(ip, userKey string, now time.Time) {
	m.byIP.Fail("ip:"+ip, now)
	m.byUser.Fail(userKey, now)
}

// Authenticate resolves a cookie id at now: the session and its user, or
// ErrSessionEnded when it is unknown, idle too long, past its lifetime or
// its user is disabled. A valid session's last-seen time moves to now.
func (m *Manager) Authenticate(ctx context.Context, id string, now time.Time) (Session, User, error) {
	if id == "" {
		return Session{}, User{}, ErrSessionEnded
	}
	key := SessionKey(id)
	s, err := m.sessions.SessionByKey(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return Session{}, User{}, ErrSessionEnded
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("session: %w", err)
	}
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeen) > m.cfg.IdleTimeout {
		_ = m.sessions.DeleteSession(ctx, key)
		return Session{}, User{}, ErrSessionEnded
	}
	u, err := m.users.UserByID(ctx, s.UserID)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		_ = m.sessions.DeleteSession(ctx, key)
		return Session{}, User{}, ErrSessionEnded
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("session user: %w", err)
	}
	if now.Sub(s.LastSeen) > time.Minute { // one write a minute, not one per request
		if err := m.sessions.TouchSession(ctx, key, now); err != nil {
			return Session{}, User{}, fmt.Errorf("session touch: %w", err)
		}
		s.LastSeen = now
	}
	return s, u, nil
}

// Logout ends the session with cookie id.
func (m *Manager) Logout(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := m.sessions.DeleteSession(ctx, SessionKey(id)); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// Purge deletes the sessions that ended by now (a job calls it, e.g.
// hourly); Authenticate refuses them anyway, this only frees the rows.
func (m *Manager) Purge(ctx context.Context, now time.Time) (int64, error) {
	n, err := m.sessions.PurgeSessions(ctx, now, now.Add(-m.cfg.IdleTimeout))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}

// EndUserSessions logs userID out everywhere (after a role change or when
// the user is disabled).
func (m *Manager) EndUserSessions(ctx context.Context, userID string) error {
	if err := m.sessions.DeleteUserSessions(ctx, userID); err != nil {
		return fmt.Errorf("end sessions of %q: %w", userID, err)
	}
	return nil
}
