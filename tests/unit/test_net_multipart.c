/* Tests for src/net/multipart.c: every body is fed whole and in every split
 * (pieces of 1, 2, 3, ... bytes), and must give the same events. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "net/multipart.h"

struct rec {
    struct sbx_buf ev;
    bool in_data;
    int stop_at_begin; /* non-zero: part_begin returns it */
};

static int on_begin(const struct sbx_multipart_part *p, void *ud)
{
    struct rec *r = ud;

    sbx_buf_addf(&r->ev, "[%s|%s|%s]", p->name, p->filename ? p->filename : "(none)",
                 p->content_type);
    return r->stop_at_begin;
}

static int on_data(const char *p, size_t n, void *ud)
{
    struct rec *r = ud;

    assert_true(n > 0);
    sbx_buf_add(&r->ev, p, n);
    return 0;
}

static int on_end(void *ud)
{
    struct rec *r = ud;

    sbx_buf_addstr(&r->ev, "[end]");
    return 0;
}

static const struct sbx_multipart_cbs cbs = {on_begin, on_data, on_end};

/* Parses body in pieces of `step` bytes (0 = whole); returns feed/finish's
 * first failure or 0, and the events in out. */
static int parse(const char *ct, const char *body, size_t len, size_t step, struct sbx_buf *out,
                 int stop)
{
    struct rec r = {.stop_at_begin = stop};
    struct sbx_multipart *m;
    size_t off = 0;
    int rc = 0;

    sbx_buf_init(&r.ev, 0);
    m = sbx_multipart_new(ct, &cbs, &r, &rc);
    assert_non_null(m);
    while (off < len && rc == 0) {
        size_t n = step && len - off > step ? step : len - off;

        rc = sbx_multipart_feed(m, body + off, n);
        off += n;
    }
    if (rc == 0)
        rc = sbx_multipart_finish(m);
    sbx_buf_reset(out);
    sbx_buf_add(out, r.ev.ptr, r.ev.len);
    sbx_buf_free(&r.ev);
    sbx_multipart_free(m);
    return rc;
}

static void check(const char *ct, const char *body, size_t len, int want_rc, const char *want)
{
    struct sbx_buf out = SBX_BUF_INIT;
    size_t step;
    int rc;

    for (step = 0; step <= len; step++) {
        rc = parse(ct, body, len, step, &out, 0);
        if (rc != want_rc)
            fail_msg("step %zu: rc %d, want %d (events \"%s\")", step, rc, want_rc, out.ptr);
        if (want && (out.len != strlen(want) || memcmp(out.ptr, want, out.len) != 0))
            fail_msg("step %zu: events \"%s\", want \"%s\"", step, out.ptr, want);
    }
    sbx_buf_free(&out);
}

#define CT "multipart/form-data; boundary=XyZ"
#define CHECK(body, rc, want) check(CT, body, sizeof(body) - 1, rc, want)

static void test_two_parts(void **state)
{
    (void)state;
    CHECK("--XyZ\r\n"
          "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
          "value\r\n"
          "--XyZ\r\n"
          "content-disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n"
          "Content-Type: text/plain\r\n\r\n"
          "line1\r\nline2\r\n"
          "\r\n--XyZ--\r\n",
          0, "[a|(none)|]value[end][file|f.txt|text/plain]line1\r\nline2\r\n[end]");
}

static void test_preamble_epilogue(void **state)
{
    (void)state;
    CHECK("This is a preamble\r\nwith --XyZ lookalikes --XyZx\r\n"
          "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nA\r\n--XyZ--  \r\n"
          "epilogue --XyZ\r\n garbage",
          0, "[a|(none)|]A[end]");
}

static void test_delimiter_lookalikes_in_data(void **state)
{
    (void)state;
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=\"d\"\r\n\r\n"
          "\r\r\n\r\n-\r\n--\r\n--X\r\n--Xy\r\n--XyQ\r\r\n--XyZ\r\n"
          "Content-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--XyZ--",
          0, "[d|(none)|]\r\r\n\r\n-\r\n--\r\n--X\r\n--Xy\r\n--XyQ\r[end][e|(none)|][end]");
}

static void test_empty_and_headerless_parts(void **state)
{
    (void)state;
    CHECK("--XyZ\r\n\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n"
          "--XyZ--",
          0, "[|(none)|][end][x|(none)|][end]");
}

static void test_filename_quoting(void **state)
{
    (void)state;
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
          "filename=\"we\\\"ird;name=x.txt\"\r\n\r\nD\r\n--XyZ--",
          0, "[file|we\"ird;name=x.txt|]D[end]");
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=file; filename=plain.txt\r\n\r\n"
          "D\r\n--XyZ--",
          0, "[file|plain.txt|]D[end]");
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fallback\"; "
          "filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\nD\r\n--XyZ--",
          0, "[file|\xc3\xa9t\xc3\xa9.txt|]D[end]");
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n"
          "\r\n--XyZ--",
          0, "[file||][end]");
}

static void test_malformed(void **state)
{
    (void)state;
    /* truncated: no closing delimiter */
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc", -EPROTO, NULL);
    CHECK("", -EPROTO, "");
    CHECK("no boundary at all", -EPROTO, "");
    /* junk right after a boundary */
    CHECK("--XyZjunk\r\n\r\n--XyZ--", -EPROTO, NULL);
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nA\r\n--XyZ-x", -EPROTO,
          NULL);
    /* header line without a colon, unterminated quote, not form-data */
    CHECK("--XyZ\r\nbroken header\r\n\r\n\r\n--XyZ--", -EPROTO, NULL);
    CHECK("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n--XyZ--", -EPROTO, NULL);
    CHECK("--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n\r\n--XyZ--", -EPROTO,
          NULL);
}

static void test_header_limit(void **state)
{
    struct sbx_buf body = SBX_BUF_INIT, out = SBX_BUF_INIT;
    size_t i;

    (void)state;
    sbx_buf_addstr(&body, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ");
    for (i = 0; i < SBX_MULTIPART_HEADERS_MAX; i++)
        sbx_buf_addch(&body, 'p');
    sbx_buf_addstr(&body, "\r\n\r\n\r\n--XyZ--");
    assert_int_equal(parse(CT, body.ptr, body.len, 0, &out, 0), -EPROTO);
    assert_int_equal(parse(CT, body.ptr, body.len, 1000, &out, 0), -EPROTO);
    sbx_buf_free(&body);
    sbx_buf_free(&out);
}

static void test_callback_stops(void **state)
{
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
                               "A\r\n--XyZ--";
    struct sbx_buf out = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(parse(CT, body, sizeof(body) - 1, 0, &out, 42), 42);
    assert_int_equal(parse(CT, body, sizeof(body) - 1, 3, &out, 42), 42);
    sbx_buf_free(&out);
}

static void test_boundary_param(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    struct sbx_multipart *m;
    int rc;

    (void)state;
    assert_int_equal(sbx_multipart_boundary("multipart/form-data; boundary=abc", &b), 0);
    assert_string_equal(b.ptr, "abc");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_multipart_boundary("Multipart/Form-Data;charset=utf-8; "
                                            "BOUNDARY=\"a b;c\"", &b), 0);
    assert_string_equal(b.ptr, "a b;c");
    assert_int_equal(sbx_multipart_boundary("multipart/form-data", &b), -EINVAL);
    assert_int_equal(sbx_multipart_boundary("multipart/form-data; boundary=", &b), -EINVAL);
    assert_int_equal(sbx_multipart_boundary("multipart/mixed; boundary=a", &b), -EINVAL);
    assert_int_equal(sbx_multipart_boundary("application/json", &b), -EINVAL);
    assert_int_equal(sbx_multipart_boundary(NULL, &b), -EINVAL);
    assert_int_equal(sbx_multipart_boundary("multipart/form-data; boundary=\"a\rb\"", &b),
                     -EINVAL);
    assert_int_equal(sbx_multipart_boundary(
                         "multipart/form-data; boundary=12345678901234567890123456789012345678901"
                         "234567890123456789012345678901",
                         &b),
                     -EINVAL);
    m = sbx_multipart_new("text/plain", &cbs, NULL, &rc);
    assert_null(m);
    assert_int_equal(rc, -EINVAL);
    sbx_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_parts),
        cmocka_unit_test(test_preamble_epilogue),
        cmocka_unit_test(test_delimiter_lookalikes_in_data),
        cmocka_unit_test(test_empty_and_headerless_parts),
        cmocka_unit_test(test_filename_quoting),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_boundary_param),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
