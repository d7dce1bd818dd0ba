/* Tests for src/base/fd.c: file helpers on a private temp directory. */
#include <dirent.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"

struct tmp {
    char dir[64];
    char path[128];
};

static int up(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/sbx-test-fd-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/f", t->dir);
    *state = t;
    return 0;
}

/* Removes the directory; fails if anything but "f" was left (temp files). */
static int down(void **state)
{
    struct tmp *t = *state;
    DIR *d = opendir(t->dir);
    struct dirent *e;
    int extra = 0;

    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "f"))
            continue;
        extra++;
    }
    if (d)
        closedir(d);
    unlink(t->path);
    rmdir(t->dir);
    free(t);
    return extra ? -1 : 0;
}

static mode_t mode_of(const char *p)
{
    struct stat st;

    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static void test_write_atomic_then_read(void **state)
{
    struct tmp *t = *state;
    struct sbx_buf b = SBX_BUF_INIT;
    mode_t old = umask(0);

    assert_int_equal(sbx_file_write_atomic(t->path, "hello\0world", 11, 0640), 0);
    assert_int_equal(mode_of(t->path), 0640);
    assert_int_equal(sbx_file_read(t->path, &b), 0);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.ptr, "hello\0world", 11);
    sbx_buf_reset(&b);
    /* Replaces the content entirely. */
    assert_int_equal(sbx_file_write_atomic(t->path, "x", 1, 0600), 0);
    assert_int_equal(sbx_file_read(t->path, &b), 0);
    assert_string_equal(b.ptr, "x");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_file_write_atomic(t->path, "", 0, 0600), 0);
    assert_int_equal(sbx_file_read(t->path, &b), 0);
    assert_int_equal(b.len, 0);
    umask(old);
    sbx_buf_free(&b);
}

static void test_read_appends(void **state)
{
    struct tmp *t = *state;
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_file_write_atomic(t->path, "abc", 3, 0600), 0);
    assert_int_equal(sbx_buf_addstr(&b, ">"), 0);
    assert_int_equal(sbx_file_read(t->path, &b), 0);
    assert_string_equal(b.ptr, ">abc");
    sbx_buf_free(&b);
}

static void test_read_large(void **state)
{
    struct tmp *t = *state;
    struct sbx_buf b = SBX_BUF_INIT;
    size_t n = 200000, i;
    char *data = malloc(n);

    assert_non_null(data);
    for (i = 0; i < n; i++)
        data[i] = (char)(i * 7);
    assert_int_equal(sbx_file_write_atomic(t->path, data, n, 0600), 0);
    assert_int_equal(sbx_file_read(t->path, &b), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.ptr, data, n);
    free(data);
    sbx_buf_free(&b);
}

static void test_read_over_max(void **state)
{
    struct tmp *t = *state;
    struct sbx_buf b;

    sbx_buf_init(&b, 4);
    assert_int_equal(sbx_file_write_atomic(t->path, "12345", 5, 0600), 0);
    assert_int_equal(sbx_file_read(t->path, &b), -EMSGSIZE);
    assert_int_equal(b.len, 0);
    sbx_buf_free(&b);
}

static void test_read_missing(void **state)
{
    struct tmp *t = *state;
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_file_read(t->path, &b), -ENOENT);
    assert_int_equal(sbx_file_read(t->dir, &b), -EISDIR);
    assert_int_equal(b.len, 0);
    sbx_buf_free(&b);
}

static void test_write_atomic_missing_dir(void **state)
{
    struct tmp *t = *state;
    char p[160];

    snprintf(p, sizeof(p), "%s/no/such", t->dir);
    assert_int_equal(sbx_file_write_atomic(p, "x", 1, 0600), -ENOENT);
}

static void test_write_atomic_rename_fails_cleans_up(void **state)
{
    struct tmp *t = *state;

    /* The target is a non-empty directory: rename fails, the temp file goes. */
    assert_int_equal(mkdir(t->path, 0700), 0);
    {
        char inner[160];

        snprintf(inner, sizeof(inner), "%s/x", t->path);
        assert_int_equal(sbx_file_write_atomic(inner, "1", 1, 0600), 0);
        assert_true(sbx_file_write_atomic(t->path, "y", 1, 0600) < 0);
        unlink(inner);
    }
    rmdir(t->path);
}

static void test_append(void **state)
{
    struct tmp *t = *state;
    struct sbx_buf b = SBX_BUF_INIT;
    mode_t old = umask(0);

    assert_int_equal(sbx_file_append(t->path, "one\n", 4, 0604), 0);
    assert_int_equal(mode_of(t->path), 0604);
    assert_int_equal(sbx_file_append(t->path, "two\n", 4, 0600), 0);
    assert_int_equal(sbx_file_append(t->path, "", 0, 0600), 0);
    /* An existing file keeps its mode. */
    assert_int_equal(mode_of(t->path), 0604);
    assert_int_equal(sbx_file_read(t->path, &b), 0);
    assert_string_equal(b.ptr, "one\ntwo\n");
    umask(old);
    sbx_buf_free(&b);
}

static void test_fd_helpers(void **state)
{
    int p[2], fl;
    char buf[8];

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(sbx_fd_write_all(p[1], "abc", 3), 0);
    assert_int_equal(sbx_fd_read(p[0], buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(sbx_fd_set_nonblock(p[0], 1), 0);
    fl = fcntl(p[0], F_GETFL);
    assert_true(fl & O_NONBLOCK);
    assert_int_equal(sbx_fd_read(p[0], buf, sizeof(buf)), -EAGAIN);
    assert_int_equal(sbx_fd_set_nonblock(p[0], 0), 0);
    fl = fcntl(p[0], F_GETFL);
    assert_false(fl & O_NONBLOCK);
    sbx_fd_close(p[1]);
    assert_int_equal(sbx_fd_read(p[0], buf, sizeof(buf)), 0);
    sbx_fd_close(p[0]);
    sbx_fd_close(-1);
    assert_int_equal(sbx_fd_read(-1, buf, 1), -EBADF);
    assert_int_equal(sbx_fd_write_all(-1, "x", 1), -EBADF);
    assert_int_equal(sbx_fd_set_nonblock(-1, 1), -EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_atomic_then_read, up, down),
        cmocka_unit_test_setup_teardown(test_read_appends, up, down),
        cmocka_unit_test_setup_teardown(test_read_large, up, down),
        cmocka_unit_test_setup_teardown(test_read_over_max, up, down),
        cmocka_unit_test_setup_teardown(test_read_missing, up, down),
        cmocka_unit_test_setup_teardown(test_write_atomic_missing_dir, up, down),
        cmocka_unit_test_setup_teardown(test_write_atomic_rename_fails_cleans_up, up, down),
        cmocka_unit_test_setup_teardown(test_append, up, down),
        cmocka_unit_test(test_fd_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
