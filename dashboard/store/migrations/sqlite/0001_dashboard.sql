-- Operator dashboard: users, sessions, audit log, white label.
-- Times are Unix microseconds (INTEGER) in both dialects.
CREATE TABLE dashboard_users (
	id            TEXT PRIMARY KEY,
	operator      TEXT NOT NULL,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX dashboard_users_operator ON dashboard_users (operator, email);

CREATE TABLE dashboard_sessions (
	key        TEXT PRIMARY KEY, -- SHA-256 of the cookie id, never the id
	user_id    TEXT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL
) STRICT;
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);

CREATE TABLE dashboard_audit (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	at       INTEGER NOT NULL,
	operator TEXT NOT NULL,
	user_id  TEXT NOT NULL,
	action   TEXT NOT NULL,
	target   TEXT NOT NULL,
	detail   TEXT NOT NULL,
	ip       TEXT NOT NULL
) STRICT;
CREATE INDEX dashboard_audit_operator ON dashboard_audit (operator, id);

CREATE TABLE dashboard_themes (
	operator        TEXT PRIMARY KEY,
	name            TEXT NOT NULL,
	primary_color   TEXT NOT NULL,
	accent_color    TEXT NOT NULL,
	logo_hash       TEXT NOT NULL,
	background_hash TEXT NOT NULL,
	imprint_url     TEXT NOT NULL,
	terms_url       TEXT NOT NULL,
	updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE dashboard_assets (
	hash         TEXT PRIMARY KEY, -- SHA-256 of data
	operator     TEXT NOT NULL,
	content_type TEXT NOT NULL,
	data         BLOB NOT NULL,
	created_at   INTEGER NOT NULL
) STRICT;
