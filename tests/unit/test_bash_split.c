/* Unit tests for src/server/bash/split.c: the cases of OpenHands'
 * tests/unit/runtime/utils/test_bash_parsing.py (split_bash_commands), ported
 * with their exact expected strings, plus the rules of
 * openhands-protocol.md 5.3 step 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/bash/split.h"

#define END ((const char *)NULL)

/* Splits `in` and checks the result against the NULL-terminated list. */
static void check_split(const char *in, ...)
{
    struct sbx_bash_split s = {0};
    va_list ap;
    size_t k = 0;
    const char *want;

    assert_int_equal(sbx_bash_split(in, strlen(in), &s), 0);
    va_start(ap, in);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (k >= s.n) {
            va_end(ap);
            fail_msg("input %s: only %zu commands, wanted more", in, s.n);
        }
        if (strcmp(s.cmds[k], want) != 0) {
            va_end(ap);
            fail_msg("input %s: command %zu is [%s], wanted [%s]", in, k, s.cmds[k], want);
        }
        k++;
    }
    va_end(ap);
    if (k != s.n)
        fail_msg("input %s: %zu commands, wanted %zu (extra: [%s])", in, s.n, k, s.cmds[k]);
    sbx_bash_split_free(&s);
    sbx_bash_split_free(&s); /* idempotent */
}

/* The input must come back unchanged as the only command. */
static void check_one(const char *in)
{
    check_split(in, in, END);
}

/* ---- upstream test_bash_parsing.py ---- */

static const char *const util_cmds[] = {
    "ls -l",
    "echo -e \"hello\nworld\"",
    "echo -e \"hello it\\'s me\"",
    "echo \\\n    -e 'hello' \\\n    -v",
    "echo -e 'hello\\nworld\\nare\\nyou\\nthere?'",
    "echo -e 'hello\nworld\nare\nyou\\n\nthere?'",
    "echo -e 'hello\nworld \"\n'",
    "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: busybox-sleep\nspec:\n"
    "  containers:\n  - name: busybox\n    image: busybox:1.28\n    args:\n    - sleep\n"
    "    - \"1000000\"\nEOF",
    "mkdir -p _modules && for month in {01..04}; do\n    for day in {01..05}; do\n        touch "
    "\"_modules/2024-${month}-${day}-sample.md\"\n    done\ndone",
};

static void test_split_commands_util(void **state)
{
    (void)state;
    char joined[2048] = "";
    size_t n = sizeof(util_cmds) / sizeof(util_cmds[0]), off = 0;
    for (size_t k = 0; k < n; k++) {
        size_t l = strlen(util_cmds[k]);
        assert_true(off + l + 2 < sizeof(joined));
        if (k)
            joined[off++] = '\n';
        memcpy(joined + off, util_cmds[k], l);
        off += l;
    }
    joined[off] = '\0';
    struct sbx_bash_split s = {0};
    assert_int_equal(sbx_bash_split(joined, off, &s), 0);
    assert_int_equal(s.n, n);
    for (size_t k = 0; k < n; k++)
        assert_string_equal(s.cmds[k], util_cmds[k]);
    sbx_bash_split_free(&s);
}

static void test_single_commands(void **state)
{
    (void)state;
    check_one("ls -l");
    check_one("echo 'Hello, world!'");
    check_one("cd /tmp && touch test.txt");
    check_one("echo -e 'line1\\nline2\\nline3'");
    check_one("grep 'pattern' file.txt | sort | uniq");
    check_one("for i in {1..5}; do echo $i; done");
    check_one("echo 'Single quotes don\\'t escape'");
    check_one("echo \"Double quotes \\\"do\\\" escape\"");
}

static void test_heredoc(void **state)
{
    (void)state;
    check_split("\ncat <<EOF\nmultiline\ntext\nEOF\necho \"Done\"\n",
                "cat <<EOF\nmultiline\ntext\nEOF", "echo \"Done\"", END);
}

static void test_backslash_continuation(void **state)
{
    (void)state;
    /* the Python source joins these lines itself (backslash-newline in a
     * non-raw literal), so the input holds no continuation */
    check_split(
        "\necho \"This is a long command that spans multiple lines\"\necho \"Next command\"\n",
        "echo \"This is a long command that spans multiple lines\"", "echo \"Next command\"", END);
}

static void test_comments(void **state)
{
    (void)state;
    check_split("\necho \"Hello\" # This is a comment\n# This is another comment\nls -l\n",
                "echo \"Hello\" # This is a comment\n# This is another comment", "ls -l", END);
}

static void test_complex_quoting(void **state)
{
    (void)state;
    check_split("\necho \"This is a \\\"quoted\\\" string\"\n"
                "echo 'This is a '''single-quoted''' string'\n"
                "echo \"Mixed 'quotes' in \\\"double quotes\\\"\"\n",
                "echo \"This is a \\\"quoted\\\" string\"",
                "echo 'This is a '''single-quoted''' string'",
                "echo \"Mixed 'quotes' in \\\"double quotes\\\"\"", END);
    check_split("\necho \"This is a \\\"quoted\\\" string\"\n"
                "echo \"Mixed 'quotes' in \\\"double quotes\\\"\"\n",
                "echo \"This is a \\\"quoted\\\" string\"",
                "echo \"Mixed 'quotes' in \\\"double quotes\\\"\"", END);
}

static void test_invalid_syntax(void **state)
{
    (void)state;
    check_one("echo \"Unclosed quote");
    check_one("echo 'Unclosed quote");
    check_one("cat <<EOF\nUnclosed heredoc");
}

static void test_unclosed_backtick(void **state)
{
    (void)state;
    check_one("echo `unclosed backtick");
    check_one("curl -X POST \"https://api.github.com/repos/example-org/example-repo/pulls\" \\ -H "
              "\"Authorization: Bearer $GITHUB_TOKEN\" \\ -H \"Accept: "
              "application/vnd.github.v3+json\" \\ -d '{ \"title\": \"XXX\", \"head\": \"XXX\", "
              "\"base\": \"main\", \"draft\": false }' `echo unclosed");
}

static void test_over_escaped_command(void **state)
{
    (void)state;
    /* one long comment line (its "\n"s are backslashes): bashlex finds no
     * command and the text comes back as it was */
    check_one("# 0. Setup directory\\\\nrm -rf /workspace/repro_sphinx_bug && mkdir -p "
              "/workspace/repro_sphinx_bug && cd /workspace/repro_sphinx_bug\\\\n\\\\n# 1. Run "
              "sphinx-quickstart\\\\nsphinx-quickstart --no-sep --project myproject --author me -v "
              "0.1.0 --release 0.1.0 --language en . -q\\\\n\\\\n# 2. Create index.rst\\\\necho -e "
              "\\'Welcome\\\\\\\\\\\\\\\\n=======\\\\\\\\\\\\\\\\n\\\\\\\\\\\\\\\\n.. "
              "toctree::\\\\\\\\n   :maxdepth: 2\\\\\\\\\\\\\\\\n\\\\\\\\\\\\\\\\n   "
              "mypackage_file\\\\\\\\\\\\\\\\n\\' > index.rst");
}

static void test_split_single_commands(void **state)
{
    (void)state;
    check_one("ls -l");
    check_one("echo \"Hello, world!\"");
    check_one("cd /tmp && touch test.txt");
    check_one("echo -e \"line1\\nline2\\nline3\"");
    check_one("grep \"pattern\" file.txt | sort | uniq");
    check_one("for i in {1..5}; do echo $i; done");
    check_one("cat <<EOF\nmultiline\ntext\nEOF");
    check_one("echo \"Escaped \\\"quotes\\\"\"");
    check_one("echo 'Single quotes don\\'t escape'");
    check_one("echo \"Command with a trailing backslash \\\n  and continuation\"");
}

static void test_split_commands_with_empty_lines(void **state)
{
    (void)state;
    check_split("\nls -l\n\necho \"Hello\"\n\ncd /tmp\n", "ls -l", "echo \"Hello\"", "cd /tmp",
                END);
}

/* ---- protocol 5.3 step 2 rules ---- */

static void test_newlines_separate(void **state)
{
    (void)state;
    check_split("ls -l\necho hi", "ls -l", "echo hi", END);
    check_split("a;\nb", "a;", "b", END);
    check_split("a &\nb", "a &", "b", END);
    check_split("ls\r\necho", "ls", "echo", END); /* \r is a word byte, stripped by rstrip */
}

static void test_one_line_operators(void **state)
{
    (void)state;
    check_one("find . -exec grep -l x {} \\;");
    check_one("a; b && c || d | e & f");
    check_one("a |& b");
    check_one("sleep 1 &");
    check_one("echo hi > /tmp/x 2>&1 < /dev/null");
    check_one("cat 2>&- <<< word >| f &>> g");
    check_one("ls # trailing comment");
}

static void test_trailing_operator_continues(void **state)
{
    (void)state;
    check_one("a &&\nb");
    check_one("a ||\nb");
    check_one("a |\nb");
    check_one("a &&\n\n# note\nb");
    check_split("a &&\nb\nc", "a &&\nb", "c", END);
}

static void test_compound_commands(void **state)
{
    (void)state;
    check_one("for i in 1 2; do\n echo $i\ndone");
    check_one("for i in 1 2\ndo\n echo $i\ndone");
    check_one("for i do\n echo $i\ndone");
    check_one("while true; do\n  sleep 1\ndone");
    check_one("until false\ndo\n  x\ndone");
    check_one("if a; then\n b\nelif c; then\n d\nelse\n e\nfi");
    check_one("{\n  a\n  b\n}");
    check_one("(\n  a\n  b\n)");
    check_one("f() {\n  echo hi\n}");
    check_one("function g {\n  echo hi\n}");
    check_one("function h() (\n  echo hi\n) > out");
    check_one("! grep -q x f");
    check_one("for i in 1; do\n  if x; then\n    { y; }\n  fi\ndone");
    check_split("if a; then\n b\nfi\nls", "if a; then\n b\nfi", "ls", END);
    check_split("f() { x; }\nf", "f() { x; }", "f", END);
    /* bashlex lexes (( as two subshells */
    check_split("((i++))\necho", "((i++))", "echo", END);
}

static void test_heredocs(void **state)
{
    (void)state;
    check_split("cat <<EOF > f\nline 1\nline 2\nEOF\nls", "cat <<EOF > f\nline 1\nline 2\nEOF",
                "ls", END);
    check_split("cat <<-EOF\n\tindented\n\tEOF\nls", "cat <<-EOF\n\tindented\n\tEOF", "ls", END);
    check_split("cat <<A <<B\na\nA\nb\nB\nls", "cat <<A <<B\na\nA\nb\nB", "ls", END);
    check_split("cat <<EOF | grep x\nls\nEOF\necho", "cat <<EOF | grep x\nls\nEOF", "echo", END);
    check_split("cat <<EOF\nEOF\n\n\necho", "cat <<EOF\nEOF", "echo", END);
    /* bashlex compares body lines with the raw delimiter word, quotes included,
     * so a quoted delimiter never matches: parse error, whole text */
    check_one("cat <<'EOF'\nx\nEOF\nls");
    check_one("cat <<\"EOF\"\nx\nEOF\nls");
    check_one("cat <<EOF\nnever closed\nEOFX");
}

static void test_quoted_newlines(void **state)
{
    (void)state;
    check_one("echo \"a\nb\"");
    check_one("echo 'a\nb'");
    check_one("echo $'a\nb'");
    check_one("echo $\"a\nb\"");
    check_one("x=\"${y:-a\nb}\"");
    check_split("echo \"a\nb\"\nls", "echo \"a\nb\"", "ls", END);
}

static void test_substitutions(void **state)
{
    (void)state;
    check_one("echo $(\n  ls\n)");
    check_one("echo \"$(ls\n pwd)\"");
    check_one("echo `ls\n`");
    check_one("diff <(ls\n) <(ls)");
    check_split("echo $(ls)\necho", "echo $(ls)", "echo", END);
    check_split("echo $$ $$x\necho", "echo $$ $$x", "echo", END);
    check_one("echo $$(ls)\necho"); /* `$$` then `(`: a syntax error upstream */
    check_split("echo `ls\n`\necho", "echo `ls\n`", "echo", END);
    /* bashlex: NotImplementedError('arithmetic expansion') -> one command */
    check_one("echo $((1 + 2))\nls");
    /* bashlex re-parses the substitution: a broken one fails the whole text */
    check_one("echo $(fi)\nls");
    check_one("echo $(ls\nls");
}

static void test_backslash_newline(void **state)
{
    (void)state;
    check_one("ls \\\n  -l");
    check_split("ls \\\n-l\necho", "ls \\\n-l", "echo", END);
    check_one("ec\\\nho hi");
}

static void test_comment_lines(void **state)
{
    (void)state;
    check_split("ls\n# after\n# more", "ls\n# after\n# more", END);
    check_split("ls # c1\n# c2\npwd # c3\n", "ls # c1\n# c2", "pwd # c3", END);
    /* upstream quirk (OpenHands issue 10243): text before the first command is
     * its own entry, so a leading comment line counts as a command */
    check_split("# explain\nls", "# explain", "ls", END);
    check_split("# a\n\n# b\nls\npwd", "# a\n\n# b", "ls", "pwd", END);
    /* comment-only text: bashlex yields no node; the text comes back as is */
    check_one("# only a comment");
    check_one("# one\n# two\n");
    /* `#` is a comment only at the start of a word */
    check_one("echo a#b\\\n c");
}

static void test_whitespace(void **state)
{
    (void)state;
    check_split("", "", END);
    check_split("   \n\t \n", "", END);
    check_split("\xc2\xa0\xe3\x80\x80", "", END); /* Python's strip() knows Unicode spaces */
    check_split("  ls  ", "ls", END);
    check_split("  ls  \n\n  echo hi  \n", "ls", "echo hi", END);
    check_split("\t\tls\n", "ls", END);
    check_split("ls \t\n  \npwd\t", "ls", "pwd", END);
    check_split("ls\xc2\xa0\npwd", "ls", "pwd", END);
}

static void test_parse_failures(void **state)
{
    (void)state;
    check_one("ls\nfi");
    check_one("(ls\necho");
    check_one("ls )\necho");
    check_one("if true\nthen\necho");
    check_one("done");
    check_one("{ ls }\necho");
    check_one("a &&");
    check_one("a |");
    check_one("a ;; b\nc");
    check_one("echo ${x\necho");
    /* bashlex raises NotImplementedError for these */
    check_one("select x in a b; do echo $x; done\nls");
    /* bashlex 0.18 (the version OpenHands pins) has no case support */
    check_one("case $x in\n  a|b) echo ab;;\n  *) ;;\nesac\nls");
    check_one("case $x in esac\nls");
    check_one("echo $(case x in a) echo a;; esac)\nls");
    check_one("time ls\nls");
    check_one("coproc cat\nls");
    check_one("[[ -f x ]]\nls");
    /* `!` before a newline: bashlex's node builder hits None (AttributeError) */
    check_one("!\nls");
    check_one("! ");
    check_one("! ; ls\necho");
    check_one("for ((i=0; i<3; i++)); do echo; done\nls");
}

/* "$(echo " x levels, "x", ")" x levels, "\nls" into p */
static void nested_comsub(char *p, size_t levels)
{
    size_t off = 0;
    for (size_t k = 0; k < levels; k++) {
        memcpy(p + off, "$(echo ", 7);
        off += 7;
    }
    p[off++] = 'x';
    for (size_t k = 0; k < levels; k++)
        p[off++] = ')';
    memcpy(p + off, "\nls", 4);
}

static void test_nested_comsub_cost(void **state)
{
    (void)state;
    char p[512];
    struct sbx_bash_split s = {0};
    /* every $( ) is re-parsed once per enclosing level, not 2^depth times:
     * neither case would finish otherwise */
    nested_comsub(p, 10);
    assert_int_equal(sbx_bash_split(p, strlen(p), &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.cmds[1], "ls");
    sbx_bash_split_free(&s);
    nested_comsub(p, 40);
    check_one(p); /* deeper than the bound: one command */
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t n = 5000;
    char *p = malloc(4 * n + 16);
    assert_non_null(p);
    /* ((((...)))) far deeper than the bound: one command, no crash */
    memset(p, '(', n);
    memcpy(p + n, "ls", 2);
    memset(p + n + 2, ')', n);
    memcpy(p + 2 * n + 2, "\nls", 4);
    check_one(p);
    /* $( nested deeply inside double quotes */
    size_t off = 0;
    for (size_t k = 0; k < n / 2; k++) {
        memcpy(p + off, "\"$(", 3);
        off += 3;
    }
    p[off] = '\0';
    check_one(p);
    free(p);
    /* moderate nesting stays supported */
    check_split("((((((ls))))))\nls", "((((((ls))))))", "ls", END);
}

static void test_binary_len_and_free(void **state)
{
    (void)state;
    struct sbx_bash_split s = {0};
    /* len is honoured; the text need not be NUL-terminated */
    assert_int_equal(sbx_bash_split("ls\necho XYZ", 6, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.cmds[0], "ls");
    assert_string_equal(s.cmds[1], "ech");
    sbx_bash_split_free(&s);
    assert_null(s.cmds);
    assert_int_equal(s.n, 0);
    sbx_bash_split_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_commands_util),
        cmocka_unit_test(test_single_commands),
        cmocka_unit_test(test_heredoc),
        cmocka_unit_test(test_backslash_continuation),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_complex_quoting),
        cmocka_unit_test(test_invalid_syntax),
        cmocka_unit_test(test_unclosed_backtick),
        cmocka_unit_test(test_over_escaped_command),
        cmocka_unit_test(test_split_single_commands),
        cmocka_unit_test(test_split_commands_with_empty_lines),
        cmocka_unit_test(test_newlines_separate),
        cmocka_unit_test(test_one_line_operators),
        cmocka_unit_test(test_trailing_operator_continues),
        cmocka_unit_test(test_compound_commands),
        cmocka_unit_test(test_heredocs),
        cmocka_unit_test(test_quoted_newlines),
        cmocka_unit_test(test_substitutions),
        cmocka_unit_test(test_backslash_newline),
        cmocka_unit_test(test_comment_lines),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_parse_failures),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_nested_comsub_cost),
        cmocka_unit_test(test_binary_len_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
