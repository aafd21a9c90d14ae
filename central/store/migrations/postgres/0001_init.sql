-- 0001_init: ingest of signed edge batches (issue 6).

CREATE TABLE gateways (
    id          text PRIMARY KEY,
    site        text NOT NULL,
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    enrolled_at timestamptz NOT NULL
);

CREATE TABLE meter_keys (
    site       text NOT NULL,
    device     text NOT NULL,
    public_key text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (site, device)
);

CREATE TABLE batches (
    gateway     text NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
    site        text NOT NULL,
    version     integer NOT NULL,
    sent_at     timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    body        bytea NOT NULL,
    body_sha256 bytea NOT NULL,
    sig         bytea,
    readings    integer NOT NULL,
    events      integer NOT NULL,
    PRIMARY KEY (gateway, seq)
);
-- Bodies are JSON and compress well; lz4 costs far less CPU than the default
-- pglz at group-commit rates. Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE batches ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available; batches.body stays pglz-compressed';
END
$$;

-- readings, snapshots and events are written only together with their batch
-- row, in the same transaction; no foreign key, so bulk COPY stays cheap.
CREATE TABLE readings (
    gateway  text NOT NULL,
    seq      bigint NOT NULL,
    idx      integer NOT NULL,
    site     text NOT NULL,
    device   text NOT NULL,
    point    text NOT NULL,
    quantity text NOT NULL,
    value    bigint NOT NULL,
    stale    boolean NOT NULL,
    t        timestamptz NOT NULL,
    session  text NOT NULL,
    PRIMARY KEY (gateway, seq, idx)
);
CREATE INDEX readings_site_device_t ON readings (site, device, t);

CREATE TABLE snapshots (
    gateway  text NOT NULL,
    seq      bigint NOT NULL,
    idx      integer NOT NULL,
    site     text NOT NULL,
    meter    text NOT NULL,
    session  text NOT NULL,
    t        timestamptz NOT NULL,
    ocmf     text NOT NULL,
    verified boolean NOT NULL,
    PRIMARY KEY (gateway, seq, idx)
);
CREATE INDEX snapshots_session ON snapshots (session) WHERE session <> '';

CREATE TABLE events (
    gateway text NOT NULL,
    seq     bigint NOT NULL,
    idx     integer NOT NULL,
    site    text NOT NULL,
    t       timestamptz NOT NULL,
    kind    text NOT NULL,
    device  text NOT NULL,
    point   text NOT NULL,
    message text NOT NULL,
    attrs   jsonb,
    PRIMARY KEY (gateway, seq, idx)
);

CREATE TABLE gateway_seq (
    gateway    text PRIMARY KEY,
    contiguous bigint NOT NULL
);

CREATE TABLE rejections (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    gateway     text NOT NULL,
    seq         bigint NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL,
    size        integer NOT NULL,
    sha256      bytea NOT NULL,
    head        bytea NOT NULL
);
CREATE INDEX rejections_gateway ON rejections (gateway, id);
