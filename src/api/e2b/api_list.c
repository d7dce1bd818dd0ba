/*
 * `sbx serve e2b`, the control plane's lists (openapi.yml): GET /v2/sandboxes
 * with its filters (metadata, state, template, startedAfter), order and
 * pagination (limit, nextToken -> X-Next-Token; X-Total-Running), and the
 * deprecated GET /sandboxes (running ones, metadata filter).
 */
#include "api/e2b/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"

#define LIST_LIMIT_MAX 100
#define VALIDATION SBX_E2B_VALIDATION

/* RFC 3339 date-time ("2024-01-02T03:04:05Z", fraction and offset allowed)
 * into ms since the epoch; -EINVAL when it is not one. */
static int parse_rfc3339(const char *s, int64_t *ms)
{
    struct tm tm;
    int n = 0, frac_ms = 0, digits = 0, sign = 0, oh = 0, om = 0;
    const char *p;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n < 19)
        return -EINVAL;
    p = s + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (!digits)
            return -EINVAL;
        while (digits++ < 3)
            frac_ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6)
            return -EINVAL;
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    *ms = (int64_t)t * 1000 + frac_ms - (int64_t)sign * (oh * 3600 + om * 60) * 1000;
    return 0;
}

struct list_q {
    struct sbx_json *metadata; /* filter: object of strings; NULL = none */
    bool want_running, want_paused;
    char *template_id;
    int64_t started_after; /* ms; INT64_MIN = none */
    bool asc;
    int64_t limit;
    bool has_token;
    int64_t tok_ms; /* the next page starts at (tok_ms, tok_id) */
    char tok_id[SBX_E2B_ID_LEN + 1];
};

static int query_error(struct sbx_http_req *req, const char *param, const char *what)
{
    return sbx__e2b_respond_error(req, 400, VALIDATION "parameter \"%s\" in query has an error: %s",
                                  param, what);
}

/* metadata=k=v&k2=v2 as the platform's parseFilters reads it: the value (the
 * HTTP layer decoded it once) is QueryUnescape'd whole, split on & and =,
 * then key and value are QueryUnescape'd each (+ is a space every time). */
static int parse_metadata_filter(const char *q, struct sbx_json **out)
{
    struct sbx_buf all = SBX_BUF_INIT;
    struct sbx_json *o;
    const char *p;
    int rc;

    rc = sbx_http_decode(q, strlen(q), true, &all);
    if (rc < 0) {
        sbx_buf_free(&all); /* what was decoded before the bad escape */
        return rc;
    }
    o = sbx_json_object_new();
    if (!o) {
        sbx_buf_free(&all);
        return -ENOMEM;
    }
    p = all.ptr ? all.ptr : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        struct sbx_buf k = SBX_BUF_INIT, v = SBX_BUF_INIT;

        /* exactly one '=' per pair, as the platform's strings.Split check */
        if (!eq || memchr(eq + 1, '=', (size_t)(end - eq - 1))) {
            rc = -EINVAL;
            break;
        }
        rc = sbx_http_decode(p, (size_t)(eq - p), true, &k);
        if (rc == 0)
            rc = sbx_http_decode(eq + 1, (size_t)(end - eq - 1), true, &v);
        if (rc == 0 && k.len == 0)
            rc = -EINVAL;
        if (rc == 0)
            rc = sbx_json_set_strn(o, k.ptr, v.ptr, v.len);
        sbx_buf_free(&k);
        sbx_buf_free(&v);
        if (rc < 0)
            break;
        p = amp ? amp + 1 : end;
    }
    sbx_buf_free(&all);
    if (rc < 0) {
        sbx_json_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* Reads the query of a list; answers 400 and returns -1 on a bad one. */
static int parse_list_query(struct sbx_http_req *req, bool v2, struct list_q *q)
{
    struct sbx_buf v = SBX_BUF_INIT;
    int rc;

    memset(q, 0, sizeof(*q));
    q->want_running = true;
    q->want_paused = v2;
    q->started_after = INT64_MIN;
    q->limit = LIST_LIMIT_MAX;
    rc = sbx_http_query_get(req->query, "metadata", &v);
    if (rc < 0 || (rc == 1 && parse_metadata_filter(v.ptr, &q->metadata) < 0)) {
        sbx__e2b_respond_error(req, 400, "Error when parsing metadata: %s",
                               "the value must be a query string of url-encoded key=value pairs");
        goto fail;
    }
    if (!v2)
        goto ok;
    sbx_buf_reset(&v);
    rc = sbx_http_query_get(req->query, "state", &v);
    if (rc == 1) {
        char *save = NULL, *tok;

        q->want_running = q->want_paused = false;
        for (tok = strtok_r(v.ptr, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (strcmp(tok, "running") == 0) {
                q->want_running = true;
            } else if (strcmp(tok, "paused") == 0) {
                q->want_paused = true;
            } else {
                char what[160];

                snprintf(
                    what, sizeof(what),
                    "value is not one of the allowed values [\"running\",\"paused\"]: \"%.60s\"",
                    tok);
                query_error(req, "state", what);
                goto fail;
            }
        }
        if (!q->want_running && !q->want_paused)
            q->want_running = q->want_paused = true;
    } else if (rc < 0) {
        query_error(req, "state", "malformed percent-encoding");
        goto fail;
    }
    sbx_buf_reset(&v);
    rc = sbx_http_query_get(req->query, "template", &v);
    if (rc == 1 && !(q->template_id = strdup(v.ptr))) {
        sbx__e2b_respond_error(req, 500, "out of memory");
        goto fail;
    }
    sbx_buf_reset(&v);
    rc = sbx_http_query_get(req->query, "startedAfter", &v);
    if (rc == 1 && parse_rfc3339(v.ptr, &q->started_after) < 0) {
        query_error(req, "startedAfter", "string doesn't match the format \"date-time\"");
        goto fail;
    }
    sbx_buf_reset(&v);
    rc = sbx_http_query_get(req->query, "order", &v);
    if (rc == 1) {
        if (strcmp(v.ptr, "asc") == 0) {
            q->asc = true;
        } else if (strcmp(v.ptr, "desc") != 0) {
            query_error(req, "order", "value is not one of the allowed values [\"asc\",\"desc\"]");
            goto fail;
        }
    }
    sbx_buf_reset(&v);
    rc = sbx_http_query_get(req->query, "limit", &v);
    if (rc == 1) {
        char *end;
        long long n = strtoll(v.ptr, &end, 10);

        if (!v.len || *end) {
            query_error(req, "limit", "value must be an integer");
            goto fail;
        }
        if (n < 1 || n > LIST_LIMIT_MAX) {
            query_error(req, "limit",
                        n < 1 ? "number must be at least 1" : "number must be at most 100");
            goto fail;
        }
        q->limit = n;
    }
    sbx_buf_reset(&v);
    rc = sbx_http_query_get(req->query, "nextToken", &v);
    if (rc == 1) {
        char *end;
        long long ms = strtoll(v.ptr, &end, 10);
        size_t idlen = *end == '.' ? strlen(end + 1) : 0;

        if (end == v.ptr || *end != '.' || idlen == 0 || idlen > SBX_E2B_ID_LEN) {
            sbx__e2b_respond_error(req, 400, "Invalid next token");
            goto fail;
        }
        q->has_token = true;
        q->tok_ms = ms;
        memcpy(q->tok_id, end + 1, idlen + 1);
    }
ok:
    sbx_buf_free(&v);
    return 0;
fail:
    sbx_buf_free(&v);
    sbx_json_free(q->metadata);
    free(q->template_id);
    q->metadata = NULL;
    q->template_id = NULL;
    return -1;
}

static bool list_match(const struct list_q *q, const struct sbx_e2b_sbx *s)
{
    size_t i, n;

    if (s->state == SBX_E2B_KILLING)
        return false;
    if (s->state == SBX_E2B_RUNNING ? !q->want_running : !q->want_paused)
        return false;
    if (q->template_id && strcmp(q->template_id, s->template_id) != 0)
        return false;
    if (q->started_after != INT64_MIN && s->started_ms < q->started_after)
        return false;
    n = q->metadata ? sbx_json_object_len(q->metadata) : 0;
    for (i = 0; i < n; i++) {
        const char *k;
        struct sbx_json *want;
        const struct sbx_json *have;

        sbx_json_object_at(q->metadata, i, &k, &want);
        have = sbx_json_get(s->metadata, k);
        if (!have || strcmp(sbx_json_str(have), sbx_json_str(want)) != 0)
            return false;
    }
    return true;
}

/* Sort key order: (started_ms, id), ascending or descending. */
static int cmp_key(int64_t ams, const char *aid, int64_t bms, const char *bid)
{
    if (ams != bms)
        return ams < bms ? -1 : 1;
    return strcmp(aid, bid);
}

static const struct list_q *sort_q;

static int cmp_sbx(const void *a, const void *b)
{
    const struct sbx_e2b_sbx *x = *(struct sbx_e2b_sbx *const *)a;
    const struct sbx_e2b_sbx *y = *(struct sbx_e2b_sbx *const *)b;
    int c = cmp_key(x->started_ms, x->id, y->started_ms, y->id);

    return sort_q->asc ? c : -c;
}

void sbx__e2b_api_list(struct sbx_e2b_face *f, struct sbx_http_req *req, bool v2)
{
    struct list_q q;
    struct sbx_e2b_sbx *s, **v = NULL;
    struct sbx_json *arr = NULL;
    struct sbx_buf hdr = SBX_BUF_INIT;
    size_t n = 0, cap = 0, i, start = 0, total_running = 0, out = 0;

    if (parse_list_query(req, v2, &q) < 0)
        return;
    for (s = f->sandboxes; s; s = s->next) {
        if (!list_match(&q, s))
            continue;
        if (n == cap) {
            struct sbx_e2b_sbx **nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

            if (!nv)
                goto nomem;
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        v[n++] = s;
        if (s->state == SBX_E2B_RUNNING)
            total_running++;
    }
    sort_q = &q;
    if (n)
        qsort(v, n, sizeof(*v), cmp_sbx);
    if (q.has_token) {
        /* the first entry at or after the token in the list's order */
        while (start < n) {
            int c = cmp_key(v[start]->started_ms, v[start]->id, q.tok_ms, q.tok_id);

            if (q.asc ? c >= 0 : c <= 0)
                break;
            start++;
        }
    }
    arr = sbx_json_array_new();
    if (!arr)
        goto nomem;
    for (i = start; i < n && (!v2 || (int64_t)out < q.limit); i++, out++)
        if (sbx_json_append_take(arr, sbx__e2b_listed_json(v[i])) < 0)
            goto nomem;
    if (v2 && i < n &&
        sbx_buf_addf(&hdr, "X-Next-Token: %lld.%s\r\n", (long long)v[i]->started_ms, v[i]->id) < 0)
        goto nomem;
    if (v2 && q.want_running && sbx_buf_addf(&hdr, "X-Total-Running: %zu\r\n", total_running) < 0)
        goto nomem;
    sbx__e2b_respond_take(req, 200, arr, hdr.len ? hdr.ptr : NULL);
    arr = NULL;
    goto out;
nomem:
    sbx__e2b_respond_error(req, 500, "out of memory");
out:
    sbx_json_free(arr);
    sbx_buf_free(&hdr);
    free(v);
    sbx_json_free(q.metadata);
    free(q.template_id);
}
