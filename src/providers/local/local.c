#include "providers/local/local.h"

/*
 * The local provider's operation table and the operations that only read or
 * change the index and the cgroups: get, list, pause, resume, remove,
 * port_url, bootstrap, oom_kills. Creation is create.c; exec and file
 * transfer are exec.c.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json/json.h"
#include "providers/local/cgroup.h"
#include "providers/local/ctl.h"

void sbx__local_sbx_release(struct sbx__local_sbx *s)
{
    if (!s)
        return;
    sbx_store_row_release(&s->row);
    free(s->workdir);
    free(s->image);
    free(s->note);
    memset(s, 0, sizeof(*s));
}

char *sbx__local_data_json(const struct sbx__local_sbx *s)
{
    struct sbx_json *o = sbx_json_object_new();
    struct sbx_buf b = SBX_BUF_INIT;
    char *out = NULL;
    int rc = o ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx_json_set_str(o, "network", s->network == SBX_NETWORK_NONE ? "none" : "host");
    if (rc == 0)
        rc = sbx_json_set_int(o, "memory_bytes", s->memory_bytes);
    if (rc == 0)
        rc = sbx_json_set_int(o, "cpu_millis", s->cpu_millis);
    if (rc == 0)
        rc = sbx_json_set_int(o, "pids_max", s->pids_max);
    if (rc == 0)
        rc = sbx_json_set_int(o, "enforced", (int64_t)s->enforced);
    if (rc == 0)
        rc = sbx_json_set_str(o, "note", s->note);
    if (rc == 0)
        rc = sbx_json_set_str(o, "workdir", s->workdir);
    if (rc == 0)
        rc = sbx_json_set_str(o, "image", s->image);
    if (rc == 0)
        rc = sbx_json_set_bool(o, "creator", s->creator != 0);
    if (rc == 0)
        rc = sbx_json_dump(o, &b);
    if (rc == 0)
        out = sbx_buf_detach(&b, NULL);
    sbx_buf_free(&b);
    sbx_json_free(o);
    return out;
}

static char *json_strdup(const struct sbx_json *o, const char *key)
{
    const struct sbx_json *v = sbx_json_get(o, key);

    if (!v || sbx_json_type(v) != SBX_JSON_STRING)
        return NULL;
    return strdup(sbx_json_str(v));
}

/* Parses row.data into the fields of s. */
static int parse_data(struct sbx__local_sbx *s)
{
    struct sbx_json *o = NULL;
    const struct sbx_json *v;

    if (s->row.data)
        o = sbx_json_parse(s->row.data, strlen(s->row.data), NULL);
    s->workdir = o ? json_strdup(o, "workdir") : NULL;
    if (!s->workdir)
        s->workdir = strdup(SBX_LOCAL_DEFAULT_WORKDIR);
    if (o) {
        s->image = json_strdup(o, "image");
        s->note = json_strdup(o, "note");
        v = sbx_json_get(o, "network");
        s->network = v && !strcmp(sbx_json_str(v), "none") ? SBX_NETWORK_NONE : SBX_NETWORK_HOST;
        s->memory_bytes = sbx_json_int(sbx_json_get(o, "memory_bytes"));
        s->cpu_millis = sbx_json_int(sbx_json_get(o, "cpu_millis"));
        s->pids_max = sbx_json_int(sbx_json_get(o, "pids_max"));
        s->enforced = (unsigned)sbx_json_int(sbx_json_get(o, "enforced"));
        s->creator = sbx_json_bool(sbx_json_get(o, "creator"));
    }
    sbx_json_free(o);
    return s->workdir ? 0 : -ENOMEM;
}

static enum sbx_sandbox_state parse_state(const char *s)
{
    if (!s)
        return SBX_SANDBOX_DEAD;
    if (!strcmp(s, "creating"))
        return SBX_SANDBOX_CREATING;
    if (!strcmp(s, "running"))
        return SBX_SANDBOX_RUNNING;
    if (!strcmp(s, "paused"))
        return SBX_SANDBOX_PAUSED;
    return SBX_SANDBOX_DEAD;
}

/* Checks that the row's process is the one recorded; marks it dead if not. */
static int check_alive(struct sbx_provider *p, struct sbx__local_sbx *s, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    int64_t start = 0;
    const char *why;
    char *data;

    if (s->state == SBX_SANDBOX_DEAD)
        return 0;
    if (sbx__local_pid_start((pid_t)s->row.pid, &start) == 0 && start == s->row.pid_start) {
        if (s->state == SBX_SANDBOX_RUNNING && !s->creator) {
            struct sbx_cgroup *cg = sbx_cgroup_open(s->row.id, NULL);

            if (cg && sbx_cgroup_frozen(cg))
                s->state = SBX_SANDBOX_PAUSED;
            sbx_cgroup_free(cg);
        }
        return 0;
    }
    why = s->creator ? "its creator exited while setting it up" : "its init exited";
    s->state = SBX_SANDBOX_DEAD;
    free(s->note);
    s->note = strdup(why);
    free(s->row.state);
    s->row.state = strdup("dead");
    data = sbx__local_data_json(s);
    if (!s->note || !s->row.state || !data) {
        free(data);
        return sbx_err_set(err, -ENOMEM, "out of memory");
    }
    free(s->row.data);
    s->row.data = data;
    /* only if the row still names that process: a creator that finished
     * (and exited) since we read the row has recorded the init meanwhile */
    return sbx_store_update_if(l->store, &s->row, s->row.pid, s->row.pid_start, err);
}

static int load(struct sbx_provider *p, struct sbx__local_sbx *s, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    struct sbx_store_row row;
    int rc, tries = 0;

    for (;;) {
        snprintf(s->dir, sizeof(s->dir), "%s/%s", l->dir, s->row.id);
        s->state = parse_state(s->row.state);
        if (parse_data(s) < 0)
            return sbx_err_set(err, -ENOMEM, "out of memory");
        rc = check_alive(p, s, err);
        if (rc != -ESTALE)
            return rc;
        if (tries++) /* changed twice while we looked: report what we saw */
            return 0;
        /* read the row again (-ENOENT if a concurrent rm deleted it) */
        rc = sbx_store_get(l->store, SBX_LOCAL_PROVIDER, s->row.id, &row, err);
        if (rc < 0)
            return rc;
        sbx__local_sbx_release(s);
        s->row = row;
    }
}

int sbx__local_find(struct sbx_provider *p, const char *ref, struct sbx__local_sbx *s,
                    struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = sbx_store_get(l->store, SBX_LOCAL_PROVIDER, ref, &s->row, err);
    if (rc == -ENOENT)
        return sbx_err_set(err, -ENOENT, "no sandbox '%s'", ref);
    if (rc < 0)
        return rc;
    rc = load(p, s, err);
    if (rc == -ENOENT)
        sbx_err_set(err, -ENOENT, "no sandbox '%s'", ref);
    if (rc < 0)
        sbx__local_sbx_release(s);
    return rc;
}

int sbx__local_find_running(struct sbx_provider *p, const char *ref, const char *op,
                            struct sbx__local_sbx *s, struct sbx_err *err)
{
    int rc = sbx__local_find(p, ref, s, err);

    if (rc < 0) {
        sbx_err_prefix(err, "%s", op);
        return rc;
    }
    switch (s->state) {
    case SBX_SANDBOX_RUNNING: return 0;
    case SBX_SANDBOX_PAUSED:
        rc = sbx_err_set(err, -EAGAIN, "%s: sandbox %s is paused (resume it first)", op,
                         s->row.id);
        break;
    case SBX_SANDBOX_CREATING:
        rc = sbx_err_set(err, -EAGAIN, "%s: sandbox %s is still being created", op, s->row.id);
        break;
    case SBX_SANDBOX_DEAD:
        rc = sbx_err_set(err, -EPIPE, "%s: sandbox %s is dead (%s); remove it with sbx rm", op,
                         s->row.id, s->note ? s->note : "its init exited");
        break;
    }
    sbx__local_sbx_release(s);
    return rc;
}

int sbx__local_info(const struct sbx__local_sbx *s, struct sbx_sandbox_info *info)
{
    size_t i;

    memset(info, 0, sizeof(*info));
    info->id = strdup(s->row.id);
    info->name = s->row.name ? strdup(s->row.name) : NULL;
    info->provider = strdup(SBX_LOCAL_PROVIDER);
    info->image = s->image ? strdup(s->image) : NULL;
    info->state = s->state;
    info->created_ms = s->row.created_ms;
    info->memory_bytes = s->memory_bytes;
    info->cpu_millis = s->cpu_millis;
    info->pids_max = s->pids_max;
    info->enforced = s->enforced;
    info->network = s->network;
    info->note = s->note && *s->note ? strdup(s->note) : NULL;
    if (s->row.n_labels) {
        info->labels = calloc(s->row.n_labels, sizeof(char *));
        if (!info->labels)
            goto nomem;
        for (i = 0; i < s->row.n_labels; i++) {
            info->labels[i] = strdup(s->row.labels[i]);
            if (!info->labels[i])
                goto nomem;
            info->n_labels = i + 1;
        }
    }
    if (!info->id || !info->provider || (s->row.name && !info->name) ||
        (s->image && !info->image) || (s->note && *s->note && !info->note))
        goto nomem;
    return 0;
nomem:
    sbx_sandbox_info_free(info);
    return -ENOMEM;
}

static int local_open(struct sbx_provider *p, struct sbx_err *err)
{
    struct sbx__local *l = calloc(1, sizeof(*l));
    struct sbx_buf b = SBX_BUF_INIT;
    int rc = 0;

    if (!l)
        return sbx_err_set(err, -ENOMEM, "local: out of memory");
    if (sbx_buf_addf(&b, "%s/sbx.db", p->state_dir) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "local: out of memory");
        goto out;
    }
    l->store = sbx_store_open(b.ptr, err);
    if (!l->store) {
        rc = err ? err->code : -EIO;
        if (rc >= 0)
            rc = -EIO;
        goto out;
    }
    sbx_buf_reset(&b);
    if (sbx_buf_addf(&b, "%s/local", p->state_dir) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "local: out of memory");
        goto out;
    }
    if (mkdir(b.ptr, 0700) < 0 && errno != EEXIST) {
        rc = sbx_err_set(err, -errno, "local: mkdir %s: %s", b.ptr, strerror(errno));
        goto out;
    }
    l->dir = sbx_buf_detach(&b, NULL);
    if (!l->dir) {
        rc = sbx_err_set(err, -ENOMEM, "local: out of memory");
        goto out;
    }
    p->priv = l;
    l = NULL;
out:
    if (l) {
        sbx_store_close(l->store);
        free(l);
    }
    sbx_buf_free(&b);
    return rc;
}

static void local_close(struct sbx_provider *p)
{
    struct sbx__local *l = p->priv;

    if (!l)
        return;
    sbx_store_close(l->store);
    free(l->dir);
    free(l);
    p->priv = NULL;
}

static int local_get(struct sbx_provider *p, const char *ref, struct sbx_sandbox_info *out,
                     struct sbx_err *err)
{
    struct sbx__local_sbx s;
    int rc = sbx__local_find(p, ref, &s, err);

    if (rc < 0)
        return rc;
    rc = sbx__local_info(&s, out);
    sbx__local_sbx_release(&s);
    return rc < 0 ? sbx_err_set(err, rc, "get: out of memory") : 0;
}

static int local_list(struct sbx_provider *p, const struct sbx_sandbox_filter *f,
                      struct sbx_sandbox_info **out, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    struct sbx_store_row *rows = NULL;
    struct sbx_sandbox_info *infos = NULL;
    int n, i, rc = 0, k = 0;

    n = sbx_store_list(l->store, SBX_LOCAL_PROVIDER, f->labels, f->name, &rows, err);
    if (n < 0)
        return n;
    if (n > 0) {
        infos = calloc((size_t)n, sizeof(*infos));
        if (!infos) {
            rc = sbx_err_set(err, -ENOMEM, "list: out of memory");
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        struct sbx__local_sbx s;

        memset(&s, 0, sizeof(s));
        s.row = rows[i];
        memset(&rows[i], 0, sizeof(rows[i]));
        rc = load(p, &s, err);
        if (rc == 0)
            rc = sbx__local_info(&s, &infos[k]);
        sbx__local_sbx_release(&s);
        if (rc == -ENOENT) /* removed while we listed */
            continue;
        if (rc < 0) {
            sbx_err_set(err, rc, "list: %s", strerror(-rc));
            goto out;
        }
        k++;
    }
    *out = infos;
    infos = NULL;
    rc = k;
out:
    sbx_sandbox_info_array_free(infos, (size_t)k);
    sbx_store_rows_free(rows, n > 0 ? (size_t)n : 0);
    return rc;
}

static int set_paused(struct sbx_provider *p, const char *ref, bool pause, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    const char *op = pause ? "pause" : "resume";
    struct sbx_cgroup *cg = NULL;
    struct sbx__local_sbx s;
    int rc;

    rc = sbx__local_find(p, ref, &s, err);
    if (rc < 0) {
        sbx_err_prefix(err, "%s", op);
        return rc;
    }
    if (s.state == SBX_SANDBOX_DEAD) {
        rc = sbx_err_set(err, -EPIPE, "%s: sandbox %s is dead (%s)", op, s.row.id,
                         s.note ? s.note : "its init exited");
        goto out;
    }
    if (s.state == SBX_SANDBOX_CREATING) {
        rc = sbx_err_set(err, -EAGAIN, "%s: sandbox %s is still being created", op, s.row.id);
        goto out;
    }
    if (!(s.enforced & SBX_LIMIT_FREEZE)) {
        rc = sbx_err_set(err, -ENOTSUP,
                         "%s: no cgroup freezer is available (%s)", op,
                         s.note && *s.note ? s.note : "the freezer controller is not usable");
        goto out;
    }
    cg = sbx_cgroup_open(s.row.id, err);
    if (!cg) {
        rc = -ENOMEM; /* its only failure */
        goto out;
    }
    rc = sbx_cgroup_freeze(cg, pause, err);
    if (rc == -ENOTSUP) {
        rc = sbx_err_set(err, -ENOTSUP, "%s: no cgroup freezer is available (%s)", op,
                         err ? err->msg : "");
        goto out;
    }
    if (rc < 0) {
        sbx_err_prefix(err, "%s", op);
        goto out;
    }
    rc = sbx_store_set_state(l->store, SBX_LOCAL_PROVIDER, s.row.id, pause ? "paused" : "running",
                             err);
    if (rc < 0)
        sbx_err_prefix(err, "%s", op);
out:
    sbx_cgroup_free(cg);
    sbx__local_sbx_release(&s);
    return rc;
}

static int local_pause(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    return set_paused(p, id, true, err);
}

static int local_resume(struct sbx_provider *p, const char *id, struct sbx_err *err)
{
    return set_paused(p, id, false, err);
}

int sbx__local_destroy(struct sbx_provider *p, struct sbx__local_sbx *s, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    struct sbx_cgroup *cg;
    int rc, files_gone = 0, pidfd = -1;

    cg = sbx_cgroup_open(s->row.id, err);
    if (!cg) {
        sbx_err_prefix(err, "remove");
        return -ENOMEM; /* its only failure */
    }
    /* a frozen process does not die until thawed */
    sbx_cgroup_freeze(cg, false, NULL);
    /* the creator of a sandbox still being created is not ours to kill: its
     * init dies with it */
    if (!s->creator && s->row.pid > 0) {
        rc = sbx__local_kill((pid_t)s->row.pid, s->row.pid_start, &pidfd);
        if (rc < 0) {
            sbx_err_set(err, rc, "remove: kill the init of %s: %s", s->row.id, strerror(-rc));
            goto out;
        }
        /* the files go while the kernel tears the namespaces down (both
         * take milliseconds); whatever a dying process still made is
         * removed again below, once nothing runs */
        files_gone = sbx__local_rmtree(s->dir) == 0;
        if (pidfd >= 0) {
            rc = sbx__local_wait_exit(pidfd);
            if (rc < 0) {
                sbx_err_set(err, rc, "remove: kill the init of %s: %s", s->row.id,
                            strerror(-rc));
                goto out;
            }
        }
    }
    rc = sbx_cgroup_kill_all(cg, err);
    if (rc < 0) {
        sbx_err_prefix(err, "remove");
        goto out;
    }
    rc = sbx_cgroup_destroy(cg, err);
    if (rc < 0) {
        sbx_err_prefix(err, "remove");
        goto out;
    }
    rc = files_gone ? 0 : sbx__local_rmtree(s->dir);
    if (rc < 0) {
        sbx_err_set(err, rc, "remove: delete %s: %s", s->dir, strerror(-rc));
        goto out;
    }
    rc = sbx_store_delete(l->store, SBX_LOCAL_PROVIDER, s->row.id, err);
    if (rc == -ENOENT)
        rc = 0;
    if (rc < 0)
        sbx_err_prefix(err, "remove");
out:
    sbx_cgroup_free(cg);
    return rc;
}

static int local_remove(struct sbx_provider *p, const char *ref, struct sbx_err *err)
{
    struct sbx__local_sbx s;
    int rc = sbx__local_find(p, ref, &s, err);

    if (rc < 0) {
        sbx_err_prefix(err, "remove");
        return rc;
    }
    if (s.state == SBX_SANDBOX_CREATING && s.creator) {
        rc = sbx_err_set(err, -EAGAIN, "remove: sandbox %s is still being created", s.row.id);
        goto out;
    }
    rc = sbx__local_destroy(p, &s, err);
out:
    sbx__local_sbx_release(&s);
    return rc;
}

static int local_port_url(struct sbx_provider *p, const char *ref, int port, char **url_out,
                          struct sbx_err *err)
{
    struct sbx__local_sbx s;
    char buf[64];
    int rc = sbx__local_find_running(p, ref, "port_url", &s, err);

    if (rc < 0)
        return rc;
    if (s.network == SBX_NETWORK_NONE) {
        rc = sbx_err_set(err, -ENOTSUP,
                         "port_url: sandbox %s has no network (created with --network none)",
                         s.row.id);
        goto out;
    }
    snprintf(buf, sizeof(buf), "http://127.0.0.1:%d", port);
    *url_out = strdup(buf);
    rc = *url_out ? 0 : sbx_err_set(err, -ENOMEM, "port_url: out of memory");
out:
    sbx__local_sbx_release(&s);
    return rc;
}

/* What create starts sbx-server with: the plugins OpenHands' CodeActAgent
 * asks for. Both cost nothing until used (the IPython kernel starts with the
 * first cell). */
const char *const sbx__local_default_plugins[] = {"agent_skills", "jupyter", NULL};

size_t sbx__local_server_argv(const char **argv, const char *workdir, const char *username,
                              const char *uid, const char *const *plugins)
{
    size_t i = 0;

    argv[i++] = "/.sbx/sbx-server";
    argv[i++] = "0";
    argv[i++] = "--listen-fd";
    argv[i++] = "3"; /* the init's socket at <dir>/server.sock (init.h) */
    argv[i++] = "--working-dir";
    argv[i++] = workdir;
    argv[i++] = "--username";
    argv[i++] = username;
    argv[i++] = "--user-id";
    argv[i++] = uid;
    if (plugins && plugins[0]) {
        argv[i++] = "--plugins";
        for (size_t k = 0; plugins[k] && i < SBX_LOCAL_SERVER_ARGV_MAX; k++)
            argv[i++] = plugins[k];
    }
    argv[i] = NULL;
    return i;
}

static bool same_plugins(const char *const *a, const char *const *b)
{
    size_t i = 0;

    for (; a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return !a[i] && !b[i];
}

/* Whether o asks for anything but the server create started (NULL plugins
 * means the default set). */
static bool custom_server(const struct sbx__local_sbx *s, const struct sbx_server_opts *o)
{
    return (o->username && strcmp(o->username, "root")) || o->user_id != 0 ||
           (o->working_dir && strcmp(o->working_dir, s->workdir)) ||
           (o->plugins && !same_plugins(o->plugins, sbx__local_default_plugins)) || o->api_key;
}

static int restart_server(struct sbx__local_sbx *s, const struct sbx_server_opts *o,
                          struct sbx_err *err)
{
    struct sbx__ctl_msg *m = malloc(sizeof(*m));
    const char *argv[SBX_LOCAL_SERVER_ARGV_MAX + 1];
    char uid[32], key[1024];
    const char *env[2] = {NULL, NULL};
    int rc;

    if (!m)
        return sbx_err_set(err, -ENOMEM, "bootstrap: out of memory");
    snprintf(uid, sizeof(uid), "%lld", (long long)o->user_id);
    sbx__local_server_argv(argv, o->working_dir ? o->working_dir : s->workdir,
                           o->username ? o->username : "root", uid,
                           o->plugins ? o->plugins : sbx__local_default_plugins);
    if (o->api_key) {
        if ((size_t)snprintf(key, sizeof(key), "SESSION_API_KEY=%s", o->api_key) >= sizeof(key)) {
            free(m);
            return sbx_err_set(err, -EINVAL, "bootstrap: the api key is too long");
        }
        env[0] = key;
    }
    sbx__ctl_init(m, SBX_CTL_SERVER);
    sbx__ctl_set_strs(m, 0, argv);
    sbx__ctl_set_strs(m, 1, env);
    /* answered once the new server listens, or with why it did not */
    rc = sbx__ctl_call(s->dir, m, NULL, NULL, err);
    free(m);
    if (rc < 0) {
        sbx_err_prefix(err, "bootstrap");
        if (err && (rc == -ECHILD || rc == -ETIMEDOUT)) {
            char msg[SBX_ERR_MSG_MAX];

            memcpy(msg, err->msg, sizeof(msg));
            msg[sizeof(msg) - 1] = '\0';
            sbx_err_set(err, rc, "%s (see %s/server.log)", msg, s->dir);
        }
    }
    return rc;
}

static int local_bootstrap(struct sbx_provider *p, const char *ref,
                           const struct sbx_server_opts *o, struct sbx_endpoint *ep,
                           struct sbx_err *err)
{
    struct sbx__local_sbx s;
    struct sbx_buf b = SBX_BUF_INIT;
    int rc = sbx__local_find_running(p, ref, "bootstrap", &s, err);

    if (rc < 0)
        return rc;
    if (custom_server(&s, o)) {
        rc = restart_server(&s, o, err);
        if (rc < 0)
            goto out;
    } else {
        /* the init's socket: bound outside the sandbox's view, it stays
         * while the init restarts a server (connections wait for it) */
        rc = sbx__local_wait_server(s.dir, (pid_t)s.row.pid, SBX_LOCAL_SERVER_WAIT_MS, err);
        if (rc < 0) {
            sbx_err_prefix(err, "bootstrap");
            goto out;
        }
    }
    if (sbx_buf_addf(&b, "%s/server.sock", s.dir) < 0)
        goto nomem;
    ep->unix_path = sbx_buf_detach(&b, NULL);
    if (!ep->unix_path)
        goto nomem;
    if (o->api_key) {
        ep->api_key = strdup(o->api_key);
        if (!ep->api_key)
            goto nomem;
    }
    rc = 0;
    goto out;
nomem:
    sbx_endpoint_release(ep);
    rc = sbx_err_set(err, -ENOMEM, "bootstrap: out of memory");
out:
    sbx_buf_free(&b);
    sbx__local_sbx_release(&s);
    return rc;
}

static int local_oom_kills(struct sbx_provider *p, const char *ref, int64_t *count,
                           struct sbx_err *err)
{
    struct sbx_cgroup *cg = NULL;
    struct sbx__local_sbx s;
    int rc = sbx__local_find(p, ref, &s, err);

    if (rc < 0) {
        sbx_err_prefix(err, "oom_kills");
        return rc;
    }
    cg = sbx_cgroup_open(s.row.id, err);
    if (!cg) {
        sbx_err_prefix(err, "oom_kills");
        rc = -ENOMEM; /* its only failure */
        goto out;
    }
    rc = sbx_cgroup_oom_kills(cg, count, err);
    if (rc < 0)
        sbx_err_prefix(err, "oom_kills");
out:
    sbx_cgroup_free(cg);
    sbx__local_sbx_release(&s);
    return rc;
}

const struct sbx_provider_ops sbx__provider_local = {
    .name = "local",
    .open = local_open,
    .close = local_close,
    .create = sbx__local_create,
    .get = local_get,
    .list = local_list,
    .pause = local_pause,
    .resume = local_resume,
    .remove = local_remove,
    .exec = sbx__local_exec,
    .upload = sbx__local_upload,
    .download = sbx__local_download,
    .port_url = local_port_url,
    .bootstrap = local_bootstrap,
    .oom_kills = local_oom_kills,
};
