/*
 * `sbx serve e2b`, the control plane (shared/specs/e2b/openapi.yml): create,
 * get, list (v1 and v2, with the metadata/state/template filters and
 * pagination), kill, timeout, pause, connect, resume and refreshes, behind
 * the X-API-Key check; and TTL expiry. Provider calls run on the face's
 * worker (api/worker.h); the loop only keeps the table, answers and saves.
 *
 * Error bodies and messages follow the platform's API server
 * (e2b-dev/infra packages/api): {"code":N,"message":"..."}, the
 * request-validation wording of its OpenAPI middleware for bad bodies and
 * parameters, `Sandbox "<id>" doesn't exist or you don't have access to it`
 * for an unknown sandbox.
 */
#include "api/e2b/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "base/time.h"
#include "json/json.h"
#include "net/loop.h"
#include "sbx/log.h"

/* The platform answers every sandbox with this (deprecated) client id. */
#define CLIENT_ID "6532622b"
/* Default TTLs (dist/index.d.ts of e2b@2.51.0): NewSandbox, ResumedSandbox 15 s;
 * NewSandboxV2, ConnectSandboxV2 300 s. */
#define DEFAULT_TIMEOUT_S 15
#define DEFAULT_TIMEOUT_V2_S 300
/* The longest the TTL timer sleeps at once, so that a changed wall clock is
 * noticed within this. */
#define TTL_TICK_MAX_MS 60000
#define VALIDATION SBX_E2B_VALIDATION

/* ---- small helpers -------------------------------------------------------- */

static int not_found(struct sbx_http_req *req, const char *id)
{
    return sbx__e2b_respond_error(
        req, 404, "Sandbox \"%s\" doesn't exist or you don't have access to it", id);
}

static int oom(struct sbx_http_req *req)
{
    return sbx__e2b_respond_error(req, 500, "out of memory");
}

/* 2006-01-02T15:04:05.000Z */
static void rfc3339(int64_t ms, char out[64])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* The live sandbox id names, or NULL after answering 404. */
static struct sbx_e2b_sbx *lookup(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id)
{
    struct sbx_e2b_sbx *s = sbx__e2b_find(f, id);

    if (!s)
        not_found(req, id);
    return s;
}

static struct sbx_e2b_sbx *find_any(struct sbx_e2b_face *f, const char *id)
{
    struct sbx_e2b_sbx *s;

    for (s = f->sandboxes; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static const char *state_name(enum sbx_e2b_state st)
{
    return st == SBX_E2B_RUNNING ? "running" : "paused";
}

/* ---- request bodies: the checks of the platform's OpenAPI validator ------- */

struct body {
    struct sbx_json *root; /* NULL: no body */
};

static int body_error(struct sbx_http_req *req, const char *field, const char *what)
{
    return sbx__e2b_respond_error(req, 400,
                                  VALIDATION "request body has an error: doesn't match schema: "
                                             "Error at \"/%s\": %s",
                                  field, what);
}

/* Parses the JSON body. Returns 0 (root NULL when empty and !required), or
 * answers 400 and returns -1. */
static int parse_body(struct sbx_http_req *req, bool required, struct body *b)
{
    struct sbx_err err = {0};

    b->root = NULL;
    if (req->body.len == 0) {
        if (!required)
            return 0;
        sbx__e2b_respond_error(
            req, 400, VALIDATION "request body has an error: value is required but missing");
        return -1;
    }
    b->root = sbx_json_parse(req->body.ptr, req->body.len, &err);
    if (!b->root) {
        sbx__e2b_respond_error(
            req, 400, VALIDATION "request body has an error: failed to decode request body: %s",
            err.msg);
        return -1;
    }
    if (sbx_json_type(b->root) != SBX_JSON_OBJECT) {
        sbx_json_free(b->root);
        b->root = NULL;
        body_error(req, "", "value must be an object");
        return -1;
    }
    return 0;
}

enum kind { K_STR, K_INT, K_BOOL, K_OBJ, K_ARR };

static const char *kind_name(enum kind k)
{
    switch (k) {
    case K_STR: return "a string";
    case K_INT: return "an integer";
    case K_BOOL: return "a boolean";
    case K_OBJ: return "an object";
    default: return "an array";
    }
}

/* The member key of o when present and not null; -1 (answered 400) when it
 * has the wrong type. nullable: null is allowed (and treated as absent). */
static int member(struct sbx_http_req *req, const struct sbx_json *o, const char *path,
                  const char *key, enum kind k, bool nullable, const struct sbx_json **out)
{
    const struct sbx_json *v = sbx_json_get(o, key);
    char field[128];
    char what[64];
    enum sbx_json_type t;
    bool ok;

    *out = NULL;
    if (!v)
        return 0;
    t = sbx_json_type(v);
    snprintf(field, sizeof(field), "%s%s", path, key);
    if (t == SBX_JSON_NULL) {
        if (nullable)
            return 0;
        body_error(req, field, "Value is not nullable");
        return -1;
    }
    switch (k) {
    case K_STR: ok = t == SBX_JSON_STRING; break;
    case K_INT:
        ok = t == SBX_JSON_INT ||
             (t == SBX_JSON_REAL && sbx_json_number(v) == (double)(int64_t)sbx_json_number(v));
        break;
    case K_BOOL: ok = t == SBX_JSON_BOOL; break;
    case K_OBJ: ok = t == SBX_JSON_OBJECT; break;
    default: ok = t == SBX_JSON_ARRAY; break;
    }
    if (!ok) {
        snprintf(what, sizeof(what), "value must be %s", kind_name(k));
        body_error(req, field, what);
        return -1;
    }
    *out = v;
    return 0;
}

/* An int32 member in [min, max]; *val untouched when absent. */
static int int_member(struct sbx_http_req *req, const struct sbx_json *o, const char *key,
                      int64_t min, int64_t max, bool required, int64_t *val)
{
    const struct sbx_json *v;
    char what[64];
    int64_t n;

    if (member(req, o, "", key, K_INT, false, &v) < 0)
        return -1;
    if (!v) {
        if (!required)
            return 0;
        snprintf(what, sizeof(what), "property \"%s\" is missing", key);
        body_error(req, "", what);
        return -1;
    }
    n = sbx_json_type(v) == SBX_JSON_INT ? sbx_json_int(v) : (int64_t)sbx_json_number(v);
    if (n < min) {
        snprintf(what, sizeof(what), "number must be at least %lld", (long long)min);
        body_error(req, key, what);
        return -1;
    }
    if (n > max) {
        snprintf(what, sizeof(what), "number must be at most %lld", (long long)max);
        body_error(req, key, what);
        return -1;
    }
    *val = n;
    return 0;
}

static int bool_member(struct sbx_http_req *req, const struct sbx_json *o, const char *path,
                       const char *key, bool *val, bool *given)
{
    const struct sbx_json *v;

    if (member(req, o, path, key, K_BOOL, false, &v) < 0)
        return -1;
    if (v)
        *val = sbx_json_bool(v);
    if (given)
        *given = v != NULL;
    return 0;
}

/* An object whose values are all strings (metadata, envVars): a copy in
 * *out (an empty object when absent). */
static int string_map(struct sbx_http_req *req, const struct sbx_json *o, const char *key,
                      struct sbx_json **out)
{
    const struct sbx_json *v;
    size_t i, n;

    *out = NULL;
    if (member(req, o, "", key, K_OBJ, false, &v) < 0)
        return -1;
    *out = sbx_json_object_new();
    if (!*out) {
        oom(req);
        return -1;
    }
    n = v ? sbx_json_object_len(v) : 0;
    for (i = 0; i < n; i++) {
        const char *k;
        struct sbx_json *val;
        char field[256];

        sbx_json_object_at(v, i, &k, &val);
        if (sbx_json_type(val) != SBX_JSON_STRING) {
            snprintf(field, sizeof(field), "%s/%s", key, k);
            body_error(req, field, "value must be a string");
            goto fail;
        }
        if (sbx_json_set_str(*out, k, sbx_json_str(val)) < 0) {
            oom(req);
            goto fail;
        }
    }
    return 0;
fail:
    sbx_json_free(*out);
    *out = NULL;
    return -1;
}

/* An array whose items are all strings. */
static int string_array(struct sbx_http_req *req, const struct sbx_json *o, const char *path,
                        const char *key)
{
    const struct sbx_json *v;
    size_t i;

    if (member(req, o, path, key, K_ARR, false, &v) < 0)
        return -1;
    for (i = 0; v && i < sbx_json_array_len(v); i++) {
        if (sbx_json_type(sbx_json_array_at(v, i)) != SBX_JSON_STRING) {
            char field[128];

            snprintf(field, sizeof(field), "%s%s/%zu", path, key, i);
            body_error(req, field, "value must be a string");
            return -1;
        }
    }
    return 0;
}

/* ---- answers: the Sandbox, SandboxDetail and ListedSandbox schemas -------- */

static int set_opt_str(struct sbx_json *o, const char *key, const char *v)
{
    return v ? sbx_json_set_str(o, key, v) : 0;
}

/* The fields every sandbox schema has. */
static int identity_fields(struct sbx_json *o, const struct sbx_e2b_sbx *s)
{
    int rc = sbx_json_set_str(o, "templateID", s->template_id);

    if (rc == 0)
        rc = sbx_json_set_str(o, "sandboxID", s->id);
    if (rc == 0)
        rc = set_opt_str(o, "alias", s->alias);
    if (rc == 0)
        rc = sbx_json_set_str(o, "clientID", s->client_id ? s->client_id : CLIENT_ID);
    if (rc == 0)
        rc = sbx_json_set_str(o, "envdVersion", SBX_E2B_ENVD_VERSION);
    return rc;
}

/* Sandbox (create, connect, resume). */
static struct sbx_json *sandbox_json(const struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s)
{
    struct sbx_json *o = sbx_json_object_new();
    int rc;

    if (!o)
        return NULL;
    rc = identity_fields(o, s);
    if (rc == 0)
        rc = set_opt_str(o, "envdAccessToken", s->access_token);
    if (rc == 0)
        rc = s->traffic_token ? sbx_json_set_str(o, "trafficAccessToken", s->traffic_token)
                              : sbx_json_set_null(o, "trafficAccessToken");
    if (rc == 0)
        rc = sbx_json_set_str(o, "domain", f->domain);
    if (rc < 0) {
        sbx_json_free(o);
        return NULL;
    }
    return o;
}

/* The fields SandboxDetail and ListedSandbox share. */
static int common_fields(struct sbx_json *o, const struct sbx_e2b_sbx *s)
{
    char started[64], end[64];
    int rc;

    rfc3339(s->started_ms, started);
    rfc3339(s->end_ms, end);
    rc = identity_fields(o, s);
    if (rc == 0)
        rc = sbx_json_set_str(o, "startedAt", started);
    if (rc == 0)
        rc = sbx_json_set_str(o, "endAt", end);
    if (rc == 0)
        rc = sbx_json_set_int(o, "cpuCount", s->cpu_count);
    if (rc == 0)
        rc = sbx_json_set_int(o, "memoryMB", s->memory_mb);
    if (rc == 0)
        rc = sbx_json_set_int(o, "diskSizeMB", s->disk_mb);
    if (rc == 0)
        rc = sbx_json_set_take(o, "metadata", sbx_json_ref(s->metadata));
    if (rc == 0)
        rc = sbx_json_set_str(o, "state", state_name(s->state));
    if (rc == 0)
        rc = sbx_json_set_take(o, "volumeMounts", sbx_json_array_new());
    return rc;
}

static struct sbx_json *detail_json(const struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s)
{
    struct sbx_json *o = sbx_json_object_new(), *net = NULL, *life = NULL;
    int rc;

    if (!o)
        return NULL;
    rc = common_fields(o, s);
    if (rc == 0)
        rc = set_opt_str(o, "envdAccessToken", s->access_token);
    if (rc == 0)
        rc = sbx_json_set_bool(o, "allowInternetAccess", s->allow_internet);
    if (rc == 0)
        rc = sbx_json_set_str(o, "domain", f->domain);
    if (rc == 0) {
        net = sbx_json_object_new();
        rc = net ? sbx_json_set_bool(net, "allowPublicTraffic", s->traffic_token == NULL) : -ENOMEM;
        if (rc == 0)
            rc = sbx_json_set_take(o, "network", net);
        else
            sbx_json_free(net);
    }
    if (rc == 0) {
        life = sbx_json_object_new();
        rc = life ? sbx_json_set_bool(life, "autoResume", false) : -ENOMEM;
        if (rc == 0)
            rc = sbx_json_set_str(life, "onTimeout", s->auto_pause ? "pause" : "kill");
        if (rc == 0)
            rc = sbx_json_set_take(o, "lifecycle", life);
        else
            sbx_json_free(life);
    }
    if (rc < 0) {
        sbx_json_free(o);
        return NULL;
    }
    return o;
}

struct sbx_json *sbx__e2b_listed_json(const struct sbx_e2b_sbx *s)
{
    struct sbx_json *o = sbx_json_object_new();

    if (o && common_fields(o, s) < 0) {
        sbx_json_free(o);
        return NULL;
    }
    return o;
}

int sbx__e2b_respond_take(struct sbx_http_req *req, int status, struct sbx_json *o,
                          const char *extra_headers)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int rc;

    if (!o || sbx_json_dump(o, &b) < 0) {
        sbx_json_free(o);
        sbx_buf_free(&b);
        return oom(req);
    }
    sbx_json_free(o);
    rc = sbx_http_respond(req, status, "application/json", extra_headers, b.ptr, b.len);
    sbx_buf_free(&b);
    return rc;
}

static int respond_204(struct sbx_http_req *req)
{
    return sbx_http_respond(req, 204, NULL, NULL, NULL, 0);
}

/* ---- provider jobs ------------------------------------------------------- */

enum job_kind { JOB_CREATE, JOB_KILL, JOB_PAUSE, JOB_RESUME };

struct job {
    struct sbx_e2b_face *f;
    struct sbx_http_req *req; /* NULL for the TTL's own jobs */
    enum job_kind kind;
    char id[SBX_E2B_ID_LEN + 1];
    char *backend_id; /* kill, pause, resume: the provider's id */
    /* create */
    struct sbx_e2b_sbx *rec; /* the new record, not in the table yet */
    char *image;
    char **env;
    bool network_none;
    /* connect/resume: the TTL to set, and the status of a success */
    int64_t timeout_s;
    int ok_status;
    /* results */
    bool ran;
    int rc;
    struct sbx_err err;
};

static void job_free(struct job *j)
{
    size_t i;

    if (!j)
        return;
    free(j->backend_id);
    free(j->image);
    for (i = 0; j->env && j->env[i]; i++)
        free(j->env[i]);
    free(j->env);
    sbx__e2b_sbx_free(j->rec);
    free(j);
}

/* Worker thread: touches nothing but the job. */
static void job_run(struct sbx_provider *p, const struct sbx_err *open_err, void *ud)
{
    struct job *j = ud;

    j->ran = true;
    if (!p) {
        j->rc = open_err->code ? open_err->code : -EIO;
        j->err = *open_err;
        return;
    }
    switch (j->kind) {
    case JOB_CREATE: {
        char label[64];
        const char *labels[] = {label, NULL};
        const char *mkdir_argv[] = {"mkdir", "-p", SBX_E2B_HOME, NULL};
        struct sbx_sandbox_spec spec;
        struct sbx_sandbox_info info = {0};
        struct sbx_exec_req ex;
        struct sbx_exec_result res = {0};
        struct sbx_err xerr = {0};

        snprintf(label, sizeof(label), "e2b.sandbox=%s", j->id);
        memset(&spec, 0, sizeof(spec));
        spec.image = j->image;
        spec.labels = labels;
        spec.env = (const char *const *)j->env;
        spec.network = j->network_none ? SBX_NETWORK_NONE : SBX_NETWORK_HOST;
        j->rc = sbx_provider_create(p, &spec, &info, &j->err);
        if (j->rc < 0)
            break;
        j->backend_id = info.id;
        info.id = NULL;
        sbx_sandbox_info_free(&info);
        /* The default user's home, where commands start (as on E2B). */
        memset(&ex, 0, sizeof(ex));
        ex.argv = mkdir_argv;
        ex.cwd = "/";
        ex.timeout_ms = 60000;
        ex.stdin_fd = ex.stdout_fd = ex.stderr_fd = -1;
        j->rc = sbx_provider_exec(p, j->backend_id, &ex, &res, &j->err);
        if (j->rc == 0 && res.exit_code != 0)
            j->rc = sbx_err_set(&j->err, -EIO, "mkdir -p %s in the new sandbox: exit %d: %.200s",
                                SBX_E2B_HOME, res.exit_code, res.err ? res.err : "");
        sbx_exec_result_release(&res);
        if (j->rc < 0) {
            sbx_provider_remove(p, j->backend_id, &xerr);
            free(j->backend_id);
            j->backend_id = NULL;
        }
        break;
    }
    case JOB_KILL:
        j->rc = sbx_provider_remove(p, j->backend_id, &j->err);
        if (j->rc == -ENOENT)
            j->rc = 0; /* already gone: killed all the same */
        break;
    case JOB_PAUSE: j->rc = sbx_provider_pause(p, j->backend_id, &j->err); break;
    case JOB_RESUME: j->rc = sbx_provider_resume(p, j->backend_id, &j->err); break;
    }
}

static void job_done(void *ud);

static int job_submit(struct job *j)
{
    struct sbx_err err = {0};
    int rc = sbx_api_worker_submit(j->f->worker, job_run, job_done, j, &err);

    if (rc < 0) {
        if (j->req)
            sbx__e2b_respond_error(j->req, 503, "the face is shutting down");
        j->req = NULL;
    }
    return rc;
}

static void done_create(struct job *j)
{
    struct sbx_e2b_face *f = j->f;
    struct sbx_e2b_sbx *s = j->rec;

    if (j->rc < 0) {
        sbx_log(SBX_LOG_WARN, "serve e2b: create of %s failed: %s", j->id, j->err.msg);
        if (j->req)
            sbx__e2b_respond_error(j->req, 500, "Failed to create sandbox: %s", j->err.msg);
        return;
    }
    j->rec = NULL;
    s->backend_id = j->backend_id;
    j->backend_id = NULL;
    /* The TTL counts from when the sandbox is ready. */
    s->end_ms = sbx_wall_ms() + (s->end_ms - s->started_ms);
    s->started_ms = sbx_wall_ms();
    sbx__e2b_persist_save(f, s);
    if (f->closing) {
        /* Kept in the store: the next face over this state finds it. */
        sbx__e2b_sbx_free(s);
        if (j->req)
            sbx__e2b_respond_error(j->req, 503, "the face is shutting down");
        return;
    }
    sbx__e2b_add(f, s);
    sbx__e2b_ttl_rearm(f);
    if (j->req)
        sbx__e2b_respond_take(j->req, 201, sandbox_json(f, s), NULL);
}

static void done_kill(struct job *j)
{
    struct sbx_e2b_face *f = j->f;
    struct sbx_e2b_sbx *s = f->closing ? NULL : find_any(f, j->id);

    if (j->rc < 0) {
        sbx_log(SBX_LOG_WARN, "serve e2b: kill of %s failed: %s", j->id, j->err.msg);
        if (s && s->state == SBX_E2B_KILLING) {
            s->state = SBX_E2B_RUNNING;
            sbx__e2b_ttl_rearm(f);
        }
        if (j->req)
            sbx__e2b_respond_error(j->req, 500, "Error killing sandbox: %s", j->err.msg);
        return;
    }
    if (s) {
        sbx__e2b_persist_delete(f, s);
        sbx__e2b_drop(f, s);
    } else {
        struct sbx_e2b_sbx tmp;

        memset(&tmp, 0, sizeof(tmp));
        memcpy(tmp.id, j->id, sizeof(tmp.id));
        sbx__e2b_persist_delete(f, &tmp);
    }
    if (j->req)
        respond_204(j->req);
}

static void done_pause(struct job *j)
{
    struct sbx_e2b_face *f = j->f;
    struct sbx_e2b_sbx *s = f->closing ? NULL : find_any(f, j->id);

    if (s && s->state == SBX_E2B_PAUSING)
        s->state = j->rc < 0 ? SBX_E2B_RUNNING : SBX_E2B_PAUSED;
    if (s)
        sbx__e2b_persist_save(f, s);
    if (!f->closing)
        sbx__e2b_ttl_rearm(f);
    if (j->rc < 0) {
        sbx_log(SBX_LOG_WARN, "serve e2b: pause of %s failed: %s", j->id, j->err.msg);
        if (j->req)
            sbx__e2b_respond_error(j->req, 500, "Error pausing sandbox");
        return;
    }
    if (j->req)
        respond_204(j->req);
}

static void done_resume(struct job *j)
{
    struct sbx_e2b_face *f = j->f;
    struct sbx_e2b_sbx *s = f->closing ? NULL : find_any(f, j->id);

    if (j->rc < 0) {
        sbx_log(SBX_LOG_WARN, "serve e2b: resume of %s failed: %s", j->id, j->err.msg);
        if (j->req)
            sbx__e2b_respond_error(j->req, 500, "Failed to resume sandbox: %s", j->err.msg);
        return;
    }
    if (!s) {
        if (j->req)
            not_found(j->req, j->id);
        return;
    }
    s->state = SBX_E2B_RUNNING;
    s->end_ms = sbx_wall_ms() + j->timeout_s * 1000;
    sbx__e2b_persist_save(f, s);
    sbx__e2b_ttl_rearm(f);
    if (j->req)
        sbx__e2b_respond_take(j->req, j->ok_status, sandbox_json(f, s), NULL);
}

static void job_done(void *ud)
{
    struct job *j = ud;

    if (!j->ran) {
        /* dropped at shutdown, never run */
        if (j->req)
            sbx__e2b_respond_error(j->req, 503, "the face is shutting down");
        job_free(j);
        return;
    }
    switch (j->kind) {
    case JOB_CREATE: done_create(j); break;
    case JOB_KILL: done_kill(j); break;
    case JOB_PAUSE: done_pause(j); break;
    case JOB_RESUME: done_resume(j); break;
    }
    job_free(j);
}

static struct job *job_new(struct sbx_e2b_face *f, struct sbx_http_req *req, enum job_kind kind,
                           const struct sbx_e2b_sbx *s)
{
    struct job *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->f = f;
    j->req = req;
    j->kind = kind;
    if (s) {
        memcpy(j->id, s->id, sizeof(j->id));
        j->backend_id = strdup(s->backend_id);
        if (!j->backend_id) {
            free(j);
            return NULL;
        }
    }
    return j;
}

/* Starts killing (JOB_KILL: state KILLING, invisible from now on; its envd
 * state goes first) or pausing (JOB_PAUSE: PAUSING) s. req may be NULL.
 * A pause keeps envd's processes and their streams: E2B snapshots the
 * sandbox's memory and a backend's pause freezes them (local: the cgroup
 * freezer), so after a resume they are in Process/List with the same pid,
 * Process/Connect re-attaches and open streams go on. */
static int start_stop(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, struct sbx_http_req *req,
                      enum job_kind kind)
{
    struct job *j = job_new(f, req, kind, s);

    if (!j)
        return req ? oom(req) : -ENOMEM;
    s->state = kind == JOB_KILL ? SBX_E2B_KILLING : SBX_E2B_PAUSING;
    if (kind == JOB_KILL)
        sbx__e2b_envd_release(f, s);
    if (job_submit(j) < 0) {
        s->state = SBX_E2B_RUNNING;
        job_free(j);
        return -ESHUTDOWN;
    }
    return 0;
}

static int start_resume(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, struct sbx_http_req *req,
                        int64_t timeout_s, int ok_status)
{
    struct job *j = job_new(f, req, JOB_RESUME, s);

    if (!j)
        return oom(req);
    j->timeout_s = timeout_s;
    j->ok_status = ok_status;
    if (job_submit(j) < 0)
        job_free(j);
    return 0;
}

/* ---- POST /sandboxes ------------------------------------------------------- */

static int host_resources(struct sbx_e2b_sbx *s)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    struct statvfs vfs;

    s->cpu_count = cpus > 0 ? (int)cpus : 1;
    s->memory_mb = pages > 0 && psize > 0 ? (int)((int64_t)pages * psize >> 20) : 128;
    if (s->memory_mb < 128)
        s->memory_mb = 128;
    s->disk_mb = statvfs("/", &vfs) == 0 ? (int)((int64_t)vfs.f_blocks * vfs.f_frsize >> 20) : 0;
    return 0;
}

/* The network object of NewSandbox: allowPublicTraffic is what matters
 * here; egress rules cannot be enforced by every backend: refused (empty
 * ones are fine). */
static int parse_network(struct sbx_http_req *req, const struct sbx_json *o, bool *public_traffic)
{
    const struct sbx_json *net, *v;

    if (member(req, o, "", "network", K_OBJ, false, &net) < 0)
        return -1;
    if (!net)
        return 0;
    if (bool_member(req, net, "network/", "allowPublicTraffic", public_traffic, NULL) < 0 ||
        string_array(req, net, "network/", "allowOut") < 0 ||
        string_array(req, net, "network/", "denyOut") < 0 ||
        member(req, net, "network/", "maskRequestHost", K_STR, false, &v) < 0 ||
        member(req, net, "network/", "egressProxy", K_OBJ, true, &v) < 0 ||
        member(req, net, "network/", "rules", K_OBJ, false, &v) < 0)
        return -1;
    {
        static const char *const unsupported[] = {"allowOut", "denyOut", "rules", "egressProxy",
                                                  "maskRequestHost"};
        size_t i;

        for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
            v = sbx_json_get(net, unsupported[i]);
            if (v && sbx_json_type(v) != SBX_JSON_NULL &&
                !(sbx_json_type(v) == SBX_JSON_ARRAY && sbx_json_array_len(v) == 0) &&
                !(sbx_json_type(v) == SBX_JSON_OBJECT && sbx_json_object_len(v) == 0)) {
                sbx__e2b_respond_error(req, 400,
                                       "network.%s is not supported by sbx serve e2b (egress "
                                       "rules cannot be enforced on every backend)",
                                       unsupported[i]);
                return -1;
            }
        }
    }
    return 0;
}

/* POST /sandboxes (NewSandbox) and POST /v2/sandboxes (NewSandboxV2, what
 * the SDKs send: no `secure`, the sandbox is always secured). */
static void api_create(struct sbx_e2b_face *f, struct sbx_http_req *req, bool v2)
{
    struct body b;
    const struct sbx_json *tmpl, *v;
    const char *image = NULL;
    struct sbx_e2b_sbx *s = NULL;
    struct job *j = NULL;
    int64_t timeout_s = v2 ? DEFAULT_TIMEOUT_V2_S : DEFAULT_TIMEOUT_S;
    bool secure = v2, internet = true, public_traffic = true, auto_pause = false, dummy;
    size_t i, n;

    if (parse_body(req, true, &b) < 0)
        return;
    if (member(req, b.root, "", "templateID", K_STR, false, &tmpl) < 0)
        goto out;
    if (!tmpl) {
        body_error(req, "", "property \"templateID\" is missing");
        goto out;
    }
    if (int_member(req, b.root, "timeout", 0, INT32_MAX, false, &timeout_s) < 0 ||
        bool_member(req, b.root, "", "autoPause", &auto_pause, NULL) < 0 ||
        bool_member(req, b.root, "", "autoPauseMemory", &dummy, NULL) < 0 ||
        (!v2 && bool_member(req, b.root, "", "secure", &secure, NULL) < 0) ||
        bool_member(req, b.root, "", "allow_internet_access", &internet, NULL) < 0 ||
        parse_network(req, b.root, &public_traffic) < 0 ||
        member(req, b.root, "", "mcp", K_OBJ, true, &v) < 0 ||
        member(req, b.root, "", "iam", K_OBJ, false, &v) < 0)
        goto out;
    if (member(req, b.root, "", "autoResume", K_OBJ, false, &v) < 0)
        goto out;
    if (v) {
        bool on = false, given = false;

        if (bool_member(req, v, "autoResume/", "enabled", &on, &given) < 0)
            goto out;
        if (!given) {
            body_error(req, "autoResume", "property \"enabled\" is missing");
            goto out;
        }
        if (on) {
            sbx__e2b_respond_error(req, 400, "auto-resume is not supported by sbx serve e2b");
            goto out;
        }
    }
    if (member(req, b.root, "", "volumeMounts", K_ARR, false, &v) < 0)
        goto out;
    if (v && sbx_json_array_len(v) > 0) {
        sbx__e2b_respond_error(req, 400, "volume mounts are not supported by sbx serve e2b");
        goto out;
    }
    if (sbx__e2b_template_image(f, sbx_json_str(tmpl), &image) < 0) {
        sbx__e2b_respond_error(req, 404, "template '%s' not found", sbx_json_str(tmpl));
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    sbx__e2b_new_id(s->id);
    if (string_map(req, b.root, "metadata", &s->metadata) < 0 ||
        string_map(req, b.root, "envVars", &s->env_vars) < 0)
        goto out;
    s->template_id = strdup(sbx_json_str(tmpl));
    s->alias = strdup(sbx_json_str(tmpl));
    s->client_id = strdup(CLIENT_ID);
    if (!s->template_id || !s->alias || !s->client_id)
        goto nomem;
    if (secure && !(s->access_token = sbx__e2b_new_token(NULL, 32)))
        goto nomem;
    if (!public_traffic && !(s->traffic_token = sbx__e2b_new_token(NULL, 32)))
        goto nomem;
    s->state = SBX_E2B_RUNNING;
    s->started_ms = sbx_wall_ms();
    s->end_ms = s->started_ms + timeout_s * 1000;
    s->auto_pause = auto_pause;
    s->allow_internet = internet;
    host_resources(s);
    j = job_new(f, req, JOB_CREATE, NULL);
    if (!j)
        goto nomem;
    memcpy(j->id, s->id, sizeof(j->id));
    j->network_none = !internet;
    if (image && !(j->image = strdup(image)))
        goto nomem;
    n = sbx_json_object_len(s->env_vars);
    j->env = calloc(n + 1, sizeof(*j->env));
    if (!j->env)
        goto nomem;
    for (i = 0; i < n; i++) {
        const char *k;
        struct sbx_json *val;

        sbx_json_object_at(s->env_vars, i, &k, &val);
        if (asprintf(&j->env[i], "%s=%s", k, sbx_json_str(val)) < 0) {
            j->env[i] = NULL;
            goto nomem;
        }
    }
    j->rec = s;
    s = NULL;
    if (job_submit(j) < 0)
        job_free(j);
    j = NULL;
    goto out;
nomem:
    oom(req);
out:
    job_free(j);
    sbx__e2b_sbx_free(s);
    sbx_json_free(b.root);
}

/* ---- GET/DELETE /sandboxes/{id} and the actions ---------------------------- */

static void api_get(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id)
{
    struct sbx_e2b_sbx *s = lookup(f, req, id);

    if (!s)
        return;
    sbx__e2b_respond_take(req, 200, detail_json(f, s), NULL);
}

static void api_kill(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id)
{
    struct sbx_e2b_sbx *s = lookup(f, req, id);

    if (!s)
        return;
    if (s->state == SBX_E2B_PAUSING) {
        sbx__e2b_respond_error(req, 409, "Sandbox \"%s\" is being paused", id);
        return;
    }
    start_stop(f, s, req, JOB_KILL);
}

/* A body {"timeout": N} (required when `required`) into *timeout_s. */
static int timeout_body(struct sbx_http_req *req, bool required, const char *key, int64_t max,
                        int64_t *timeout_s)
{
    struct body b;
    int rc;

    if (parse_body(req, required, &b) < 0)
        return -1;
    if (!b.root)
        return 0;
    rc = int_member(req, b.root, key, 0, max, required, timeout_s);
    sbx_json_free(b.root);
    return rc;
}

static void api_timeout(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id)
{
    struct sbx_e2b_sbx *s;
    int64_t t = 0;

    if (timeout_body(req, true, "timeout", INT32_MAX, &t) < 0)
        return;
    s = sbx__e2b_find(f, id);
    if (!s || s->state != SBX_E2B_RUNNING) {
        not_found(req, id);
        return;
    }
    s->end_ms = sbx_wall_ms() + t * 1000;
    sbx__e2b_persist_save(f, s);
    sbx__e2b_ttl_rearm(f);
    respond_204(req);
}

static void api_refresh(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id)
{
    struct sbx_e2b_sbx *s;
    int64_t d = DEFAULT_TIMEOUT_S, end;

    if (timeout_body(req, false, "duration", 3600, &d) < 0)
        return;
    if (d < DEFAULT_TIMEOUT_S)
        d = DEFAULT_TIMEOUT_S; /* as the platform: never less than the default */
    s = sbx__e2b_find(f, id);
    if (!s || s->state != SBX_E2B_RUNNING) {
        not_found(req, id);
        return;
    }
    end = sbx_wall_ms() + d * 1000;
    if (end > s->end_ms) {
        s->end_ms = end;
        sbx__e2b_persist_save(f, s);
        sbx__e2b_ttl_rearm(f);
    }
    respond_204(req);
}

/* PUT /sandboxes/{id}/network (SandboxNetworkUpdateConfig): the egress rules
 * cannot be enforced (refused unless empty, which clears nothing), and the
 * backend's network is fixed at creation (a change of
 * allow_internet_access is refused). */
static void api_network(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id)
{
    static const char *const rules[] = {"allowOut", "denyOut", "rules", "egressProxy"};
    struct sbx_e2b_sbx *s;
    const struct sbx_json *v;
    bool internet, given = false;
    struct body b;
    size_t i;

    if (parse_body(req, true, &b) < 0)
        return;
    if (string_array(req, b.root, "", "allowOut") < 0 ||
        string_array(req, b.root, "", "denyOut") < 0 ||
        member(req, b.root, "", "rules", K_OBJ, false, &v) < 0 ||
        member(req, b.root, "", "egressProxy", K_OBJ, true, &v) < 0 ||
        bool_member(req, b.root, "", "allow_internet_access", &internet, &given) < 0)
        goto out;
    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        v = sbx_json_get(b.root, rules[i]);
        if (v && sbx_json_type(v) != SBX_JSON_NULL &&
            (sbx_json_type(v) == SBX_JSON_ARRAY ? sbx_json_array_len(v) : sbx_json_object_len(v)) >
                0) {
            sbx__e2b_respond_error(req, 400, "%s is not supported by sbx serve e2b", rules[i]);
            goto out;
        }
    }
    s = lookup(f, req, id);
    if (!s)
        goto out;
    if (s->state != SBX_E2B_RUNNING) {
        sbx__e2b_respond_error(req, 409, "Sandbox \"%s\" is not running", id);
        goto out;
    }
    if (given && internet != s->allow_internet) {
        sbx__e2b_respond_error(req, 400,
                               "changing allow_internet_access of a running sandbox is not "
                               "supported by sbx serve e2b");
        goto out;
    }
    respond_204(req);
out:
    sbx_json_free(b.root);
}

static void api_pause(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id)
{
    struct sbx_e2b_sbx *s;
    struct body b;
    bool mem = true;

    if (parse_body(req, false, &b) < 0)
        return;
    if (b.root && bool_member(req, b.root, "", "memory", &mem, NULL) < 0) {
        sbx_json_free(b.root);
        return;
    }
    sbx_json_free(b.root);
    s = lookup(f, req, id);
    if (!s)
        return;
    if (s->state == SBX_E2B_PAUSED) {
        sbx__e2b_respond_error(req, 409, "Error pausing sandbox - sandbox '%s' is already paused",
                               id);
        return;
    }
    if (s->state != SBX_E2B_RUNNING) {
        sbx__e2b_respond_error(req, 409, "Sandbox '%s' cannot be paused while in 'pausing' state",
                               id);
        return;
    }
    start_stop(f, s, req, JOB_PAUSE);
}

enum connect_kind {
    CONNECT,    /* POST /sandboxes/{id}/connect: ConnectSandbox, timeout required */
    CONNECT_V2, /* POST /v2/sandboxes/{id}/connect: optional ConnectSandboxV2 */
    RESUME,     /* POST /sandboxes/{id}/resume (deprecated): ResumedSandbox */
};

static void api_connect(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id,
                        enum connect_kind kind)
{
    struct sbx_e2b_sbx *s;
    int64_t t = kind == CONNECT_V2 ? DEFAULT_TIMEOUT_V2_S : DEFAULT_TIMEOUT_S, end;
    bool auto_pause = false, auto_pause_given = false, resume = kind == RESUME, mem = true;
    struct body b;

    if (parse_body(req, kind != CONNECT_V2, &b) < 0)
        return;
    if (b.root &&
        (int_member(req, b.root, "timeout", 0, INT32_MAX, kind == CONNECT, &t) < 0 ||
         (resume &&
          bool_member(req, b.root, "", "autoPause", &auto_pause, &auto_pause_given) < 0) ||
         (kind == CONNECT_V2 && bool_member(req, b.root, "", "memory", &mem, NULL) < 0))) {
        sbx_json_free(b.root);
        return;
    }
    sbx_json_free(b.root);
    s = lookup(f, req, id);
    if (!s)
        return;
    if (s->state == SBX_E2B_PAUSING) {
        sbx__e2b_respond_error(req, 409, "Sandbox \"%s\" is being paused", id);
        return;
    }
    if (s->state == SBX_E2B_RUNNING) {
        if (resume) {
            sbx__e2b_respond_error(req, 409, "Sandbox %s is already running", id);
            return;
        }
        /* the TTL is only extended */
        end = sbx_wall_ms() + t * 1000;
        if (end > s->end_ms) {
            s->end_ms = end;
            sbx__e2b_persist_save(f, s);
            sbx__e2b_ttl_rearm(f);
        }
        sbx__e2b_respond_take(req, 200, sandbox_json(f, s), NULL);
        return;
    }
    if (auto_pause_given)
        s->auto_pause = auto_pause; /* the deprecated resume may change it */
    start_resume(f, s, req, t, 201);
}

/* Routes of the spec a face over another provider has no data or means for,
 * answered with what the spec declares for them (spec-findings F1/F2):
 * metrics and logs are empty (200), snapshots 400 and fork 500, the
 * statuses their operations list for a request that cannot be served. */
static void api_unavailable(struct sbx_e2b_face *f, struct sbx_http_req *req, const char *id,
                            const char *action, bool v2)
{
    static const char empty_logs[] = "{\"logs\":[],\"logEntries\":[]}";
    static const char empty_logs_v2[] = "{\"logs\":[]}";

    if (!lookup(f, req, id))
        return;
    if (strcmp(action, "metrics") == 0)
        sbx_http_respond_json(req, 200, "[]", 2);
    else if (strcmp(action, "logs") == 0 && v2)
        sbx_http_respond_json(req, 200, empty_logs_v2, sizeof(empty_logs_v2) - 1);
    else if (strcmp(action, "logs") == 0)
        sbx_http_respond_json(req, 200, empty_logs, sizeof(empty_logs) - 1);
    else if (strcmp(action, "snapshots") == 0)
        sbx__e2b_respond_error(req, 400, "sandbox snapshots are not supported by sbx serve e2b");
    else
        sbx__e2b_respond_error(req, 500, "sandbox fork is not supported by sbx serve e2b");
}

/* ---- routing and auth -------------------------------------------------------- */

/* X-API-Key is required; with --api-key it must be that key. Answers 401
 * and returns false otherwise (wording of the platform's API). */
static bool authorized(struct sbx_e2b_face *f, struct sbx_http_req *req)
{
    const char *key = sbx_http_req_header(req, "X-API-Key");

    if (!key || !*key) {
        sbx__e2b_respond_error(req, 401, "authorization header is missing");
        return false;
    }
    if (f->api_key && !sbx_ct_streq(key, f->api_key)) {
        sbx__e2b_respond_error(req, 401,
                               "Invalid API key, please visit https://e2b.dev/docs/api-key for "
                               "more information.\nInvalid API key");
        return false;
    }
    return true;
}

static bool method_is(struct sbx_http_req *req, enum sbx_http_method m)
{
    if (req->method == m)
        return true;
    sbx__e2b_respond_error(req, 405, "method not allowed");
    return false;
}

void sbx__e2b_api_handle(struct sbx_e2b_face *f, struct sbx_http_req *req)
{
    const char *path = req->path;
    char id[128];
    const char *action = NULL;

    if (strcmp(path, "/health") == 0) {
        if (method_is(req, SBX_HTTP_GET))
            respond_204(req);
        return;
    }
    if (strcmp(path, "/sandboxes") == 0 || strcmp(path, "/v2/sandboxes") == 0) {
        bool v2 = path[1] == 'v';

        if (req->method != SBX_HTTP_GET && !method_is(req, SBX_HTTP_POST))
            return;
        if (!authorized(f, req))
            return;
        if (req->method == SBX_HTTP_POST)
            api_create(f, req, v2);
        else
            sbx__e2b_api_list(f, req, v2);
        return;
    }
    if (strncmp(path, "/v2/sandboxes/", 14) == 0) {
        const char *rest = path + 14, *slash = strchr(rest, '/');

        if (slash && slash > rest && (size_t)(slash - rest) < sizeof(id) &&
            (strcmp(slash, "/connect") == 0 || strcmp(slash, "/logs") == 0)) {
            bool logs = slash[1] == 'l';

            memcpy(id, rest, (size_t)(slash - rest));
            id[slash - rest] = '\0';
            if (!method_is(req, logs ? SBX_HTTP_GET : SBX_HTTP_POST) || !authorized(f, req))
                return;
            if (logs)
                api_unavailable(f, req, id, "logs", true);
            else
                api_connect(f, req, id, CONNECT_V2);
            return;
        }
        sbx__e2b_respond_error(req, 404, "no matching operation was found");
        return;
    }
    if (strncmp(path, "/sandboxes/", 11) == 0 && path[11]) {
        const char *rest = path + 11, *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

        if (n > 0 && n < sizeof(id)) {
            memcpy(id, rest, n);
            id[n] = '\0';
            action = slash ? slash + 1 : "";
        }
    }
    if (!action) {
        sbx__e2b_respond_error(req, 404, "no matching operation was found");
        return;
    }
    if (!*action) {
        if (req->method != SBX_HTTP_GET && !method_is(req, SBX_HTTP_DELETE))
            return;
        if (!authorized(f, req))
            return;
        if (req->method == SBX_HTTP_GET)
            api_get(f, req, id);
        else
            api_kill(f, req, id);
        return;
    }
    {
        static const char *const actions[] = {"timeout",   "pause",   "connect", "resume",
                                              "refreshes", "network", "metrics", "logs",
                                              "snapshots", "fork"};
        static const enum sbx_http_method methods[] = {
            SBX_HTTP_POST, SBX_HTTP_POST, SBX_HTTP_POST, SBX_HTTP_POST, SBX_HTTP_POST,
            SBX_HTTP_PUT,  SBX_HTTP_GET,  SBX_HTTP_GET,  SBX_HTTP_POST, SBX_HTTP_POST};
        size_t i;

        for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
            if (strcmp(action, actions[i]) == 0)
                break;
        if (i == sizeof(actions) / sizeof(actions[0])) {
            sbx__e2b_respond_error(req, 404, "no matching operation was found");
            return;
        }
        if (!method_is(req, methods[i]) || !authorized(f, req))
            return;
        if (i > 5) {
            api_unavailable(f, req, id, actions[i], false);
            return;
        }
        switch (i) {
        case 0: api_timeout(f, req, id); break;
        case 1: api_pause(f, req, id); break;
        case 2: api_connect(f, req, id, CONNECT); break;
        case 3: api_connect(f, req, id, RESUME); break;
        case 4: api_refresh(f, req, id); break;
        default: api_network(f, req, id); break;
        }
    }
}

/* ---- TTL ------------------------------------------------------------------------ */

static void on_ttl(struct sbx_timer *t, void *ud)
{
    struct sbx_e2b_face *f = ud;
    struct sbx_e2b_sbx *s;
    int64_t now = sbx_wall_ms();

    (void)t;
    for (s = f->sandboxes; s; s = s->next) {
        if (s->state != SBX_E2B_RUNNING || s->end_ms > now)
            continue;
        sbx_log(SBX_LOG_INFO, "serve e2b: sandbox %s timed out: %s", s->id,
                s->auto_pause ? "pausing" : "killing");
        start_stop(f, s, NULL, s->auto_pause ? JOB_PAUSE : JOB_KILL);
    }
    sbx__e2b_ttl_rearm(f);
}

void sbx__e2b_ttl_rearm(struct sbx_e2b_face *f)
{
    struct sbx_e2b_sbx *s;
    int64_t next = INT64_MAX, delay;

    if (!f->ttl_timer || f->closing)
        return;
    for (s = f->sandboxes; s; s = s->next)
        if (s->state == SBX_E2B_RUNNING && s->end_ms < next)
            next = s->end_ms;
    if (next == INT64_MAX) {
        sbx_timer_stop(f->ttl_timer);
        return;
    }
    delay = next - sbx_wall_ms();
    if (delay < 0)
        delay = 0;
    if (delay > TTL_TICK_MAX_MS)
        delay = TTL_TICK_MAX_MS;
    sbx_timer_start(f->ttl_timer, delay);
}

int sbx__e2b_api_start(struct sbx_e2b_face *f, struct sbx_err *err)
{
    f->ttl_timer = sbx_timer_new(f->loop, on_ttl, f, err);
    if (!f->ttl_timer)
        return err && err->code ? err->code : -ENOMEM;
    sbx__e2b_ttl_rearm(f);
    return 0;
}

void sbx__e2b_api_stop(struct sbx_e2b_face *f)
{
    sbx_timer_close(f->ttl_timer);
    f->ttl_timer = NULL;
}
