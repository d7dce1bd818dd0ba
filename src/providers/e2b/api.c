#include "providers/e2b/internal.h"

/*
 * E2B's control plane (shared/specs/e2b/openapi.yml; providers.md §1.4):
 * requests with bounded retries and backoff, the mapping of its error
 * answers, and the calls the provider makes.
 *
 * A create is never retried blindly: it carries a random nonce in its
 * metadata, and after an answer that may hide a sandbox made anyway (a
 * connection error, a 5xx) the sandbox is first looked for by that nonce.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/time.h"

/* Four attempts: waits of 0.5, 1 and 2 s between them (or Retry-After, up to 10 s). */
const struct sbx__e2b_retry sbx__e2b_default_retry = {4, 500, 10000};

/* The most pages a list reads (100 sandboxes each). */
#define MAX_LIST_PAGES 1000

static bool retryable_net(int rc)
{
    return rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EPIPE ||
           rc == -ECONNABORTED || rc == -ENETUNREACH;
}

static bool retryable_status(int status)
{
    return status == 500 || status == 502 || status == 503 || status == 504;
}

/* Retry-After in whole seconds (an HTTP date is not honoured: backoff). */
static int64_t parse_retry_after(const char *v)
{
    int64_t s = 0;

    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    if (*v < '0' || *v > '9')
        return -1;
    for (; *v >= '0' && *v <= '9'; v++) {
        s = s * 10 + (*v - '0');
        if (s > 86400)
            return 86400;
    }
    while (*v == ' ')
        v++;
    return *v ? -1 : s;
}

int64_t sbx__e2b_retry_delay(const struct sbx__e2b_retry *pol, int done, int net_rc, int status,
                             const char *retry_after, bool idempotent)
{
    int64_t delay, ra;

    if (done >= pol->attempts)
        return -1;
    if (net_rc < 0) {
        if (!idempotent || !retryable_net(net_rc))
            return -1;
    } else if (status == 429) {
        /* refused before anything was done: safe for any call */
    } else if (!idempotent || !retryable_status(status)) {
        return -1;
    }
    delay = pol->base_ms;
    for (int i = 1; i < done && delay < pol->max_ms; i++)
        delay *= 2;
    ra = net_rc < 0 ? -1 : parse_retry_after(retry_after);
    if (ra >= 0)
        delay = ra * 1000;
    return delay > pol->max_ms ? pol->max_ms : delay;
}

void sbx__e2b_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- the SDK's metadata query ------------------------------------------ */

static bool is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Percent-encodes every byte of s but alphanumerics and those in keep;
 * space as '+' when plus is set (application/x-www-form-urlencoded). */
static int pct_encode(struct sbx_buf *out, const char *s, size_t n, const char *keep, bool plus)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];

        if (is_alnum(c) || (c && strchr(keep, c)))
            rc = sbx_buf_addch(out, (char)c);
        else if (plus && c == ' ')
            rc = sbx_buf_addch(out, '+');
        else
            rc = sbx_buf_addf(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
    return rc;
}

#define URI_COMPONENT_KEEP "-_.!~*'()"
#define FORM_KEEP "*-._"

int sbx__e2b_uri_component(struct sbx_buf *out, const char *s)
{
    return pct_encode(out, s, strlen(s), URI_COMPONENT_KEEP, false);
}

int sbx__e2b_metadata_query(struct sbx_buf *out, const char *const *keys,
                            const char *const *values, size_t n)
{
    struct sbx_buf pair = SBX_BUF_INIT, form = SBX_BUF_INIT;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        /* encodeURIComponent(key) "=" encodeURIComponent(value), each then
         * form-encoded by URLSearchParams */
        if (i > 0)
            rc = sbx_buf_addch(&form, '&');
        sbx_buf_reset(&pair);
        if (rc == 0)
            rc = sbx__e2b_uri_component(&pair, keys[i]);
        if (rc == 0)
            rc = pct_encode(&form, pair.ptr, pair.len, FORM_KEEP, true);
        if (rc == 0)
            rc = sbx_buf_addch(&form, '=');
        sbx_buf_reset(&pair);
        if (rc == 0)
            rc = sbx__e2b_uri_component(&pair, values[i]);
        if (rc == 0)
            rc = pct_encode(&form, pair.ptr, pair.len, FORM_KEEP, true);
    }
    /* openapi-fetch encodes the parameter's value once more */
    if (rc == 0)
        rc = pct_encode(out, form.ptr, form.len, URI_COMPONENT_KEEP, false);
    sbx_buf_free(&pair);
    sbx_buf_free(&form);
    return rc;
}

/* ---- requests ------------------------------------------------------------- */

static int api_client(struct sbx__e2b *e, struct sbx_err *err)
{
    struct sbx_http_client_opts o = {0};
    struct sbx_buf key = SBX_BUF_INIT;
    const char *headers[3];

    if (e->api)
        return 0;
    if (sbx_buf_addf(&key, "X-API-Key: %s", e->cfg.api_key) < 0)
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    headers[0] = key.ptr;
    headers[1] = "User-Agent: sbx-e2b";
    headers[2] = NULL;
    o.base_url = e->cfg.api_url;
    o.headers = headers;
    e->api = sbx_http_client_new(&o, err);
    sbx_buf_free(&key);
    return e->api ? 0 : (err && err->code ? err->code : -EIO);
}

int sbx__e2b_api_error(int status, const char *body, size_t len, const char *what,
                       struct sbx_err *err)
{
    char msg[160] = "";
    struct sbx_json *v = body && len ? sbx_json_parse(body, len, NULL) : NULL;
    const char *m = v ? sbx_json_str(sbx_json_get(v, "message")) : "";
    int rc;

    if (m && *m)
        snprintf(msg, sizeof(msg), "%s", m);
    else if (!v && body && len)
        snprintf(msg, sizeof(msg), "%.*s", (int)(len < 120 ? len : 120), body);
    sbx_json_free(v);
    switch (status) {
    case 401:
        return sbx_err_set(err, -EACCES,
                           "e2b: %s: the API key was refused (401%s%s); set E2B_API_KEY to a "
                           "valid key (https://e2b.dev/dashboard?tab=keys)",
                           what, *msg ? ": " : "", msg);
    case 403: rc = -EACCES; break;
    case 404: rc = -ENOENT; break;
    case 400:
    case 409:
    case 422: rc = -EINVAL; break;
    case 429:
        return sbx_err_set(err, -EIO, "e2b: %s: rate limited (429%s%s), gave up after retrying",
                           what, *msg ? ": " : "", msg);
    default: rc = -EIO; break;
    }
    return sbx_err_set(err, rc, "e2b: %s: %d%s%s", what, status, *msg ? " " : "", msg);
}

int sbx__e2b_api(struct sbx__e2b *e, const struct sbx__e2b_call *call, struct sbx_http_resp *resp,
                 struct sbx_err *err)
{
    const char *ct[] = {"Content-Type: application/json", NULL};
    struct sbx_http_req req = {0};
    struct sbx_err last = {0};
    int rc, done = 0;
    int64_t delay;

    if (!e->cfg.api_key)
        return sbx_err_set(err, -EACCES,
                           "e2b: E2B_API_KEY is not set (get a key at "
                           "https://e2b.dev/dashboard?tab=keys and export E2B_API_KEY=e2b_...)");
    rc = api_client(e, err);
    if (rc < 0)
        return rc;
    req.method = call->method;
    req.path = call->path;
    if (call->body) {
        req.body = call->body;
        req.body_len = strlen(call->body);
        req.headers = ct;
    }
    req.max_body_bytes = (size_t)64 << 20;
    req.timeout_ms = 120000;
    for (;;) {
        sbx_err_clear(&last);
        rc = sbx_http_request(e->api, &req, resp, &last);
        done++;

        if (rc == 0 && resp->status / 100 == 2)
            return 0;
        delay = sbx__e2b_retry_delay(&e->retry, done, rc, rc == 0 ? resp->status : 0,
                                     rc == 0 ? sbx_http_resp_header(resp, "Retry-After") : NULL,
                                     call->idempotent);
        if (delay < 0)
            break;
        if (call->maybe_done && (rc < 0 || resp->status != 429))
            *call->maybe_done = true;
        sbx__e2b_sleep_ms(delay);
    }
    if (rc < 0) {
        resp->status = 0;
        return sbx_err_set(err, rc, "e2b: %s: %s (%s, %d attempt%s)", call->what, last.msg,
                           e->cfg.api_url, done, done == 1 ? "" : "s");
    }
    return sbx__e2b_api_error(resp->status, resp->body.ptr, resp->body.len, call->what, err);
}

static int parse_body(const struct sbx_http_resp *resp, const char *what, struct sbx_json **out,
                      struct sbx_err *err)
{
    struct sbx_err perr = {0};

    *out = sbx_json_parse(resp->body.ptr, resp->body.len, &perr);
    if (!*out)
        return sbx_err_set(err, -EPROTO, "e2b: %s: the answer is not JSON: %s", what, perr.msg);
    return 0;
}

/* "/sandboxes/<id><suffix>" with id encoded. */
static int sandbox_path(struct sbx_buf *b, const char *id, const char *suffix)
{
    int rc = sbx_buf_addstr(b, "/sandboxes/");

    if (rc == 0)
        rc = sbx_http_url_encode(b, id);
    if (rc == 0)
        rc = sbx_buf_addstr(b, suffix);
    return rc;
}

static int simple_call(struct sbx__e2b *e, const char *method, const char *id, const char *suffix,
                       const char *body, const char *what, struct sbx_json **out,
                       struct sbx_http_resp *resp_out, bool *maybe_done, struct sbx_err *err)
{
    struct sbx_http_resp resp;
    struct sbx_buf path = SBX_BUF_INIT, w = SBX_BUF_INIT;
    struct sbx__e2b_call call = {method, NULL, body, true, NULL, maybe_done};
    int rc;

    sbx_http_resp_init(&resp);
    if (sandbox_path(&path, id, suffix) < 0 || sbx_buf_addf(&w, "%s %s", what, id) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    call.path = path.ptr;
    call.what = w.ptr;
    rc = sbx__e2b_api(e, &call, &resp, err);
    if (rc == 0 && out)
        rc = parse_body(&resp, w.ptr, out, err);
out:
    if (resp_out)
        resp_out->status = resp.status;
    sbx_http_resp_release(&resp);
    sbx_buf_free(&path);
    sbx_buf_free(&w);
    return rc;
}

int sbx__e2b_get_raw(struct sbx__e2b *e, const char *id, struct sbx_json **out,
                     struct sbx_err *err)
{
    return simple_call(e, "GET", id, "", NULL, "get sandbox", out, NULL, NULL, err);
}

int sbx__e2b_connect_raw(struct sbx__e2b *e, const char *id, int64_t timeout_s,
                         struct sbx_json **out, struct sbx_err *err)
{
    char body[64];

    snprintf(body, sizeof(body), "{\"timeout\":%" PRId64 "}", timeout_s);
    return simple_call(e, "POST", id, "/connect", body, "connect to sandbox", out, NULL, NULL, err);
}

int sbx__e2b_set_timeout(struct sbx__e2b *e, const char *id, int64_t timeout_s,
                         struct sbx_err *err)
{
    char body[64];

    snprintf(body, sizeof(body), "{\"timeout\":%" PRId64 "}", timeout_s);
    return simple_call(e, "POST", id, "/timeout", body, "set the timeout of sandbox", NULL, NULL,
                       NULL, err);
}

int sbx__e2b_pause_raw(struct sbx__e2b *e, const char *id, struct sbx_err *err)
{
    struct sbx_http_resp st;
    struct sbx_json *v = NULL;
    int rc;

    st.status = 0;
    rc = simple_call(e, "POST", id, "/pause", NULL, "pause sandbox", NULL, &st, NULL, err);
    if (rc == -EINVAL && st.status == 409 && sbx__e2b_get_raw(e, id, &v, NULL) == 0 &&
        !strcmp(sbx_json_str(sbx_json_get(v, "state")), "paused"))
        rc = 0; /* already paused (a retried pause lands here too) */
    sbx_json_free(v);
    if (rc == 0 && err)
        sbx_err_clear(err);
    return rc;
}

int sbx__e2b_kill_raw(struct sbx__e2b *e, const char *id, struct sbx_err *err)
{
    bool maybe_done = false;
    int rc = simple_call(e, "DELETE", id, "", NULL, "kill sandbox", NULL, NULL, &maybe_done, err);

    /* a retry's 404 after an attempt whose answer was lost or a 5xx: that
     * attempt killed it */
    if (rc == -ENOENT && maybe_done) {
        rc = 0;
        if (err)
            sbx_err_clear(err);
    }
    return rc;
}

/* ---- list ------------------------------------------------------------------ */

/* The metadata filter of a list: labels, then the name and the nonce. */
static int list_query(struct sbx_buf *q, const char *const *labels, const char *name,
                      const char *nonce, struct sbx_err *err)
{
    const char *keys[66], *values[66];
    char *owned[64];
    size_t n = 0, n_owned = 0;
    int rc = 0;

    for (size_t i = 0; labels && labels[i]; i++) {
        const char *eq = strchr(labels[i], '=');

        if (!eq || eq == labels[i]) {
            rc = sbx_err_set(err, -EINVAL, "e2b: label '%s' is not key=value", labels[i]);
            goto out;
        }
        if (n_owned == 64) {
            rc = sbx_err_set(err, -EINVAL, "e2b: too many labels in a filter (64 at most)");
            goto out;
        }
        owned[n_owned] = strndup(labels[i], (size_t)(eq - labels[i]));
        if (!owned[n_owned]) {
            rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
            goto out;
        }
        keys[n] = owned[n_owned++];
        values[n++] = eq + 1;
    }
    if (name) {
        keys[n] = SBX_E2B_NAME_KEY;
        values[n++] = name;
    }
    if (nonce) {
        keys[n] = SBX_E2B_NONCE_KEY;
        values[n++] = nonce;
    }
    rc = sbx_buf_addstr(q, "/v2/sandboxes?");
    if (rc == 0 && n > 0) {
        rc = sbx_buf_addstr(q, "metadata=");
        if (rc == 0)
            rc = sbx__e2b_metadata_query(q, keys, values, n);
        if (rc == 0)
            rc = sbx_buf_addch(q, '&');
    }
    if (rc == 0)
        rc = sbx_buf_addstr(q, "state=running,paused&limit=100");
    if (rc < 0)
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
out:
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    return rc;
}

int sbx__e2b_list_raw(struct sbx__e2b *e, const char *const *labels, const char *name,
                      const char *nonce, struct sbx_json **out, struct sbx_err *err)
{
    struct sbx_buf base = SBX_BUF_INIT, path = SBX_BUF_INIT;
    struct sbx__e2b_call call = {"GET", NULL, NULL, true, "list sandboxes", NULL};
    struct sbx_http_resp resp;
    struct sbx_json *all = sbx_json_array_new(), *page = NULL;
    char *next = NULL;
    int rc;

    sbx_http_resp_init(&resp);
    *out = NULL;
    if (!all)
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    rc = list_query(&base, labels, name, nonce, err);
    for (int pages = 0; rc == 0; pages++) {
        const char *nt;

        if (pages == MAX_LIST_PAGES) {
            rc = sbx_err_set(err, -EPROTO, "e2b: list sandboxes: more than %d pages",
                             MAX_LIST_PAGES);
            break;
        }
        sbx_buf_reset(&path);
        rc = sbx_buf_addstr(&path, base.ptr);
        if (rc == 0 && next) {
            rc = sbx_buf_addstr(&path, "&nextToken=");
            if (rc == 0)
                rc = sbx__e2b_uri_component(&path, next);
        }
        if (rc < 0) {
            rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
            break;
        }
        call.path = path.ptr;
        rc = sbx__e2b_api(e, &call, &resp, err);
        if (rc < 0)
            break;
        rc = parse_body(&resp, "list sandboxes", &page, err);
        if (rc < 0)
            break;
        if (sbx_json_type(page) != SBX_JSON_ARRAY) {
            rc = sbx_err_set(err, -EPROTO, "e2b: list sandboxes: the answer is not an array");
            break;
        }
        for (size_t i = 0; rc == 0 && i < sbx_json_array_len(page); i++)
            rc = sbx_json_append_take(all, sbx_json_ref(sbx_json_array_at(page, i)));
        sbx_json_free(page);
        page = NULL;
        if (rc < 0) {
            rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
            break;
        }
        nt = sbx_http_resp_header(&resp, "X-Next-Token");
        free(next);
        next = nt && *nt ? strdup(nt) : NULL;
        if (!nt || !*nt)
            break;
        if (!next)
            rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    }
    sbx_json_free(page);
    free(next);
    sbx_http_resp_release(&resp);
    sbx_buf_free(&base);
    sbx_buf_free(&path);
    if (rc < 0) {
        sbx_json_free(all);
        return rc;
    }
    *out = all;
    return 0;
}

/* ---- create ------------------------------------------------------------------ */

int sbx__e2b_create_body(const struct sbx_sandbox_spec *spec, const char *nonce,
                         int64_t timeout_s, bool public_traffic, struct sbx_buf *out,
                         struct sbx_err *err)
{
    struct sbx_json *b = sbx_json_object_new(), *md = sbx_json_object_new();
    struct sbx_json *env = sbx_json_object_new();
    int rc = (b && md && env) ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && spec->labels && spec->labels[i]; i++) {
        const char *l = spec->labels[i], *eq = strchr(l, '=');
        char *k;

        if (!eq || eq == l) {
            rc = sbx_err_set(err, -EINVAL, "e2b: label '%s' is not key=value", l);
            goto out;
        }
        k = strndup(l, (size_t)(eq - l));
        if (!k || !strcmp(k, SBX_E2B_NAME_KEY) || !strcmp(k, SBX_E2B_NONCE_KEY)) {
            rc = k ? sbx_err_set(err, -EINVAL, "e2b: label key '%s' is reserved by sbx", k)
                   : -ENOMEM;
            free(k);
            if (k)
                goto out;
            break;
        }
        rc = sbx_json_set_str(md, k, eq + 1);
        free(k);
    }
    for (size_t i = 0; rc == 0 && spec->env && spec->env[i]; i++) {
        const char *l = spec->env[i], *eq = strchr(l, '=');
        char *k;

        if (!eq || eq == l) {
            rc = sbx_err_set(err, -EINVAL, "e2b: environment entry '%s' is not KEY=value", l);
            goto out;
        }
        k = strndup(l, (size_t)(eq - l));
        rc = k ? sbx_json_set_str(env, k, eq + 1) : -ENOMEM;
        free(k);
    }
    if (rc == 0 && spec->name)
        rc = sbx_json_set_str(md, SBX_E2B_NAME_KEY, spec->name);
    if (rc == 0)
        rc = sbx_json_set_str(md, SBX_E2B_NONCE_KEY, nonce);
    if (rc == 0)
        rc = sbx_json_set_str(b, "templateID",
                              spec->image && *spec->image ? spec->image : SBX_E2B_DEFAULT_TEMPLATE);
    if (rc == 0)
        rc = sbx_json_set_int(b, "timeout", timeout_s);
    if (rc == 0) {
        rc = sbx_json_set_take(b, "metadata", md);
        md = NULL;
    }
    if (rc == 0) {
        rc = sbx_json_set_take(b, "envVars", env);
        env = NULL;
    }
    if (rc == 0)
        rc = sbx_json_set_bool(b, "secure", true);
    if (rc == 0)
        rc = sbx_json_set_bool(b, "allow_internet_access", spec->network != SBX_NETWORK_NONE);
    /* Every port of a sandbox is public on E2B unless this is said: the
     * answer's trafficAccessToken then opens them (bootstrap.c). */
    if (rc == 0 && !public_traffic) {
        struct sbx_json *net = sbx_json_object_new();

        rc = net ? sbx_json_set_bool(net, "allowPublicTraffic", false) : -ENOMEM;
        if (rc == 0)
            rc = sbx_json_set_take(b, "network", net);
        else
            sbx_json_free(net);
    }
    if (rc == 0)
        rc = sbx_json_dump(b, out);
    if (rc < 0)
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
out:
    sbx_json_free(b);
    sbx_json_free(md);
    sbx_json_free(env);
    return rc;
}

int sbx__e2b_random_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[64];

    if (n > sizeof(r))
        return -EINVAL;
    if (getrandom(r, n, 0) != (ssize_t)n)
        return -EIO;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[2 * n] = '\0';
    return 0;
}

int sbx__e2b_create_raw(struct sbx__e2b *e, const struct sbx_sandbox_spec *spec,
                        struct sbx_json **out, struct sbx_err *err)
{
    struct sbx__e2b_call call = {"POST", "/sandboxes", NULL, false, "create sandbox", NULL};
    int64_t timeout_s = spec->lifetime_ms > 0 ? (spec->lifetime_ms + 999) / 1000
                                              : SBX_E2B_DEFAULT_TIMEOUT_S;
    struct sbx_buf body = SBX_BUF_INIT;
    struct sbx_http_resp resp;
    char nonce[33];
    int rc;

    *out = NULL;
    rc = sbx__e2b_random_hex(nonce, 16);
    if (rc < 0)
        rc = sbx_err_set(err, rc, "e2b: create: no random bytes for the nonce");
    if (rc == 0)
        rc = sbx__e2b_create_body(spec, nonce, timeout_s, e->cfg.public_traffic, &body, err);
    if (rc < 0)
        return rc;
    call.body = body.ptr;
    sbx_http_resp_init(&resp);
    for (int round = 1;; round++) {
        struct sbx_json *found = NULL;
        int64_t delay;
        int lrc;

        rc = sbx__e2b_api(e, &call, &resp, err);
        if (rc == 0) {
            rc = parse_body(&resp, "create sandbox", out, err);
            break;
        }
        /* Only a lost answer or a 5xx may hide a sandbox made anyway. */
        if (!(resp.status == 0 || resp.status >= 500) || round >= e->retry.attempts)
            break;
        lrc = sbx__e2b_list_raw(e, NULL, NULL, nonce, &found, NULL);
        if (lrc == 0 && sbx_json_array_len(found) > 0) {
            const char *id = sbx_json_str(sbx_json_get(sbx_json_array_at(found, 0), "sandboxID"));

            rc = sbx__e2b_connect_raw(e, id, timeout_s, out, err);
            sbx_json_free(found);
            break;
        }
        sbx_json_free(found);
        if (lrc < 0)
            break; /* cannot tell: never risk a second sandbox */
        delay = sbx__e2b_retry_delay(&e->retry, round, -ECONNRESET, 0, NULL, true);
        if (delay < 0)
            break;
        sbx__e2b_sleep_ms(delay);
    }
    sbx_http_resp_release(&resp);
    sbx_buf_free(&body);
    if (rc == 0 && err)
        sbx_err_clear(err);
    return rc;
}
