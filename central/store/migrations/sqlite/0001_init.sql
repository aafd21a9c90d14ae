-- 0001_init: ingest of signed edge batches (issue 6).
-- Times are INTEGER microseconds since the Unix epoch, UTC.

CREATE TABLE gateways (
    id          TEXT PRIMARY KEY,
    site        TEXT NOT NULL,
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    enrolled_at INTEGER NOT NULL
) STRICT;

CREATE TABLE meter_keys (
    site       TEXT NOT NULL,
    device     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (site, device)
) STRICT;

CREATE TABLE batches (
    gateway     TEXT NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    site        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body        BLOB NOT NULL,
    body_sha256 BLOB NOT NULL,
    sig         BLOB,
    readings    INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (gateway, seq)
) STRICT;

CREATE TABLE readings (
    gateway  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    idx      INTEGER NOT NULL,
    site     TEXT NOT NULL,
    device   TEXT NOT NULL,
    point    TEXT NOT NULL,
    quantity TEXT NOT NULL,
    value    INTEGER NOT NULL,
    stale    INTEGER NOT NULL,
    t        INTEGER NOT NULL,
    session  TEXT NOT NULL,
    PRIMARY KEY (gateway, seq, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX readings_site_device_t ON readings (site, device, t);

CREATE TABLE snapshots (
    gateway  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    idx      INTEGER NOT NULL,
    site     TEXT NOT NULL,
    meter    TEXT NOT NULL,
    session  TEXT NOT NULL,
    t        INTEGER NOT NULL,
    ocmf     TEXT NOT NULL,
    verified INTEGER NOT NULL,
    PRIMARY KEY (gateway, seq, idx)
) STRICT;
CREATE INDEX snapshots_session ON snapshots (session) WHERE session <> '';

CREATE TABLE events (
    gateway TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    site    TEXT NOT NULL,
    t       INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    device  TEXT NOT NULL,
    point   TEXT NOT NULL,
    message TEXT NOT NULL,
    attrs   TEXT,
    PRIMARY KEY (gateway, seq, idx)
) STRICT;

CREATE TABLE gateway_seq (
    gateway    TEXT PRIMARY KEY,
    contiguous INTEGER NOT NULL
) STRICT;

CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    topic       TEXT NOT NULL,
    gateway     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      BLOB NOT NULL,
    head        BLOB NOT NULL
) STRICT;
CREATE INDEX rejections_gateway ON rejections (gateway, id);
