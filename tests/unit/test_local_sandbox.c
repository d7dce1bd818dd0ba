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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
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
    memcpy(f->dir, "/tmp/sbx-local-XXXXXX", 22);
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

    /* the host's /root is hidden; /etc/shadow has no password hashes */
    run(f, info.id, "ls -A /root | wc -l; cut -d: -f2 /etc/shadow | sort -u", &r);
    assert_int_equal(r.exit_code, 0);
    assert_true(!strcmp(r.out, "0\n*\n") || !strcmp(r.out, "0\n"));
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
    } else {
        assert_int_equal(rc, -ENOTSUP);
    }
    assert_int_equal(sbx_provider_get(f->p, info.id, &got, &err), 0);
    assert_int_equal(got.state, SBX_SANDBOX_RUNNING);
    sbx_sandbox_info_free(&got);

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
        skip();
        return;
    }
    memset(&spec, 0, sizeof(spec));
    spec.network = SBX_NETWORK_NONE;
    rc = sbx_provider_create(f->p, &spec, &info, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    /* no network: loopback only */
    memset(&r, 0, sizeof(r));
    run(f, info.id, "ls /sys/class/net", &r);
    assert_string_equal(r.out, "lo\n");
    sbx_exec_result_release(&r);
    {
        char *url = NULL;

        assert_int_equal(sbx_provider_port_url(f->p, info.id, 8080, &url, &err), -ENOTSUP);
        assert_null(url);
    }
    /* its init dies: the sandbox reads dead, and rm cleans up */
    pid = (pid_t)init_pid(f, info.id, &start);
    assert_int_equal(kill(pid, SIGKILL), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_sandbox, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
