#include "net/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/fd.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
/* What is kept of a non-2xx body: enough for any "detail". */
#define ERROR_BODY_MAX ((size_t)64 << 10)
#define HEADERS_MAX ((size_t)256 << 10)

struct sbx_http_client {
    CURL *h;
    char *base_url;  /* without a trailing '/' */
    char *unix_path; /* NULL = TCP */
    char **headers;  /* NULL-terminated copies */
    int64_t connect_timeout_ms;
    bool insecure;
    char errbuf[CURL_ERROR_SIZE];
};

/* One transfer's state, shared by the curl callbacks. */
struct xfer {
    CURL *h;
    const struct sbx_http_req *req;
    struct sbx_http_resp *resp;
    int cb_rc;        /* the errno a callback aborted with */
    bool big_headers; /* cb_rc is -E2BIG because of the headers, not the body */
    int64_t body_pos; /* read position within the body_fd range */
};

/* A multipart part's read state. */
struct part_src {
    const struct sbx_http_part *part;
    int64_t pos;
    int *cb_rc;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- responses ---------------------------------------------------------- */

void sbx_http_resp_init(struct sbx_http_resp *r)
{
    r->status = 0;
    sbx_buf_init(&r->body, 0);
    sbx_buf_init(&r->hdrs, HEADERS_MAX);
}

void sbx_http_resp_release(struct sbx_http_resp *r)
{
    if (!r)
        return;
    sbx_buf_free(&r->body);
    sbx_buf_free(&r->hdrs);
    sbx_http_resp_init(r);
}

const char *sbx_http_resp_header(const struct sbx_http_resp *r, const char *name)
{
    const char *p = r->hdrs.ptr;
    const char *end = r->hdrs.ptr + r->hdrs.len;

    while (p < end) {
        const char *val = p + strlen(p) + 1;

        if (val >= end)
            break;
        if (strcasecmp(p, name) == 0)
            return val;
        p = val + strlen(val) + 1;
    }
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    size_t nlen, vstart, vend;
    const char *colon;

    /* A status line starts a new response (after 1xx, or a redirect):
     * only the final response's headers are kept. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        sbx_buf_reset(&x->resp->hdrs);
        return len;
    }
    colon = memchr(p, ':', len);
    if (!colon)
        return len; /* the blank line ending the headers */
    nlen = (size_t)(colon - p);
    while (nlen > 0 && is_space(p[nlen - 1]))
        nlen--;
    vstart = (size_t)(colon - p) + 1;
    while (vstart < len && is_space(p[vstart]))
        vstart++;
    vend = len;
    while (vend > vstart && is_space(p[vend - 1]))
        vend--;
    if (sbx_buf_add(&x->resp->hdrs, p, nlen) < 0 || sbx_buf_addch(&x->resp->hdrs, '\0') < 0 ||
        sbx_buf_add(&x->resp->hdrs, p + vstart, vend - vstart) < 0 ||
        sbx_buf_addch(&x->resp->hdrs, '\0') < 0) {
        x->cb_rc = -E2BIG;
        x->big_headers = true;
        return 0;
    }
    return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    const struct sbx_http_req *req = x->req;
    struct sbx_buf *body = &x->resp->body;
    size_t len = size * n;
    size_t max = req->max_body_bytes ? req->max_body_bytes : DEFAULT_MAX_BODY;
    long code = 0;
    bool ok;
    int rc;

    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    ok = code >= 200 && code < 300;
    if (ok && (req->use_resp_fd || req->on_data)) {
        rc = req->use_resp_fd ? sbx_fd_write_all(req->resp_fd, p, len)
                              : req->on_data(p, len, req->on_data_ud);
        if (rc < 0) {
            x->cb_rc = rc;
            return 0;
        }
        return len;
    }
    if (!ok) {
        /* Keep the start of an error body; drop the rest quietly. */
        if (body->len < ERROR_BODY_MAX) {
            size_t room = ERROR_BODY_MAX - body->len;

            if (sbx_buf_add(body, p, len < room ? len : room) < 0) {
                x->cb_rc = -ENOMEM;
                return 0;
            }
        }
        return len;
    }
    if (len > max || body->len > max - len) {
        x->cb_rc = -E2BIG;
        return 0;
    }
    rc = sbx_buf_add(body, p, len);
    if (rc < 0) {
        x->cb_rc = rc == -EMSGSIZE ? -E2BIG : rc;
        return 0;
    }
    return len;
}

/* ---- request bodies ----------------------------------------------------- */

static size_t read_range(int fd, int64_t off, int64_t len, int64_t *pos, char *p, size_t n,
                         int *rc_out)
{
    int64_t left = len - *pos;
    ssize_t got;

    if (left <= 0)
        return 0;
    if ((int64_t)n > left)
        n = (size_t)left;
    do {
        got = pread(fd, p, n, (off_t)(off + *pos));
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        *rc_out = -errno;
        return CURL_READFUNC_ABORT;
    }
    if (got == 0) {
        /* The file shrank under us: the announced length cannot be met. */
        *rc_out = -EIO;
        return CURL_READFUNC_ABORT;
    }
    *pos += got;
    return (size_t)got;
}

static size_t on_read_body(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;

    return read_range(x->req->body_fd, x->req->body_fd_offset, x->req->body_fd_len, &x->body_pos,
                      p, size * n, &x->cb_rc);
}

static int on_seek_body(void *ud, curl_off_t off, int origin)
{
    struct xfer *x = ud;

    if (origin != SEEK_SET || off < 0 || off > x->req->body_fd_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->body_pos = off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_read_part(char *p, size_t size, size_t n, void *ud)
{
    struct part_src *s = ud;

    return read_range(s->part->fd, s->part->fd_offset, s->part->fd_len, &s->pos, p, size * n,
                      s->cb_rc);
}

static int on_seek_part(void *ud, curl_off_t off, int origin)
{
    struct part_src *s = ud;

    if (origin != SEEK_SET || off < 0 || off > s->part->fd_len)
        return CURL_SEEKFUNC_CANTSEEK;
    s->pos = off;
    return CURL_SEEKFUNC_OK;
}

/* ---- the client ----------------------------------------------------------- */

static char *dup_or_null(const char *s, bool *oom)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

struct sbx_http_client *sbx_http_client_new(const struct sbx_http_client_opts *o,
                                            struct sbx_err *err)
{
    struct sbx_http_client *c = NULL;
    const char *base;
    bool oom = false;
    size_t n = 0, i, blen;

    if (!o || (!o->base_url && !o->unix_path)) {
        sbx_err_set(err, -EINVAL, "http client: a base url or a unix socket path is needed");
        return NULL;
    }
    base = o->base_url ? o->base_url : "http://localhost";
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        sbx_err_set(err, -EINVAL, "http client: %.128s: not an http:// or https:// url", base);
        return NULL;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        sbx_err_set(err, -EIO, "http client: curl_global_init: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    c->h = curl_easy_init();
    if (!c->h) {
        sbx_err_set(err, -EIO, "http client: curl_easy_init failed");
        goto fail;
    }
    c->base_url = dup_or_null(base, &oom);
    blen = c->base_url ? strlen(c->base_url) : 0;
    while (blen > 0 && c->base_url[blen - 1] == '/')
        c->base_url[--blen] = '\0';
    c->unix_path = dup_or_null(o->unix_path, &oom);
    while (o->headers && o->headers[n])
        n++;
    c->headers = calloc(n + 1, sizeof(*c->headers));
    if (!c->headers)
        goto oom;
    for (i = 0; i < n; i++)
        c->headers[i] = dup_or_null(o->headers[i], &oom);
    if (oom)
        goto oom;
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                      : DEFAULT_CONNECT_TIMEOUT_MS;
    c->insecure = o->insecure;
    return c;
oom:
    sbx_err_set(err, -ENOMEM, "http client: out of memory");
fail:
    sbx_http_client_free(c);
    return NULL;
}

void sbx_http_client_free(struct sbx_http_client *c)
{
    size_t i;

    if (!c)
        return;
    if (c->h)
        curl_easy_cleanup(c->h);
    for (i = 0; c->headers && c->headers[i]; i++)
        free(c->headers[i]);
    free(c->headers);
    free(c->base_url);
    free(c->unix_path);
    free(c);
}

int sbx_http_url_encode(struct sbx_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    int rc = 0;

    for (p = (const unsigned char *)s; *p && rc == 0; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            rc = sbx_buf_addch(out, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

            rc = sbx_buf_add(out, e, 3);
        }
    }
    return rc;
}

static int header_list(struct curl_slist **list, const char *h)
{
    struct curl_slist *n = curl_slist_append(*list, h);

    if (!n)
        return -ENOMEM;
    *list = n;
    return 0;
}

/* The errno a curl failure maps to (STYLE rule 4). */
static int map_curl(CURL *h, CURLcode cc)
{
    long os = 0;

    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os);
        if (os == ENOENT || os == EACCES || os == ENETUNREACH || os == EHOSTUNREACH ||
            os == ECONNREFUSED)
            return -(int)os;
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR: return -ECONNRESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT: return -EPROTO;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT: return -EINVAL;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    default: return -EIO;
    }
}

static const char *method_of(const struct sbx_http_req *req, bool has_body)
{
    if (req->method)
        return req->method;
    return has_body ? "POST" : "GET";
}

/* Sets every option of one request on the (reset) handle. */
static int setup(struct sbx_http_client *c, const struct sbx_http_req *req, struct xfer *x,
                 struct sbx_buf *url, struct curl_slist **hdrs, curl_mime **mime,
                 struct part_src *srcs, struct sbx_err *err)
{
    CURL *h = c->h;
    bool has_body = req->body || req->use_body_fd || req->n_parts;
    const char *method = method_of(req, has_body);
    const char *path = req->path ? req->path : "/";
    size_t i;
    int rc;

    if ((req->body != NULL) + req->use_body_fd + (req->n_parts > 0) > 1)
        return sbx_err_set(err, -EINVAL, "http: a request has at most one kind of body");
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
        rc = sbx_buf_addstr(url, path);
    } else {
        rc = sbx_buf_addstr(url, c->base_url);
        if (rc == 0 && path[0] != '/')
            rc = sbx_buf_addch(url, '/');
        if (rc == 0)
            rc = sbx_buf_addstr(url, path);
    }
    for (i = 0; rc == 0 && c->headers[i]; i++)
        rc = header_list(hdrs, c->headers[i]);
    for (i = 0; rc == 0 && req->headers && req->headers[i]; i++)
        rc = header_list(hdrs, req->headers[i]);
    if (rc == 0 && (req->body || req->use_body_fd)) {
        if (req->content_type) {
            struct sbx_buf ct = SBX_BUF_INIT;

            rc = sbx_buf_addf(&ct, "Content-Type: %s", req->content_type);
            if (rc == 0)
                rc = header_list(hdrs, ct.ptr);
            sbx_buf_free(&ct);
        } else {
            /* No curl default (application/x-www-form-urlencoded). */
            rc = header_list(hdrs, "Content-Type:");
        }
    }
    if (rc < 0)
        return sbx_err_set(err, rc, "http: out of memory");

    curl_easy_setopt(h, CURLOPT_URL, url->ptr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->unix_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                                        : c->connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 0));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, req->idle_timeout_ms > 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     (long)(req->idle_timeout_ms > 0 ? (req->idle_timeout_ms + 999) / 1000 : 0));
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (*hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);

    if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    } else if (req->use_body_fd) {
        if (req->body_fd_len < 0 || req->body_fd_offset < 0)
            return sbx_err_set(err, -EINVAL, "http: bad body range");
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_fd_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_body);
        curl_easy_setopt(h, CURLOPT_READDATA, x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek_body);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
    } else if (req->n_parts) {
        *mime = curl_mime_init(h);
        if (!*mime)
            return sbx_err_set(err, -ENOMEM, "http: out of memory");
        for (i = 0; i < req->n_parts; i++) {
            const struct sbx_http_part *pt = &req->parts[i];
            curl_mimepart *mp = curl_mime_addpart(*mime);
            CURLcode cc = CURLE_OK;

            if (!mp)
                return sbx_err_set(err, -ENOMEM, "http: out of memory");
            if (pt->name)
                cc = curl_mime_name(mp, pt->name);
            if (cc == CURLE_OK && pt->filename)
                cc = curl_mime_filename(mp, pt->filename);
            if (cc == CURLE_OK && pt->content_type)
                cc = curl_mime_type(mp, pt->content_type);
            if (cc == CURLE_OK && pt->use_fd) {
                if (pt->fd_len < 0 || pt->fd_offset < 0)
                    return sbx_err_set(err, -EINVAL, "http: bad part range");
                srcs[i].part = pt;
                srcs[i].pos = 0;
                srcs[i].cb_rc = &x->cb_rc;
                cc = curl_mime_data_cb(mp, (curl_off_t)pt->fd_len, on_read_part, on_seek_part,
                                       NULL, &srcs[i]);
            } else if (cc == CURLE_OK) {
                cc = curl_mime_data(mp, pt->data ? pt->data : "", pt->data_len);
            }
            if (cc != CURLE_OK)
                return sbx_err_set(err, map_curl(h, cc), "http: multipart: %s",
                                   curl_easy_strerror(cc));
        }
        curl_easy_setopt(h, CURLOPT_MIMEPOST, *mime);
    } else if (!strcmp(method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(method, "POST")) {
        /* An empty POST, with Content-Length: 0. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "HEAD") != 0 &&
        (has_body || strcmp(method, "GET") != 0))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    return 0;
}

int sbx_http_request(struct sbx_http_client *c, const struct sbx_http_req *req,
                     struct sbx_http_resp *resp, struct sbx_err *err)
{
    struct sbx_buf url = SBX_BUF_INIT;
    struct curl_slist *hdrs = NULL;
    curl_mime *mime = NULL;
    struct part_src *srcs = NULL;
    struct xfer x = {.h = c->h, .req = req, .resp = resp};
    CURLcode cc;
    long code = 0;
    int rc;

    resp->status = 0;
    sbx_buf_reset(&resp->body);
    sbx_buf_reset(&resp->hdrs);
    if (req->n_parts) {
        srcs = calloc(req->n_parts, sizeof(*srcs));
        if (!srcs) {
            rc = sbx_err_set(err, -ENOMEM, "http: out of memory");
            goto out;
        }
    }
    curl_easy_reset(c->h);
    c->errbuf[0] = '\0';
    rc = setup(c, req, &x, &url, &hdrs, &mime, srcs, err);
    if (rc < 0)
        goto out;
    cc = curl_easy_perform(c->h);
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
    resp->status = (int)code;
    if (cc != CURLE_OK) {
        const char *what = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
        const char *method = method_of(req, req->body || req->use_body_fd || req->n_parts);

        if (x.cb_rc == -E2BIG && x.big_headers) {
            rc = sbx_err_set(err, -E2BIG, "%s %s: response headers larger than %zu bytes", method,
                             url.ptr, HEADERS_MAX);
        } else if (x.cb_rc == -E2BIG) {
            rc = sbx_err_set(err, -E2BIG, "%s %s: response body larger than %zu bytes", method,
                             url.ptr, req->max_body_bytes ? req->max_body_bytes : DEFAULT_MAX_BODY);
        } else if (x.cb_rc < 0) {
            rc = sbx_err_set(err, x.cb_rc, "%s %s: %s (%s)", method, url.ptr, strerror(-x.cb_rc),
                             what);
        } else if (c->unix_path && cc == CURLE_COULDNT_CONNECT) {
            /* curl speaks of "localhost port 80": name the socket instead. */
            rc = map_curl(c->h, cc);
            rc = sbx_err_set(err, rc, "%s %s: unix socket %s: %s", method, url.ptr, c->unix_path,
                             strerror(-rc));
        } else {
            rc = sbx_err_set(err, map_curl(c->h, cc), "%s %s: %s", method, url.ptr, what);
        }
        goto out;
    }
    rc = 0;
out:
    if (mime)
        curl_mime_free(mime);
    curl_slist_free_all(hdrs);
    free(srcs);
    sbx_buf_free(&url);
    /* The handle must not keep pointers into this call's memory. */
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->h, CURLOPT_MIMEPOST, NULL);
    return rc;
}
