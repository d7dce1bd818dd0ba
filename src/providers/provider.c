#include "providers/provider.h"

/*
 * The provider registry, the sbx_provider_* wrappers (which turn a NULL
 * operation into -ENOTSUP), the resolution of the state directory and of the
 * sbx-server binary, and the release functions of the public structs.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"

static const struct sbx_provider_ops *const registry[] = {
    &sbx__provider_local,
    &sbx__provider_e2b,
};

#define N_REGISTRY (sizeof(registry) / sizeof(registry[0]))

const char *sbx_provider_names(void)
{
    /* Kept in step with registry[] by test_providers_provider.c. */
    return "local, e2b";
}

/* mkdir -p with mode for the last component (parents 0755). */
static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    size_t i;

    if (n == 0 || n >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (i = 1; i < n; i++) {
        if (tmp[i] != '/')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -errno;
        tmp[i] = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* The state directory: cfg, $SBX_STATE_DIR, /var/lib/sbx as root, else
 * $XDG_DATA_HOME/sbx or ~/.local/share/sbx. Created 0700, made absolute. */
static int resolve_state_dir(const struct sbx_provider_config *cfg, char **out,
                             struct sbx_err *err)
{
    struct sbx_buf b = SBX_BUF_INIT;
    const char *env;
    char *real = NULL;
    int rc = 0;

    env = getenv("SBX_STATE_DIR");
    if (cfg && cfg->state_dir && *cfg->state_dir)
        rc = sbx_buf_addstr(&b, cfg->state_dir);
    else if (env && *env)
        rc = sbx_buf_addstr(&b, env);
    else if (geteuid() == 0)
        rc = sbx_buf_addstr(&b, "/var/lib/sbx");
    else if ((env = getenv("XDG_DATA_HOME")) && *env == '/')
        rc = sbx_buf_addf(&b, "%s/sbx", env);
    else if ((env = getenv("HOME")) && *env == '/')
        rc = sbx_buf_addf(&b, "%s/.local/share/sbx", env);
    else
        return sbx_err_set(err, -EINVAL,
                           "state directory: neither SBX_STATE_DIR nor HOME is set");
    if (rc < 0)
        goto nomem;
    rc = mkdir_p(b.ptr, 0700);
    if (rc < 0) {
        sbx_err_set(err, rc, "state directory %s: %s", b.ptr, strerror(-rc));
        goto out;
    }
    real = realpath(b.ptr, NULL);
    if (!real) {
        rc = -errno;
        sbx_err_set(err, rc, "state directory %s: %s", b.ptr, strerror(-rc));
        goto out;
    }
    *out = real;
    rc = 0;
    goto out;
nomem:
    rc = sbx_err_set(err, -ENOMEM, "state directory: out of memory");
out:
    sbx_buf_free(&b);
    return rc;
}

static char *executable(const char *path)
{
    struct stat st;

    if (!path || !*path || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
        access(path, X_OK) < 0)
        return NULL;
    return realpath(path, NULL);
}

/* cfg, $SBX_SERVER_BIN, sbx-server next to the running executable, then
 * ../libexec/sbx/sbx-server relative to its directory. NULL if none. */
static char *resolve_server_bin(const struct sbx_provider_config *cfg)
{
    char exe[PATH_MAX];
    char cand[PATH_MAX + 64];
    char *found, *slash;
    ssize_t n;

    if (cfg && cfg->server_bin && *cfg->server_bin)
        return executable(cfg->server_bin);
    found = executable(getenv("SBX_SERVER_BIN"));
    if (found)
        return found;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    snprintf(cand, sizeof(cand), "%s/sbx-server", exe);
    found = executable(cand);
    if (found)
        return found;
    snprintf(cand, sizeof(cand), "%s/../libexec/sbx/sbx-server", exe);
    return executable(cand);
}

struct sbx_provider *sbx_provider_open(const char *name, const struct sbx_provider_config *cfg,
                                       struct sbx_err *err)
{
    const struct sbx_provider_ops *ops = NULL;
    struct sbx_provider *p = NULL;
    size_t i;
    int rc;

    for (i = 0; name && i < N_REGISTRY; i++)
        if (!strcmp(registry[i]->name, name))
            ops = registry[i];
    if (!ops) {
        sbx_err_set(err, -ENOENT, "unknown provider '%s' (available: %s)", name ? name : "",
                    sbx_provider_names());
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        sbx_err_set(err, -ENOMEM, "open provider %s: out of memory", name);
        return NULL;
    }
    p->ops = ops;
    rc = resolve_state_dir(cfg, &p->state_dir, err);
    if (rc < 0)
        goto fail;
    p->server_bin = resolve_server_bin(cfg);
    if (ops->open) {
        rc = ops->open(p, err);
        if (rc < 0)
            goto fail;
    }
    return p;
fail:
    free(p->state_dir);
    free(p->server_bin);
    free(p);
    return NULL;
}

void sbx_provider_close(struct sbx_provider *p)
{
    if (!p)
        return;
    if (p->ops->close)
        p->ops->close(p);
    free(p->state_dir);
    free(p->server_bin);
    free(p);
}

const char *sbx_provider_name(const struct sbx_provider *p)
{
    return p ? p->ops->name : NULL;
}

const char *sbx_provider_state_dir(const struct sbx_provider *p)
{
    return p ? p->state_dir : NULL;
}

const char *sbx_provider_server_bin(const struct sbx_provider *p)
{
    return p ? p->server_bin : NULL;
}

static int unsupported(const struct sbx_provider *p, const char *op, struct sbx_err *err)
{
    return sbx_err_set(err, -ENOTSUP, "%s: %s is not supported", p->ops->name, op);
}

static int check(const struct sbx_provider *p, const void *op, const char *opname,
                 const char *id, struct sbx_err *err)
{
    if (!p)
        return sbx_err_set(err, -EINVAL, "%s: no provider", opname);
    if (!op)
        return unsupported(p, opname, err);
    if (!id || !*id)
        return sbx_err_set(err, -EINVAL, "%s: no sandbox given", opname);
    return 0;
}

int sbx_provider_create(struct sbx_provider *p, const struct sbx_sandbox_spec *spec,
                        struct sbx_sandbox_info *info_out, struct sbx_err *err)
{
    static const struct sbx_sandbox_spec defaults;
    int rc = check(p, p ? (const void *)p->ops->create : NULL, "create", "-", err);

    if (rc < 0)
        return rc;
    if (info_out)
        memset(info_out, 0, sizeof(*info_out));
    return p->ops->create(p, spec ? spec : &defaults, info_out, err);
}

int sbx_provider_get(struct sbx_provider *p, const char *ref, struct sbx_sandbox_info *out,
                     struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->get : NULL, "get", ref, err);

    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    return p->ops->get(p, ref, out, err);
}

int sbx_provider_list(struct sbx_provider *p, const struct sbx_sandbox_filter *f,
                      struct sbx_sandbox_info **out, struct sbx_err *err)
{
    static const struct sbx_sandbox_filter all;
    int rc = check(p, p ? (const void *)p->ops->list : NULL, "list", "-", err);

    if (rc < 0)
        return rc;
    *out = NULL;
    return p->ops->list(p, f ? f : &all, out, err);
}

int sbx_provider_pause(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->pause : NULL, "pause", id, err);

    return rc < 0 ? rc : p->ops->pause(p, id, err);
}

int sbx_provider_resume(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->resume : NULL, "resume", id, err);

    return rc < 0 ? rc : p->ops->resume(p, id, err);
}

int sbx_provider_remove(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->remove : NULL, "remove", id, err);

    return rc < 0 ? rc : p->ops->remove(p, id, err);
}

int sbx_provider_exec(struct sbx_provider *p, const char *id, const struct sbx_exec_req *req,
                      struct sbx_exec_result *res, struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->exec : NULL, "exec", id, err);

    if (rc < 0)
        return rc;
    if (!req || !req->argv || !req->argv[0] || !*req->argv[0])
        return sbx_err_set(err, -EINVAL, "exec: no command given");
    memset(res, 0, sizeof(*res));
    return p->ops->exec(p, id, req, res, err);
}

int sbx_provider_upload(struct sbx_provider *p, const char *id, const char *host_path,
                        const char *sandbox_path, unsigned mode, struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->upload : NULL, "upload", id, err);

    if (rc < 0)
        return rc;
    if (!host_path || !*host_path || !sandbox_path || !*sandbox_path)
        return sbx_err_set(err, -EINVAL, "upload: a host path and a sandbox path are needed");
    return p->ops->upload(p, id, host_path, sandbox_path, mode, err);
}

int sbx_provider_download(struct sbx_provider *p, const char *id, const char *sandbox_path,
                          const char *host_path, struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->download : NULL, "download", id, err);

    if (rc < 0)
        return rc;
    if (!host_path || !*host_path || !sandbox_path || !*sandbox_path)
        return sbx_err_set(err, -EINVAL, "download: a sandbox path and a host path are needed");
    return p->ops->download(p, id, sandbox_path, host_path, err);
}

int sbx_provider_port_url(struct sbx_provider *p, const char *id, int port, char **url_out,
                          struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->port_url : NULL, "port_url", id, err);

    if (rc < 0)
        return rc;
    *url_out = NULL;
    if (port < 1 || port > 65535)
        return sbx_err_set(err, -EINVAL, "port_url: port %d is not in 1..65535", port);
    return p->ops->port_url(p, id, port, url_out, err);
}

int sbx_provider_bootstrap(struct sbx_provider *p, const char *id,
                           const struct sbx_server_opts *o, struct sbx_endpoint *ep,
                           struct sbx_err *err)
{
    static const struct sbx_server_opts defaults;
    int rc = check(p, p ? (const void *)p->ops->bootstrap : NULL, "bootstrap", id, err);

    if (rc < 0)
        return rc;
    memset(ep, 0, sizeof(*ep));
    return p->ops->bootstrap(p, id, o ? o : &defaults, ep, err);
}

int sbx_provider_oom_kills(struct sbx_provider *p, const char *id, int64_t *count,
                           struct sbx_err *err)
{
    int rc = check(p, p ? (const void *)p->ops->oom_kills : NULL, "oom_kills", id, err);

    if (rc < 0)
        return rc;
    *count = 0;
    return p->ops->oom_kills(p, id, count, err);
}

void sbx_sandbox_info_free(struct sbx_sandbox_info *info)
{
    size_t i;

    if (!info)
        return;
    free(info->id);
    free(info->name);
    free(info->provider);
    free(info->image);
    for (i = 0; i < info->n_labels; i++)
        free(info->labels[i]);
    free(info->labels);
    free(info->note);
    memset(info, 0, sizeof(*info));
}

void sbx_sandbox_info_array_free(struct sbx_sandbox_info *infos, size_t n)
{
    size_t i;

    if (!infos)
        return;
    for (i = 0; i < n; i++)
        sbx_sandbox_info_free(&infos[i]);
    free(infos);
}

const char *sbx_sandbox_state_name(enum sbx_sandbox_state s)
{
    switch (s) {
    case SBX_SANDBOX_CREATING: return "creating";
    case SBX_SANDBOX_RUNNING: return "running";
    case SBX_SANDBOX_PAUSED: return "paused";
    case SBX_SANDBOX_DEAD: return "dead";
    }
    return "unknown";
}

void sbx_exec_result_release(struct sbx_exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = NULL;
    r->err = NULL;
    r->out_len = 0;
    r->err_len = 0;
}

void sbx_endpoint_release(struct sbx_endpoint *ep)
{
    size_t i;

    if (!ep)
        return;
    free(ep->url);
    free(ep->unix_path);
    free(ep->api_key);
    for (i = 0; ep->headers && ep->headers[i]; i++)
        free(ep->headers[i]);
    free(ep->headers);
    memset(ep, 0, sizeof(*ep));
}

