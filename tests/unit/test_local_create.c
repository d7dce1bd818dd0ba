/* Tests for the spec checks of src/providers/local/create.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "providers/local/local.h"

static void test_names(void **state)
{
    char long_name[80];

    (void)state;
    assert_true(sbx__local_valid_name("a"));
    assert_true(sbx__local_valid_name("web-1.test_2"));
    assert_true(sbx__local_valid_name("9lives"));
    assert_false(sbx__local_valid_name(""));
    assert_false(sbx__local_valid_name("-x"));
    assert_false(sbx__local_valid_name(".x"));
    assert_false(sbx__local_valid_name("_x"));
    assert_false(sbx__local_valid_name("a b"));
    assert_false(sbx__local_valid_name("a/b"));
    assert_false(sbx__local_valid_name("caf\xc3\xa9"));
    memset(long_name, 'a', 63);
    long_name[63] = '\0';
    assert_true(sbx__local_valid_name(long_name));
    long_name[63] = 'a';
    long_name[64] = '\0';
    assert_false(sbx__local_valid_name(long_name));
}

static int check(struct sbx_sandbox_spec *spec, const char *needle)
{
    struct sbx_err err = {0};
    int rc = sbx__local_check_spec(spec, &err);

    if (needle)
        assert_non_null(strstr(err.msg, needle));
    memset(spec, 0, sizeof(*spec));
    return rc;
}

static void test_spec(void **state)
{
    const char *bad_label[] = {"k=v", "novalue", NULL};
    const char *bad_label2[] = {"=v", NULL};
    const char *bad_env[] = {"NOEQUALS", NULL};
    struct sbx_sandbox_spec spec;

    (void)state;
    memset(&spec, 0, sizeof(spec));
    assert_int_equal(check(&spec, NULL), 0);
    spec.name = "no spaces";
    assert_int_equal(check(&spec, "invalid name 'no spaces'"), -EINVAL);
    spec.labels = bad_label;
    assert_int_equal(check(&spec, "invalid label 'novalue'"), -EINVAL);
    spec.labels = bad_label2;
    assert_int_equal(check(&spec, "invalid label"), -EINVAL);
    spec.env = bad_env;
    assert_int_equal(check(&spec, "NOEQUALS"), -EINVAL);
    spec.memory_bytes = (16 << 20) - 1;
    assert_int_equal(check(&spec, "16 MiB"), -EINVAL);
    spec.memory_bytes = 16 << 20;
    assert_int_equal(check(&spec, NULL), 0);
    spec.cpu_millis = 9;
    assert_int_equal(check(&spec, "10 millicpus"), -EINVAL);
    spec.cpu_millis = 10;
    assert_int_equal(check(&spec, NULL), 0);
    spec.pids_max = 7;
    assert_int_equal(check(&spec, "below 8"), -EINVAL);
    spec.pids_max = -1;
    assert_int_equal(check(&spec, NULL), -EINVAL);
    spec.pids_max = 8;
    assert_int_equal(check(&spec, NULL), 0);
    spec.network = (enum sbx_network)7;
    assert_int_equal(check(&spec, "network"), -EINVAL);
    spec.workdir = "relative";
    assert_int_equal(check(&spec, "absolute"), -EINVAL);
    spec.workdir = "/srv/work";
    assert_int_equal(check(&spec, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_spec),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
