/*
 * src/runtime/runtime.c on the local provider: open (create or attach),
 * bootstrap, wait for /alive, act, and close with each mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rt_fixture.h"
#include "runtime/internal.h"
#include "sbx/runtime.h"

struct fx {
    char *state_dir;
    char lines[4096]; /* progress lines, one per line */
};

static int up(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    f->state_dir = make_tmpdir();
    if (!f->state_dir)
        return -1;
    *state = f;
    return 0;
}

static int count_sandboxes(struct fx *f)
{
    struct sbx_provider_config cfg = {.state_dir = f->state_dir,
                                      .server_bin = SBX_TEST_SERVER_BIN};
    struct sbx_err err = {0};
    struct sbx_provider *p = sbx_provider_open("local", &cfg, &err);
    struct sbx_sandbox_info *infos = NULL;
    int n;

    if (!p)
        fail_msg("sbx_provider_open: %s", err.msg);
    n = sbx_provider_list(p, NULL, &infos, &err);
    if (n < 0)
        fail_msg("sbx_provider_list: %s", err.msg);
    sbx_sandbox_info_array_free(infos, (size_t)n);
    sbx_provider_close(p);
    return n;
}

static int down(void **state)
{
    struct fx *f = *state;

    /* Every test removes what it made. */
    assert_int_equal(count_sandboxes(f), 0);
    rmrf(f->state_dir);
    free(f->state_dir);
    free(f);
    return 0;
}

static void on_progress(const char *line, void *ud)
{
    struct fx *f = ud;
    size_t len = strlen(f->lines);

    snprintf(f->lines + len, sizeof(f->lines) - len, "%s\n", line);
}

static struct sbx_runtime_opts opts_for(struct fx *f)
{
    struct sbx_runtime_opts o = {
        .provider = "local",
        .provider_config = {.state_dir = f->state_dir, .server_bin = SBX_TEST_SERVER_BIN},
        .alive_timeout_ms = 60000,
        .progress = on_progress,
        .progress_ud = f,
    };

    return o;
}

static struct sbx_runtime *open_rt(const struct sbx_runtime_opts *o)
{
    struct sbx_err err = {0};
    struct sbx_runtime *rt = sbx_runtime_open(o, &err);

    if (!rt)
        fail_msg("sbx_runtime_open: %s", err.msg);
    return rt;
}

static char *run(struct sbx_runtime *rt, const char *cmd, int64_t *exit_code)
{
    struct sbx_obs *obs = NULL;
    struct sbx_err err = {0};
    char *out;

    if (sbx_runtime_run(rt, cmd, 30000, &obs, &err) < 0)
        fail_msg("run %s: %s", cmd, err.msg);
    assert_int_equal(obs->kind, SBX_OBS_RUN);
    if (exit_code)
        *exit_code = obs->u.run.metadata.exit_code;
    out = strdup(obs->content);
    sbx_obs_free(obs);
    return out;
}

static void test_create_run_delete(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_runtime *rt;
    struct sbx_err err = {0};
    int64_t code = -1;
    char *out;

    rt = open_rt(&o);
    assert_non_null(sbx_runtime_sandbox_id(rt));
    assert_non_null(sbx_runtime_provider(rt));
    assert_non_null(strstr(f->lines, "creating sandbox"));
    assert_non_null(strstr(f->lines, "waiting for sbx-server"));
    out = run(rt, "echo hello from inside", &code);
    assert_string_equal(out, "hello from inside");
    assert_int_equal(code, 0);
    free(out);
    out = run(rt, "exit_code_test() { return 7; }; exit_code_test", &code);
    assert_int_equal(code, 7);
    free(out);
    assert_int_equal(count_sandboxes(f), 1);
    assert_int_equal(sbx_runtime_close(rt, SBX_CLOSE_DELETE, &err), 0);
}

/* Actions keep the sandbox alive: the provider is asked about it when the
 * last touch is SBX__RT_TOUCH_MS old, and not on every action. */
static void test_actions_touch_the_provider(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_runtime *rt;
    struct sbx_err err = {0};
    int64_t touched;
    char *out;

    rt = open_rt(&o);
    touched = rt->touched_ms;
    assert_true(touched > 0); /* the open counts as a touch */
    out = run(rt, "true", NULL);
    free(out);
    assert_int_equal(rt->touched_ms, touched); /* too soon for another */
    rt->touched_ms -= SBX__RT_TOUCH_MS;        /* as if a minute had passed */
    out = run(rt, "true", NULL);
    free(out);
    assert_true(rt->touched_ms > touched - SBX__RT_TOUCH_MS);
    assert_int_equal(sbx_runtime_close(rt, SBX_CLOSE_DELETE, &err), 0);
}

static void test_attach_keeps_session(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_runtime *rt;
    struct sbx_err err = {0};
    char *id, *out;

    /* attach + create_if_missing: made with that name. */
    o.attach = "keeper";
    o.create_if_missing = true;
    rt = open_rt(&o);
    id = strdup(sbx_runtime_sandbox_id(rt));
    free(run(rt, "cd /tmp && export SBX_T=kept", NULL));
    assert_int_equal(sbx_runtime_close(rt, SBX_CLOSE_KEEP, &err), 0);
    assert_int_equal(count_sandboxes(f), 1);
    /* Attach by name: the same sandbox, and its bash session persists. */
    o.create_if_missing = false;
    rt = open_rt(&o);
    assert_string_equal(sbx_runtime_sandbox_id(rt), id);
    out = run(rt, "echo $(pwd) $SBX_T", NULL);
    assert_string_equal(out, "/tmp kept");
    free(out);
    /* Pause on close; attaching resumes it. */
    assert_int_equal(sbx_runtime_close(rt, SBX_CLOSE_PAUSE, &err), 0);
    f->lines[0] = '\0';
    o.attach = id;
    rt = open_rt(&o);
    assert_non_null(strstr(f->lines, "resuming sandbox"));
    out = run(rt, "echo $SBX_T", NULL);
    assert_string_equal(out, "kept");
    free(out);
    assert_int_equal(sbx_runtime_close(rt, SBX_CLOSE_DELETE, &err), 0);
    free(id);
}

/* The host pid of a sandbox's init: the process of its cgroup that is pid 1
 * in its own pid namespace. */
static pid_t init_pid(const char *id)
{
    DIR *dp = opendir("/proc");
    struct dirent *de;
    char want[128], p[300];
    pid_t found = 0;

    snprintf(want, sizeof(want), "/%s", id);
    while (dp && !found && (de = readdir(dp))) {
        char *cg, *st, *ns;

        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(p, sizeof(p), "/proc/%s/cgroup", de->d_name);
        cg = read_text(p);
        snprintf(p, sizeof(p), "/proc/%s/status", de->d_name);
        st = read_text(p);
        ns = st ? strstr(st, "\nNSpid:") : NULL;
        if (cg && ns && strstr(cg, want)) {
            char *end = strchr(ns + 1, '\n');
            char *last;

            if (end)
                *end = '\0';
            last = strrchr(ns, '\t');
            if (last && strcmp(last + 1, "1") == 0 && last != strchr(ns, '\t'))
                found = (pid_t)strtol(de->d_name, NULL, 10);
        }
        free(cg);
        free(st);
    }
    if (dp)
        closedir(dp);
    return found;
}

static void test_attach_dead(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_runtime *rt;
    struct sbx_provider *p;
    struct sbx_sandbox_info info = {0};
    struct sbx_err err = {0};
    char *id;
    pid_t pid;
    int i;

    rt = open_rt(&o);
    id = strdup(sbx_runtime_sandbox_id(rt));
    assert_int_equal(sbx_runtime_close(rt, SBX_CLOSE_KEEP, &err), 0);
    pid = init_pid(id);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    p = sbx_provider_open("local", &o.provider_config, &err);
    assert_non_null(p);
    /* Until the provider notices (bounded, so a bug cannot hang the suite). */
    for (i = 0; i < 600; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};

        assert_int_equal(sbx_provider_get(p, id, &info, &err), 0);
        if (info.state == SBX_SANDBOX_DEAD)
            break;
        sbx_sandbox_info_free(&info);
        nanosleep(&ts, NULL);
    }
    assert_int_equal(info.state, SBX_SANDBOX_DEAD);
    sbx_sandbox_info_free(&info);
    o.attach = id;
    assert_null(sbx_runtime_open(&o, &err));
    assert_int_equal(err.code, -EPIPE);
    assert_non_null(strstr(err.msg, "is dead"));
    assert_non_null(strstr(err.msg, "sbx rm "));
    assert_int_equal(sbx_provider_remove(p, id, &err), 0);
    sbx_provider_close(p);
    free(id);
}

static void test_attach_missing(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_err err = {0};

    o.attach = "nobody-here";
    assert_null(sbx_runtime_open(&o, &err));
    assert_int_equal(err.code, -ENOENT);
}

static void test_unknown_provider(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_err err = {0};

    o.provider = "no-such-provider";
    assert_null(sbx_runtime_open(&o, &err));
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, "no-such-provider"));
}

/* A server that never listens: the open fails and leaves no sandbox
 * (down() checks that none is left). */
static void test_failed_open_removes_sandbox(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_err err = {0};

    o.provider_config.server_bin = "/bin/true";
    o.alive_timeout_ms = 300;
    assert_null(sbx_runtime_open(&o, &err));
    assert_true(err.code < 0);
}

/* The sandbox is made, then the bootstrap fails (sbx-server refuses a
 * relative working directory): the open fails and removes the sandbox. */
static void test_failed_bootstrap_removes_sandbox(void **state)
{
    struct fx *f = *state;
    struct sbx_runtime_opts o = opts_for(f);
    struct sbx_err err = {0};

    o.server.working_dir = "relative/dir";
    assert_null(sbx_runtime_open(&o, &err));
    assert_true(err.code < 0);
    assert_non_null(strstr(err.msg, "bootstrap"));
    assert_non_null(strstr(f->lines, "starting sbx-server"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_run_delete, up, down),
        cmocka_unit_test_setup_teardown(test_actions_touch_the_provider, up, down),
        cmocka_unit_test_setup_teardown(test_attach_keeps_session, up, down),
        cmocka_unit_test_setup_teardown(test_attach_dead, up, down),
        cmocka_unit_test_setup_teardown(test_attach_missing, up, down),
        cmocka_unit_test_setup_teardown(test_unknown_provider, up, down),
        cmocka_unit_test_setup_teardown(test_failed_open_removes_sandbox, up, down),
        cmocka_unit_test_setup_teardown(test_failed_bootstrap_removes_sandbox, up, down),
    };
    int fds, rc;

    signal(SIGPIPE, SIG_IGN);
    fds = count_fds();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (count_fds() != fds) {
        fprintf(stderr, "descriptors leaked: %d before, %d after\n", fds, count_fds());
        return 1;
    }
    return rc;
}
