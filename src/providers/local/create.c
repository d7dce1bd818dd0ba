/*
 * Creating a local sandbox: validate, record a "creating" row, plan the root
 * filesystem, create the cgroups, then
 *
 *   creator --fork--> intermediate --clone(NEWUSER|NEWNS|NEWPID|...)--> init
 *
 * The intermediate exists so that the init is not the creator's child (the
 * sandbox outlives `sbx create`, daemonless): it dies with the creator
 * (PR_SET_PDEATHSIG), the init dies with it, and it exits once the init has
 * been told to stay (DETACH). The creator writes the init's id maps, puts it
 * into the cgroups, releases it, reads its {step, errno} report (the init
 * sends it once sbx-server listens on the socket the init bound) and marks
 * the row running. Any failure undoes it all.
 */
#include "providers/local/local.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/time.h"
#include "providers/local/cgroup.h"
#include "providers/local/ctl.h"
#include "providers/local/image.h"
#include "providers/local/init.h"
#include "providers/local/rootfs.h"
#include "providers/local/seccomp.h"

#define MAX_SPEC_ENV 256

/* Everything the intermediate and the init use, prepared before fork. */
struct spawn {
    struct sbx__init_cfg init;
    unsigned long clone_flags;
    pid_t creator;
    int release_r, release_w; /* creator -> init: maps, then cgroups, are in place
                               * (a socket pair: a write to a dead init must not
                               * raise SIGPIPE) */
    int report_r, report_w;   /* init -> creator: struct sbx__init_report */
    int pid_r, pid_w;         /* intermediate -> creator: the init's pid */
    int hold_r, hold_w;       /* creator -> intermediate: EOF = exit now */
};

static void intermediate(struct spawn *s) __attribute__((noreturn));
static void intermediate(struct spawn *s)
{
    int32_t v;
    char b;
    ssize_t n;
    long pid;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != s->creator)
        _exit(1);
    close(s->release_w);
    close(s->report_r);
    close(s->pid_r);
    close(s->hold_w);
    /* A raw clone without a new stack: the child continues on a copy of
     * ours, like fork. */
    pid = syscall(SYS_clone, s->clone_flags | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        close(s->pid_w);
        close(s->hold_r);
        sbx__init_main(&s->init);
    }
    v = pid < 0 ? -errno : (int32_t)pid;
    do {
        n = write(s->pid_w, &v, sizeof(v));
    } while (n < 0 && errno == EINTR);
    if (pid < 0)
        _exit(1);
    close(s->release_r);
    close(s->report_w);
    do {
        n = read(s->hold_r, &b, 1);
    } while (n < 0 && errno == EINTR);
    _exit(0);
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (write(fd, text, strlen(text)) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* The init's user namespace: the identity map as host root, else our own
 * uid and gid as root. */
static int write_id_maps(pid_t pid, struct sbx_err *err)
{
    char path[64], map[64];
    int rc;

    if (geteuid() == 0) {
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
        rc = write_file(path, "0 0 4294967295");
        if (rc == 0) {
            snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
            rc = write_file(path, "0 0 4294967295");
        }
    } else {
        snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
        rc = write_file(path, "deny");
        if (rc == 0) {
            snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
            snprintf(map, sizeof(map), "0 %u 1", (unsigned)geteuid());
            rc = write_file(path, map);
        }
        if (rc == 0) {
            snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
            snprintf(map, sizeof(map), "0 %u 1", (unsigned)getegid());
            rc = write_file(path, map);
        }
    }
    if (rc < 0)
        return sbx_err_set(err, rc, "write %s: %s", path, strerror(-rc));
    return 0;
}

static int new_id(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[SBX_LOCAL_ID_LEN / 2];
    size_t i;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -errno;
    for (i = 0; i < sizeof(r); i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[SBX_LOCAL_ID_LEN] = '\0';
    return 0;
}

int sbx__local_valid_name(const char *name)
{
    size_t i, n = strlen(name);

    if (n == 0 || n > 63)
        return 0;
    for (i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return 0;
    }
    return 1;
}

int sbx__local_check_spec(const struct sbx_sandbox_spec *spec, struct sbx_err *err)
{
    size_t i;

    if (spec->name && !sbx__local_valid_name(spec->name))
        return sbx_err_set(err, -EINVAL,
                           "create: invalid name '%s' (letters, digits, '_', '.', '-'; "
                           "starting with a letter or digit; at most 63)",
                           spec->name);
    for (i = 0; spec->labels && spec->labels[i]; i++) {
        const char *eq = strchr(spec->labels[i], '=');

        if (!eq || eq == spec->labels[i])
            return sbx_err_set(err, -EINVAL, "create: invalid label '%s' (expected key=value)",
                               spec->labels[i]);
    }
    for (i = 0; spec->env && spec->env[i]; i++) {
        const char *eq = strchr(spec->env[i], '=');

        if (!eq || eq == spec->env[i])
            return sbx_err_set(err, -EINVAL,
                               "create: invalid environment variable '%s' (expected KEY=value)",
                               spec->env[i]);
        if (i >= MAX_SPEC_ENV)
            return sbx_err_set(err, -EINVAL, "create: more than %d environment variables",
                               MAX_SPEC_ENV);
    }
    if (spec->memory_bytes < 0 || (spec->memory_bytes && spec->memory_bytes < 16 << 20))
        return sbx_err_set(err, -EINVAL, "create: memory limit %lld is below 16 MiB",
                           (long long)spec->memory_bytes);
    if (spec->cpu_millis < 0 || (spec->cpu_millis && spec->cpu_millis < 10))
        return sbx_err_set(err, -EINVAL,
                           "create: cpu limit %lld is below 10 millicpus (0.01 CPU)",
                           (long long)spec->cpu_millis);
    if (spec->pids_max < 0 || (spec->pids_max && spec->pids_max < 8))
        return sbx_err_set(err, -EINVAL, "create: pids limit %lld is below 8",
                           (long long)spec->pids_max);
    if (spec->network != SBX_NETWORK_HOST && spec->network != SBX_NETWORK_NONE)
        return sbx_err_set(err, -EINVAL, "create: unknown network mode %d", (int)spec->network);
    if (spec->workdir && (spec->workdir[0] != '/' || strlen(spec->workdir) >= 1024))
        return sbx_err_set(err, -EINVAL, "create: working directory '%s' is not an absolute path",
                           spec->workdir);
    return 0;
}

/* Reads the init's report: 0 on SBX_INIT_OK, else -errno with a message
 * naming the step. *reported (if not NULL) becomes 1 when a report came. */
static int read_report(int fd, const struct sbx__rootfs *rf, int *server_failed,
                       int *reported, struct sbx_err *err)
{
    struct sbx__init_report r;
    ssize_t n;

    do {
        n = read(fd, &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(r))
        return sbx_err_set(err, -EPIPE, "create: the sandbox's init died while setting up");
    if (reported)
        *reported = 1;
    if (r.step == SBX_INIT_OK)
        return 0;
    if (r.err <= 0 || r.err >= 4096)
        r.err = EIO;
    *server_failed = r.step == SBX_INIT_SERVER;
    if (r.step == SBX_INIT_SERVER && r.err == ECHILD) {
        int st = (int)r.index;

        if (WIFSIGNALED(st))
            return sbx_err_set(err, -EIO, "create: sbx-server was killed by signal %d before "
                               "it listened", WTERMSIG(st));
        return sbx_err_set(err, -EIO, "create: sbx-server exited with status %d before it "
                           "listened", WEXITSTATUS(st));
    }
    if (r.step == SBX_INIT_SERVER && r.err == ETIMEDOUT)
        return sbx_err_set(err, -ETIMEDOUT, "create: sbx-server did not listen within %d ms",
                           SBX_INIT_SERVER_WAIT_MS);
    if (r.step == SBX_INIT_ROOTFS && r.index < rf->n)
        return sbx_err_set(err, -r.err, "create: %s: %s", rf->ops[r.index].what,
                           strerror(r.err));
    return sbx_err_set(err, -r.err, "create: %s: %s", sbx__init_step_name(r.step),
                       strerror(r.err));
}

/* Replaces err with "create: <what failed>: <last line of server.log>". */
static void server_log_tail(const char *log_path, int rc, struct sbx_err *err)
{
    struct sbx_buf b = SBX_BUF_INIT;
    char what[SBX_ERR_MSG_MAX];
    const char *line;
    size_t n;

    if (!err)
        return;
    n = strncmp(err->msg, "create: ", 8) ? 0 : 8;
    memcpy(what, err->msg + n, sizeof(what) - n);
    what[sizeof(what) - 1 - n] = '\0';
    /* drop the pointer to the log file, which is about to be removed */
    line = strstr(what, " (see ");
    if (line)
        what[line - what] = '\0';
    b.max = 1 << 20;
    if (sbx_file_read(log_path, &b) < 0 || b.len == 0) {
        sbx_err_set(err, rc, "create: %s (sbx-server wrote nothing)", what);
        goto out;
    }
    while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r'))
        b.ptr[--b.len] = '\0';
    line = strrchr(b.ptr, '\n');
    line = line ? line + 1 : b.ptr;
    n = strlen(line);
    sbx_err_set(err, rc, "create: %s; sbx-server said: %.*s", what, (int)(n > 160 ? 160 : n),
                line);
out:
    sbx_buf_free(&b);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

struct creation {
    struct sbx__local_sbx s;
    struct sbx__rootfs rf;
    struct spawn sp;
    struct sbx_cgroup *cg;
    struct sbx_seccomp *sc;
    char *rootfs_dir;
    char ctl_path[4200], log_path[4200], sock_path[4200];
    const char *argv[SBX_LOCAL_SERVER_ARGV_MAX + 1];
    const char *env[MAX_SPEC_ENV + 8];
    pid_t mid, init;
    int inserted, made_dir;
    int server_failed; /* the init reported that sbx-server would not start */
};

static void undo(struct sbx_provider *p, struct creation *c)
{
    struct sbx__local *l = p->priv;
    int st;

    if (c->init > 0)
        sbx__local_kill_wait(c->init, 0);
    close_fd(&c->sp.hold_w);
    if (c->mid > 0)
        while (waitpid(c->mid, &st, 0) < 0 && errno == EINTR)
            ;
    if (c->cg) {
        sbx_cgroup_kill_all(c->cg, NULL);
        sbx_cgroup_destroy(c->cg, NULL);
    }
    if (c->made_dir)
        sbx__local_rmtree(c->s.dir);
    if (c->inserted)
        sbx_store_delete(l->store, SBX_LOCAL_PROVIDER, c->s.row.id, NULL);
}

static int store_row(struct sbx_provider *p, struct creation *c, const char *state, pid_t pid,
                     int64_t start, int insert, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    char *data = NULL;
    int rc;

    free(c->s.row.state);
    c->s.row.state = strdup(state);
    c->s.row.pid = pid;
    c->s.row.pid_start = start;
    data = sbx__local_data_json(&c->s);
    if (!c->s.row.state || !data) {
        free(data);
        return sbx_err_set(err, -ENOMEM, "create: out of memory");
    }
    free(c->s.row.data);
    c->s.row.data = data;
    rc = insert ? sbx_store_insert(l->store, &c->s.row, err)
                : sbx_store_update(l->store, &c->s.row, err);
    return rc;
}

static int strdup_list(char ***dst, size_t *n, const char *const *src)
{
    size_t i, k = 0;

    while (src && src[k])
        k++;
    *n = 0;
    *dst = NULL;
    if (!k)
        return 0;
    *dst = calloc(k, sizeof(char *));
    if (!*dst)
        return -ENOMEM;
    for (i = 0; i < k; i++) {
        (*dst)[i] = strdup(src[i]);
        if (!(*dst)[i])
            return -ENOMEM;
        *n = i + 1;
    }
    return 0;
}

/* Fills the row and the data fields of c->s from the spec. */
static int describe(struct sbx_provider *p, struct creation *c,
                    const struct sbx_sandbox_spec *spec, const char *id)
{
    struct sbx__local *l = p->priv;
    struct sbx__local_sbx *s = &c->s;

    snprintf(s->dir, sizeof(s->dir), "%s/%s", l->dir, id);
    s->row.provider = strdup(SBX_LOCAL_PROVIDER);
    s->row.id = strdup(id);
    s->row.name = spec->name ? strdup(spec->name) : NULL;
    s->row.created_ms = sbx_wall_ms();
    s->workdir = strdup(spec->workdir ? spec->workdir : SBX_LOCAL_DEFAULT_WORKDIR);
    s->image = spec->image ? strdup(spec->image) : NULL;
    s->network = spec->network;
    s->memory_bytes = spec->memory_bytes;
    s->cpu_millis = spec->cpu_millis;
    s->pids_max = spec->pids_max ? spec->pids_max : SBX_LOCAL_DEFAULT_PIDS;
    s->state = SBX_SANDBOX_CREATING;
    s->creator = 1;
    if (!s->row.provider || !s->row.id || (spec->name && !s->row.name) || !s->workdir ||
        (spec->image && !s->image))
        return -ENOMEM;
    return strdup_list(&s->row.labels, &s->row.n_labels, spec->labels);
}

static int name_taken(struct sbx_provider *p, const char *name, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    struct sbx_store_row r;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = sbx_store_get(l->store, SBX_LOCAL_PROVIDER, name, &r, NULL);
    if (rc == 0 && r.name && !strcmp(r.name, name))
        rc = sbx_err_set(err, -EEXIST, "create: a sandbox named '%s' exists (id %s)", name,
                         r.id);
    else
        rc = 0;
    sbx_store_row_release(&r);
    return rc;
}

/* Prepares directories, plan, cgroups, seccomp and the init's config. */
static int prepare(struct sbx_provider *p, struct creation *c,
                   const struct sbx_sandbox_spec *spec, struct sbx_err *err)
{
    struct sbx__local_sbx *s = &c->s;
    struct sbx__rootfs_cfg rcfg;
    struct sbx_cgroup_limits lim;
    char note[512] = "";
    int rc;

    snprintf(c->ctl_path, sizeof(c->ctl_path), "%s/ctl.sock", s->dir);
    snprintf(c->log_path, sizeof(c->log_path), "%s/server.log", s->dir);
    snprintf(c->sock_path, sizeof(c->sock_path), "%s/server.sock", s->dir);
    if (strlen(c->sock_path) >= 108)
        return sbx_err_set(err, -ENAMETOOLONG,
                           "create: state directory %s is too long for a unix socket path "
                           "(set SBX_STATE_DIR to a shorter one)",
                           p->state_dir);
    if (spec->image) {
        rc = sbx_image_prepare(p->state_dir, spec->image, &c->rootfs_dir, err);
        if (rc < 0) {
            sbx_err_prefix(err, "create");
            return rc;
        }
    }
    memset(&rcfg, 0, sizeof(rcfg));
    rcfg.sbx_dir = s->dir;
    rcfg.state_dir = p->state_dir;
    rcfg.server_bin = p->server_bin;
    rcfg.image_root = c->rootfs_dir;
    rcfg.net_none = spec->network == SBX_NETWORK_NONE;
    rcfg.gid5_mapped = geteuid() == 0;
    rcfg.hostname = s->row.id;
    rc = sbx__rootfs_plan(&rcfg, &c->rf, err);
    if (rc < 0) {
        sbx_err_prefix(err, "create");
        return rc;
    }
    lim.memory_bytes = s->memory_bytes;
    lim.cpu_millis = s->cpu_millis;
    lim.pids_max = s->pids_max;
    c->cg = sbx_cgroup_create(s->row.id, &lim, &s->enforced, note, sizeof(note), err);
    if (!c->cg)
        return sbx_err_prefix(err, "create"); /* err is not NULL here */
    if (note[0]) {
        s->note = strdup(note);
        if (!s->note)
            return sbx_err_set(err, -ENOMEM, "create: out of memory");
    }
    c->sc = sbx_seccomp_new(err);
    if (!c->sc)
        return sbx_err_prefix(err, "create"); /* err is not NULL here */

    sbx__local_server_argv(c->argv, s->workdir, "root", "0", sbx__local_default_plugins);
    {
        static const char *const base[] = {
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "TERM=xterm-256color",
            "LANG=C.UTF-8",
            NULL,
        };

        sbx__env_merge(c->env, sizeof(c->env) / sizeof(c->env[0]), base, spec->env);
    }
    c->sp.init.rf = &c->rf;
    c->sp.init.ctl_path = c->ctl_path;
    c->sp.init.sock_path = c->sock_path;
    c->sp.init.log_path = c->log_path;
    c->sp.init.hostname = s->row.id;
    c->sp.init.workdir = s->workdir;
    c->sp.init.net_none = rcfg.net_none;
    c->sp.init.seccomp = c->sc;
    c->sp.init.server_argv = c->argv;
    c->sp.init.env = c->env;
    c->sp.clone_flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                        (rcfg.net_none ? CLONE_NEWNET : 0);
    return 0;
}

/* A pipe, or with sock a connected socket pair used one way. */
static int make_pipe(int *r, int *w, int sock)
{
    int fds[2];
    int i;

    if (sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0
             : pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    /* the init makes 0, 1 and 2 its own: keep its pipes above them */
    for (i = 0; i < 2; i++) {
        if (fds[i] < 3) {
            int up = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

            if (up < 0) {
                int e = -errno;

                close(fds[0]);
                close(fds[1]);
                return e;
            }
            close(fds[i]);
            fds[i] = up;
        }
    }
    *r = fds[0];
    *w = fds[1];
    return 0;
}

/* fork, clone, id maps, cgroups, release, report. */
static int start(struct creation *c, struct sbx_err *err)
{
    struct spawn *sp = &c->sp;
    int32_t v = 0;
    ssize_t n;
    int rc;

    if (make_pipe(&sp->release_r, &sp->release_w, 1) < 0 ||
        make_pipe(&sp->report_r, &sp->report_w, 0) < 0 ||
        make_pipe(&sp->pid_r, &sp->pid_w, 0) < 0 || make_pipe(&sp->hold_r, &sp->hold_w, 0) < 0)
        return sbx_err_set(err, -errno, "create: pipe: %s", strerror(errno));
    sp->init.release_fd = sp->release_r;
    sp->init.report_fd = sp->report_w;
    sp->creator = getpid();
    c->mid = fork();
    if (c->mid < 0)
        return sbx_err_set(err, -errno, "create: fork: %s", strerror(errno));
    if (c->mid == 0)
        intermediate(sp);
    close_fd(&sp->release_r);
    close_fd(&sp->report_w);
    close_fd(&sp->pid_w);
    close_fd(&sp->hold_r);
    do {
        n = read(sp->pid_r, &v, sizeof(v));
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(v))
        return sbx_err_set(err, -EIO, "create: the intermediate process died");
    if (v < 0) {
        rc = v;
        if (rc == -EPERM || rc == -ENOSPC || rc == -EINVAL)
            return sbx_err_set(err, rc,
                               "create: clone new namespaces: %s (are unprivileged user "
                               "namespaces enabled? see /proc/sys/user/max_user_namespaces)",
                               strerror(-rc));
        return sbx_err_set(err, rc, "create: clone new namespaces: %s", strerror(-rc));
    }
    c->init = v;
    rc = write_id_maps(c->init, err);
    if (rc < 0) {
        sbx_err_prefix(err, "create");
        return rc;
    }
    /* the init sets up the sandbox while we move it into the cgroups; it
     * waits for the second byte before it starts anything (init.h) */
    if (send(sp->release_w, "x", 1, MSG_NOSIGNAL) != 1)
        return sbx_err_set(err, -EPIPE, "create: the sandbox's init died before setting up");
    rc = sbx_cgroup_add_pid(c->cg, c->init, err);
    if (rc < 0) {
        struct sbx_err why = {0};
        int reported = 0;

        /* a set-up that failed meanwhile says more than the cgroup (the
         * init has exited); else the init goes once the socket closes */
        close_fd(&sp->release_w);
        read_report(sp->report_r, &c->rf, &c->server_failed, &reported, &why);
        if (reported && err)
            *err = why;
        if (reported)
            return why.code;
        sbx_err_prefix(err, "create");
        return rc;
    }
    /* a failed send means the init failed: its report says why */
    send(sp->release_w, "c", 1, MSG_NOSIGNAL);
    close_fd(&sp->release_w);
    rc = read_report(sp->report_r, &c->rf, &c->server_failed, NULL, err);
    close_fd(&sp->report_r);
    return rc;
}

int sbx__local_create(struct sbx_provider *p, const struct sbx_sandbox_spec *spec,
                      struct sbx_sandbox_info *info_out, struct sbx_err *err)
{
    struct sbx__local *l = p->priv;
    struct sbx__ctl_msg *msg = NULL;
    struct creation *c = NULL;
    char id[SBX_LOCAL_ID_LEN + 1];
    int64_t start_ticks = 0, own_start = 0;
    struct sbx_err scratch = {0};
    int rc, st;

    /* the steps below that return NULL (cgroups, seccomp) leave the code in
     * err: keep one even when the caller wants no detail */
    if (!err)
        err = &scratch;
    rc = sbx__local_check_spec(spec, err);
    if (rc < 0)
        return rc;
    if (!p->server_bin)
        return sbx_err_set(err, -ENOENT,
                           "create: no sbx-server binary found (set SBX_SERVER_BIN to the "
                           "static sbx-server, or install it next to sbx)");
    if (spec->name) {
        rc = name_taken(p, spec->name, err);
        if (rc < 0)
            return rc;
    }
    c = calloc(1, sizeof(*c));
    msg = malloc(sizeof(*msg));
    if (!c || !msg) {
        rc = sbx_err_set(err, -ENOMEM, "create: out of memory");
        goto out;
    }
    c->sp.release_r = c->sp.release_w = c->sp.report_r = c->sp.report_w = -1;
    c->sp.pid_r = c->sp.pid_w = c->sp.hold_r = c->sp.hold_w = -1;
    rc = new_id(id);
    if (rc < 0) {
        sbx_err_set(err, rc, "create: getrandom: %s", strerror(-rc));
        goto out;
    }
    if (describe(p, c, spec, id) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "create: out of memory");
        goto out;
    }
    if (mkdir(l->dir, 0700) < 0 && errno != EEXIST) {
        rc = sbx_err_set(err, -errno, "create: mkdir %s: %s", l->dir, strerror(errno));
        goto out;
    }
    /* The row comes first: while creating, it names the creator; if the
     * creator dies, so does the sandbox (PR_SET_PDEATHSIG), get/list see a
     * dead creator and rm removes whatever was made. A directory made before
     * the row would be found by nothing. */
    sbx__local_pid_start(getpid(), &own_start);
    rc = store_row(p, c, "creating", getpid(), own_start, 1, err);
    if (rc < 0) {
        if (rc == -EEXIST && spec->name)
            name_taken(p, spec->name, err);
        if (rc != -EEXIST)
            sbx_err_prefix(err, "create");
        goto out;
    }
    c->inserted = 1;
    if (mkdir(c->s.dir, 0700) < 0) {
        rc = sbx_err_set(err, -errno, "create: mkdir %s: %s", c->s.dir, strerror(errno));
        goto out;
    }
    c->made_dir = 1;
    rc = prepare(p, c, spec, err);
    if (rc < 0)
        goto out;
    rc = start(c, err);
    if (rc < 0) {
        if (c->server_failed)
            server_log_tail(c->log_path, rc, err);
        goto out;
    }
    rc = sbx__local_pid_start(c->init, &start_ticks);
    if (rc < 0) {
        rc = sbx_err_set(err, -EPIPE, "create: the sandbox's init exited");
        goto out;
    }
    c->s.creator = 0;
    rc = store_row(p, c, "creating", c->init, start_ticks, 0, err);
    if (rc < 0) {
        sbx_err_prefix(err, "create");
        goto out;
    }
    /* Running first, then DETACH: if we die in between, the init dies with
     * us and the row reads dead, never a "creating" sandbox that runs. */
    c->s.state = SBX_SANDBOX_RUNNING;
    rc = store_row(p, c, "running", c->init, start_ticks, 0, err);
    if (rc < 0) {
        sbx_err_prefix(err, "create");
        goto out;
    }
    sbx__ctl_init(msg, SBX_CTL_DETACH);
    rc = sbx__ctl_call(c->s.dir, msg, NULL, NULL, err);
    if (rc < 0) {
        sbx_err_prefix(err, "create");
        goto out;
    }
    /* The init stays: let the intermediate go. */
    close_fd(&c->sp.hold_w);
    while (waitpid(c->mid, &st, 0) < 0 && errno == EINTR)
        ;
    c->mid = 0;
    if (info_out) {
        rc = sbx__local_info(&c->s, info_out);
        if (rc < 0) {
            /* the sandbox exists; only the description failed */
            sbx_err_set(err, rc, "create: out of memory");
        }
    }
    rc = rc < 0 ? rc : 0;
    goto done;
out:
    if (c)
        undo(p, c);
done:
    if (c) {
        close_fd(&c->sp.release_r);
        close_fd(&c->sp.release_w);
        close_fd(&c->sp.report_r);
        close_fd(&c->sp.report_w);
        close_fd(&c->sp.pid_r);
        close_fd(&c->sp.pid_w);
        close_fd(&c->sp.hold_r);
        close_fd(&c->sp.hold_w);
        sbx__rootfs_release(&c->rf);
        sbx_cgroup_free(c->cg);
        sbx_seccomp_free(c->sc);
        free(c->rootfs_dir);
        sbx__local_sbx_release(&c->s);
        free(c);
    }
    free(msg);
    return rc;
}
