-- 0001_sessions: charging sessions and their append-only transition log
-- (issue 15). Needs the invoice migrations (invoices.session is joined).

-- One row per session: the key columns queries need, the whole session as
-- JSON (session.Session), written together under the version check.
CREATE TABLE sessions (
    id         text PRIMARY KEY,
    operator   text NOT NULL,
    state      text NOT NULL,
    version    bigint NOT NULL CHECK (version > 0),
    todo       boolean NOT NULL, -- session.Session.Todo: Reconcile has work
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data       jsonb NOT NULL
);
CREATE INDEX sessions_todo ON sessions (updated_at) WHERE todo;
CREATE INDEX sessions_state ON sessions (state, updated_at);

CREATE TABLE session_transitions (
    session    text NOT NULL REFERENCES sessions (id),
    version    bigint NOT NULL, -- the session's version after the move
    from_state text NOT NULL,   -- '' for the creation
    to_state   text NOT NULL,
    cause      text NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (session, version)
);

CREATE FUNCTION session_transitions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'session_transitions is append-only';
END
$$;
CREATE TRIGGER session_transitions_append_only BEFORE UPDATE OR DELETE ON session_transitions
    FOR EACH ROW EXECUTE FUNCTION session_transitions_append_only();
