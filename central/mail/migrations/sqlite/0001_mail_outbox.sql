-- 0001_mail_outbox: e-mails to send, retried until sent (issue 15).
-- Times are microseconds since the epoch, UTC, as in central/store.
CREATE TABLE mail_outbox (
    id            TEXT PRIMARY KEY,
    recipient     TEXT NOT NULL,
    sender        TEXT NOT NULL,
    message       BLOB NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    leased_until  INTEGER,
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER
) STRICT;
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt) WHERE state = 'pending';
