-- 0002_key_lifecycle: key history, revocation, the enrolment audit log and
-- the evidence index of OCMF snapshots (issue 13).

-- A gateway removed from central's config is revoked, not deleted.
ALTER TABLE gateways ADD COLUMN revoked_at timestamptz;

-- Every key a gateway ever had. gateways.public_key stays the current one.
-- A key belongs to one gateway for ever (unique), so two gateways cannot
-- share a key and a revoked key cannot come back.
CREATE TABLE gateway_keys (
    id         bigserial PRIMARY KEY,
    gateway    text NOT NULL,
    public_key bytea NOT NULL CHECK (length(public_key) = 32),
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,            -- NULL: the current key
    revoked_at timestamptz             -- NULL: not revoked
);
CREATE UNIQUE INDEX gateway_keys_public_key ON gateway_keys (public_key);
CREATE INDEX gateway_keys_gateway ON gateway_keys (gateway, id);
INSERT INTO gateway_keys (gateway, public_key, valid_from)
    SELECT id, public_key, enrolled_at FROM gateways ORDER BY enrolled_at, id;

-- Every key a meter ever had; meter_keys stays the current one. The
-- fingerprint is the SHA-256 of the key's bytes however they are written;
-- rows copied here get theirs from central at the next enrolment.
CREATE TABLE meter_key_history (
    id          bigserial PRIMARY KEY,
    site        text NOT NULL,
    device      text NOT NULL,
    public_key  text NOT NULL,
    fingerprint text,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz
);
CREATE UNIQUE INDEX meter_key_history_fingerprint ON meter_key_history (fingerprint);
CREATE INDEX meter_key_history_meter ON meter_key_history (site, device, id);
INSERT INTO meter_key_history (site, device, public_key, valid_from)
    SELECT site, device, public_key, updated_at FROM meter_keys ORDER BY updated_at, site, device;

CREATE TABLE enrolment_audit (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    action          text NOT NULL,
    gateway         text NOT NULL,
    site            text NOT NULL,
    device          text NOT NULL,
    key_fingerprint text NOT NULL,
    detail          text NOT NULL
);
CREATE INDEX enrolment_audit_gateway ON enrolment_audit (gateway, id);
INSERT INTO enrolment_audit (at, actor, action, gateway, site, device, key_fingerprint, detail)
    SELECT enrolled_at, 'migration', 'migrated', id, site, '', '', 'enrolled before the audit log existed, key ' || encode(public_key, 'hex')
    FROM gateways ORDER BY enrolled_at, id;

-- One row per OCMF snapshot central accepted, by meter and pagination
-- (T<n>): what the evidence checks compare a new snapshot with.
CREATE TABLE evidence (
    site        text NOT NULL,
    meter       text NOT NULL,
    page        bigint NOT NULL,
    session     text NOT NULL,
    tx          text NOT NULL,
    value_mwh   bigint,               -- NULL: not an energy reading
    t           timestamptz,          -- the reading's time, NULL when unreadable
    ocmf_sha256 bytea NOT NULL,
    gateway     text NOT NULL,
    epoch       text NOT NULL DEFAULT '',
    seq         bigint NOT NULL,
    idx         integer NOT NULL,
    PRIMARY KEY (site, meter, page)
);
CREATE INDEX evidence_session ON evidence (site, meter, session);
