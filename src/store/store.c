#include "store/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"

/* Ten seconds of busy waiting covers 20 concurrent creators on a slow disk;
 * a writer holds the lock for one short transaction only. */
#define BUSY_TIMEOUT_MS 10000

struct sbx_store {
    sqlite3 *db;
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS sandboxes ("
    "  provider TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  name TEXT,"
    "  state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  pid INTEGER NOT NULL DEFAULT 0,"
    "  pid_start INTEGER NOT NULL DEFAULT 0,"
    "  data TEXT NOT NULL DEFAULT '{}',"
    "  PRIMARY KEY (provider, id));"
    "CREATE UNIQUE INDEX IF NOT EXISTS sandboxes_name ON sandboxes(provider, name)"
    "  WHERE name IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS labels ("
    "  provider TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (provider, id, key),"
    "  FOREIGN KEY (provider, id) REFERENCES sandboxes(provider, id) ON DELETE CASCADE);";

static int db_fail(struct sbx_store *st, struct sbx_err *err, int rc, const char *what)
{
    int code = -EIO;
    if (rc == SQLITE_NOMEM)
        code = -ENOMEM;
    else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        code = -EBUSY;
    else if (rc == SQLITE_READONLY || rc == SQLITE_PERM || rc == SQLITE_CANTOPEN)
        code = -EACCES;
    return sbx_err_set(err, code, "store: %s: %s", what, st ? sqlite3_errmsg(st->db) : "");
}

void sbx_store_row_release(struct sbx_store_row *r)
{
    if (!r)
        return;
    free(r->provider);
    free(r->id);
    free(r->name);
    free(r->state);
    free(r->data);
    for (size_t i = 0; i < r->n_labels; i++)
        free(r->labels[i]);
    free(r->labels);
    memset(r, 0, sizeof(*r));
}

void sbx_store_rows_free(struct sbx_store_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        sbx_store_row_release(&rows[i]);
    free(rows);
}

/* The index holds secrets (cloud providers' access tokens and session keys):
 * the file and its -wal and -shm are the owner's alone, also when they
 * existed wider. By path, never by opening them: closing any descriptor of
 * the file would drop the POSIX locks SQLite holds on it in this process. */
static void owner_only(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[4096];
    struct stat sb;
    size_t i;

    for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffix[i]) >= sizeof(p))
            return;
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077) &&
            sb.st_uid == geteuid())
            (void)chmod(p, sb.st_mode & 0700);
    }
}

struct sbx_store *sbx_store_open(const char *path, struct sbx_err *err)
{
    struct sbx_store *st = calloc(1, sizeof(*st));
    char *msg = NULL;
    int rc;

    if (!st) {
        sbx_err_set(err, -ENOMEM, "store: out of memory");
        return NULL;
    }
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sbx_err_set(err, rc == SQLITE_NOMEM ? -ENOMEM : -EACCES, "store: open %s: %s", path,
                    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* Switching a new database to WAL, or creating the tables while another
     * process does the same, can answer SQLITE_BUSY at once, without the
     * busy handler: retry within the same time budget. */
    int64_t waited_us = 0, nap_us = 1000;
    for (;;) {
        rc = sqlite3_exec(st->db, SCHEMA, NULL, NULL, &msg);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) ||
            waited_us >= (int64_t)BUSY_TIMEOUT_MS * 1000)
            break;
        sqlite3_free(msg);
        msg = NULL;
        usleep((useconds_t)nap_us);
        waited_us += nap_us;
        if (nap_us < 20000)
            nap_us *= 2;
    }
    if (rc != SQLITE_OK) {
        sbx_err_set(err, rc == SQLITE_BUSY ? -EBUSY : -EIO, "store: schema of %s: %s", path,
                    msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        goto fail;
    }
    owner_only(path); /* the schema made the -wal and -shm files */
    return st;
fail:
    sqlite3_close(st->db);
    free(st);
    return NULL;
}

void sbx_store_close(struct sbx_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st);
}

static int exec_simple(struct sbx_store *st, const char *sql, struct sbx_err *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(st, err, rc, sql);
}

static int prepare(struct sbx_store *st, const char *sql, sqlite3_stmt **stmt, struct sbx_err *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(st, err, rc, "prepare");
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* Splits "key=value"; -EINVAL if there is no '=' or the key is empty. */
static int split_label(const char *label, size_t *key_len)
{
    const char *eq = strchr(label, '=');
    if (!eq || eq == label)
        return -EINVAL;
    *key_len = (size_t)(eq - label);
    return 0;
}

static int insert_labels(struct sbx_store *st, const struct sbx_store_row *r, struct sbx_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT OR REPLACE INTO labels(provider, id, key, value) VALUES (?,?,?,?)",
                     &s, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < r->n_labels; i++) {
        size_t klen = 0;
        if (split_label(r->labels[i], &klen) < 0) {
            rc = sbx_err_set(err, -EINVAL, "store: label '%s' is not key=value", r->labels[i]);
            goto out;
        }
        sqlite3_reset(s);
        bind_text(s, 1, r->provider);
        bind_text(s, 2, r->id);
        sqlite3_bind_text(s, 3, r->labels[i], (int)klen, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, r->labels[i] + klen + 1, -1, SQLITE_TRANSIENT);
        int src = sqlite3_step(s);
        if (src != SQLITE_DONE) {
            rc = db_fail(st, err, src, "insert label");
            goto out;
        }
    }
out:
    sqlite3_finalize(s);
    return rc;
}

int sbx_store_insert(struct sbx_store *st, const struct sbx_store_row *r, struct sbx_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src;

    if (!r->provider || !r->id || !r->state)
        return sbx_err_set(err, -EINVAL, "store: insert: provider, id and state are required");
    rc = exec_simple(st, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    rc = prepare(st,
                 "INSERT INTO sandboxes(provider, id, name, state, created_ms, pid, pid_start,"
                 " data) VALUES (?,?,?,?,?,?,?,?)",
                 &s, err);
    if (rc < 0)
        goto out;
    bind_text(s, 1, r->provider);
    bind_text(s, 2, r->id);
    bind_text(s, 3, r->name);
    bind_text(s, 4, r->state);
    sqlite3_bind_int64(s, 5, r->created_ms);
    sqlite3_bind_int64(s, 6, r->pid);
    sqlite3_bind_int64(s, 7, r->pid_start);
    bind_text(s, 8, r->data ? r->data : "{}");
    src = sqlite3_step(s);
    if (src == SQLITE_CONSTRAINT) {
        if (r->name)
            rc = sbx_err_set(err, -EEXIST, "a %s sandbox named '%s' exists", r->provider,
                             r->name);
        else
            rc = sbx_err_set(err, -EEXIST, "a %s sandbox with id '%s' exists", r->provider,
                             r->id);
        goto out;
    }
    if (src != SQLITE_DONE) {
        rc = db_fail(st, err, src, "insert");
        goto out;
    }
    rc = insert_labels(st, r, err);
out:
    sqlite3_finalize(s);
    if (rc < 0)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    else
        rc = exec_simple(st, "COMMIT", err);
    return rc;
}

static int step_changes(struct sbx_store *st, sqlite3_stmt *s, const char *provider,
                        const char *id, struct sbx_err *err)
{
    int src = sqlite3_step(s);
    if (src != SQLITE_DONE)
        return db_fail(st, err, src, "update");
    if (sqlite3_changes(st->db) == 0)
        return sbx_err_set(err, -ENOENT, "no such %s sandbox: %s", provider, id);
    return 0;
}

/* UPDATE of state, pid, pid_start and data; with cond, only while the row
 * records (pid, pid_start) = (was[0], was[1]). */
static int update(struct sbx_store *st, const struct sbx_store_row *r, const int64_t *was,
                  struct sbx_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     was ? "UPDATE sandboxes SET state = ?, pid = ?, pid_start = ?, data = ?"
                           " WHERE provider = ? AND id = ? AND pid = ? AND pid_start = ?"
                         : "UPDATE sandboxes SET state = ?, pid = ?, pid_start = ?, data = ?"
                           " WHERE provider = ? AND id = ?",
                     &s, err);
    if (rc < 0)
        return rc;
    bind_text(s, 1, r->state);
    sqlite3_bind_int64(s, 2, r->pid);
    sqlite3_bind_int64(s, 3, r->pid_start);
    bind_text(s, 4, r->data ? r->data : "{}");
    bind_text(s, 5, r->provider);
    bind_text(s, 6, r->id);
    if (was) {
        sqlite3_bind_int64(s, 7, was[0]);
        sqlite3_bind_int64(s, 8, was[1]);
    }
    rc = step_changes(st, s, r->provider, r->id, err);
    if (rc == -ENOENT && was)
        rc = sbx_err_set(err, -ESTALE, "the %s sandbox %s changed meanwhile", r->provider, r->id);
    sqlite3_finalize(s);
    return rc;
}

int sbx_store_update(struct sbx_store *st, const struct sbx_store_row *r, struct sbx_err *err)
{
    return update(st, r, NULL, err);
}

int sbx_store_update_if(struct sbx_store *st, const struct sbx_store_row *r, int64_t pid,
                        int64_t pid_start, struct sbx_err *err)
{
    const int64_t was[2] = {pid, pid_start};

    return update(st, r, was, err);
}

int sbx_store_set_state(struct sbx_store *st, const char *provider, const char *id,
                        const char *state, struct sbx_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st, "UPDATE sandboxes SET state = ? WHERE provider = ? AND id = ?", &s, err);
    if (rc < 0)
        return rc;
    bind_text(s, 1, state);
    bind_text(s, 2, provider);
    bind_text(s, 3, id);
    rc = step_changes(st, s, provider, id, err);
    sqlite3_finalize(s);
    return rc;
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static int load_labels(struct sbx_store *st, struct sbx_store_row *r, struct sbx_err *err)
{
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    int rc = prepare(st, "SELECT key, value FROM labels WHERE provider = ? AND id = ? ORDER BY key",
                     &s, err);
    if (rc < 0)
        return rc;
    bind_text(s, 1, r->provider);
    bind_text(s, 2, r->id);
    for (;;) {
        int src = sqlite3_step(s);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(st, err, src, "labels");
            goto out;
        }
        if (r->n_labels == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            char **n = realloc(r->labels, ncap * sizeof(*n));
            if (!n) {
                rc = sbx_err_set(err, -ENOMEM, "store: out of memory");
                goto out;
            }
            r->labels = n;
            cap = ncap;
        }
        struct sbx_buf b;
        /* NULL only when SQLite ran out of memory converting the column */
        const char *key = (const char *)sqlite3_column_text(s, 0);
        const char *value = (const char *)sqlite3_column_text(s, 1);
        sbx_buf_init(&b, 0);
        if (!key || !value || sbx_buf_addf(&b, "%s=%s", key, value) < 0) {
            sbx_buf_free(&b);
            rc = sbx_err_set(err, -ENOMEM, "store: out of memory");
            goto out;
        }
        r->labels[r->n_labels++] = sbx_buf_detach(&b, NULL);
    }
out:
    sqlite3_finalize(s);
    return rc;
}

#define ROW_COLUMNS "provider, id, name, state, created_ms, pid, pid_start, data"

static int read_row(sqlite3_stmt *s, struct sbx_store_row *r, struct sbx_err *err)
{
    memset(r, 0, sizeof(*r));
    r->provider = col_dup(s, 0);
    r->id = col_dup(s, 1);
    r->name = col_dup(s, 2);
    r->state = col_dup(s, 3);
    r->created_ms = sqlite3_column_int64(s, 4);
    r->pid = sqlite3_column_int64(s, 5);
    r->pid_start = sqlite3_column_int64(s, 6);
    r->data = col_dup(s, 7);
    if (!r->provider || !r->id || !r->state || !r->data ||
        (sqlite3_column_type(s, 2) != SQLITE_NULL && !r->name)) {
        sbx_store_row_release(r);
        return sbx_err_set(err, -ENOMEM, "store: out of memory");
    }
    return 0;
}

/* Runs a query bound to (provider, text) and returns the matching rows. */
static int query_rows(struct sbx_store *st, const char *sql, const char *provider,
                      const char *arg, struct sbx_store_row **out, struct sbx_err *err)
{
    sqlite3_stmt *s = NULL;
    struct sbx_store_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = prepare(st, sql, &s, err);
    if (rc < 0)
        return rc;
    bind_text(s, 1, provider);
    if (arg)
        bind_text(s, 2, arg);
    for (;;) {
        int src = sqlite3_step(s);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(st, err, src, "query");
            goto out;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct sbx_store_row *nr = realloc(rows, ncap * sizeof(*nr));
            if (!nr) {
                rc = sbx_err_set(err, -ENOMEM, "store: out of memory");
                goto out;
            }
            rows = nr;
            cap = ncap;
        }
        rc = read_row(s, &rows[n], err);
        if (rc < 0)
            goto out;
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        rc = load_labels(st, &rows[i], err);
        if (rc < 0)
            goto out;
    }
    rc = (int)n;
out:
    sqlite3_finalize(s);
    if (rc < 0) {
        sbx_store_rows_free(rows, n);
        rows = NULL;
    }
    *out = rows;
    return rc;
}

int sbx_store_get(struct sbx_store *st, const char *provider, const char *ref,
                  struct sbx_store_row *out, struct sbx_err *err)
{
    struct sbx_store_row *rows = NULL;
    int n;

    memset(out, 0, sizeof(*out));
    if (!ref || !*ref)
        return sbx_err_set(err, -EINVAL, "an empty sandbox id");
    n = query_rows(st, "SELECT " ROW_COLUMNS " FROM sandboxes WHERE provider = ? AND id = ?",
                   provider, ref, &rows, err);
    if (n == 0)
        n = query_rows(st, "SELECT " ROW_COLUMNS " FROM sandboxes WHERE provider = ? AND name = ?",
                       provider, ref, &rows, err);
    /* a prefix compares bytes: LIKE would ignore case and take wildcards,
     * so "BEEF" (no such name) would pick the sandbox beef12... */
    if (n == 0 && strlen(ref) >= 3)
        n = query_rows(st,
                       "SELECT " ROW_COLUMNS " FROM sandboxes WHERE provider = ?1"
                       " AND substr(id, 1, length(?2)) = ?2 ORDER BY id",
                       provider, ref, &rows, err);
    if (n < 0)
        return n;
    if (n == 0)
        return sbx_err_set(err, -ENOENT, "no such sandbox: %s", ref);
    if (n > 1) {
        int rc = sbx_err_set(err, -EINVAL, "sandbox id prefix '%s' is ambiguous: %s, %s%s", ref,
                             rows[0].id, rows[1].id, n > 2 ? ", ..." : "");
        sbx_store_rows_free(rows, (size_t)n);
        return rc;
    }
    *out = rows[0];
    free(rows);
    return 0;
}

static bool has_label(const struct sbx_store_row *r, const char *label)
{
    for (size_t i = 0; i < r->n_labels; i++)
        if (!strcmp(r->labels[i], label))
            return true;
    return false;
}

int sbx_store_list(struct sbx_store *st, const char *provider, const char *const *labels,
                   const char *name, struct sbx_store_row **out, struct sbx_err *err)
{
    struct sbx_store_row *rows = NULL;
    size_t kept = 0;
    int n;

    *out = NULL;
    for (size_t i = 0; labels && labels[i]; i++) {
        size_t klen;
        if (split_label(labels[i], &klen) < 0)
            return sbx_err_set(err, -EINVAL, "label filter '%s' is not key=value", labels[i]);
    }
    if (provider)
        n = query_rows(st,
                       "SELECT " ROW_COLUMNS " FROM sandboxes WHERE provider = ?"
                       " ORDER BY created_ms, id",
                       provider, NULL, &rows, err);
    else
        n = query_rows(st,
                       "SELECT " ROW_COLUMNS " FROM sandboxes WHERE ?1 IS NULL"
                       " ORDER BY created_ms, id",
                       NULL, NULL, &rows, err);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        bool keep = !name || (rows[i].name && !strcmp(rows[i].name, name));
        for (size_t j = 0; keep && labels && labels[j]; j++)
            keep = has_label(&rows[i], labels[j]);
        if (keep)
            rows[kept++] = rows[i];
        else
            sbx_store_row_release(&rows[i]);
    }
    if (kept == 0) {
        free(rows);
        rows = NULL;
    }
    *out = rows;
    return (int)kept;
}

int sbx_store_delete(struct sbx_store *st, const char *provider, const char *id,
                     struct sbx_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st, "DELETE FROM sandboxes WHERE provider = ? AND id = ?", &s, err);
    if (rc < 0)
        return rc;
    bind_text(s, 1, provider);
    bind_text(s, 2, id);
    rc = step_changes(st, s, provider, id, err);
    sqlite3_finalize(s);
    return rc;
}
