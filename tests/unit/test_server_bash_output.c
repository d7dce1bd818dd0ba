/* Tests for src/server/bash/output.c: cutting a command's output out of the
 * pane as upstream's _combine_outputs_between_matches and _get_command_output
 * do (openhands-protocol.md §5.2). Expected strings were computed with
 * Python's re/str semantics on the same panes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "server/bash/output.h"
#include "server/bash/ps1.h"

#define B(body) "###PS1JSON###\n" body "\n###PS1END###"

/* Finds the blocks of pane, checks their number, combines. */
static void expect_combine(const char *pane, size_t nblocks, bool before_last, const char *want)
{
    struct sbx_ps1_matches m;
    struct sbx_buf out = SBX_BUF_INIT;

    assert_int_equal(sbx_ps1_find(pane, strlen(pane), &m), 0);
    assert_int_equal(m.n, nblocks);
    assert_int_equal(sbx_buf_addstr(&out, "<"), 0);
    assert_int_equal(sbx_bash_combine(pane, strlen(pane), &m, before_last, &out), 0);
    /* Appends: what was in out stays. */
    assert_memory_equal(out.ptr, "<", 1);
    assert_string_equal(out.ptr + 1, want);
    assert_int_equal(out.len, 1 + strlen(want));
    sbx_ps1_matches_free(&m);
    sbx_buf_free(&out);
}

static void test_combine_no_block(void **state)
{
    (void)state;
    expect_combine("", 0, false, "");
    expect_combine("just text\n", 0, false, "just text\n");
    expect_combine("just text\n", 0, true, "just text\n");
}

static void test_combine_one_block(void **state)
{
    const char *pane = "before\n" B("{}") "\nls -l\nout1\n";

    (void)state;
    expect_combine(pane, 1, false, "ls -l\nout1\n");
    expect_combine(pane, 1, true, "before\n");
    /* Block at the very end: nothing after it (end + 1 is past the text). */
    expect_combine("pre\n" B("{}"), 1, false, "");
    expect_combine("pre\n" B("{}"), 1, true, "pre\n");
    expect_combine("pre\n" B("{}") "\n", 1, false, "");
    /* The byte after the block is dropped whatever it is. */
    expect_combine(B("{}") "xy", 1, false, "y");
    /* A second block not at a line start is output. */
    expect_combine(B("{}") B("{}") "x", 1, false, "##PS1JSON###\n{}\n###PS1END###x");
}

static void test_combine_two_blocks(void **state)
{
    const char *pane = "\n" B("{}") "\necho hi\nhi\n\n" B("{}") "\n";

    (void)state;
    /* before_last only matters for a single block. */
    expect_combine(pane, 2, false, "echo hi\nhi\n\n\n");
    expect_combine(pane, 2, true, "echo hi\nhi\n\n\n");
    /* Adjacent blocks: an empty segment still gets its "\n". */
    expect_combine(B("{}") "\n" B("{}"), 2, false, "\n");
}

static void test_combine_three_blocks(void **state)
{
    const char *pane = B("{}") "\nA\n" B("{}") "\nB\n" B("{}") "\ntail";

    (void)state;
    expect_combine(pane, 3, false, "A\n\nB\n\ntail");
    expect_combine(pane, 3, true, "A\n\nB\n\ntail");
}

static void test_combine_hand_made_matches(void **state)
{
    const char *pane = "0123456789";
    struct sbx_ps1_match v[2] = {{.start = 2, .end = 4}, {.start = 3, .end = 10}};
    struct sbx_ps1_matches m = {v, 2};
    struct sbx_buf out = SBX_BUF_INIT;

    (void)state;
    /* Python slicing: [5:3] is empty, [11:] is empty. */
    assert_int_equal(sbx_bash_combine(pane, 10, &m, false, &out), 0);
    assert_string_equal(out.ptr, "\n");
    sbx_buf_reset(&out);
    m.n = 1;
    assert_int_equal(sbx_bash_combine(pane, 10, &m, false, &out), 0);
    assert_string_equal(out.ptr, "56789");
    sbx_buf_reset(&out);
    assert_int_equal(sbx_bash_combine(pane, 10, &m, true, &out), 0);
    assert_string_equal(out.ptr, "01");
    sbx_buf_free(&out);
}

/* ---- _get_command_output ---------------------------------------------------- */

static void expect_clean(const char *raw, const char *prev, const char *cmd, const char *want)
{
    struct sbx_buf out = SBX_BUF_INIT;

    assert_int_equal(
        sbx_bash_clean_output(raw, strlen(raw), prev, prev ? strlen(prev) : 0, cmd, &out), 0);
    assert_string_equal(out.ptr, want);
    assert_int_equal(out.len, strlen(want));
    sbx_buf_free(&out);
}

static void test_clean_basic(void **state)
{
    (void)state;
    expect_clean("ls\nfile1\nfile2\n", NULL, "ls", "file1\nfile2");
    expect_clean("  \n ls\n  out  \n\n", NULL, "ls", "out");
    expect_clean("", NULL, "ls", "");
    expect_clean("ls", NULL, "ls", "");
    expect_clean(" \t\n", NULL, "", "");
    /* The command is left-stripped before matching. */
    expect_clean("echo x\nx\n", NULL, "   echo x", "x");
    /* Not a prefix: kept. */
    expect_clean("hello\n", NULL, "ls", "hello");
    expect_clean("l\n", NULL, "ls", "l");
    /* Only the first occurrence, only at the front. */
    expect_clean("ls ls\n", NULL, "ls", "ls");
    expect_clean("out\nls\n", NULL, "ls", "out\nls");
}

static void test_clean_prev_output(void **state)
{
    (void)state;
    expect_clean("abcdef\n", "abc", "", "def");
    expect_clean("abcdef\n", "abc", "de", "f");
    /* Not a prefix: nothing removed. */
    expect_clean("abcdef\n", "xyz", "", "abcdef");
    expect_clean("abc", "abcdef", "", "abc");
    /* prev is removed before the leading whitespace is stripped. */
    expect_clean("  abc\nmore", "abc", "", "abc\nmore");
    expect_clean("abc", "abc", "", "");
    expect_clean("  x", "", "", "x");
}

static void test_clean_echo_multiline(void **state)
{
    (void)state;
    expect_clean("for i in 1 2; do\necho $i\ndone\n1\n2\n", NULL, "for i in 1 2; do\necho $i\ndone",
                 "1\n2");
    /* An empty line inside the command is not echoed. */
    expect_clean("echo a\necho b\na\nb\n", NULL, "echo a\n\necho b", "a\nb");
    expect_clean("echo a\necho b\na\nb\n", NULL, "echo a\n\n\necho b", "a\nb");
}

static void test_clean_tab_echo(void **state)
{
    (void)state;
    /* "printf 'a" is 9 columns: the TAB runs to column 16 (7 spaces). */
    expect_clean("printf 'a       b'\na\tb\n", NULL, "printf 'a\tb'", "a\tb");
    /* A TAB at a tab stop runs a full 8 columns. */
    expect_clean("abcdefgh        x\nout", NULL, "abcdefgh\tx", "out");
    expect_clean("\tx\nout", NULL, "\tx", "out");
    /* Columns restart after a newline of the command. */
    expect_clean("ab\ncd      e\nout", NULL, "ab\ncd\te", "out");
    /* A multi-byte character is one column. */
    expect_clean("\xc3\xa9       x\nout", NULL, "\xc3\xa9\tx", "out");
    /* Too few spaces: not the echo. */
    expect_clean("a  x\nout", NULL, "a\tx", "a  x\nout");
}

static void test_clean_tab_after_wide_char(void **state)
{
    (void)state;
    /* U+65E5 takes two terminal columns, so readline pads to column 8 with
     * 6 spaces. */
    expect_clean("\xe6\x97\xa5      x\nout", NULL, "\xe6\x97\xa5\tx", "out");
}

static void test_clean_unicode_whitespace(void **state)
{
    (void)state;
    /* str.strip() also removes U+00A0 (and other Unicode spaces). */
    expect_clean("\xc2\xa0out\xc2\xa0", NULL, "", "out");
}

static void test_is_space(void **state)
{
    static const char sp[] = " \t\n\v\f\r\x1c\x1d\x1e\x1f";
    unsigned c;

    (void)state;
    for (c = 0; c < 256; c++) {
        bool want = c && memchr(sp, (int)c, sizeof(sp) - 1) != NULL;

        if (sbx_bash_is_space((unsigned char)c) != want)
            fail_msg("byte 0x%02x", c);
    }
}

/* ---- len(s.splitlines()) ------------------------------------------------------ */

static size_t lines(const char *s)
{
    return sbx_bash_count_lines(s, strlen(s));
}

static void test_count_lines(void **state)
{
    (void)state;
    assert_int_equal(lines(""), 0);
    assert_int_equal(lines("a"), 1);
    assert_int_equal(lines("a\n"), 1);
    assert_int_equal(lines("a\n\nb"), 3);
    assert_int_equal(lines("\n"), 1);
    assert_int_equal(lines("\n\n"), 2);
    assert_int_equal(lines("a\r\nb"), 2);
    assert_int_equal(lines("a\r\n"), 1);
    assert_int_equal(lines("\r\r\n"), 2);
    assert_int_equal(lines("a\r\nb\rc\vd\fe\x1c"
                           "f\x1dg\x1eh\x1fi"),
                     8);
    assert_int_equal(sbx_bash_count_lines("a\0b", 3), 1);
}

static void test_count_lines_unicode_breaks(void **state)
{
    (void)state;
    /* splitlines() also breaks at U+0085, U+2028 and U+2029. */
    assert_int_equal(lines("a\xe2\x80\xa8"
                           "b"),
                     2);
    assert_int_equal(lines("a\xc2\x85"
                           "b"),
                     2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combine_no_block),
        cmocka_unit_test(test_combine_one_block),
        cmocka_unit_test(test_combine_two_blocks),
        cmocka_unit_test(test_combine_three_blocks),
        cmocka_unit_test(test_combine_hand_made_matches),
        cmocka_unit_test(test_clean_basic),
        cmocka_unit_test(test_clean_prev_output),
        cmocka_unit_test(test_clean_echo_multiline),
        cmocka_unit_test(test_clean_tab_echo),
        cmocka_unit_test(test_clean_tab_after_wide_char),
        cmocka_unit_test(test_clean_unicode_whitespace),
        cmocka_unit_test(test_is_space),
        cmocka_unit_test(test_count_lines),
        cmocka_unit_test(test_count_lines_unicode_breaks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
