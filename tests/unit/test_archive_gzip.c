/* Tests for src/archive/gzip.c: round trips in pieces of every size, a
 * member made by Python's gzip, multistream, and the damaged inputs Go's
 * compress/gzip refuses (with its wording). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "archive/gzip.h"
#include "base/buf.h"

/* gzip.compress(b"hello\n", mtime=0) */
static const unsigned char HELLO_GZ[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                                         0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7, 0x02, 0x00,
                                         0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00};

static int to_buf(const void *p, size_t n, void *ud)
{
    return sbx_buf_add(ud, p, n);
}

static int refuse(const void *p, size_t n, void *ud)
{
    (void)p;
    (void)n;
    (void)ud;
    return -ENOSPC;
}

/* Gunzips in (n bytes) fed in pieces of `piece`; returns the rc of the
 * first failing call (or of finish) and the output in out. */
static int gunzip_all(const void *in, size_t n, size_t piece, struct sbx_buf *out,
                      struct sbx_err *err)
{
    struct sbx_gunzip *g = sbx_gunzip_new(to_buf, out);
    const unsigned char *p = in;
    int rc = 0;

    assert_non_null(g);
    for (size_t off = 0; off < n && rc == 0; off += piece)
        rc = sbx_gunzip_feed(g, p + off, n - off < piece ? n - off : piece, err);
    if (rc == 0)
        rc = sbx_gunzip_finish(g, err);
    sbx_gunzip_free(g);
    return rc;
}

static void gzip_all(const void *in, size_t n, size_t piece, struct sbx_buf *out)
{
    struct sbx_err err = {0};
    struct sbx_gzip *z = sbx_gzip_new(-1, to_buf, out);
    const unsigned char *p = in;

    assert_non_null(z);
    for (size_t off = 0; off < n; off += piece)
        assert_int_equal(sbx_gzip_feed(z, p + off, n - off < piece ? n - off : piece, &err), 0);
    assert_int_equal(sbx_gzip_finish(z, &err), 0);
    sbx_gzip_free(z);
}

static void test_python_member(void **state)
{
    (void)state;
    for (size_t piece = 1; piece <= sizeof(HELLO_GZ); piece++) {
        struct sbx_buf out = SBX_BUF_INIT;
        struct sbx_err err = {0};

        assert_int_equal(gunzip_all(HELLO_GZ, sizeof(HELLO_GZ), piece, &out, &err), 0);
        assert_int_equal(out.len, 6);
        assert_memory_equal(out.ptr, "hello\n", 6);
        sbx_buf_free(&out);
    }
}

static void test_round_trip(void **state)
{
    static const size_t sizes[] = {0, 1, 100, 65536, 300000};
    static const size_t pieces[] = {1, 7, 4096, 1 << 20};

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *data = malloc(sizes[i] + 1);
        uint32_t x = 12345;

        assert_non_null(data);
        /* half compressible, half noise */
        for (size_t k = 0; k < sizes[i]; k++) {
            x = x * 1103515245u + 12345u;
            data[k] = k % 2 ? (unsigned char)(x >> 16) : (unsigned char)('a' + k % 13);
        }
        for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
            struct sbx_buf gz = SBX_BUF_INIT, back = SBX_BUF_INIT;
            struct sbx_err err = {0};

            if (pieces[j] == 1 && sizes[i] > 70000)
                continue; /* slow, and covered by the smaller sizes */
            gzip_all(data, sizes[i], pieces[j], &gz);
            assert_true(gz.len >= 20);
            assert_int_equal((unsigned char)gz.ptr[0], 0x1f);
            assert_int_equal((unsigned char)gz.ptr[1], 0x8b);
            assert_int_equal(gunzip_all(gz.ptr, gz.len, pieces[j], &back, &err), 0);
            assert_int_equal(back.len, sizes[i]);
            if (sizes[i])
                assert_memory_equal(back.ptr, data, sizes[i]);
            sbx_buf_free(&gz);
            sbx_buf_free(&back);
        }
        free(data);
    }
}

static void test_multistream(void **state)
{
    unsigned char two[2 * sizeof(HELLO_GZ)];
    struct sbx_buf out = SBX_BUF_INIT;
    struct sbx_err err = {0};

    (void)state;
    memcpy(two, HELLO_GZ, sizeof(HELLO_GZ));
    memcpy(two + sizeof(HELLO_GZ), HELLO_GZ, sizeof(HELLO_GZ));
    for (size_t piece = 1; piece <= sizeof(two); piece += 5) {
        sbx_buf_reset(&out);
        assert_int_equal(gunzip_all(two, sizeof(two), piece, &out, &err), 0);
        assert_int_equal(out.len, 12);
        assert_memory_equal(out.ptr, "hello\nhello\n", 12);
    }
    sbx_buf_free(&out);
}

static void expect_error(const void *in, size_t n, const char *msg, bool header_read)
{
    struct sbx_buf out = SBX_BUF_INIT;
    struct sbx_err err = {0};
    struct sbx_gunzip *g = sbx_gunzip_new(to_buf, &out);
    int rc;

    assert_non_null(g);
    rc = n ? sbx_gunzip_feed(g, in, n, &err) : 0;
    if (rc == 0)
        rc = sbx_gunzip_finish(g, &err);
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(err.msg, msg);
    assert_int_equal(sbx_gunzip_header_read(g), header_read);
    /* the error sticks */
    assert_int_equal(sbx_gunzip_feed(g, HELLO_GZ, sizeof(HELLO_GZ), &err), -EINVAL);
    sbx_gunzip_free(g);
    sbx_buf_free(&out);
}

static void test_damaged(void **state)
{
    unsigned char b[sizeof(HELLO_GZ) + 4];

    (void)state;
    expect_error("", 0, "EOF", false);
    expect_error("plain text, not gzip", 20, "gzip: invalid header", false);
    expect_error(HELLO_GZ, 5, "unexpected EOF", false);
    expect_error(HELLO_GZ, sizeof(HELLO_GZ) - 3, "unexpected EOF", true);
    memcpy(b, HELLO_GZ, sizeof(HELLO_GZ));
    b[sizeof(HELLO_GZ) - 6] ^= 1; /* the CRC */
    expect_error(b, sizeof(HELLO_GZ), "gzip: invalid checksum", true);
    memcpy(b, HELLO_GZ, sizeof(HELLO_GZ));
    b[10] = 0xff; /* a reserved block type */
    expect_error(b, sizeof(HELLO_GZ), "flate: corrupt input", true);
    memcpy(b, HELLO_GZ, sizeof(HELLO_GZ));
    memcpy(b + sizeof(HELLO_GZ), "junk", 4); /* garbage after a member */
    expect_error(b, sizeof(b), "gzip: invalid header", true);
}

static void test_output_refused(void **state)
{
    struct sbx_err err = {0};
    struct sbx_gunzip *g = sbx_gunzip_new(refuse, NULL);
    struct sbx_gzip *z = sbx_gzip_new(1, refuse, NULL);
    int rc;

    (void)state;
    assert_int_equal(sbx_gunzip_feed(g, HELLO_GZ, sizeof(HELLO_GZ), &err), -ENOSPC);
    assert_int_equal(sbx_gunzip_finish(g, &err), -ENOSPC);
    /* the header may go out at once or with the finish */
    rc = sbx_gzip_feed(z, "x", 1, &err);
    if (rc == 0)
        rc = sbx_gzip_finish(z, &err);
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(sbx_gzip_finish(z, &err), -ENOSPC);
    sbx_gunzip_free(g);
    sbx_gzip_free(z);
    sbx_gunzip_free(NULL);
    sbx_gzip_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_member), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_multistream),   cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_output_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
