-- 0002_job_refs.sql: the datasets and models a job references, any number of each
-- (a train job's init_model, an influence job's model and data, ...): neither may be
-- deleted while a job that references it is queued or running. Forward-only: never edit
-- a migration once it has landed. Applied in one transaction against PRAGMA user_version
-- by server/store.c.
--
-- jobs.dataset_ref and jobs.model_ref (0001) stay, since SQLite cannot drop them cheaply
-- and rows written before this migration keep their values, but they are no longer
-- written or read: their values are copied here once, and job_refs is the only record.

CREATE TABLE job_refs (
    -- Rows go with their job: ON DELETE CASCADE (store connections turn foreign_keys
    -- on), and store_job_delete deletes them explicitly as well.
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    type    TEXT NOT NULL CHECK (type IN ('dataset', 'model')),
    ref_id  TEXT NOT NULL,          -- the dataset's or the model's id
    PRIMARY KEY (job_id, type, ref_id)
) WITHOUT ROWID;
-- The delete guard: "is this dataset / model referenced by an active job?"
CREATE INDEX job_refs_ref ON job_refs (type, ref_id);

INSERT OR IGNORE INTO job_refs (job_id, type, ref_id)
    SELECT id, 'dataset', dataset_ref FROM jobs WHERE dataset_ref IS NOT NULL;
INSERT OR IGNORE INTO job_refs (job_id, type, ref_id)
    SELECT id, 'model', model_ref FROM jobs WHERE model_ref IS NOT NULL;
