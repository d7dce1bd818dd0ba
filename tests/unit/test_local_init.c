/* Tests for the pure parts of src/providers/local/init.c: environment
 * merging and step names (the init itself runs in test_local_sandbox). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "providers/local/init.h"

static void test_env_merge(void **state)
{
    const char *base[] = {"PATH=/bin", "HOME=/root", "LANG=C.UTF-8", NULL};
    const char *extra[] = {"HOME=/home/x", "NEW=1", "junk", "PATHX=2", NULL};
    const char *dst[16];
    size_t n;

    (void)state;
    n = sbx__env_merge(dst, 16, base, extra);
    assert_int_equal(n, 5);
    assert_string_equal(dst[0], "PATH=/bin");
    assert_string_equal(dst[1], "HOME=/home/x");
    assert_string_equal(dst[2], "LANG=C.UTF-8");
    assert_string_equal(dst[3], "NEW=1");
    assert_string_equal(dst[4], "PATHX=2");
    assert_null(dst[5]);
    /* no extra, and a destination that is too small: truncated, terminated */
    n = sbx__env_merge(dst, 16, base, NULL);
    assert_int_equal(n, 3);
    n = sbx__env_merge(dst, 3, base, extra);
    assert_int_equal(n, 2);
    assert_null(dst[2]);
    assert_int_equal(sbx__env_merge(dst, 0, base, extra), 0);
}

static void test_step_names(void **state)
{
    int s;

    (void)state;
    for (s = SBX_INIT_OK; s <= SBX_INIT_SERVER; s++)
        assert_true(strlen(sbx__init_step_name(s)) > 0);
    assert_string_equal(sbx__init_step_name(SBX_INIT_PIVOT), "pivot_root");
    assert_string_equal(sbx__init_step_name(999), "set up");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_merge),
        cmocka_unit_test(test_step_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
