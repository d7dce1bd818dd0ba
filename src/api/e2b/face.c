/*
 * `sbx serve e2b`, the core (e2b.h): the listener, per-request routing the
 * way E2B's edge proxy routes (header first, then Host), the sandbox table,
 * ids and tokens, and the error bodies the other files answer with.
 */
#include "api/e2b/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/time.h"
#include "json/json.h"
#include "net/connect.h"
#include "net/loop.h"
#include "sbx/log.h"
#include "store/store.h"

/* The largest control-plane body: its JSON (a few KiB in practice) is
 * parsed whole on the loop thread, at some 30 bytes of tree per byte. */
#define API_BODY_MAX ((size_t)4 << 20)

/* Where a request goes, decided once its headers are in. */
struct route {
    char id[SBX_E2B_ID_LEN + 1]; /* "" = control plane */
    int port;
};

/* ---- ids, tokens, templates --------------------------------------------- */

/* getrandom(2), which cannot fail short of ENOSYS or a bad buffer. */
static int fill_random(unsigned char *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);

        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

void sbx__e2b_new_id(char out[SBX_E2B_ID_LEN + 1])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[SBX_E2B_ID_LEN];
    size_t i;

    if (fill_random(r, sizeof(r)) < 0) {
        /* ids are names, not secrets: without an entropy source, a mix of
         * the clock and a counter still gives distinct ones */
        static uint64_t counter;
        uint64_t x = (uint64_t)sbx_now_ms() * 6364136223846793005u + ++counter;

        for (i = 0; i < sizeof(r); i++) {
            x ^= x >> 33;
            x *= 0xff51afd7ed558ccdu;
            r[i] = (unsigned char)(x >> 56);
        }
    }
    for (i = 0; i < SBX_E2B_ID_LEN; i++)
        out[i] = alphabet[r[i] % 36]; /* 256 % 36 = 4: a negligible bias for an id */
    out[SBX_E2B_ID_LEN] = '\0';
}

char *sbx__e2b_new_token(const char *prefix, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t plen = prefix ? strlen(prefix) : 0, i;
    unsigned char *r = malloc(n);
    char *s = malloc(plen + 2 * n + 1);

    if (!r || !s || fill_random(r, n) < 0) {
        /* a token is a secret: no entropy, no token */
        free(r);
        free(s);
        return NULL;
    }
    if (plen)
        memcpy(s, prefix, plen);
    for (i = 0; i < n; i++) {
        s[plen + 2 * i] = hex[r[i] >> 4];
        s[plen + 2 * i + 1] = hex[r[i] & 15];
    }
    s[plen + 2 * n] = '\0';
    free(r);
    return s;
}

int sbx__e2b_template_image(const struct sbx_e2b_face *f, const char *name, const char **image)
{
    size_t n = strlen(name), i;

    for (i = 0; f->templates && f->templates[i]; i++) {
        const char *t = f->templates[i];

        if (strncmp(t, name, n) == 0 && t[n] == '=') {
            *image = t[n + 1] ? t + n + 1 : NULL;
            return 0;
        }
    }
    if (strcmp(name, "base") == 0) {
        *image = NULL;
        return 0;
    }
    return -ENOENT;
}

/* ---- the sandbox table -------------------------------------------------- */

struct sbx_e2b_sbx *sbx__e2b_find(struct sbx_e2b_face *f, const char *id)
{
    struct sbx_e2b_sbx *s;

    for (s = f->sandboxes; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s->state == SBX_E2B_KILLING ? NULL : s;
    return NULL;
}

void sbx__e2b_add(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s)
{
    s->next = f->sandboxes;
    f->sandboxes = s;
}

void sbx__e2b_sbx_free(struct sbx_e2b_sbx *s)
{
    if (!s)
        return;
    free(s->backend_id);
    free(s->template_id);
    free(s->alias);
    free(s->client_id);
    free(s->access_token);
    free(s->traffic_token);
    sbx_json_free(s->metadata);
    sbx_json_free(s->env_vars);
    free(s);
}

void sbx__e2b_drop(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s)
{
    struct sbx_e2b_sbx **pp;

    for (pp = &f->sandboxes; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    sbx__e2b_envd_release(f, s);
    sbx__e2b_sbx_free(s);
}

/* ---- error bodies ------------------------------------------------------- */

int sbx__e2b_respond_error(struct sbx_http_req *req, int status, const char *fmt, ...)
{
    char msg[512];
    struct sbx_json *o = sbx_json_object_new();
    struct sbx_buf b = SBX_BUF_INIT;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!o || sbx_json_set_int(o, "code", status) < 0 || sbx_json_set_str(o, "message", msg) < 0 ||
        sbx_json_dump(o, &b) < 0) {
        sbx_json_free(o);
        sbx_buf_free(&b);
        return sbx_http_respond(req, 500, "text/plain", NULL, "out of memory", 13);
    }
    sbx_json_free(o);
    rc = sbx_http_respond_json(req, status, b.ptr, b.len);
    sbx_buf_free(&b);
    return rc;
}

int sbx__e2b_respond_connect_error(struct sbx_http_req *req, int connect_code, const char *fmt,
                                   ...)
{
    char msg[512];
    struct sbx_json *o = sbx_json_object_new();
    struct sbx_buf b = SBX_BUF_INIT;
    enum sbx_connect_code c = (enum sbx_connect_code)connect_code;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!o || sbx_json_set_str(o, "code", sbx_connect_code_name(c)) < 0 ||
        sbx_json_set_str(o, "message", msg) < 0 || sbx_json_dump(o, &b) < 0) {
        sbx_json_free(o);
        sbx_buf_free(&b);
        return sbx_http_respond(req, 500, "text/plain", NULL, "out of memory", 13);
    }
    sbx_json_free(o);
    rc = sbx_http_respond_json(req, sbx_connect_code_http_status(c), b.ptr, b.len);
    sbx_buf_free(&b);
    return rc;
}

/* ---- routing ------------------------------------------------------------ */

/* "<port>-<id>.<rest>" (a Host, port suffix allowed) -> id and port. */
static bool parse_host(const char *host, struct route *r)
{
    const char *dash, *dot;
    char *end;
    long port;
    size_t n;

    if (!host || !isdigit((unsigned char)host[0]))
        return false;
    port = strtol(host, &end, 10);
    dash = end;
    if (*dash != '-' || port <= 0 || port > 65535)
        return false;
    dot = strchr(dash + 1, '.');
    if (!dot)
        return false;
    n = (size_t)(dot - (dash + 1));
    if (n == 0 || n > SBX_E2B_ID_LEN)
        return false;
    memcpy(r->id, dash + 1, n);
    r->id[n] = '\0';
    r->port = (int)port;
    return true;
}

static bool valid_id(const char *id)
{
    size_t i;

    for (i = 0; id[i]; i++)
        if (!islower((unsigned char)id[i]) && !isdigit((unsigned char)id[i]))
            return false;
    return i > 0 && i <= SBX_E2B_ID_LEN;
}

/* Fills r; returns 0, or an HTTP status with detail for a malformed route. */
static int route_of(const struct sbx_http_req *req, struct route *r, char *detail, size_t dlen)
{
    const char *id = sbx_http_req_header(req, "E2b-Sandbox-Id");
    const char *port = sbx_http_req_header(req, "E2b-Sandbox-Port");

    memset(r, 0, sizeof(*r));
    if (id) {
        char *end;
        long p = SBX_E2B_ENVD_PORT;

        if (strlen(id) > SBX_E2B_ID_LEN || !valid_id(id)) {
            snprintf(detail, dlen, "invalid sandbox ID '%.40s' in E2b-Sandbox-Id", id);
            return 400;
        }
        if (port) {
            p = strtol(port, &end, 10);
            if (end == port || *end || p <= 0 || p > 65535) {
                snprintf(detail, dlen, "invalid port '%.20s' in E2b-Sandbox-Port", port);
                return 400;
            }
        }
        snprintf(r->id, sizeof(r->id), "%s", id);
        r->port = (int)p;
        return 0;
    }
    if (parse_host(sbx_http_req_header(req, "Host"), r) && valid_id(r->id))
        return 0;
    memset(r, 0, sizeof(*r));
    return 0;
}

static int on_headers(struct sbx_http_req *req, char *detail, size_t dlen, void *ud)
{
    struct sbx_e2b_face *f = ud;
    struct route r;
    struct sbx_e2b_sbx *s;
    int st;

    /* Nothing is allocated for on_request: a request whose body never
     * completes (client gone, 413) does not reach it, and its route would
     * leak. on_request works the route out again from the same headers. */
    st = route_of(req, &r, detail, dlen);
    if (st)
        return st;
    if (!r.id[0]) {
        /* control-plane JSON is parsed whole on the loop thread */
        req->body_max = API_BODY_MAX;
        return 0;
    }
    s = sbx__e2b_find(f, r.id);
    if (!s || s->state != SBX_E2B_RUNNING)
        return 0; /* answered in on_request, with the platform's body */
    if (r.port != SBX_E2B_ENVD_PORT) {
        req->hijack = true; /* proxy.c relays the connection */
        return 0;
    }
    return sbx__e2b_envd_headers(f, s, req, detail, dlen);
}

static void on_request(struct sbx_http_req *req, void *ud)
{
    struct sbx_e2b_face *f = ud;
    struct route r;
    struct sbx_e2b_sbx *s;
    char detail[256];

    /* on_headers accepted these headers: the route is well-formed */
    if (route_of(req, &r, detail, sizeof(detail)) != 0)
        memset(&r, 0, sizeof(r));
    if (!r.id[0]) {
        sbx__e2b_api_handle(f, req);
        return;
    }
    s = sbx__e2b_find(f, r.id);
    if (!s) {
        /* the edge proxy's answer for an unknown or killed sandbox */
        sbx__e2b_respond_error(req, 502, "The sandbox %s was not found", r.id);
        return;
    }
    if (s->state != SBX_E2B_RUNNING) {
        sbx__e2b_respond_error(req, 502, "The sandbox %s is paused", r.id);
        return;
    }
    if (r.port == SBX_E2B_ENVD_PORT)
        sbx__e2b_envd_handle(f, s, req);
    else
        sbx__e2b_proxy_handle(f, s, r.port, req);
}

/* ---- lifecycle ---------------------------------------------------------- */

static char **copy_strv(const char *const *v)
{
    size_t n = 0, i;
    char **out;

    while (v && v[n])
        n++;
    out = calloc(n + 1, sizeof(*out));
    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        out[i] = strdup(v[i]);
        if (!out[i]) {
            while (i > 0)
                free(out[--i]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static int open_store(struct sbx_e2b_face *f, const struct sbx_provider_config *cfg,
                      struct sbx_err *err)
{
    struct sbx_provider *p = sbx_provider_open(f->backend, cfg, err);
    struct sbx_buf b = SBX_BUF_INIT;

    if (!p)
        return err && err->code ? err->code : -EIO;
    if (sbx_buf_addf(&b, "%s/sbx.db", sbx_provider_state_dir(p)) < 0) {
        sbx_provider_close(p);
        return sbx_err_set(err, -ENOMEM, "serve e2b: out of memory");
    }
    sbx_provider_close(p);
    f->store = sbx_store_open(b.ptr, err);
    sbx_buf_free(&b);
    return f->store ? 0 : (err && err->code ? err->code : -EIO);
}

struct sbx_e2b_face *sbx_e2b_face_new(struct sbx_loop *l, const struct sbx_e2b_face_opts *o,
                                      struct sbx_err *err)
{
    struct sbx_e2b_face *f = calloc(1, sizeof(*f));
    struct sbx_http_server_opts hs;
    struct sbx_api_worker_opts wo;
    int rc;

    if (!f) {
        sbx_err_set(err, -ENOMEM, "serve e2b: out of memory");
        return NULL;
    }
    f->loop = l;
    f->backend = strdup(o->backend ? o->backend : "local");
    f->api_key = o->api_key ? strdup(o->api_key) : NULL;
    f->templates = copy_strv(o->templates);
    if (!f->backend || (o->api_key && !f->api_key) || !f->templates) {
        sbx_err_set(err, -ENOMEM, "serve e2b: out of memory");
        goto fail;
    }
    for (size_t i = 0; f->templates[i]; i++) {
        if (!strchr(f->templates[i], '=') || f->templates[i][0] == '=') {
            sbx_err_set(err, -EINVAL, "serve e2b: template '%s' is not NAME=IMAGE",
                        f->templates[i]);
            goto fail;
        }
    }
    rc = open_store(f, o->cfg, err);
    if (rc < 0)
        goto fail;
    /* Two pools: a running envd process holds its thread for as long as it
     * runs, so processes get their own, and a sandbox full of long-running
     * commands never makes a create, a kill or a file read wait. */
    memset(&wo, 0, sizeof(wo));
    wo.backend = f->backend;
    wo.cfg = o->cfg;
    wo.max_threads = SBX_E2B_CALL_THREADS;
    f->worker = sbx_api_worker_new(l, &wo, err);
    if (!f->worker)
        goto fail;
    wo.max_threads = SBX_E2B_PROC_THREADS;
    f->procs = sbx_api_worker_new(l, &wo, err);
    if (!f->procs)
        goto fail;
    memset(&hs, 0, sizeof(hs));
    hs.host = o->host ? o->host : "127.0.0.1";
    hs.port = o->port;
    hs.on_headers = on_headers;
    hs.on_request = on_request;
    hs.ud = f;
    f->http = sbx_http_server_new(l, &hs, err);
    if (!f->http)
        goto fail;
    f->port = sbx_http_server_port(f->http);
    if (o->domain)
        f->domain = strdup(o->domain);
    else if (asprintf(&f->domain, "localhost:%d", f->port) < 0)
        f->domain = NULL;
    if (!f->domain) {
        sbx_err_set(err, -ENOMEM, "serve e2b: out of memory");
        goto fail;
    }
    rc = sbx__e2b_persist_load(f, err);
    if (rc < 0)
        goto fail;
    rc = sbx__e2b_api_start(f, err);
    if (rc < 0)
        goto fail;
    return f;
fail:
    sbx_e2b_face_free(f);
    return NULL;
}

int sbx_e2b_face_port(const struct sbx_e2b_face *f)
{
    return f->port;
}

void sbx_e2b_face_free(struct sbx_e2b_face *f)
{
    size_t i;

    if (!f)
        return;
    f->closing = true;
    sbx_http_server_close(f->http);
    sbx__e2b_api_stop(f);
    /* envd_release cancels the commands in flight (their exec jobs return),
     * so the worker's wait below is short; done callbacks that run from it
     * find no sandbox (f->closing, empty table). */
    while (f->sandboxes) {
        struct sbx_e2b_sbx *s = f->sandboxes;

        f->sandboxes = s->next;
        sbx__e2b_envd_release(f, s);
        sbx__e2b_sbx_free(s);
    }
    sbx_api_worker_free(f->procs);
    sbx_api_worker_free(f->worker);
    sbx__e2b_proxy_free(f);
    sbx_store_close(f->store);
    free(f->backend);
    free(f->api_key);
    free(f->domain);
    for (i = 0; f->templates && f->templates[i]; i++)
        free(f->templates[i]);
    free(f->templates);
    free(f);
}
