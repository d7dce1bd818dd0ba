/* Tests for src/providers/local/seccomp.c: in a forked child that loaded the
 * filter, the calls that reach beyond the sandbox fail with EPERM, clone3
 * with ENOSYS, and what a shell needs (fork, exec, ptys, harmless unshare and
 * personality calls) still works. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pty.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/local/seccomp.h"

/* Each check returns 0 or its own number, which the child exits with.
 * Without the filter every refused call would fail differently (ENOENT,
 * EINVAL, EBADF), so none of them can pass by accident or do harm. */
enum {
    C_OK,
    C_LOAD,
    C_MOUNT,
    C_UNSHARE_USER,
    C_UNSHARE_NET,
    C_UNSHARE_FILES,
    C_KEYCTL,
    C_CLONE3,
    C_CLONE_NEWPID,
    C_FORK_EXEC,
    C_OPENPTY,
    C_PERSONALITY_BAD,
    C_PERSONALITY_OK,
    C_PERSONALITY_QUERY,
    C_SETNS,
    C_BPF,
    C_UMOUNT,
};

static int fails_with(long r, int want)
{
    return r == -1 && errno == want;
}

static int run_true(void)
{
    int st = -1;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(126);
    }
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int checks(const struct sbx_seccomp *s)
{
    struct clone_args ca = {.flags = 0, .exit_signal = SIGCHLD};
    int master = -1;
    int slave = -1;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0 || sbx_seccomp_load(s) != 0)
        return C_LOAD;
    if (!fails_with(mount("none", "/nonexistent-sbx-test", "tmpfs", 0, NULL), EPERM))
        return C_MOUNT;
    if (!fails_with(umount2("/nonexistent-sbx-test", 0), EPERM))
        return C_UMOUNT;
    if (!fails_with(unshare(CLONE_NEWUSER), EPERM))
        return C_UNSHARE_USER;
    if (!fails_with(unshare(CLONE_NEWNET | CLONE_FILES), EPERM))
        return C_UNSHARE_NET;
    /* Flags without a namespace stay allowed. */
    if (unshare(CLONE_FILES) != 0)
        return C_UNSHARE_FILES;
    if (!fails_with(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0), EPERM))
        return C_KEYCTL;
    if (!fails_with(syscall(SYS_clone3, &ca, sizeof(ca)), ENOSYS))
        return C_CLONE3;
    if (!fails_with(syscall(SYS_clone, CLONE_NEWPID | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0), EPERM))
        return C_CLONE_NEWPID;
    if (!fails_with(syscall(SYS_setns, 0, 0), EPERM))
        return C_SETNS;
    if (!fails_with(syscall(SYS_bpf, 0, NULL, 0), EPERM))
        return C_BPF;
    if (run_true() != 0)
        return C_FORK_EXEC;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        return C_OPENPTY;
    close(master);
    close(slave);
    if (!fails_with(personality(READ_IMPLIES_EXEC), EPERM) ||
        !fails_with(personality(ADDR_NO_RANDOMIZE), EPERM) ||
        !fails_with(personality(0x7), EPERM) || !fails_with(personality(0xfffffffe), EPERM))
        return C_PERSONALITY_BAD;
    if (personality(PER_LINUX) < 0 || personality(PER_LINUX32) < 0 || personality(PER_LINUX) < 0)
        return C_PERSONALITY_OK;
    if (personality(0xffffffff) != PER_LINUX)
        return C_PERSONALITY_QUERY;
    return C_OK;
}

static void test_filter_in_child(void **state)
{
    struct sbx_err err = {0};
    struct sbx_seccomp *s = sbx_seccomp_new(&err);
    int st = -1;
    pid_t pid;

    (void)state;
    if (!s)
        fail_msg("sbx_seccomp_new: %s", err.msg);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(checks(s));
    assert_int_equal(waitpid(pid, &st, 0), pid);
    sbx_seccomp_free(s);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), C_OK);
}

/* The parent is untouched: the same calls still reach the kernel. */
static void test_parent_unaffected(void **state)
{
    struct sbx_seccomp *s = sbx_seccomp_new(NULL);
    struct clone_args ca = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    long r;

    (void)state;
    assert_non_null(s);
    sbx_seccomp_free(s);
    /* clone3 with an invalid size is refused by the kernel with EINVAL,
     * not ENOSYS: the filter was never installed here. */
    r = syscall(SYS_clone3, &ca, (size_t)1);
    assert_int_equal(r, -1);
    assert_int_equal(errno, EINVAL);
}

static void test_free_null(void **state)
{
    (void)state;
    sbx_seccomp_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_in_child),
        cmocka_unit_test(test_parent_unaffected),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
