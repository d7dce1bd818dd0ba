/* Tests for src/server/bash/ps1.c: finding PS1 blocks in a pane with
 * upstream's regex semantics ('^###PS1JSON###(.*?)###PS1END###', DOTALL |
 * MULTILINE, kept only when the body parses as JSON), and the metadata
 * conversions of CmdOutputMetadata.from_ps1_match. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "server/bash/ps1.h"

#define BLOCK(body) "###PS1JSON###\n" body "\n###PS1END###"
#define MD_JSON(pid, code)                                                                         \
    "{\n  \"pid\": \"" pid "\",\n  \"exit_code\": \"" code "\",\n  \"username\": \"openhands\",\n" \
    "  \"hostname\": \"sandbox\",\n  \"working_dir\": \"/workspace\",\n"                           \
    "  \"py_interpreter_path\": \"/usr/bin/python\"\n}"

static struct sbx_ps1_matches find(const char *pane)
{
    struct sbx_ps1_matches m;

    assert_int_equal(sbx_ps1_find(pane, strlen(pane), &m), 0);
    return m;
}

static size_t off(const char *pane, const char *needle, size_t nth)
{
    const char *p = pane;

    for (;;) {
        p = strstr(p, needle);
        assert_non_null(p);
        if (nth-- == 0)
            return (size_t)(p - pane);
        p++;
    }
}

static void test_find_single_block(void **state)
{
    const char *pane = "\n" BLOCK(MD_JSON("", "0")) "\nls\n";
    struct sbx_ps1_matches m = find(pane);

    (void)state;
    assert_int_equal(m.n, 1);
    assert_int_equal(m.v[0].start, 1);
    assert_int_equal(m.v[0].end, off(pane, "###PS1END###", 0) + strlen("###PS1END###"));
    assert_int_equal(m.v[0].md.pid, -1);
    assert_int_equal(m.v[0].md.exit_code, 0);
    assert_string_equal(m.v[0].md.username, "openhands");
    assert_string_equal(m.v[0].md.hostname, "sandbox");
    assert_string_equal(m.v[0].md.working_dir, "/workspace");
    assert_string_equal(m.v[0].md.py_interpreter_path, "/usr/bin/python");
    assert_null(m.v[0].md.prefix);
    assert_null(m.v[0].md.suffix);
    sbx_ps1_matches_free(&m);
    assert_null(m.v);
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(NULL);
}

static void test_find_empty_and_none(void **state)
{
    struct sbx_ps1_matches m;

    (void)state;
    assert_int_equal(sbx_ps1_find("", 0, &m), 0);
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
    m = find("plain output\nwithout markers\n");
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
    /* A begin marker without an end marker. */
    m = find("###PS1JSON###\n{}\n");
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
    m = find("###PS1END###\n{}\n###PS1JSON###");
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
}

static void test_find_begin_must_start_line(void **state)
{
    struct sbx_ps1_matches m;
    const char *pane;

    (void)state;
    m = find("x" BLOCK("{}"));
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
    /* '\r' is not a line break for '^'. */
    m = find("a\r" BLOCK("{}"));
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
    /* Start of text counts, and so does the position after any '\n'. */
    pane = BLOCK("{}") "\necho ###PS1JSON###\n" BLOCK("{}");
    m = find(pane);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.v[0].start, 0);
    assert_int_equal(m.v[1].start, off(pane, "###PS1JSON###", 2));
    sbx_ps1_matches_free(&m);
    /* The end marker need not be at a line start. */
    m = find("###PS1JSON###{}###PS1END###");
    assert_int_equal(m.n, 1);
    assert_int_equal(m.v[0].end, strlen("###PS1JSON###{}###PS1END###"));
    sbx_ps1_matches_free(&m);
}

static void test_find_lazy_and_non_overlapping(void **state)
{
    const char *pane =
        BLOCK("{\"exit_code\": \"1\"}") "\n###PS1END###\n" BLOCK("{\"exit_code\": \"2\"}");
    struct sbx_ps1_matches m = find(pane);

    (void)state;
    /* Each block ends at the first end marker after it. */
    assert_int_equal(m.n, 2);
    assert_int_equal(m.v[0].end, off(pane, "###PS1END###", 0) + 12);
    assert_int_equal(m.v[0].md.exit_code, 1);
    assert_int_equal(m.v[1].start, off(pane, "###PS1JSON###", 1));
    assert_int_equal(m.v[1].end, strlen(pane));
    assert_int_equal(m.v[1].md.exit_code, 2);
    assert_true(m.v[0].end <= m.v[1].start);
    sbx_ps1_matches_free(&m);
}

static void test_find_skips_invalid_json(void **state)
{
    const char *pane = BLOCK("not json") "\n" BLOCK("{\"pid\": \"7\"}") "\n" BLOCK("{\"a\": ");
    struct sbx_ps1_matches m = find(pane);

    (void)state;
    assert_int_equal(m.n, 1);
    assert_int_equal(m.v[0].start, off(pane, "###PS1JSON###", 1));
    assert_int_equal(m.v[0].md.pid, 7);
    sbx_ps1_matches_free(&m);
}

static void test_find_nested_begin_consumed(void **state)
{
    /* The regex starts at the first begin marker and runs lazily to the end
     * marker; that body holds the second begin marker and is not JSON. The
     * search then resumes after the end marker, so nothing matches. */
    const char *pane = "###PS1JSON###\nspinner\n" BLOCK("{}");
    struct sbx_ps1_matches m = find(pane);

    (void)state;
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
}

static void test_find_body_not_json_object(void **state)
{
    /* json.loads() accepts any JSON value, so upstream counts these blocks
     * (completion detection and output cutting use the count). */
    const char *pane = BLOCK("[1, 2]") "\n" BLOCK("\"s\"") "\n" BLOCK("42");
    struct sbx_ps1_matches m = find(pane);

    (void)state;
    assert_int_equal(m.n, 3);
    sbx_ps1_matches_free(&m);
}

static void test_find_many_blocks(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    struct sbx_ps1_matches m;
    size_t i;

    (void)state;
    for (i = 0; i < 50; i++)
        assert_int_equal(sbx_buf_addf(&b, "out %zu\n" BLOCK("{\"exit_code\": \"%zu\"}") "\n", i, i),
                         0);
    assert_int_equal(sbx_ps1_find(b.ptr, b.len, &m), 0);
    assert_int_equal(m.n, 50);
    for (i = 0; i < 50; i++) {
        assert_int_equal(m.v[i].md.exit_code, (int64_t)i);
        assert_int_equal(b.ptr[m.v[i].start - 1], '\n');
        assert_memory_equal(b.ptr + m.v[i].end - 12, "###PS1END###", 12);
        if (i)
            assert_true(m.v[i - 1].end < m.v[i].start);
    }
    sbx_ps1_matches_free(&m);
    sbx_buf_free(&b);
}

static void test_find_respects_length(void **state)
{
    const char *pane = BLOCK("{}") "garbage";
    struct sbx_ps1_matches m;

    (void)state;
    /* Only len bytes are looked at: the end marker lies past them. */
    assert_int_equal(sbx_ps1_find(pane, strlen(BLOCK("{}")) - 1, &m), 0);
    assert_int_equal(m.n, 0);
    sbx_ps1_matches_free(&m);
}

/* ---- metadata ------------------------------------------------------------ */

static void parse_ok(const char *body, struct sbx_cmd_metadata *md)
{
    assert_int_equal(sbx_ps1_parse(body, strlen(body), md), 0);
}

static void test_parse_numbers(void **state)
{
    static const struct {
        const char *v;
        int64_t want;
    } cases[] = {
        {"\"\"", -1},    {"\"0\"", 0},     {"\"1\"", 1},         {"\"1.0\"", 1},
        {"\"abc\"", -1}, {"\"130\"", 130}, {"\" 2 \"", 2},       {"\"1e3\"", 1000},
        {"\"-1\"", -1},  {"\"2.9\"", 2},   {"\"-2.9\"", -2},     {"\"nan\"", -1},
        {"\"1x\"", -1},  {"5", 5},         {"2.5", 2},           {"null", -1},
        {"[]", -1},      {"{}", -1},       {"\"12345\"", 12345},
    };
    struct sbx_cmd_metadata md;
    char body[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{\"pid\": %s, \"exit_code\": %s}", cases[i].v, cases[i].v);
        parse_ok(body, &md);
        if (md.pid != cases[i].want || md.exit_code != cases[i].want)
            fail_msg("%s: pid %lld exit %lld, want %lld", cases[i].v, (long long)md.pid,
                     (long long)md.exit_code, (long long)cases[i].want);
        sbx_ps1_md_clear(&md);
    }
}

static void test_parse_huge_numbers(void **state)
{
    struct sbx_cmd_metadata md;

    (void)state;
    /* Out of int64 range: -1 as for the string form (and no undefined
     * float-to-integer conversion). */
    parse_ok("{\"pid\": \"1e300\", \"exit_code\": \"-1e300\"}", &md);
    assert_int_equal(md.pid, -1);
    assert_int_equal(md.exit_code, -1);
    sbx_ps1_md_clear(&md);
    parse_ok("{\"pid\": 1e300, \"exit_code\": -1e300}", &md);
    assert_int_equal(md.pid, -1);
    assert_int_equal(md.exit_code, -1);
    sbx_ps1_md_clear(&md);
}

static void test_parse_missing_keys(void **state)
{
    struct sbx_cmd_metadata md;

    (void)state;
    parse_ok("{}", &md);
    assert_int_equal(md.pid, -1);
    assert_int_equal(md.exit_code, -1);
    assert_null(md.username);
    assert_null(md.hostname);
    assert_null(md.working_dir);
    assert_null(md.py_interpreter_path);
    sbx_ps1_md_clear(&md);
    /* Non-string values of string fields are dropped. */
    parse_ok("{\"username\": 5, \"hostname\": null, \"working_dir\": \"/a\"}", &md);
    assert_null(md.username);
    assert_null(md.hostname);
    assert_string_equal(md.working_dir, "/a");
    sbx_ps1_md_clear(&md);
    assert_null(md.working_dir);
}

static void test_parse_strings_copied(void **state)
{
    const char *body =
        "{\"working_dir\": \"/tmp/a \\\"q\\\" \\\\ b\", \"username\": \"\\u00e9t\\u00e9\","
        " \"py_interpreter_path\": \"\", \"hostname\": \"h\"}";
    char *copy = strdup(body);
    struct sbx_cmd_metadata md;

    (void)state;
    assert_non_null(copy);
    assert_int_equal(sbx_ps1_parse(copy, strlen(copy), &md), 0);
    memset(copy, 'X', strlen(copy));
    free(copy);
    assert_string_equal(md.working_dir, "/tmp/a \"q\" \\ b");
    assert_string_equal(md.username, "\xc3\xa9t\xc3\xa9");
    assert_string_equal(md.py_interpreter_path, "");
    assert_string_equal(md.hostname, "h");
    sbx_ps1_md_clear(&md);
}

static void test_parse_rejects(void **state)
{
    struct sbx_cmd_metadata md;

    (void)state;
    assert_int_equal(sbx_ps1_parse("", 0, &md), -EINVAL);
    assert_int_equal(sbx_ps1_parse("{", 1, &md), -EINVAL);
    assert_int_equal(sbx_ps1_parse("{} x", 4, &md), -EINVAL);
    /* any JSON counts (json.loads succeeds upstream); a non-object keeps
     * the defaults */
    assert_int_equal(sbx_ps1_parse("[]", 2, &md), 0);
    assert_null(md.username);
    assert_int_equal(md.pid, -1);
    assert_int_equal(md.exit_code, -1);
}

/* ---- the prompt installed in a real bash ---------------------------------- */

static void test_setup_line_shape(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_buf_addstr(&b, "pre"), 0);
    assert_int_equal(sbx_ps1_setup_line(&b), 0);
    assert_true(b.len > 4);
    assert_memory_equal(b.ptr, "pre", 3);
    assert_int_equal(b.ptr[b.len - 1], '\r');
    /* One line: a newline inside would submit a partial command. */
    assert_null(memchr(b.ptr, '\n', b.len - 1));
    assert_null(memchr(b.ptr, '\r', b.len - 1));
    sbx_buf_free(&b);
}

/* Reads from fd into out until pred(out) holds or 10 s pass. */
static bool read_until(int fd, struct sbx_buf *out, size_t want_blocks)
{
    time_t end = time(NULL) + 10;
    char tmp[4096];

    while (time(NULL) < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct sbx_ps1_matches m;
        ssize_t n;
        size_t got;

        if (poll(&p, 1, 200) <= 0)
            continue;
        n = sbx_fd_read(fd, tmp, sizeof(tmp));
        if (n <= 0)
            return false;
        assert_int_equal(sbx_buf_add(out, tmp, (size_t)n), 0);
        assert_int_equal(sbx_ps1_find(out->ptr, out->len, &m), 0);
        got = m.n;
        sbx_ps1_matches_free(&m);
        if (got >= want_blocks)
            return true;
    }
    return false;
}

static void test_setup_line_in_real_bash(void **state)
{
    struct winsize ws = {.ws_row = 50, .ws_col = 1000};
    struct sbx_buf line = SBX_BUF_INIT, out = SBX_BUF_INIT;
    struct sbx_ps1_matches m;
    const char *cmd = "cd /tmp && (exit 3)\r";
    int master = -1, st;
    pid_t pid;

    (void)state;
    if (access("/bin/bash", X_OK) != 0)
        skip();
    pid = forkpty(&master, NULL, NULL, &ws);
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {"bash", "--norc", "--noprofile", "-i", NULL};
        char *envp[] = {"PATH=/usr/bin:/bin", "TERM=dumb", "HOME=/tmp", NULL};

        execve("/bin/bash", argv, envp);
        _exit(127);
    }
    assert_int_equal(sbx_ps1_setup_line(&line), 0);
    assert_int_equal(sbx_fd_write_all(master, line.ptr, line.len), 0);
    assert_true(read_until(master, &out, 1));
    assert_int_equal(sbx_fd_write_all(master, cmd, strlen(cmd)), 0);
    assert_true(read_until(master, &out, 2));
    assert_int_equal(sbx_ps1_find(out.ptr, out.len, &m), 0);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.v[0].md.exit_code, 0);
    assert_int_equal(m.v[0].md.pid, -1);
    assert_int_equal(m.v[1].md.exit_code, 3);
    assert_string_equal(m.v[1].md.working_dir, "/tmp");
    assert_non_null(m.v[1].md.username);
    assert_non_null(m.v[1].md.hostname);
    assert_non_null(m.v[1].md.py_interpreter_path);
    sbx_ps1_matches_free(&m);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(master);
    sbx_buf_free(&line);
    sbx_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_single_block),
        cmocka_unit_test(test_find_empty_and_none),
        cmocka_unit_test(test_find_begin_must_start_line),
        cmocka_unit_test(test_find_lazy_and_non_overlapping),
        cmocka_unit_test(test_find_skips_invalid_json),
        cmocka_unit_test(test_find_nested_begin_consumed),
        cmocka_unit_test(test_find_body_not_json_object),
        cmocka_unit_test(test_find_many_blocks),
        cmocka_unit_test(test_find_respects_length),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_parse_huge_numbers),
        cmocka_unit_test(test_parse_missing_keys),
        cmocka_unit_test(test_parse_strings_copied),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_setup_line_shape),
        cmocka_unit_test(test_setup_line_in_real_bash),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
