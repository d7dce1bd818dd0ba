/* Root filesystem images for local sandboxes (see image.h): a directory is
 * used in place, an archive is extracted once per (real path, size, mtime)
 * into <state_dir>/images/<key>/rootfs. */
#include "providers/local/image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "archive/tar.h"
#include "base/fd.h"
#include "providers/local/local.h"

/* ---- helpers ------------------------------------------------------------- */

static int mkdir_if_missing(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

/* Whether root has bin/sh (a file or a symlink, dangling or not), with
 * symlinks on the way resolved as if root were "/" (bin -> usr/bin, or
 * -> /usr/bin in a merged-/usr image), never into the host. */
static int has_sh(const char *root)
{
    struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    struct stat st;
    int dirfd;
    long fd;
    int rc;

    dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -errno;
    fd = syscall(SYS_openat2, dirfd, "bin/sh", &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) {
        /* Before Linux 5.6: symlinks on the way are followed as the host
         * sees them, which is right for everything but absolute ones. */
        rc = fstatat(dirfd, "bin/sh", &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
        goto check;
    }
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = fstat((int)fd, &st) < 0 ? -errno : 0;
    sbx_fd_close((int)fd);
check:
    if (rc == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        rc = -EINVAL;
out:
    sbx_fd_close(dirfd);
    return rc;
}

static int need_sh(const char *root, const char *image, struct sbx_err *err)
{
    int rc = has_sh(root);

    if (rc == -ENOENT || rc == -ENOTDIR || rc == -EINVAL)
        return sbx_err_set(err, -EINVAL, "image %s: the root filesystem has no /bin/sh", image);
    if (rc < 0)
        return sbx_err_set(err, rc, "image %s: look for /bin/sh: %s", image, strerror(-rc));
    return 0;
}

/* FNV-1a, 64 bits: the cache key only has to tell images apart, not resist
 * an attacker (whoever can write the tarball chooses the rootfs anyway). */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void cache_key(const char *real, const struct stat *st, char out[17])
{
    uint64_t h = 14695981039346656037ULL;
    int64_t v[4] = {(int64_t)st->st_size, (int64_t)st->st_mtim.tv_sec, (int64_t)st->st_mtim.tv_nsec,
                    (int64_t)st->st_ino};

    h = fnv1a(h, real, strlen(real) + 1);
    h = fnv1a(h, v, sizeof(v));
    snprintf(out, 17, "%016" PRIx64, h);
}

/* ---- archives -------------------------------------------------------------- */

static int prepare_archive(const char *state_dir, const char *image, const char *real,
                           const struct stat *st, char **rootfs_out, struct sbx_err *err)
{
    char key[17];
    char *images = NULL;
    char *final = NULL;
    char *tmp = NULL;
    char *tmp_rootfs = NULL;
    char *rootfs = NULL;
    unsigned char rnd[8];
    struct stat fst;
    int rc;

    cache_key(real, st, key);
    if (asprintf(&images, "%s/images", state_dir) < 0 ||
        asprintf(&final, "%s/%s", images, key) < 0 || asprintf(&rootfs, "%s/rootfs", final) < 0) {
        images = final = rootfs = NULL;
        rc = sbx_err_set(err, -ENOMEM, "image: out of memory");
        goto out;
    }
    /* Already extracted (by us or a concurrent first use). */
    if (stat(rootfs, &fst) == 0 && S_ISDIR(fst.st_mode)) {
        rc = need_sh(rootfs, image, err);
        goto out;
    }
    rc = mkdir_if_missing(state_dir, 0700);
    if (rc == 0)
        rc = mkdir_if_missing(images, 0700);
    if (rc < 0) {
        sbx_err_set(err, rc, "image: create %s: %s", images, strerror(-rc));
        goto out;
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        rc = sbx_err_set(err, -EIO, "image: getrandom failed");
        goto out;
    }
    if (asprintf(&tmp, "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", final, rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]) < 0 ||
        asprintf(&tmp_rootfs, "%s/rootfs", tmp) < 0) {
        tmp = tmp_rootfs = NULL;
        rc = sbx_err_set(err, -ENOMEM, "image: out of memory");
        goto out;
    }
    if (mkdir(tmp, 0700) < 0 || mkdir(tmp_rootfs, 0755) < 0) {
        rc = sbx_err_set(err, -errno, "image: create %s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = sbx_tar_extract(real, tmp_rootfs, err);
    if (rc < 0) {
        sbx_err_prefix(err, "image %s", image);
        goto out;
    }
    rc = need_sh(tmp_rootfs, image, err);
    if (rc < 0)
        goto out;
    /* The first rename wins; a loser's extraction is thrown away and the
     * winner's used. */
    if (rename(tmp, final) < 0) {
        rc = -errno;
        if (rc != -EEXIST && rc != -ENOTEMPTY) {
            sbx_err_set(err, rc, "image: rename %s: %s", tmp, strerror(-rc));
            goto out;
        }
        rc = need_sh(rootfs, image, err);
    }
out:
    if (tmp)
        sbx__local_rmtree(tmp); /* a no-op after a successful rename */
    if (rc == 0) {
        *rootfs_out = rootfs;
        rootfs = NULL;
    }
    free(images);
    free(final);
    free(tmp);
    free(tmp_rootfs);
    free(rootfs);
    return rc;
}

int sbx_image_prepare(const char *state_dir, const char *image, char **rootfs_out,
                      struct sbx_err *err)
{
    char *real = NULL;
    struct stat st;
    int rc;

    *rootfs_out = NULL;
    real = realpath(image, NULL);
    if (!real)
        return sbx_err_set(err, -errno, "image %s: %s", image, strerror(errno));
    if (stat(real, &st) < 0) {
        rc = sbx_err_set(err, -errno, "image %s: %s", image, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = need_sh(real, image, err);
        if (rc == 0) {
            *rootfs_out = real;
            real = NULL;
        }
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sbx_err_set(err, -EINVAL, "image %s: neither a directory nor an archive", image);
        goto out;
    }
    rc = prepare_archive(state_dir, image, real, &st, rootfs_out, err);
out:
    free(real);
    return rc;
}
