/* Tests for src/net/connect.c: Connect codes, envelopes, end-of-stream and
 * error bodies (shared/specs/connect/protocol.md). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/connect.h"

static void test_codes(void **state)
{
    (void)state;
    enum sbx_connect_code c;
    /* every wire name round-trips; the spec's HTTP statuses */
    for (int i = SBX_CONNECT_CANCELED; i < SBX_CONNECT_CODE_COUNT; i++) {
        assert_int_equal(sbx_connect_code_from_name(sbx_connect_code_name(i), &c), 0);
        assert_int_equal(c, i);
        assert_true(sbx_connect_code_errno(i) < 0);
    }
    assert_int_equal(sbx_connect_code_from_name("ok", &c), -ENOENT);
    assert_int_equal(sbx_connect_code_from_name("NOT_FOUND", &c), -ENOENT);
    assert_int_equal(sbx_connect_code_http_status(SBX_CONNECT_CANCELED), 499);
    assert_int_equal(sbx_connect_code_http_status(SBX_CONNECT_NOT_FOUND), 404);
    assert_int_equal(sbx_connect_code_http_status(SBX_CONNECT_RESOURCE_EXHAUSTED), 429);
    assert_int_equal(sbx_connect_code_http_status(SBX_CONNECT_FAILED_PRECONDITION), 400);
    assert_int_equal(sbx_connect_code_http_status(SBX_CONNECT_UNIMPLEMENTED), 501);
    assert_int_equal(sbx_connect_code_http_status(SBX_CONNECT_UNAUTHENTICATED), 401);
    assert_int_equal(sbx_connect_code_http_status(SBX_CONNECT_DEADLINE_EXCEEDED), 504);
    /* the inference table for bodies without a Connect code */
    assert_int_equal(sbx_connect_code_from_http(400), SBX_CONNECT_INTERNAL);
    assert_int_equal(sbx_connect_code_from_http(404), SBX_CONNECT_UNIMPLEMENTED);
    assert_int_equal(sbx_connect_code_from_http(429), SBX_CONNECT_UNAVAILABLE);
    assert_int_equal(sbx_connect_code_from_http(502), SBX_CONNECT_UNAVAILABLE);
    assert_int_equal(sbx_connect_code_from_http(418), SBX_CONNECT_UNKNOWN);
    assert_int_equal(sbx_connect_code_errno(SBX_CONNECT_NOT_FOUND), -ENOENT);
    assert_int_equal(sbx_connect_code_errno(SBX_CONNECT_OK), 0);
}

static void test_envelope_bytes(void **state)
{
    (void)state;
    struct sbx_buf b = SBX_BUF_INIT;
    assert_int_equal(sbx_connect_envelope(&b, 0, "{\"a\":1}", 7), 0);
    assert_int_equal(b.len, 12);
    assert_memory_equal(b.ptr, "\x00\x00\x00\x00\x07{\"a\":1}", 12);
    sbx_buf_reset(&b);
    assert_int_equal(sbx_connect_end_stream(&b, NULL), 0);
    assert_memory_equal(b.ptr, "\x02\x00\x00\x00\x02{}", 7);
    sbx_buf_reset(&b);
    struct sbx_connect_error e = {.code = SBX_CONNECT_NOT_FOUND};
    snprintf(e.message, sizeof(e.message), "process with pid 7 not found");
    assert_int_equal(sbx_connect_end_stream(&b, &e), 0);
    const char want[] = "{\"error\":{\"code\":\"not_found\",\"message\":\"process with pid 7 not found\"}}";
    assert_int_equal(b.ptr[0], 2);
    assert_int_equal(b.len, 5 + sizeof(want) - 1);
    assert_memory_equal(b.ptr + 5, want, sizeof(want) - 1);
    sbx_buf_free(&b);
}

/* Feeds bytes in chunks of `step` and collects "flags:payload|" per message. */
static int feed_all(const char *data, size_t len, size_t step, struct sbx_buf *log,
                    struct sbx_connect_reader *r, struct sbx_err *err)
{
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        while (n > 0) {
            ssize_t used = sbx_connect_reader_feed(r, data + off, n, err);
            if (used < 0)
                return (int)used;
            off += (size_t)used;
            n -= (size_t)used;
            if (sbx_connect_reader_ready(r)) {
                sbx_buf_addf(log, "%u:", r->flags);
                sbx_buf_add(log, r->msg.ptr, r->msg.len);
                sbx_buf_addch(log, '|');
            }
        }
    }
    return sbx_connect_reader_finish(r, err);
}

static void test_reader_any_split(void **state)
{
    (void)state;
    struct sbx_buf stream = SBX_BUF_INIT;
    sbx_connect_envelope(&stream, 0, "{\"event\":{\"start\":{\"pid\":7}}}", 29);
    sbx_connect_envelope(&stream, 0, "", 0); /* an empty message is legal */
    sbx_connect_envelope(&stream, 0, "{\"keepalive\":{}}", 16);
    sbx_connect_end_stream(&stream, NULL);
    const char *want = "0:{\"event\":{\"start\":{\"pid\":7}}}|0:|0:{\"keepalive\":{}}|2:{}|";
    for (size_t step = 1; step <= stream.len; step++) {
        struct sbx_connect_reader r;
        struct sbx_buf log = SBX_BUF_INIT;
        struct sbx_err err = {0};
        sbx_connect_reader_init(&r, 0);
        assert_int_equal(feed_all(stream.ptr, stream.len, step, &log, &r, &err), 0);
        assert_string_equal(log.ptr, want);
        sbx_buf_free(&log);
        sbx_connect_reader_free(&r);
    }
    sbx_buf_free(&stream);
}

static void test_reader_errors(void **state)
{
    (void)state;
    struct sbx_connect_reader r;
    struct sbx_err err = {0};
    struct sbx_buf log = SBX_BUF_INIT;

    /* cut inside an envelope */
    sbx_connect_reader_init(&r, 0);
    assert_int_equal(feed_all("\x00\x00\x00\x00\x05{}", 7, 3, &log, &r, &err), -EPROTO);
    assert_string_equal(err.msg, "connect: the stream was cut inside an envelope");
    sbx_connect_reader_free(&r);
    /* no end of stream */
    sbx_connect_reader_init(&r, 0);
    assert_int_equal(feed_all("\x00\x00\x00\x00\x02{}", 7, 7, &log, &r, &err), -EPROTO);
    assert_string_equal(err.msg, "connect: the stream ended without its end-of-stream message");
    sbx_connect_reader_free(&r);
    /* bytes after the end */
    sbx_connect_reader_init(&r, 0);
    assert_int_equal(feed_all("\x02\x00\x00\x00\x02{}\x00", 8, 8, &log, &r, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "after the end of the stream"));
    sbx_connect_reader_free(&r);
    /* compressed without an encoding; unknown flags; too large */
    sbx_connect_reader_init(&r, 0);
    assert_int_equal(sbx_connect_reader_feed(&r, "\x01\x00\x00\x00\x00", 5, &err), -EPROTO);
    sbx_connect_reader_free(&r);
    sbx_connect_reader_init(&r, 0);
    assert_int_equal(sbx_connect_reader_feed(&r, "\x80\x00\x00\x00\x00", 5, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "0x80"));
    sbx_connect_reader_free(&r);
    sbx_connect_reader_init(&r, 16);
    assert_int_equal(sbx_connect_reader_feed(&r, "\x00\x00\x00\x00\x11", 5, &err), -E2BIG);
    assert_string_equal(err.msg, "connect: a 17-byte message (the limit is 16)");
    sbx_connect_reader_free(&r);
    sbx_buf_free(&log);
}

static void test_parse_error(void **state)
{
    (void)state;
    struct sbx_connect_error e;
    struct sbx_err err = {0};
    const char *unary = "{\"code\":\"permission_denied\",\"message\":\"no\",\"details\":[]}";
    assert_int_equal(sbx_connect_parse_error(unary, strlen(unary), false, &e, &err), 0);
    assert_int_equal(e.code, SBX_CONNECT_PERMISSION_DENIED);
    assert_string_equal(e.message, "no");
    assert_int_equal(sbx_connect_parse_error("{}", 2, true, &e, &err), 0);
    assert_int_equal(e.code, SBX_CONNECT_OK);
    const char *meta = "{\"metadata\":{\"x\":[\"1\"]}}";
    assert_int_equal(sbx_connect_parse_error(meta, strlen(meta), true, &e, &err), 0);
    assert_int_equal(e.code, SBX_CONNECT_OK);
    const char *end = "{\"error\":{\"code\":\"deadline_exceeded\"}}";
    assert_int_equal(sbx_connect_parse_error(end, strlen(end), true, &e, &err), 0);
    assert_int_equal(e.code, SBX_CONNECT_DEADLINE_EXCEEDED);
    assert_string_equal(e.message, "");
    /* bad bodies name the problem */
    const char *bad[] = {"[]", "{\"code\":5}", "{\"code\":\"teapot\"}", "not json",
                         "{\"code\":\"internal\",\"message\":7}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(sbx_connect_parse_error(bad[i], strlen(bad[i]), false, &e, &err),
                         -EPROTO);
        assert_int_equal(err.code, -EPROTO);
        assert_non_null(strstr(err.msg, "connect:"));
        assert_int_equal(e.code, SBX_CONNECT_OK);
    }
    const char *bad_end = "{\"error\":\"boom\"}";
    assert_int_equal(sbx_connect_parse_error(bad_end, strlen(bad_end), true, &e, &err), -EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_envelope_bytes),
        cmocka_unit_test(test_reader_any_split),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_parse_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
