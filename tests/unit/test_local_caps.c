/* Tests for src/providers/local/caps.c: after sbx_caps_restrict a process
 * holds exactly Docker's default capabilities, none ambient, and has
 * no_new_privs; it keeps them across exec. Runs in forked children so that
 * the test process keeps its own capabilities. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/local/caps.h"

#define DOCKER_MASK 0x00000000a80425fbULL

/* Exit codes of the child: 0 ok, else the step that failed. */
enum {
    STEP_OK,
    STEP_RESTRICT,
    STEP_STATUS,
    STEP_BND,
    STEP_EFF,
    STEP_PRM,
    STEP_INH,
    STEP_AMB,
    STEP_NNP
};

static int read_status(const char *key, unsigned long long *v)
{
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    const char *p;

    if (fd < 0)
        return -1;
    while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    p = strstr(buf, key);
    if (!p)
        return -1;
    *v = strtoull(p + strlen(key), NULL, 16);
    return 0;
}

static int child_check(void)
{
    unsigned long long v = 0;

    if (sbx_caps_restrict() != 0)
        return STEP_RESTRICT;
    if (read_status("CapBnd:\t", &v) != 0)
        return STEP_STATUS;
    if (v != DOCKER_MASK)
        return STEP_BND;
    if (read_status("CapEff:\t", &v) != 0 || v != DOCKER_MASK)
        return STEP_EFF;
    if (read_status("CapPrm:\t", &v) != 0 || v != DOCKER_MASK)
        return STEP_PRM;
    if (read_status("CapInh:\t", &v) != 0 || v != DOCKER_MASK)
        return STEP_INH;
    if (read_status("CapAmb:\t", &v) != 0 || v != 0)
        return STEP_AMB;
    /* NoNewPrivs is decimal, 0 or 1: hex parsing reads the same. */
    if (read_status("NoNewPrivs:\t", &v) != 0 || v != 1)
        return STEP_NNP;
    return STEP_OK;
}

static int run_child(int (*fn)(void))
{
    int st = -1;
    pid_t r;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_restrict_sets_docker_caps(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(run_child(child_check), STEP_OK);
}

/* Capabilities survive exec for uid 0 (the sandbox's root), and no more. */
static int child_exec(void)
{
    int p[2];
    char buf[256] = {0};
    ssize_t n;
    int st = -1;
    size_t len = 0;
    pid_t pid;

    if (sbx_caps_restrict() != 0)
        return 1;
    if (pipe2(p, O_CLOEXEC) != 0)
        return 2;
    pid = fork();
    if (pid < 0)
        return 3;
    if (pid == 0) {
        dup2(p[1], 1);
        execl("/bin/grep", "grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 4;
    if (strcmp(buf, "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n") != 0)
        return 5;
    return 0;
}

static void test_caps_survive_exec(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(run_child(child_exec), 0);
}

/* Without privileges the bounding set cannot be dropped: an error, not a
 * silent success. */
static int child_unprivileged(void)
{
    if (setresuid(65534, 65534, 65534) != 0)
        return 1;
    return sbx_caps_restrict() == -EPERM ? 0 : 2;
}

static void test_unprivileged_fails(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(run_child(child_unprivileged), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restrict_sets_docker_caps),
        cmocka_unit_test(test_caps_survive_exec),
        cmocka_unit_test(test_unprivileged_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
