#include "providers/e2b/internal.h"

/*
 * The e2b provider: sandboxes on E2B (e2b.dev) through its control plane and
 * each sandbox's envd (shared/docs/providers.md §1).
 *
 * The store keeps, per sandbox this host has used, what envd needs (access
 * token, domain) so that a later sbx process does not ask the control plane
 * again; the platform stays the authority on which sandboxes exist.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/time.h"
#include "store/store.h"

static const char *env_get(const char *name)
{
    return getenv(name);
}

static struct sbx__e2b *priv(struct sbx_provider *p)
{
    return p->priv;
}

/* ---- JSON mapping -------------------------------------------------------- */

bool sbx__e2b_is_id(const char *ref)
{
    size_t n = 0;

    for (; ref[n]; n++)
        if (!((ref[n] >= 'a' && ref[n] <= 'z') || (ref[n] >= '0' && ref[n] <= '9')))
            return false;
    return n == 20;
}

static int digits(const char **s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return -EINVAL;
        v = v * 10 + (**s - '0');
    }
    *out = v;
    return 0;
}

int sbx__e2b_parse_time(const char *s, int64_t *ms_out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, ms = 0, off = 0;
    time_t t;

    if (!s || digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' ') || !*s++ ||
        digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' ||
        digits(&s, 2, &sec))
        return -EINVAL;
    if (*s == '.') {
        int scale = 100;

        s++;
        if (*s < '0' || *s > '9')
            return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
            ms += (*s - '0') * scale;
            scale /= 10;
        }
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;

        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om))
            return -EINVAL;
        off = sign * (oh * 60 + om) * 60;
    } else {
        return -EINVAL;
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    *ms_out = ((int64_t)t - off) * 1000 + ms;
    return 0;
}

int sbx__e2b_info_from_json(const struct sbx_json *v, int64_t now_ms,
                            struct sbx_sandbox_info *out, struct sbx_err *err)
{
    const char *id = sbx_json_str(sbx_json_get(v, "sandboxID"));
    const char *tmpl = sbx_json_str(sbx_json_get(v, "templateID"));
    const char *state = sbx_json_str(sbx_json_get(v, "state"));
    struct sbx_json *md = sbx_json_get(v, "metadata");
    int64_t end_ms = 0;
    size_t n_md = sbx_json_object_len(md);
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (sbx_json_type(v) != SBX_JSON_OBJECT || !*id)
        return sbx_err_set(err, -EPROTO, "e2b: a sandbox without a sandboxID in the answer");
    out->id = strdup(id);
    out->provider = strdup("e2b");
    out->image = *tmpl ? strdup(tmpl) : NULL;
    if (!out->id || !out->provider || (*tmpl && !out->image))
        goto nomem;
    if (!*state || !strcmp(state, "running"))
        out->state = SBX_SANDBOX_RUNNING;
    else if (!strcmp(state, "paused"))
        out->state = SBX_SANDBOX_PAUSED;
    else
        out->state = SBX_SANDBOX_DEAD;
    if (sbx__e2b_parse_time(sbx_json_str(sbx_json_get(v, "startedAt")), &out->created_ms) < 0)
        out->created_ms = 0;
    out->memory_bytes = sbx_json_int(sbx_json_get(v, "memoryMB")) * 1024 * 1024;
    out->cpu_millis = sbx_json_int(sbx_json_get(v, "cpuCount")) * 1000;
    out->enforced = SBX_LIMIT_FREEZE | (out->memory_bytes ? SBX_LIMIT_MEMORY : 0) |
                    (out->cpu_millis ? SBX_LIMIT_CPU : 0);
    out->network = SBX_NETWORK_HOST;
    if (n_md) {
        out->labels = calloc(n_md, sizeof(char *));
        if (!out->labels)
            goto nomem;
    }
    for (size_t i = 0; i < n_md; i++) {
        const char *k;
        struct sbx_json *val;
        struct sbx_buf b = SBX_BUF_INIT;

        if (sbx_json_object_at(md, i, &k, &val) < 0)
            break;
        if (!strcmp(k, SBX_E2B_NAME_KEY)) {
            free(out->name);
            out->name = strdup(sbx_json_str(val));
            if (!out->name)
                goto nomem;
            continue;
        }
        if (!strcmp(k, SBX_E2B_NONCE_KEY))
            continue;
        if (sbx_buf_addf(&b, "%s=%s", k, sbx_json_str(val)) < 0)
            goto nomem;
        out->labels[out->n_labels++] = sbx_buf_detach(&b, NULL);
    }
    if (out->state == SBX_SANDBOX_RUNNING &&
        sbx__e2b_parse_time(sbx_json_str(sbx_json_get(v, "endAt")), &end_ms) == 0 &&
        end_ms - now_ms < 120000) {
        struct sbx_buf b = SBX_BUF_INIT;
        int64_t left = (end_ms - now_ms) / 1000;

        rc = left > 0 ? sbx_buf_addf(&b, "E2B ends it in %" PRId64 " s unless it is used "
                                     "(its timeout)", left)
                      : sbx_buf_addstr(&b, "E2B's timeout for it has passed");
        if (rc < 0)
            goto nomem;
        out->note = sbx_buf_detach(&b, NULL);
    }
    return 0;
nomem:
    sbx_sandbox_info_free(out);
    return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
}

/* ---- the cache of connection facts -------------------------------------- */

void sbx__e2b_sbx_release(struct sbx__e2b_sbx *s)
{
    free(s->id);
    free(s->token);
    free(s->domain);
    free(s->traffic_token);
    free(s->server_key);
    free(s->envd_version);
    memset(s, 0, sizeof(*s));
}

enum sbx__e2b_traffic sbx__e2b_traffic_of(const struct sbx_json *v, const char **token_out)
{
    const struct sbx_json *t = sbx_json_get(v, "trafficAccessToken");
    const struct sbx_json *net = sbx_json_get(v, "network");
    const struct sbx_json *pub = sbx_json_get(net, "allowPublicTraffic");

    *token_out = NULL;
    if (!v)
        return SBX_E2B_TRAFFIC_UNKNOWN;
    if (t && sbx_json_type(t) == SBX_JSON_STRING && *sbx_json_str(t)) {
        *token_out = sbx_json_str(t);
        return SBX_E2B_TRAFFIC_TOKEN;
    }
    /* a Sandbox (create, connect) would have said so */
    if (sbx_json_type(v) == SBX_JSON_OBJECT && !sbx_json_get(v, "state"))
        return SBX_E2B_TRAFFIC_PUBLIC;
    /* allowPublicTraffic defaults to true (SandboxNetworkConfig) */
    if (net && sbx_json_type(net) == SBX_JSON_OBJECT &&
        (!pub || (sbx_json_type(pub) == SBX_JSON_BOOL && sbx_json_bool(pub))))
        return SBX_E2B_TRAFFIC_PUBLIC;
    return SBX_E2B_TRAFFIC_UNKNOWN;
}

static char *dup_str(const struct sbx_json *v)
{
    const char *s = sbx_json_str(v);

    return *s ? strdup(s) : NULL;
}

static int sbx_from_data(const char *id, const struct sbx_json *d, struct sbx__e2b_sbx *s)
{
    memset(s, 0, sizeof(*s));
    s->id = strdup(id);
    s->token = dup_str(sbx_json_get(d, "token"));
    s->domain = dup_str(sbx_json_get(d, "domain"));
    /* "traffic_token": the token, null when the ports are public, absent
     * (or "", as older sbx wrote) when not known */
    s->traffic_token = dup_str(sbx_json_get(d, "traffic_token"));
    s->traffic_known = s->traffic_token || (sbx_json_get(d, "traffic_token") &&
                                            sbx_json_type(sbx_json_get(d, "traffic_token")) ==
                                                SBX_JSON_NULL);
    s->server_key = dup_str(sbx_json_get(d, "server_key"));
    s->envd_version = dup_str(sbx_json_get(d, "envd_version"));
    s->timeout_s = sbx_json_int(sbx_json_get(d, "timeout"));
    s->kept_ms = sbx_json_int(sbx_json_get(d, "kept_ms"));
    if (s->timeout_s <= 0)
        s->timeout_s = SBX_E2B_DEFAULT_TIMEOUT_S;
    return s->id ? 0 : -ENOMEM;
}

static int store_put(struct sbx__e2b *e, const char *id, const char *state,
                     const struct sbx_json *data, struct sbx_err *err)
{
    struct sbx_store_row row = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    int rc;

    if (sbx_json_dump(data, &b) < 0)
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    row.provider = "e2b";
    row.id = (char *)id;
    row.state = (char *)state;
    row.created_ms = sbx_wall_ms();
    row.data = b.ptr;
    rc = sbx_store_update(e->store, &row, NULL);
    if (rc == -ENOENT)
        rc = sbx_store_insert(e->store, &row, err);
    else if (rc < 0)
        rc = sbx_store_update(e->store, &row, err);
    sbx_buf_free(&b);
    return rc;
}

/* The stored data of id as JSON (NULL when there is none). */
static struct sbx_json *store_data(struct sbx__e2b *e, const char *id)
{
    struct sbx_store_row row = {0};
    struct sbx_json *d = NULL;

    if (sbx_store_get(e->store, "e2b", id, &row, NULL) == 0 && !strcmp(row.id, id) && row.data)
        d = sbx_json_parse(row.data, strlen(row.data), NULL);
    sbx_store_row_release(&row);
    return d;
}

static void store_forget(struct sbx__e2b *e, const char *id)
{
    struct sbx_store_row row = {0};

    if (sbx_store_get(e->store, "e2b", id, &row, NULL) == 0 && !strcmp(row.id, id))
        sbx_store_delete(e->store, "e2b", id, NULL);
    sbx_store_row_release(&row);
}

int sbx__e2b_sbx_save(struct sbx__e2b *e, const struct sbx_json *sandbox, int64_t timeout_s,
                      struct sbx_err *err)
{
    const char *id = sbx_json_str(sbx_json_get(sandbox, "sandboxID"));
    const char *state = sbx_json_str(sbx_json_get(sandbox, "state"));
    struct sbx_json *old, *d = sbx_json_object_new();
    int rc;

    if (!*id) {
        sbx_json_free(d);
        return sbx_err_set(err, -EPROTO, "e2b: a sandbox without a sandboxID in the answer");
    }
    old = store_data(e, id);
    if (timeout_s <= 0)
        timeout_s = sbx_json_int(sbx_json_get(old, "timeout"));
    rc = d ? 0 : -ENOMEM;
    /* the list answer carries no token: keep the one known */
    if (rc == 0)
        rc = sbx_json_set_str(d, "token",
                              sbx_json_get(sandbox, "envdAccessToken")
                                  ? sbx_json_str(sbx_json_get(sandbox, "envdAccessToken"))
                                  : sbx_json_str(sbx_json_get(old, "token")));
    if (rc == 0)
        rc = sbx_json_set_str(d, "domain", sbx_json_str(sbx_json_get(sandbox, "domain")));
    /* every answer carries it (required); what the sandbox's envd takes depends on it */
    if (rc == 0)
        rc = sbx_json_set_str(d, "envd_version",
                              *sbx_json_str(sbx_json_get(sandbox, "envdVersion"))
                                  ? sbx_json_str(sbx_json_get(sandbox, "envdVersion"))
                                  : sbx_json_str(sbx_json_get(old, "envd_version")));
    if (rc == 0) {
        const char *tok;

        switch (sbx__e2b_traffic_of(sandbox, &tok)) {
        case SBX_E2B_TRAFFIC_TOKEN: rc = sbx_json_set_str(d, "traffic_token", tok); break;
        case SBX_E2B_TRAFFIC_PUBLIC: rc = sbx_json_set_null(d, "traffic_token"); break;
        case SBX_E2B_TRAFFIC_UNKNOWN:
            /* a SandboxDetail has none: keep the one known */
            if (sbx_json_get(old, "traffic_token"))
                rc = sbx_json_set_take(d, "traffic_token",
                                       sbx_json_ref(sbx_json_get(old, "traffic_token")));
            break;
        }
    }
    /* the server's key is sbx's own: no answer carries it */
    if (rc == 0 && sbx_json_get(old, "server_key"))
        rc = sbx_json_set_take(d, "server_key", sbx_json_ref(sbx_json_get(old, "server_key")));
    if (rc == 0)
        rc = sbx_json_set_int(d, "timeout", timeout_s > 0 ? timeout_s : SBX_E2B_DEFAULT_TIMEOUT_S);
    if (rc == 0)
        rc = sbx_json_set_int(d, "kept_ms", sbx_json_int(sbx_json_get(old, "kept_ms")));
    if (rc < 0)
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    else
        rc = store_put(e, id, *state ? state : "running", d, err);
    sbx_json_free(old);
    sbx_json_free(d);
    return rc;
}

int sbx__e2b_sbx_load(struct sbx__e2b *e, const char *id, bool refresh, struct sbx__e2b_sbx *s,
                      struct sbx_err *err)
{
    struct sbx_json *d = refresh ? NULL : store_data(e, id), *v = NULL;
    int rc;

    /* an entry an earlier sbx wrote without the envd version is asked again */
    if (d && sbx_json_get(d, "token") && sbx_json_get(d, "envd_version")) {
        rc = sbx_from_data(id, d, s);
        sbx_json_free(d);
        return rc < 0 ? sbx_err_set(err, rc, "e2b: out of memory") : 0;
    }
    sbx_json_free(d);
    rc = sbx__e2b_get_raw(e, id, &v, err);
    if (rc == -ENOENT) {
        store_forget(e, id);
        rc = sbx_err_set(err, -ENOENT, "e2b: no sandbox '%s' (killed, expired or never made)", id);
    }
    if (rc == 0)
        rc = sbx__e2b_sbx_save(e, v, 0, err);
    sbx_json_free(v);
    if (rc < 0)
        return rc;
    d = store_data(e, id);
    rc = d ? sbx_from_data(id, d, s) : -ENOMEM;
    sbx_json_free(d);
    return rc < 0 ? sbx_err_set(err, rc, "e2b: the store lost sandbox %s", id) : 0;
}

int sbx__e2b_sbx_refetch(struct sbx__e2b *e, struct sbx__e2b_sbx *s, struct sbx_err *err)
{
    char *id = s->id ? strdup(s->id) : NULL;
    int rc;

    if (!id)
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    sbx__e2b_sbx_release(s);
    rc = sbx__e2b_sbx_load(e, id, true, s, err);
    free(id);
    return rc;
}

/* Replaces s with what the store now holds of it. */
static int sbx_reload(struct sbx__e2b *e, struct sbx__e2b_sbx *s, struct sbx_err *err)
{
    struct sbx_json *d = store_data(e, s->id);
    struct sbx__e2b_sbx fresh = {0};
    int rc = d ? sbx_from_data(s->id, d, &fresh) : -ENOENT;

    sbx_json_free(d);
    if (rc < 0) {
        sbx__e2b_sbx_release(&fresh);
        return sbx_err_set(err, rc, "e2b: the store lost sandbox %s", s->id);
    }
    sbx__e2b_sbx_release(s);
    *s = fresh;
    return 0;
}

int sbx__e2b_sbx_traffic(struct sbx__e2b *e, struct sbx__e2b_sbx *s, bool force,
                         struct sbx_err *err)
{
    struct sbx_json *v = NULL;
    int rc;

    if (s->traffic_known && !force)
        return 0;
    /* only a Sandbox answer (create, connect) carries the token */
    rc = sbx__e2b_connect_raw(e, s->id, s->timeout_s, &v, err);
    if (rc == 0)
        rc = sbx__e2b_sbx_save(e, v, s->timeout_s, err);
    sbx_json_free(v);
    if (rc == 0)
        rc = sbx_reload(e, s, err);
    return rc;
}

int sbx__e2b_sbx_set_key(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *key,
                         struct sbx_err *err)
{
    struct sbx_json *d = store_data(e, s->id);
    char *k = key ? strdup(key) : NULL;
    int rc = d && (!key || k) ? 0 : -ENOMEM;

    if (rc == 0)
        rc = key ? sbx_json_set_str(d, "server_key", key) : sbx_json_set_null(d, "server_key");
    if (rc == 0)
        rc = store_put(e, s->id, "running", d, err);
    else
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    sbx_json_free(d);
    if (rc < 0) {
        free(k);
        return rc;
    }
    free(s->server_key);
    s->server_key = k;
    return 0;
}

void sbx__e2b_keepalive(struct sbx__e2b *e, struct sbx__e2b_sbx *s)
{
    int64_t now = sbx_wall_ms();
    struct sbx_json *d;

    if (s->kept_ms && now - s->kept_ms < SBX_E2B_KEEPALIVE_EVERY_MS && now >= s->kept_ms)
        return;
    if (sbx__e2b_set_timeout(e, s->id, s->timeout_s, NULL) < 0)
        return;
    s->kept_ms = now;
    d = store_data(e, s->id);
    if (d && sbx_json_set_int(d, "kept_ms", now) == 0)
        store_put(e, s->id, "running", d, NULL);
    sbx_json_free(d);
}

/* ---- operations ------------------------------------------------------------ */

static int e2b_open(struct sbx_provider *p, struct sbx_err *err)
{
    struct sbx__e2b *e = calloc(1, sizeof(*e));
    struct sbx_buf b = SBX_BUF_INIT;
    int rc;

    if (!e)
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    e->p = p;
    e->retry = sbx__e2b_default_retry;
    rc = sbx__e2b_config_load(&e->cfg, env_get, err);
    if (rc < 0) {
        free(e);
        return rc;
    }
    if (sbx_buf_addf(&b, "%s/sbx.db", sbx_provider_state_dir(p)) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto fail;
    }
    e->store = sbx_store_open(b.ptr, err);
    sbx_buf_free(&b);
    if (!e->store) {
        rc = err && err->code ? err->code : -EIO;
        goto fail;
    }
    p->priv = e;
    return 0;
fail:
    sbx__e2b_config_release(&e->cfg);
    free(e);
    return rc;
}

static void e2b_close(struct sbx_provider *p)
{
    struct sbx__e2b *e = priv(p);

    if (!e)
        return;
    sbx_http_client_free(e->api);
    sbx_store_close(e->store);
    sbx__e2b_config_release(&e->cfg);
    free(e);
    p->priv = NULL;
}

static int e2b_list_infos(struct sbx__e2b *e, const char *const *labels, const char *name,
                          struct sbx_sandbox_info **out, struct sbx_err *err)
{
    struct sbx_json *arr = NULL;
    struct sbx_sandbox_info *infos = NULL;
    size_t n, i;
    int rc = sbx__e2b_list_raw(e, labels, name, NULL, &arr, err);

    if (rc < 0)
        return rc;
    n = sbx_json_array_len(arr);
    if (n) {
        infos = calloc(n, sizeof(*infos));
        if (!infos) {
            sbx_json_free(arr);
            return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        }
    }
    for (i = 0; i < n; i++) {
        rc = sbx__e2b_info_from_json(sbx_json_array_at(arr, i), sbx_wall_ms(), &infos[i], err);
        if (rc < 0)
            break;
    }
    sbx_json_free(arr);
    if (rc < 0) {
        sbx_sandbox_info_array_free(infos, i);
        return rc;
    }
    *out = infos;
    return (int)n;
}

static int e2b_list(struct sbx_provider *p, const struct sbx_sandbox_filter *f,
                    struct sbx_sandbox_info **out, struct sbx_err *err)
{
    return e2b_list_infos(priv(p), f->labels, f->name, out, err);
}

static int by_name(struct sbx__e2b *e, const char *ref, struct sbx_sandbox_info *out,
                   struct sbx_err *err)
{
    struct sbx_sandbox_info *infos = NULL;
    struct sbx_buf ids = SBX_BUF_INIT;
    int n = e2b_list_infos(e, NULL, ref, &infos, err);

    if (n < 0)
        return n;
    if (n == 0) {
        struct sbx_json *known = sbx__e2b_is_id(ref) ? store_data(e, ref) : NULL;

        if (known) {
            /* this host used it: it was killed or timed out under us */
            sbx_json_free(known);
            store_forget(e, ref);
            return sbx_err_set(err, -ENOENT, "e2b: sandbox %s is gone (killed, or its E2B "
                               "timeout passed)", ref);
        }
        return sbx_err_set(err, -ENOENT, "e2b: no sandbox '%s' (no such id or %s name)", ref,
                           SBX_E2B_NAME_KEY);
    }
    if (n > 1) {
        for (int i = 0; i < n; i++)
            sbx_buf_addf(&ids, "%s%s", i ? ", " : "", infos[i].id);
        sbx_err_set(err, -EINVAL, "e2b: %d sandboxes are named '%s': %s", n, ref, ids.ptr);
        sbx_buf_free(&ids);
        sbx_sandbox_info_array_free(infos, (size_t)n);
        return -EINVAL;
    }
    *out = infos[0];
    free(infos);
    return 0;
}

static int e2b_get(struct sbx_provider *p, const char *ref, struct sbx_sandbox_info *out,
                   struct sbx_err *err)
{
    struct sbx__e2b *e = priv(p);
    struct sbx__e2b_sbx s = {0};
    struct sbx_json *v = NULL;
    int rc;

    if (!sbx__e2b_is_id(ref))
        return by_name(e, ref, out, err);
    rc = sbx__e2b_get_raw(e, ref, &v, err);
    if (rc == -ENOENT)
        return by_name(e, ref, out, err);
    if (rc == 0)
        rc = sbx__e2b_info_from_json(v, sbx_wall_ms(), out, err);
    if (rc == 0 && sbx__e2b_sbx_save(e, v, 0, NULL) == 0 && out->state == SBX_SANDBOX_RUNNING &&
        sbx__e2b_sbx_load(e, ref, false, &s, NULL) == 0)
        sbx__e2b_keepalive(e, &s);
    sbx__e2b_sbx_release(&s);
    sbx_json_free(v);
    return rc;
}

static int e2b_create(struct sbx_provider *p, const struct sbx_sandbox_spec *spec,
                      struct sbx_sandbox_info *info_out, struct sbx_err *err)
{
    struct sbx__e2b *e = priv(p);
    struct sbx_json *v = NULL;
    int64_t timeout_s = spec->lifetime_ms > 0 ? (spec->lifetime_ms + 999) / 1000
                                              : SBX_E2B_DEFAULT_TIMEOUT_S;
    int rc;

    if (spec->name) {
        struct sbx_sandbox_info *same = NULL;
        int n = e2b_list_infos(e, NULL, spec->name, &same, err);

        if (n < 0)
            return n;
        if (n > 0) {
            sbx_err_set(err, -EEXIST, "e2b: a sandbox named '%s' exists (%s)", spec->name,
                        same[0].id);
            sbx_sandbox_info_array_free(same, (size_t)n);
            return -EEXIST;
        }
    }
    rc = sbx__e2b_create_raw(e, spec, &v, err);
    if (rc == 0) {
        rc = sbx__e2b_sbx_save(e, v, timeout_s, err);
        /* made, but its token is lost to sbx: no sandbox left running (and
         * billed) that the failed create does not own up to */
        if (rc < 0 && *sbx_json_str(sbx_json_get(v, "sandboxID")))
            sbx__e2b_kill_raw(e, sbx_json_str(sbx_json_get(v, "sandboxID")), NULL);
    }
    if (rc == 0 && info_out) {
        rc = sbx__e2b_info_from_json(v, sbx_wall_ms(), info_out, err);
        /* the create answer has neither metadata nor times: they are the spec's */
        if (rc == 0) {
            size_t n = 0;

            info_out->created_ms = info_out->created_ms ? info_out->created_ms : sbx_wall_ms();
            if (spec->name && !info_out->name)
                info_out->name = strdup(spec->name);
            for (; spec->labels && spec->labels[n]; n++)
                ;
            if (n && !info_out->n_labels) {
                info_out->labels = calloc(n, sizeof(char *));
                for (size_t i = 0; info_out->labels && i < n; i++)
                    if ((info_out->labels[i] = strdup(spec->labels[i])))
                        info_out->n_labels++;
            }
            info_out->network = spec->network;
        }
    }
    sbx_json_free(v);
    return rc;
}

static int e2b_pause(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    struct sbx__e2b *e = priv(p);
    int rc = sbx__e2b_pause_raw(e, id, err);

    if (rc == 0)
        sbx_store_set_state(e->store, "e2b", id, "paused", NULL);
    return rc;
}

static int e2b_resume(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    struct sbx__e2b *e = priv(p);
    struct sbx__e2b_sbx s = {0};
    struct sbx_json *v = NULL, *d = store_data(e, id);
    int64_t timeout_s = sbx_json_int(sbx_json_get(d, "timeout"));
    int rc;

    sbx_json_free(d);
    if (timeout_s <= 0)
        timeout_s = SBX_E2B_DEFAULT_TIMEOUT_S;
    rc = sbx__e2b_connect_raw(e, id, timeout_s, &v, err);
    if (rc == 0)
        rc = sbx__e2b_sbx_save(e, v, timeout_s, err);
    if (rc == 0)
        sbx_store_set_state(e->store, "e2b", id, "running", NULL);
    sbx_json_free(v);
    sbx__e2b_sbx_release(&s);
    return rc;
}

static int e2b_remove(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    struct sbx__e2b *e = priv(p);
    int rc = sbx__e2b_kill_raw(e, id, err);

    if (rc == 0 || rc == -ENOENT)
        store_forget(e, id);
    return rc;
}

static int e2b_port_url(struct sbx_provider *p, const char *id, int port, char **url_out,
                        struct sbx_err *err)
{
    struct sbx__e2b *e = priv(p);
    struct sbx__e2b_sbx s = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    int rc = sbx__e2b_sbx_load(e, id, false, &s, err);

    if (rc == 0 && sbx__e2b_port_url_fill(&e->cfg, id, port, s.domain, &b) < 0)
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    if (rc == 0)
        *url_out = sbx_buf_detach(&b, NULL);
    sbx_buf_free(&b);
    sbx__e2b_sbx_release(&s);
    return rc;
}

static int e2b_exec(struct sbx_provider *p, const char *id, const struct sbx_exec_req *req,
                    struct sbx_exec_result *res, struct sbx_err *err)
{
    return sbx__e2b_exec(priv(p), id, req, res, err);
}

static int e2b_upload(struct sbx_provider *p, const char *id, const char *host_path,
                      const char *sandbox_path, unsigned mode, struct sbx_err *err)
{
    return sbx__e2b_upload(priv(p), id, host_path, sandbox_path, mode, err);
}

static int e2b_download(struct sbx_provider *p, const char *id, const char *sandbox_path,
                        const char *host_path, struct sbx_err *err)
{
    return sbx__e2b_download(priv(p), id, sandbox_path, host_path, err);
}

static int e2b_bootstrap(struct sbx_provider *p, const char *id, const struct sbx_server_opts *o,
                         struct sbx_endpoint *ep, struct sbx_err *err)
{
    return sbx__e2b_bootstrap(priv(p), id, o, ep, err);
}

const struct sbx_provider_ops sbx__provider_e2b = {
    .name = "e2b",
    .open = e2b_open,
    .close = e2b_close,
    .create = e2b_create,
    .get = e2b_get,
    .list = e2b_list,
    .pause = e2b_pause,
    .resume = e2b_resume,
    .remove = e2b_remove,
    .exec = e2b_exec,
    .upload = e2b_upload,
    .download = e2b_download,
    .port_url = e2b_port_url,
    .bootstrap = e2b_bootstrap,
    .oom_kills = NULL,
};
