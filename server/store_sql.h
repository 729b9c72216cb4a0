/* store_sql.h: every SQL statement of the store, one STORE_SQL(id, text) each, grouped
 * by the file that runs it. An X-macro list, included with STORE_SQL defined: by
 * store_int.h for the ids (enum store_q), by store.c for the texts. No include guard.
 *
 * Every value is a bound parameter (?N), never formatted into the text.
 */

#ifndef JOB_COLS
/* Columns 0..15 of every job read (store_jobs.c read_job). */
#define JOB_COLS                                                                       \
    "seq, id, kind, status, created_at, started_at, finished_at, attempt, label, "     \
    "progress, provenance, error, timeout_s, notify_url, mem_estimate, cancel_requested"
/* The id of the last stored event of job `job` (SQL), 0 when none. */
#define EV_LAST(job) "(SELECT coalesce(max(seq), 0) FROM job_events WHERE job_id = " job ")"
/* A status event (status: SQL text) of job j, a jobs row of the FROM clause that
 * follows, with the id `next` (SQL, which may use EV_LAST("j.id")). */
#define EV_STATUS_OF(status, next)                                                    \
    "INSERT INTO job_events (job_id, seq, attempt, type, data) SELECT j.id, " next    \
    ", j.attempt, 'status', json_object('status', " status ") "
#endif

/* ---- store.c: transactions, readiness */
STORE_SQL(Q_BEGIN, "BEGIN IMMEDIATE")
STORE_SQL(Q_COMMIT, "COMMIT")
STORE_SQL(Q_ROLLBACK, "ROLLBACK")
STORE_SQL(Q_WRITABLE, "UPDATE idempotency SET key = key WHERE 0")
STORE_SQL(Q_CHECKPOINT, "PRAGMA wal_checkpoint(TRUNCATE)")

/* ---- store_jobs.c: jobs, their references, idempotency keys, recovery */
STORE_SQL(Q_IDEM_GET, "SELECT body, job_id FROM idempotency WHERE key = ?1")
STORE_SQL(Q_IDEM_PUT, "INSERT OR REPLACE INTO idempotency (key, body, job_id, created_at) "
                      "VALUES (?1, ?2, ?3, ?4)")
STORE_SQL(Q_IDEM_EXPIRE, "DELETE FROM idempotency WHERE created_at < ?1")
STORE_SQL(Q_COUNT_QUEUED, "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' "
                          "LIMIT ?1)")
/* dataset_ref and model_ref (0001) are no longer written: job_refs holds them. */
STORE_SQL(Q_JOB_INSERT, "INSERT INTO jobs (id, kind, label, status, created_at, attempt, request, "
                        "progress, timeout_s, notify_url, mem_estimate) "
                        "VALUES (?1, ?2, ?3, 'queued', ?4, 0, ?5, ?6, ?7, ?8, ?9)")
STORE_SQL(Q_JOB_REF_INSERT, "INSERT OR IGNORE INTO job_refs (job_id, type, ref_id) "
                            "VALUES (?1, ?2, ?3)")
STORE_SQL(Q_JOB_GET, "SELECT " JOB_COLS ", request, partial, result FROM jobs WHERE id = ?1")
STORE_SQL(Q_JOB_GET_LIGHT, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1")
STORE_SQL(Q_JOB_LIST, "SELECT " JOB_COLS " FROM jobs WHERE (?1 IS NULL OR status = ?1) AND "
                      "(?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR label = ?3) AND "
                      "(?4 = 0 OR seq < ?4) ORDER BY seq DESC LIMIT ?5")
STORE_SQL(Q_JOB_OLDEST_QUEUED, "SELECT seq, mem_estimate FROM jobs WHERE status = 'queued' "
                               "ORDER BY seq LIMIT 1")
STORE_SQL(Q_JOB_CLAIM, "UPDATE jobs SET status = 'running', attempt = attempt + 1, "
                       "started_at = ?2, finished_at = NULL, provenance = ?3, "
                       "progress = json_object('fraction', 0.0, 'message', 'started', "
                       "'updated_at', ?2) WHERE seq = ?1 AND status = 'queued' "
                       "RETURNING " JOB_COLS ", request")
STORE_SQL(Q_JOB_PROGRESS, "UPDATE jobs SET progress = ?2 WHERE id = ?1 AND status = 'running'")
STORE_SQL(Q_JOB_FINISH, "UPDATE jobs SET status = ?2, finished_at = ?3, error = ?4, "
                        "partial = ?5, result = ?6, cancel_requested = 0 "
                        "WHERE id = ?1 AND status = 'running'")
STORE_SQL(Q_JOB_REQUEUE, "UPDATE jobs SET status = 'queued', attempt = attempt - 1, "
                         "started_at = NULL, progress = json_object('fraction', 0.0, 'message', "
                         "'queued again: the server stopped', 'updated_at', "
                         "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE id = ?1 AND status = "
                         "'running'")
STORE_SQL(Q_JOB_STATUS, "SELECT status FROM jobs WHERE id = ?1")
STORE_SQL(Q_JOB_ID_BY_SEQ, "SELECT id FROM jobs WHERE seq = ?1")
STORE_SQL(Q_JOB_FAIL_TOO_LARGE, "UPDATE jobs SET status = 'failed', finished_at = ?2, error = "
                                "json_object('code', ?4, 'message', "
                                "'the estimated memory of the job (' || mem_estimate || "
                                "' bytes) exceeds the memory budget of this server (' || ?3 || "
                                "' bytes); it was accepted under a larger budget') "
                                "WHERE seq = ?1 AND status = 'queued'")
STORE_SQL(Q_JOB_CANCEL, "UPDATE jobs SET status = 'cancelled', finished_at = ?2 "
                        "WHERE id = ?1 AND status = 'queued'")
STORE_SQL(Q_JOB_CANCEL_REQUEST, "UPDATE jobs SET cancel_requested = 1 "
                                "WHERE id = ?1 AND status = 'running'")
STORE_SQL(Q_JOB_DELETE, "DELETE FROM jobs WHERE id = ?1")
/* Also removed by ON DELETE CASCADE; explicit, so that a connection without
   foreign_keys cannot leave a guard behind. */
STORE_SQL(Q_JOB_REFS_DELETE, "DELETE FROM job_refs WHERE job_id = ?1")
STORE_SQL(Q_JOB_EVENTS_DELETE, "DELETE FROM job_events WHERE job_id = ?1")
STORE_SQL(Q_ARRAYS_DELETE, "DELETE FROM arrays WHERE job_id = ?1")
STORE_SQL(Q_IDEM_DELETE_JOB, "DELETE FROM idempotency WHERE job_id = ?1")
/* Recovery: each transition's status event first (the same rows), an id
   STORE_EVENT_GAP (?1) past the last stored one, beyond any the dead worker issued. */
STORE_SQL(Q_RECOVER_CANCEL_EV, EV_STATUS_OF("'cancelled'", EV_LAST("j.id") " + ?1") "FROM jobs j "
                               "WHERE j.status = 'running' AND j.cancel_requested = 1")
STORE_SQL(Q_RECOVER_CANCEL, "UPDATE jobs SET status = 'cancelled', finished_at = ?1, "
                            "cancel_requested = 0 WHERE status = 'running' AND "
                            "cancel_requested = 1")
STORE_SQL(Q_RECOVER_FAIL_EV, EV_STATUS_OF("'failed'", EV_LAST("j.id") " + ?1") "FROM jobs j "
                             "WHERE j.status = 'running' AND j.attempt >= ?2")
STORE_SQL(Q_RECOVER_REQUEUE_EV, EV_STATUS_OF("'queued'", EV_LAST("j.id") " + ?1") "FROM jobs j "
                                "WHERE j.status = 'running'")
STORE_SQL(Q_RECOVER_FAIL, "UPDATE jobs SET status = 'failed', finished_at = ?2, error = "
                          "json_object('code', ?3, 'message', "
                          "'the process died during each of the ' || attempt || ' attempts', "
                          "'details', json_object('attempts', attempt)) "
                          "WHERE status = 'running' AND attempt >= ?1")
STORE_SQL(Q_RECOVER_REQUEUE, "UPDATE jobs SET status = 'queued', started_at = NULL, "
                             "progress = json_object('fraction', 0.0, 'message', "
                             "'queued again: the process died', 'updated_at', ?1) "
                             "WHERE status = 'running'")
/* Events (API.md 2.6). A status event of job ?1 (status ?2) with the id
   max(last + 1, ?3), after the transition that it reports (same transaction). */
STORE_SQL(Q_EV_STATUS, EV_STATUS_OF("?2", "max(" EV_LAST("j.id") " + 1, ?3)")
                       "FROM jobs j WHERE j.id = ?1 RETURNING seq")
/* A progress-only event replaces the job's last event when that one is a progress-only
   event too (coalescing); the event is otherwise inserted (Q_EV_INSERT). */
STORE_SQL(Q_EV_COALESCE, "UPDATE job_events SET seq = ?2, data = ?3 WHERE job_id = ?1 AND "
                         "coalesce_ok = 1 AND seq = " EV_LAST("?1") " AND seq < ?2")
STORE_SQL(Q_EV_INSERT, "INSERT INTO job_events (job_id, seq, attempt, type, coalesce_ok, data) "
                       "SELECT id, ?2, attempt, 'progress', ?4, ?3 FROM jobs "
                       "WHERE id = ?1 AND status = 'running'")
/* The events of job ?1 after id ?2; with ?3, only from the start of the current attempt
   (its `running` event) or queueing (its last `queued` event). Columns: seq, type, data,
   terminal. */
STORE_SQL(Q_EV_LIST, "SELECT seq, type, data, type = 'status' AND json_extract(data, "
                     "'$.status') IN ('succeeded', 'failed', 'cancelled') FROM job_events "
                     "WHERE job_id = ?1 AND seq > ?2 AND (?3 = 0 OR seq >= (SELECT "
                     "coalesce(max(seq), 0) FROM job_events WHERE job_id = ?1 AND type = "
                     "'status' AND json_extract(data, '$.status') IN ('queued', 'running'))) "
                     "ORDER BY seq")
STORE_SQL(Q_COUNTS, "SELECT sum(status = 'queued'), sum(status = 'running') FROM jobs "
                    "WHERE status IN ('queued', 'running')")

/* ---- store_catalog.c: datasets and models (reads: id, created_at, then their own columns) */
STORE_SQL(Q_REF_IN_USE, "SELECT EXISTS (SELECT 1 FROM job_refs r JOIN jobs j ON j.id = r.job_id "
                        "WHERE r.type = ?1 AND r.ref_id = ?2 AND j.status IN "
                        "('queued', 'running'))")
STORE_SQL(Q_DS_INSERT, "INSERT INTO datasets (id, name, meta, created_at, body) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)")
/* A dataset is named by its id or its name (API.md 3.1; names are unique, 0004): the id
 * wins when a reference is both (data_check_name keeps new names from looking like ids). */
#define DS_BY_REF "WHERE id = ?1 OR (name = ?1 AND name <> '') ORDER BY id = ?1 DESC LIMIT 1"
STORE_SQL(Q_DS_GET, "SELECT id, created_at, name, meta FROM datasets " DS_BY_REF)
STORE_SQL(Q_DS_GET_BODY, "SELECT id, created_at, name, meta, body FROM datasets " DS_BY_REF)
STORE_SQL(Q_DS_RESOLVE, "SELECT id FROM datasets " DS_BY_REF)
STORE_SQL(Q_DS_LIST, "SELECT id, created_at, name, meta FROM datasets ORDER BY seq DESC")
STORE_SQL(Q_DS_DELETE, "DELETE FROM datasets WHERE id = ?1")
STORE_SQL(Q_MODEL_INSERT, "INSERT INTO models (id, created_at, source_job, meta, weights, initial) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
STORE_SQL(Q_MODEL_GET, "SELECT id, created_at, meta FROM models WHERE id = ?1")
STORE_SQL(Q_MODEL_GET_W, "SELECT id, created_at, meta, weights, initial FROM models WHERE id = ?1")
STORE_SQL(Q_MODEL_LIST, "SELECT id, created_at, meta FROM models ORDER BY seq DESC")
STORE_SQL(Q_MODEL_DELETE, "DELETE FROM models WHERE id = ?1")
STORE_SQL(Q_MODEL_RESOLVE, "SELECT id FROM models WHERE id = ?1")

/* ---- store_arrays.c: result arrays */
STORE_SQL(Q_ARR_PUT, "INSERT OR REPLACE INTO arrays (job_id, name, rows, cols, file) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)")
STORE_SQL(Q_ARR_INFO, "SELECT rows, cols, file FROM arrays WHERE job_id = ?1 AND name = ?2")
