/* Tests for src/base/fmt.c: sbx_fmt_pyfloat must print what Python's
 * repr(float) prints (the expected strings were produced by CPython 3). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/fmt.h"

static void expect(double v, const char *want)
{
    char buf[64];

    memset(buf, 'X', sizeof(buf));
    assert_ptr_equal(sbx_fmt_pyfloat(v, buf, sizeof(buf)), buf);
    assert_string_equal(buf, want);
}

static void test_integral(void **state)
{
    (void)state;
    expect(2.0, "2.0");
    expect(100.0, "100.0");
    expect(120.0, "120.0");
    expect(1.0, "1.0");
    expect(-3.0, "-3.0");
    expect(1e15, "1000000000000000.0");
    expect(123456789012345.0, "123456789012345.0");
}

static void test_fractions(void **state)
{
    (void)state;
    expect(2.5, "2.5");
    expect(0.1, "0.1");
    expect(0.3333333333333333, "0.3333333333333333");
    expect(1.0 / 3.0, "0.3333333333333333");
    expect(0.1 + 0.2, "0.30000000000000004");
    expect(-0.5, "-0.5");
    expect(1e-4, "0.0001");
    expect(0.00012, "0.00012");
    expect(3.14159, "3.14159");
}

static void test_exponent_form(void **state)
{
    (void)state;
    expect(1e-05, "1e-05");
    expect(1.5e-05, "1.5e-05");
    expect(1e+16, "1e+16");
    expect(1.2345678901234568e+17, "1.2345678901234568e+17");
    expect(1e100, "1e+100");
    expect(-2.5e-10, "-2.5e-10");
    expect(5e-324, "5e-324");
    expect(1.7976931348623157e+308, "1.7976931348623157e+308");
}

static void test_special(void **state)
{
    (void)state;
    expect(0.0, "0.0");
    expect(-0.0, "-0.0");
    expect(INFINITY, "inf");
    expect(-INFINITY, "-inf");
    expect(NAN, "nan");
}

static void test_small_buffer_terminated(void **state)
{
    char buf[4];

    (void)state;
    /* Truncated output is still a C string within n bytes. */
    sbx_fmt_pyfloat(123456.0, buf, sizeof(buf));
    assert_int_equal(strnlen(buf, sizeof(buf)), 3);
    assert_string_equal(buf, "123");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integral),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_exponent_form),
        cmocka_unit_test(test_special),
        cmocka_unit_test(test_small_buffer_terminated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
