/* Tests for src/providers/local/image.c and the extractor under it
 * (src/archive/tar_extract.c): directory images are used in place, a
 * tarball is extracted once and then found in the cache, hostile archives
 * (absolute names, "..", symlink and hard link escapes) are refused with
 * nothing written outside, and a rootfs without /bin/sh is refused.
 * Archives are made by tar(1) and by /usr/bin/python3's tarfile. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
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

#include "archive/tar.h"
#include "base/buf.h"
#include "base/fd.h"
#include "providers/local/image.h"

extern char **environ;

struct fixture {
    char base[64];
    char state[128];
    char src[128];
    char outside[128];
    char tarball[160];
};

/* Builds a hostile (or special) tar with python3's tarfile: see MODES. */
static const char craft_py[] =
    "import io, sys, tarfile\n"
    "out, mode, outside = sys.argv[1], sys.argv[2], sys.argv[3]\n"
    "t = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)\n"
    "def f(name, data=b'x', **kw):\n"
    "    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644\n"
    "    for k, v in kw.items(): setattr(ti, k, v)\n"
    "    t.addfile(ti, io.BytesIO(data))\n"
    "def l(name, target, kind):\n"
    "    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = target; t.addfile(ti)\n"
    "d = tarfile.TarInfo('bin'); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)\n"
    "f('bin/sh', b'#!', mode=0o755)\n"
    "if mode == 'dotdot': f('../evil')\n"
    "elif mode == 'dotdot-deep': f('bin/../../evil')\n"
    "elif mode == 'abs': f(outside + '/abs-evil')\n"
    "elif mode == 'symlink': l('esc', outside, tarfile.SYMTYPE); f('esc/pwned')\n"
    "elif mode == 'hardlink': l('hl', '../../../../../../etc/passwd', tarfile.LNKTYPE)\n"
    "elif mode == 'hardlink-abs': l('hl', '/etc/passwd', tarfile.LNKTYPE)\n"
    "elif mode == 'hardlink-via-symlink':\n"
    "    l('lnk', outside, tarfile.SYMTYPE); l('hl', 'lnk/secret', tarfile.LNKTYPE)\n"
    "elif mode == 'device':\n"
    "    ti = tarfile.TarInfo('dev/null'); ti.type = tarfile.CHRTYPE\n"
    "    ti.devmajor = 1; ti.devminor = 3; ti.mode = 0o666; t.addfile(ti)\n"
    "elif mode == 'owner': f('etc/owned', uid=1234, gid=4321, mode=0o640)\n"
    "elif mode == 'nosh': pass\n"
    "t.close()\n"
    "if mode == 'nosh':\n"
    "    t = tarfile.open(out, 'w'); f('etc/motd'); t.close()\n"
    "if mode == 'deep-nosh':\n"
    "    t = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT); f('d/' * 4200 + 'leaf'); t.close()\n";

static int run(char *const argv[])
{
    pid_t pid;
    int st = -1;

    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void craft(struct fixture *f, const char *mode)
{
    char *argv[] = {"/usr/bin/python3", "-c", (char *)craft_py, f->tarball, (char *)mode,
                    f->outside,         NULL};

    assert_int_equal(run(argv), 0);
}

static void tar_src(struct fixture *f, const char *flags)
{
    char *argv[] = {"/bin/tar", "-C", f->src, (char *)flags, f->tarball, ".", NULL};

    assert_int_equal(run(argv), 0);
}

static void put(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(sbx_fd_write_all(fd, text, strlen(text)), 0);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void mkdirs(const char *dir, const char *name, mode_t mode)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(mkdir(path, mode), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Nothing but the (possibly absent) images directory, empty, under state;
 * the outside directory holds only what the test put there. */
static void assert_nothing_left(struct fixture *f, int outside_entries)
{
    char images[256];

    snprintf(images, sizeof(images), "%s/images", f->state);
    assert_true(count_entries(images) <= 0);
    assert_int_equal(count_entries(f->outside), outside_entries);
}

static int up(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->base, sizeof(f->base), "/tmp/sbx-image-test-XXXXXX");
    if (!mkdtemp(f->base))
        return -1;
    snprintf(f->state, sizeof(f->state), "%s/state", f->base);
    snprintf(f->src, sizeof(f->src), "%s/src", f->base);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
    snprintf(f->tarball, sizeof(f->tarball), "%s/image.tar", f->base);
    if (chmod(f->base, 0755) != 0 || mkdir(f->src, 0755) != 0 || mkdir(f->outside, 0755) != 0)
        return -1;
    *state = f;
    return 0;
}

static int down(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/rm", "-rf", f->base, NULL};
    int rc = run(argv) == 0 ? 0 : -1;

    free(f);
    return rc;
}

/* ---- directories ------------------------------------------------------------ */

static void test_dir_used_in_place(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char link[256], real[256], sh[256];
    char *out = NULL;

    mkdirs(f->src, "bin", 0755);
    snprintf(sh, sizeof(sh), "%s/bin/sh", f->src);
    assert_int_equal(symlink("dash", sh), 0); /* dangling: still counts */
    snprintf(link, sizeof(link), "%s/link", f->base);
    assert_int_equal(symlink(f->src, link), 0);
    if (sbx_image_prepare(f->state, link, &out, &err) != 0)
        fail_msg("prepare: %s", err.msg);
    assert_non_null(realpath(f->src, real));
    assert_string_equal(out, real);
    free(out);
    assert_int_equal(count_entries(f->base), 3); /* src, outside, link: no state */
}

static void test_dir_without_sh(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char *out = (char *)"unset";

    mkdirs(f->src, "bin", 0755);
    mkdirs(f->src, "etc", 0755);
    assert_int_equal(sbx_image_prepare(f->state, f->src, &out, &err), -EINVAL);
    assert_null(out);
    assert_non_null(strstr(err.msg, "/bin/sh"));
}

/* bin -> /usr/bin resolves inside the image, never on the host (whose
 * /usr/bin/sh exists). */
static void test_dir_symlinks_resolved_in_root(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char bin[256], usrbin[256];
    char *out = NULL;

    snprintf(bin, sizeof(bin), "%s/bin", f->src);
    assert_int_equal(symlink("/usr/bin", bin), 0);
    assert_int_equal(sbx_image_prepare(f->state, f->src, &out, &err), -EINVAL);
    mkdirs(f->src, "usr", 0755);
    mkdirs(f->src, "usr/bin", 0755);
    snprintf(usrbin, sizeof(usrbin), "%s/usr/bin", f->src);
    put(usrbin, "sh", "#!", 0755);
    if (sbx_image_prepare(f->state, f->src, &out, &err) != 0)
        fail_msg("prepare: %s", err.msg);
    free(out);
}

static void test_missing_and_not_archive(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char path[256];
    char *out = NULL;

    snprintf(path, sizeof(path), "%s/nope.tar", f->base);
    assert_int_equal(sbx_image_prepare(f->state, path, &out, &err), -ENOENT);
    put(f->base, "text.tar", "this is not an archive\n", 0644);
    snprintf(path, sizeof(path), "%s/text.tar", f->base);
    assert_int_equal(sbx_image_prepare(f->state, path, &out, &err), -EINVAL);
    assert_null(out);
    assert_nothing_left(f, 0);
    assert_int_equal(sbx_image_prepare(f->state, "/dev/null", &out, &err), -EINVAL);
}

/* ---- tarballs ---------------------------------------------------------------- */

static void make_src(struct fixture *f)
{
    char sh[256], a[256], b[256];

    mkdirs(f->src, "bin", 0755);
    mkdirs(f->src, "etc", 0755);
    mkdirs(f->src, "secret", 0750);
    put(f->src, "bin/busybox", "#!", 0755);
    snprintf(sh, sizeof(sh), "%s/bin/sh", f->src);
    assert_int_equal(symlink("busybox", sh), 0);
    put(f->src, "etc/hello", "hi\n", 0640);
    snprintf(a, sizeof(a), "%s/etc/hello", f->src);
    snprintf(b, sizeof(b), "%s/etc/hello.link", f->src);
    assert_int_equal(link(a, b), 0);
}

static void check_rootfs(const char *rootfs)
{
    char path[512], target[64] = {0};
    struct sbx_buf buf;
    struct stat st, st2;

    sbx_buf_init(&buf, 0);
    snprintf(path, sizeof(path), "%s/etc/hello", rootfs);
    assert_int_equal(sbx_file_read(path, &buf), 0);
    assert_string_equal(buf.ptr, "hi\n");
    sbx_buf_free(&buf);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    snprintf(path, sizeof(path), "%s/etc/hello.link", rootfs);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino); /* the hard link is one */
    snprintf(path, sizeof(path), "%s/bin/sh", rootfs);
    assert_int_equal(readlink(path, target, sizeof(target) - 1), 7);
    assert_string_equal(target, "busybox");
    snprintf(path, sizeof(path), "%s/secret", rootfs);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
}

static void test_tarball_extracted_then_cached(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char *first = NULL, *second = NULL;
    char images[256], hello[512];
    struct stat a, b, ra, rb;

    make_src(f);
    tar_src(f, "-cf");
    if (sbx_image_prepare(f->state, f->tarball, &first, &err) != 0)
        fail_msg("prepare: %s", err.msg);
    snprintf(images, sizeof(images), "%s/images/", f->state);
    assert_memory_equal(first, images, strlen(images));
    assert_string_equal(first + strlen(first) - 7, "/rootfs");
    check_rootfs(first);
    snprintf(hello, sizeof(hello), "%s/etc/hello", first);
    assert_int_equal(stat(hello, &a), 0);
    assert_int_equal(stat(first, &ra), 0);
    /* The second use finds the same files: same inodes, unchanged ctime
     * (a re-extraction would have made new ones). */
    if (sbx_image_prepare(f->state, f->tarball, &second, &err) != 0)
        fail_msg("prepare again: %s", err.msg);
    assert_string_equal(first, second);
    assert_int_equal(stat(hello, &b), 0);
    assert_int_equal(stat(second, &rb), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_int_equal(a.st_ctim.tv_sec, b.st_ctim.tv_sec);
    assert_int_equal(a.st_ctim.tv_nsec, b.st_ctim.tv_nsec);
    assert_int_equal(ra.st_ino, rb.st_ino);
    snprintf(images, sizeof(images), "%s/images", f->state);
    assert_int_equal(count_entries(images), 1); /* no temporary left */
    free(first);
    free(second);
}

static void test_changed_tarball_new_key(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char *first = NULL, *second = NULL;
    struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};

    make_src(f);
    tar_src(f, "-cf");
    assert_int_equal(sbx_image_prepare(f->state, f->tarball, &first, &err), 0);
    assert_int_equal(utimensat(AT_FDCWD, f->tarball, ts, 0), 0);
    assert_int_equal(sbx_image_prepare(f->state, f->tarball, &second, &err), 0);
    assert_string_not_equal(first, second);
    check_rootfs(second);
    free(first);
    free(second);
}

static void test_compressed_tarball(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char *out = NULL;

    make_src(f);
    tar_src(f, "-czf");
    if (sbx_image_prepare(f->state, f->tarball, &out, &err) != 0)
        fail_msg("prepare: %s", err.msg);
    check_rootfs(out);
    free(out);
}

static void test_tarball_without_sh(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char *out = NULL;

    craft(f, "nosh");
    assert_int_equal(sbx_image_prepare(f->state, f->tarball, &out, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "/bin/sh"));
    assert_nothing_left(f, 0);
}

/* A tree deeper than one descriptor per level allows is still removed when
 * the image is refused: no half-extracted copy stays in the cache. */
static void test_deep_tarball_without_sh(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char *out = NULL;

    craft(f, "deep-nosh");
    assert_true(sbx_image_prepare(f->state, f->tarball, &out, &err) < 0);
    assert_null(out);
    assert_nothing_left(f, 0);
}

/* ---- hostile archives ----------------------------------------------------------- */

static void refused(struct fixture *f, const char *mode, const char *why, int outside_entries)
{
    struct sbx_err err = {0};
    char *out = NULL;

    craft(f, mode);
    assert_int_equal(sbx_image_prepare(f->state, f->tarball, &out, &err), -EINVAL);
    assert_null(out);
    if (!strstr(err.msg, why))
        fail_msg("%s: message \"%s\" lacks \"%s\"", mode, err.msg, why);
    assert_nothing_left(f, outside_entries);
    /* Nothing escaped into the test's base directory either. */
    assert_int_equal(count_entries(f->base), 4); /* src outside state image.tar */
}

static void test_dotdot_refused(void **state)
{
    struct fixture *f = *state;

    refused(f, "dotdot", "'..' component", 0);
    refused(f, "dotdot-deep", "'..' component", 0);
}

static void test_absolute_refused(void **state)
{
    struct fixture *f = *state;

    refused(f, "abs", "absolute name", 0);
}

static void test_symlink_escape_refused(void **state)
{
    struct fixture *f = *state;

    refused(f, "symlink", "esc/pwned", 0);
}

static void test_hardlink_escape_refused(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char secret[256];

    refused(f, "hardlink", "hard link", 0);
    refused(f, "hardlink-abs", "hard link", 0);
    put(f->outside, "secret", "s", 0600);
    refused(f, "hardlink-via-symlink", "hl", 1);
    snprintf(secret, sizeof(secret), "%s/secret", f->outside);
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_nlink, 1); /* no link to it was made */
}

/* ---- the extractor directly ---------------------------------------------------- */

static void test_extract_garbage_mem(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    static const char junk[] = "definitely not a tar archive, not even close";

    assert_int_equal(sbx_tar_extract_mem(junk, sizeof(junk), f->outside, &err), -EINVAL);
    /* Empty input is an empty archive: nothing to do. */
    assert_int_equal(sbx_tar_extract_mem(junk, 0, f->outside, &err), 0);
    assert_int_equal(count_entries(f->outside), 0);
    assert_int_equal(sbx_tar_extract_mem(junk, sizeof(junk), "/nonexistent-sbx", &err), -ENOENT);
}

static void test_extract_missing_archive(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};

    assert_int_equal(sbx_tar_extract("/nonexistent-sbx.tar", f->outside, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent-sbx.tar"));
}

/* As root: ownership and device nodes are restored. Unprivileged: device
 * nodes are skipped and the rest extracts. */
static void test_owner_and_devices(void **state)
{
    struct fixture *f = *state;
    struct sbx_err err = {0};
    char dest[256], path[512];
    struct stat st;
    int status = -1;
    pid_t pid;

    if (geteuid() != 0) {
        print_message("skipped: ownership needs root\n");
        skip();
    }
    craft(f, "owner");
    snprintf(dest, sizeof(dest), "%s/owner", f->base);
    assert_int_equal(mkdir(dest, 0755), 0);
    if (sbx_tar_extract(f->tarball, dest, &err) != 0)
        fail_msg("extract: %s", err.msg);
    snprintf(path, sizeof(path), "%s/etc/owned", dest);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 4321);
    assert_int_equal(st.st_mode & 07777, 0640);

    craft(f, "device");
    snprintf(dest, sizeof(dest), "%s/dev-root", f->base);
    assert_int_equal(mkdir(dest, 0755), 0);
    if (sbx_tar_extract(f->tarball, dest, &err) != 0)
        fail_msg("extract: %s", err.msg);
    snprintf(path, sizeof(path), "%s/dev/null", dest);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISCHR(st.st_mode));

    snprintf(dest, sizeof(dest), "%s/dev-user", f->base);
    assert_int_equal(mkdir(dest, 0755), 0);
    assert_int_equal(chown(dest, 65534, 65534), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char p2[512];
        struct stat s2;

        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(1);
        if (sbx_tar_extract(f->tarball, dest, NULL) != 0)
            _exit(2);
        snprintf(p2, sizeof(p2), "%s/dev/null", dest);
        if (lstat(p2, &s2) == 0 || errno != ENOENT)
            _exit(3);
        snprintf(p2, sizeof(p2), "%s/bin/sh", dest);
        if (lstat(p2, &s2) != 0)
            _exit(4);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, up, down)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_dir_used_in_place),
        T(test_dir_without_sh),
        T(test_dir_symlinks_resolved_in_root),
        T(test_missing_and_not_archive),
        T(test_tarball_extracted_then_cached),
        T(test_changed_tarball_new_key),
        T(test_compressed_tarball),
        T(test_tarball_without_sh),
    T(test_deep_tarball_without_sh),
        T(test_dotdot_refused),
        T(test_absolute_refused),
        T(test_symlink_escape_refused),
        T(test_hardlink_escape_refused),
        T(test_extract_garbage_mem),
        T(test_extract_missing_archive),
        T(test_owner_and_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
