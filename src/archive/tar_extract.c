/* Safe archive extraction with libarchive (see tar.h): the only file that
 * includes it. Names are checked here first, then prefixed with the real
 * path of the destination and handed to archive_write_disk with its
 * ARCHIVE_EXTRACT_SECURE_* checks, which refuse to write through symlinks;
 * the working directory is never changed. */
#include "archive/tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"

#define READ_BLOCK 65536

/* Why name may not be extracted, or NULL when it may. */
static const char *bad_name(const char *name)
{
    const char *p = name;

    if (!name || !*name)
        return "empty name";
    if (name[0] == '/')
        return "absolute name";
    while (*p) {
        size_t n = strcspn(p, "/");

        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "'..' component";
        p += n;
        while (*p == '/')
            p++;
    }
    return NULL;
}

/* The negative errno for a failure libarchive reported on a: its errno
 * when it is a system one, -EINVAL for format and security refusals. */
static int archive_rc(struct archive *a)
{
    int e = archive_errno(a);

    return e > 0 ? -e : -EINVAL;
}

static const char *archive_msg(struct archive *a)
{
    const char *m = archive_error_string(a);

    return m ? m : "unknown error";
}

static int copy_data(struct archive *in, struct archive *out, const char *name, struct sbx_err *err)
{
    for (;;) {
        const void *buf = NULL;
        size_t len = 0;
        la_int64_t off = 0;
        int r = archive_read_data_block(in, &buf, &len, &off);

        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return sbx_err_set(err, -EINVAL, "tar: read %s: %s", name, archive_msg(in));
        if (archive_write_data_block(out, buf, len, off) < ARCHIVE_WARN)
            return sbx_err_set(err, archive_rc(out), "tar: write %s: %s", name, archive_msg(out));
    }
}

static bool is_device(struct archive_entry *e)
{
    mode_t t = archive_entry_filetype(e);

    return t == AE_IFCHR || t == AE_IFBLK;
}

/* Rewrites the entry's names below dest (after checking them). */
static int place_entry(struct archive_entry *e, const char *dest, struct sbx_buf *path,
                       struct sbx_err *err)
{
    const char *name = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    const char *why = bad_name(name);
    int rc;

    if (why)
        return sbx_err_set(err, -EINVAL, "tar: entry \"%s\" refused: %s", name ? name : "", why);
    if (link) {
        why = bad_name(link);
        if (why)
            return sbx_err_set(err, -EINVAL,
                               "tar: hard link \"%s\" -> \"%s\" refused: target has %s", name, link,
                               why);
        sbx_buf_reset(path);
        rc = sbx_buf_addf(path, "%s/%s", dest, link);
        if (rc < 0)
            return sbx_err_set(err, rc, "tar: hard link target of \"%s\" too long", name);
        archive_entry_copy_hardlink(e, path->ptr);
    }
    sbx_buf_reset(path);
    rc = sbx_buf_addf(path, "%s/%s", dest, name);
    if (rc < 0)
        return sbx_err_set(err, rc, "tar: entry name \"%.100s\" too long", name);
    archive_entry_copy_pathname(e, path->ptr);
    return 0;
}

static int extract(struct archive *in, const char *dest, struct sbx_err *err)
{
    struct archive *out = archive_write_disk_new();
    bool root = geteuid() == 0;
    int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    struct sbx_buf path;
    int rc = 0;

    sbx_buf_init(&path, (size_t)PATH_MAX * 4);
    if (!out)
        return sbx_err_set(err, -ENOMEM, "tar: out of memory");
    if (root)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(out, flags);
    for (;;) {
        struct archive_entry *e = NULL;
        char shown[256];
        int r = archive_read_next_header(in, &e);

        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = sbx_err_set(err, -EINVAL, "tar: read archive: %s", archive_msg(in));
            goto out;
        }
        rc = place_entry(e, dest, &path, err);
        if (rc < 0)
            goto out;
        /* The name as stored, for messages. */
        snprintf(shown, sizeof(shown), "%s", archive_entry_pathname(e) + strlen(dest) + 1);
        /* mknod needs CAP_MKNOD in the initial user namespace: without it
         * device nodes are skipped (a sandbox gets its /dev elsewhere). */
        if (is_device(e) && !root)
            continue;
        r = archive_write_header(out, e);
        if (r < ARCHIVE_WARN) {
            if (is_device(e) && r == ARCHIVE_FAILED)
                continue;
            rc =
                sbx_err_set(err, archive_rc(out), "tar: entry \"%s\": %s", shown, archive_msg(out));
            goto out;
        }
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
            rc = copy_data(in, out, shown, err);
            if (rc < 0)
                goto out;
        }
        /* ARCHIVE_WARN (an extended attribute the file system refused, a
         * time not set) is accepted: those are best effort. */
        if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
            rc =
                sbx_err_set(err, archive_rc(out), "tar: entry \"%s\": %s", shown, archive_msg(out));
            goto out;
        }
    }
    /* Directory modes and times are applied last, by close. */
    if (archive_write_close(out) < ARCHIVE_WARN)
        rc = sbx_err_set(err, archive_rc(out), "tar: finish: %s", archive_msg(out));
out:
    archive_write_free(out);
    sbx_buf_free(&path);
    return rc;
}

static struct archive *reader_new(void)
{
    struct archive *in = archive_read_new();

    if (!in)
        return NULL;
    /* Only filters libarchive implements itself: filter_all would also
     * register fallbacks that run external programs (lrzip, lzop, grzip)
     * on untrusted input. */
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_bzip2(in);
    archive_read_support_filter_xz(in);
    archive_read_support_filter_lzma(in);
    archive_read_support_filter_lzip(in);
    archive_read_support_filter_zstd(in);
    archive_read_support_filter_lz4(in);
    archive_read_support_filter_compress(in);
    archive_read_support_format_tar(in);
    archive_read_support_format_gnutar(in);
    archive_read_support_format_cpio(in);
    archive_read_support_format_zip(in);
    archive_read_support_format_7zip(in);
    archive_read_support_format_empty(in);
    return in;
}

/* realpath of dest, which must be a directory: SECURE_SYMLINKS checks every
 * component of the final path, the destination's own included. */
static int real_dest(const char *dest, char **out, struct sbx_err *err)
{
    char *real = realpath(dest, NULL);
    struct stat st;

    if (!real)
        return sbx_err_set(err, -errno, "tar: destination %s: %s", dest, strerror(errno));
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return sbx_err_set(err, -ENOTDIR, "tar: destination %s is not a directory", dest);
    }
    *out = real;
    return 0;
}

/* The archive is the open fd when fd >= 0, else the memory block data;
 * name says which in messages ("tar: <name>: <why>"). */
static int extract_from(int fd, const void *data, size_t len, const char *name, const char *dest,
                        struct sbx_err *err)
{
    struct archive *in = NULL;
    char *real = NULL;
    int rc = real_dest(dest, &real, err);

    if (rc < 0)
        return rc;
    in = reader_new();
    if (!in) {
        rc = sbx_err_set(err, -ENOMEM, "tar: out of memory");
        goto out;
    }
    if ((fd >= 0 ? archive_read_open_fd(in, fd, READ_BLOCK)
                 : archive_read_open_memory(in, data, len)) != ARCHIVE_OK) {
        rc = sbx_err_set(err, -EINVAL, "tar: %s: %s", name, archive_msg(in));
        goto out;
    }
    rc = extract(in, real, err);
out:
    if (in)
        archive_read_free(in);
    free(real);
    return rc;
}

int sbx_tar_extract(const char *archive_path, const char *dest, struct sbx_err *err)
{
    int fd = open(archive_path, O_RDONLY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return sbx_err_set(err, -errno, "tar: open %s: %s", archive_path, strerror(errno));
    rc = extract_from(fd, NULL, 0, archive_path, dest, err);
    sbx_fd_close(fd);
    return rc;
}

int sbx_tar_extract_mem(const void *data, size_t len, const char *dest, struct sbx_err *err)
{
    return extract_from(-1, data, len, "read archive", dest, err);
}
