/*
 * `sbx serve e2b`: the sandbox table in the store (store/store.h), so that a
 * face started again over the same state directory loses nothing. One row
 * per sandbox: provider "serve-e2b", id = the E2B id, state running/paused,
 * data = the record as JSON (with the backend's id). Saved on every change
 * (on the loop thread: single SQLite statements); loaded at start, when each
 * record is checked against the backend (on a worker thread, waited for:
 * nothing is served before the table is known).
 */
#include "api/e2b/internal.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "sbx/log.h"
#include "store/store.h"

#define PROVIDER "serve-e2b"

static int set_opt(struct sbx_json *o, const char *key, const char *v)
{
    return v ? sbx_json_set_str(o, key, v) : 0;
}

static char *record_json(const struct sbx_e2b_sbx *s)
{
    struct sbx_json *o = sbx_json_object_new();
    struct sbx_buf b = SBX_BUF_INIT;
    int rc;

    if (!o)
        return NULL;
    rc = sbx_json_set_str(o, "backend_id", s->backend_id);
    if (rc == 0)
        rc = sbx_json_set_str(o, "template_id", s->template_id);
    if (rc == 0)
        rc = set_opt(o, "alias", s->alias);
    if (rc == 0)
        rc = set_opt(o, "client_id", s->client_id);
    if (rc == 0)
        rc = set_opt(o, "access_token", s->access_token);
    if (rc == 0)
        rc = set_opt(o, "traffic_token", s->traffic_token);
    if (rc == 0)
        rc = sbx_json_set_take(o, "metadata", sbx_json_ref(s->metadata));
    if (rc == 0)
        rc = sbx_json_set_take(o, "env_vars", sbx_json_ref(s->env_vars));
    if (rc == 0)
        rc = sbx_json_set_int(o, "started_ms", s->started_ms);
    if (rc == 0)
        rc = sbx_json_set_int(o, "end_ms", s->end_ms);
    if (rc == 0)
        rc = sbx_json_set_bool(o, "auto_pause", s->auto_pause);
    if (rc == 0)
        rc = sbx_json_set_bool(o, "allow_internet", s->allow_internet);
    if (rc == 0)
        rc = sbx_json_set_int(o, "cpu_count", s->cpu_count);
    if (rc == 0)
        rc = sbx_json_set_int(o, "memory_mb", s->memory_mb);
    if (rc == 0)
        rc = sbx_json_set_int(o, "disk_mb", s->disk_mb);
    if (rc == 0)
        rc = sbx_json_dump(o, &b);
    sbx_json_free(o);
    if (rc < 0) {
        sbx_buf_free(&b);
        return NULL;
    }
    return sbx_buf_detach(&b, NULL);
}

void sbx__e2b_persist_save(struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s)
{
    struct sbx_store_row row;
    struct sbx_err err = {0};
    int rc;

    if (!f->store)
        return;
    memset(&row, 0, sizeof(row));
    row.provider = (char *)PROVIDER;
    row.id = (char *)s->id;
    row.state = (char *)(s->state == SBX_E2B_PAUSED ? "paused" : "running");
    row.created_ms = s->started_ms;
    row.data = record_json(s);
    if (!row.data) {
        sbx_log(SBX_LOG_ERROR, "serve e2b: save %s: out of memory", s->id);
        return;
    }
    rc = sbx_store_update(f->store, &row, &err);
    if (rc == -ENOENT)
        rc = sbx_store_insert(f->store, &row, &err);
    if (rc < 0)
        sbx_log(SBX_LOG_ERROR, "serve e2b: save %s: %s", s->id, err.msg);
    free(row.data);
}

void sbx__e2b_persist_delete(struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s)
{
    struct sbx_err err = {0};

    if (f->store && sbx_store_delete(f->store, PROVIDER, s->id, &err) < 0 && err.code != -ENOENT)
        sbx_log(SBX_LOG_ERROR, "serve e2b: delete %s: %s", s->id, err.msg);
}

static char *dup_opt(const struct sbx_json *o, const char *key)
{
    const struct sbx_json *v = sbx_json_get(o, key);

    return v && sbx_json_type(v) == SBX_JSON_STRING ? strdup(sbx_json_str(v)) : NULL;
}

static int64_t int_of(const struct sbx_json *o, const char *key)
{
    const struct sbx_json *v = sbx_json_get(o, key);

    return v && sbx_json_type(v) == SBX_JSON_INT ? sbx_json_int(v) : 0;
}

static struct sbx_json *map_of(const struct sbx_json *o, const char *key)
{
    struct sbx_json *v = sbx_json_get(o, key);

    if (v && sbx_json_type(v) == SBX_JSON_OBJECT)
        return sbx_json_ref(v);
    return sbx_json_object_new();
}

/* The record of a row; NULL when its data is not one. */
static struct sbx_e2b_sbx *record_of(const struct sbx_store_row *row)
{
    struct sbx_err err = {0};
    struct sbx_json *o;
    struct sbx_e2b_sbx *s;
    const struct sbx_json *v;

    if (!row->data || strlen(row->id) > SBX_E2B_ID_LEN)
        return NULL;
    o = sbx_json_parse(row->data, strlen(row->data), &err);
    if (!o)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s) {
        sbx_json_free(o);
        return NULL;
    }
    memcpy(s->id, row->id, strlen(row->id) + 1);
    s->backend_id = dup_opt(o, "backend_id");
    s->template_id = dup_opt(o, "template_id");
    s->alias = dup_opt(o, "alias");
    s->client_id = dup_opt(o, "client_id");
    s->access_token = dup_opt(o, "access_token");
    s->traffic_token = dup_opt(o, "traffic_token");
    s->metadata = map_of(o, "metadata");
    s->env_vars = map_of(o, "env_vars");
    s->started_ms = int_of(o, "started_ms");
    s->end_ms = int_of(o, "end_ms");
    v = sbx_json_get(o, "auto_pause");
    s->auto_pause = v && sbx_json_type(v) == SBX_JSON_BOOL && sbx_json_bool(v);
    v = sbx_json_get(o, "allow_internet");
    s->allow_internet = !v || sbx_json_type(v) != SBX_JSON_BOOL || sbx_json_bool(v);
    s->cpu_count = (int)int_of(o, "cpu_count");
    s->memory_mb = (int)int_of(o, "memory_mb");
    s->disk_mb = (int)int_of(o, "disk_mb");
    s->state = row->state && strcmp(row->state, "paused") == 0 ? SBX_E2B_PAUSED : SBX_E2B_RUNNING;
    sbx_json_free(o);
    if (!s->backend_id || !s->template_id || !s->metadata || !s->env_vars) {
        sbx__e2b_sbx_free(s);
        return NULL;
    }
    return s;
}

/* The backend check, on a worker thread: for each record, the backend's
 * state (or gone). */
struct load_job {
    sem_t done;
    struct sbx_e2b_sbx **recs;
    size_t n;
    int *verdict; /* 0 gone, 1 running, 2 paused */
};

enum { GONE = 0, RUNNING = 1, PAUSED = 2 };

static void load_run(struct sbx_provider *p, const struct sbx_err *open_err, void *ud)
{
    struct load_job *j = ud;
    size_t i;

    for (i = 0; i < j->n; i++) {
        struct sbx_sandbox_info info = {0};
        struct sbx_err err = {0};
        int rc;

        if (!p) {
            /* cannot tell: keep it as it was recorded */
            (void)open_err;
            j->verdict[i] = j->recs[i]->state == SBX_E2B_PAUSED ? PAUSED : RUNNING;
            continue;
        }
        rc = sbx_provider_get(p, j->recs[i]->backend_id, &info, &err);
        if (rc == -ENOENT || (rc == 0 && info.state == SBX_SANDBOX_DEAD)) {
            if (rc == 0)
                sbx_provider_remove(p, j->recs[i]->backend_id, &err);
            j->verdict[i] = GONE;
        } else if (rc == 0 && info.state == SBX_SANDBOX_PAUSED) {
            j->verdict[i] = PAUSED;
        } else if (rc == 0) {
            j->verdict[i] = RUNNING;
        } else {
            j->verdict[i] = j->recs[i]->state == SBX_E2B_PAUSED ? PAUSED : RUNNING;
        }
        sbx_sandbox_info_free(&info);
    }
    sem_post(&j->done);
}

static void load_done(void *ud)
{
    struct load_job *j = ud;

    sem_destroy(&j->done);
    free(j->recs);
    free(j->verdict);
    free(j);
}

int sbx__e2b_persist_load(struct sbx_e2b_face *f, struct sbx_err *err)
{
    struct sbx_store_row *rows = NULL;
    struct load_job *j;
    struct sbx_err lerr = {0};
    size_t i, n = 0;
    int rc;

    (void)err;
    if (!f->store)
        return 0;
    rc = sbx_store_list(f->store, PROVIDER, NULL, NULL, &rows, &lerr);
    if (rc < 0) {
        sbx_log(SBX_LOG_ERROR, "serve e2b: load the sandboxes: %s", lerr.msg);
        return 0;
    }
    j = calloc(1, sizeof(*j));
    if (!j || !(j->recs = calloc((size_t)rc + 1, sizeof(*j->recs))) ||
        !(j->verdict = calloc((size_t)rc + 1, sizeof(*j->verdict)))) {
        if (j)
            free(j->recs);
        free(j);
        sbx_store_rows_free(rows, (size_t)rc);
        return sbx_err_set(err, -ENOMEM, "serve e2b: out of memory");
    }
    for (i = 0; i < (size_t)rc; i++) {
        struct sbx_e2b_sbx *s = record_of(&rows[i]);

        if (!s) {
            sbx_log(SBX_LOG_WARN, "serve e2b: dropping sandbox %s: its saved record is unreadable",
                    rows[i].id);
            sbx_store_delete(f->store, PROVIDER, rows[i].id, &lerr);
            continue;
        }
        j->recs[n++] = s;
    }
    sbx_store_rows_free(rows, (size_t)rc);
    j->n = n;
    sem_init(&j->done, 0, 0);
    if (n && sbx_api_worker_submit(f->worker, load_run, load_done, j, &lerr) == 0) {
        while (sem_wait(&j->done) < 0 && errno == EINTR)
            ;
    } else {
        for (i = 0; i < n; i++)
            j->verdict[i] = j->recs[i]->state == SBX_E2B_PAUSED ? PAUSED : RUNNING;
        if (n)
            sbx_log(SBX_LOG_WARN, "serve e2b: cannot check the saved sandboxes: %s", lerr.msg);
        n = 0; /* done is not called: free here */
    }
    for (i = 0; i < j->n; i++) {
        struct sbx_e2b_sbx *s = j->recs[i];

        j->recs[i] = NULL;
        if (j->verdict[i] == GONE) {
            sbx_log(SBX_LOG_INFO, "serve e2b: sandbox %s is gone from the backend", s->id);
            sbx__e2b_persist_delete(f, s);
            sbx__e2b_sbx_free(s);
            continue;
        }
        s->state = j->verdict[i] == PAUSED ? SBX_E2B_PAUSED : SBX_E2B_RUNNING;
        sbx__e2b_persist_save(f, s);
        sbx__e2b_add(f, s);
    }
    if (!n)
        load_done(j);
    return 0;
}
