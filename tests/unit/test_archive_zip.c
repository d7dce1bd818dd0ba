/* Tests for src/archive/: our writer checked by Python's zipfile (interop),
 * our extractor on archives Python made, including hostile ones. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive/zip.h"
#include "base/buf.h"
#include "base/fd.h"

#define PY "/usr/bin/python3"

struct fx {
    char dir[64];
};

static int up(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    snprintf(fx->dir, sizeof(fx->dir), "/tmp/sbx-zip-test-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    *state = fx;
    return 0;
}

static int run(const char *const argv[]);

static int down(void **state)
{
    struct fx *fx = *state;
    const char *argv[] = {"/bin/rm", "-rf", fx->dir, NULL};

    run(argv);
    free(fx);
    return 0;
}

/* Runs argv, returns its exit status (or -1). */
static int run(const char *const argv[])
{
    int st = 0;
    pid_t pid = fork();

    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path(struct fx *fx, const char *rel)
{
    static char buf[4][512];
    static int i;
    char *p = buf[i++ % 4];

    snprintf(p, 512, "%s/%s", fx->dir, rel);
    return p;
}

static int to_fd(const void *p, size_t n, void *ud)
{
    return sbx_fd_write_all(*(int *)ud, p, n);
}

static void write_zip(struct fx *fx, const char *name, int64_t hint)
{
    int fd = open(path(fx, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct sbx_zip_writer *z = sbx_zip_writer_new(to_fd, &fd, 6);
    char *big = malloc(1 << 20);
    size_t i;

    assert_true(fd >= 0);
    assert_non_null(z);
    for (i = 0; i < (1 << 20); i++)
        big[i] = (char)(rand() & 0xff);
    assert_int_equal(sbx_zip_writer_begin(z, "empty.txt", S_IFREG | 0644, 0, 0, false), 0);
    assert_int_equal(sbx_zip_writer_end(z), 0);
    assert_int_equal(sbx_zip_writer_begin(z, "dir/random.bin", S_IFREG | 0755, time(NULL), hint,
                                          !sbx_zip_compressible(big, 65536)),
                     0);
    assert_int_equal(sbx_zip_writer_data(z, big, 1000), 0);
    assert_int_equal(sbx_zip_writer_data(z, big + 1000, (1 << 20) - 1000), 0);
    assert_int_equal(sbx_zip_writer_end(z), 0);
    assert_int_equal(sbx_zip_writer_begin(z, "d\xc3\xa9j\xc3\xa0/text.txt", S_IFREG | 0600,
                                          time(NULL), hint, false),
                     0);
    for (i = 0; i < 1000; i++)
        assert_int_equal(sbx_zip_writer_data(z, "hello zip world\n", 16), 0);
    /* finish ends the open entry itself */
    assert_int_equal(sbx_zip_writer_finish(z), 0);
    sbx_zip_writer_free(z);
    close(fd);
    fd = open(path(fx, "random.ref"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_int_equal(sbx_fd_write_all(fd, big, 1 << 20), 0);
    close(fd);
    free(big);
}

static const char check_py[] =
    "import sys, zipfile\n"
    "z = zipfile.ZipFile(sys.argv[1])\n"
    "assert z.testzip() is None\n"
    "assert z.namelist() == ['empty.txt', 'dir/random.bin', 'd\\u00e9j\\u00e0/text.txt'], "
    "z.namelist()\n"
    "assert z.read('empty.txt') == b''\n"
    "assert z.read('dir/random.bin') == open(sys.argv[2], 'rb').read()\n"
    "assert z.read('d\\u00e9j\\u00e0/text.txt') == b'hello zip world\\n' * 1000\n"
    "assert (z.getinfo('dir/random.bin').external_attr >> 16) == 0o100755\n"
    "assert z.getinfo('dir/random.bin').compress_type == zipfile.ZIP_STORED\n"
    "assert z.getinfo('empty.txt').compress_type == zipfile.ZIP_DEFLATED\n";

static void check_with_python(struct fx *fx, const char *name)
{
    const char *t[] = {PY, "-m", "zipfile", "-t", path(fx, name), NULL};
    const char *c[] = {PY, "-c", check_py, path(fx, name), path(fx, "random.ref"), NULL};

    assert_int_equal(run(t), 0);
    assert_int_equal(run(c), 0);
}

static void test_write_python_reads(void **state)
{
    struct fx *fx = *state;

    write_zip(fx, "ours.zip", 1 << 20);
    check_with_python(fx, "ours.zip");
}

static void test_write_zip64_entries(void **state)
{
    struct fx *fx = *state;

    /* Unknown sizes: ZIP64 local headers and data descriptors. */
    write_zip(fx, "ours64.zip", -1);
    check_with_python(fx, "ours64.zip");
}

static void test_write_empty_archive(void **state)
{
    struct fx *fx = *state;
    int fd = open(path(fx, "empty.zip"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct sbx_zip_writer *z = sbx_zip_writer_new(to_fd, &fd, -1);
    const char *t[] = {PY, "-m", "zipfile", "-t", path(fx, "empty.zip"), NULL};

    assert_int_equal(sbx_zip_writer_finish(z), 0);
    sbx_zip_writer_free(z);
    close(fd);
    assert_int_equal(run(t), 0);
}

static int fail_out(const void *p, size_t n, void *ud)
{
    (void)p;
    (void)n;
    (void)ud;
    return -ENOSPC;
}

static void test_compressible(void **state)
{
    char buf[65536];
    size_t i;

    (void)state;
    memset(buf, 'a', sizeof(buf));
    assert_true(sbx_zip_compressible(buf, sizeof(buf)));
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(rand() & 0xff);
    assert_false(sbx_zip_compressible(buf, sizeof(buf)));
    assert_true(sbx_zip_compressible(buf, 0));
}

static void test_write_errors(void **state)
{
    struct sbx_zip_writer *z = sbx_zip_writer_new(fail_out, NULL, -1);

    (void)state;
    assert_int_equal(sbx_zip_writer_data(z, "x", 1), -EINVAL); /* no entry */
    assert_int_equal(sbx_zip_writer_begin(z, "", S_IFREG, 0, 0, false), -EINVAL);
    assert_int_equal(sbx_zip_writer_begin(z, "a", S_IFREG, 0, 0, false), -ENOSPC);
    assert_int_equal(sbx_zip_writer_finish(z), -ENOSPC); /* sticky */
    sbx_zip_writer_free(z);
    sbx_zip_writer_free(NULL);
}

static void test_round_trip_ours(void **state)
{
    struct fx *fx = *state;
    struct sbx_err err = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    struct stat st;

    write_zip(fx, "rt.zip", 1 << 20);
    assert_int_equal(mkdir(path(fx, "out"), 0755), 0);
    assert_int_equal(sbx_zip_extract(path(fx, "rt.zip"), path(fx, "out"), &err), 0);
    assert_int_equal(sbx_file_read(path(fx, "out/d\xc3\xa9j\xc3\xa0/text.txt"), &b), 0);
    assert_int_equal(b.len, 16000);
    assert_int_equal(stat(path(fx, "out/dir/random.bin"), &st), 0);
    assert_int_equal(st.st_size, 1 << 20);
    assert_true(st.st_mode & S_IXUSR);
    sbx_buf_free(&b);
}

/* Python makes the archives: name -> (kind, data). */
static const char make_py[] =
    "import sys, zipfile, stat\n"
    "def mk(path, entries):\n"
    "    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:\n"
    "        for name, data, link in entries:\n"
    "            zi = zipfile.ZipInfo(name)\n"
    "            if link:\n"
    "                zi.create_system = 3\n"
    "                zi.external_attr = (stat.S_IFLNK | 0o777) << 16\n"
    "            z.writestr(zi, data)\n"
    "d = sys.argv[1]\n"
    "mk(d + '/good.zip', [('top/a.txt', b'A', 0), ('top/sub/', b'', 0),\n"
    "    ('top/sub/b.txt', b'B' * 70000, 0), ('top/link', b'a.txt', 1),\n"
    "    ('top/./c.txt', b'C', 0)])\n"
    "mk(d + '/abs.zip', [('ok.txt', b'1', 0), ('/tmp/sbx-evil-abs.txt', b'x', 0)])\n"
    "mk(d + '/dotdot.zip', [('ok.txt', b'1', 0), ('a/../../evil.txt', b'x', 0)])\n"
    "mk(d + '/linkabs.zip', [('ok.txt', b'1', 0), ('l', b'/etc', 1)])\n"
    "mk(d + '/linkup.zip', [('ok.txt', b'1', 0), ('a/l', b'../../x', 1)])\n"
    "mk(d + '/linkthen.zip', [('l', b'sub/../..', 1)])\n"
    "mk(d + '/through.zip', [('esc/evil.txt', b'x', 0)])\n"
    "mk(d + '/through2.zip', [('esc', b'overwrite', 0)])\n";

static void make_archives(struct fx *fx)
{
    const char *c[] = {PY, "-c", make_py, fx->dir, NULL};

    assert_int_equal(run(c), 0);
    assert_int_equal(mkdir(path(fx, "outside"), 0755), 0);
    assert_int_equal(mkdir(path(fx, "dest"), 0755), 0);
}

static void test_extract_python_archive(void **state)
{
    struct fx *fx = *state;
    struct sbx_err err = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    char target[64];
    ssize_t n;

    make_archives(fx);
    assert_int_equal(sbx_zip_extract(path(fx, "good.zip"), path(fx, "dest"), &err), 0);
    assert_int_equal(sbx_file_read(path(fx, "dest/top/sub/b.txt"), &b), 0);
    assert_int_equal(b.len, 70000);
    n = readlink(path(fx, "dest/top/link"), target, sizeof(target) - 1);
    assert_int_equal(n, 5);
    assert_memory_equal(target, "a.txt", 5);
    assert_int_equal(access(path(fx, "dest/top/c.txt"), F_OK), 0);
    sbx_buf_free(&b);
}

static void expect_refused(struct fx *fx, const char *zip, const char *entry)
{
    struct sbx_err err = {0};

    assert_int_equal(sbx_zip_extract(path(fx, zip), path(fx, "dest"), &err), -EINVAL);
    if (!strstr(err.msg, entry))
        fail_msg("%s: message \"%s\" does not name '%s'", zip, err.msg, entry);
}

static bool dir_empty(const char *p)
{
    const char *argv[] = {"/usr/bin/find", p, "-mindepth", "1", "-print", "-quit", NULL};
    int fds[2], st;
    char c;
    bool empty;
    pid_t pid;

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    empty = read(fds[0], &c, 1) == 0;
    close(fds[0]);
    waitpid(pid, &st, 0);
    (void)argv;
    return empty;
}

static void test_extract_refuses_evil(void **state)
{
    struct fx *fx = *state;
    struct sbx_buf b = SBX_BUF_INIT;
    int fd;

    make_archives(fx);
    expect_refused(fx, "abs.zip", "/tmp/sbx-evil-abs.txt");
    expect_refused(fx, "dotdot.zip", "a/../../evil.txt");
    expect_refused(fx, "linkabs.zip", "'l'");
    expect_refused(fx, "linkup.zip", "a/l");
    expect_refused(fx, "linkthen.zip", "'l'");
    /* names are checked first: nothing at all was written */
    assert_true(dir_empty(path(fx, "dest")));
    assert_int_equal(access("/tmp/sbx-evil-abs.txt", F_OK), -1);
    assert_int_equal(access(path(fx, "evil.txt"), F_OK), -1);

    /* an existing symlink in the destination that leads outside */
    assert_int_equal(symlink(path(fx, "outside"), path(fx, "dest/esc")), 0);
    expect_refused(fx, "through.zip", "esc/evil.txt");
    assert_int_equal(symlink("../outside/file", path(fx, "dest/esc2")), 0);
    fd = open(path(fx, "outside/file"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_int_equal(sbx_fd_write_all(fd, "keep", 4), 0);
    close(fd);
    assert_true(dir_empty(path(fx, "outside")) == false);
    expect_refused(fx, "through2.zip", "esc");
    assert_int_equal(sbx_file_read(path(fx, "outside/file"), &b), 0);
    assert_string_equal(b.ptr, "keep");
    sbx_buf_free(&b);
}

static void test_extract_not_a_zip(void **state)
{
    struct fx *fx = *state;
    struct sbx_err err = {0};
    int fd = open(path(fx, "junk.zip"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    assert_int_equal(sbx_fd_write_all(fd, "not a zip at all", 16), 0);
    close(fd);
    assert_int_equal(sbx_zip_extract(path(fx, "junk.zip"), fx->dir, &err), -EINVAL);
    assert_int_equal(sbx_zip_extract(path(fx, "missing.zip"), fx->dir, &err), -EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, up, down)
    const struct CMUnitTest tests[] = {
        T(test_write_python_reads),
        T(test_write_zip64_entries),
        T(test_write_empty_archive),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_compressible),
        T(test_round_trip_ours),
        T(test_extract_python_archive),
        T(test_extract_refuses_evil),
        T(test_extract_not_a_zip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
