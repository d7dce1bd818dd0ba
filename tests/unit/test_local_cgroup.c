/* Tests for src/providers/local/cgroup.c, on the machine's real cgroups
 * (v1, v2 or hybrid): limits written, freezing stops a process, the memory
 * limit OOM-kills, the pids limit stops forks, kill_all empties the cgroups
 * and destroy removes them. Needs root; every test cleans up in its teardown
 * (kill, reap, remove) even when it fails. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "providers/local/cgroup.h"
#include "sbx/provider.h"

#define MAX_KIDS 4

struct fixture {
    char id[64];
    struct sbx_cgroup *cg;
    pid_t kids[MAX_KIDS];
    int nkids;
    int go[2];   /* the children wait for a byte here before doing anything */
    int out[2];  /* and report through this one */
    int hold[2]; /* nothing is ever written here: children block on it */
};

/* ---- helpers --------------------------------------------------------------- */

/* The mount point of the hierarchy holding ctrl (NULL: the v2 mount). */
static int find_mount(const char *ctrl, char *out, size_t n)
{
    struct sbx_buf b;
    char *save = NULL;
    int rc = -1;

    sbx_buf_init(&b, 0);
    assert_int_equal(sbx_file_read("/proc/self/mountinfo", &b), 0);
    for (char *line = strtok_r(b.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char mnt[512], fstype[64], super[512];
        const char *sep = strstr(line, " - ");

        if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %511s", fstype, super) != 2)
            continue;
        if (!ctrl && strcmp(fstype, "cgroup2") == 0) {
            snprintf(out, n, "%s", mnt);
            rc = 0;
            break;
        }
        if (ctrl && strcmp(fstype, "cgroup") == 0) {
            char pat[80], wrapped[520];

            /* super options: "rw,cpu,cpuacct": match a whole option */
            snprintf(pat, sizeof(pat), ",%s,", ctrl);
            snprintf(wrapped, sizeof(wrapped), ",%s,", super);
            if (strstr(wrapped, pat)) {
                snprintf(out, n, "%s", mnt);
                rc = 0;
                break;
            }
        }
    }
    sbx_buf_free(&b);
    return rc;
}

/* <mount>/sbx/<id>/<file> for the first of the v2 and v1 files that exists;
 * the v2 name is tried in the v2 hierarchy, the v1 name in ctrl's. */
static int cg_file(const struct fixture *f, const char *ctrl, const char *v2file,
                   const char *v1file, char *out, size_t n)
{
    char mnt[512];

    if (v2file && find_mount(NULL, mnt, sizeof(mnt)) == 0) {
        snprintf(out, n, "%s/sbx/%s/%s", mnt, f->id, v2file);
        if (access(out, F_OK) == 0)
            return 0;
    }
    if (v1file && find_mount(ctrl, mnt, sizeof(mnt)) == 0) {
        snprintf(out, n, "%s/sbx/%s/%s", mnt, f->id, v1file);
        if (access(out, F_OK) == 0)
            return 0;
    }
    return -1;
}

static bool has_cg_file(const struct fixture *f, const char *ctrl, const char *v2file,
                        const char *v1file)
{
    char path[1024];

    return cg_file(f, ctrl, v2file, v1file, path, sizeof(path)) == 0;
}

static void read_cg(const struct fixture *f, const char *ctrl, const char *v2file,
                    const char *v1file, char *out, size_t n)
{
    char path[1024];
    struct sbx_buf b;

    if (cg_file(f, ctrl, v2file, v1file, path, sizeof(path)) != 0)
        fail_msg("no %s/%s for controller %s", v2file ? v2file : "-", v1file ? v1file : "-", ctrl);
    sbx_buf_init(&b, 0);
    assert_int_equal(sbx_file_read(path, &b), 0);
    snprintf(out, n, "%s", b.ptr);
    sbx_buf_free(&b);
}

/* Every directory the sandbox could have. */
static int existing_dirs(const struct fixture *f)
{
    static const char *const ctrls[] = {NULL, "memory", "pids", "cpu", "freezer"};
    int found = 0;

    for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
        char mnt[512], path[1024];
        struct stat st;

        if (find_mount(ctrls[i], mnt, sizeof(mnt)) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/sbx/%s", mnt, f->id);
        if (stat(path, &st) == 0)
            found++;
    }
    return found;
}

static void wait_go(struct fixture *f)
{
    char c;

    close(f->go[1]);
    close(f->out[0]);
    if (sbx_fd_read(f->go[0], &c, 1) != 1)
        _exit(100);
}

/* Forks a child running fn after the go byte, and moves it into the
 * sandbox's cgroups before letting it go. */
static pid_t spawn(struct fixture *f, void (*fn)(struct fixture *))
{
    struct sbx_err err = {0};
    pid_t pid;

    assert_true(f->nkids < MAX_KIDS);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        wait_go(f);
        fn(f);
        _exit(0);
    }
    f->kids[f->nkids++] = pid;
    if (sbx_cgroup_add_pid(f->cg, pid, &err) != 0)
        fail_msg("add_pid: %s", err.msg);
    return pid;
}

static void go(struct fixture *f)
{
    assert_int_equal(sbx_fd_write_all(f->go[1], "g", 1), 0);
}

static int reap(struct fixture *f, pid_t pid)
{
    int st = -1;
    pid_t r;

    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    for (int i = 0; i < f->nkids; i++)
        if (f->kids[i] == pid)
            f->kids[i] = -1;
    return st;
}

static void create(struct fixture *f, int64_t mem, int64_t pids, int64_t cpu, unsigned *enf)
{
    struct sbx_cgroup_limits lim = {.memory_bytes = mem, .cpu_millis = cpu, .pids_max = pids};
    struct sbx_err err = {0};
    char note[512] = "x";

    f->cg = sbx_cgroup_create(f->id, &lim, enf, note, sizeof(note), &err);
    if (!f->cg)
        fail_msg("create: %s", err.msg);
    if (note[0])
        fail_msg("unexpected note as root: %s", note);
}

/* ---- fixture ------------------------------------------------------------------ */

static int up(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    unsigned char rnd[8];

    if (!f || getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -1;
    snprintf(f->id, sizeof(f->id), "test-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (pipe2(f->go, O_CLOEXEC) != 0 || pipe2(f->out, O_CLOEXEC) != 0 ||
        pipe2(f->hold, O_CLOEXEC) != 0)
        return -1;
    *state = f;
    return 0;
}

/* Kills and reaps whatever a test left, removes the cgroups and checks they
 * are gone. */
static int down(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    struct sbx_cgroup *cg;
    int rc = 0;

    sbx_cgroup_free(f->cg);
    cg = sbx_cgroup_open(f->id, &err);
    if (!cg)
        return -1;
    if (sbx_cgroup_kill_all(cg, &err) != 0) {
        print_error("teardown kill_all: %s\n", err.msg);
        rc = -1;
    }
    for (int i = 0; i < f->nkids; i++)
        if (f->kids[i] > 0)
            (void)waitpid(f->kids[i], NULL, 0);
    if (sbx_cgroup_destroy(cg, &err) != 0) {
        print_error("teardown destroy: %s\n", err.msg);
        rc = -1;
    }
    sbx_cgroup_free(cg);
    if (existing_dirs(f) != 0) {
        print_error("teardown: cgroups of %s left behind\n", f->id);
        rc = -1;
    }
    close(f->go[0]);
    close(f->go[1]);
    close(f->out[0]);
    close(f->out[1]);
    close(f->hold[0]);
    close(f->hold[1]);
    free(f);
    return rc;
}

static bool need_root(void)
{
    if (geteuid() == 0)
        return true;
    print_message("skipped: cgroup tests need root\n");
    return false;
}

/* ---- children --------------------------------------------------------------------- */

static void child_wait(struct fixture *f)
{
    char c;

    (void)sbx_fd_read(f->hold[0], &c, 1); /* until killed */
}

/* Writes a byte every millisecond: its progress is visible on out. */
static void child_count(struct fixture *f)
{
    const struct timespec ms = {0, 1000000};

    for (;;) {
        if (sbx_fd_write_all(f->out[1], "c", 1) != 0)
            _exit(1);
        nanosleep(&ms, NULL);
    }
}

static void child_hog(struct fixture *f)
{
    size_t n = (size_t)200 << 20;
    volatile char *p = malloc(n);

    (void)f;
    if (!p)
        _exit(2);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = 1;
    _exit(3); /* survived: the limit did not hold */
}

/* Forks until fork fails, reports {forks, errno}, then waits. */
static void child_forker(struct fixture *f)
{
    int res[2] = {0, 0};

    for (int i = 0; i < 1000; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            child_wait(f);
            _exit(0);
        }
        if (pid < 0) {
            res[1] = errno;
            break;
        }
        res[0]++;
    }
    (void)sbx_fd_write_all(f->out[1], res, sizeof(res));
    child_wait(f);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_limits_written(void **state)
{
    struct fixture *f = *state;
    unsigned enf = 0;
    char v[256];

    if (!need_root())
        skip();
    create(f, 64 << 20, 32, 500, &enf);
    assert_int_equal(enf, SBX_LIMIT_MEMORY | SBX_LIMIT_PIDS | SBX_LIMIT_CPU | SBX_LIMIT_FREEZE);
    spawn(f, child_wait);
    read_cg(f, "memory", "memory.max", "memory.limit_in_bytes", v, sizeof(v));
    assert_string_equal(v, "67108864\n");
    if (has_cg_file(f, "memory", NULL, "memory.memsw.limit_in_bytes")) {
        read_cg(f, "memory", NULL, "memory.memsw.limit_in_bytes", v, sizeof(v));
        assert_string_equal(v, "67108864\n");
    }
    if (has_cg_file(f, "memory", "memory.swap.max", NULL)) {
        read_cg(f, "memory", "memory.swap.max", NULL, v, sizeof(v));
        assert_string_equal(v, "0\n");
    }
    read_cg(f, "pids", "pids.max", "pids.max", v, sizeof(v));
    assert_string_equal(v, "32\n");
    if (has_cg_file(f, "cpu", "cpu.max", NULL)) {
        read_cg(f, "cpu", "cpu.max", NULL, v, sizeof(v));
        assert_string_equal(v, "50000 100000\n");
    } else {
        read_cg(f, "cpu", NULL, "cpu.cfs_quota_us", v, sizeof(v));
        assert_string_equal(v, "50000\n");
        read_cg(f, "cpu", NULL, "cpu.cfs_period_us", v, sizeof(v));
        assert_string_equal(v, "100000\n");
    }
    /* The child is in every one of them. */
    read_cg(f, "pids", "cgroup.procs", "cgroup.procs", v, sizeof(v));
    assert_int_equal(strtol(v, NULL, 10), f->kids[0]);
    read_cg(f, "memory", "cgroup.procs", "cgroup.procs", v, sizeof(v));
    assert_int_equal(strtol(v, NULL, 10), f->kids[0]);
}

static void test_no_limits_still_creates(void **state)
{
    struct fixture *f = *state;
    unsigned enf = 0;
    char v[256];

    if (!need_root())
        skip();
    create(f, 0, 0, 0, &enf);
    assert_true(enf & SBX_LIMIT_FREEZE);
    assert_true(existing_dirs(f) > 0);
    read_cg(f, "pids", "pids.max", "pids.max", v, sizeof(v));
    assert_string_equal(v, "max\n");
}

static void test_freeze_stops_progress(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    struct pollfd pfd;
    char buf[4096];
    char v[256];
    unsigned enf = 0;

    if (!need_root())
        skip();
    create(f, 0, 0, 0, &enf);
    spawn(f, child_count);
    go(f);
    assert_int_equal(sbx_fd_read(f->out[0], buf, 1), 1); /* it runs */
    assert_false(sbx_cgroup_frozen(f->cg));
    if (sbx_cgroup_freeze(f->cg, true, &err) != 0)
        fail_msg("freeze: %s", err.msg);
    assert_true(sbx_cgroup_frozen(f->cg));
    if (has_cg_file(f, "freezer", NULL, "freezer.state")) {
        read_cg(f, "freezer", NULL, "freezer.state", v, sizeof(v));
        assert_string_equal(v, "FROZEN\n");
    } else {
        read_cg(f, NULL, "cgroup.events", NULL, v, sizeof(v));
        assert_non_null(strstr(v, "frozen 1"));
    }
    /* Drain what was written before the freeze; then nothing more comes. */
    assert_int_equal(sbx_fd_set_nonblock(f->out[0], 1), 0);
    while (sbx_fd_read(f->out[0], buf, sizeof(buf)) > 0)
        ;
    pfd.fd = f->out[0];
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 200), 0);
    if (sbx_cgroup_freeze(f->cg, false, &err) != 0)
        fail_msg("thaw: %s", err.msg);
    assert_false(sbx_cgroup_frozen(f->cg));
    assert_int_equal(sbx_fd_set_nonblock(f->out[0], 0), 0);
    assert_int_equal(sbx_fd_read(f->out[0], buf, 1), 1); /* it runs again */
}

static void test_memory_limit_oom_kills(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    int64_t kills = -1;
    unsigned enf = 0;
    pid_t pid;
    int st;

    if (!need_root())
        skip();
    create(f, 64 << 20, 0, 0, &enf);
    assert_true(enf & SBX_LIMIT_MEMORY);
    if (sbx_cgroup_oom_kills(f->cg, &kills, &err) != 0)
        fail_msg("oom_kills: %s", err.msg);
    assert_int_equal(kills, 0);
    pid = spawn(f, child_hog);
    go(f);
    st = reap(f, pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    if (sbx_cgroup_oom_kills(f->cg, &kills, &err) != 0)
        fail_msg("oom_kills: %s", err.msg);
    assert_true(kills >= 1);
}

static void test_memory_bytes(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    int64_t bytes = -1;
    unsigned enf = 0;

    if (!need_root())
        skip();
    create(f, 0, 0, 0, &enf);
    if (sbx_cgroup_memory_bytes(f->cg, &bytes, &err) != 0)
        fail_msg("memory_bytes: %s", err.msg);
    assert_true(bytes >= 0);
}

static void test_pids_limit_stops_forks(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    unsigned enf = 0;
    int res[2] = {-1, -1};
    char v[256];

    if (!need_root())
        skip();
    create(f, 0, 32, 0, &enf);
    assert_true(enf & SBX_LIMIT_PIDS);
    spawn(f, child_forker);
    go(f);
    assert_int_equal(sbx_fd_read(f->out[0], res, sizeof(res)), (ssize_t)sizeof(res));
    assert_int_equal(res[1], EAGAIN);
    assert_int_equal(res[0], 31); /* the forker itself is the 32nd */
    /* kill_all empties the cgroups, grandchildren included. */
    if (sbx_cgroup_kill_all(f->cg, &err) != 0)
        fail_msg("kill_all: %s", err.msg);
    read_cg(f, "pids", "cgroup.procs", "cgroup.procs", v, sizeof(v));
    assert_string_equal(v, "");
    assert_true(WIFSIGNALED(reap(f, f->kids[0])));
}

static void test_kill_all_frozen(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    unsigned enf = 0;
    char v[256];
    pid_t a, b;

    if (!need_root())
        skip();
    create(f, 0, 0, 0, &enf);
    a = spawn(f, child_wait);
    b = spawn(f, child_count);
    go(f);
    go(f);
    if (sbx_cgroup_freeze(f->cg, true, &err) != 0)
        fail_msg("freeze: %s", err.msg);
    /* Frozen tasks die only once thawed: kill_all thaws. */
    if (sbx_cgroup_kill_all(f->cg, &err) != 0)
        fail_msg("kill_all: %s", err.msg);
    assert_false(sbx_cgroup_frozen(f->cg));
    read_cg(f, "memory", "cgroup.procs", "cgroup.procs", v, sizeof(v));
    assert_string_equal(v, "");
    read_cg(f, "freezer", "cgroup.procs", "cgroup.procs", v, sizeof(v));
    assert_string_equal(v, "");
    assert_int_equal(WTERMSIG(reap(f, a)), SIGKILL);
    assert_int_equal(WTERMSIG(reap(f, b)), SIGKILL);
    if (sbx_cgroup_destroy(f->cg, &err) != 0)
        fail_msg("destroy: %s", err.msg);
    assert_int_equal(existing_dirs(f), 0);
}

static void test_destroy_busy(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    unsigned enf = 0;

    if (!need_root())
        skip();
    create(f, 0, 0, 0, &enf);
    spawn(f, child_wait);
    assert_int_equal(sbx_cgroup_destroy(f->cg, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "processes are still in it"));
}

/* A later process finds the cgroups by id alone. */
static void test_open_existing(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    struct sbx_cgroup *cg;
    int64_t kills = -1;
    unsigned enf = 0;
    char v[256];

    if (!need_root())
        skip();
    create(f, 64 << 20, 16, 0, &enf);
    sbx_cgroup_free(f->cg);
    f->cg = NULL;
    cg = sbx_cgroup_open(f->id, &err);
    assert_non_null(cg);
    f->cg = cg;
    spawn(f, child_wait);
    read_cg(f, "pids", "cgroup.procs", "cgroup.procs", v, sizeof(v));
    assert_int_equal(strtol(v, NULL, 10), f->kids[0]);
    assert_int_equal(sbx_cgroup_oom_kills(cg, &kills, &err), 0);
    assert_int_equal(kills, 0);
    assert_int_equal(sbx_cgroup_freeze(cg, true, &err), 0);
    assert_true(sbx_cgroup_frozen(cg));
    assert_int_equal(sbx_cgroup_freeze(cg, false, &err), 0);
}

static void test_open_missing(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    int64_t n = 0;

    f->cg = sbx_cgroup_open(f->id, &err);
    assert_non_null(f->cg);
    assert_false(sbx_cgroup_frozen(f->cg));
    assert_int_equal(sbx_cgroup_freeze(f->cg, true, &err), -ENOTSUP);
    assert_int_equal(sbx_cgroup_oom_kills(f->cg, &n, &err), -ENOTSUP);
    assert_int_equal(sbx_cgroup_kill_all(f->cg, &err), 0);
    assert_int_equal(sbx_cgroup_destroy(f->cg, &err), 0);
}

static void test_invalid_id(void **state)
{
    struct sbx_err err = {0};
    unsigned enf = 7;

    (void)state;
    assert_null(sbx_cgroup_create("../etc", NULL, &enf, NULL, 0, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_null(sbx_cgroup_create("", NULL, &enf, NULL, 0, &err));
    assert_null(sbx_cgroup_create("..", NULL, &enf, NULL, 0, &err));
}

/* Without write access nothing fails: the bits are cleared and the note
 * says what is not enforced and why. */
static void test_unprivileged_note(void **state)
{
    struct fixture *f = *state;
    int st = -1;
    pid_t pid;

    if (!need_root())
        skip();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sbx_cgroup_limits lim = {.memory_bytes = 1 << 30, .pids_max = 100};
        struct sbx_err err = {0};
        char note[512] = "";
        unsigned enf = 99;
        struct sbx_cgroup *cg;

        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(1);
        cg = sbx_cgroup_create(f->id, &lim, &enf, note, sizeof(note), &err);
        if (!cg)
            _exit(2);
        sbx_cgroup_free(cg);
        if (enf & (SBX_LIMIT_MEMORY | SBX_LIMIT_PIDS))
            _exit(3);
        if (!strstr(note, "memory") || !strstr(note, "pids") || !strstr(note, "not enforced: ") ||
            !strstr(note, "is not writable by uid 65534"))
            _exit(4);
        if (strstr(note, "cpu")) /* not requested, so not mentioned */
            _exit(5);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, up, down)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_limits_written),
        T(test_no_limits_still_creates),
        T(test_freeze_stops_progress),
        T(test_memory_limit_oom_kills),
        T(test_memory_bytes),
        T(test_pids_limit_stops_forks),
        T(test_kill_all_frozen),
        T(test_destroy_busy),
        T(test_open_existing),
        T(test_open_missing),
        T(test_invalid_id),
        T(test_unprivileged_note),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
