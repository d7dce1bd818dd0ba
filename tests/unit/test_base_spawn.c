/* Tests for src/base/spawn.c: the error pipe reports {step, errno}, stdio
 * redirection, cwd and environment; no child is left behind. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/spawn.h"

static int wait_status(pid_t pid)
{
    int st = -1;
    pid_t r;

    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    return st;
}

/* Teardown: every child was reaped. */
static int no_children(void **state)
{
    (void)state;
    return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD ? 0 : -1;
}

/* Runs argv with stdio on a pipe; returns its output in out and the status. */
static int run_capture(struct sbx_spawn_opts *o, struct sbx_buf *out)
{
    struct sbx_err err = {0};
    char tmp[256];
    int p[2];
    pid_t pid;
    ssize_t n;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    o->stdio_fd = p[1];
    pid = sbx_spawn(o, &err);
    if (pid < 0)
        fail_msg("spawn: %s", err.msg);
    close(p[1]);
    while ((n = sbx_fd_read(p[0], tmp, sizeof(tmp))) > 0)
        assert_int_equal(sbx_buf_add(out, tmp, (size_t)n), 0);
    close(p[0]);
    return wait_status(pid);
}

static void test_true(void **state)
{
    char *argv[] = {"true", NULL};
    struct sbx_spawn_opts o = {.path = "/bin/true", .argv = argv, .stdio_fd = -1};
    struct sbx_err err = {0};
    pid_t pid;
    int st;

    (void)state;
    pid = sbx_spawn(&o, &err);
    assert_true(pid > 0);
    st = wait_status(pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_exec_enoent(void **state)
{
    char *argv[] = {"nope", NULL};
    struct sbx_spawn_opts o = {.path = "/nonexistent", .argv = argv, .stdio_fd = -1};
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(sbx_spawn(&o, &err), -ENOENT);
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, "exec"));
    assert_non_null(strstr(err.msg, "/nonexistent"));
    /* NULL err is allowed. */
    assert_int_equal(sbx_spawn(&o, NULL), -ENOENT);
}

static void test_exec_eacces(void **state)
{
    char *argv[] = {"tmp", NULL};
    struct sbx_spawn_opts o = {.path = "/tmp", .argv = argv, .stdio_fd = -1};
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(sbx_spawn(&o, &err), -EACCES);
    assert_non_null(strstr(err.msg, "exec"));
}

static void test_chdir_failure(void **state)
{
    char *argv[] = {"true", NULL};
    struct sbx_spawn_opts o = {
        .path = "/bin/true", .argv = argv, .stdio_fd = -1, .cwd = "/nonexistent-sbx-dir"};
    struct sbx_err err = {0};
    pid_t pid;

    (void)state;
    assert_int_equal(sbx_spawn(&o, &err), -ENOENT);
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, "chdir"));
    /* Optional: the child runs anyway. */
    o.cwd_optional = true;
    pid = sbx_spawn(&o, &err);
    assert_true(pid > 0);
    assert_int_equal(WEXITSTATUS(wait_status(pid)), 0);
}

static void test_stdio_redirect_and_cwd(void **state)
{
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; pwd", NULL};
    struct sbx_spawn_opts o = {.path = "/bin/sh", .argv = argv, .cwd = "/usr"};
    struct sbx_buf out = SBX_BUF_INIT;
    int st;

    (void)state;
    st = run_capture(&o, &out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(out.ptr, "out\nerr\n/usr\n");
    sbx_buf_free(&out);
}

static void test_envp_and_exit_code(void **state)
{
    char *argv[] = {"sh", "-c", "printf '%s|%s' \"$FOO\" \"${HOME-unset}\"; exit 3", NULL};
    char *envp[] = {"FOO=bar baz", NULL};
    struct sbx_spawn_opts o = {.path = "/bin/sh", .argv = argv, .envp = envp};
    struct sbx_buf out = SBX_BUF_INIT;
    int st;

    (void)state;
    st = run_capture(&o, &out);
    assert_int_equal(WEXITSTATUS(st), 3);
    assert_string_equal(out.ptr, "bar baz|unset");
    sbx_buf_free(&out);
}

static void test_signal_mask_reset(void **state)
{
    char *argv[] = {"sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status", NULL};
    struct sbx_spawn_opts o = {.path = "/bin/sh", .argv = argv};
    struct sbx_buf out = SBX_BUF_INIT;
    sigset_t set, old;
    void (*prev)(int);

    (void)state;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
    prev = signal(SIGUSR2, SIG_IGN);
    run_capture(&o, &out);
    signal(SIGUSR2, prev);
    sigprocmask(SIG_SETMASK, &old, NULL);
    /* grep is a child of sh, which inherits what sbx_spawn set up. */
    assert_non_null(strstr(out.ptr, "SigBlk:\t0000000000000000"));
    assert_null(strstr(out.ptr, "SigIgn:\t0000000000000800"));
    sbx_buf_free(&out);
}

static void test_dup_failure(void **state)
{
    char *argv[] = {"true", NULL};
    struct sbx_spawn_opts o = {.path = "/bin/true", .argv = argv, .stdio_fd = 1000};
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(fcntl(1000, F_GETFD), -1);
    assert_int_equal(sbx_spawn(&o, &err), -EBADF);
    assert_non_null(strstr(err.msg, "dup2"));
}

static void test_returns_once_exec_succeeded(void **state)
{
    char *argv[] = {"sleep", "10", NULL};
    struct sbx_spawn_opts o = {.path = "/bin/sleep", .argv = argv, .stdio_fd = -1};
    struct sbx_err err = {0};
    struct timespec a, b;
    pid_t pid;
    int st;

    (void)state;
    /* The error pipe is CLOEXEC: EOF comes at exec, not at exit. */
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid = sbx_spawn(&o, &err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(pid > 0);
    assert_true(b.tv_sec - a.tv_sec < 3);
    assert_int_equal(kill(pid, SIGKILL), 0);
    st = wait_status(pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_true, no_children),
        cmocka_unit_test_teardown(test_exec_enoent, no_children),
        cmocka_unit_test_teardown(test_exec_eacces, no_children),
        cmocka_unit_test_teardown(test_chdir_failure, no_children),
        cmocka_unit_test_teardown(test_stdio_redirect_and_cwd, no_children),
        cmocka_unit_test_teardown(test_envp_and_exit_code, no_children),
        cmocka_unit_test_teardown(test_signal_mask_reset, no_children),
        cmocka_unit_test_teardown(test_dup_failure, no_children),
        cmocka_unit_test_teardown(test_returns_once_exec_succeeded, no_children),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
