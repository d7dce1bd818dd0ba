/* Tests for src/server/files/{common,read,write}.c helpers and
 * src/base/base64.c: the binaryornot port, path joining, text decoding, the
 * read window and the write splice (upstream files.py semantics). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/fd.h"
#include "server/files/files.h"

static void b64(const char *in, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_base64_encode(in, strlen(in), &b), 0);
    assert_string_equal(b.ptr, want);
    assert_int_equal(b.len, sbx_base64_encoded_len(strlen(in)));
    sbx_buf_free(&b);
}

/* RFC 4648 §10 test vectors. */
static void test_base64_rfc4648(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    const unsigned char bin[] = {0x00, 0xff, 0xfe, 0x80};

    (void)state;
    b64("", "");
    b64("f", "Zg==");
    b64("fo", "Zm8=");
    b64("foo", "Zm9v");
    b64("foob", "Zm9vYg==");
    b64("fooba", "Zm9vYmE=");
    b64("foobar", "Zm9vYmFy");
    assert_int_equal(sbx_base64_encode(bin, sizeof(bin), &b), 0);
    assert_string_equal(b.ptr, "AP/+gA==");
    /* appends */
    assert_int_equal(sbx_base64_encode("f", 1, &b), 0);
    assert_string_equal(b.ptr, "AP/+gA==Zg==");
    sbx_buf_free(&b);
}

static bool bin_str(const char *s, size_t n)
{
    return sbx_files_binary_chunk((const unsigned char *)s, n);
}

static void test_binary_heuristic(void **state)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0"
                              "\x1f\x15\xc4\x89";
    unsigned char rnd[1024];
    char buf[1024];
    size_t i;

    (void)state;
    assert_false(bin_str("", 0));
    assert_false(bin_str("hello world\n", 12));
    assert_false(bin_str("tabs\tand\r\nfeeds\f\b\n", 18));
    /* a NUL among text */
    assert_true(bin_str("abc\0def", 7));
    /* 0xff among text (not UTF-8, no confident charset) */
    assert_true(bin_str("abc\xff"
                        "def",
                        7));
    /* PNG signature + IHDR: NULs */
    assert_true(bin_str(png, sizeof(png) - 1));
    /* latin-1 text without 0xff is text */
    assert_false(bin_str("caf\xe9 cr\xe8me br\xfbl\xe9"
                         "e\n",
                         18));
    /* many control characters, all below 0x7f: r1 > 0.8 and r2 > 0.8 */
    memset(buf, 0x01, sizeof(buf));
    assert_true(bin_str(buf, 100));
    /* 30% control chars only: not "likely", no NUL/0xff -> text */
    memset(buf, 'a', 100);
    memset(buf, 0x02, 31);
    assert_false(bin_str(buf, 100));
    /* mostly high bytes, invalid UTF-8: r1 > 0.3, r2 < 0.05 -> binary */
    for (i = 0; i < 100; i++)
        buf[i] = (char)(0x80 + (i % 0x40));
    assert_true(bin_str(buf, 100));
    /* the same share of high bytes as valid UTF-8 (CJK): decodable -> text */
    for (i = 0; i + 3 <= 99; i += 3) {
        buf[i] = (char)0xe4;
        buf[i + 1] = (char)0xb8;
        buf[i + 2] = (char)0xad;
    }
    assert_false(bin_str(buf, 99));
    /* ... but cut inside a character it no longer decodes: binary, as upstream */
    assert_true(bin_str(buf, 98));
    /* few multi-byte chars (chardet confidence <= 0.9) in ASCII: text anyway */
    assert_false(bin_str("na\xc3\xafve caf\xc3\xa9\n", 13));
    /* UTF-8 BOM with valid text; UTF-16LE with BOM (NULs!) is text */
    assert_false(bin_str("\xef\xbb\xbfhi\n", 6));
    assert_false(bin_str("\xff\xfeh\0i\0\n\0", 8));
    /* odd-length UTF-16: does not decode, has NUL and 0xff -> binary */
    assert_true(bin_str("\xff\xfeh\0i\0\n", 7));
    /* UTF-32LE BOM */
    assert_false(bin_str("\xff\xfe\0\0h\0\0\0", 8));
    /* pseudo-random bytes */
    for (i = 0; i < sizeof(rnd); i++)
        rnd[i] = (unsigned char)((i * 2654435761u) >> 13);
    assert_true(sbx_files_binary_chunk(rnd, sizeof(rnd)));
}

static void test_is_binary_file(void **state)
{
    char dir[] = "/tmp/sbx-files-XXXXXX", p[128];
    static const char pdf[] = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 20 /Filter "
                              "/FlateDecode >>\nstream\nx\x9c\x03\0\0\0\0\x01\xff\nendstream\n";

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    assert_int_equal(sbx_file_write_atomic(p, "text\n", 5, 0644), 0);
    assert_false(sbx_files_is_binary(p));
    snprintf(p, sizeof(p), "%s/a.pdf", dir);
    assert_int_equal(sbx_file_write_atomic(p, pdf, sizeof(pdf) - 1, 0644), 0);
    assert_true(sbx_files_is_binary(p));
    unlink(p);
    /* missing and directories count as text; .pyc is binary by name */
    snprintf(p, sizeof(p), "%s/missing", dir);
    assert_false(sbx_files_is_binary(p));
    assert_false(sbx_files_is_binary(dir));
    snprintf(p, sizeof(p), "%s/missing.pyc", dir);
    assert_true(sbx_files_is_binary(p));
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    unlink(p);
    rmdir(dir);
}

static void res(const char *cwd, const char *path, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_files_resolve(cwd, path, &b), 0);
    assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
}

static void test_resolve_like_pathlib(void **state)
{
    (void)state;
    res("/ws", "a.txt", "/ws/a.txt");
    res("/ws", "./a/./b/", "/ws/a/b");
    res("/ws", "../x", "/ws/../x");
    res("/ws", "/abs//p/", "/abs/p");
    res("/ws", "", "/ws");
    res("/", "f", "/f");
    res("/ws", "//srv/x", "//srv/x");
    res("/ws", "///srv/x", "/srv/x");
    res("/ws", "/", "/");
}

static void dec(const char *in, size_t n, int want_rc, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_files_decode_text(in, n, &b), want_rc);
    if (want)
        assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
}

static void test_decode_text(void **state)
{
    (void)state;
    dec("a\r\nb\rc\n", 7, 0, "a\nb\nc\n");
    dec("x\r", 2, 0, "x\n");
    dec("\xc3\xa9", 2, 0, "\xc3\xa9");
    dec("\xe9t\xe9", 3, -EILSEQ, NULL);
    dec("\xed\xa0\x80", 3, -EILSEQ, NULL); /* surrogate */
    dec("\xc0\xaf", 2, -EILSEQ, NULL);     /* overlong */
    dec("\xe4\xb8", 2, -EILSEQ, NULL);     /* truncated */
}

/* read_lines() on n lines: the slice it returns */
static void win(size_t n, int64_t s, int64_t e, size_t wb, size_t we)
{
    size_t b = 99, en = 99;

    sbx_files_window(n, s, e, &b, &en);
    assert_int_equal(b, wb);
    assert_int_equal(en, we);
}

static void test_read_window(void **state)
{
    (void)state;
    win(5, 0, -1, 0, 5);  /* whole file */
    win(5, 2, -1, 2, 5);  /* lines[2:] */
    win(5, 9, -1, 5, 5);  /* start past the end */
    win(5, -3, -1, 0, 5); /* negative start -> 0 */
    win(5, 1, 3, 1, 3);
    win(5, 4, 5, 3, 5); /* begin clamped to n-2 */
    win(5, 4, 4, 3, 4);
    win(5, 2, 2, 2, 3);   /* end = max(begin+1, end) */
    win(5, 0, 100, 0, 5); /* end clamped to n */
    win(5, 1, -5, 1, 2);  /* end < -1 -> 0 -> begin+1 */
    win(5, 0, 0, 0, 1);
    win(1, 3, 7, 0, 1);
    win(0, 0, 5, 0, 0);
    win(0, 0, -1, 0, 0);
    win(2, 5, 6, 0, 2);
}

static void splice_eq(const char *old, const char *content, int64_t s, int64_t e, const char *want)
{
    struct sbx_files_lines l = {0};
    struct sbx_buf b = SBX_BUF_INIT;

    if (old)
        assert_int_equal(sbx_files_lines_split(old, strlen(old), &l), 0);
    assert_int_equal(sbx_files_splice(old, old ? &l : NULL, content, s, e, &b), 0);
    assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
    sbx_files_lines_free(&l);
}

static void test_write_splice(void **state)
{
    const char *old = "l0\nl1\nl2\nl3\n";

    (void)state;
    /* new files: every piece gets '\n' */
    splice_eq(NULL, "a", 0, -1, "a\n");
    splice_eq(NULL, "", 0, -1, "\n");
    splice_eq(NULL, "a\nb\n", 0, -1, "a\nb\n\n");
    /* existing: defaults replace everything the same way */
    splice_eq(old, "x", 0, -1, "x\n");
    splice_eq(old, "x", 1, 3, "l0\nx\nl3\n");
    splice_eq(old, "x", 2, -1, "l0\nl1\nx\n");
    splice_eq(old, "x", 0, 2, "x\nl2\nl3\n");
    splice_eq(old, "x\ny", 1, 1, "l0\nx\ny\nl1\nl2\nl3\n");
    /* Python slices: negative and out-of-range indices */
    splice_eq(old, "x", -1, -1, "l0\nl1\nl2\nx\n");
    splice_eq(old, "x", 0, -2, "x\nl2\nl3\n");
    splice_eq(old, "x", 10, 20, "l0\nl1\nl2\nl3\nx\n");
    /* a last line without '\n' stays without */
    splice_eq("a\nb", "x", 0, 1, "x\nb");
    splice_eq("", "x", 3, 5, "x\n");
}

static void test_lines_split(void **state)
{
    struct sbx_files_lines l = {0};

    (void)state;
    assert_int_equal(sbx_files_lines_split("a\nb", 3, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.off[1], 2);
    assert_int_equal(l.off[2], 3);
    sbx_files_lines_free(&l);
    assert_int_equal(sbx_files_lines_split("", 0, &l), 0);
    assert_int_equal(l.n, 0);
    sbx_files_lines_free(&l);
    assert_int_equal(sbx_files_lines_split("\n\n", 2, &l), 0);
    assert_int_equal(l.n, 2);
    sbx_files_lines_free(&l);
}

static void test_oserror(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_files_oserror(-EPERM, "/a/b", &b), 0);
    assert_string_equal(b.ptr, "[Errno 1] Operation not permitted: '/a/b'");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_files_oserror(-ENOTDIR, "/it's", &b), 0);
    assert_string_equal(b.ptr, "[Errno 20] Not a directory: \"/it's\"");
    sbx_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_rfc4648), cmocka_unit_test(test_binary_heuristic),
        cmocka_unit_test(test_is_binary_file), cmocka_unit_test(test_resolve_like_pathlib),
        cmocka_unit_test(test_decode_text),    cmocka_unit_test(test_read_window),
        cmocka_unit_test(test_write_splice),   cmocka_unit_test(test_lines_split),
        cmocka_unit_test(test_oserror),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
