/*
 * The action client: requests to sbx-server with the upstream client's
 * timeouts and retry rules (openhands-protocol.md §6), and the action calls.
 */
#include "runtime/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/time.h"
#include "json/json.h"

/* ---- the HTTP client ---------------------------------------------------- */

int sbx__rt_client_new(struct sbx_runtime *rt, const struct sbx_endpoint *ep, struct sbx_err *err)
{
    struct sbx_http_client_opts o = {0};
    struct sbx_err local;
    struct sbx_buf key = SBX_BUF_INIT;
    const char **hdrs = NULL;
    size_t n = 0, i, k = 0;
    int rc = 0;

    if (!ep || (!ep->url && !ep->unix_path))
        return sbx_err_set(err, -EINVAL, "runtime: the endpoint has neither a url nor a socket");
    while (ep->headers && ep->headers[n])
        n++;
    hdrs = calloc(n + 2, sizeof(*hdrs));
    if (!hdrs)
        return sbx_err_set(err, -ENOMEM, "runtime: out of memory");
    if (ep->api_key) {
        rc = sbx_buf_addf(&key, "X-Session-API-Key: %s", ep->api_key);
        if (rc < 0) {
            rc = sbx_err_set(err, rc, "runtime: out of memory");
            goto out;
        }
        hdrs[k++] = key.ptr;
    }
    for (i = 0; i < n; i++)
        hdrs[k++] = ep->headers[i];
    o.base_url = ep->url;
    o.unix_path = ep->unix_path;
    o.headers = hdrs;
    sbx_err_clear(&local);
    rt->http = sbx_http_client_new(&o, err ? err : &local);
    if (!rt->http)
        rc = err ? err->code : local.code;
out:
    /* The client copied the headers (the key among them). */
    sbx_buf_free(&key);
    free(hdrs);
    return rc;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* base * 2^(n-1), capped. */
static int64_t backoff_ms(int64_t base, int n, int64_t cap)
{
    int64_t w = base;

    while (--n > 0 && w < cap)
        w *= 2;
    return w < cap ? w : cap;
}

static int status_errno(int status)
{
    if (status == 401 || status == 403)
        return -EACCES;
    if (status == 404)
        return -ENOENT;
    if (status == 413)
        return -E2BIG;
    if (status == 429)
        return -EAGAIN;
    if (status >= 400 && status < 500)
        return -EINVAL;
    return -EIO;
}

/* The server's "detail" (FastAPI's error envelope), else the body text,
 * else nothing. */
static void detail_of(const struct sbx_http_resp *r, struct sbx_buf *out)
{
    struct sbx_json *root = NULL, *d;
    size_t n = r->body.len;

    if (n) {
        root = sbx_json_parse(r->body.ptr, n, NULL);
        d = root ? sbx_json_get(root, "detail") : NULL;
        if (d && sbx_json_type(d) == SBX_JSON_STRING) {
            sbx_buf_add(out, sbx_json_str(d), sbx_json_str_len(d));
        } else if (d) {
            sbx_json_dump(d, out);
        } else {
            const char *p = r->body.ptr;

            while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
                n--;
            sbx_buf_add(out, p, n < 200 ? n : 200);
        }
        sbx_json_free(root);
    }
}

int sbx__rt_send(struct sbx_runtime *rt, const char *what, const struct sbx_http_req *req,
                 struct sbx_http_resp *resp, struct sbx_err *err)
{
    int64_t base = rt->retry_base_ms > 0 ? rt->retry_base_ms : SBX__RT_DEFAULT_RETRY_BASE_MS;
    off_t start = 0;
    int n429 = 0, ndrop = 0;
    int rc;

    if (rt->prov && rt->sandbox_id) {
        int64_t now = sbx_now_ms();

        if (now - rt->touched_ms >= SBX__RT_TOUCH_MS) {
            struct sbx_sandbox_info info = {0};

            /* keep-alive only: a failure here is not the action's */
            rt->touched_ms = now;
            if (sbx_provider_get(rt->prov, rt->sandbox_id, &info, NULL) == 0)
                sbx_sandbox_info_free(&info);
        }
    }
    if (req->use_resp_fd) {
        start = lseek(req->resp_fd, 0, SEEK_CUR);
        if (start < 0)
            return sbx_err_set(err, -errno, "%s: response file: %s", what, strerror(errno));
    }
    for (;;) {
        rc = sbx_http_request(rt->http, req, resp, err);
        if (rc == -ECONNRESET && ++ndrop < SBX__RT_DROP_ATTEMPTS) {
            sleep_ms(backoff_ms(base, ndrop, SBX__RT_DROP_MAX_WAIT_MS));
        } else if (rc < 0) {
            /* rc, not sbx_err_prefix's value: that is 0 when err is NULL. */
            sbx_err_prefix(err, "%s", what);
            return rc;
        } else if (resp->status == 429 && ++n429 < SBX__RT_429_ATTEMPTS) {
            sleep_ms(backoff_ms(base, n429, SBX__RT_429_MAX_WAIT_MS));
        } else if (resp->status < 200 || resp->status >= 300) {
            struct sbx_buf d = SBX_BUF_INIT;

            detail_of(resp, &d);
            rc = sbx_err_set_http(err, status_errno(resp->status), resp->status,
                                  "%s: HTTP %d%s%.200s", what, resp->status, d.len ? ": " : "",
                                  d.ptr);
            sbx_buf_free(&d);
            return rc;
        } else {
            return 0;
        }
        /* Another attempt: the response file starts over. */
        if (req->use_resp_fd &&
            (ftruncate(req->resp_fd, start) < 0 || lseek(req->resp_fd, start, SEEK_SET) < 0))
            return sbx_err_set(err, -errno, "%s: response file: %s", what, strerror(errno));
    }
}

/* ---- actions -------------------------------------------------------------- */

static int64_t action_timeout_ms(bool has_timeout, double timeout_s)
{
    int64_t ms = SBX__RT_ACTION_DEFAULT_TIMEOUT_MS;

    if (has_timeout && timeout_s > 0) {
        /* Clamp absurd values rather than overflowing curl's long. */
        ms = timeout_s > 1e9 ? (int64_t)1e12 : (int64_t)(timeout_s * 1000.0);
    }
    return ms + SBX__RT_ACTION_GRACE_MS;
}

/* POSTs body (a whole {"action": ...}) to /execute_action; the observation
 * JSON stays in resp->body. */
static int execute(struct sbx_runtime *rt, const char *body, size_t len, int64_t timeout_ms,
                   struct sbx_http_resp *resp, struct sbx_err *err)
{
    struct sbx_http_req req = {
        .method = "POST",
        .path = "/execute_action",
        .body = body,
        .body_len = len,
        .content_type = "application/json",
        .timeout_ms = timeout_ms,
    };

    return sbx__rt_send(rt, "execute_action", &req, resp, err);
}

int sbx_runtime_act(struct sbx_runtime *rt, const struct sbx_action *a, struct sbx_obs **obs,
                    struct sbx_err *err)
{
    struct sbx_buf body = SBX_BUF_INIT;
    struct sbx_http_resp resp;
    int rc;

    *obs = NULL;
    sbx_http_resp_init(&resp);
    rc = sbx_buf_addstr(&body, "{\"action\":");
    if (rc == 0)
        rc = sbx_action_to_json(a, &body);
    if (rc == 0)
        rc = sbx_buf_addch(&body, '}');
    if (rc < 0) {
        rc = sbx_err_set(err, rc, "execute_action: serialising the action: %s", strerror(-rc));
        goto out;
    }
    rc = execute(rt, body.ptr, body.len, action_timeout_ms(a->has_timeout, a->timeout_s), &resp,
                 err);
    if (rc < 0)
        goto out;
    rc = sbx_obs_parse(resp.body.ptr, resp.body.len, obs, err);
    if (rc < 0)
        sbx_err_prefix(err, "execute_action: the observation");
out:
    sbx_http_resp_release(&resp);
    sbx_buf_free(&body);
    return rc;
}

int sbx_runtime_act_json(struct sbx_runtime *rt, const char *action_json, char **obs_json,
                         struct sbx_err *err)
{
    struct sbx_json *root = NULL, *inner;
    struct sbx_action *a = NULL;
    struct sbx_buf body = SBX_BUF_INIT;
    struct sbx_http_resp resp;
    size_t len = strlen(action_json);
    bool bare;
    int rc;

    *obs_json = NULL;
    sbx_http_resp_init(&resp);
    root = sbx_json_parse(action_json, len, err);
    if (!root) {
        rc = sbx_err_prefix(err, "action");
        rc = rc < 0 ? rc : -EINVAL;
        goto out;
    }
    /* A whole body has an object under "action"; a bare action has its
     * type string there. */
    inner = sbx_json_get(root, "action");
    bare = !(inner && sbx_json_type(inner) == SBX_JSON_OBJECT);
    rc = sbx_action_parse(action_json, len, bare, &a, NULL, err);
    if (rc < 0)
        goto out;
    if (bare) {
        rc = sbx_buf_addstr(&body, "{\"action\":");
        if (rc == 0)
            rc = sbx_buf_add(&body, action_json, len);
        if (rc == 0)
            rc = sbx_buf_addch(&body, '}');
    } else {
        rc = sbx_buf_add(&body, action_json, len);
    }
    if (rc < 0) {
        rc = sbx_err_set(err, rc, "execute_action: out of memory");
        goto out;
    }
    rc = execute(rt, body.ptr, body.len, action_timeout_ms(a->has_timeout, a->timeout_s), &resp,
                 err);
    if (rc < 0)
        goto out;
    *obs_json = sbx_buf_detach(&resp.body, NULL);
    if (!*obs_json)
        rc = sbx_err_set(err, -ENOMEM, "execute_action: out of memory");
out:
    sbx_http_resp_release(&resp);
    sbx_buf_free(&body);
    sbx_action_free(a);
    sbx_json_free(root);
    return rc;
}

/* The string fields are only read by sbx_action_to_json: the casts never
 * lead to a write or a free. */
int sbx_runtime_run(struct sbx_runtime *rt, const char *command, int64_t timeout_ms,
                    struct sbx_obs **obs, struct sbx_err *err)
{
    struct sbx_action a = {.kind = SBX_ACTION_RUN};

    a.u.run.command = (char *)command;
    a.u.run.security_risk = -1;
    if (timeout_ms > 0) {
        a.has_timeout = true;
        a.timeout_s = (double)timeout_ms / 1000.0;
        a.timeout_is_int = timeout_ms % 1000 == 0;
        a.u.run.blocking = true;
    }
    return sbx_runtime_act(rt, &a, obs, err);
}

int sbx_runtime_read(struct sbx_runtime *rt, const char *path, struct sbx_obs **obs,
                     struct sbx_err *err)
{
    struct sbx_action a = {.kind = SBX_ACTION_READ};

    a.u.read.path = (char *)path;
    a.u.read.end = -1;
    a.u.read.security_risk = -1;
    return sbx_runtime_act(rt, &a, obs, err);
}

int sbx_runtime_write(struct sbx_runtime *rt, const char *path, const char *content,
                      struct sbx_obs **obs, struct sbx_err *err)
{
    struct sbx_action a = {.kind = SBX_ACTION_WRITE};

    a.u.write.path = (char *)path;
    a.u.write.content = (char *)content;
    a.u.write.end = -1;
    a.u.write.security_risk = -1;
    return sbx_runtime_act(rt, &a, obs, err);
}

int sbx_runtime_edit(struct sbx_runtime *rt, const char *path, const char *old_str,
                     const char *new_str, struct sbx_obs **obs, struct sbx_err *err)
{
    struct sbx_action a = {.kind = SBX_ACTION_EDIT};

    a.u.edit.path = (char *)path;
    a.u.edit.command = (char *)"str_replace";
    a.u.edit.old_str = (char *)old_str;
    a.u.edit.new_str = (char *)new_str;
    a.u.edit.impl_source = (char *)"oh_aci";
    a.u.edit.start = 1;
    a.u.edit.end = -1;
    a.u.edit.security_risk = -1;
    return sbx_runtime_act(rt, &a, obs, err);
}

/* ---- other endpoints ------------------------------------------------------ */

void sbx_runtime_names_free(char **names, size_t n)
{
    size_t i;

    if (!names)
        return;
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int sbx_runtime_list_files(struct sbx_runtime *rt, const char *path, char ***names,
                           struct sbx_err *err)
{
    struct sbx_buf body = SBX_BUF_INIT;
    struct sbx_http_resp resp;
    struct sbx_json *root = NULL;
    char **v = NULL;
    size_t n = 0, i;
    int rc;

    *names = NULL;
    sbx_http_resp_init(&resp);
    if (path) {
        rc = sbx_buf_addstr(&body, "{\"path\":");
        if (rc == 0)
            rc = sbx_json_quote(&body, path, strlen(path));
        if (rc == 0)
            rc = sbx_buf_addch(&body, '}');
    } else {
        rc = sbx_buf_addstr(&body, "{}");
    }
    if (rc < 0) {
        rc = sbx_err_set(err, rc, "list_files: out of memory");
        goto out;
    }
    {
        struct sbx_http_req req = {
            .method = "POST",
            .path = "/list_files",
            .body = body.ptr,
            .body_len = body.len,
            .content_type = "application/json",
            .timeout_ms = SBX__RT_LIST_TIMEOUT_MS,
        };

        rc = sbx__rt_send(rt, "list_files", &req, &resp, err);
    }
    if (rc < 0)
        goto out;
    root = sbx_json_parse(resp.body.ptr, resp.body.len, err);
    if (!root || sbx_json_type(root) != SBX_JSON_ARRAY) {
        rc = sbx_err_set(err, -EPROTO, "list_files: the answer is not a JSON list");
        goto out;
    }
    n = sbx_json_array_len(root);
    v = calloc(n + 1, sizeof(*v));
    if (!v) {
        rc = sbx_err_set(err, -ENOMEM, "list_files: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        const struct sbx_json *e = sbx_json_array_at(root, i);

        if (sbx_json_type(e) != SBX_JSON_STRING) {
            rc = sbx_err_set(err, -EPROTO, "list_files: entry %zu is not a string", i);
            goto out;
        }
        v[i] = strndup(sbx_json_str(e), sbx_json_str_len(e));
        if (!v[i]) {
            rc = sbx_err_set(err, -ENOMEM, "list_files: out of memory");
            goto out;
        }
    }
    *names = v;
    v = NULL;
    rc = (int)n;
out:
    sbx_runtime_names_free(v, n);
    sbx_json_free(root);
    sbx_http_resp_release(&resp);
    sbx_buf_free(&body);
    return rc;
}

int sbx_runtime_alive(struct sbx_runtime *rt, struct sbx_err *err)
{
    struct sbx_http_req req = {.path = "/alive", .timeout_ms = SBX__RT_ALIVE_TIMEOUT_MS};
    struct sbx_http_resp resp;
    int rc;

    sbx_http_resp_init(&resp);
    /* One attempt: the caller's wait loop does the retrying. */
    rc = sbx_http_request(rt->http, &req, &resp, err);
    if (rc < 0) {
        sbx_err_prefix(err, "alive");
    } else if (resp.status != 200) {
        struct sbx_buf d = SBX_BUF_INIT;

        detail_of(&resp, &d);
        rc = sbx_err_set_http(err, status_errno(resp.status), resp.status, "alive: HTTP %d%s%s",
                              resp.status, d.len ? ": " : "", d.ptr);
        sbx_buf_free(&d);
    }
    sbx_http_resp_release(&resp);
    return rc;
}
