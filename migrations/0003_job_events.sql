-- 0003_job_events.sql: the events of a job's stream (API.md 2.6), kept so that a client
-- that connects late, or reconnects with Last-Event-ID, receives what it missed; and the
-- flag of a running job whose cancellation was asked for (API.md 2.5). Forward-only:
-- never edit a migration once it has landed. Applied in one transaction against
-- PRAGMA user_version by server/store.c.

CREATE TABLE job_events (
    -- Rows go with their job: ON DELETE CASCADE (store connections turn foreign_keys
    -- on), and store_job_delete deletes them explicitly as well.
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,       -- the event's id: increasing within the job, across attempts
    attempt INTEGER NOT NULL,       -- jobs.attempt when the event was written
    type    TEXT NOT NULL CHECK (type IN ('progress', 'status')),
    -- 1 for a progress event without metrics: the next such event replaces it
    -- (coalescing), unless another event came in between.
    coalesce_ok INTEGER NOT NULL DEFAULT 0,
    data    TEXT NOT NULL,          -- the event's data (JSON)
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- 1 while a running job is being cancelled (set by POST .../cancel; the job then ends
-- cancelled, also when the server stops or dies before its worker sees the flag).
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- Jobs that finished before this migration get their final status event, so that a
-- stream opened on them still ends with one.
INSERT INTO job_events (job_id, seq, attempt, type, data)
    SELECT id, 1, attempt, 'status', json_object('status', status) FROM jobs
    WHERE status IN ('succeeded', 'failed', 'cancelled');
