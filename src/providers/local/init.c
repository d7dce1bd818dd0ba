#include "providers/local/init.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "providers/local/caps.h"
#include "providers/local/ctl.h"

#define MAX_CONNS 256
#define MAX_PROCS 16384
#define STR_(x) #x
#define STR(x) STR_(x)
#define TOO_MANY "too many commands and transfers at once in this sandbox (" STR(MAX_CONNS) ")"
#define ARENA_SIZE (SBX_CTL_MAX_MSG + 2 * (SBX_CTL_MAX_STRS + 1) * sizeof(char *))
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define SERVER_FD 3 /* where sbx-server finds its listening socket */
#define READY_LINE "sbx-server listening on "

struct conn {
    int fd;
    pid_t pid; /* the EXEC command it waits for; 0 = none */
};

/* Everything the init keeps, in one mmap()ed block (no malloc after clone). */
struct init {
    const struct sbx__init_cfg *c;
    int lfd, sfd;
    int srv_fd;      /* the listening socket at <sbx_dir>/server.sock */
    int out_r;       /* read end of the server's stdout pipe; -1 = none */
    int scan;        /* READY_LINE chars matched on this line; -1 = no match */
    pid_t server;
    int stopping;
    int64_t server_started_ms;
    int64_t backoff_ms;
    int64_t restart_at_ms; /* 0 = no restart pending */
    const char *const *srv_argv;
    const char *const *srv_extra_env;
    char arena[ARENA_SIZE]; /* the argv/env of the last SERVER request */
    struct conn conns[MAX_CONNS];
    size_t nconns;
    char buf[SBX_CTL_MAX_MSG];
    char out[4096];
    struct sbx__ctl_msg msg;
    struct sbx__ctl_msg rep;
    const char *envp[SBX_INIT_MAX_ENV + SBX_CTL_MAX_STRS + 1];
    pid_t procs[MAX_PROCS], parents[MAX_PROCS];
    char mark[MAX_PROCS];
    char dents[8192];
};

const char *sbx__init_step_name(int step)
{
    switch (step) {
    case SBX_INIT_OK: return "ready";
    case SBX_INIT_RELEASE: return "wait for the parent";
    case SBX_INIT_SESSION: return "start a session";
    case SBX_INIT_ROOTFS: return "set up the root filesystem";
    case SBX_INIT_HOSTNAME: return "set the hostname";
    case SBX_INIT_CTL: return "bind the control socket";
    case SBX_INIT_LOG: return "open the server log";
    case SBX_INIT_PIVOT: return "pivot_root";
    case SBX_INIT_LOOPBACK: return "bring up the loopback interface";
    case SBX_INIT_WORKDIR: return "create the working directory";
    case SBX_INIT_CAPS: return "drop capabilities";
    case SBX_INIT_SECCOMP: return "load the seccomp filter";
    case SBX_INIT_SIGNALS: return "set up signals";
    case SBX_INIT_SERVER: return "start sbx-server";
    case SBX_INIT_LISTEN: return "bind the server socket";
    }
    return "set up";
}

static size_t key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');

    return eq ? (size_t)(eq - kv) : strlen(kv);
}

size_t sbx__env_merge(const char **dst, size_t cap, const char *const *base,
                      const char *const *extra)
{
    size_t n = 0, i, j;

    if (cap == 0)
        return 0;
    for (i = 0; base && base[i] && n + 1 < cap; i++)
        dst[n++] = base[i];
    for (i = 0; extra && extra[i]; i++) {
        size_t k = key_len(extra[i]);
        int replaced = 0;

        if (!strchr(extra[i], '='))
            continue;
        for (j = 0; j < n; j++) {
            if (key_len(dst[j]) == k && !strncmp(dst[j], extra[i], k)) {
                dst[j] = extra[i];
                replaced = 1;
                break;
            }
        }
        if (!replaced && n + 1 < cap)
            dst[n++] = extra[i];
    }
    dst[n] = NULL;
    return n;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report(int fd, int step, int err, size_t index)
{
    struct sbx__init_report r;
    ssize_t n;

    r.step = step;
    r.err = err;
    r.index = (uint32_t)index;
    do {
        n = write(fd, &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
}

static void fail(const struct sbx__init_cfg *c, int step, int err, size_t index)
{
    report(c->report_fd, step, err, index);
    _exit(127);
}

/* Closes every descriptor except the sorted, distinct keep[0..n). */
/* fork(2) without the pthread_atfork handlers the init inherited from the
 * host process: libuv's (a host with a loop, e.g. `sbx serve e2b`) closes
 * and re-creates its signal pipe in the child at the descriptor numbers it
 * had in the host, which in the init are the server socket and others. */
static pid_t init_fork(void)
{
    return _Fork();
}

static void close_others(const int *keep, size_t n)
{
    unsigned from = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned)keep[i] > from)
            syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0u, 0);
}

static void sort_fds(int *fds, size_t n)
{
    size_t i, j;

    for (i = 1; i < n; i++)
        for (j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];

            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
}

static void reset_signals(void)
{
    struct sigaction sa;
    sigset_t all;
    int s;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static void write_str(int fd, const char *s)
{
    ssize_t n;

    while (*s) {
        n = write(fd, s, strlen(s));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        s += n;
    }
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path), i;

    if (n == 0 || n >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        if (i < n)
            tmp[i] = '/';
    }
    return 0;
}

/* execve argv[0] found in env's PATH (the init's own environment is the
 * creator's, so execvpe would search the wrong PATH). Returns errno. */
static int exec_path(const char *const *argv, const char *const *env)
{
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char full[PATH_MAX];
    int saw_eacces = 0;
    size_t i;

    if (strchr(argv[0], '/')) {
        execve(argv[0], (char *const *)argv, (char *const *)env);
        return errno;
    }
    for (i = 0; env[i]; i++)
        if (!strncmp(env[i], "PATH=", 5))
            path = env[i] + 5;
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t dl = colon ? (size_t)(colon - path) : strlen(path);
        size_t al = strlen(argv[0]);

        if (dl + al + 2 <= sizeof(full)) {
            if (dl == 0) {
                memcpy(full, argv[0], al + 1);
            } else {
                memcpy(full, path, dl);
                full[dl] = '/';
                memcpy(full + dl + 1, argv[0], al + 1);
            }
            execve(full, (char *const *)argv, (char *const *)env);
            if (errno == EACCES)
                saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
                return errno;
        }
        if (!colon)
            break;
        path = colon + 1;
    }
    return saw_eacces ? EACCES : ENOENT;
}

static void exec_fail(const char *what, const char *arg, int e)
{
    write_str(2, "sbx: ");
    write_str(2, what);
    write_str(2, arg);
    write_str(2, e == ENOENT ? ": no such file or directory\n"
                 : e == EACCES ? ": permission denied\n"
                 : e == ENOEXEC ? ": exec format error\n"
                               : ": cannot execute\n");
    _exit(e == ENOENT ? 127 : 126);
}

/* Copies what the server wrote to its stdout pipe into the log (fd 1) and
 * watches for a line that starts with READY_LINE. Returns 1 when one came,
 * else 0; at EOF the pipe is closed (in->out_r = -1). */
static int relay(struct init *in)
{
    static const char want[] = READY_LINE;
    char b[4096];
    ssize_t n, i;
    int ready = 0;

    n = read(in->out_r, b, sizeof(b));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        close(in->out_r);
        in->out_r = -1;
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (b[i] == '\n')
            in->scan = 0;
        else if (in->scan < 0 || in->scan >= (int)sizeof(want) - 1)
            continue; /* decided for this line */
        else if (b[i] != want[in->scan])
            in->scan = -1;
        else if (++in->scan == (int)sizeof(want) - 1)
            ready = 1;
    }
    for (i = 0; i < n;) {
        ssize_t w = write(1, b + i, (size_t)(n - i));

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        i += w;
    }
    return ready;
}

static void start_server(struct init *in)
{
    const struct sbx__init_cfg *c = in->c;
    int out[2];
    pid_t pid;

    in->restart_at_ms = 0;
    sbx__env_merge(in->envp, sizeof(in->envp) / sizeof(in->envp[0]), c->env, in->srv_extra_env);
    /* what the last server left in its pipe goes to the log first (a
     * process it left behind may hold the pipe: no waiting for EOF) */
    if (in->out_r >= 0) {
        int fd = in->out_r;

        errno = 0;
        while (in->out_r == fd && errno != EAGAIN)
            relay(in);
        if (in->out_r >= 0)
            close(in->out_r);
        in->out_r = -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        in->restart_at_ms = now_ms() + in->backoff_ms;
        return;
    }
    pid = init_fork();
    if (pid < 0) {
        close(out[0]);
        close(out[1]);
        in->restart_at_ms = now_ms() + in->backoff_ms;
        return;
    }
    if (pid == 0) {
        int keep[4] = {0, 1, 2, SERVER_FD};
        int e;

        reset_signals();
        setsid();
        /* dup2 onto itself would keep CLOEXEC */
        if (dup2(out[1], 1) < 0 ||
            (in->srv_fd == SERVER_FD ? fcntl(SERVER_FD, F_SETFD, 0) < 0
                                     : dup2(in->srv_fd, SERVER_FD) < 0))
            _exit(126);
        close_others(keep, 4);
        if (chdir(c->workdir) < 0 && chdir("/") < 0)
            _exit(126);
        e = exec_path(in->srv_argv, in->envp);
        exec_fail("exec ", in->srv_argv[0], e);
    }
    close(out[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    in->out_r = out[0];
    in->scan = 0;
    in->server = pid;
    in->server_started_ms = now_ms();
}

static void send_reply(struct init *in, int fd, uint32_t type, int64_t num, const char *str,
                       const int *fds, int nfds)
{
    sbx__ctl_init(&in->rep, type);
    in->rep.num = num;
    in->rep.str = str;
    sbx__ctl_send(fd, &in->rep, fds, nfds, in->out, sizeof(in->out));
}

static void drop_conn(struct init *in, size_t i)
{
    close(in->conns[i].fd);
    in->conns[i] = in->conns[--in->nconns];
}

static void on_exec(struct init *in, size_t ci, const int *fds, int nfds)
{
    const struct sbx__init_cfg *c = in->c;
    struct sbx__ctl_msg *m = &in->msg;
    const char *cwd = m->str ? m->str : c->workdir;
    int tty = (m->flags & SBX_CTL_TTY) != 0;
    pid_t pid;

    if (nfds != 3 || m->argc == 0) {
        send_reply(in, in->conns[ci].fd, SBX_CTL_ERR, EINVAL, "exec: bad request", NULL, 0);
        drop_conn(in, ci);
        return;
    }
    sbx__env_merge(in->envp, sizeof(in->envp) / sizeof(in->envp[0]), c->env, m->env);
    pid = init_fork();
    if (pid < 0) {
        send_reply(in, in->conns[ci].fd, SBX_CTL_ERR, errno, "exec: fork", NULL, 0);
        drop_conn(in, ci);
        return;
    }
    if (pid == 0) {
        int keep[3] = {0, 1, 2};
        int e, i;

        reset_signals();
        setsid();
        for (i = 0; i < 3; i++)
            if (dup2(fds[i], i) < 0)
                _exit(126);
        close_others(keep, 3);
        if (tty)
            ioctl(0, TIOCSCTTY, 0);
        if (chdir(cwd) < 0)
            exec_fail("cd ", cwd, errno);
        e = exec_path(m->argv, in->envp);
        exec_fail("", m->argv[0], e);
    }
    in->conns[ci].pid = pid;
    send_reply(in, in->conns[ci].fd, SBX_CTL_STARTED, pid, NULL, NULL, 0);
}

static void on_open(struct init *in, size_t ci)
{
    struct sbx__ctl_msg *m = &in->msg;
    int flags = (int)m->flags & (O_ACCMODE | O_CREAT | O_TRUNC | O_EXCL | O_APPEND);
    int fd, conn = in->conns[ci].fd;
    struct stat st;

    memset(&st, 0, sizeof(st));
    if (!m->str || m->str[0] != '/') {
        send_reply(in, conn, SBX_CTL_ERR, EINVAL, "open: not an absolute path", NULL, 0);
        return;
    }
    fd = open(m->str, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, (mode_t)m->num & 07777);
    if (fd < 0 && errno == ENOENT && (flags & O_CREAT)) {
        char dir[PATH_MAX];
        const char *slash = strrchr(m->str, '/');
        size_t n = (size_t)(slash - m->str);

        if (n > 0 && n < sizeof(dir)) {
            memcpy(dir, m->str, n);
            dir[n] = '\0';
            mkdir_p(dir, 0755);
        }
        fd = open(m->str, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, (mode_t)m->num & 07777);
    }
    if (fd < 0) {
        send_reply(in, conn, SBX_CTL_ERR, errno, m->str, NULL, 0);
        return;
    }
    /* a FIFO or a device would let the sandbox block the init */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        send_reply(in, conn, SBX_CTL_ERR, S_ISDIR(st.st_mode) ? EISDIR : EINVAL, m->str, NULL,
                   0);
        return;
    }
    if (flags & O_CREAT)
        fchmod(fd, (mode_t)m->num & 07777);
    fcntl(fd, F_SETFL, flags & O_APPEND);
    send_reply(in, conn, SBX_CTL_OK, 0, NULL, &fd, 1);
    close(fd);
}

/* Copies strs into the arena at *off; returns the NULL-terminated copy. */
static const char **arena_copy(struct init *in, size_t *off, const char *const *strs, size_t n)
{
    const char **arr;
    size_t i;

    *off = (*off + sizeof(char *) - 1) & ~(sizeof(char *) - 1);
    arr = (const char **)(void *)(in->arena + *off);
    *off += (n + 1) * sizeof(char *);
    for (i = 0; i < n; i++) {
        size_t l = strlen(strs[i]) + 1;

        memcpy(in->arena + *off, strs[i], l);
        arr[i] = in->arena + *off;
        *off += l;
    }
    arr[n] = NULL;
    return arr;
}

/* The parent of pid from /proc/<pid>/stat (field 4), or -1. */
static pid_t parent_of(pid_t pid)
{
    char path[32], b[512];
    const char *p;
    ssize_t n;
    int fd, i = 0;
    pid_t v = 0;
    unsigned u = (unsigned)pid;
    char digits[12];

    do {
        digits[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    memcpy(path, "/proc/", 6);
    for (n = 0; i > 0; n++)
        path[6 + n] = digits[--i];
    memcpy(path + 6 + n, "/stat", 6);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, b, sizeof(b) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    b[n] = '\0';
    p = strrchr(b, ')');
    if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
        return -1;
    for (p += 4; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return v;
}

/* SIGKILLs root and every process descended from it. Its descendants are
 * found before anything dies (orphans move to pid 1 and lose their
 * ancestry); sbx-server's shells run in sessions of their own, so its
 * process group is not enough. */
static void kill_tree(struct init *in, pid_t root)
{
    size_t n = 0, i;
    int fd, changed;
    long got;

    fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd >= 0 && (got = syscall(SYS_getdents64, fd, in->dents, sizeof(in->dents))) > 0) {
        long off = 0;

        while (off < got) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(in->dents + off);
            pid_t pid = 0;
            const char *c;

            for (c = d->name; *c >= '0' && *c <= '9'; c++)
                pid = pid * 10 + (*c - '0');
            if (!*c && pid > 1 && n < MAX_PROCS) {
                in->procs[n] = pid;
                in->parents[n] = parent_of(pid);
                in->mark[n] = pid == root;
                n++;
            }
            off += d->reclen;
        }
    }
    if (fd >= 0)
        close(fd);
    do {
        changed = 0;
        for (i = 0; i < n; i++) {
            size_t k;

            if (in->mark[i])
                continue;
            for (k = 0; k < n; k++) {
                if (in->mark[k] && in->procs[k] == in->parents[i]) {
                    in->mark[i] = 1;
                    changed = 1;
                    break;
                }
            }
        }
    } while (changed);
    kill(root, SIGKILL);
    for (i = 0; i < n; i++)
        if (in->mark[i])
            kill(in->procs[i], SIGKILL);
}

/* Waits until the sbx-server just started says it listens (see init.h):
 * 0; -ECHILD with *status when it exited first (it is reaped and
 * in->server is 0); -ETIMEDOUT after SBX_INIT_SERVER_WAIT_MS. Other children
 * stay unreaped (the caller reaps them); SIGTERM, SIGINT or SIGHUP now ends
 * the init. */
static int wait_ready(struct init *in, int *status)
{
    int64_t deadline = now_ms() + SBX_INIT_SERVER_WAIT_MS;
    struct pollfd pfd[2];

    for (;;) {
        struct signalfd_siginfo si;
        int64_t left;
        pid_t pid;

        if (in->out_r >= 0 && relay(in))
            return 0;
        do {
            pid = waitpid(in->server, status, WNOHANG);
        } while (pid < 0 && errno == EINTR);
        if (pid == in->server) {
            in->server = 0;
            return -ECHILD;
        }
        left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        pfd[0].fd = in->out_r; /* -1 (ignored) once the pipe is closed */
        pfd[0].events = POLLIN;
        pfd[1].fd = in->sfd;
        pfd[1].events = POLLIN;
        if (poll(pfd, 2, (int)left) < 0 && errno != EINTR)
            return -errno;
        /* SIGCHLD is handled by the waitpid above; a SIGTERM now ends it */
        while (read(in->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            if (si.ssi_signo != SIGCHLD)
                _exit(0);
    }
}

static void reap(struct init *in);

static void on_server(struct init *in, size_t ci)
{
    int status = 0, rc;
    struct sbx__ctl_msg *m = &in->msg;
    size_t off = 0;

    if (m->argc == 0) {
        send_reply(in, in->conns[ci].fd, SBX_CTL_ERR, EINVAL, "server: no argv", NULL, 0);
        return;
    }
    /* the message is at most SBX_CTL_MAX_MSG bytes: its strings and two
     * pointer arrays fit the arena */
    in->srv_argv = arena_copy(in, &off, m->argv, m->argc);
    in->srv_extra_env = arena_copy(in, &off, m->env, m->envc);
    if (in->server > 0) {
        int st;

        kill_tree(in, in->server);
        while (waitpid(in->server, &st, 0) < 0 && errno == EINTR)
            ;
        in->server = 0;
    }
    in->backoff_ms = BACKOFF_MIN_MS;
    start_server(in);
    if (in->server <= 0) {
        send_reply(in, in->conns[ci].fd, SBX_CTL_ERR, EAGAIN, "server: fork", NULL, 0);
        return;
    }
    rc = wait_ready(in, &status);
    if (rc == -ECHILD) {
        /* restarted with backoff, as any server that exits */
        in->restart_at_ms = now_ms() + in->backoff_ms;
        send_reply(in, in->conns[ci].fd, SBX_CTL_ERR, ECHILD,
                   WIFSIGNALED(status) ? "sbx-server was killed before it listened"
                                       : "sbx-server exited before it listened",
                   NULL, 0);
    } else if (rc < 0) {
        send_reply(in, in->conns[ci].fd, SBX_CTL_ERR, -rc, "sbx-server did not say it listens",
                   NULL, 0);
    } else {
        send_reply(in, in->conns[ci].fd, SBX_CTL_OK, in->server, NULL, NULL, 0);
    }
    /* wait_ready consumed the SIGCHLDs of other children */
    reap(in);
}

static void on_request(struct init *in, size_t ci)
{
    int fds[3] = {-1, -1, -1};
    int nfds = 0, rc, i;
    int fd = in->conns[ci].fd;

    rc = sbx__ctl_recv(fd, in->buf, sizeof(in->buf), &in->msg, fds, 3, &nfds);
    if (rc <= 0) {
        if (rc < 0 && rc != -EAGAIN)
            send_reply(in, fd, SBX_CTL_ERR, -rc, "init: bad request", NULL, 0);
        if (rc != -EAGAIN)
            drop_conn(in, ci);
        for (i = 0; i < nfds; i++)
            close(fds[i]);
        return;
    }
    switch (in->msg.type) {
    case SBX_CTL_PING:
        send_reply(in, fd, SBX_CTL_OK, 0, NULL, NULL, 0);
        break;
    case SBX_CTL_DETACH:
        prctl(PR_SET_PDEATHSIG, 0);
        send_reply(in, fd, SBX_CTL_OK, 0, NULL, NULL, 0);
        break;
    case SBX_CTL_OPEN:
        on_open(in, ci);
        break;
    case SBX_CTL_SERVER:
        on_server(in, ci);
        break;
    case SBX_CTL_EXEC:
        /* on success the connection stays open until the command exits;
         * on failure on_exec has answered and dropped it */
        on_exec(in, ci, fds, nfds);
        for (i = 0; i < nfds; i++)
            close(fds[i]);
        return;
    default:
        send_reply(in, fd, SBX_CTL_ERR, EINVAL, "init: unknown request", NULL, 0);
        break;
    }
    for (i = 0; i < nfds; i++)
        close(fds[i]);
    drop_conn(in, ci);
}

/* A request on a connection whose command runs: only a close is expected,
 * and it means "kill it". */
static void on_exec_conn(struct init *in, size_t ci)
{
    char b[64];
    ssize_t n = recv(in->conns[ci].fd, b, sizeof(b), MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    kill(-in->conns[ci].pid, SIGKILL);
    kill(in->conns[ci].pid, SIGKILL);
    drop_conn(in, ci);
}

static void reap(struct init *in)
{
    int st;
    pid_t pid;
    size_t i;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == in->server) {
            in->server = 0;
            if (in->stopping)
                _exit(0);
            if (now_ms() - in->server_started_ms >= BACKOFF_MAX_MS)
                in->backoff_ms = BACKOFF_MIN_MS;
            in->restart_at_ms = now_ms() + in->backoff_ms;
            in->backoff_ms = in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                                 : in->backoff_ms * 2;
            continue;
        }
        for (i = 0; i < in->nconns; i++) {
            if (in->conns[i].pid == pid) {
                send_reply(in, in->conns[i].fd, SBX_CTL_EXITED, st, NULL, NULL, 0);
                drop_conn(in, i);
                break;
            }
        }
    }
}

static void on_signal(struct init *in)
{
    struct signalfd_siginfo si;
    ssize_t n;

    for (;;) {
        n = read(in->sfd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si))
            break;
        if (si.ssi_signo == SIGCHLD) {
            reap(in);
        } else {
            in->stopping = 1;
            if (in->server > 0)
                kill(in->server, (int)si.ssi_signo);
            else
                _exit(0);
        }
    }
    reap(in);
}

static void accept_conns(struct init *in)
{
    int fd;

    for (;;) {
        fd = accept4(in->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (in->nconns >= MAX_CONNS) {
            /* said, not just closed: the caller would report that the
             * init went away */
            send_reply(in, fd, SBX_CTL_ERR, EAGAIN, TOO_MANY, NULL, 0);
            close(fd);
            continue;
        }
        in->conns[in->nconns].fd = fd;
        in->conns[in->nconns].pid = 0;
        in->nconns++;
    }
}

static void loop(struct init *in)
{
    struct pollfd pfd[MAX_CONNS + 3];
    int conn_fd[MAX_CONNS];
    size_t i, n;
    int timeout, rc;

    for (;;) {
        timeout = -1;
        if (in->restart_at_ms) {
            int64_t d = in->restart_at_ms - now_ms();

            timeout = d < 0 ? 0 : (int)d;
        }
        pfd[0].fd = in->sfd;
        pfd[0].events = POLLIN;
        pfd[1].fd = in->lfd;
        pfd[1].events = POLLIN;
        n = in->nconns;
        for (i = 0; i < n; i++) {
            pfd[i + 2].fd = in->conns[i].fd;
            pfd[i + 2].events = POLLIN;
            conn_fd[i] = in->conns[i].fd;
        }
        pfd[n + 2].fd = in->out_r; /* -1 is ignored */
        pfd[n + 2].events = POLLIN;
        rc = poll(pfd, n + 3, timeout);
        if (rc < 0 && errno != EINTR)
            _exit(1);
        if (in->restart_at_ms && now_ms() >= in->restart_at_ms && !in->stopping)
            start_server(in);
        if (rc <= 0)
            continue;
        if (pfd[n + 2].revents && in->out_r == pfd[n + 2].fd)
            relay(in);
        if (pfd[0].revents)
            on_signal(in);
        /* connections may move in conns[] as others drop: find each by fd */
        for (i = 0; i < n; i++) {
            size_t k;

            if (!pfd[i + 2].revents)
                continue;
            for (k = 0; k < in->nconns; k++)
                if (in->conns[k].fd == conn_fd[i])
                    break;
            if (k == in->nconns)
                continue;
            if (in->conns[k].pid > 0)
                on_exec_conn(in, k);
            else
                on_request(in, k);
        }
        if (pfd[1].revents)
            accept_conns(in);
    }
}

static int loopback_up(void)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc = 0;

    if (fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        rc = -errno;
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            rc = -errno;
    }
    close(fd);
    return rc;
}

/* A listening AF_UNIX socket of type at path (mode 0600). */
static int bind_unix(const char *path, int type)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    int fd;

    if (n >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n + 1);
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
        listen(fd, 511) < 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

void sbx__init_main(const struct sbx__init_cfg *c)
{
    struct init *in;
    sigset_t mask;
    size_t failed = 0;
    char one;
    int keep[2], nullfd, logfd, rc, status = 0;
    ssize_t n;

    /* Dies with the intermediate process that cloned it (which dies with the
     * creator) until DETACH. If the creator is already gone, the release
     * pipe reads EOF below. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    reset_signals();
    keep[0] = c->release_fd;
    keep[1] = c->report_fd;
    sort_fds(keep, 2);
    close_others(keep, 2);
    do {
        n = read(c->release_fd, &one, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(1); /* the parent gave up */
    /* 0, 1 and 2 are /dev/null from here on, so that nothing opened below
     * lands on them (they become the log later) */
    nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nullfd < 0)
        fail(c, SBX_INIT_LOG, errno, 0);
    for (n = 0; n < 3; n++)
        if (nullfd != n && dup2(nullfd, (int)n) < 0)
            fail(c, SBX_INIT_LOG, errno, 0);
    if (nullfd > 2)
        close(nullfd);
    if (setsid() < 0)
        fail(c, SBX_INIT_SESSION, errno, 0);
    umask(022);
    in = mmap(NULL, sizeof(*in), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (in == MAP_FAILED)
        fail(c, SBX_INIT_SESSION, errno, 0);
    in->c = c;
    in->srv_argv = c->server_argv;
    in->srv_extra_env = NULL;
    in->backoff_ms = BACKOFF_MIN_MS;
    in->out_r = -1;
    rc = sbx__rootfs_apply(c->rf, &failed);
    if (rc < 0)
        fail(c, SBX_INIT_ROOTFS, -rc, failed);
    if (sethostname(c->hostname, strlen(c->hostname)) < 0)
        fail(c, SBX_INIT_HOSTNAME, errno, 0);
    in->lfd = bind_unix(c->ctl_path, SOCK_SEQPACKET);
    if (in->lfd < 0)
        fail(c, SBX_INIT_CTL, -in->lfd, 0);
    in->srv_fd = bind_unix(c->sock_path, SOCK_STREAM);
    if (in->srv_fd < 0)
        fail(c, SBX_INIT_LISTEN, -in->srv_fd, 0);
    logfd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
        fail(c, SBX_INIT_LOG, errno, 0);
    close(logfd);
    if (chdir(c->rf->root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        fail(c, SBX_INIT_PIVOT, errno, 0);
    if (c->net_none) {
        rc = loopback_up();
        if (rc < 0)
            fail(c, SBX_INIT_LOOPBACK, -rc, 0);
    }
    rc = mkdir_p(c->workdir, 0755);
    if (rc < 0)
        fail(c, SBX_INIT_WORKDIR, -rc, 0);
    /* /proc/1 is not for the sandbox's processes to poke at */
    prctl(PR_SET_DUMPABLE, 0);
    rc = sbx_caps_restrict();
    if (rc < 0)
        fail(c, SBX_INIT_CAPS, -rc, 0);
    if (c->seccomp) {
        rc = sbx_seccomp_load(c->seccomp);
        if (rc < 0)
            fail(c, SBX_INIT_SECCOMP, -rc, 0);
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        fail(c, SBX_INIT_SIGNALS, errno, 0);
    in->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (in->sfd < 0)
        fail(c, SBX_INIT_SIGNALS, errno, 0);
    /* nothing of the sandbox runs before the init is in its cgroups */
    do {
        n = read(c->release_fd, &one, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(1); /* the parent gave up */
    close(c->release_fd);
    start_server(in);
    if (in->server <= 0)
        fail(c, SBX_INIT_SERVER, EAGAIN, 0);
    rc = wait_ready(in, &status);
    if (rc < 0)
        fail(c, SBX_INIT_SERVER, -rc, (size_t)(unsigned)status);
    report(c->report_fd, SBX_INIT_OK, 0, 0);
    close(c->report_fd);
    loop(in);
    _exit(0);
}
