#include "server/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/zip.h"
#include "base/buf.h"
#include "base/fd.h"
#include "json/json.h"
#include "net/http_server.h"
#include "net/multipart.h"
#include "sbx/log.h"

/*
 * POST /upload_file and GET /download_files (openhands-protocol.md §2.3).
 *
 * Uploads stream: the multipart body is parsed as it arrives and the file's
 * bytes go straight to a temporary file next to their final place, which is
 * renamed over <destination>/<filename> once the body is complete (an
 * interrupted upload leaves nothing behind). Errors found early (a relative
 * destination, a non-zip recursive upload) are answered once the body has
 * been read and dropped, so the client always gets a clean answer.
 *
 * Downloads stream too: the zip is built while it is sent, one file read at
 * a time, and building pauses whenever the connection's send queue is full,
 * so memory stays flat whatever the size of the tree.
 */

#define READ_CHUNK ((size_t)256 << 10)
/* Files from this size on are probed (STORE_PROBE bytes) for compressibility. */
#define STORE_PROBE_MIN ((off_t)256 << 10)
#define STORE_PROBE ((size_t)64 << 10)

/* ---- helpers ---------------------------------------------------------------- */

/* mkdir -p; 0 or a negative errno. */
static int mkdir_p(const char *path)
{
    struct sbx_buf b = SBX_BUF_INIT;
    size_t i;
    int rc = sbx_buf_addstr(&b, path);

    for (i = 1; rc == 0 && i <= b.len; i++) {
        if (b.ptr[i] != '/' && b.ptr[i] != '\0')
            continue;
        b.ptr[i] = '\0';
        if (mkdir(b.ptr, 0777) < 0 && errno != EEXIST)
            rc = -errno;
        if (i < b.len)
            b.ptr[i] = '/';
    }
    if (rc == 0) {
        struct stat st;

        if (stat(path, &st) < 0)
            rc = -errno;
        else if (!S_ISDIR(st.st_mode))
            rc = -ENOTDIR;
    }
    sbx_buf_free(&b);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* FastAPI's bool query parsing. 1 true, 0 false, -1 invalid. */
static int parse_bool(const char *v)
{
    static const char *const yes[] = {"true", "1", "yes", "on", "t", "y"};
    static const char *const no[] = {"false", "0", "no", "off", "f", "n"};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* §2.2: FastAPI's request-validation answer. */
static void respond_422(struct sbx_http_req *req, const char *errors)
{
    struct sbx_buf b = SBX_BUF_INIT;

    sbx_buf_addstr(&b, "{\"detail\":\"Invalid request parameters\",\"errors\":");
    sbx_json_quote(&b, errors, strlen(errors));
    sbx_buf_addch(&b, '}');
    sbx_http_respond_json(req, 422, b.ptr, b.len);
    sbx_buf_free(&b);
}

/* ---- upload ------------------------------------------------------------------- */

struct upload {
    struct sbx_server *srv;
    struct sbx_multipart *mp;
    struct sbx_buf dest, filename, tmp;
    bool recursive, is_zip;
    int status;       /* deferred error answer, 0 = none */
    char detail[300]; /* its detail (422: its errors text) */
    int fd;           /* the temporary file while the part streams */
    bool have_tmp;    /* tmp exists on disk */
    bool in_file, file_done;
    /* The parser hands data over in small pieces (it splits at every CR):
     * gather them into large writes. */
    char *wbuf;
    size_t wlen;
};

static void upload_fail(struct upload *u, int status, const char *fmt, const char *arg)
{
    if (u->status)
        return;
    u->status = status;
    snprintf(u->detail, sizeof(u->detail), fmt, arg);
}

static void upload_drop_tmp(struct upload *u)
{
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    if (u->have_tmp) {
        unlink(u->tmp.ptr);
        u->have_tmp = false;
    }
    u->in_file = false;
}

static void upload_free(void *ud)
{
    struct upload *u = ud;

    if (!u)
        return;
    upload_drop_tmp(u);
    free(u->wbuf);
    sbx_multipart_free(u->mp);
    sbx_buf_free(&u->dest);
    sbx_buf_free(&u->filename);
    sbx_buf_free(&u->tmp);
    free(u);
}

static int part_begin(const struct sbx_multipart_part *part, void *ud)
{
    struct upload *u = ud;
    const char *f = part->filename;
    mode_t mask;
    int rc;

    /* Only the first `file` field that is a file counts (Starlette takes the
     * first value of a repeated field); anything else is dropped. */
    if (u->status || u->file_done || u->in_file || strcmp(part->name, "file") != 0 || !f)
        return 0;
    if (u->recursive || ends_with(f, ".zip")) {
        u->is_zip = true;
        if (!ends_with(f, ".zip")) {
            upload_fail(u, 500, "%s", "400: Recursive uploads must be zip files");
            return 0;
        }
    }
    /* The client sends a basename; anything with a directory part could
     * land outside the destination. */
    if (!*f || strchr(f, '/') || strcmp(f, ".") == 0 || strcmp(f, "..") == 0) {
        upload_fail(u, 500, "400: Invalid filename '%s': must be a plain file name", f);
        return 0;
    }
    if (sbx_buf_addstr(&u->filename, f) < 0) {
        upload_fail(u, 500, "%s", "Internal server error: out of memory");
        return 0;
    }
    rc = mkdir_p(u->dest.ptr);
    if (rc < 0) {
        upload_fail(u, 500, "Failed to create the destination directory: %s", strerror(-rc));
        return 0;
    }
    rc = sbx_buf_addf(&u->tmp, "%s%s.sbx-upload-XXXXXX", u->dest.ptr,
                      ends_with(u->dest.ptr, "/") ? "" : "/");
    u->fd = rc < 0 ? -1 : mkostemp(u->tmp.ptr, O_CLOEXEC);
    if (u->fd < 0) {
        upload_fail(u, 500, "Failed to create the file: %s", strerror(errno));
        return 0;
    }
    u->have_tmp = true;
    /* As open(..., "wb") upstream: 0666 less the umask. */
    mask = umask(0);
    umask(mask);
    fchmod(u->fd, 0666 & ~mask);
    u->in_file = true;
    return 0;
}

static int upload_flush(struct upload *u)
{
    int rc = 0;

    if (u->wlen && u->fd >= 0)
        rc = sbx_fd_write_all(u->fd, u->wbuf, u->wlen);
    u->wlen = 0;
    if (rc < 0) {
        upload_fail(u, 500, "Failed to write the file: %s", strerror(-rc));
        upload_drop_tmp(u);
    }
    return rc;
}

static int part_data(const char *p, size_t n, void *ud)
{
    struct upload *u = ud;
    int rc;

    if (!u->in_file || u->status)
        return 0;
    if (u->wlen + n > READ_CHUNK && upload_flush(u) < 0)
        return 0;
    if (n >= READ_CHUNK) {
        rc = sbx_fd_write_all(u->fd, p, n);
        if (rc < 0) {
            upload_fail(u, 500, "Failed to write the file: %s", strerror(-rc));
            upload_drop_tmp(u);
        }
        return 0;
    }
    memcpy(u->wbuf + u->wlen, p, n);
    u->wlen += n;
    return 0;
}

static int part_end(void *ud)
{
    struct upload *u = ud;

    if (u->in_file && upload_flush(u) < 0)
        return 0;
    if (u->in_file) {
        u->in_file = false;
        u->file_done = true;
    }
    return 0;
}

static int upload_body(struct sbx_http_req *req, const char *p, size_t n, void *ud)
{
    struct upload *u = ud;
    int rc;

    (void)req;
    /* After an error the body is read and dropped: the answer then goes to
     * a client that has finished sending. */
    if (u->status || !u->mp)
        return 0;
    rc = sbx_multipart_feed(u->mp, p, n);
    if (rc < 0)
        upload_fail(u, 400, "There was an error parsing the body: %s",
                    sbx_multipart_error(u->mp));
    return 0;
}

int sbx_server_upload_headers(struct sbx_server *s, struct sbx_http_req *req, char *detail,
                              size_t n)
{
    static const struct sbx_multipart_cbs cbs = {part_begin, part_data, part_end};
    struct upload *u = calloc(1, sizeof(*u));
    struct sbx_buf rec = SBX_BUF_INIT;
    int rc, b;

    if (!u) {
        snprintf(detail, n, "Internal server error: out of memory");
        return 500;
    }
    u->srv = s;
    u->fd = -1;
    u->wbuf = malloc(READ_CHUNK);
    if (!u->wbuf) {
        free(u);
        snprintf(detail, n, "Internal server error: out of memory");
        return 500;
    }
    sbx_buf_init(&u->dest, 1 << 16);
    sbx_buf_init(&u->filename, 1 << 16);
    sbx_buf_init(&u->tmp, 1 << 17);
    req->body_ud = u;
    req->body_free = upload_free;
    req->body_fn = upload_body;
    req->body_max = SIZE_MAX; /* streamed to disk: no limit of ours */

    rc = sbx_http_query_get(req->query, "destination", &u->dest);
    if (rc == 0)
        rc = sbx_buf_addstr(&u->dest, "/");
    if (rc < 0 || memchr(u->dest.ptr, '\0', u->dest.len))
        upload_fail(u, 422, "%s", "query.destination: invalid value");
    rc = sbx_http_query_get(req->query, "recursive", &rec);
    if (rc == 1) {
        b = parse_bool(rec.ptr);
        if (b < 0)
            upload_fail(u, 422, "%s", "query.recursive: Input should be a valid boolean");
        u->recursive = b == 1;
    }
    sbx_buf_free(&rec);
    u->mp = sbx_multipart_new(sbx_http_req_header(req, "Content-Type"), &cbs, u, &rc);
    if (!u->mp)
        upload_fail(u, 422, "%s", "body.file: Field required (not a multipart/form-data body)");
    if (u->dest.ptr[0] != '/')
        upload_fail(u, 500, "%s", "400: Destination must be an absolute path");
    return 0;
}

static void reply_upload(struct upload *u, struct sbx_http_req *req)
{
    struct sbx_buf b = SBX_BUF_INIT;

    sbx_buf_addstr(&b, "{\"filename\":");
    sbx_json_quote(&b, u->filename.ptr, u->filename.len);
    sbx_buf_addstr(&b, ",\"destination\":");
    sbx_json_quote(&b, u->dest.ptr, u->dest.len);
    sbx_buf_addf(&b, ",\"recursive\":%s}", u->recursive ? "true" : "false");
    sbx_http_respond_json(req, 200, b.ptr, b.len);
    sbx_buf_free(&b);
}

void sbx_server_upload_done(struct sbx_server *s, struct sbx_http_req *req)
{
    struct upload *u = req->body_ud;
    struct sbx_buf final = SBX_BUF_INIT;
    struct sbx_err err = {0};
    int rc;

    (void)s;
    if (!u) {
        sbx_http_respond_detail(req, 500, "Internal server error: no upload state");
        return;
    }
    if (!u->status && sbx_multipart_finish(u->mp) < 0)
        upload_fail(u, 400, "There was an error parsing the body: %s",
                    sbx_multipart_error(u->mp));
    if (!u->status && !u->file_done)
        upload_fail(u, 422, "%s", "body.file: Field required");
    if (u->fd >= 0) {
        if (close(u->fd) < 0)
            upload_fail(u, 500, "Failed to write the file: %s", strerror(errno));
        u->fd = -1;
    }
    if (u->status)
        goto fail;
    if (u->is_zip) {
        rc = sbx_zip_extract(u->tmp.ptr, u->dest.ptr, &err);
        upload_drop_tmp(u);
        if (rc < 0) {
            upload_fail(u, 500, "400: Invalid zip file: %s", err.msg);
            goto fail;
        }
    } else {
        rc = sbx_buf_addf(&final, "%s%s%s", u->dest.ptr, ends_with(u->dest.ptr, "/") ? "" : "/",
                          u->filename.ptr);
        if (rc == 0 && rename(u->tmp.ptr, final.ptr) < 0)
            rc = -errno;
        if (rc < 0) {
            upload_fail(u, 500, "Failed to write %s", final.ptr);
            snprintf(u->detail + strlen(u->detail), sizeof(u->detail) - strlen(u->detail),
                     ": %s", strerror(-rc));
            goto fail;
        }
        u->have_tmp = false;
    }
    sbx_buf_free(&final);
    reply_upload(u, req);
    return;
fail:
    sbx_buf_free(&final);
    if (u->status == 422)
        respond_422(req, u->detail);
    else
        sbx_http_respond_detail(req, u->status, u->detail);
}

/* ---- download ------------------------------------------------------------------ */

struct dl_file {
    char *path; /* absolute */
    char *name; /* archive name */
};

struct download {
    struct sbx_http_req *req;
    struct sbx_zip_writer *zw;
    struct dl_file *files;
    size_t n, cap, idx;
    int fd;
    bool finished;
    struct sbx_buf out; /* archive bytes not yet handed to the connection */
    char *rbuf;
};

static void dl_free(struct download *d)
{
    size_t i;

    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    for (i = 0; i < d->n; i++) {
        free(d->files[i].path);
        free(d->files[i].name);
    }
    free(d->files);
    sbx_zip_writer_free(d->zw);
    sbx_buf_free(&d->out);
    free(d->rbuf);
    free(d);
}

static int dl_add(struct download *d, const char *path, const char *name)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        struct dl_file *nf = realloc(d->files, cap * sizeof(*nf));

        if (!nf)
            return -ENOMEM;
        d->files = nf;
        d->cap = cap;
    }
    d->files[d->n].path = strdup(path);
    d->files[d->n].name = strdup(name);
    if (!d->files[d->n].path || !d->files[d->n].name) {
        free(d->files[d->n].path);
        free(d->files[d->n].name);
        return -ENOMEM;
    }
    d->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* os.walk(followlinks=False) + zipf.write: every entry that stat()s as a
 * regular file (symlinks to files included), never descending into a
 * symlinked directory. Names are sorted per directory for a stable zip. */
static int walk(struct download *d, const char *dir, const char *rel)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t nn = 0, cap = 0, i;
    int rc = 0;

    if (!dp)
        return 0; /* unreadable directories are skipped, as os.walk does */
    while ((de = readdir(dp))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (nn == cap) {
            char **nv = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*nv));

            if (!nv) {
                rc = -ENOMEM;
                goto out;
            }
            names = nv;
        }
        names[nn] = strdup(de->d_name);
        if (!names[nn]) {
            rc = -ENOMEM;
            goto out;
        }
        nn++;
    }
    if (nn)
        qsort(names, nn, sizeof(*names), cmp_str);
    for (i = 0; i < nn && rc == 0; i++) {
        struct sbx_buf p = SBX_BUF_INIT, r = SBX_BUF_INIT;
        struct stat st;

        rc = sbx_buf_addf(&p, "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", names[i]);
        if (rc == 0)
            rc = sbx_buf_addf(&r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        if (rc == 0 && lstat(p.ptr, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                rc = walk(d, p.ptr, r.ptr);
            else if (stat(p.ptr, &st) == 0 && S_ISREG(st.st_mode))
                rc = dl_add(d, p.ptr, r.ptr);
        }
        sbx_buf_free(&p);
        sbx_buf_free(&r);
    }
out:
    for (i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    closedir(dp);
    return rc;
}

static int dl_out(const void *p, size_t n, void *ud)
{
    struct download *d = ud;

    return sbx_buf_add(&d->out, p, n);
}

/* One step of building the archive: open the next file, read a piece of
 * the current one, or finish. */
static int dl_step(struct download *d)
{
    struct stat st;
    ssize_t n;
    int rc;

    if (d->fd < 0) {
        const struct dl_file *f;

        if (d->idx == d->n) {
            d->finished = true;
            return sbx_zip_writer_finish(d->zw);
        }
        f = &d->files[d->idx++];
        d->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (d->fd < 0) {
            sbx_log(SBX_LOG_WARN, "download: skipping %s: %s", f->path, strerror(errno));
            return 0;
        }
        if (fstat(d->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(d->fd);
            d->fd = -1;
            return 0;
        }
        /* The first piece decides between deflate and store (only for
         * files big enough for the probe to pay off). */
        n = sbx_fd_read(d->fd, d->rbuf, READ_CHUNK);
        if (n < 0)
            return (int)n;
        rc = sbx_zip_writer_begin(d->zw, f->name, st.st_mode, st.st_mtime, st.st_size,
                                  st.st_size >= STORE_PROBE_MIN &&
                                      !sbx_zip_compressible(d->rbuf, (size_t)n < STORE_PROBE
                                                                          ? (size_t)n
                                                                          : STORE_PROBE));
        if (rc == 0 && n > 0)
            rc = sbx_zip_writer_data(d->zw, d->rbuf, (size_t)n);
        if (rc == 0 && n == 0) {
            close(d->fd);
            d->fd = -1;
            rc = sbx_zip_writer_end(d->zw);
        }
        return rc;
    }
    n = sbx_fd_read(d->fd, d->rbuf, READ_CHUNK);
    if (n < 0)
        return (int)n;
    if (n == 0) {
        close(d->fd);
        d->fd = -1;
        return sbx_zip_writer_end(d->zw);
    }
    return sbx_zip_writer_data(d->zw, d->rbuf, (size_t)n);
}

static void dl_drained(struct sbx_http_req *req, int status, void *ud);

static void dl_pump(struct download *d)
{
    int rc;

    for (;;) {
        if (d->out.len) {
            rc = sbx_http_stream_write(d->req, d->out.ptr, d->out.len, dl_drained, d);
            sbx_buf_reset(&d->out);
            if (rc < 0)
                goto abort;
            if (rc == SBX_HTTP_STREAM_WAIT)
                return;
            continue;
        }
        if (d->finished) {
            sbx_http_stream_end(d->req);
            dl_free(d);
            return;
        }
        rc = dl_step(d);
        if (rc < 0) {
            sbx_log(SBX_LOG_ERROR, "download: building the zip failed: %s", strerror(-rc));
            goto abort;
        }
    }
abort:
    sbx_http_stream_abort(d->req);
    dl_free(d);
}

static void dl_drained(struct sbx_http_req *req, int status, void *ud)
{
    struct download *d = ud;

    (void)req;
    if (status < 0) {
        sbx_http_stream_abort(d->req);
        dl_free(d);
        return;
    }
    dl_pump(d);
}

void sbx_server_download(struct sbx_server *s, struct sbx_http_req *req)
{
    struct sbx_buf path = SBX_BUF_INIT, hdr = SBX_BUF_INIT;
    struct download *d = NULL;
    const char *base;
    struct stat st;
    int rc;

    (void)s;
    rc = sbx_http_query_get(req->query, "path", &path);
    if (rc <= 0 || memchr(path.ptr, '\0', path.len)) {
        respond_422(req, "query.path: Field required");
        goto out;
    }
    if (path.ptr[0] != '/') {
        sbx_http_respond_detail(req, 500, "400: Path must be an absolute path");
        goto out;
    }
    if (stat(path.ptr, &st) < 0) {
        sbx_http_respond_detail(req, 500, "404: File not found");
        goto out;
    }
    d = calloc(1, sizeof(*d));
    if (!d || !(d->rbuf = malloc(READ_CHUNK))) {
        sbx_http_respond_detail(req, 500, "Internal server error: out of memory");
        goto out;
    }
    d->fd = -1;
    d->req = req;
    sbx_buf_init(&d->out, 0);
    /* Level 1: on a loopback or LAN link deflate's speed is the bottleneck,
     * and level 1 keeps most of the gain on text. */
    d->zw = sbx_zip_writer_new(dl_out, d, 1);
    base = strrchr(path.ptr, '/') + 1;
    /* A plain file is sent as a zip holding just that file (upstream sends
     * an empty zip: its os.walk finds nothing; docs/protocol.md). */
    if (!d->zw)
        rc = -ENOMEM;
    else if (S_ISDIR(st.st_mode))
        rc = walk(d, path.ptr, "");
    else
        rc = S_ISREG(st.st_mode) && *base ? dl_add(d, path.ptr, base) : 0;
    if (rc < 0) {
        sbx_http_respond_detail(req, 500, "Internal server error: out of memory");
        goto out;
    }
    /* The name goes into a quoted header value: no quotes, backslashes or
     * control bytes (a query can carry CR/LF). */
    sbx_buf_addstr(&hdr, "Content-Disposition: attachment; filename=\"");
    for (; *base; base++)
        sbx_buf_addch(&hdr, ((unsigned char)*base < 0x20 || *base == '"' || *base == '\\' ||
                             *base == 0x7f) ? '_' : *base);
    sbx_buf_addstr(&hdr, ".zip\"\r\n");
    rc = sbx_http_stream_start(req, 200, "application/zip", hdr.ptr, -1);
    if (rc < 0) {
        sbx_http_stream_abort(req);
        goto out;
    }
    dl_pump(d);
    d = NULL;
out:
    dl_free(d);
    sbx_buf_free(&path);
    sbx_buf_free(&hdr);
}
