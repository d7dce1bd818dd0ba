#include "archive/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <minizip/unzip.h>

#include "base/buf.h"
#include "base/fd.h"

#define NAME_MAX_BYTES 4096
#define LINK_MAX_BYTES 4096
#define HOST_UNIX 3

/* minizip opens with plain fopen: every descriptor must be CLOEXEC. */
static voidpf open_cloexec(voidpf opaque, const void *filename, int mode)
{
    (void)opaque;
    if (!filename || (mode & ZLIB_FILEFUNC_MODE_READWRITEFILTER) != ZLIB_FILEFUNC_MODE_READ)
        return NULL;
    return fopen(filename, "rbe");
}

/* ---- names ------------------------------------------------------------------- */

/* Checks an entry name; returns NULL when safe, else why not. */
static const char *bad_name(const char *name)
{
    const char *p = name;

    if (!*name)
        return "empty name";
    if (name[0] == '/')
        return "absolute path";
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (len == 2 && p[0] == '.' && p[1] == '.')
            return "'..' component";
        p += len;
        if (*p == '/')
            p++;
    }
    return NULL;
}

bool sbx_zip_link_stays_inside(const char *name, const char *target)
{
    long depth = 0;
    const char *p = name, *last = strrchr(name, '/');

    if (target[0] == '/' || !target[0])
        return false;
    /* depth of the directory holding the link */
    while (last && p < last) {
        const char *slash = strchr(p, '/');
        size_t len = (size_t)(slash - p);

        if (len && !(len == 1 && p[0] == '.'))
            depth++;
        p = slash + 1;
    }
    p = target;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (len && !(len == 1 && p[0] == '.')) {
            depth++;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

/* ---- safe file system access under a root -------------------------------- */

static long openat2_beneath(int root, const char *rel, int flags, mode_t mode)
{
    struct open_how how;

    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return syscall(SYS_openat2, root, rel, &how, sizeof(how));
}

/* Opens rel (relative to root; "" = root itself) with flags so that the
 * resolution never leaves root. Returns an fd or a negative errno (-EXDEV
 * for an escape). Without openat2 (old kernels, seccomp filters) each
 * component is opened with O_NOFOLLOW: any symlink on the way is refused. */
static int open_beneath(int root, const char *rel, int flags, mode_t mode)
{
    struct sbx_buf comp = SBX_BUF_INIT;
    const char *p = rel;
    int fd, rc;

    if (!*rel) {
        fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
        return fd < 0 ? -errno : fd;
    }
    fd = (int)openat2_beneath(root, rel, flags, mode);
    if (fd >= 0)
        return fd;
    if (errno != ENOSYS && errno != EPERM)
        return errno == ELOOP ? -EXDEV : -errno;
    fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        bool last = !slash || !slash[1];
        int nfd;

        sbx_buf_reset(&comp);
        if (sbx_buf_add(&comp, p, len) < 0) {
            rc = -ENOMEM;
            goto fail;
        }
        p += len;
        if (*p == '/')
            p++;
        if (!len || (len == 1 && comp.ptr[0] == '.'))
            continue;
        if (last)
            nfd = openat(fd, comp.ptr, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        else
            nfd = openat(fd, comp.ptr, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0) {
            rc = (errno == ELOOP || errno == ENOTDIR) ? -EXDEV : -errno;
            goto fail;
        }
        close(fd);
        fd = nfd;
    }
    sbx_buf_free(&comp);
    return fd;
fail:
    sbx_buf_free(&comp);
    close(fd);
    return rc;
}

/* mkdir -p of the directories in name up to (not including) its last
 * component (all of it when `all`). Returns an O_PATH fd of the parent
 * directory of the last component, and *last pointing into name. */
static int make_parents(int root, const char *name, bool all, const char **last)
{
    struct sbx_buf prefix = SBX_BUF_INIT;
    const char *p = name, *end = name + strlen(name);
    int fd = -1, rc;

    while (end > name && end[-1] == '/')
        end--;
    if (!all) {
        const char *s = end;

        while (s > name && s[-1] != '/')
            s--;
        *last = s;
        end = s;
    }
    fd = open_beneath(root, "", O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);
        int nfd;

        if (len && !(len == 1 && p[0] == '.')) {
            size_t mark = prefix.len;

            if (sbx_buf_add(&prefix, p, len) < 0) {
                rc = -ENOMEM;
                goto fail;
            }
            if (mkdirat(fd, prefix.ptr + mark, 0755) < 0 && errno != EEXIST) {
                rc = -errno;
                goto fail;
            }
            nfd = open_beneath(root, prefix.ptr, O_PATH | O_DIRECTORY, 0);
            if (nfd < 0) {
                rc = nfd;
                goto fail;
            }
            close(fd);
            fd = nfd;
            if (sbx_buf_addch(&prefix, '/') < 0) {
                rc = -ENOMEM;
                goto fail;
            }
        }
        p += len;
        if (p < end && *p == '/')
            p++;
    }
    sbx_buf_free(&prefix);
    return fd;
fail:
    sbx_buf_free(&prefix);
    close(fd);
    return rc;
}

/* ---- extraction -------------------------------------------------------------- */

static int read_link_target(unzFile uf, char *buf, size_t size)
{
    int n;

    if (unzOpenCurrentFile(uf) != UNZ_OK)
        return -EINVAL;
    n = unzReadCurrentFile(uf, buf, (unsigned)size - 1);
    unzCloseCurrentFile(uf);
    if (n < 0)
        return -EINVAL;
    buf[n] = '\0';
    if ((size_t)n == size - 1 || strlen(buf) != (size_t)n)
        return -EINVAL;
    return 0;
}

static bool is_symlink(const unz_file_info64 *info)
{
    return (info->version >> 8) == HOST_UNIX && S_ISLNK((mode_t)(info->external_fa >> 16));
}

static int write_file(unzFile uf, int root, const char *name, mode_t mode, struct sbx_err *err)
{
    static const size_t bufsize = 65536;
    char *buf = malloc(bufsize);
    int fd = -1, rc = 0, n;

    if (!buf)
        return -ENOMEM;
    fd = open_beneath(root, name, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        rc = fd == -EXDEV ? sbx_err_set(err, -EINVAL,
                                        "zip entry '%s': leads outside the destination "
                                        "through a symlink", name)
                          : sbx_err_set(err, fd, "zip entry '%s': %s", name, strerror(-fd));
        goto out;
    }
    if (unzOpenCurrentFile(uf) != UNZ_OK) {
        rc = sbx_err_set(err, -EINVAL, "zip entry '%s': cannot read it", name);
        goto out;
    }
    while ((n = unzReadCurrentFile(uf, buf, (unsigned)bufsize)) > 0) {
        rc = sbx_fd_write_all(fd, buf, (size_t)n);
        if (rc < 0) {
            sbx_err_set(err, rc, "zip entry '%s': write: %s", name, strerror(-rc));
            break;
        }
    }
    if (rc == 0 && n < 0)
        rc = sbx_err_set(err, -EINVAL, "zip entry '%s': damaged data (crc or inflate)", name);
    if (unzCloseCurrentFile(uf) == UNZ_CRCERROR && rc == 0)
        rc = sbx_err_set(err, -EINVAL, "zip entry '%s': crc mismatch", name);
out:
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = sbx_err_set(err, -errno, "zip entry '%s': close: %s", name, strerror(errno));
    free(buf);
    return rc;
}

static int extract_one(unzFile uf, int root, const char *name, const unz_file_info64 *info,
                       struct sbx_err *err)
{
    size_t len = strlen(name);
    const char *last = NULL;
    char target[LINK_MAX_BYTES];
    mode_t mode = 0666;
    int dfd, rc;

    if (name[len - 1] == '/') {
        dfd = make_parents(root, name, true, &last);
        if (dfd < 0)
            goto fail_dir;
        close(dfd);
        return 0;
    }
    dfd = make_parents(root, name, false, &last);
    if (dfd < 0)
        goto fail_dir;
    if (is_symlink(info)) {
        rc = read_link_target(uf, target, sizeof(target));
        if (rc == 0 && symlinkat(target, dfd, last) < 0) {
            rc = -errno;
            if (rc == -EEXIST && unlinkat(dfd, last, 0) == 0)
                rc = symlinkat(target, dfd, last) < 0 ? -errno : 0;
        }
        close(dfd);
        if (rc < 0)
            return sbx_err_set(err, rc, "zip entry '%s': symlink: %s", name, strerror(-rc));
        return 0;
    }
    close(dfd);
    if ((info->version >> 8) == HOST_UNIX && (info->external_fa >> 16) & 0777)
        mode = (mode_t)(info->external_fa >> 16) & 0777;
    return write_file(uf, root, name, mode, err);
fail_dir:
    if (dfd == -EXDEV)
        return sbx_err_set(err, -EINVAL,
                           "zip entry '%s': leads outside the destination through a symlink",
                           name);
    return sbx_err_set(err, dfd, "zip entry '%s': directory: %s", name, strerror(-dfd));
}

/* One pass over every entry: check (extract = false) or extract. */
static int each_entry(unzFile uf, int root, bool extract, struct sbx_err *err)
{
    char name[NAME_MAX_BYTES + 1];
    char target[LINK_MAX_BYTES];
    int zr, rc;

    for (zr = unzGoToFirstFile(uf); zr == UNZ_OK; zr = unzGoToNextFile(uf)) {
        unz_file_info64 info;
        const char *why;

        if (unzGetCurrentFileInfo64(uf, &info, name, sizeof(name), NULL, 0, NULL, 0) != UNZ_OK)
            return sbx_err_set(err, -EINVAL, "zip: damaged central directory");
        if (info.size_filename > NAME_MAX_BYTES)
            return sbx_err_set(err, -EINVAL, "zip entry name too long (%lu bytes)",
                               (unsigned long)info.size_filename);
        name[info.size_filename] = '\0';
        if (strlen(name) != info.size_filename)
            return sbx_err_set(err, -EINVAL, "zip entry '%s': NUL byte in the name", name);
        if (!extract) {
            why = bad_name(name);
            if (why)
                return sbx_err_set(err, -EINVAL, "zip entry '%s': %s", name, why);
            if (is_symlink(&info)) {
                if (read_link_target(uf, target, sizeof(target)) < 0)
                    return sbx_err_set(err, -EINVAL, "zip entry '%s': bad symlink target",
                                       name);
                if (!sbx_zip_link_stays_inside(name, target))
                    return sbx_err_set(err, -EINVAL,
                                       "zip entry '%s': symlink to '%s' points outside the "
                                       "destination", name, target);
            }
            continue;
        }
        rc = extract_one(uf, root, name, &info, err);
        if (rc < 0)
            return rc;
    }
    if (zr != UNZ_END_OF_LIST_OF_FILE)
        return sbx_err_set(err, -EINVAL, "zip: damaged central directory");
    return 0;
}

int sbx_zip_extract(const char *zip_path, const char *dest, struct sbx_err *err)
{
    zlib_filefunc64_def ff;
    unzFile uf = NULL;
    int root = -1, rc;

    fill_fopen64_filefunc(&ff);
    ff.zopen64_file = open_cloexec;
    uf = unzOpen2_64(zip_path, &ff);
    if (!uf) {
        rc = sbx_err_set(err, -EINVAL, "%s: not a zip file (or unreadable)", zip_path);
        goto out;
    }
    root = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        rc = sbx_err_set(err, -errno, "%s: %s", dest, strerror(errno));
        goto out;
    }
    /* Names first: an archive with one bad entry writes nothing at all. */
    rc = each_entry(uf, root, false, err);
    if (rc == 0)
        rc = each_entry(uf, root, true, err);
out:
    if (root >= 0)
        close(root);
    if (uf)
        unzClose(uf);
    return rc;
}
