/* Tests for src/providers/local/fs.c: removing a sandbox directory (deep,
 * unreadable, with symlinks out), pid start times, killing and waiting. */
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
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/local/local.h"

static void test_rmtree(void **state)
{
    char top[] = "/tmp/sbx-fs-XXXXXX";
    char keep[] = "/tmp/sbx-keep-XXXXXX";
    char path[8192], kept[128];
    size_t len;
    int i, fd;

    (void)state;
    assert_non_null(mkdtemp(top));
    assert_non_null(mkdtemp(keep));
    snprintf(kept, sizeof(kept), "%s/precious", keep);
    fd = open(kept, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    /* deeper than the walk descends at once */
    len = (size_t)snprintf(path, sizeof(path), "%s", top);
    for (i = 0; i < 100; i++) {
        len += (size_t)snprintf(path + len, sizeof(path) - len, "/d");
        assert_int_equal(mkdir(path, 0755), 0);
    }
    snprintf(path + len, sizeof(path) - len, "/f");
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    /* a symlink to a directory outside is removed, not followed */
    snprintf(path, sizeof(path), "%s/out", top);
    assert_int_equal(symlink(keep, path), 0);
    /* overlay's work/work: mode 000, with something inside */
    snprintf(path, sizeof(path), "%s/w", top);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/w/work", top);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/w/work/x", top);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/w/work", top);
    assert_int_equal(chmod(path, 0), 0);

    assert_int_equal(sbx__local_rmtree(top), 0);
    assert_int_not_equal(access(top, F_OK), 0);
    assert_int_equal(access(kept, F_OK), 0);
    assert_int_equal(sbx__local_rmtree(top), 0); /* already gone */
    assert_int_equal(unlink(kept), 0);
    assert_int_equal(rmdir(keep), 0);
}

static void test_pid_start_and_kill(void **state)
{
    int64_t a = 0, b = 0;
    pid_t pid;
    int st;

    (void)state;
    assert_int_equal(sbx__local_pid_start(getpid(), &a), 0);
    assert_true(a > 0);
    assert_int_equal(sbx__local_pid_start(getpid(), &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(sbx__local_pid_start(0, &a), -ESRCH);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* dies with the test: left behind, it holds ctest's pipe open */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pause();
        _exit(0);
    }
    assert_int_equal(sbx__local_pid_start(pid, &a), 0);
    /* it is the start time in clock ticks since boot: not past now */
    {
        struct timespec up;

        assert_int_equal(clock_gettime(CLOCK_BOOTTIME, &up), 0);
        assert_true(a <= ((int64_t)up.tv_sec + 1) * sysconf(_SC_CLK_TCK));
    }
    /* and it does not move as the process allocates (field 23, the
     * virtual size, was read before, and a live sandbox was seen dead) */
    {
        int64_t before = 0, after = 0;
        void *big;

        assert_int_equal(sbx__local_pid_start(getpid(), &before), 0);
        big = mmap(NULL, 256 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(big != MAP_FAILED);
        assert_int_equal(sbx__local_pid_start(getpid(), &after), 0);
        munmap(big, 256 << 20);
        assert_int_equal(before, after);
    }
    /* a start time that is not the process's: it is left alone */
    assert_int_equal(sbx__local_kill_wait(pid, a + 1), 0);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(sbx__local_kill_wait(pid, a), 0);
    /* it has exited: a zombie does not count as running */
    assert_int_equal(sbx__local_pid_start(pid, &b), -ESRCH);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(sbx__local_kill_wait(pid, a), 0);
}

static void test_wait_server_init_gone(void **state)
{
    char dir[] = "/tmp/sbx-ws-XXXXXX";
    struct sbx_err err = {0};
    pid_t pid;

    (void)state;
    assert_non_null(mkdtemp(dir));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    /* the "init" exits without a server socket ever appearing */
    assert_int_equal(sbx__local_wait_server(dir, pid, 60000, &err), -EPIPE);
    assert_non_null(strstr(err.msg, "server.log"));
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_int_equal(sbx__local_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmtree),
        cmocka_unit_test(test_pid_start_and_kill),
        cmocka_unit_test(test_wait_server_init_gone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
