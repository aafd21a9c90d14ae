-- 0001_mail_outbox: e-mails to send, retried until sent (issue 15).
CREATE TABLE mail_outbox (
    id            text PRIMARY KEY,   -- caller's idempotency key
    recipient     text NOT NULL,
    sender        text NOT NULL,
    message       bytea NOT NULL,     -- the complete RFC 5322 message
    state         text NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt  timestamptz NOT NULL,
    leased_until  timestamptz,
    last_error    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    sent_at       timestamptz
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt) WHERE state = 'pending';
