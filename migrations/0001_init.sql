-- 0001_init.sql: the first schema of the tangentd store. Forward-only: never edit a
-- migration once it has landed; add 0002_....sql instead. Applied in one transaction
-- against PRAGMA user_version by server/store.c.

CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- submission order (list, claim order)
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    label        TEXT,
    status       TEXT NOT NULL CHECK (status IN
                     ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    attempt      INTEGER NOT NULL DEFAULT 0,
    request      TEXT NOT NULL,      -- the filled-in request (JSON)
    progress     TEXT,               -- the progress object (JSON)
    provenance   TEXT,               -- JSON
    error        TEXT,               -- JSON or NULL
    partial      TEXT,               -- JSON or NULL
    result       TEXT,               -- JSON or NULL
    timeout_s    REAL,
    notify_url   TEXT,
    mem_estimate INTEGER NOT NULL DEFAULT 0,
    dataset_ref  TEXT,               -- uploaded dataset the job reads (delete guard)
    model_ref    TEXT                -- model the job reads (delete guard)
);
CREATE INDEX jobs_status ON jobs (status, seq);
CREATE INDEX jobs_kind ON jobs (kind, seq);
CREATE INDEX jobs_label ON jobs (label, seq);
CREATE INDEX jobs_dataset ON jobs (dataset_ref) WHERE dataset_ref IS NOT NULL;
CREATE INDEX jobs_model ON jobs (model_ref) WHERE model_ref IS NOT NULL;

CREATE TABLE datasets (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    meta       TEXT NOT NULL,        -- the dataset object's data-derived fields (JSON)
    created_at TEXT NOT NULL,
    body       BLOB NOT NULL         -- api/data.c serialization
);

CREATE TABLE models (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    source_job TEXT,                 -- the train job that produced it, or NULL (upload)
    meta       TEXT NOT NULL,        -- the model object without weights (JSON)
    weights    BLOB NOT NULL,        -- float64 parameters, layer by layer
    initial    BLOB                  -- initial weights, or NULL
);

-- Arrays of job results: the metadata here, the float64 payload (little-endian, row-major)
-- in a file beside the database (<db>.arrays/<file>), written once and streamed in chunks,
-- so that a 20000 x 20000 array (3.2 GB) costs one sequential write, not a page-by-page
-- copy through the WAL.
CREATE TABLE arrays (
    job_id     TEXT NOT NULL,
    name       TEXT NOT NULL,
    rows       INTEGER NOT NULL,
    cols       INTEGER NOT NULL,     -- 0 for a vector (shape [rows])
    file       TEXT NOT NULL,        -- relative to the array directory
    PRIMARY KEY (job_id, name)
);

CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    body       TEXT NOT NULL,        -- canonical JSON of the request body
    job_id     TEXT NOT NULL,
    created_at REAL NOT NULL         -- unix seconds, for expiry after 24 h
);
