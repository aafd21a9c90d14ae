-- Access codes (the secret only as its SHA-256 hash) and their uses, one
-- per session. Times are Unix microseconds; flags are 0/1.
CREATE TABLE access_codes (
	operator TEXT NOT NULL,
	id       TEXT NOT NULL,
	hash     TEXT NOT NULL UNIQUE,
	uses     BIGINT NOT NULL,
	data     TEXT NOT NULL,
	PRIMARY KEY (operator, id)
);
CREATE TABLE access_code_uses (
	operator TEXT NOT NULL,
	code     TEXT NOT NULL,
	session  TEXT NOT NULL UNIQUE,
	at       BIGINT NOT NULL,
	FOREIGN KEY (operator, code) REFERENCES access_codes (operator, id)
);
CREATE INDEX access_code_uses_code ON access_code_uses (operator, code, at);
