/* Tests for src/cli/cli_util.c: the JSON form of a sandbox, the exit codes
 * of libsbx errnos, the limit warnings and the usage/failure messages. The
 * CLI is an executable, so its sources are included here. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli_opts.c"
#include "cli/cli_util.c"

static void test_info_json(void **state)
{
    char *labels[] = {"team=ml", "empty=", "eq=a=b"};
    struct sbx_sandbox_info in = {
        .id = "0123456789ab",
        .provider = "local",
        .state = SBX_SANDBOX_PAUSED,
        .created_ms = 1795800000123,
        .labels = labels,
        .n_labels = 3,
        .memory_bytes = 1 << 30,
        .cpu_millis = 500,
        .pids_max = 64,
        .enforced = SBX_LIMIT_MEMORY | SBX_LIMIT_FREEZE,
        .network = SBX_NETWORK_NONE,
        .note = "cpu: no cpu controller",
    };
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_cli_info_json(&in, &b), 0);
    assert_string_equal(
        b.ptr, "{\"id\":\"0123456789ab\",\"name\":null,\"provider\":\"local\",\"state\":\"paused\","
               "\"created_ms\":1795800000123,\"labels\":{\"team\":\"ml\",\"empty\":\"\",\"eq\":"
               "\"a=b\"},\"memory_bytes\":1073741824,\"cpu_millis\":500,\"pids_max\":64,"
               "\"enforced\":[\"memory\",\"freeze\"],\"network\":\"none\",\"image\":null,"
               "\"note\":\"cpu: no cpu controller\"}");
    sbx_buf_free(&b);
    in.name = "dev";
    in.image = "/srv/root";
    in.note = NULL;
    in.n_labels = 0;
    in.enforced = 0;
    in.network = SBX_NETWORK_HOST;
    in.state = SBX_SANDBOX_DEAD;
    assert_int_equal(sbx_cli_info_json(&in, &b), 0);
    assert_non_null(strstr(b.ptr, "\"name\":\"dev\""));
    assert_non_null(strstr(b.ptr, "\"state\":\"dead\""));
    assert_non_null(strstr(b.ptr, "\"labels\":{}"));
    assert_non_null(strstr(b.ptr, "\"enforced\":[]"));
    assert_non_null(strstr(b.ptr, "\"network\":\"host\",\"image\":\"/srv/root\",\"note\":null}"));
    sbx_buf_free(&b);
}

static void test_exit_for(void **state)
{
    (void)state;
    assert_int_equal(sbx_cli_exit_for(-ENOENT), SBX_EXIT_FAILED);
    assert_int_equal(sbx_cli_exit_for(-EPIPE), SBX_EXIT_FAILED);
    assert_int_equal(sbx_cli_exit_for(-EEXIST), SBX_EXIT_FAILED);
    assert_int_equal(sbx_cli_exit_for(-EINVAL), SBX_EXIT_FAILED);
    assert_int_equal(sbx_cli_exit_for(-EAGAIN), SBX_EXIT_FAILED);
    assert_int_equal(sbx_cli_exit_for(-ENOTSUP), SBX_EXIT_FAILED);
    assert_int_equal(sbx_cli_exit_for(-EIO), SBX_EXIT_INFRA);
    assert_int_equal(sbx_cli_exit_for(-EPROTO), SBX_EXIT_INFRA);
    assert_int_equal(sbx_cli_exit_for(-ETIMEDOUT), SBX_EXIT_INFRA);
    assert_int_equal(sbx_cli_exit_for(-ECONNREFUSED), SBX_EXIT_INFRA);
    assert_int_equal(sbx_cli_exit_for(-EACCES), SBX_EXIT_INFRA);
    assert_int_equal(sbx_cli_exit_for(-ENOMEM), SBX_EXIT_INFRA);
}

/* Runs fn with stderr and stdout redirected to files; returns what each got. */
static void capture(void (*fn)(void *), void *arg, char *out, size_t out_n, char *errb,
                    size_t err_n)
{
    FILE *fo = tmpfile(), *fe = tmpfile();
    int saved_out, saved_err;
    size_t n;

    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    saved_out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    dup2(fileno(fo), STDOUT_FILENO);
    dup2(fileno(fe), STDERR_FILENO);
    fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    rewind(fo);
    rewind(fe);
    n = fread(out, 1, out_n - 1, fo);
    out[n] = '\0';
    n = fread(errb, 1, err_n - 1, fe);
    errb[n] = '\0';
    fclose(fo);
    fclose(fe);
}

struct call {
    struct sbx_cli c;
    int rc;
};

static void do_usage(void *arg)
{
    struct call *k = arg;

    k->rc = sbx_cli_usage(&k->c, "bad value '%s'", "x");
}

static void do_fail_cmd(void *arg)
{
    struct call *k = arg;

    k->rc = sbx_cli_fail_cmd(&k->c, SBX_EXIT_FAILED, "no such sandbox: %s", "q\"uote");
}

static void do_exchange(void *arg)
{
    struct call *k = arg;
    struct sbx_err e = {0};

    sbx_err_set_http(&e, -EIO, 403, "forbidden");
    k->rc = sbx_cli_fail_exchange(&k->c, -EIO, &e, "action");
}

static void do_warn_limits(void *arg)
{
    struct call *k = arg;
    struct sbx_sandbox_spec spec = {.memory_bytes = 1, .cpu_millis = 1, .pids_max = 0};
    struct sbx_sandbox_info in = {.enforced = SBX_LIMIT_MEMORY};

    k->rc = sbx_cli_warn_limits(&spec, &in);
    in.note = "no cpu controller for this user";
    k->rc += 10 * sbx_cli_warn_limits(&spec, &in);
    in.enforced = SBX_LIMIT_MEMORY | SBX_LIMIT_CPU;
    k->rc += 100 * sbx_cli_warn_limits(&spec, &in);
}

static void test_messages(void **state)
{
    struct call k = {.c = {.cmd = "exec"}};
    char out[512], err[512];

    (void)state;
    capture(do_usage, &k, out, sizeof(out), err, sizeof(err));
    assert_int_equal(k.rc, SBX_EXIT_USAGE);
    assert_string_equal(err, "sbx exec: bad value 'x'\ntry 'sbx exec --help'\n");
    assert_string_equal(out, "");
    k.c.cmd = NULL;
    capture(do_usage, &k, out, sizeof(out), err, sizeof(err));
    assert_string_equal(err, "sbx: bad value 'x'\ntry 'sbx --help'\n");
    /* --json: the error is also a JSON object on stdout */
    k.c = (struct sbx_cli){.cmd = "rm", .json = true};
    capture(do_fail_cmd, &k, out, sizeof(out), err, sizeof(err));
    assert_int_equal(k.rc, SBX_EXIT_FAILED);
    assert_string_equal(err, "sbx rm: no such sandbox: q\"uote\n");
    assert_string_equal(out, "{\"error\":\"no such sandbox: q\\\"uote\",\"code\":1}\n");
    k.c = (struct sbx_cli){.cmd = "act"};
    capture(do_exchange, &k, out, sizeof(out), err, sizeof(err));
    assert_int_equal(k.rc, SBX_EXIT_FAILED); /* the server answered: it refused */
    assert_string_equal(err, "sbx: action: forbidden\n");
    capture(do_warn_limits, &k, out, sizeof(out), err, sizeof(err));
    assert_int_equal(k.rc, 1 + 10 * 1 + 100 * 0);
    assert_string_equal(err, "sbx: warning: limits not enforced on this host: cpu\n"
                             "sbx: warning: no cpu controller for this user\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_json),
        cmocka_unit_test(test_exit_for),
        cmocka_unit_test(test_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
