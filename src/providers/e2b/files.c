#include "providers/e2b/internal.h"

/*
 * envd's /files (shared/specs/e2b/envd/envd.yaml; providers.md §1.6): an
 * upload is one POST of application/octet-stream read from the host file's
 * descriptor, a download one GET written to a descriptor; neither holds the
 * file in memory. Both land in a temporary file next to the target, moved
 * into place once complete (in the sandbox with Filesystem/Move).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* /files?path=<p>, and the user for an envd too old to pick the template's
 * default one itself (the SDK names "user" then). */
static int files_path(struct sbx_buf *b, const struct sbx__e2b_sbx *s, const char *sandbox_path)
{
    int rc = sbx_buf_addstr(b, "/files?path=");

    if (rc == 0)
        rc = sbx_http_url_encode(b, sandbox_path);
    if (rc == 0 && !sbx__e2b_version_at_least(s->envd_version, SBX_E2B_ENVD_DEFAULT_USER))
        rc = sbx_buf_addstr(b, "&username=user");
    return rc;
}

/* One /files request (GET to resp_fd, or POST from fd), refetching the
 * token once after a 401. */
static int files_call(struct sbx__e2b *e, struct sbx__e2b_sbx *s, struct sbx_http_req *req,
                      const char *what, struct sbx_err *err)
{
    struct sbx_http_resp resp;
    int rc = -EIO;

    sbx_http_resp_init(&resp);
    /* a transfer moves bytes all along: nothing for this long is a dead
     * connection, not a slow one */
    req->idle_timeout_ms = sbx__e2b_idle_ms(e->cfg.keepalive_s);
    for (int round = 0; round < 2; round++) {
        struct sbx_http_client *c = sbx__e2b_envd_client(e, s, err);

        if (!c) {
            rc = err && err->code ? err->code : -ENOMEM;
            break;
        }
        if (req->use_resp_fd && (ftruncate(req->resp_fd, 0) < 0 ||
                                 lseek(req->resp_fd, 0, SEEK_SET) < 0)) {
            sbx_http_client_free(c);
            rc = sbx_err_set(err, -errno, "e2b: %s: %s", what, strerror(errno));
            break;
        }
        rc = sbx_http_request(c, req, &resp, err);
        sbx_http_client_free(c);
        if (rc == -ETIMEDOUT) {
            sbx_err_set(err, rc, "e2b: %s in sandbox %s: the connection went silent for %" PRId64
                        " s (a dead connection)", what, s->id, req->idle_timeout_ms / 1000);
            rc = sbx__e2b_gone_or(e, s->id, rc, err);
            break;
        }
        if (rc < 0) {
            sbx_err_prefix(err, "e2b: %s in sandbox %s", what, s->id);
            rc = sbx__e2b_gone_or(e, s->id, rc, err);
            break;
        }
        if (resp.status / 100 == 2)
            break;
        rc = sbx__e2b_envd_error(s->id, what, resp.status, resp.body.ptr, resp.body.len, err);
        if (resp.status != 401 || round == 1)
            break;
        rc = sbx__e2b_sbx_refetch(e, s, err);
        if (rc < 0)
            break;
    }
    sbx_http_resp_release(&resp);
    return rc;
}

int sbx__e2b_upload_fd(struct sbx__e2b *e, struct sbx__e2b_sbx *s, int fd, int64_t len,
                       const char *sandbox_path, struct sbx_err *err)
{
    struct sbx_http_req req = {0};
    struct sbx_http_part part = {0};
    struct sbx_buf path = SBX_BUF_INIT, what = SBX_BUF_INIT;
    int rc;

    if (files_path(&path, s, sandbox_path) < 0 || sbx_buf_addf(&what, "upload to %s",
                                                             sandbox_path) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    req.method = "POST";
    req.path = path.ptr;
    if (sbx__e2b_version_at_least(s->envd_version, SBX_E2B_ENVD_OCTET_STREAM)) {
        req.use_body_fd = true;
        req.body_fd = fd;
        req.body_fd_offset = 0;
        req.body_fd_len = len;
        req.content_type = "application/octet-stream";
    } else {
        /* an older envd reads only multipart/form-data: one part named file
         * whose filename is the destination, as the SDK sends it */
        part.name = "file";
        part.filename = sandbox_path;
        part.content_type = "application/octet-stream";
        part.use_fd = true;
        part.fd = fd;
        part.fd_offset = 0;
        part.fd_len = len;
        req.parts = &part;
        req.n_parts = 1;
    }
    req.max_body_bytes = 1 << 20;
    rc = files_call(e, s, &req, what.ptr, err);
out:
    sbx_buf_free(&path);
    sbx_buf_free(&what);
    return rc;
}

/* Filesystem/<rpc> with a body of two path fields (b NULL: one). */
static int fs_call(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *rpc, const char *ka,
                   const char *a, const char *kb, const char *b, struct sbx_err *err)
{
    struct sbx_json *body = sbx_json_object_new(), *out = NULL;
    int rc = body && sbx_json_set_str(body, ka, a) == 0 &&
                     (!kb || sbx_json_set_str(body, kb, b) == 0) ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx__e2b_envd_unary(e, s, rpc, body, &out, err);
    else
        sbx_err_set(err, rc, "e2b: out of memory");
    sbx_json_free(body);
    sbx_json_free(out);
    return rc;
}

int sbx__e2b_upload(struct sbx__e2b *e, const char *id, const char *host_path,
                    const char *sandbox_path, unsigned mode, struct sbx_err *err)
{
    struct sbx__e2b_sbx s = {0};
    struct sbx_buf tmp = SBX_BUF_INIT;
    struct stat st;
    char r[13];
    int fd, rc;

    fd = open(host_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sbx_err_set(err, -errno, "e2b: upload: %s: %s", host_path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sbx_err_set(err, -EINVAL, "e2b: upload: %s is not a regular file", host_path);
    }
    /* Written next to its place, then moved there: a reader in the sandbox
     * never sees half a file, and a failed upload leaves the old one. */
    if (sbx__e2b_random_hex(r, 6) < 0 || sbx_buf_addf(&tmp, "%s.sbx-%s", sandbox_path, r) < 0) {
        close(fd);
        return sbx_err_set(err, -EIO, "e2b: upload: no temporary name for %s", sandbox_path);
    }
    rc = sbx__e2b_sbx_load(e, id, false, &s, err);
    if (rc == 0) {
        sbx__e2b_keepalive(e, &s);
        rc = sbx__e2b_upload_fd(e, &s, fd, (int64_t)st.st_size, tmp.ptr, err);
    }
    /* /files writes 0644 (umask of envd's user); anything else is a chmod */
    if (rc == 0 && mode && (mode & 07777) != 0644) {
        char m[16];
        const char *argv[] = {"chmod", m, "--", tmp.ptr, NULL};

        snprintf(m, sizeof(m), "%o", mode & 07777);
        rc = sbx__e2b_run_ok(e, &s, argv, NULL, err);
    }
    if (rc == 0)
        rc = fs_call(e, &s, "filesystem.Filesystem/Move", "source", tmp.ptr, "destination",
                     sandbox_path, err);
    if (rc < 0 && rc != -EPIPE && s.id)
        fs_call(e, &s, "filesystem.Filesystem/Remove", "path", tmp.ptr, NULL, NULL, NULL);
    close(fd);
    sbx_buf_free(&tmp);
    sbx__e2b_sbx_release(&s);
    return rc;
}

int sbx__e2b_download(struct sbx__e2b *e, const char *id, const char *sandbox_path,
                      const char *host_path, struct sbx_err *err)
{
    struct sbx__e2b_sbx s = {0};
    struct sbx_http_req req = {0};
    struct sbx_buf path = SBX_BUF_INIT, what = SBX_BUF_INIT, tmp = SBX_BUF_INIT;
    struct stat old;
    bool replace;
    char r[13];
    int fd = -1, rc;

    rc = sbx__e2b_sbx_load(e, id, false, &s, err);
    if (rc < 0)
        return rc;
    sbx__e2b_keepalive(e, &s);
    if (files_path(&path, &s, sandbox_path) < 0 ||
        sbx_buf_addf(&what, "download of %s", sandbox_path) < 0 ||
        sbx__e2b_random_hex(r, 6) < 0 || sbx_buf_addf(&tmp, "%s.sbx-%s", host_path, r) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    /* made as any new file (0666 less the umask: what was copied out may be
     * a secret), or with the mode of the file it replaces */
    replace = stat(host_path, &old) == 0 && S_ISREG(old.st_mode);
    fd = open(tmp.ptr, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = sbx_err_set(err, -errno, "e2b: download: %s: %s", tmp.ptr, strerror(errno));
        goto out;
    }
    req.method = "GET";
    req.path = path.ptr;
    req.use_resp_fd = true;
    req.resp_fd = fd;
    rc = files_call(e, &s, &req, what.ptr, err);
    if (rc == 0 && ((replace && fchmod(fd, old.st_mode & 07777) < 0) || fsync(fd) < 0))
        rc = sbx_err_set(err, -errno, "e2b: download: %s: %s", tmp.ptr, strerror(errno));
    if (rc == 0 && close(fd) < 0)
        rc = sbx_err_set(err, -errno, "e2b: download: %s: %s", tmp.ptr, strerror(errno));
    else if (rc < 0)
        close(fd);
    fd = -1;
    if (rc == 0 && rename(tmp.ptr, host_path) < 0)
        rc = sbx_err_set(err, -errno, "e2b: download: %s: %s", host_path, strerror(errno));
    if (rc < 0)
        unlink(tmp.ptr);
out:
    sbx_buf_free(&path);
    sbx_buf_free(&what);
    sbx_buf_free(&tmp);
    sbx__e2b_sbx_release(&s);
    return rc;
}
