-- The catalog: operators, sites, charge points, tariff versions, operator
-- API tokens (hashed), driver starts (hashed driver tokens), webhook events.
-- Times are Unix microseconds; flags are 0/1.
CREATE TABLE catalog_operators (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);
CREATE TABLE catalog_sites (
	id       TEXT PRIMARY KEY,
	operator TEXT NOT NULL REFERENCES catalog_operators (id),
	data     TEXT NOT NULL
);
CREATE INDEX catalog_sites_operator ON catalog_sites (operator);
CREATE TABLE catalog_points (
	site     TEXT NOT NULL REFERENCES catalog_sites (id),
	id       TEXT NOT NULL,
	operator TEXT NOT NULL REFERENCES catalog_operators (id),
	data     TEXT NOT NULL,
	PRIMARY KEY (site, id)
);
CREATE INDEX catalog_points_operator ON catalog_points (operator);
CREATE TABLE catalog_tariffs (
	operator   TEXT NOT NULL REFERENCES catalog_operators (id),
	id         TEXT NOT NULL,
	version    BIGINT NOT NULL,
	retired    INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	data       TEXT NOT NULL,
	PRIMARY KEY (operator, id, version)
);
CREATE TABLE catalog_tokens (
	id         TEXT PRIMARY KEY,
	operator   TEXT NOT NULL REFERENCES catalog_operators (id),
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);
CREATE TABLE catalog_starts (
	session    TEXT PRIMARY KEY,
	site       TEXT NOT NULL,
	point      TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	operator   TEXT NOT NULL,
	hold_id    TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	data       TEXT NOT NULL,
	UNIQUE (site, point, client_id)
);
CREATE INDEX catalog_starts_operator ON catalog_starts (operator, created_at);
CREATE INDEX catalog_starts_hold ON catalog_starts (hold_id);
CREATE TABLE catalog_webhook_events (
	provider TEXT NOT NULL,
	event_id TEXT NOT NULL,
	at       BIGINT NOT NULL,
	PRIMARY KEY (provider, event_id)
);
