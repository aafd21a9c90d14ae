-- 0003_epochs: a batch is named (gateway, epoch, seq) since contract v2: a
-- wiped or replaced outbox is a new epoch whose seqs start at 1 again (issue
-- 12). v1 batches and batches of outboxes older than epochs have epoch ''.
-- Gap records declare seqs of an epoch lost; gateway_seq keeps, per
-- gateway and epoch, what central holds.

ALTER TABLE batches ADD COLUMN epoch text NOT NULL DEFAULT '';
ALTER TABLE batches DROP CONSTRAINT batches_pkey;
ALTER TABLE batches ADD PRIMARY KEY (gateway, epoch, seq);

ALTER TABLE readings ADD COLUMN epoch text NOT NULL DEFAULT '';
ALTER TABLE readings DROP CONSTRAINT readings_pkey;
ALTER TABLE readings ADD PRIMARY KEY (gateway, epoch, seq, idx);

ALTER TABLE snapshots ADD COLUMN epoch text NOT NULL DEFAULT '';
ALTER TABLE snapshots DROP CONSTRAINT snapshots_pkey;
ALTER TABLE snapshots ADD PRIMARY KEY (gateway, epoch, seq, idx);

ALTER TABLE events ADD COLUMN epoch text NOT NULL DEFAULT '';
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (gateway, epoch, seq, idx);

ALTER TABLE gateway_seq
    ADD COLUMN epoch text NOT NULL DEFAULT '',
    ADD COLUMN max_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN held bigint NOT NULL DEFAULT 0,
    ADD COLUMN declared bigint NOT NULL DEFAULT 0,
    ADD COLUMN gap_records bigint NOT NULL DEFAULT 0,
    ADD COLUMN first_seen timestamptz,
    ADD COLUMN last_seen timestamptz;
ALTER TABLE gateway_seq DROP CONSTRAINT gateway_seq_pkey;
ALTER TABLE gateway_seq ADD PRIMARY KEY (gateway, epoch);
UPDATE gateway_seq gs SET held = b.n, max_seq = b.m, first_seen = b.f, last_seen = b.l
FROM (SELECT gateway, count(*) AS n, max(seq) AS m, min(received_at) AS f, max(received_at) AS l
      FROM batches GROUP BY gateway) b
WHERE b.gateway = gs.gateway AND gs.epoch = '';

-- gaps: one row per stored gap record.
CREATE TABLE gaps (
    gateway     text NOT NULL,
    epoch       text NOT NULL,
    gap_seq     bigint NOT NULL,
    from_seq    bigint NOT NULL,
    to_seq      bigint NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (gateway, epoch, gap_seq)
);
CREATE INDEX gaps_range ON gaps (gateway, epoch, from_seq);
