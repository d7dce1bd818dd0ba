/* Tests for src/base/ct.c: equal only when bytes and lengths are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/ct.h"

static void test_equal(void **state)
{
    (void)state;
    assert_true(sbx_ct_streq("e2b_abc", "e2b_abc"));
    assert_true(sbx_ct_streq("", ""));
    assert_true(sbx_ct_equal("a\0b", 3, "a\0b", 3));
}

static void test_differ(void **state)
{
    (void)state;
    assert_false(sbx_ct_streq("e2b_abc", "e2b_abd"));
    assert_false(sbx_ct_streq("e2b_abc", "e2b_ab"));   /* a prefix */
    assert_false(sbx_ct_streq("e2b_ab", "e2b_abc"));
    assert_false(sbx_ct_streq("abcabc", "abc"));       /* b cycled would match */
    assert_false(sbx_ct_streq("x", ""));
    assert_false(sbx_ct_streq("", "x"));
    assert_false(sbx_ct_streq(NULL, "x"));
    assert_false(sbx_ct_streq("x", NULL));
    assert_false(sbx_ct_streq(NULL, NULL));
    assert_false(sbx_ct_equal("a\0b", 3, "a\0c", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_differ),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
