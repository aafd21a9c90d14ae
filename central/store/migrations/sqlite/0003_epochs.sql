-- 0003_epochs: a batch is named (gateway, epoch, seq) since contract v2: a
-- wiped or replaced outbox is a new epoch whose seqs start at 1 again (issue
-- 12). v1 batches and batches of outboxes older than epochs have epoch ''.
-- Gap records declare seqs of an epoch lost; gateway_seq keeps, per
-- gateway and epoch, what central holds. SQLite cannot change a primary
-- key, so the tables are rebuilt. Times are INTEGER microseconds, UTC.

CREATE TABLE batches_v3 (
    gateway     TEXT NOT NULL,
    epoch       TEXT NOT NULL,
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
    PRIMARY KEY (gateway, epoch, seq)
) STRICT;
INSERT INTO batches_v3 (gateway, epoch, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events)
    SELECT gateway, '', seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events FROM batches;
DROP TABLE batches;
ALTER TABLE batches_v3 RENAME TO batches;

CREATE TABLE readings_v3 (
    gateway  TEXT NOT NULL,
    epoch    TEXT NOT NULL,
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
    PRIMARY KEY (gateway, epoch, seq, idx)
) STRICT, WITHOUT ROWID;
INSERT INTO readings_v3 (gateway, epoch, seq, idx, site, device, point, quantity, value, stale, t, session)
    SELECT gateway, '', seq, idx, site, device, point, quantity, value, stale, t, session FROM readings;
DROP TABLE readings;
ALTER TABLE readings_v3 RENAME TO readings;
CREATE INDEX readings_site_device_t ON readings (site, device, t);

CREATE TABLE snapshots_v3 (
    gateway  TEXT NOT NULL,
    epoch    TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    idx      INTEGER NOT NULL,
    site     TEXT NOT NULL,
    meter    TEXT NOT NULL,
    session  TEXT NOT NULL,
    t        INTEGER NOT NULL,
    ocmf     TEXT NOT NULL,
    verified INTEGER NOT NULL,
    PRIMARY KEY (gateway, epoch, seq, idx)
) STRICT;
INSERT INTO snapshots_v3 (gateway, epoch, seq, idx, site, meter, session, t, ocmf, verified)
    SELECT gateway, '', seq, idx, site, meter, session, t, ocmf, verified FROM snapshots;
DROP TABLE snapshots;
ALTER TABLE snapshots_v3 RENAME TO snapshots;
CREATE INDEX snapshots_session ON snapshots (session) WHERE session <> '';

CREATE TABLE events_v3 (
    gateway TEXT NOT NULL,
    epoch   TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    site    TEXT NOT NULL,
    t       INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    device  TEXT NOT NULL,
    point   TEXT NOT NULL,
    message TEXT NOT NULL,
    attrs   TEXT,
    PRIMARY KEY (gateway, epoch, seq, idx)
) STRICT;
INSERT INTO events_v3 (gateway, epoch, seq, idx, site, t, kind, device, point, message, attrs)
    SELECT gateway, '', seq, idx, site, t, kind, device, point, message, attrs FROM events;
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;

CREATE TABLE gateway_seq_v3 (
    gateway     TEXT NOT NULL,
    epoch       TEXT NOT NULL,
    contiguous  INTEGER NOT NULL,
    max_seq     INTEGER NOT NULL DEFAULT 0,
    held        INTEGER NOT NULL DEFAULT 0,
    declared    INTEGER NOT NULL DEFAULT 0,
    gap_records INTEGER NOT NULL DEFAULT 0,
    first_seen  INTEGER,
    last_seen   INTEGER,
    PRIMARY KEY (gateway, epoch)
) STRICT;
INSERT INTO gateway_seq_v3 (gateway, epoch, contiguous, max_seq, held, first_seen, last_seen)
    SELECT gs.gateway, '', gs.contiguous,
        coalesce((SELECT max(seq) FROM batches b WHERE b.gateway = gs.gateway), 0),
        (SELECT count(*) FROM batches b WHERE b.gateway = gs.gateway),
        (SELECT min(received_at) FROM batches b WHERE b.gateway = gs.gateway),
        (SELECT max(received_at) FROM batches b WHERE b.gateway = gs.gateway)
    FROM gateway_seq gs;
DROP TABLE gateway_seq;
ALTER TABLE gateway_seq_v3 RENAME TO gateway_seq;

CREATE TABLE gaps (
    gateway     TEXT NOT NULL,
    epoch       TEXT NOT NULL,
    gap_seq     INTEGER NOT NULL,
    from_seq    INTEGER NOT NULL,
    to_seq      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (gateway, epoch, gap_seq)
) STRICT;
CREATE INDEX gaps_range ON gaps (gateway, epoch, from_seq);
