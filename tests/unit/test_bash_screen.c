/* Unit tests for src/server/bash/screen*.c. Every expected capture below was
 * taken from tmux 3.3a (1000x1000 pane, history-limit 10000, `capture-pane
 * -J -pS -`, libtmux trailing-empty-line drop, per-line rstrip); the same
 * inputs run against live tmux in tests/integration/test_screen_tmux.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/buf.h"
#include "server/bash/screen.h"

#define S(lit) lit, sizeof(lit) - 1

static struct sbx_screen *upstream(void)
{
    struct sbx_screen *s = sbx_screen_new(1000, 1000, 10000);
    assert_non_null(s);
    return s;
}

static char *capture(const struct sbx_screen *s)
{
    struct sbx_buf b = SBX_BUF_INIT;
    assert_int_equal(sbx_screen_capture(s, &b), 0);
    return sbx_buf_detach(&b, NULL);
}

/* Feeds the bytes whole, then again split at every position and byte by
 * byte, and checks all three give `want`. */
static void check(const char *in, size_t n, const char *want)
{
    struct sbx_screen *s = upstream();
    char *got;
    size_t cut;

    assert_true(sbx_screen_feed(s, in, n) >= 0);
    got = capture(s);
    assert_string_equal(got, want);
    free(got);
    sbx_screen_free(s);

    if (n <= 4096) {
        for (cut = 1; cut < n; cut += (n > 200 ? 37 : 1)) {
            s = upstream();
            assert_true(sbx_screen_feed(s, in, cut) >= 0);
            assert_true(sbx_screen_feed(s, in + cut, n - cut) >= 0);
            got = capture(s);
            assert_string_equal(got, want);
            free(got);
            sbx_screen_free(s);
        }
    }
    s = upstream();
    for (cut = 0; cut < n; cut++)
        assert_true(sbx_screen_feed(s, in + cut, 1) >= 0);
    got = capture(s);
    assert_string_equal(got, want);
    free(got);
    sbx_screen_free(s);
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
    struct sbx_buf b = SBX_BUF_INIT;
    size_t i;

    for (i = 0; i < times; i++)
        assert_int_equal(sbx_buf_addstr(&b, unit), 0);
    assert_int_equal(sbx_buf_addstr(&b, tail), 0);
    return sbx_buf_detach(&b, NULL);
}

static char *seq(unsigned from, unsigned to)
{
    struct sbx_buf b = SBX_BUF_INIT;
    unsigned i;

    for (i = from; i <= to; i++)
        assert_int_equal(sbx_buf_addf(&b, "%u\r\n", i), 0);
    return sbx_buf_detach(&b, NULL);
}

static void test_newlines(void **state)
{
    (void)state;
    check(S("hello\r\nworld\r\n"), "hello\nworld");
    check(S("a\r\nb"), "a\nb");
    /* A bare LF moves down and keeps the column. */
    check(S("a\nb\nc"), "a\n b\n  c");
    check(S(""), "");
    check(S("\r\n\r\n\r\n"), "");
    check(S("\r\n\r\nx\r\n\r\n"), "\n\nx");
}

static void test_cr_and_progress(void **state)
{
    struct sbx_buf in = SBX_BUF_INIT;
    int i;

    (void)state;
    check(S("abcdef\rXY\r\n"), "XYcdef");
    check(S("abc\rX\r\n"), "Xbc");
    for (i = 0; i <= 100; i++)
        assert_int_equal(sbx_buf_addf(&in, "\r[%-20.*s] %3d%%", i / 5, "####################", i),
                         0);
    assert_int_equal(sbx_buf_addstr(&in, "\r\n"), 0);
    check(in.ptr, in.len, "[####################] 100%");
    sbx_buf_free(&in);
}

static void test_backspace(void **state)
{
    char *want;

    (void)state;
    check(S("abc\bd\b\bZ"), "aZd");
    check(S("abc\bd\b\bZ\b\b\b\b\bQ"), "QZd");
    /* At column 0 BS goes back over a wrap (tmux 3.3a). */
    want = repeat(" ", 999, "bar");
    check(S("\033[999Cfoo\r\bbar"), want);
    free(want);
    check(S("x\r\n\r\bbar"), "x\nbar");
}

static void test_tabs(void **state)
{
    (void)state;
    /* tmux moves the cursor to the next 8-column stop and writes nothing:
     * the gap prints as spaces, a trailing tab as nothing. */
    check(S("a\tb\tc\r\n"), "a       b       c");
    check(S("tab\tX\t\tY"), "tab     X               Y");
    check(S("\t\r\n"), "");
    check(S("ab\t"), "ab");
    check(S("\033[12Cz\033[15D\t."), "        .   z");
}

static void test_trailing_space_lines(void **state)
{
    struct sbx_screen *s = upstream();
    char *got;

    (void)state;
    /* tmux prints the written spaces, libtmux keeps the line, OpenHands
     * strips it: the capture ends with an empty line. */
    assert_int_equal(sbx_screen_feed(s, S("x\r\n   \r\n")), 1);
    got = capture(s);
    assert_string_equal(got, "x\n");
    free(got);
    assert_int_equal(sbx_screen_line_count(s), 2);
    sbx_screen_free(s);
    check(S("   "), "");
    check(S("a\xc2\xa0\r\n\xe3\x80\x80\r\nb"), "a\n\nb"); /* NBSP, U+3000 stripped */
}

static void test_erase_line(void **state)
{
    (void)state;
    check(S("abcdef\033[3D\033[K"), "abc");
    check(S("abcdef\033[3D\033[1K"), "    ef");
    check(S("abcdef\033[2K\r\nnext"), "\nnext");
    check(S("abc\r\033[K"), "");
    check(S("ab\033[3Cx\033[4D\033[K"), "ab");
    check(S("1\r\n2\r\n3\033[2A\033[Kq"), "1q\n2\n3");
}

static void test_erase_display(void **state)
{
    char *in;

    (void)state;
    check(S("1\r\n2\r\n3\033[A\033[J"), "1\n2");
    check(S("1\r\n2\r\n3\033[A\033[1J"), "\n\n3");
    check(S("a\033[1J"), "");
    /* ED 2 pushes the used rows into history; the cursor stays put. */
    check(S("1\r\n2\r\n\033[2Jx"), "1\n2\n\n\nx");
    check(S("1\r\n2\r\n\033[H\033[2Jc"), "1\n2\nc");
    check(S("1\r\n2\r\n3\033[3J"), "1\n2\n3");
    /* `clear` sends ESC[H ESC[2J ESC[3J: everything goes. */
    check(S("1\r\n2\r\n\033[H\033[2J\033[3Jc"), "c");
    in = seq(1, 1500);
    {
        struct sbx_buf b = SBX_BUF_INIT;
        struct sbx_screen *s = upstream();
        char *got;
        assert_int_equal(sbx_buf_addstr(&b, in), 0);
        assert_int_equal(sbx_buf_addstr(&b, "\033[H\033[2J\033[3JX\r\n"), 0);
        assert_int_equal(sbx_screen_feed(s, b.ptr, b.len), 1);
        got = capture(s);
        assert_string_equal(got, "X");
        free(got);
        assert_int_equal(sbx_screen_dropped(s), 1500);
        sbx_screen_free(s);
        sbx_buf_free(&b);
    }
    free(in);
}

static void test_cursor_moves(void **state)
{
    (void)state;
    check(S("x\033[5Cy"), "x     y");
    check(S("x\033[Hy"), "y");
    check(S("1\r\n2\r\n3\033[1;1HZ\033[5;3HW"), "Z\n2\n3\n\n  W");
    check(S("ab\033[5GX"), "ab  X");
    check(S("ab\033[0GX"), "Xb");
    check(S("abc\033[DD\033[3BZ"), "abD\n\n\n   Z");
    check(S("1\r\n2\033[99AX"), "1X\n2");
    check(S("1\r\n2\r\n3\033[2;1fQ"), "1\nQ\n3");
    /* ESC 7 / ESC 8 save and restore the cursor. */
    check(S("\033(B\033)0a\033=b\033>c\0337d\0338e"), "abce");
}

static void test_ignored_sequences(void **state)
{
    struct sbx_screen *s = upstream();

    (void)state;
    check(S("\033[31mred\033[0m \033[1;38;5;200;48;2;1;2;3mx\033[m"), "red x");
    check(S("\033]0;title\007x\033]2;t\033\\y\033]8;;http://x\033\\link\033]8;;\033\\"), "xylink");
    check(S("q\033[?2004hr\033[?2004ls\033[?25l\033[?1h"), "qrs");
    check(S("a\007b\000c\001d\016e\017f\177g"), "abcdefg");
    check(S("\033P1$r\033\\a\033_apc\033\\b\033kname\033\\c"), "abc");
    /* Nothing visible changed: feed says 0. */
    assert_int_equal(sbx_screen_feed(s, S("\033[31m\033]0;t\007\033[A\033[?2004h")), 0);
    assert_int_equal(sbx_screen_feed(s, S("a")), 1);
    sbx_screen_free(s);
}

static void test_alternate_screen(void **state)
{
    char *in, *want;
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    /* While on the alternate screen tmux captures it (below the history). */
    check(S("main\r\n\033[?1049halt\r\n"), "\nalt");
    check(S("main\r\n\033[?1049halt\r\n\033[?1049lback"), "main\nback");
    check(S("a\033[?47hb\033[?47lc"), "a c");
    in = seq(1, 1500);
    assert_int_equal(sbx_buf_addstr(&b, in), 0);
    assert_int_equal(sbx_buf_addstr(&b, "\033[?1049hALT\033[?1049lback"), 0);
    want = seq(1, 1500);
    want[strlen(want) - 2] = '\0';
    {
        struct sbx_buf w = SBX_BUF_INIT;
        char *p;
        for (p = want; *p; p++)
            if (*p != '\r')
                assert_int_equal(sbx_buf_addch(&w, *p), 0);
        assert_int_equal(sbx_buf_addstr(&w, "\nback"), 0);
        check(b.ptr, b.len, w.ptr);
        sbx_buf_free(&w);
    }
    free(want);
    free(in);
    sbx_buf_free(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    check(S("caf\xc3\xa9 \xe4\xb8\xadx\r\n\xf0\x9f\x98\x80y"),
          "caf\xc3\xa9 \xe4\xb8\xadx\n\xf0\x9f\x98\x80y");
    /* Invalid bytes, overlongs, surrogates, > U+10FFFF and C1 are dropped. */
    check(S("a\xff"
            "b\xc3"
            "c\x80"
            "d\xed\xa0\x80"
            "e\xf4\x90\x80\x80"
            "f\xc0\x80"
            "g\xe0\x80\x80h"),
          "abcdefgh");
    check(S("a\xc2\x85"
            "b"),
          "ab");
    /* A byte that breaks a sequence goes with it; escapes do not end one. */
    check(S("\xe4\xb8\xc3\xa9t\xc3\xa9"), "t\xc3\xa9");
    check(S("\xe4\xb8\033D\xc3\xa9t\xc3\xa9"), "\nt\xc3\xa9");
    /* Zero-width characters join the previous cell, or vanish at column 0. */
    check(S("e\xcc\x81x\r\n\xcc\x81y\r\na\xe2\x80\x8b"
            "b"),
          "e\xcc\x81x\ny\na\xe2\x80\x8b"
          "b");
    check(S("\xe2\x9d\xa4\xef\xb8\x8f!"), "\xe2\x9d\xa4\xef\xb8\x8f!");
    check(S("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"), "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd");
    check(S("ab\033[C\xcc\x81"), "ab \xcc\x81");
}

static void test_wide_overwrite(void **state)
{
    (void)state;
    check(S("\xe4\xb8\xad\xe4\xb8\xad\033[3D\033[KX"), "\xe4\xb8\xadX");
    check(S("\xe4\xb8\xad\xe4\xb8\xad\033[3DX"), "\xe4\xb8\xadX\xe4\xb8\xad");
    check(S("\xe4\xb8\xad\xe4\xb8\xad\033[4DX"), "X \xe4\xb8\xad");
    /* With autowrap off tmux writes ASCII like any character: landing on a
     * padding cell blanks the wide character it belongs to. */
    check(S("\033[?7l\xe4\xb8\xad\xe6\x96\x87\033[3De\xcc\x81"), " e\xcc\x81\xe6\x96\x87");
}

static void test_wrap_and_join(void **state)
{
    char *in, *want;

    (void)state;
    /* 3500 columns wrap over 4 rows and come back as one line. */
    in = repeat("0123456789", 350, "\r\nend");
    want = repeat("0123456789", 350, "\nend");
    check(in, strlen(in), want);
    free(in);
    free(want);
    /* Exactly 1000 columns: pending wrap, CRLF does not add a row. */
    in = repeat("a", 1000, "\r\nb");
    want = repeat("a", 1000, "\nb");
    check(in, strlen(in), want);
    free(in);
    free(want);
    /* From the pending-wrap column BS and CUB count from column 1000. */
    in = repeat("a", 1000, "\bZ");
    want = repeat("a", 999, "Z");
    check(in, strlen(in), want);
    free(in);
    in = repeat("a", 1000, "\033[DZ");
    check(in, strlen(in), want);
    free(in);
    free(want);
    /* Rewriting the first row keeps the join; erasing it breaks it. */
    in = repeat("a", 1001, "\r\033[AZ");
    want = repeat("a", 1001, "");
    want[0] = 'Z';
    check(in, strlen(in), want);
    free(in);
    free(want);
    in = repeat("a", 1001, "\r\033[A\033[2KZ");
    check(in, strlen(in), "Z\na");
    free(in);
    in = repeat("a", 1500, "\r\033[Kxy");
    want = repeat("a", 1000, "\nxy");
    check(in, strlen(in), want);
    free(in);
    free(want);
    /* A wide character that does not fit wraps whole. */
    in = repeat("a", 999, "\xe4\xb8\xadZ");
    want = repeat("a", 999, "\xe4\xb8\xadZ");
    check(in, strlen(in), want);
    free(in);
    free(want);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_history_50000(void **state)
{
    struct sbx_screen *s = upstream();
    char *in = seq(1, 50000), *got, *want, *p;
    size_t n = strlen(in), len;
    double t0, t1;
    struct sbx_buf w = SBX_BUF_INIT;

    (void)state;
    t0 = now_s();
    assert_int_equal(sbx_screen_feed(s, in, n), 1);
    t1 = now_s();
    print_message("feed %zu bytes (50000 lines) in %.2f ms: %.0f MB/s\n", n, (t1 - t0) * 1e3,
                  (double)n / (t1 - t0) / 1e6);
    /* tmux keeps 10000 rows: at 10000 history rows it frees the oldest 1000
     * before the next scroll, so 40001..50000 remain. */
    assert_int_equal(sbx_screen_line_count(s), 10000);
    assert_int_equal(sbx_screen_dropped(s), 40000);
    assert_string_equal(sbx_screen_line(s, 0, &len), "40001");
    assert_int_equal(len, 5);
    assert_string_equal(sbx_screen_line(s, 9999, NULL), "50000");
    assert_string_equal(sbx_screen_line(s, 10000, &len), "");
    got = capture(s);
    want = seq(40001, 50000);
    for (p = want; *p; p++)
        if (*p != '\r')
            assert_int_equal(sbx_buf_addch(&w, *p), 0);
    sbx_buf_truncate(&w, w.len - 1);
    assert_string_equal(got, w.ptr);
    sbx_buf_free(&w);
    free(want);
    free(got);
    free(in);
    sbx_screen_free(s);
}

static void test_history_edges(void **state)
{
    static const struct {
        unsigned lines, first, count;
    } cases[] = {{10999, 1, 10999}, {11000, 1001, 10000}, {11001, 1001, 10001}};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbx_screen *s = upstream();
        char *in = seq(1, cases[i].lines), first[16];
        assert_int_equal(sbx_screen_feed(s, in, strlen(in)), 1);
        assert_int_equal(sbx_screen_line_count(s), cases[i].count);
        snprintf(first, sizeof(first), "%u", cases[i].first);
        assert_string_equal(sbx_screen_line(s, 0, NULL), first);
        assert_int_equal(sbx_screen_dropped(s), cases[i].first - 1);
        free(in);
        sbx_screen_free(s);
    }
}

static void test_small_screen_rows_count(void **state)
{
    /* tmux 10x3, history-limit 5: rows, not lines, count, and wrapped
     * lines are kept whole here. */
    struct sbx_screen *s = sbx_screen_new(10, 3, 5);
    char *in = seq(1, 20), *got;

    (void)state;
    assert_non_null(s);
    assert_int_equal(sbx_screen_feed(s, in, strlen(in)), 1);
    assert_int_equal(
        sbx_screen_feed(s, S("abcdefghijklmnopqrstuvwxy\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789z")),
        1);
    got = capture(s);
    assert_string_equal(got,
                        "20\nabcdefghijklmnopqrstuvwxy\nABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789z");
    assert_int_equal(sbx_screen_dropped(s), 19);
    free(got);
    free(in);
    sbx_screen_free(s);
}

static void test_clear(void **state)
{
    struct sbx_screen *s = upstream();
    char *in = seq(1, 20000), *got;

    (void)state;
    assert_int_equal(sbx_screen_feed(s, in, strlen(in)), 1);
    assert_true(sbx_screen_dropped(s) > 0);
    sbx_screen_clear(s);
    assert_int_equal(sbx_screen_dropped(s), 0);
    assert_int_equal(sbx_screen_line_count(s), 0);
    got = capture(s);
    assert_string_equal(got, "");
    free(got);
    assert_int_equal(sbx_screen_feed(s, S("x\r\ny")), 1);
    got = capture(s);
    assert_string_equal(got, "x\ny");
    free(got);
    free(in);
    sbx_screen_free(s);
    sbx_screen_free(NULL);
    sbx_screen_clear(NULL);
}

static void test_ris(void **state)
{
    (void)state;
    check(S("abc\r\ndef\033cghi"), "abc\ndef\nghi");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newlines),
        cmocka_unit_test(test_cr_and_progress),
        cmocka_unit_test(test_backspace),
        cmocka_unit_test(test_tabs),
        cmocka_unit_test(test_trailing_space_lines),
        cmocka_unit_test(test_erase_line),
        cmocka_unit_test(test_erase_display),
        cmocka_unit_test(test_cursor_moves),
        cmocka_unit_test(test_ignored_sequences),
        cmocka_unit_test(test_alternate_screen),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_wide_overwrite),
        cmocka_unit_test(test_wrap_and_join),
        cmocka_unit_test(test_history_50000),
        cmocka_unit_test(test_history_edges),
        cmocka_unit_test(test_small_screen_rows_count),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_ris),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
