/*
 * Files in and out of a sandbox: /upload_file and /download_files, as the
 * upstream client's copy_to / copy_from (openhands-protocol.md §6). Bodies
 * stream from and to files: memory stays bounded whatever the size.
 */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/zip_tree.h"
#include "base/buf.h"

/* An anonymous temporary file in $TMPDIR (or /tmp). */
static int tmp_file(struct sbx_err *err)
{
    const char *dir = getenv("TMPDIR");
    struct sbx_buf p = SBX_BUF_INIT;
    int fd;

    if (!dir || !*dir)
        dir = "/tmp";
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    /* File systems without O_TMPFILE: a named file, unlinked at once. */
    if (sbx_buf_addf(&p, "%s/sbx-upload-XXXXXX", dir) < 0) {
        sbx_buf_free(&p);
        return sbx_err_set(err, -ENOMEM, "upload: out of memory");
    }
    fd = mkostemp(p.ptr, O_CLOEXEC);
    if (fd < 0) {
        fd = sbx_err_set(err, -errno, "upload: temporary file in %s: %s", dir, strerror(errno));
    } else {
        unlink(p.ptr);
    }
    sbx_buf_free(&p);
    return fd;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int suffix(struct sbx_buf *name, const char *s, struct sbx_err *err)
{
    int rc = sbx_buf_addstr(name, s);

    return rc < 0 ? sbx_err_set(err, rc, "out of memory") : 0;
}

/* The name the upstream client gives a path: the basename, after resolving
 * "." and trailing slashes. */
static int name_of(const char *host_path, struct sbx_buf *out, struct sbx_err *err)
{
    char *real = realpath(host_path, NULL);
    const char *base;
    int rc;

    if (!real)
        return sbx_err_set(err, -errno, "upload: %s: %s", host_path, strerror(errno));
    base = strrchr(real, '/');
    base = base ? base + 1 : real;
    rc = sbx_buf_addstr(out, *base ? base : "root");
    free(real);
    if (rc < 0)
        return sbx_err_set(err, rc, "upload: out of memory");
    return 0;
}

int sbx_runtime_upload(struct sbx_runtime *rt, const char *host_path, const char *sandbox_dir,
                       struct sbx_err *err)
{
    struct sbx_buf name = SBX_BUF_INIT, path = SBX_BUF_INIT;
    struct sbx_http_resp resp;
    struct sbx_http_part part = {.name = "file", .use_fd = true, .fd = -1};
    struct stat st;
    bool recursive;
    off_t size;
    int rc;

    sbx_http_resp_init(&resp);
    if (stat(host_path, &st) < 0) {
        if (errno == ENOENT)
            return sbx_err_set(err, -ENOENT, "upload: %s: no such file or directory", host_path);
        return sbx_err_set(err, -errno, "upload: %s: %s", host_path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return sbx_err_set(err, -EINVAL, "upload: %s: not a regular file or a directory",
                           host_path);
    recursive = S_ISDIR(st.st_mode);
    rc = name_of(host_path, &name, err);
    if (rc < 0)
        goto out;
    if (recursive) {
        /* The zip holds "<name>/..." and the server unpacks it into
         * sandbox_dir, giving sandbox_dir/<name>/... */
        part.fd = tmp_file(err);
        if (part.fd < 0) {
            rc = part.fd;
            goto out;
        }
        rc = sbx_zip_tree_write(host_path, name.ptr, part.fd, err);
        if (rc == 0)
            rc = suffix(&name, ".zip", err);
    } else if (ends_with(name.ptr, ".zip")) {
        /* The server unpacks every upload whose name ends in .zip: a zip
         * file travels inside a zip of its own to arrive as itself. */
        recursive = true;
        part.fd = tmp_file(err);
        if (part.fd < 0) {
            rc = part.fd;
            goto out;
        }
        rc = sbx_zip_file_write(host_path, name.ptr, part.fd, err);
        if (rc == 0)
            rc = suffix(&name, ".sbx-upload.zip", err);
    } else {
        part.fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (part.fd < 0) {
            rc = sbx_err_set(err, -errno, "upload: %s: %s", host_path, strerror(errno));
            goto out;
        }
    }
    if (rc < 0) {
        sbx_err_prefix(err, "upload");
        goto out;
    }
    size = lseek(part.fd, 0, SEEK_END);
    if (size < 0) {
        rc = sbx_err_set(err, -errno, "upload: %s: %s", host_path, strerror(errno));
        goto out;
    }
    part.fd_len = size;
    part.filename = name.ptr;
    rc = sbx_buf_addstr(&path, "/upload_file?destination=");
    if (rc == 0)
        rc = sbx_http_url_encode(&path, sandbox_dir);
    if (rc == 0)
        rc = sbx_buf_addstr(&path, recursive ? "&recursive=true" : "&recursive=false");
    if (rc < 0) {
        rc = sbx_err_set(err, rc, "upload: out of memory");
        goto out;
    }
    {
        struct sbx_http_req req = {
            .method = "POST",
            .path = path.ptr,
            .parts = &part,
            .n_parts = 1,
            .timeout_ms = SBX__RT_UPLOAD_TIMEOUT_MS,
        };

        rc = sbx__rt_send(rt, "upload_file", &req, &resp, err);
    }
out:
    if (part.fd >= 0)
        close(part.fd);
    sbx_http_resp_release(&resp);
    sbx_buf_free(&name);
    sbx_buf_free(&path);
    return rc;
}

int sbx_runtime_download(struct sbx_runtime *rt, const char *sandbox_path,
                         const char *host_zip_path, struct sbx_err *err)
{
    struct sbx_buf tmp = SBX_BUF_INIT, path = SBX_BUF_INIT;
    struct sbx_http_resp resp;
    int fd = -1;
    int rc;

    sbx_http_resp_init(&resp);
    /* Into a temporary file next to the target, renamed once complete: a
     * failed download leaves nothing behind. */
    rc = sbx_buf_addf(&tmp, "%s.XXXXXX", host_zip_path);
    if (rc == 0)
        rc = sbx_buf_addstr(&path, "/download_files?path=");
    if (rc == 0)
        rc = sbx_http_url_encode(&path, sandbox_path);
    if (rc < 0) {
        rc = sbx_err_set(err, rc, "download: out of memory");
        goto out;
    }
    fd = mkostemp(tmp.ptr, O_CLOEXEC);
    if (fd < 0) {
        rc = sbx_err_set(err, -errno, "download: %s: %s", host_zip_path, strerror(errno));
        goto out;
    }
    {
        struct sbx_http_req req = {
            .path = path.ptr,
            .use_resp_fd = true,
            .resp_fd = fd,
            .timeout_ms = SBX__RT_DOWNLOAD_TIMEOUT_MS,
        };

        rc = sbx__rt_send(rt, "download_files", &req, &resp, err);
    }
    if (close(fd) < 0 && rc == 0)
        rc = sbx_err_set(err, -errno, "download: %s: %s", host_zip_path, strerror(errno));
    fd = -1;
    if (rc == 0 && rename(tmp.ptr, host_zip_path) < 0)
        rc = sbx_err_set(err, -errno, "download: %s: %s", host_zip_path, strerror(errno));
    if (rc < 0)
        unlink(tmp.ptr);
out:
    if (fd >= 0)
        close(fd);
    sbx_http_resp_release(&resp);
    sbx_buf_free(&tmp);
    sbx_buf_free(&path);
    return rc;
}
