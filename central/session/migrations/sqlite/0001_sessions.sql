-- 0001_sessions: charging sessions and their append-only transition log
-- (issue 15). Needs the invoice migrations (invoices.session is joined).
-- Times are microseconds since the epoch, UTC, as in central/store.

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    operator   TEXT NOT NULL,
    state      TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    todo       INTEGER NOT NULL, -- session.Session.Todo: Reconcile has work
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data       TEXT NOT NULL     -- session.Session as JSON
) STRICT;
CREATE INDEX sessions_todo ON sessions (updated_at) WHERE todo;
CREATE INDEX sessions_state ON sessions (state, updated_at);

CREATE TABLE session_transitions (
    session    TEXT NOT NULL REFERENCES sessions (id),
    version    INTEGER NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    cause      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (session, version)
) STRICT;

CREATE TRIGGER session_transitions_no_update BEFORE UPDATE ON session_transitions
BEGIN
    SELECT RAISE(ABORT, 'session_transitions is append-only');
END;
CREATE TRIGGER session_transitions_no_delete BEFORE DELETE ON session_transitions
BEGIN
    SELECT RAISE(ABORT, 'session_transitions is append-only');
END;
