/* Tests for src/json/json.c: errors with positions, the depth limit,
 * Python-compatible duplicate keys and real formatting, lossy strings. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "json/json.h"

static struct sbx_json *parse(const char *s)
{
    struct sbx_err err = {0};
    struct sbx_json *v = sbx_json_parse(s, strlen(s), &err);

    if (!v)
        fail_msg("parse %s: %s", s, err.msg);
    return v;
}

static void expect_dump(const struct sbx_json *v, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_json_dump(v, &b), 0);
    assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
}

static void test_parse_error_position(void **state)
{
    struct sbx_err err = {0};

    (void)state;
    assert_null(sbx_json_parse("{\"a\": 1,\n  \"b\" 2}", 17, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_non_null(strstr(err.msg, "column 7"));
    assert_non_null(strstr(err.msg, "invalid JSON at"));
    memset(&err, 0, sizeof(err));
    assert_null(sbx_json_parse("", 0, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_null(sbx_json_parse("[1] x", 5, &err));
    assert_null(sbx_json_parse("[1,]", 4, NULL));
    assert_null(sbx_json_parse("{'a': 1}", 8, NULL));
}

static void test_parse_length_bounded(void **state)
{
    struct sbx_json *v;

    (void)state;
    /* Exactly len bytes: the rest of the C string is not parsed. */
    v = sbx_json_parse("[1, 2] garbage", 6, NULL);
    assert_non_null(v);
    assert_int_equal(sbx_json_array_len(v), 2);
    sbx_json_free(v);
    /* NUL inside a string is rejected. */
    assert_null(sbx_json_parse("\"a\0b\"", 5, NULL));
    assert_null(sbx_json_parse("[1]\0", 4, NULL));
    /* As documented: an escaped NUL is rejected too. */
    assert_null(sbx_json_parse("\"\\u0000\"", 8, NULL));
}

static char *nested(size_t depth, char open, char close)
{
    char *s = malloc(2 * depth + 1);
    size_t i;

    assert_non_null(s);
    for (i = 0; i < depth; i++) {
        s[i] = open;
        s[2 * depth - 1 - i] = close;
    }
    s[2 * depth] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    struct sbx_err err = {0};
    struct sbx_json *v;
    char *s;

    (void)state;
    s = nested(256, '[', ']');
    v = sbx_json_parse(s, strlen(s), &err);
    assert_non_null(v);
    sbx_json_free(v);
    free(s);
    s = nested(257, '[', ']');
    assert_null(sbx_json_parse(s, strlen(s), &err));
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "256"));
    free(s);
    /* Deep input that would blow the stack is rejected quickly. */
    s = nested(100000, '[', ']');
    assert_null(sbx_json_parse(s, strlen(s), NULL));
    free(s);
    /* Brackets inside strings do not count. */
    v = parse("[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]");
    assert_int_equal(sbx_json_array_len(v), 1);
    sbx_json_free(v);
}

static void test_depth_objects_and_escapes(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    struct sbx_json *v;
    size_t i;

    (void)state;
    /* 256 levels of objects: {"a":{"a":...{}...}} */
    for (i = 0; i < 255; i++)
        assert_int_equal(sbx_buf_addstr(&b, "{\"a\":"), 0);
    assert_int_equal(sbx_buf_addstr(&b, "{}"), 0);
    for (i = 0; i < 255; i++)
        assert_int_equal(sbx_buf_addch(&b, '}'), 0);
    v = sbx_json_parse(b.ptr, b.len, NULL);
    assert_non_null(v);
    sbx_json_free(v);
    sbx_buf_free(&b);
    /* An escaped quote does not end a string for the depth scan. */
    v = parse("[\"\\\"[[[\", \"\\\\\", [[1]]]");
    assert_int_equal(sbx_json_array_len(v), 3);
    sbx_json_free(v);
}

static void test_duplicate_keys_last_wins(void **state)
{
    struct sbx_json *v;

    (void)state;
    v = parse("{\"a\": 1, \"b\": 2, \"a\": 3}");
    assert_int_equal(sbx_json_int(sbx_json_get(v, "a")), 3);
    assert_int_equal(sbx_json_object_len(v), 2);
    sbx_json_free(v);
}

static void test_getters_and_types(void **state)
{
    struct sbx_json *v = parse("{\"s\": \"x\\u0041y\", \"i\": -5, \"r\": 2.5, \"t\": true, "
                               "\"n\": null, \"a\": [1], \"o\": {}}");
    const char *key;
    struct sbx_json *val;

    (void)state;
    assert_int_equal(sbx_json_type(v), SBX_JSON_OBJECT);
    assert_int_equal(sbx_json_type(sbx_json_get(v, "s")), SBX_JSON_STRING);
    assert_int_equal(sbx_json_str_len(sbx_json_get(v, "s")), 3);
    assert_int_equal(sbx_json_int(sbx_json_get(v, "i")), -5);
    assert_true(sbx_json_number(sbx_json_get(v, "r")) == 2.5);
    assert_true(sbx_json_number(sbx_json_get(v, "i")) == -5.0);
    assert_true(sbx_json_bool(sbx_json_get(v, "t")));
    assert_int_equal(sbx_json_type(sbx_json_get(v, "n")), SBX_JSON_NULL);
    assert_int_equal(sbx_json_type(sbx_json_get(v, "r")), SBX_JSON_REAL);
    assert_null(sbx_json_get(v, "missing"));
    assert_null(sbx_json_get(sbx_json_get(v, "a"), "x"));
    /* Wrong-type getters give neutral values. */
    assert_string_equal(sbx_json_str(sbx_json_get(v, "i")), "");
    assert_int_equal(sbx_json_int(sbx_json_get(v, "s")), 0);
    assert_false(sbx_json_bool(sbx_json_get(v, "s")));
    assert_string_equal(sbx_json_str(NULL), "");
    assert_int_equal(sbx_json_object_at(v, 0, &key, &val), 0);
    assert_string_equal(key, "s");
    assert_int_equal(sbx_json_object_at(v, 6, &key, &val), 0);
    assert_string_equal(key, "o");
    assert_int_equal(sbx_json_object_at(v, 7, &key, &val), -ENOENT);
    assert_int_equal(sbx_json_array_len(v), 0);
    assert_null(sbx_json_array_at(v, 0));
    assert_string_equal(sbx_json_type_name(SBX_JSON_REAL), "number");
    assert_string_equal(sbx_json_type_name(SBX_JSON_INT), "integer");
    sbx_json_free(v);
}

static void test_dump_reals(void **state)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {1.0, "1.0"}, {0.1, "0.1"}, {2.5, "2.5"}, {120.0, "120.0"}, {-0.5, "-0.5"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbx_json *v = sbx_json_real_new(cases[i].v);

        expect_dump(v, cases[i].want);
        sbx_json_free(v);
    }
}

static void test_dump_reals_like_python(void **state)
{
    /* json.dumps() prints float.__repr__: shortest round-trip digits. */
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.3333333333333333, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e-05, "1e-05"},
        {1e16, "1e+16"},
        {12.345678901234567, "12.345678901234567"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbx_json *v = sbx_json_real_new(cases[i].v);

        expect_dump(v, cases[i].want);
        sbx_json_free(v);
    }
}

static void test_dump_non_finite_real(void **state)
{
    struct sbx_json *v = sbx_json_real_new(NAN);

    (void)state;
    /* Never invalid JSON. */
    expect_dump(v, "0.0");
    sbx_json_free(v);
}

static void test_strings_lossy(void **state)
{
    struct sbx_json *o = sbx_json_object_new();

    (void)state;
    assert_non_null(o);
    assert_int_equal(sbx_json_set_strn(o, "nul", "a\0b", 3), 0);
    assert_int_equal(sbx_json_set_strn(o, "bad",
                                       "x\xff"
                                       "y",
                                       3),
                     0);
    assert_int_equal(sbx_json_set_strn(o, "sur", "\xed\xa0\x80", 3), 0);
    assert_int_equal(sbx_json_set_strn(o, "long", "\xc0\xaf", 2), 0);
    assert_int_equal(sbx_json_set_str(o, "ok", "\xe2\x82\xac\xf0\x9f\x98\x80"), 0);
    assert_int_equal(sbx_json_set_str(o, "null", NULL), 0);
    assert_int_equal(sbx_json_set_str(o, "esc", "q\"\\\n\t\x01"), 0);
    expect_dump(o, "{\"nul\":\"a\xef\xbf\xbd"
                   "b\",\"bad\":\"x\xef\xbf\xbdy\","
                   "\"sur\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
                   "\"long\":\"\xef\xbf\xbd\xef\xbf\xbd\","
                   "\"ok\":\"\xe2\x82\xac\xf0\x9f\x98\x80\",\"null\":null,"
                   "\"esc\":\"q\\\"\\\\\\n\\t\\u0001\"}");
    sbx_json_free(o);
}

static void test_quote(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_buf_addch(&b, '>'), 0);
    assert_int_equal(sbx_json_quote(&b, "a\"\xfe", 3), 0);
    assert_string_equal(b.ptr, ">\"a\\\"\xef\xbf\xbd\"");
    sbx_buf_free(&b);
}

static void test_builders_and_order(void **state)
{
    struct sbx_json *o = sbx_json_object_new(), *a = sbx_json_array_new();

    (void)state;
    assert_int_equal(sbx_json_set_int(o, "z", 1), 0);
    assert_int_equal(sbx_json_set_bool(o, "a", false), 0);
    assert_int_equal(sbx_json_set_null(o, "m"), 0);
    assert_int_equal(sbx_json_append_take(a, sbx_json_int_new(INT64_MIN)), 0);
    assert_int_equal(sbx_json_append_take(a, sbx_json_cstr_new("s")), 0);
    assert_int_equal(sbx_json_set_take(o, "arr", a), 0);
    /* Replacing keeps the key's first position, as a Python dict does. */
    assert_int_equal(sbx_json_set_int(o, "z", 2), 0);
    expect_dump(o, "{\"z\":2,\"a\":false,\"m\":null,\"arr\":[-9223372036854775808,\"s\"]}");
    /* Taking into a non-container fails and still releases the value. */
    assert_int_equal(sbx_json_set_take(a, "k", sbx_json_int_new(1)), -EINVAL);
    assert_int_equal(sbx_json_append_take(o, sbx_json_int_new(1)), -EINVAL);
    assert_int_equal(sbx_json_set_take(o, "k", NULL), -ENOMEM);
    sbx_json_free(o);
    sbx_json_free(NULL);
}

static void test_round_trip_unicode(void **state)
{
    const char *doc = "{\"k\":\"\\u00e9\\ud83d\\ude00\\n\"}";
    struct sbx_json *v = parse(doc);

    (void)state;
    assert_string_equal(sbx_json_str(sbx_json_get(v, "k")), "\xc3\xa9\xf0\x9f\x98\x80\n");
    expect_dump(v, "{\"k\":\"\xc3\xa9\xf0\x9f\x98\x80\\n\"}");
    sbx_json_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_error_position),
        cmocka_unit_test(test_parse_length_bounded),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_objects_and_escapes),
        cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_getters_and_types),
        cmocka_unit_test(test_dump_reals),
        cmocka_unit_test(test_dump_reals_like_python),
        cmocka_unit_test(test_dump_non_finite_real),
        cmocka_unit_test(test_strings_lossy),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_builders_and_order),
        cmocka_unit_test(test_round_trip_unicode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
