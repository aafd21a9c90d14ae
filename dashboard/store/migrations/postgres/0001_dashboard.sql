-- Operator dashboard: users, sessions, audit log, white label.
-- Times are Unix microseconds (bigint) in both dialects.
CREATE TABLE dashboard_users (
	id            text PRIMARY KEY,
	operator      text NOT NULL,
	email         text NOT NULL UNIQUE,
	name          text NOT NULL,
	role          text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
	password_hash text NOT NULL,
	disabled      boolean NOT NULL DEFAULT false,
	created_at    bigint NOT NULL
);
CREATE INDEX dashboard_users_operator ON dashboard_users (operator, email);

CREATE TABLE dashboard_sessions (
	key        text PRIMARY KEY, -- SHA-256 of the cookie id, never the id
	user_id    text NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
	csrf       text NOT NULL,
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL,
	last_seen  bigint NOT NULL
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);

CREATE TABLE dashboard_audit (
	id       bigserial PRIMARY KEY,
	at       bigint NOT NULL,
	operator text NOT NULL,
	user_id  text NOT NULL,
	action   text NOT NULL,
	target   text NOT NULL,
	detail   text NOT NULL,
	ip       text NOT NULL
);
CREATE INDEX dashboard_audit_operator ON dashboard_audit (operator, id);

CREATE TABLE dashboard_themes (
	operator        text PRIMARY KEY,
	name            text NOT NULL,
	primary_color   text NOT NULL,
	accent_color    text NOT NULL,
	logo_hash       text NOT NULL,
	background_hash text NOT NULL,
	imprint_url     text NOT NULL,
	terms_url       text NOT NULL,
	updated_at      bigint NOT NULL
);

CREATE TABLE dashboard_assets (
	hash         text PRIMARY KEY, -- SHA-256 of data
	operator     text NOT NULL,
	content_type text NOT NULL,
	data         bytea NOT NULL,
	created_at   bigint NOT NULL
);
