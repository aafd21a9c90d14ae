package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/brand"
)

const userCols = `id, operator, email, name, role, password_hash, disabled, created_at`

func scanUser(row interface{ Scan(...any) error }) (auth.User, error) {
	var u auth.User
	var created int64
	var role string
	if err := row.Scan(&u.ID, &u.Operator, &u.Email, &u.Name, &role, &u.PasswordHash, &u.Disabled, &created); err != nil {
		return auth.User{}, err
	}
	u.Role, u.CreatedAt = auth.Role(role), fromMicros(created)
	return u, nil
}

// CreateUser stores u; a taken id or e-mail is auth.ErrExists.
func (s *DB) CreateUser(ctx context.Context, u auth.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO dashboard_users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Operator, u.Email, u.Name, string(u.Role), u.PasswordHash, u.Disabled, micros(u.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("user %q (%s): %w", u.ID, u.Email, auth.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.ID, err)
	}
	return nil
}

// UserByEmail returns the user with e-mail email.
func (s *DB) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM dashboard_users WHERE email = ?`), email))
	if err != nil {
		return auth.User{}, notFound(err, "user "+email)
	}
	return u, nil
}

// UserByID returns the user id.
func (s *DB) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM dashboard_users WHERE id = ?`), id))
	if err != nil {
		return auth.User{}, notFound(err, "user "+id)
	}
	return u, nil
}

// UpdateUser replaces every field but id, operator and creation time.
func (s *DB) UpdateUser(ctx context.Context, u auth.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE dashboard_users SET email = ?, name = ?, role = ?, password_hash = ?, disabled = ?
		WHERE id = ? AND operator = ?`), u.Email, u.Name, string(u.Role), u.PasswordHash, u.Disabled, u.ID, u.Operator)
	if isUnique(err) {
		return fmt.Errorf("user %q (%s): %w", u.ID, u.Email, auth.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("update user %q: %w", u.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update user %q of %q: %w", u.ID, u.Operator, auth.ErrNotFound)
	}
	return nil
}

// Users lists operator's users by e-mail.
func (s *DB) Users(ctx context.Context, operator string) ([]auth.User, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+userCols+` FROM dashboard_users WHERE operator = ? ORDER BY email`), operator)
	if err != nil {
		return nil, fmt.Errorf("users of %q: %w", operator, err)
	}
	defer rows.Close()
	var us []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("users of %q: %w", operator, err)
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

// CreateSession stores a new session.
func (s *DB) CreateSession(ctx context.Context, se auth.Session) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO dashboard_sessions (key, user_id, csrf, created_at, expires_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)`),
		se.Key, se.UserID, se.CSRF, micros(se.CreatedAt), micros(se.ExpiresAt), micros(se.LastSeen))
	if isUnique(err) {
		return fmt.Errorf("session: %w", auth.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create session of %q: %w", se.UserID, err)
	}
	return nil
}

// SessionByKey returns the session with key.
func (s *DB) SessionByKey(ctx context.Context, key string) (auth.Session, error) {
	var se auth.Session
	var c, e, l int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT key, user_id, csrf, created_at, expires_at, last_seen FROM dashboard_sessions WHERE key = ?`), key).
		Scan(&se.Key, &se.UserID, &se.CSRF, &c, &e, &l)
	if err != nil {
		return auth.Session{}, notFound(err, "session")
	}
	se.CreatedAt, se.ExpiresAt, se.LastSeen = fromMicros(c), fromMicros(e), fromMicros(l)
	return se, nil
}

// TouchSession sets the last-seen time of key.
func (s *DB) TouchSession(ctx context.Context, key string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE dashboard_sessions SET last_seen = ? WHERE key = ?`), micros(at), key); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes key; an absent key is no error.
func (s *DB) DeleteSession(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM dashboard_sessions WHERE key = ?`), key); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of userID.
func (s *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM dashboard_sessions WHERE user_id = ?`), userID); err != nil {
		return fmt.Errorf("delete sessions of %q: %w", userID, err)
	}
	return nil
}

// PurgeSessions deletes ended sessions.
func (s *DB) PurgeSessions(ctx context.Context, expiresBefore, idleBefore time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM dashboard_sessions WHERE expires_at <= ? OR last_seen < ?`),
		micros(expiresBefore), micros(idleBefore))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}

// Append adds e to the audit log.
func (s *DB) Append(ctx context.Context, e auth.AuditEntry) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO dashboard_audit (at, operator, user_id, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		micros(e.At), e.Operator, e.UserID, e.Action, e.Target, e.Detail, e.IP)
	if err != nil {
		return fmt.Errorf("audit %s by %q: %w", e.Action, e.UserID, err)
	}
	return nil
}

// Entries returns operator's latest limit entries, newest first.
func (s *DB) Entries(ctx context.Context, operator string, limit int) ([]auth.AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, operator, user_id, action, target, detail, ip FROM dashboard_audit
		WHERE operator = ? ORDER BY id DESC LIMIT ?`), operator, limit)
	if err != nil {
		return nil, fmt.Errorf("audit of %q: %w", operator, err)
	}
	defer rows.Close()
	var es []auth.AuditEntry
	for rows.Next() {
		var e auth.AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Operator, &e.UserID, &e.Action, &e.Target, &e.Detail, &e.IP); err != nil {
			return nil, fmt.Errorf("audit of %q: %w", operator, err)
		}
		e.At = fromMicros(at)
		es = append(es, e)
	}
	return es, rows.Err()
}

// Theme returns operator's theme, brand.ErrNotFound when never saved.
func (s *DB) Theme(ctx context.Context, operator string) (brand.Theme, error) {
	t := brand.Theme{Operator: operator}
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT name, primary_color, accent_color, logo_hash, background_hash, imprint_url, terms_url, updated_at
		FROM dashboard_themes WHERE operator = ?`), operator).
		Scan(&t.Name, &t.PrimaryColor, &t.AccentColor, &t.LogoHash, &t.BackgroundHash, &t.ImprintURL, &t.TermsURL, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return brand.Theme{}, fmt.Errorf("theme of %q: %w", operator, brand.ErrNotFound)
	}
	if err != nil {
		return brand.Theme{}, fmt.Errorf("theme of %q: %w", operator, err)
	}
	t.UpdatedAt = fromMicros(at)
	return t, nil
}

// SaveTheme stores t, replacing the operator's previous theme.
func (s *DB) SaveTheme(ctx context.Context, t brand.Theme) error {
	if err := t.Validate(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO dashboard_themes
		(operator, name, primary_color, accent_color, logo_hash, background_hash, imprint_url, terms_url, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (operator) DO UPDATE SET name = excluded.name, primary_color = excluded.primary_color,
		accent_color = excluded.accent_color, logo_hash = excluded.logo_hash, background_hash = excluded.background_hash,
		imprint_url = excluded.imprint_url, terms_url = excluded.terms_url, updated_at = excluded.updated_at`),
		t.Operator, t.Name, t.PrimaryColor, t.AccentColor, t.LogoHash, t.BackgroundHash, t.ImprintURL, t.TermsURL, micros(t.UpdatedAt))
	if err != nil {
		return fmt.Errorf("save theme of %q: %w", t.Operator, err)
	}
	return nil
}

// PutAsset stores a; storing the same hash again changes nothing.
func (s *DB) PutAsset(ctx context.Context, a brand.Asset) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO dashboard_assets (hash, operator, content_type, data, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`), a.Hash, a.Operator, a.ContentType, a.Data, micros(a.CreatedAt))
	if err != nil {
		return fmt.Errorf("put asset %s: %w", a.Hash, err)
	}
	return nil
}

// Asset returns the asset with hash.
func (s *DB) Asset(ctx context.Context, hash string) (brand.Asset, error) {
	a := brand.Asset{Hash: hash}
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT operator, content_type, data, created_at FROM dashboard_assets WHERE hash = ?`), hash).
		Scan(&a.Operator, &a.ContentType, &a.Data, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return brand.Asset{}, fmt.Errorf("asset %s: %w", hash, brand.ErrNotFound)
	}
	if err != nil {
		return brand.Asset{}, fmt.Errorf("asset %s: %w", hash, err)
	}
	a.CreatedAt = fromMicros(at)
	return a, nil
}
