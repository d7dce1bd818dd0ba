/*
 * A runtime's life: provider, create or attach, bootstrap, wait for /alive,
 * close (DESIGN.md, "A sandbox on a platform").
 */
#include "runtime/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/time.h"
#include "sbx/log.h"

#define DEFAULT_ALIVE_TIMEOUT_MS 120000
/* The /alive wait: first retry after 1 ms, doubling up to 100 ms. */
#define ALIVE_FIRST_WAIT_MS 1
#define ALIVE_MAX_WAIT_MS 100
/* How often the provider is asked whether the sandbox died meanwhile. */
#define DEAD_CHECK_MS 500

static void progress(const struct sbx_runtime_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void progress(const struct sbx_runtime_opts *o, const char *fmt, ...)
{
    struct sbx_buf line = SBX_BUF_INIT;
    va_list ap;

    if (!o->progress)
        return;
    va_start(ap, fmt);
    if (sbx_buf_vaddf(&line, fmt, ap) == 0)
        o->progress(line.ptr, o->progress_ud);
    va_end(ap);
    sbx_buf_free(&line);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static struct sbx_runtime *rt_new(int64_t retry_base_ms, struct sbx_err *err)
{
    struct sbx_runtime *rt = calloc(1, sizeof(*rt));

    if (!rt) {
        sbx_err_set(err, -ENOMEM, "runtime: out of memory");
        return NULL;
    }
    rt->retry_base_ms = retry_base_ms > 0 ? retry_base_ms : SBX__RT_DEFAULT_RETRY_BASE_MS;
    return rt;
}

static void rt_free(struct sbx_runtime *rt)
{
    if (!rt)
        return;
    sbx_http_client_free(rt->http);
    sbx_provider_close(rt->prov);
    free(rt->sandbox_id);
    free(rt);
}

struct sbx_runtime *sbx_runtime_connect(const struct sbx_endpoint *ep, struct sbx_err *err)
{
    struct sbx_runtime *rt = rt_new(0, err);

    if (!rt)
        return NULL;
    if (sbx__rt_client_new(rt, ep, err) < 0) {
        rt_free(rt);
        return NULL;
    }
    return rt;
}

/* Whether the sandbox died (its provider says so); errors count as alive:
 * the /alive deadline still bounds the wait. */
static bool sandbox_dead(struct sbx_runtime *rt)
{
    struct sbx_sandbox_info info = {0};
    bool dead = false;

    if (sbx_provider_get(rt->prov, rt->sandbox_id, &info, NULL) == 0) {
        dead = info.state == SBX_SANDBOX_DEAD;
        sbx_sandbox_info_free(&info);
    }
    return dead;
}

/* GET /alive until 200 or the deadline. Every failure retries: a server
 * still starting refuses connections (or its socket does not exist yet),
 * and a proxy in front of it may answer 502 for a while. A sandbox that
 * dies meanwhile ends the wait early. */
static int wait_alive(struct sbx_runtime *rt, int64_t timeout_ms, struct sbx_err *err)
{
    int64_t deadline_ms = sbx_now_ms() + timeout_ms;
    int64_t check_ms = sbx_now_ms() + DEAD_CHECK_MS;
    int64_t wait_ms = ALIVE_FIRST_WAIT_MS;
    struct sbx_err last;
    int rc;

    for (;;) {
        int64_t now_ms;

        sbx_err_clear(&last);
        rc = sbx_runtime_alive(rt, &last);
        if (rc == 0)
            return 0;
        if (rc == -EINVAL && !last.http_status)
            return sbx_err_set(err, rc, "waiting for sbx-server: %s", last.msg);
        now_ms = sbx_now_ms();
        if (now_ms >= deadline_ms)
            return sbx_err_set(err, -ETIMEDOUT,
                               "waiting for sbx-server: no answer from /alive within %lld ms "
                               "(last: %s)",
                               (long long)timeout_ms, last.msg);
        if (rt->prov && now_ms >= check_ms) {
            if (sandbox_dead(rt))
                return sbx_err_set(err, -EPIPE,
                                   "waiting for sbx-server: the sandbox died (last: %s)",
                                   last.msg);
            check_ms = now_ms + DEAD_CHECK_MS;
        }
        sleep_ms(wait_ms < deadline_ms - now_ms ? wait_ms : deadline_ms - now_ms);
        wait_ms = wait_ms * 2 < ALIVE_MAX_WAIT_MS ? wait_ms * 2 : ALIVE_MAX_WAIT_MS;
    }
}

/* Finds the sandbox to attach to, resuming it when paused. Returns 0 with
 * rt->sandbox_id set, -ENOENT when it does not exist, or an error. */
static int attach(struct sbx_runtime *rt, const struct sbx_runtime_opts *o, struct sbx_err *err)
{
    struct sbx_sandbox_info info = {0};
    struct sbx_err local;
    int rc;

    sbx_err_clear(&local);
    rc = sbx_provider_get(rt->prov, o->attach, &info, &local);
    if (rc < 0) {
        if (err)
            *err = local;
        return rc;
    }
    switch (info.state) {
    case SBX_SANDBOX_DEAD:
        rc = sbx_err_set(err, -EPIPE,
                         "attach: sandbox %s is dead (its init exited); remove it with sbx rm %s",
                         info.id, info.id);
        goto out;
    case SBX_SANDBOX_PAUSED:
        progress(o, "resuming sandbox %s", info.id);
        rc = sbx_provider_resume(rt->prov, info.id, err);
        if (rc < 0) {
            sbx_err_prefix(err, "attach: resuming %s", info.id);
            goto out;
        }
        break;
    case SBX_SANDBOX_CREATING:
    case SBX_SANDBOX_RUNNING: break;
    }
    progress(o, "attached to sandbox %s", info.id);
    rt->sandbox_id = info.id;
    info.id = NULL;
    rc = 0;
out:
    sbx_sandbox_info_free(&info);
    return rc;
}

static int create(struct sbx_runtime *rt, const struct sbx_runtime_opts *o, const char *name,
                  struct sbx_err *err)
{
    struct sbx_sandbox_spec spec = o->spec;
    struct sbx_sandbox_info info = {0};
    int64_t t0 = sbx_now_ms();
    int rc;

    if (name)
        spec.name = name;
    progress(o, "creating sandbox%s%s on %s", spec.name ? " " : "", spec.name ? spec.name : "",
             sbx_provider_name(rt->prov));
    rc = sbx_provider_create(rt->prov, &spec, &info, err);
    if (rc < 0)
        return rc;
    rt->create_ms = sbx_now_ms() - t0;
    rt->sandbox_id = info.id;
    info.id = NULL;
    if (info.note)
        progress(o, "note: %s", info.note);
    sbx_sandbox_info_free(&info);
    return 0;
}

struct sbx_runtime *sbx_runtime_open(const struct sbx_runtime_opts *o, struct sbx_err *err)
{
    struct sbx_runtime *rt = NULL;
    struct sbx_endpoint ep = {0};
    const char *name = o->provider;
    bool created = false;
    int64_t t0;
    int rc;

    if (!name || !*name)
        name = getenv("SBX_PROVIDER");
    if (!name || !*name)
        name = "local";
    rt = rt_new(o->retry_base_ms, err);
    if (!rt)
        return NULL;
    rt->prov = sbx_provider_open(name, &o->provider_config, err);
    if (!rt->prov)
        goto fail;
    if (o->attach) {
        rc = attach(rt, o, err);
        if (rc == -ENOENT && o->create_if_missing) {
            rc = create(rt, o, o->attach, err);
            created = rc == 0;
        }
    } else {
        rc = create(rt, o, NULL, err);
        created = rc == 0;
    }
    if (rc < 0)
        goto fail;
    progress(o, "starting sbx-server in %s", rt->sandbox_id);
    t0 = sbx_now_ms();
    rc = sbx_provider_bootstrap(rt->prov, rt->sandbox_id, &o->server, &ep, err);
    if (rc < 0) {
        sbx_err_prefix(err, "bootstrap %s", rt->sandbox_id);
        goto fail;
    }
    rt->bootstrap_ms = sbx_now_ms() - t0;
    rc = sbx__rt_client_new(rt, &ep, err);
    if (rc < 0)
        goto fail;
    progress(o, "waiting for sbx-server");
    t0 = sbx_now_ms();
    rc = wait_alive(rt, o->alive_timeout_ms > 0 ? o->alive_timeout_ms : DEFAULT_ALIVE_TIMEOUT_MS,
                    err);
    if (rc < 0) {
        sbx_err_prefix(err, "%s", rt->sandbox_id);
        goto fail;
    }
    rt->alive_ms = sbx_now_ms() - t0;
    rt->touched_ms = sbx_now_ms(); /* bootstrap just touched the sandbox */
    sbx_log(SBX_LOG_DEBUG, "runtime %s: create %lld ms, bootstrap %lld ms, alive %lld ms",
            rt->sandbox_id, (long long)rt->create_ms, (long long)rt->bootstrap_ms,
            (long long)rt->alive_ms);
    sbx_endpoint_release(&ep);
    return rt;
fail:
    /* A sandbox this call made does not outlive its failure. */
    if (created)
        sbx_provider_remove(rt->prov, rt->sandbox_id, NULL);
    sbx_endpoint_release(&ep);
    rt_free(rt);
    return NULL;
}

int sbx_runtime_close(struct sbx_runtime *rt, enum sbx_close_mode mode, struct sbx_err *err)
{
    int rc = 0;

    if (!rt)
        return 0;
    /* The connection goes first: a deleted sandbox's server is gone. */
    sbx_http_client_free(rt->http);
    rt->http = NULL;
    if (rt->prov && rt->sandbox_id) {
        switch (mode) {
        case SBX_CLOSE_KEEP: break;
        case SBX_CLOSE_PAUSE: rc = sbx_provider_pause(rt->prov, rt->sandbox_id, err); break;
        case SBX_CLOSE_DELETE: rc = sbx_provider_remove(rt->prov, rt->sandbox_id, err); break;
        }
    }
    rt_free(rt);
    return rc;
}

const char *sbx_runtime_sandbox_id(const struct sbx_runtime *rt)
{
    return rt->sandbox_id;
}

struct sbx_provider *sbx_runtime_provider(struct sbx_runtime *rt)
{
    return rt->prov;
}
