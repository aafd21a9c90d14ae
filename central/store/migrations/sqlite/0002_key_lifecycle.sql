-- 0002_key_lifecycle: key history, revocation, the enrolment audit log and
-- the evidence index of OCMF snapshots (issue 13). Times are INTEGER
-- microseconds since the Unix epoch, UTC.

-- A gateway removed from central's config is revoked, not deleted.
ALTER TABLE gateways ADD COLUMN revoked_at INTEGER;

-- Every key a gateway ever had. gateways.public_key stays the current one.
-- A key belongs to one gateway for ever (unique), so two gateways cannot
-- share a key and a revoked key cannot come back.
CREATE TABLE gateway_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    gateway    TEXT NOT NULL,
    public_key BLOB NOT NULL CHECK (length(public_key) = 32),
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,                -- NULL: the current key
    revoked_at INTEGER                 -- NULL: not revoked
) STRICT;
CREATE UNIQUE INDEX gateway_keys_public_key ON gateway_keys (public_key);
CREATE INDEX gateway_keys_gateway ON gateway_keys (gateway, id);
INSERT INTO gateway_keys (gateway, public_key, valid_from)
    SELECT id, public_key, enrolled_at FROM gateways ORDER BY enrolled_at, id;

-- Every key a meter ever had; meter_keys stays the current one. The
-- fingerprint is the SHA-256 of the key's bytes however they are written;
-- rows copied here get theirs from central at the next enrolment.
CREATE TABLE meter_key_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    site        TEXT NOT NULL,
    device      TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    fingerprint TEXT,
    valid_from  INTEGER NOT NULL,
    valid_to    INTEGER
) STRICT;
CREATE UNIQUE INDEX meter_key_history_fingerprint ON meter_key_history (fingerprint);
CREATE INDEX meter_key_history_meter ON meter_key_history (site, device, id);
INSERT INTO meter_key_history (site, device, public_key, valid_from)
    SELECT site, device, public_key, updated_at FROM meter_keys ORDER BY updated_at, site, device;

CREATE TABLE enrolment_audit (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    gateway         TEXT NOT NULL,
    site            TEXT NOT NULL,
    device          TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    detail          TEXT NOT NULL
) STRICT;
CREATE INDEX enrolment_audit_gateway ON enrolment_audit (gateway, id);
INSERT INTO enrolment_audit (at, actor, action, gateway, site, device, key_fingerprint, detail)
    SELECT enrolled_at, 'migration', 'migrated', id, site, '', '', 'enrolled before the audit log existed, key ' || lower(hex(public_key))
    FROM gateways ORDER BY enrolled_at, id;

-- One row per OCMF snapshot central accepted, by meter and pagination
-- (T<n>): what the evidence checks compare a new snapshot with.
CREATE TABLE evidence (
    site        TEXT NOT NULL,
    meter       TEXT NOT NULL,
    page        INTEGER NOT NULL,
    session     TEXT NOT NULL,
    tx          TEXT NOT NULL,
    value_mwh   INTEGER,              -- NULL: not an energy reading
    t           INTEGER,              -- the reading's time, NULL when unreadable
    ocmf_sha256 BLOB NOT NULL,
    gateway     TEXT NOT NULL,
    epoch       TEXT NOT NULL DEFAULT '',
    seq         INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    PRIMARY KEY (site, meter, page)
) STRICT;
CREATE INDEX evidence_session ON evidence (site, meter, session);
