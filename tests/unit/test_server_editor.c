/* Tests for src/server/editor/: every OHEditor 0.3.2 string of
 * openhands-protocol.md §4.4, snippet windows, clipping, the encoding
 * fallback, the undo limit, and sbx_editor_diff against Python's difflib
 * (the expected diffs were produced by /usr/bin/python3 difflib with
 * openhands_aci's get_diff formula). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "server/editor/editor.h"
#include "server/files/files.h"

struct fx {
    char dir[64];
    struct sbx_editor *e;
    struct sbx_editor_res r;
};

static char g_path[4096];

static const char *P(struct fx *f, const char *name)
{
    snprintf(g_path, sizeof(g_path), "%s/%s", f->dir, name);
    return g_path;
}

static int up(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/sbx-editor-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->e = sbx_editor_new(f->dir);
    assert_non_null(f->e);
    *state = f;
    return 0;
}

static int down(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    struct sbx_buf b = SBX_BUF_INIT;
    pid_t pid;

    sbx_editor_res_clear(&f->r);
    sbx_editor_free(f->e);
    snprintf(cmd, sizeof(cmd), "%s", f->dir);
    pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", cmd, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    sbx_buf_free(&b);
    free(f);
    return 0;
}

static void put(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(sbx_fd_write_all(fd, data, n), 0);
    close(fd);
}

static char *get(const char *path, size_t *n)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_file_read(path, &b), 0);
    return sbx_buf_detach(&b, n);
}

/* Runs one command; returns the output (owned by f->r). */
static const char *run(struct fx *f, const char *cmd, const char *path, const char *file_text,
                       const char *old_str, const char *new_str, const char *insert_line)
{
    struct sbx_editor_req q = {cmd,         path,  file_text, old_str, new_str,
                               insert_line, false, {0, 0},    NULL};

    sbx_editor_res_clear(&f->r);
    assert_int_equal(sbx_editor_run(f->e, &q, &f->r), 0);
    assert_non_null(f->r.output);
    return f->r.output;
}

static const char *view_range(struct fx *f, const char *path, int64_t a, int64_t b, const char *raw)
{
    struct sbx_editor_req q = {"view", path, NULL, NULL, NULL, NULL, raw == NULL, {a, b}, raw};

    sbx_editor_res_clear(&f->r);
    assert_int_equal(sbx_editor_run(f->e, &q, &f->r), 0);
    return f->r.output;
}

static void expect_err(struct fx *f, const char *out, const char *want)
{
    assert_true(f->r.error);
    assert_string_equal(out, want);
    assert_null(f->r.old_content);
    assert_null(f->r.new_content);
}

static void expectf(const char *got, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expectf(const char *got, const char *fmt, ...)
{
    struct sbx_buf b = SBX_BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    assert_int_equal(sbx_buf_vaddf(&b, fmt, ap), 0);
    va_end(ap);
    assert_string_equal(got, b.ptr);
    sbx_buf_free(&b);
}

/* ---- diff ---------------------------------------------------------------- */

static const struct {
    const char *a, *b, *want;
} diff_cases[] = {
    {"This is a test file.\nThis file is for testing purposes.\n",
     "This is a sample file.\nThis file is for testing purposes.\n",
     "--- /w/f.txt\n+++ /w/f.txt\n@@ -1 +1 @@\n-This is a test file.\n+This is a sample file."},
    {"", "New file content", "--- /w/f.txt\n+++ /w/f.txt\n@@ -1 +1 @@\n-\n+New file content"},
    {"a\nb\nc\nd\ne\n", "a\nB\nc\nd\nE\nf\n",
     "--- /w/f.txt\n+++ /w/f.txt\n@@ -2 +2 @@\n-b\n+B\n@@ -5 +5,2 @@\n-e\n+E\n+f"},
    {"a\nb\nc\n", "a\nc\n", "--- /w/f.txt\n+++ /w/f.txt\n@@ -2 +1,0 @@\n-b"},
    {"a\nb\nc\n", "x\na\nb\nc\n", "--- /w/f.txt\n+++ /w/f.txt\n@@ -0,0 +1 @@\n+x"},
    {"line  \nsame\n", "line\nsame\n", "--- /w/f.txt\n+++ /w/f.txt\n@@ -1 +1 @@\n-line\n+line"},
    {"a\nb\na\nb\na\n", "b\na\nb\na\nb\n",
     "--- /w/f.txt\n+++ /w/f.txt\n@@ -0,0 +1 @@\n+b\n@@ -5 +5,0 @@\n-a"},
    {"same\n", "same\n", ""},
    {"x\t \n", "y \t\n", "--- /w/f.txt\n+++ /w/f.txt\n@@ -1 +1 @@\n-x\n+y"},
    /* popular */
    {NULL, NULL,
     "--- /w/f.txt\n+++ /w/f.txt\n@@ -151,150 +151,150 "
     "@@\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-"
     "l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-"
     "l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-"
     "l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-"
     "l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-"
     "l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-"
     "l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-"
     "l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n-"
     "l6\n-l0\n-l1\n-l2\n-l3\n-l4\n-l5\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+"
     "l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+"
     "l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+"
     "l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+"
     "l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+"
     "l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+"
     "l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+"
     "l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+"
     "l1\n+l2\n+l3\n+l4\n+l5\n+l6\n+l0\n+l1\n+l2\n+l3\n+l4\n+l5\n+tail"},
    /* long */
    {NULL, NULL,
     "--- /w/f.txt\n+++ /w/f.txt\n@@ -4 +4 @@\n-x3\n+y3\n@@ -101 +101 @@\n-x100\n+y100\n@@ -201 "
     "+201 @@\n-x200\n+y200"},
};

static void test_diff_matches_difflib(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(diff_cases) / sizeof(diff_cases[0]); i++) {
        struct sbx_buf a = SBX_BUF_INIT, b = SBX_BUF_INIT, out = SBX_BUF_INIT;
        int k;

        if (diff_cases[i].a) {
            assert_int_equal(sbx_buf_addstr(&a, diff_cases[i].a), 0);
            assert_int_equal(sbx_buf_addstr(&b, diff_cases[i].b), 0);
        } else if (i == sizeof(diff_cases) / sizeof(diff_cases[0]) - 2) {
            /* 300 lines of 7 values: every line "popular" (autojunk) */
            for (k = 0; k < 300; k++) {
                sbx_buf_addf(&a, "l%d\n", k % 7);
                if (k != 150)
                    sbx_buf_addf(&b, "l%d\n", k % 7);
            }
            sbx_buf_addstr(&b, "tail\n");
        } else {
            for (k = 0; k < 250; k++) {
                sbx_buf_addf(&a, "x%d\n", k);
                sbx_buf_addf(&b, (k == 3 || k == 100 || k == 200) ? "y%d\n" : "x%d\n", k);
            }
        }
        assert_int_equal(sbx_editor_diff("/w/f.txt", a.ptr, b.ptr, &out), 0);
        assert_string_equal(out.ptr, diff_cases[i].want);
        sbx_buf_free(&a);
        sbx_buf_free(&b);
        sbx_buf_free(&out);
    }
}

/* ---- path validation ----------------------------------------------------- */

static void test_path_validation(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096], dir[4096];

    snprintf(file, sizeof(file), "%s", P(f, "a.txt"));
    put(file, "x\n", 2);
    snprintf(dir, sizeof(dir), "%s", P(f, "sub"));
    assert_int_equal(mkdir(dir, 0755), 0);

    o = run(f, "view", "a.txt", NULL, NULL, NULL, NULL);
    expectf(o,
            "Invalid `path` parameter: a.txt. The path should be an absolute path, starting "
            "with `/`. Maybe you meant %s?",
            file);
    assert_true(f->r.error);
    {
        /* a workdir given with a trailing slash still hints <workdir>/<p> */
        char wd[128];
        struct sbx_editor *e2, *keep = f->e;

        snprintf(wd, sizeof(wd), "%s/", f->dir);
        e2 = sbx_editor_new(wd);
        assert_non_null(e2);
        f->e = e2;
        o = run(f, "view", "a.txt", NULL, NULL, NULL, NULL);
        assert_non_null(strstr(o, " Maybe you meant "));
        assert_non_null(strstr(o, file));
        sbx_editor_res_clear(&f->r);
        f->e = keep;
        sbx_editor_free(e2);
    }
    o = run(f, "view", "./nope//x.txt/", NULL, NULL, NULL, NULL);
    expect_err(f, o,
               "Invalid `path` parameter: nope/x.txt. The path should be an absolute path, "
               "starting with `/`.");
    o = run(f, "create", file, "y", NULL, NULL, NULL);
    expectf(o,
            "Invalid `path` parameter: %s. File already exists at: %s. Cannot overwrite files "
            "using command `create`.",
            file, file);
    o = run(f, "view", P(f, "missing.txt"), NULL, NULL, NULL, NULL);
    expectf(o,
            "Invalid `path` parameter: %s. The path %s does not exist. Please provide a valid "
            "path.",
            g_path, g_path);
    o = run(f, "str_replace", dir, NULL, "a", "b", NULL);
    expectf(o,
            "Invalid `path` parameter: %s. The path %s is a directory and only the `view` "
            "command can be used on directories.",
            dir, dir);
    o = run(f, "create", P(f, "doc.PDF"), "x", NULL, NULL, NULL);
    expectf(o,
            "Invalid `path` parameter: %s. The path %s points to a binary file (.PDF) and only "
            "the `view` command can be used on supported binary files.",
            g_path, g_path);
    /* the trailing slash and doubled slashes go, as in str(Path(p)) */
    snprintf(dir, sizeof(dir), "%s//a.txt/", f->dir);
    o = run(f, "create", dir, "y", NULL, NULL, NULL);
    expectf(o,
            "Invalid `path` parameter: %s. File already exists at: %s. Cannot overwrite files "
            "using command `create`.",
            file, file);
    o = run(f, "frobnicate", file, NULL, NULL, NULL, NULL);
    expect_err(f, o,
               "Unrecognized command frobnicate. The allowed commands for the oh_editor tool "
               "are: view, create, str_replace, insert, undo_edit");
}

static void test_file_validation(void **state)
{
    struct fx *f = *state;
    const char *o;
    char big[4096];
    int fd;

    snprintf(big, sizeof(big), "%s", P(f, "big.txt"));
    fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 11 * 1024 * 1024 + 100000), 0);
    close(fd);
    o = run(f, "view", big, NULL, NULL, NULL, NULL);
    expectf(o,
            "File validation failed for %s: File is too large (11.1MB). Maximum allowed size is "
            "10MB.",
            big);
    put(P(f, "bin.dat"), "\x00\x01\x02\x03\xff\xfe\x00\x00", 8);
    assert_true(sbx_files_is_binary(g_path));
    o = run(f, "str_replace", g_path, NULL, "a", "b", NULL);
    expectf(o,
            "File validation failed for %s: File appears to be binary and this file type cannot "
            "be read or edited by this tool.",
            g_path);
}

/* ---- view ---------------------------------------------------------------- */

static void test_is_binary(void **state)
{
    struct fx *f = *state;

    put(P(f, "utf8.txt"), "h\xc3\xa9llo \xe2\x82\xac\n", 11);
    assert_false(sbx_files_is_binary(g_path));
    put(P(f, "empty"), "", 0);
    assert_false(sbx_files_is_binary(g_path));
    assert_false(sbx_files_is_binary(P(f, "missing")));
    put(P(f, "nul.txt"), "abc\0def", 7);
    assert_true(sbx_files_is_binary(g_path));
    put(P(f, "png"), "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    assert_true(sbx_files_is_binary(g_path));
    put(P(f, "latin1.txt"), "caf\xe9\n", 5);
    assert_false(sbx_files_is_binary(g_path));
}

static void test_view_file(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096];

    snprintf(file, sizeof(file), "%s", P(f, "t.txt"));
    put(file, "This is a test file.\nThis file is for testing purposes.\n", 56);
    o = run(f, "view", file, NULL, NULL, NULL, NULL);
    expectf(o,
            "Here's the result of running `cat -n` on %s:\n"
            "     1\tThis is a test file.\n"
            "     2\tThis file is for testing purposes.\n"
            "     3\t\n",
            file);
    assert_false(f->r.error);
    assert_null(f->r.old_content);
    o = view_range(f, file, 2, 2, NULL);
    expectf(o,
            "Here's the result of running `cat -n` on %s:\n     2\tThis file is for testing "
            "purposes.\n",
            file);
    o = view_range(f, file, 1, -1, NULL);
    expectf(o,
            "Here's the result of running `cat -n` on %s:\n     1\tThis is a test file.\n     "
            "2\tThis file is for testing purposes.\n",
            file);
    o = view_range(f, file, 2, 5, NULL);
    expectf(o,
            "NOTE: We only show up to 2 since there're only 2 lines in this file.\n"
            "Here's the result of running `cat -n` on %s:\n     2\tThis file is for testing "
            "purposes.\n",
            file);
    o = view_range(f, file, 0, 1, NULL);
    expect_err(f, o,
               "Invalid `view_range` parameter: [0, 1]. Its first element `0` should be within "
               "the range of lines of the file: [1, 2].");
    o = view_range(f, file, 3, 3, NULL);
    expect_err(f, o,
               "Invalid `view_range` parameter: [3, 3]. Its first element `3` should be within "
               "the range of lines of the file: [1, 2].");
    o = view_range(f, file, 2, 1, NULL);
    expect_err(f, o,
               "Invalid `view_range` parameter: [2, 1]. Its second element `1` should be greater "
               "than or equal to the first element `2`.");
    o = view_range(f, file, 0, 0, "[1,2,3]");
    expect_err(f, o,
               "Invalid `view_range` parameter: [1, 2, 3]. It should be a list of two integers.");
    o = view_range(f, file, 0, 0, "[\"a\",true]");
    expect_err(f, o,
               "Invalid `view_range` parameter: ['a', True]. It should be a list of two "
               "integers.");
    o = view_range(f, f->dir, 1, 2, NULL);
    expectf(o, "Invalid `view_range` parameter: [1, 2]. The `view_range` parameter is not allowed "
               "when `path` points to a directory.");
    /* an empty file is one empty numbered line */
    put(P(f, "empty.txt"), "", 0);
    o = run(f, "view", g_path, NULL, NULL, NULL, NULL);
    expectf(o, "Here's the result of running `cat -n` on %s:\n     1\t\n", g_path);
}

static void test_view_clipped(void **state)
{
    struct fx *f = *state;
    struct sbx_buf want = SBX_BUF_INIT, content = SBX_BUF_INIT;
    const char *o;
    int i;

    /* 'Line 1\n' * 16000 (the upstream test): 16000 chars = 2285 lines + "Line 1"[:5] */
    for (i = 0; i < 16000; i++)
        sbx_buf_addstr(&content, "Line 1\n");
    put(P(f, "large.txt"), content.ptr, content.len);
    o = run(f, "view", g_path, NULL, NULL, NULL, NULL);
    sbx_buf_addf(&want, "Here's the result of running `cat -n` on %s:\n", g_path);
    for (i = 1; i <= 2285; i++)
        sbx_buf_addf(&want, "%6d\tLine 1\n", i);
    sbx_buf_addf(&want,
                 "%6d\tLine <response clipped><NOTE>Due to the max output limit, only "
                 "part of this file has been shown to you. You should retry this tool "
                 "after you have searched inside the file with `grep -n` in order to "
                 "find the line numbers of what you are looking for.</NOTE>\n",
                 2286);
    assert_string_equal(o, want.ptr);
    /* characters, not bytes: 16000 'é' (2 bytes each) are not clipped */
    sbx_buf_reset(&content);
    for (i = 0; i < 16000; i++)
        sbx_buf_addstr(&content, "\xc3\xa9");
    put(P(f, "accents.txt"), content.ptr, content.len);
    o = run(f, "view", g_path, NULL, NULL, NULL, NULL);
    assert_null(strstr(o, "<response clipped>"));
    sbx_buf_free(&want);
    sbx_buf_free(&content);
}

static void test_view_directory(void **state)
{
    struct fx *f = *state;
    const char *o;

    put(P(f, "test.txt"), "x", 1);
    assert_int_equal(mkdir(P(f, ".downloads"), 0755), 0);
    assert_int_equal(mkdir(P(f, "sub"), 0755), 0);
    put(P(f, "sub/inner.txt"), "x", 1);
    put(P(f, "sub/.hidden"), "x", 1);
    assert_int_equal(mkdir(P(f, "sub/deeper"), 0755), 0);
    put(P(f, "sub/deeper/too-deep.txt"), "x", 1);
    put(P(f, "a.b"), "x", 1);
    o = run(f, "view", f->dir, NULL, NULL, NULL, NULL);
    expectf(o,
            "Here's the files and directories up to 2 levels deep in %s, excluding hidden "
            "items:\n%s/\n%s/a.b\n%s/sub/\n%s/sub/deeper/\n%s/sub/inner.txt\n%s/test.txt\n\n1 "
            "hidden files/directories in this directory are excluded. You can use 'ls -la %s' "
            "to see them.",
            f->dir, f->dir, f->dir, f->dir, f->dir, f->dir, f->dir, f->dir);
    assert_false(f->r.error);
}

/* ---- create -------------------------------------------------------------- */

static void test_create(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096];
    char *data;
    size_t n;

    snprintf(file, sizeof(file), "%s", P(f, "new.txt"));
    o = run(f, "create", file, NULL, NULL, NULL, NULL);
    expect_err(f, o, "Parameter `file_text` is required for command: create.");
    o = run(f, "create", file, "New file content", NULL, NULL, NULL);
    expectf(o, "File created successfully at: %s", file);
    assert_false(f->r.error);
    assert_null(f->r.old_content);
    assert_string_equal(f->r.new_content, "New file content");
    data = get(file, &n);
    assert_int_equal(n, 16); /* no newline added */
    assert_memory_equal(data, "New file content", 16);
    free(data);
    o = run(f, "create", P(f, "no/such/dir/x.txt"), "t", NULL, NULL, NULL);
    expectf(o, "Ran into [Errno 2] No such file or directory: '%s' while trying to write to %s",
            g_path, g_path);
    assert_true(f->r.error);
    o = run(f, "create", P(f, "empty.txt"), "", NULL, NULL, NULL);
    assert_false(f->r.error);
    o = run(f, "view", g_path, NULL, NULL, NULL, NULL);
    assert_non_null(strstr(o, "     1\t"));
}

/* ---- str_replace --------------------------------------------------------- */

static void test_str_replace(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096];
    char *data;
    size_t n;

    snprintf(file, sizeof(file), "%s", P(f, "test.txt"));
    put(file, "This is a test file.\nThis file is for testing purposes.\n", 56);
    o = run(f, "str_replace", file, NULL, "test file", "sample file", NULL);
    expectf(o,
            "The file %s has been edited. Here's the result of running `cat -n` on a snippet of "
            "%s:\n     1\tThis is a sample file.\n     2\tThis file is for testing purposes.\n    "
            " 3\t\nReview the changes and make sure they are as expected. Edit the file again if "
            "necessary.",
            file, file);
    assert_false(f->r.error);
    assert_string_equal(f->r.old_content,
                        "This is a test file.\nThis file is for testing purposes.\n");
    assert_string_equal(f->r.new_content,
                        "This is a sample file.\nThis file is for testing purposes.\n");
    o = run(f, "str_replace", file, NULL, "nowhere", "x", NULL);
    expectf(o, "No replacement was performed, old_str `nowhere` did not appear verbatim in %s.",
            file);
    o = run(f, "str_replace", file, NULL, "is", "IS", NULL);
    expectf(o,
            "No replacement was performed. Multiple occurrences of old_str `is` in lines [1, 2]. "
            "Please ensure it is unique.");
    o = run(f, "str_replace", file, NULL, "same", "same", NULL);
    expect_err(f, o,
               "Invalid `new_str` parameter: same. No replacement was performed. `new_str` and "
               "`old_str` must be different.");
    o = run(f, "str_replace", file, NULL, NULL, "x", NULL);
    expect_err(f, o, "Parameter `old_str` is required for command: str_replace.");
    /* surrounding whitespace is stripped from both strings on a retry */
    o = run(f, "str_replace", file, NULL, "  sample file.\n", " example file. ", NULL);
    assert_false(f->r.error);
    data = get(file, &n);
    assert_string_equal(data, "This is a example file.\nThis file is for testing purposes.\n");
    free(data);
    o = run(f, "str_replace", file, NULL, "  nothing  ", "x", NULL);
    assert_true(f->r.error);
    expectf(o,
            "No replacement was performed, old_str `nothing` did not appear verbatim in "
            "%s.",
            file);
}

static void test_str_replace_tabs_and_windows(void **state)
{
    struct fx *f = *state;
    struct sbx_buf c = SBX_BUF_INIT, want = SBX_BUF_INIT;
    const char *o;
    char file[4096];
    int i;

    /* test_str_replace_multi_line_with_tabs, exactly */
    snprintf(file, sizeof(file), "%s", P(f, "tabs.py"));
    o = run(f, "create", file, "def test():\n\tprint(\"Hello, World!\")", NULL, NULL, NULL);
    o = run(f, "str_replace", file, NULL, "def test():\n\tprint(\"Hello, World!\")",
            "def test():\n\tprint(\"Hello, Universe!\")", NULL);
    expectf(o,
            "The file %s has been edited. Here's the result of running `cat -n` on a snippet of "
            "%s:\n     1\tdef test():\n     2\t\tprint(\"Hello, Universe!\")\nReview the changes "
            "and make sure they are as expected. Edit the file again if necessary.",
            file, file);
    /* window: lines [L-3, L+4+newlines(new_str)] */
    for (i = 1; i <= 20; i++)
        sbx_buf_addf(&c, "line %d\n", i);
    put(P(f, "w.txt"), c.ptr, c.len);
    snprintf(file, sizeof(file), "%s", g_path);
    o = run(f, "str_replace", file, NULL, "line 10\n", "ten\nTEN\n", NULL);
    sbx_buf_addf(&want,
                 "The file %s has been edited. Here's the result of running `cat -n` on a "
                 "snippet of %s:\n",
                 file, file);
    for (i = 7; i <= 16; i++) {
        if (i < 10)
            sbx_buf_addf(&want, "%6d\tline %d\n", i, i);
        else if (i == 10)
            sbx_buf_addf(&want, "%6d\tten\n", i);
        else if (i == 11)
            sbx_buf_addf(&want, "%6d\tTEN\n", i);
        else
            sbx_buf_addf(&want, "%6d\tline %d\n", i, i - 1);
    }
    /* the snippet's lines keep their '\n': one more, empty, numbered line */
    sbx_buf_addf(&want, "%6d\t\n", 17);
    sbx_buf_addstr(&want, "Review the changes and make sure they are as expected. Edit the file "
                          "again if necessary.");
    assert_string_equal(o, want.ptr);
    sbx_buf_free(&c);
    sbx_buf_free(&want);
}

static void test_str_replace_empty_and_delete(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096];
    char *data;

    snprintf(file, sizeof(file), "%s", P(f, "e.txt"));
    put(file, "Line 1\nLine 2\nLine 3\n", 21);
    o = run(f, "str_replace", file, NULL, "", "New string", NULL);
    expect_err(f, o,
               "No replacement was performed. Multiple occurrences of old_str `` in lines [1, 2, "
               "3, 4]. Please ensure it is unique.");
    /* a missing new_str deletes */
    o = run(f, "str_replace", file, NULL, "Line 2\n", NULL, NULL);
    assert_false(f->r.error);
    data = get(file, NULL);
    assert_string_equal(data, "Line 1\nLine 3\n");
    free(data);
    assert_null(strstr(o, "Line 2"));
    /* an empty file: the empty old_str matches once */
    put(P(f, "z.txt"), "", 0);
    o = run(f, "str_replace", g_path, NULL, "", "hello", NULL);
    assert_false(f->r.error);
    data = get(g_path, NULL);
    assert_string_equal(data, "hello");
    free(data);
}

/* ---- insert -------------------------------------------------------------- */

static void test_insert(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096];
    char *data;

    snprintf(file, sizeof(file), "%s", P(f, "i.txt"));
    put(file, "Line 1\nLine 2\n", 14);
    o = run(f, "insert", file, NULL, NULL, "x", NULL);
    expect_err(f, o, "Parameter `insert_line` is required for command: insert.");
    o = run(f, "insert", file, NULL, NULL, NULL, "1");
    expect_err(f, o, "Parameter `new_str` is required for command: insert.");
    o = run(f, "insert", file, NULL, NULL, "x", "10");
    expect_err(f, o,
               "Invalid `insert_line` parameter: 10. It should be within the range of allowed "
               "values: [0, 2]");
    o = run(f, "insert", file, NULL, NULL, "x", "-1");
    expect_err(f, o,
               "Invalid `insert_line` parameter: -1. It should be within the range of allowed "
               "values: [0, 2]");
    o = run(f, "insert", file, NULL, NULL, "x", "abc");
    expect_err(f, o, "Invalid insert_line value: 'abc'. Expected an integer.");
    /* the insert_line error comes before any path check */
    o = run(f, "insert", "relative", NULL, NULL, "x", "1.5");
    expect_err(f, o, "Invalid insert_line value: '1.5'. Expected an integer.");
    o = run(f, "insert", file, NULL, NULL, "Inserted line", " 1 ");
    expectf(o,
            "The file %s has been edited. Here's the result of running `cat -n` on a snippet of "
            "the edited file:\n     1\tLine 1\n     2\tInserted line\n     3\tLine 2\n     4\t\n"
            "Review the changes and make sure they are as expected (correct indentation, no "
            "duplicate lines, etc). Edit the file again if necessary.",
            file);
    assert_string_equal(f->r.old_content, "Line 1\nLine 2\n");
    assert_string_equal(f->r.new_content, "Line 1\nInserted line\nLine 2\n");
    o = run(f, "insert", file, NULL, NULL, "top\nsecond", "0");
    assert_false(f->r.error);
    data = get(file, NULL);
    assert_string_equal(data, "top\nsecond\nLine 1\nInserted line\nLine 2\n");
    free(data);
    /* test_insert_with_empty_string */
    put(file, "Line 1\nLine 2\n", 14);
    o = run(f, "insert", file, NULL, NULL, "", "1");
    assert_non_null(strstr(o, "     1\tLine 1\n     2\t\n     3\tLine 2\n"));
}

static void test_insert_window(void **state)
{
    struct fx *f = *state;
    struct sbx_buf c = SBX_BUF_INIT, want = SBX_BUF_INIT;
    const char *o;
    int i;

    for (i = 1; i <= 20; i++)
        sbx_buf_addf(&c, "l%d\n", i);
    put(P(f, "w.txt"), c.ptr, c.len);
    o = run(f, "insert", g_path, NULL, NULL, "A\nB", "10");
    /* lines [max(1, 10-3), min(n+k, 10+4+k)] = [7, 16] */
    sbx_buf_addf(&want,
                 "The file %s has been edited. Here's the result of running `cat -n` on a "
                 "snippet of the edited file:\n",
                 g_path);
    for (i = 7; i <= 16; i++) {
        if (i <= 10)
            sbx_buf_addf(&want, "%6d\tl%d\n", i, i);
        else if (i <= 12)
            sbx_buf_addf(&want, "%6d\t%s\n", i, i == 11 ? "A" : "B");
        else
            sbx_buf_addf(&want, "%6d\tl%d\n", i, i - 2);
    }
    sbx_buf_addf(&want, "%6d\t\n", 17);
    sbx_buf_addstr(&want, "Review the changes and make sure they are as expected (correct "
                          "indentation, no duplicate lines, etc). Edit the file again if "
                          "necessary.");
    assert_string_equal(o, want.ptr);
    sbx_buf_free(&c);
    sbx_buf_free(&want);
}

/* ---- undo_edit ----------------------------------------------------------- */

static void test_undo(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096];
    char *data;
    char from[16], to[16];
    int i;

    snprintf(file, sizeof(file), "%s", P(f, "u.txt"));
    put(file, "This is a test file.", 20);
    o = run(f, "undo_edit", file, NULL, NULL, NULL, NULL);
    expectf(o, "No edit history found for %s.", file);
    assert_true(f->r.error);
    o = run(f, "str_replace", file, NULL, "test", "sample", NULL);
    o = run(f, "undo_edit", file, NULL, NULL, NULL, NULL);
    expectf(o,
            "Last edit to %s undone successfully. Here's the result of running `cat -n` on "
            "%s:\n     1\tThis is a test file.\n",
            file, file);
    assert_string_equal(f->r.old_content, "This is a sample file.");
    assert_string_equal(f->r.new_content, "This is a test file.");
    /* 12 edits: only the last 10 can be undone */
    put(file, "v0", 2);
    for (i = 0; i < 12; i++) {
        snprintf(from, sizeof(from), "v%d", i);
        snprintf(to, sizeof(to), "v%d", i + 1);
        run(f, "str_replace", file, NULL, from, to, NULL);
        assert_false(f->r.error);
    }
    for (i = 0; i < 10; i++) {
        run(f, "undo_edit", file, NULL, NULL, NULL, NULL);
        assert_false(f->r.error);
    }
    data = get(file, NULL);
    assert_string_equal(data, "v2");
    free(data);
    o = run(f, "undo_edit", file, NULL, NULL, NULL, NULL);
    expectf(o, "No edit history found for %s.", file);
    /* create pushes its own text */
    run(f, "create", P(f, "c.txt"), "created", NULL, NULL, NULL);
    run(f, "str_replace", g_path, NULL, "created", "changed", NULL);
    run(f, "undo_edit", g_path, NULL, NULL, NULL, NULL);
    run(f, "undo_edit", g_path, NULL, NULL, NULL, NULL);
    assert_false(f->r.error);
    data = get(g_path, NULL);
    assert_string_equal(data, "created");
    free(data);
}

/* ---- encoding ------------------------------------------------------------ */

static void test_latin1_round_trip(void **state)
{
    struct fx *f = *state;
    const char *o;
    char file[4096];
    char *data;
    size_t n;

    snprintf(file, sizeof(file), "%s", P(f, "l1.txt"));
    /* "café olé\nline2\nna\xefve" in latin-1: not UTF-8 */
    put(file, "caf\xe9 ol\xe9\nline2\nna\xefve", 20);
    o = run(f, "view", file, NULL, NULL, NULL, NULL);
    assert_non_null(strstr(o, "     1\tcaf\xc3\xa9 ol\xc3\xa9\n"));
    o = run(f, "str_replace", file, NULL, "line2", "line\xc3\xbe", NULL);
    assert_false(f->r.error);
    /* reported as UTF-8 text, written back as latin-1, untouched bytes kept */
    assert_string_equal(f->r.old_content, "caf\xc3\xa9 ol\xc3\xa9\nline2\nna\xc3\xafve");
    data = get(file, &n);
    assert_int_equal(n, 20);
    assert_memory_equal(data, "caf\xe9 ol\xe9\nline\xfe\nna\xefve", 20);
    free(data);
    /* (0xff would have made binaryornot call the file binary)
     * a character above U+00FF cannot be written to a latin-1 file */
    o = run(f, "str_replace", file, NULL, "na\xc3\xafve", "\xe2\x82\xac", NULL);
    expectf(o,
            "Ran into 'latin-1' codec can't encode character '\\u20ac' in position 15: ordinal "
            "not in range(256) while trying to write to %s",
            file);
    data = get(file, &n);
    assert_memory_equal(data, "caf\xe9 ol\xe9\nline\xfe\nna\xefve", 20);
    free(data);
    run(f, "undo_edit", file, NULL, NULL, NULL, NULL);
    data = get(file, &n);
    assert_int_equal(n, 20);
    assert_memory_equal(data, "caf\xe9 ol\xe9\nline2\nna\xefve", 20);
    free(data);
}

static void test_crlf_read_as_lf(void **state)
{
    struct fx *f = *state;
    const char *o;
    char *data;

    put(P(f, "crlf.txt"), "a\r\nb\r\nc", 7);
    o = run(f, "str_replace", g_path, NULL, "a\nb", "A\nB", NULL);
    assert_false(f->r.error);
    (void)o;
    data = get(g_path, NULL);
    assert_string_equal(data, "A\nB\nc");
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_matches_difflib),
        cmocka_unit_test_setup_teardown(test_path_validation, up, down),
        cmocka_unit_test_setup_teardown(test_file_validation, up, down),
        cmocka_unit_test_setup_teardown(test_is_binary, up, down),
        cmocka_unit_test_setup_teardown(test_view_file, up, down),
        cmocka_unit_test_setup_teardown(test_view_clipped, up, down),
        cmocka_unit_test_setup_teardown(test_view_directory, up, down),
        cmocka_unit_test_setup_teardown(test_create, up, down),
        cmocka_unit_test_setup_teardown(test_str_replace, up, down),
        cmocka_unit_test_setup_teardown(test_str_replace_tabs_and_windows, up, down),
        cmocka_unit_test_setup_teardown(test_str_replace_empty_and_delete, up, down),
        cmocka_unit_test_setup_teardown(test_insert, up, down),
        cmocka_unit_test_setup_teardown(test_insert_window, up, down),
        cmocka_unit_test_setup_teardown(test_undo, up, down),
        cmocka_unit_test_setup_teardown(test_latin1_round_trip, up, down),
        cmocka_unit_test_setup_teardown(test_crlf_read_as_lf, up, down),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
