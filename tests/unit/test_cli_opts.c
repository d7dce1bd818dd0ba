/* Tests for src/cli/cli_opts.c: the option parser and the one parser per
 * kind of value (size, CPUs, integer, duration, label, env, network). The
 * CLI is an executable, so its source is included here. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_opts.c"

static void size_ok(const char *s, int64_t want)
{
    struct sbx_err err = {0};
    int64_t v = -1;

    assert_int_equal(sbx_cli_parse_size(s, &v, &err), 0);
    assert_true(v == want);
}

static void size_bad(const char *s, const char *msg_part)
{
    struct sbx_err err = {0};
    int64_t v = 77;

    assert_int_equal(sbx_cli_parse_size(s, &v, &err), -EINVAL);
    assert_true(v == 77);
    assert_non_null(strstr(err.msg, msg_part));
}

static void test_size(void **state)
{
    (void)state;
    size_ok("1", 1);
    size_ok("65536", 65536);
    size_ok("1k", 1024);
    size_ok("512m", 512LL << 20);
    size_ok("512M", 512LL << 20);
    size_ok("2g", 2LL << 30);
    size_ok("2GiB", 2LL << 30);
    size_ok("2gb", 2LL << 30);
    size_ok("3t", 3LL << 40);
    size_ok("100b", 100);
    size_bad("", "invalid size");
    size_bad("abc", "invalid size");
    size_bad("-1", "invalid size");
    size_bad("+5", "invalid size");
    size_bad(" 5", "invalid size");
    size_bad("0", "greater than 0");
    size_bad("0m", "greater than 0");
    size_bad("12x", "invalid size");
    size_bad("1.5g", "invalid size");
    size_bad("5ib", "invalid size");
    size_bad("1mm", "invalid size");
    size_bad("99999999999999999999", "too large");
    size_bad("9000000000000000000k", "too large");
    size_bad("8388608t", "too large");
}

static void test_cpus(void **state)
{
    struct sbx_err err = {0};
    int64_t v = 0;

    (void)state;
    assert_int_equal(sbx_cli_parse_cpus("0.5", &v, &err), 0);
    assert_true(v == 500);
    assert_int_equal(sbx_cli_parse_cpus("2", &v, &err), 0);
    assert_true(v == 2000);
    assert_int_equal(sbx_cli_parse_cpus("1.25", &v, &err), 0);
    assert_true(v == 1250);
    assert_int_equal(sbx_cli_parse_cpus("0.001", &v, &err), 0);
    assert_true(v == 1);
    assert_int_equal(sbx_cli_parse_cpus("4096", &v, &err), 0);
    assert_true(v == 4096000);
    v = 9;
    assert_int_equal(sbx_cli_parse_cpus("0", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(sbx_cli_parse_cpus("0.0001", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_cpus("4096.001", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_cpus("abc", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid CPU count 'abc'"));
    assert_int_equal(sbx_cli_parse_cpus("-1", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_cpus("1.", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_cpus(".5", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_cpus("1,5", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_cpus("", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_cpus("99999999999999999999", &v, &err), -EINVAL);
    assert_true(v == 9);
}

static void test_int(void **state)
{
    struct sbx_err err = {0};
    int64_t v = 0;

    (void)state;
    assert_int_equal(sbx_cli_parse_int("80", 1, 65535, &v, &err), 0);
    assert_true(v == 80);
    assert_int_equal(sbx_cli_parse_int("-3", -5, 5, &v, &err), 0);
    assert_true(v == -3);
    assert_int_equal(sbx_cli_parse_int("0", 1, 65535, &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "out of range (1 to 65535)"));
    assert_int_equal(sbx_cli_parse_int("65536", 1, 65535, &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_int("12a", 1, 65535, &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid number '12a'"));
    assert_int_equal(sbx_cli_parse_int("", 1, 65535, &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_int(" 1", 1, 65535, &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_int("99999999999999999999", 1, INT64_MAX, &v, &err), -EINVAL);
    assert_true(v == -3);
}

static void test_duration(void **state)
{
    struct sbx_err err = {0};
    int64_t v = 0;

    (void)state;
    assert_int_equal(sbx_cli_parse_duration("30", &v, &err), 0);
    assert_true(v == 30000);
    assert_int_equal(sbx_cli_parse_duration("0.5", &v, &err), 0);
    assert_true(v == 500);
    assert_int_equal(sbx_cli_parse_duration("90s", &v, &err), 0);
    assert_true(v == 90000);
    assert_int_equal(sbx_cli_parse_duration("2m", &v, &err), 0);
    assert_true(v == 120000);
    assert_int_equal(sbx_cli_parse_duration("1.5h", &v, &err), 0);
    assert_true(v == 5400000);
    assert_int_equal(sbx_cli_parse_duration("0.001", &v, &err), 0);
    assert_true(v == 1);
    assert_int_equal(sbx_cli_parse_duration("720h", &v, &err), 0);
    assert_int_equal(sbx_cli_parse_duration("721h", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "too long"));
    assert_int_equal(sbx_cli_parse_duration("0", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "greater than 0"));
    assert_int_equal(sbx_cli_parse_duration("abc", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid duration 'abc'"));
    assert_int_equal(sbx_cli_parse_duration("5d", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_duration("-1", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_duration("1ss", &v, &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_duration("99999999999999999999", &v, &err), -EINVAL);
}

static void test_labels_env_network(void **state)
{
    struct sbx_err err = {0};
    enum sbx_network n = SBX_NETWORK_HOST;

    (void)state;
    assert_int_equal(sbx_cli_parse_label("team=ml", &err), 0);
    assert_int_equal(sbx_cli_parse_label("a.b/c-d_e=", &err), 0);
    assert_int_equal(sbx_cli_parse_label("k=v=w", &err), 0);
    assert_int_equal(sbx_cli_parse_label("novalue", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "expected KEY=VALUE"));
    assert_int_equal(sbx_cli_parse_label("=v", &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_label("a b=v", &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_label("a,b=v", &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_env("PATH_2=/x", &err), 0);
    assert_int_equal(sbx_cli_parse_env("_=", &err), 0);
    assert_int_equal(sbx_cli_parse_env("2X=1", &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_env("A-B=1", &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_env("A", &err), -EINVAL);
    assert_int_equal(sbx_cli_parse_network("none", &n, &err), 0);
    assert_int_equal(n, SBX_NETWORK_NONE);
    assert_int_equal(sbx_cli_parse_network("host", &n, &err), 0);
    assert_int_equal(n, SBX_NETWORK_HOST);
    assert_int_equal(sbx_cli_parse_network("bridge", &n, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "host or none"));
}

/* ---- the option parser ---- */

enum { T_FLAG = SBX_OPT_CMD, T_VAL, T_Q };

static const struct sbx_cli_opt topts[] = {
    {"flag", 'f', false, T_FLAG},
    {"value", 'v', true, T_VAL},
    {"quiet", 'q', false, T_Q},
    {"memory", 'm', true, SBX_OPT_MEMORY},
    SBX_CLI_OPTS_END,
};

struct seen {
    char log[256];
    struct sbx_cli_create cr;
};

static int on_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct seen *s = ud;
    size_t n = strlen(s->log);
    int rc = sbx_cli_create_opt(&s->cr, id, arg, err);

    if (rc <= 0)
        return rc;
    snprintf(s->log + n, sizeof(s->log) - n, "%d:%s;", id - SBX_OPT_CMD, arg ? arg : "-");
    return 0;
}

static int parse(int stop_after, struct seen *s, struct sbx_cli_args *a, struct sbx_err *err,
                 int argc, char **argv)
{
    memset(s, 0, sizeof(*s));
    return sbx_cli_parse(argc, argv, topts, stop_after, on_opt, s, a, err);
}

#define ARGV(...) ((char *[]){"cmd", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"cmd", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(stop, ...) parse(stop, &s, &a, &err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_parser_forms(void **state)
{
    struct seen s;
    struct sbx_cli_args a;
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(
        PARSE(-1, "--flag", "--value", "x", "--value=y=z", "-vw", "-v", "u", "p1", "-qf", "p2"), 0);
    assert_string_equal(s.log, "0:-;1:x;1:y=z;1:w;1:u;2:-;0:-;");
    assert_int_equal(a.n_pos, 2);
    assert_string_equal(a.pos[0], "p1");
    assert_string_equal(a.pos[1], "p2");
    assert_int_equal(a.n_rest, 0);
    assert_false(a.dashdash);
    sbx_cli_args_release(&a);

    /* "--" ends the options; "-" is a positional (stdin) */
    assert_int_equal(PARSE(-1, "-", "--", "--flag", "-x"), 0);
    assert_string_equal(s.log, "");
    assert_int_equal(a.n_pos, 1);
    assert_string_equal(a.pos[0], "-");
    assert_true(a.dashdash);
    assert_int_equal(a.n_rest, 2);
    assert_string_equal(a.rest[0], "--flag");
    assert_string_equal(a.rest[1], "-x");
    assert_null(a.rest[2]);
    sbx_cli_args_release(&a);

    /* a value may start with '-' */
    assert_int_equal(PARSE(-1, "--value", "-5"), 0);
    assert_string_equal(s.log, "1:-5;");
    sbx_cli_args_release(&a);
}

static void test_parser_stop_after(void **state)
{
    struct seen s;
    struct sbx_cli_args a;
    struct sbx_err err = {0};

    (void)state;
    /* exec ID ls -la: the command starts after one positional */
    assert_int_equal(PARSE(1, "-f", "ID", "ls", "-la"), 0);
    assert_string_equal(s.log, "0:-;");
    assert_int_equal(a.n_pos, 1);
    assert_int_equal(a.n_rest, 2);
    assert_string_equal(a.rest[1], "-la");
    sbx_cli_args_release(&a);
    /* options after the id are still options until the command starts */
    assert_int_equal(PARSE(1, "ID", "-v", "9", "--", "echo", "--flag"), 0);
    assert_string_equal(s.log, "1:9;");
    assert_int_equal(a.n_rest, 2);
    assert_string_equal(a.rest[1], "--flag");
    sbx_cli_args_release(&a);
    /* run echo hi: stop_after 0 */
    assert_int_equal(PARSE(0, "-q", "echo", "-f"), 0);
    assert_int_equal(a.n_pos, 0);
    assert_int_equal(a.n_rest, 2);
    sbx_cli_args_release(&a);
}

static void test_parser_errors(void **state)
{
    struct seen s;
    struct sbx_cli_args a;
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(PARSE(-1, "--nope"), -EINVAL);
    assert_string_equal(err.msg, "unknown option '--nope'");
    assert_null(a.pos);
    assert_int_equal(PARSE(-1, "--nope=3"), -EINVAL);
    assert_string_equal(err.msg, "unknown option '--nope'");
    assert_int_equal(PARSE(-1, "-fz"), -EINVAL);
    assert_string_equal(err.msg, "unknown option '-z'");
    assert_int_equal(PARSE(-1, "--value"), -EINVAL);
    assert_string_equal(err.msg, "option '--value' needs a value");
    assert_int_equal(PARSE(-1, "-v"), -EINVAL);
    assert_string_equal(err.msg, "option '-v' needs a value");
    assert_int_equal(PARSE(-1, "--flag=1"), -EINVAL);
    assert_string_equal(err.msg, "option '--flag' takes no value");
    /* a bad value names the option as it was spelled */
    assert_int_equal(PARSE(-1, "--memory", "lots"), -EINVAL);
    assert_non_null(strstr(err.msg, "--memory: invalid size 'lots'"));
    assert_int_equal(PARSE(-1, "-mlots"), -EINVAL);
    assert_non_null(strstr(err.msg, "-m: invalid size 'lots'"));
    sbx_cli_create_release(&s.cr);
}

static void test_create_opts(void **state)
{
    struct sbx_cli_create cr = {0};
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_LABEL, "a=1", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_LABEL, "b=2", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_ENV, "X=y", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_MEMORY, "1g", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_CPUS, "0.5", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_PIDS, "64", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_NETWORK, "none", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_NAME, "dev", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_ROOTFS, "/srv/root", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_WORKDIR, "/w", &err), 0);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_CMD, "x", &err), 1);
    assert_string_equal(cr.spec.labels[0], "a=1");
    assert_string_equal(cr.spec.labels[1], "b=2");
    assert_null(cr.spec.labels[2]);
    assert_string_equal(cr.spec.env[0], "X=y");
    assert_null(cr.spec.env[1]);
    assert_true(cr.spec.memory_bytes == 1LL << 30);
    assert_true(cr.spec.cpu_millis == 500);
    assert_true(cr.spec.pids_max == 64);
    assert_int_equal(cr.spec.network, SBX_NETWORK_NONE);
    assert_string_equal(cr.spec.name, "dev");
    assert_string_equal(cr.spec.image, "/srv/root");
    assert_string_equal(cr.spec.workdir, "/w");
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_WORKDIR, "rel", &err), -EINVAL);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_PIDS, "0", &err), -EINVAL);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_NAME, "", &err), -EINVAL);
    assert_int_equal(sbx_cli_create_opt(&cr, SBX_OPT_LABEL, "bad", &err), -EINVAL);
    assert_null(cr.spec.labels[2]);
    sbx_cli_create_release(&cr);
}

static void test_join(void **state)
{
    char *argv[] = {"echo", "a b", "", "c", NULL};
    char *s;

    (void)state;
    s = sbx_cli_join(argv, 4);
    assert_string_equal(s, "echo a b  c");
    free(s);
    s = sbx_cli_join(argv, 0);
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_cpus),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_labels_env_network),
        cmocka_unit_test(test_parser_forms),
        cmocka_unit_test(test_parser_stop_after),
        cmocka_unit_test(test_parser_errors),
        cmocka_unit_test(test_create_opts),
        cmocka_unit_test(test_join),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
