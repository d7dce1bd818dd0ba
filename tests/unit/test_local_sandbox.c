/*
 * A real local sandbox, end to end through the provider API: create, exec,
 * upload/download, what the sandbox sees (pid 1, hostname, an empty /root, a
 * sanitised /etc/shadow), pause/resume, timeouts, remove; then no process,
 * cgroup, mount or file of it may be left.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "providers/local/ctl.h"
#include "providers/local/local.h"
#include "sbx/provider.h"
#include "store/store.h"

struct fixture {
    char dir[64];
    struct sbx_provider *p;
};

static int userns_available(void)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int ok = 1;

    if (geteuid() == 0)
        return 1;
    if (sbx_file_read("/proc/sys/kernel/unprivileged_userns_clone", &b) == 0 && b.ptr[0] == '0')
        ok = 0;
    sbx_buf_reset(&b);
    if (sbx_file_read("/proc/sys/user/max_user_namespaces", &b) == 0 && b.ptr[0] == '0')
        ok = 0;
    sbx_buf_free(&b);
    return ok;
}

/* The first line is a pid of the sandbox's own pid namespace. */
static int small_pid(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);

    return end != s && *end == '\n' && v > 1 && v < 1000;
}

static int rm_rf(const char *path)
{
    return sbx__local_rmtree(path);
}

static int setup(void **state)
{
    struct sbx_provider_config cfg;
    struct sbx_err err = {0};
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    /* orphaned inits come to us, so the test can reap them */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* SBX_TEST_STATE_PARENT=/var/lib runs the suite with the state directory
     * inside an overlaid top-level directory, as the default /var/lib/sbx is */
    snprintf(f->dir, sizeof(f->dir), "%s/sbx-local-XXXXXX",
             getenv("SBX_TEST_STATE_PARENT") ? getenv("SBX_TEST_STATE_PARENT") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    memset(&cfg, 0, sizeof(cfg));
    cfg.state_dir = f->dir;
    cfg.server_bin = SBX_TEST_SERVER_BIN;
    f->p = sbx_provider_open("local", &cfg, &err);
    if (!f->p)
        fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct sbx_sandbox_info *list = NULL;
    int n, i;

    /* a failed assertion skips a test's own rm: sandboxes outlive their
     * creator by design, so remove what is left before the directory */
    n = sbx_provider_list(f->p, NULL, &list, NULL);
    for (i = 0; i < n; i++)
        sbx_provider_remove(f->p, list[i].id, NULL);
    sbx_sandbox_info_array_free(list, n > 0 ? (size_t)n : 0);
    sbx_provider_close(f->p);
    assert_int_equal(rm_rf(f->dir), 0);
    free(f);
    return 0;
}

static void run(struct fixture *f, const char *id, const char *script, struct sbx_exec_result *r)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct sbx_exec_req req;
    struct sbx_err err = {0};
    int rc;

    memset(&req, 0, sizeof(req));
    req.argv = argv;
    req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
    rc = sbx_provider_exec(f->p, id, &req, r, &err);
    if (rc < 0)
        fail_msg("exec %s: %s", script, err.msg);
}

static int64_t init_pid(struct fixture *f, const char *id, int64_t *start)
{
    struct sbx_store_row row;
    struct sbx_store *st;
    char path[128];
    int64_t pid;

    snprintf(path, sizeof(path), "%s/sbx.db", f->dir);
    st = sbx_store_open(path, NULL);
    assert_non_null(st);
    memset(&row, 0, sizeof(row));
    assert_int_equal(sbx_store_get(st, "local", id, &row, NULL), 0);
    pid = row.pid;
    *start = row.pid_start;
    sbx_store_row_release(&row);
    sbx_store_close(st);
    return pid;
}

/* Nothing of the sandbox is left: process (reaped here, as its
 * subreaper), cgroup directories, mounts, files. */
static void assert_gone(struct fixture *f, const char *id, pid_t pid)
{
    struct sbx_buf mi = SBX_BUF_INIT;
    char path[512];
    struct dirent *de;
    DIR *d;
    int st;

    /* remove waited for its exit; it may still be a zombie until reaped */
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    d = opendir("/sys/fs/cgroup");
    assert_non_null(d);
    while ((de = readdir(d))) {
        struct stat sb;

        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/sbx/%s", de->d_name, id);
        if (stat(path, &sb) == 0)
            fail_msg("cgroup %s is left", path);
    }
    closedir(d);
    snprintf(path, sizeof(path), "/sys/fs/cgroup/sbx/%s", id);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/local/%s", f->dir, id);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(sbx_file_read("/proc/self/mountinfo", &mi), 0);
    assert_null(strstr(mi.ptr, id));
    sbx_buf_free(&mi);
}

static void test_lifecycle(void **state)
{
    struct fixture *f = *state;
    const char *labels[] = {"suite=unit", NULL};
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info info, got;
    struct sbx_exec_result r;
    struct sbx_err err = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    char host_in[128], host_out[128], expect[64];
    int64_t start = 0;
    pid_t pid;
    int rc, fd;
    char *line2;

    if (!userns_available()) {
        print_message("skipped: not root and unprivileged user namespaces are off\n");
        skip();
        return;
    }
    memset(&spec, 0, sizeof(spec));
    spec.name = "life";
    spec.labels = labels;
    rc = sbx_provider_create(f->p, &spec, &info, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    assert_int_equal(info.state, SBX_SANDBOX_RUNNING);
    assert_int_equal(strlen(info.id), 12);
    assert_string_equal(info.name, "life");
    assert_int_equal(info.n_labels, 1);
    pid = (pid_t)init_pid(f, info.id, &start);
    assert_true(pid > 1);

    /* a second sandbox of that name is refused, naming the first */
    rc = sbx_provider_create(f->p, &spec, NULL, &err);
    assert_int_equal(rc, -EEXIST);
    assert_non_null(strstr(err.msg, info.id));

    /* pid 1 is the init, so the shell's pid is small; the hostname and
     * /etc/hostname are the id; we are root inside */
    memset(&r, 0, sizeof(r));
    run(f, info.id, "echo $$; cat /etc/hostname; hostname; id -u", &r);
    assert_int_equal(r.exit_code, 0);
    assert_true(small_pid(r.out));
    line2 = strchr(r.out, '\n');
    assert_non_null(line2);
    snprintf(expect, sizeof(expect), "\n%s\n%s\n0\n", info.id, info.id);
    assert_string_equal(line2, expect);
    sbx_exec_result_release(&r);

    /* the host's /root and sbx's state directory are hidden; /etc/shadow
     * has no password hashes */
    {
        char script[256];

        snprintf(script, sizeof(script),
                 "ls -A /root | wc -l; ls -A %s 2>/dev/null | wc -l; "
                 "cut -d: -f2 /etc/shadow | sort -u",
                 f->dir);
        run(f, info.id, script, &r);
    }
    assert_int_equal(r.exit_code, 0);
    assert_true(!strcmp(r.out, "0\n0\n*\n") || !strcmp(r.out, "0\n0\n"));
    sbx_exec_result_release(&r);

    /* restricted: no_new_privs, a seccomp filter, no mount, read-only
     * /sys and /proc/sys, masked /proc/kcore, only the sandbox's processes */
    run(f, info.id,
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -d ' \t'; "
        "mount -t tmpfs x /mnt 2>/dev/null && echo mounted; "
        "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo wrote-proc; "
        "touch /sys/kernel/x 2>/dev/null && echo wrote-sys; "
        "head -c 1 /proc/kcore | wc -c; "
        "ls /proc | grep -c '^[0-9]' | awk '{ print ($1 < 10) }'",
        &r);
    assert_string_equal(r.out, "NoNewPrivs:1\nSeccomp:2\n0\n1\n");
    sbx_exec_result_release(&r);

    /* stdout and stderr apart, exit code through */
    run(f, info.id, "echo out; echo err >&2; exit 3", &r);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(r.out, "out\n");
    assert_string_equal(r.err, "err\n");
    sbx_exec_result_release(&r);

    /* upload, read inside, download */
    snprintf(host_in, sizeof(host_in), "%s/in.txt", f->dir);
    snprintf(host_out, sizeof(host_out), "%s/out.txt", f->dir);
    fd = open(host_in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello sandbox\n", 14), 14);
    close(fd);
    rc = sbx_provider_upload(f->p, "life", host_in, "/workspace/sub/in.txt", 0640, &err);
    if (rc < 0)
        fail_msg("upload: %s", err.msg);
    run(f, info.id, "cat /workspace/sub/in.txt; stat -c %a /workspace/sub/in.txt", &r);
    assert_string_equal(r.out, "hello sandbox\n640\n");
    sbx_exec_result_release(&r);
    rc = sbx_provider_download(f->p, info.id, "sub/in.txt", host_out, &err);
    if (rc < 0)
        fail_msg("download: %s", err.msg);
    assert_int_equal(sbx_file_read(host_out, &b), 0);
    assert_string_equal(b.ptr, "hello sandbox\n");
    sbx_buf_free(&b);
    /* what the sandbox writes stays out of the host */
    assert_int_not_equal(access("/workspace/sub/in.txt", F_OK), 0);
    assert_int_equal(sbx_provider_download(f->p, info.id, "/nope", host_out, &err), -ENOENT);

    /* a command past its timeout is killed */
    {
        const char *argv[] = {"sleep", "1000", NULL};
        struct sbx_exec_req req;

        memset(&req, 0, sizeof(req));
        req.argv = argv;
        req.timeout_ms = 100;
        req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
        assert_int_equal(sbx_provider_exec(f->p, info.id, &req, &r, &err), 0);
        assert_true(r.timed_out);
        assert_int_equal(r.exit_code, 137);
        sbx_exec_result_release(&r);
    }
    /* the cancel descriptor kills the command: already readable here, so
     * exec must come back at once with canceled, not after the sleep */
    {
        const char *argv[] = {"sleep", "1000", NULL};
        struct sbx_exec_req req;
        int cp[2];

        assert_int_equal(pipe(cp), 0);
        assert_int_equal(write(cp[1], "x", 1), 1);
        memset(&req, 0, sizeof(req));
        req.argv = argv;
        req.use_cancel_fd = true;
        req.cancel_fd = cp[0];
        req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
        assert_int_equal(sbx_provider_exec(f->p, info.id, &req, &r, &err), 0);
        assert_true(r.canceled);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, 137);
        sbx_exec_result_release(&r);
        close(cp[0]);
        close(cp[1]);
        /* and nothing of it is left running in the sandbox (the init
         * kills it when it sees the connection close: soon, not at once) */
        run(f, info.id,
            "for i in $(seq 100); do pgrep -x sleep >/dev/null || { echo none; exit; };"
            " sleep 0.05; done; echo still running",
            &r);
        assert_string_equal(r.out, "none\n");
        sbx_exec_result_release(&r);
    }
    /* the init serves 256 connections at once; one more is told so, not
     * just closed (exec said "the sandbox's init went away") */
    {
        int held[256];
        char dir[256];
        size_t k;

        snprintf(dir, sizeof(dir), "%s/local/%s", f->dir, info.id);
        for (k = 0; k < 256; k++) {
            held[k] = sbx__ctl_connect(dir, &err);
            assert_true(held[k] >= 0);
        }
        rc = sbx_provider_exec(f->p, info.id, &(struct sbx_exec_req){
            .argv = (const char *[]){"true", NULL}, .stdin_fd = -1, .stdout_fd = -1,
            .stderr_fd = -1}, &r, &err);
        if (rc != -EAGAIN)
            fail_msg("exec past the init's limit: %d %s", rc, err.msg);
        assert_non_null(strstr(err.msg, "too many commands and transfers at once"));
        for (k = 0; k < 256; k++)
            close(held[k]);
        /* served again once the init has seen those go (bounded wait) */
        for (k = 0; k < 500; k++) {
            rc = sbx_provider_exec(f->p, info.id, &(struct sbx_exec_req){
                .argv = (const char *[]){"echo", "again", NULL}, .stdin_fd = -1,
                .stdout_fd = -1, .stderr_fd = -1}, &r, &err);
            if (rc != -EAGAIN)
                break;
            usleep(10000);
        }
        if (rc < 0)
            fail_msg("exec after the limit: %s", err.msg);
        assert_string_equal(r.out, "again\n");
        sbx_exec_result_release(&r);
    }
    /* a timeout past any clock is no deadline (it overflowed into an
     * instant kill before) */
    {
        const char *argv[] = {"sh", "-c", "echo done", NULL};
        struct sbx_exec_req req;

        memset(&req, 0, sizeof(req));
        req.argv = argv;
        req.timeout_ms = INT64_MAX;
        req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
        assert_int_equal(sbx_provider_exec(f->p, info.id, &req, &r, &err), 0);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, 0);
        assert_string_equal(r.out, "done\n");
        sbx_exec_result_release(&r);
    }
    /* both pipes drained at once (no deadlock on a full pipe), and a bound */
    run(f, info.id, "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2", &r);
    assert_int_equal(r.out_len, 3000000);
    assert_int_equal(r.err_len, 2000000);
    sbx_exec_result_release(&r);
    {
        const char *argv[] = {"head", "-c", "67108865", "/dev/zero", NULL};
        struct sbx_exec_req req;

        memset(&req, 0, sizeof(req));
        req.argv = argv;
        req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
        assert_int_equal(sbx_provider_exec(f->p, info.id, &req, &r, &err), -E2BIG);
        assert_string_equal(err.msg, "exec: output larger than 64 MiB");
        assert_null(r.out);
    }
    /* a terminal: the command gets it as its controlling tty */
    {
        const char *argv[] = {"sh", "-c", "[ -t 0 ] && echo isatty; exec 3</dev/tty && echo ctty",
                              NULL};
        struct sbx_exec_req req;
        char out[256];
        int master = -1, slave = -1;
        ssize_t n;
        size_t len = 0;

        assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
        memset(&req, 0, sizeof(req));
        req.argv = argv;
        req.tty = true;
        req.stdin_fd = req.stdout_fd = req.stderr_fd = slave;
        assert_int_equal(sbx_provider_exec(f->p, info.id, &req, &r, &err), 0);
        assert_int_equal(r.exit_code, 0);
        assert_null(r.out);
        close(slave);
        sbx_fd_set_nonblock(master, 1);
        while (len < sizeof(out) - 1 && (n = read(master, out + len, sizeof(out) - 1 - len)) > 0)
            len += (size_t)n;
        out[len] = '\0';
        assert_string_equal(out, "isatty\r\nctty\r\n");
        close(master);
    }
    /* an unknown command: 127 and a message */
    run(f, info.id, "exec no-such-command-here", &r);
    assert_int_equal(r.exit_code, 127);
    sbx_exec_result_release(&r);

    /* pause and resume (where a freezer exists) */
    rc = sbx_provider_pause(f->p, info.id, &err);
    if (info.enforced & SBX_LIMIT_FREEZE) {
        assert_int_equal(rc, 0);
        assert_int_equal(sbx_provider_pause(f->p, info.id, &err), 0);
        assert_int_equal(sbx_provider_get(f->p, "life", &got, &err), 0);
        assert_int_equal(got.state, SBX_SANDBOX_PAUSED);
        sbx_sandbox_info_free(&got);
        assert_int_equal(sbx_provider_resume(f->p, info.id, &err), 0);
        assert_int_equal(sbx_provider_get(f->p, info.id, &got, &err), 0);
        assert_int_equal(got.state, SBX_SANDBOX_RUNNING);
        sbx_sandbox_info_free(&got);
        /* rm of a paused sandbox works (it is thawed to die) */
        assert_int_equal(sbx_provider_pause(f->p, info.id, &err), 0);
    } else {
        assert_int_equal(rc, -ENOTSUP);
    }
    rc = sbx_provider_remove(f->p, info.id, &err);
    if (rc < 0)
        fail_msg("remove: %s", err.msg);
    assert_gone(f, info.id, pid);
    assert_int_equal(sbx_provider_get(f->p, info.id, &got, &err), -ENOENT);
    sbx_sandbox_info_free(&info);
}

static void test_dead_sandbox(void **state)
{
    struct fixture *f = *state;
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info info, got;
    struct sbx_exec_result r;
    struct sbx_err err = {0};
    int64_t start = 0;
    pid_t pid;
    int rc;

    if (!userns_available()) {
        print_message("skipped: not root and unprivileged user namespaces are off\n");
        skip();
        return;
    }
    memset(&spec, 0, sizeof(spec));
    spec.network = SBX_NETWORK_NONE;
    rc = sbx_provider_create(f->p, &spec, &info, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    /* no network: loopback only, and up (IFF_UP | IFF_LOOPBACK) */
    memset(&r, 0, sizeof(r));
    run(f, info.id, "ls /sys/class/net; cat /sys/class/net/lo/flags", &r);
    assert_string_equal(r.out, "lo\n0x9\n");
    sbx_exec_result_release(&r);
    {
        char *url = NULL;

        assert_int_equal(sbx_provider_port_url(f->p, info.id, 8080, &url, &err), -ENOTSUP);
        assert_null(url);
    }
    /* SIGTERM to the init goes to sbx-server; when it exits, so does the
     * init: the sandbox reads dead, and rm cleans up */
    pid = (pid_t)init_pid(f, info.id, &start);
    assert_int_equal(kill(pid, SIGTERM), 0);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    assert_int_equal(sbx_provider_get(f->p, info.id, &got, &err), 0);
    assert_int_equal(got.state, SBX_SANDBOX_DEAD);
    assert_non_null(got.note);
    sbx_sandbox_info_free(&got);
    {
        const char *argv[] = {"true", NULL};
        struct sbx_exec_req req;

        memset(&req, 0, sizeof(req));
        req.argv = argv;
        req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
        assert_int_equal(sbx_provider_exec(f->p, info.id, &req, &r, &err), -EPIPE);
    }
    rc = sbx_provider_remove(f->p, info.id, &err);
    if (rc < 0)
        fail_msg("remove: %s", err.msg);
    assert_gone(f, info.id, pid);
    sbx_sandbox_info_free(&info);
}

/* The HTTP status sbx-server answers GET path with, over its unix socket. */
static int http_status(const char *sock, const char *path, const char *key)
{
    struct sockaddr_un sa;
    char req[512], resp[64];
    int fd, n, len = 0, status = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    assert_true(strlen(sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n%s%s%sConnection: close\r\n\r\n",
                 path, key ? "X-Session-API-Key: " : "", key ? key : "", key ? "\r\n" : "");
    assert_int_equal(write(fd, req, (size_t)n), n);
    while (len < (int)sizeof(resp) - 1) {
        n = (int)read(fd, resp + len, sizeof(resp) - 1 - (size_t)len);
        if (n <= 0)
            break;
        len += n;
    }
    resp[len] = '\0';
    close(fd);
    if (len > 12 && !strncmp(resp, "HTTP/1.1 ", 9))
        status = (int)strtol(resp + 9, NULL, 10);
    return status;
}

static void test_bootstrap_and_env(void **state)
{
    struct fixture *f = *state;
    const char *env[] = {"GREETING=hello", "PATH=/usr/bin:/bin", NULL};
    const char *labels_a[] = {"team=a", "tier=1", NULL};
    const char *labels_b[] = {"team=b", NULL};
    const char *filter[] = {"team=a", NULL};
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info a, b, *list = NULL;
    struct sbx_sandbox_filter flt;
    struct sbx_server_opts o;
    struct sbx_endpoint ep;
    struct sbx_exec_result r;
    struct sbx_err err = {0};
    int64_t start = 0;
    pid_t pa, pb;
    int n, rc;

    if (!userns_available()) {
        print_message("skipped: not root and unprivileged user namespaces are off\n");
        skip();
        return;
    }
    memset(&spec, 0, sizeof(spec));
    spec.env = env;
    spec.labels = labels_a;
    spec.workdir = "/srv/work";
    rc = sbx_provider_create(f->p, &spec, &a, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    spec.env = NULL;
    spec.workdir = NULL;
    spec.labels = labels_b;
    rc = sbx_provider_create(f->p, &spec, &b, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    pa = (pid_t)init_pid(f, a.id, &start);
    pb = (pid_t)init_pid(f, b.id, &start);

    /* the spec's environment and working directory; a request's env and cwd */
    memset(&r, 0, sizeof(r));
    run(f, a.id, "echo $GREETING $PATH; pwd", &r);
    assert_string_equal(r.out, "hello /usr/bin:/bin\n/srv/work\n");
    sbx_exec_result_release(&r);
    {
        const char *argv[] = {"sh", "-c", "echo $GREETING; pwd", NULL};
        const char *xenv[] = {"GREETING=bye", NULL};
        struct sbx_exec_req req;

        memset(&req, 0, sizeof(req));
        req.argv = argv;
        req.env = xenv;
        req.cwd = "/tmp";
        req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
        assert_int_equal(sbx_provider_exec(f->p, a.id, &req, &r, &err), 0);
        assert_string_equal(r.out, "bye\n/tmp\n");
        sbx_exec_result_release(&r);
    }
    /* sandboxes do not see each other's files */
    run(f, a.id, "echo mine > /tmp/x; echo mine > /etc/only-a", &r);
    sbx_exec_result_release(&r);
    run(f, b.id, "cat /tmp/x /etc/only-a 2>/dev/null; echo $?", &r);
    assert_string_equal(r.out, "1\n");
    sbx_exec_result_release(&r);
    assert_int_not_equal(access("/etc/only-a", F_OK), 0);

    /* list by label */
    memset(&flt, 0, sizeof(flt));
    flt.labels = filter;
    n = sbx_provider_list(f->p, &flt, &list, &err);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, a.id);
    assert_int_equal(list[0].n_labels, 2);
    sbx_sandbox_info_array_free(list, (size_t)n);
    n = sbx_provider_list(f->p, NULL, &list, &err);
    assert_int_equal(n, 2);
    sbx_sandbox_info_array_free(list, (size_t)n);

    /* the server started at create answers; bootstrap with a key restarts
     * it with the key */
    memset(&o, 0, sizeof(o));
    assert_int_equal(sbx_provider_bootstrap(f->p, a.id, &o, &ep, &err), 0);
    assert_non_null(ep.unix_path);
    assert_null(ep.url);
    assert_null(ep.api_key);
    assert_int_equal(http_status(ep.unix_path, "/alive", NULL), 200);
    assert_int_equal(http_status(ep.unix_path, "/vscode/connection_token", NULL), 200);
    sbx_endpoint_release(&ep);
    o.api_key = "s3cret";
    rc = sbx_provider_bootstrap(f->p, a.id, &o, &ep, &err);
    if (rc < 0)
        fail_msg("bootstrap: %s", err.msg);
    assert_string_equal(ep.api_key, "s3cret");
    assert_int_equal(http_status(ep.unix_path, "/vscode/connection_token", NULL), 403);
    assert_int_equal(http_status(ep.unix_path, "/vscode/connection_token", "s3cret"), 200);
    sbx_endpoint_release(&ep);
    /* the first server and its shell are gone: one server, one shell */
    run(f, a.id, "cat /proc/[0-9]*/comm | grep -c -e '^bash$' -e '^sbx-server$'", &r);
    assert_string_equal(r.out, "2\n");
    sbx_exec_result_release(&r);
    {
        char *url = NULL;

        assert_int_equal(sbx_provider_port_url(f->p, a.id, 8080, &url, &err), 0);
        assert_string_equal(url, "http://127.0.0.1:8080");
        free(url);
    }

    assert_int_equal(sbx_provider_remove(f->p, a.id, &err), 0);
    assert_gone(f, a.id, pa);
    assert_int_equal(sbx_provider_remove(f->p, b.id, &err), 0);
    assert_gone(f, b.id, pb);
    sbx_sandbox_info_free(&a);
    sbx_sandbox_info_free(&b);
}

/* The socket the host connects to is the init's, bound outside the
 * sandbox's view: nothing the sandbox does (a symlink where the socket used
 * to be, killing its server) changes which socket that is. */
static void test_server_socket_out_of_reach(void **state)
{
    struct fixture *f = *state;
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info info;
    struct sbx_server_opts o;
    struct sbx_endpoint ep;
    struct sbx_exec_result r;
    struct sbx_err err = {0};
    struct sockaddr_un sa;
    struct stat before, after;
    char decoy[128], want[256], script[1024];
    int64_t start = 0;
    int dfd, rc;
    pid_t pid;

    if (!userns_available()) {
        print_message("skipped: not root and unprivileged user namespaces are off\n");
        skip();
        return;
    }
    /* a host socket the sandbox would like the host to talk to */
    snprintf(decoy, sizeof(decoy), "%s/decoy.sock", f->dir);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, decoy, strlen(decoy) + 1);
    dfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(dfd >= 0);
    assert_int_equal(bind(dfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(dfd, 8), 0);

    memset(&spec, 0, sizeof(spec));
    rc = sbx_provider_create(f->p, &spec, &info, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    pid = (pid_t)init_pid(f, info.id, &start);
    memset(&o, 0, sizeof(o));
    assert_int_equal(sbx_provider_bootstrap(f->p, info.id, &o, &ep, &err), 0);
    snprintf(want, sizeof(want), "%s/local/%s/server.sock", f->dir, info.id);
    assert_string_equal(ep.unix_path, want);
    assert_int_equal(lstat(ep.unix_path, &before), 0);
    assert_true(S_ISSOCK(before.st_mode));
    sbx_endpoint_release(&ep);

    /* the sandbox has no run directory and sees no socket of the host's */
    memset(&r, 0, sizeof(r));
    run(f, info.id, "ls -A /.sbx; test -e /.sbx/run && echo run exists; "
                    "find / -xdev -type s 2>/dev/null | grep -c server.sock", &r);
    assert_string_equal(r.out, "sbx-server\n0\n");
    sbx_exec_result_release(&r);
    /* it does its worst: symlinks to the decoy wherever the socket was or
     * could be, and kills its server so that the init starts another */
    snprintf(script, sizeof(script),
             "mkdir -p /.sbx/run && ln -sf %s /.sbx/run/server.sock && "
             "ln -sf %s /.sbx/server.sock && ln -sf %s /server.sock && "
             "for c in /proc/[0-9]*/comm; do "
             "  if [ \"$(cat $c 2>/dev/null)\" = sbx-server ]; then "
             "    p=${c%%/comm}; kill -9 ${p#/proc/}; fi; "
             "done; echo done",
             decoy, decoy, decoy);
    run(f, info.id, script, &r);
    assert_string_equal(r.out, "done\n");
    sbx_exec_result_release(&r);

    /* the same path, the same socket, and the sandbox's new server answers
     * on it; nothing ever connected to the decoy */
    assert_int_equal(sbx_provider_bootstrap(f->p, info.id, &o, &ep, &err), 0);
    assert_string_equal(ep.unix_path, want);
    assert_int_equal(lstat(ep.unix_path, &after), 0);
    assert_true(S_ISSOCK(after.st_mode));
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_dev, before.st_dev);
    assert_int_equal(http_status(ep.unix_path, "/alive", NULL), 200);
    sbx_endpoint_release(&ep);
    assert_int_equal(accept4(dfd, NULL, NULL, SOCK_CLOEXEC), -1);
    assert_int_equal(errno, EAGAIN);
    close(dfd);
    unlink(decoy);

    assert_int_equal(sbx_provider_remove(f->p, info.id, &err), 0);
    assert_gone(f, info.id, pid);
    sbx_sandbox_info_free(&info);
}

/* A create that fails in the init leaves nothing behind and names the step. */
static void test_create_failure_cleans_up(void **state)
{
    struct fixture *f = *state;
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info *list = NULL;
    struct sbx_err err = {0};
    char path[128];
    struct dirent *de;
    DIR *d;
    int rc, entries = 0;

    if (!userns_available()) {
        print_message("skipped: not root and unprivileged user namespaces are off\n");
        skip();
        return;
    }
    memset(&spec, 0, sizeof(spec));
    spec.name = "doomed";
    /* /proc/sys is read-only inside: the working directory cannot be made */
    spec.workdir = "/proc/sys/sbx-work";
    rc = sbx_provider_create(f->p, &spec, NULL, &err);
    assert_true(rc < 0);
    assert_non_null(strstr(err.msg, "create: create the working directory"));
    assert_int_equal(sbx_provider_list(f->p, NULL, &list, &err), 0);
    snprintf(path, sizeof(path), "%s/local", f->dir);
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            entries++;
    closedir(d);
    assert_int_equal(entries, 0);
    /* and the name is free again */
    spec.workdir = NULL;
    rc = sbx_provider_create(f->p, &spec, NULL, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    assert_int_equal(sbx_provider_remove(f->p, "doomed", &err), 0);
}

/* The error detail is optional (NULL): a failure still returns its code,
 * never 0, and a create that fails leaves nothing behind. */
static void test_failures_without_err(void **state)
{
    struct fixture *f = *state;
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info info;
    struct sbx_sandbox_info *list = NULL;
    struct sbx_exec_result res;
    struct sbx_endpoint ep;
    const char *argv[] = {"true", NULL};
    struct sbx_exec_req req;
    char *url = NULL;
    int64_t kills = 0;

    memset(&req, 0, sizeof(req));
    req.argv = argv;
    req.stdin_fd = req.stdout_fd = req.stderr_fd = -1;
    assert_int_equal(sbx_provider_get(f->p, "nosuch", &info, NULL), -ENOENT);
    assert_int_equal(sbx_provider_remove(f->p, "nosuch", NULL), -ENOENT);
    assert_int_equal(sbx_provider_pause(f->p, "nosuch", NULL), -ENOENT);
    assert_int_equal(sbx_provider_resume(f->p, "nosuch", NULL), -ENOENT);
    assert_int_equal(sbx_provider_oom_kills(f->p, "nosuch", &kills, NULL), -ENOENT);
    assert_int_equal(sbx_provider_exec(f->p, "nosuch", &req, &res, NULL), -ENOENT);
    assert_int_equal(sbx_provider_port_url(f->p, "nosuch", 80, &url, NULL), -ENOENT);
    assert_null(url);
    assert_int_equal(sbx_provider_bootstrap(f->p, "nosuch", NULL, &ep, NULL), -ENOENT);
    assert_int_equal(sbx_provider_upload(f->p, "nosuch", "/etc/hostname", "/x", 0, NULL),
                     -ENOENT);
    assert_int_equal(sbx_provider_download(f->p, "nosuch", "/x", "/dev/null", NULL), -ENOENT);
    memset(&spec, 0, sizeof(spec));
    spec.image = "/nonexistent/sbx-image";
    assert_true(sbx_provider_create(f->p, &spec, NULL, NULL) < 0);
    assert_int_equal(sbx_provider_list(f->p, NULL, &list, NULL), 0);
    assert_null(list);
}

/* The init runs inside the sandbox: upload and download check what it
 * hands over themselves. A stand-in init answers OPEN with a pipe, then
 * with /dev/null; neither may be copied from or into. It dies with the
 * test: left waiting, it would hold ctest's output pipe open for ever. */
static void fake_init(int lfd)
{
    struct sbx__ctl_msg *m = malloc(sizeof(*m));
    char *buf = malloc(SBX_CTL_MAX_MSG);
    int fds[3], nfds, i;

    if (!m || !buf || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
        _exit(1);
    alarm(60);
    for (i = 0; i < 2; i++) {
        int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), give = -1, pipefd[2];

        if (conn < 0 || sbx__ctl_recv(conn, buf, SBX_CTL_MAX_MSG, m, fds, 3, &nfds) != 1)
            _exit(1);
        if (i == 0) {
            if (pipe2(pipefd, O_CLOEXEC) < 0)
                _exit(1);
            close(pipefd[1]); /* EOF at once: the old code "downloaded" nothing */
            give = pipefd[0];
        } else {
            give = open("/dev/null", O_WRONLY | O_CLOEXEC);
        }
        sbx__ctl_init(m, SBX_CTL_OK);
        if (give < 0 || sbx__ctl_send(conn, m, &give, 1, buf, SBX_CTL_MAX_MSG) < 0)
            _exit(1);
        close(give);
        close(conn);
    }
    _exit(0);
}

static void test_transfer_checks_the_inits_file(void **state)
{
    struct fixture *f = *state;
    const char *id = "fa4e00000001";
    struct sbx_store_row row;
    struct sbx_store *st;
    struct sbx_err err = {0};
    struct sockaddr_un sa;
    char path[256], host[256];
    int64_t start = 0;
    int lfd, wst;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/local/%s", f->dir, id);
    assert_int_equal(mkdir(path, 0700), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    assert_true(strlen(path) + sizeof("/ctl.sock") <= sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path));
    memcpy(sa.sun_path + strlen(path), "/ctl.sock", sizeof("/ctl.sock"));
    lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        fake_init(lfd);
    close(lfd);
    /* a row for a running sandbox whose init is the stand-in (if an
     * assertion fails, the teardown's rm kills it) */
    snprintf(host, sizeof(host), "%s/sbx.db", f->dir);
    st = sbx_store_open(host, &err);
    assert_non_null(st);
    assert_int_equal(sbx__local_pid_start(pid, &start), 0);
    memset(&row, 0, sizeof(row));
    row.provider = "local";
    row.id = (char *)id;
    row.state = "running";
    row.pid = pid;
    row.pid_start = start;
    row.data = "{\"creator\":false}";
    assert_int_equal(sbx_store_insert(st, &row, &err), 0);
    sbx_store_close(st);

    snprintf(host, sizeof(host), "%s/downloaded", f->dir);
    assert_int_equal(sbx_provider_download(f->p, id, "/fifo", host, &err), -EINVAL);
    assert_string_equal(err.msg, "download: /fifo is not a regular file");
    assert_int_not_equal(access(host, F_OK), 0);
    lfd = open(host, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(lfd >= 0);
    assert_int_equal(sbx_fd_write_all(lfd, "data\n", 5), 0);
    close(lfd);
    assert_int_equal(sbx_provider_upload(f->p, id, host, "/dev/null", 0, &err), -EINVAL);
    assert_string_equal(err.msg, "upload: /dev/null is not a regular file");
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    assert_int_equal(sbx_provider_remove(f->p, id, &err), 0);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* An sbx-server that cannot start fails create at once, quoting its log. */
static void test_server_fails(void **state)
{
    struct fixture *f = *state;
    struct sbx_provider_config cfg;
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info *list = NULL;
    struct sbx_provider *p;
    struct sbx_err err = {0};
    char bin[128];
    int fd, rc;

    if (!userns_available()) {
        print_message("skipped: not root and unprivileged user namespaces are off\n");
        skip();
        return;
    }
    snprintf(bin, sizeof(bin), "%s/bad-server", f->dir);
    fd = open(bin, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\necho boom >&2\nexit 3\n", 32), 32);
    close(fd);
    memset(&cfg, 0, sizeof(cfg));
    cfg.state_dir = f->dir;
    cfg.server_bin = bin;
    p = sbx_provider_open("local", &cfg, &err);
    assert_non_null(p);
    memset(&spec, 0, sizeof(spec));
    rc = sbx_provider_create(p, &spec, NULL, &err);
    assert_int_equal(rc, -EIO);
    assert_string_equal(err.msg, "create: sbx-server exited with status 3 before it listened; "
                                 "sbx-server said: boom");
    assert_int_equal(sbx_provider_list(p, NULL, &list, &err), 0);
    sbx_provider_close(p);
}

/* Runs a shell script on the host with arg as $1; returns its exit status. */
static int host_sh(const char *script, const char *arg)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, "sh", arg, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --rootfs DIR: a minimal root with sh, bash, cat, ls, root in passwd and
 * group, and the libraries they and sbx-server link. */
static void test_image_dir(void **state)
{
    struct fixture *f = *state;
    struct sbx_sandbox_spec spec;
    struct sbx_sandbox_info info;
    struct sbx_exec_result r;
    struct sbx_err err = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    char root[128], expect[128], marker[160];
    int64_t start = 0;
    pid_t pid;
    int rc;

    if (!userns_available()) {
        print_message("skipped: not root and unprivileged user namespaces are off\n");
        skip();
        return;
    }
    snprintf(root, sizeof(root), "%s/image", f->dir);
    rc = host_sh("set -e; R=$1; mkdir -p $R/etc $R/bin; "
                 "for f in /bin/sh /bin/bash /bin/cat /bin/ls " SBX_TEST_SERVER_BIN "; do "
                 "  for l in $(ldd $f | grep -o '/[^ ]*'); do "
                 "    mkdir -p $R$(dirname $l); cp -L $l $R$l; done; done; "
                 "cp -L /bin/sh /bin/bash /bin/cat /bin/ls $R/bin/; echo image > $R/etc/marker; "
                 "echo root:x:0:0:root:/root:/bin/sh > $R/etc/passwd; echo root:x:0: > $R/etc/group",
                 root);
    assert_int_equal(rc, 0);
    memset(&spec, 0, sizeof(spec));
    spec.image = root;
    rc = sbx_provider_create(f->p, &spec, &info, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    assert_non_null(info.image);
    pid = (pid_t)init_pid(f, info.id, &start);
    memset(&r, 0, sizeof(r));
    run(f, info.id, "cat /etc/marker /etc/hostname; echo changed > /etc/marker; ls /workspace", &r);
    snprintf(expect, sizeof(expect), "image\n%s\n", info.id);
    assert_string_equal(r.out, expect);
    sbx_exec_result_release(&r);
    /* the image itself is a read-only lower layer */
    snprintf(marker, sizeof(marker), "%s/etc/marker", root);
    assert_int_equal(sbx_file_read(marker, &b), 0);
    assert_string_equal(b.ptr, "image\n");
    sbx_buf_free(&b);
    assert_int_equal(sbx_provider_remove(f->p, info.id, &err), 0);
    assert_gone(f, info.id, pid);
    sbx_sandbox_info_free(&info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_sandbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_socket_out_of_reach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_failure_cleans_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_without_err, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transfer_checks_the_inits_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
