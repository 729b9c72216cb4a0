/* store_arrays.c: arrays of job results (store.h): metadata in the arrays table, the
 * float64 payload in a file under <db>.arrays/<job id>/<name>.f64, written to a
 * temporary name and renamed into place before its row is committed, so that a file a
 * row names is always complete. Read back in chunks of STORE_CHUNK doubles.
 *
 * A writer belongs to the one thread that began it; the store calls it makes are
 * thread-safe like every other.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store_array_writer {
    store *st;
    char job_id[64], name[64];
    char tmp[4400], fin[4300], rel[256];
    size_t rows, cols, bytes, written;
    const char *data;
    int fd, direct;
};

#define DIRECT_ALIGN ((size_t)4096)
#define DIRECT_MIN ((size_t)8 << 20)
#define WRITE_MAX ((size_t)64 << 20)

/* Only ids and names made of [A-Za-z0-9_] (1 to 100 of them) become file names. */
static int safe_name(const char *s)
{
    if (!*s || strlen(s) > 100)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

void store_arrays_remove(store *st, const char *job_id)
{
    char dir[4096], file[4400];
    if (!safe_name(job_id))
        return;
    snprintf(dir, sizeof dir, "%s/%s", st->array_dir, job_id);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        unlink(file);
    }
    closedir(d);
    rmdir(dir);
}

/* Writes data bytes [w->written, upto) at the same file offsets. */
static int writer_put(store_array_writer *w, size_t upto)
{
    while (w->written < upto) {
        size_t len = upto - w->written;
        len = len > WRITE_MAX ? WRITE_MAX : len;
        if (w->direct)
            len -= len % DIRECT_ALIGN;
        if (len == 0)
            break; /* under one block left for a direct write: the caller's tail */
        ssize_t r = pwrite(w->fd, w->data + w->written, len, (off_t)w->written);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EINVAL && w->direct) {
            /* The file system does not take direct I/O after all: buffered from here. */
            int fl = fcntl(w->fd, F_GETFL);
            if (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0)
                return -1;
            w->direct = 0;
            continue;
        }
        if (r <= 0)
            return -1;
        w->written += (size_t)r;
        if (w->direct && w->written % DIRECT_ALIGN) {
            /* A short direct write left the offset unaligned: buffered for the rest. */
            int fl = fcntl(w->fd, F_GETFL);
            if (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0)
                return -1;
            w->direct = 0;
        }
    }
    return 0;
}

int store_array_begin(store *st, const char *job_id, const char *name, size_t rows,
                      size_t cols, const double *data, store_array_writer **out, tg_err *err)
{
    size_t bytes;
    char dir[4096];
    *out = NULL;
    if (!safe_name(job_id) || !safe_name(name) || strlen(job_id) >= 64 ||
        strlen(name) >= 64)
        return tg_err_set(err, TG_EINTERNAL, "bad array name %s/%s", job_id, name);
    if (tg_mul3_size(rows, cols ? cols : 1, sizeof(double), &bytes))
        return tg_err_set(err, TG_EINTERNAL, "array too large");
    store_array_writer *w = calloc(1, sizeof *w);
    if (!w)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    w->st = st;
    snprintf(w->job_id, sizeof w->job_id, "%s", job_id);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->rows = rows;
    w->cols = cols;
    w->bytes = bytes;
    w->data = (const char *)data;
    snprintf(dir, sizeof dir, "%s/%s", st->array_dir, job_id);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        free(w);
        return tg_err_set(err, TG_EIO, "cannot create %s: %s", dir, strerror(errno));
    }
    snprintf(w->rel, sizeof w->rel, "%s/%s.f64", job_id, name);
    snprintf(w->fin, sizeof w->fin, "%s/%s", st->array_dir, w->rel);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->fin);
    /* Doubles are written in the machine's order; every supported target is
     * little-endian (checked at start-up by main.c). Written to a temporary name and
     * renamed, so a file that a row names is always complete. */
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    w->direct = w->bytes >= DIRECT_MIN && (uintptr_t)data % DIRECT_ALIGN == 0;
    w->fd = w->direct ? open(w->tmp, flags | O_DIRECT, 0640) : -1;
    if (w->fd < 0) {
        w->direct = 0;
        w->fd = open(w->tmp, flags, 0640);
    }
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return tg_err_set(err, TG_EIO, "cannot write %s/%s: %s", job_id, name, strerror(e));
    }
    *out = w;
    return TG_OK;
}

int store_array_advance(store_array_writer *w, size_t bytes, tg_err *err)
{
    bytes = bytes < w->bytes ? bytes : w->bytes;
    if (w->direct)
        bytes -= bytes % DIRECT_ALIGN;
    if (bytes > w->written && writer_put(w, bytes) != 0)
        return tg_err_set(err, TG_EIO, "cannot write array %s: %s", w->name, strerror(errno));
    return TG_OK;
}

void store_array_abort(store_array_writer *w)
{
    if (!w)
        return;
    close(w->fd);
    unlink(w->tmp);
    free(w);
}

int store_array_commit(store_array_writer *w, tg_err *err)
{
    store *st = w->st;
    int bad = 0;
    if (w->direct) {
        /* The aligned part directly, the tail (under one block) buffered. */
        size_t aligned = w->bytes - w->bytes % DIRECT_ALIGN;
        bad = writer_put(w, aligned) != 0;
        int fl = fcntl(w->fd, F_GETFL);
        if (!bad && (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0))
            bad = 1;
        w->direct = 0;
    }
    if (!bad)
        bad = writer_put(w, w->bytes) != 0;
    int e = errno;
    if (close(w->fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    w->fd = -1;
    if (bad || rename(w->tmp, w->fin) != 0) {
        if (!bad)
            e = errno;
        unlink(w->tmp);
        tg_err_set(err, TG_EIO, "cannot write array %s: %s", w->name, strerror(e));
        free(w);
        return TG_EIO;
    }
    conn *c;
    sqlite3_stmt *s;
    int rc = store_start(st, STORE_WRITE, Q_ARR_PUT, &c, &s);
    if (rc)
        goto out;
    store_bind_text(s, 1, w->job_id);
    store_bind_text(s, 2, w->name);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)w->rows);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)w->cols);
    store_bind_text(s, 5, w->rel);
    rc = sqlite3_step(s) == SQLITE_DONE ? store_commit(c) : TG_EIO;
out:
    if (rc)
        store_err_io(c, err);
    free(w);
    return store_end(c, rc);
}

int store_array_put(store *st, const char *job_id, const char *name, size_t rows,
                    size_t cols, const double *data, tg_err *err)
{
    store_array_writer *w;
    int rc = store_array_begin(st, job_id, name, rows, cols, data, &w, err);
    return rc ? rc : store_array_commit(w, err);
}

/* rows, cols and the file of an array. */
static int array_lookup(store *st, const char *job_id, const char *name, size_t *rows,
                        size_t *cols, char *file, size_t file_n)
{
    conn *c;
    sqlite3_stmt *s;
    int rc = store_start(st, STORE_READ, Q_ARR_INFO, &c, &s);
    if (rc)
        goto out;
    store_bind_text(s, 1, job_id);
    store_bind_text(s, 2, name);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *rows = (size_t)sqlite3_column_int64(s, 0);
        *cols = (size_t)sqlite3_column_int64(s, 1);
        if (file)
            store_col_copy(s, 2, file, file_n);
    } else {
        rc = step == SQLITE_DONE ? TG_ENOTFOUND : TG_EIO;
    }
out:
    return store_end(c, rc);
}

int store_array_info(store *st, const char *job_id, const char *name, size_t *rows,
                     size_t *cols)
{
    return array_lookup(st, job_id, name, rows, cols, NULL, 0);
}

int store_array_chunk(store *st, const char *job_id, const char *name, size_t idx,
                      double *buf, size_t *n_out)
{
    size_t rows, cols, n, first, total;
    char rel[256], path[4400];
    *n_out = 0;
    int rc = array_lookup(st, job_id, name, &rows, &cols, rel, sizeof rel);
    if (rc)
        return rc;
    /* rows and cols come from the database: a product that overflows is a bad row. */
    if (tg_mul3_size(rows, cols ? cols : 1, sizeof(double), &total))
        return TG_EIO;
    n = total / sizeof(double);
    if (tg_mul_size(idx, STORE_CHUNK, &first) || first >= n)
        return TG_ENOTFOUND;
    size_t len = n - first < STORE_CHUNK ? n - first : STORE_CHUNK;
    snprintf(path, sizeof path, "%s/%s", st->array_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TG_EIO;
    size_t got = 0, want = len * sizeof(double);
    off_t off = (off_t)(first * sizeof(double)); /* < total: no overflow */
    while (got < want) {
        ssize_t r = pread(fd, (char *)buf + got, want - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != want)
        return TG_EIO;
    *n_out = len;
    return TG_OK;
}
