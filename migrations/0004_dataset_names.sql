-- 0004_dataset_names.sql: the names of uploaded datasets are unique (API.md 3.1), so
-- that a name is a handle: `{"dataset": "points"}` in a job's data and
-- /v1/datasets/points name one dataset. "" (an upload without a name) is not a name and
-- may repeat. Forward-only: never edit a migration once it has landed. Applied in one
-- transaction against PRAGMA user_version by server/store.c.
--
-- Databases written before this migration may hold several datasets of one name. The
-- first of them (the lowest seq, the oldest upload) keeps it; every later one is renamed
-- to "<name> (<its id>)", e.g. "points (d_9b1c2d3e4f5a6b7c)", which is unique since ids
-- are. (Should a dataset already be called exactly that, the index below fails, the
-- transaction rolls back and the server does not start; rename it by hand then.) The
-- renamed datasets stay reachable by their ids, and jobs name datasets by id, so no job
-- changes meaning.

UPDATE datasets SET name = name || ' (' || id || ')'
 WHERE name <> ''
   AND EXISTS (SELECT 1 FROM datasets AS first
                WHERE first.name = datasets.name AND first.seq < datasets.seq);

CREATE UNIQUE INDEX datasets_name ON datasets (name) WHERE name <> '';
