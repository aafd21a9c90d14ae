-- 0001_job_runs: the last tick each periodic job ran for (issue 15).
CREATE TABLE job_runs (
    job       text PRIMARY KEY,
    last_tick timestamptz NOT NULL,
    runner    text NOT NULL -- the replica that ran it
);
