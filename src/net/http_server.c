#include "net/http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "json/json.h"
#include "net/loop.h"
#include "sbx/log.h"

/*
 * One connection parses one request at a time. When a request is complete the
 * parser is paused and reading stops; the unparsed rest of the last read is
 * kept in `pending` and parsed once the answer has been queued. That gives
 * in-order pipelining without a queue of requests.
 */

struct sbx_http_server {
    uv_loop_t *loop;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_handle_t handle;
        uv_stream_t stream;
    } listener;
    bool is_unix;
    int port;
    char *unix_path;
    sbx_http_headers_fn *on_headers;
    sbx_http_request_fn *on_request;
    void *ud;
    struct sbx_http_conn *conns; /* list of open connections */
    bool closing;
    int open_handles;
    int live_conns; /* allocated connections, closed or not */
    char rbuf[65536]; /* every read lands here and is consumed at once */
};

struct sbx_http_conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_handle_t handle;
        uv_stream_t stream;
    } h;
    struct sbx_http_server *srv;
    struct sbx_http_conn *next, *prev;
    llhttp_t parser;
    struct sbx_http_req *req;     /* request being parsed or answered */
    struct sbx_buf field, value;  /* header being parsed */
    bool in_value;
    size_t header_bytes;
    bool busy;        /* a complete request awaits its answer */
    bool closed;      /* uv_close called */
    bool close_after; /* close once the current answer is written */
    bool rejected;    /* an early answer was sent; drop the rest */
    int early_status; /* answer decided at the headers, sent when complete */
    char early_detail[256];
    bool read_stopped; /* too much pipelined input while busy, or EOF */
    bool eof;          /* the client shut down its side */
    bool in_execute;  /* inside llhttp_execute: answers must not re-enter it */
    bool draining;    /* answered and shut down: reading and dropping until EOF */
    bool hijacking;   /* the request was handed over with its body unread */
    struct sbx_buf pending; /* read but not yet parsed */
    int writes;       /* writes in flight */
    /* Streaming answer (sbx_http_stream_*): */
    bool streaming, stream_chunked, stream_head;
    size_t inflight; /* bytes handed to uv_write whose callback has not run */
    sbx_http_drain_fn *drain;   /* set while the caller waits for room */
    void *drain_ud;
    uv_shutdown_t shutdown;
    uv_timer_t *linger;
};

struct write_req {
    uv_write_t w;
    struct sbx_http_conn *conn;
    char *data;
    size_t len;
};

static const llhttp_settings_t *parser_settings(void);
static void conn_close(struct sbx_http_conn *c);
static void conn_parse(struct sbx_http_conn *c, const char *p, size_t n);
static void conn_finish(struct sbx_http_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_linger_closed(uv_handle_t *h);

const char *sbx_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* ---- requests ----------------------------------------------------------- */

static void req_free(struct sbx_http_req *r)
{
    size_t i;

    if (!r)
        return;
    if (r->body_free)
        r->body_free(r->body_ud);
    for (i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->method_name);
    free(r->target);
    free(r->path);
    free(r->query);
    sbx_buf_free(&r->body);
    free(r);
}

static struct sbx_http_req *req_new(struct sbx_http_conn *c)
{
    struct sbx_http_req *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    sbx_buf_init(&r->body, 0);
    r->content_length = -1;
    r->body_max = SBX_HTTP_DEFAULT_BODY_MAX;
    r->conn = c;
    return r;
}

const char *sbx_http_req_header(const struct sbx_http_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

bool sbx_http_req_connected(const struct sbx_http_req *req)
{
    return req->conn && !req->conn->closed;
}

static void conn_maybe_free(struct sbx_http_conn *c);

int sbx_http_hijack(struct sbx_http_req *req, int *fd, struct sbx_buf *rest)
{
    struct sbx_http_conn *c = req->conn;
    uv_os_fd_t ufd;
    int nfd, rc;

    if (!c || !c->hijacking || c->req != req || c->streaming)
        return -EINVAL;
    c->req = NULL;
    c->busy = false;
    req_free(req);
    if (c->closed) {
        conn_maybe_free(c);
        return -EPIPE;
    }
    rc = uv_fileno(&c->h.handle, &ufd);
    nfd = rc == 0 ? fcntl(ufd, F_DUPFD_CLOEXEC, 3) : -1;
    if (nfd < 0) {
        conn_close(c);
        return rc < 0 ? rc : -errno;
    }
    rc = sbx_buf_add(rest, c->pending.ptr, c->pending.len);
    if (rc < 0) {
        close(nfd);
        conn_close(c);
        return rc;
    }
    /* libuv forgets the descriptor it closes (its epoll entry goes with
     * it); the duplicate keeps the socket open for the caller. */
    conn_close(c);
    *fd = nfd;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sbx_http_decode(const char *s, size_t len, bool plus_as_space, struct sbx_buf *out)
{
    size_t i;
    int rc;

    for (i = 0; i < len; i++) {
        char ch = s[i];

        if (ch == '%') {
            int hi, lo;

            if (i + 2 >= len)
                return -EINVAL;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus_as_space) {
            ch = ' ';
        }
        rc = sbx_buf_addch(out, ch);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sbx_http_query_get(const char *query, const char *key, struct sbx_buf *out)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p && *p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        struct sbx_buf k = SBX_BUF_INIT;
        int rc = sbx_http_decode(p, (size_t)(kend - p), true, &k);

        if (rc == 0 && k.len == klen && memcmp(k.ptr, key, klen) == 0) {
            sbx_buf_free(&k);
            if (eq)
                return sbx_http_decode(eq + 1, (size_t)(end - eq - 1), true, out) < 0 ? -EINVAL
                                                                                       : 1;
            return 1;
        }
        sbx_buf_free(&k);
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------ */


static void on_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct sbx_http_conn *c = wr->conn;

    c->inflight -= wr->len;
    free(wr->data);
    free(wr);
    c->writes--;
    if (c->closed) {
        conn_maybe_free(c);
        return;
    }
    if (status < 0) {
        /* The peer is gone (EPIPE, ECONNRESET): a waiting stream learns it
         * from conn_close. */
        conn_close(c);
        return;
    }
    /* Counting bytes until their callback (not just until the kernel took
     * them) bounds memory even when every write completes at once, and
     * makes a fast stream yield to the loop at each wait. */
    if (c->drain && c->inflight <= SBX_HTTP_STREAM_HWM / 2) {
        sbx_http_drain_fn *fn = c->drain;

        c->drain = NULL;
        fn(c->req, 0, c->drain_ud);
    }
}

static int conn_write(struct sbx_http_conn *c, char *data, size_t len)
{
    struct write_req *wr;
    uv_buf_t b;
    int rc;

    if (c->closed) {
        free(data);
        return -EPIPE;
    }
    wr = malloc(sizeof(*wr));
    if (!wr) {
        free(data);
        return -ENOMEM;
    }
    wr->conn = c;
    wr->data = data;
    wr->len = len;
    b = uv_buf_init(data, (unsigned int)len);
    rc = uv_write(&wr->w, &c->h.stream, &b, 1, on_write);
    if (rc < 0) {
        free(data);
        free(wr);
        return rc;
    }
    c->writes++;
    c->inflight += len;
    return 0;
}

/* Writes what out holds (taking it) when rc, the status of building it, is
 * 0; frees it otherwise. Returns rc or the write's status. */
static int conn_write_buf(struct sbx_http_conn *c, struct sbx_buf *out, int rc)
{
    char *data;
    size_t dlen;

    if (rc < 0) {
        sbx_buf_free(out);
        return rc;
    }
    data = sbx_buf_detach(out, &dlen);
    return data ? conn_write(c, data, dlen) : -ENOMEM;
}

static int build_response(struct sbx_buf *out, int status, const char *content_type,
                          const char *extra_headers, const void *body, size_t len,
                          bool keep_alive, bool head)
{
    int rc;

    if (status == 204 || status == 304) /* no body, and no headers about one (RFC 9110) */
        return sbx_buf_addf(out, "HTTP/1.1 %d %s\r\nConnection: %s\r\n%s\r\n", status,
                            sbx_http_reason(status), keep_alive ? "keep-alive" : "close",
                            extra_headers ? extra_headers : "");
    rc = sbx_buf_addf(out,
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n"
                      "Connection: %s\r\n"
                      "%s\r\n",
                      status, sbx_http_reason(status),
                      content_type ? content_type : "application/octet-stream", len,
                      keep_alive ? "keep-alive" : "close", extra_headers ? extra_headers : "");
    if (rc == 0 && !head)
        rc = sbx_buf_add(out, body, len);
    return rc;
}

/* After an answer: close (gracefully) or go on with the next request, first
 * from what was read but not parsed yet. Inside llhttp_execute the caller
 * goes on parsing by itself. */
static void conn_after_answer(struct sbx_http_conn *c)
{
    struct sbx_buf rest;

    c->busy = false;
    c->req = NULL;
    if (c->close_after) {
        conn_finish(c);
        return;
    }
    if (c->in_execute)
        return;
    llhttp_resume(&c->parser);
    rest = c->pending;
    sbx_buf_init(&c->pending, 0);
    if (rest.len)
        conn_parse(c, rest.ptr, rest.len);
    sbx_buf_free(&rest);
    if (!c->closed && !c->busy && !c->draining && c->eof) {
        conn_finish(c);
        return;
    }
    if (!c->closed && !c->busy && !c->draining && c->read_stopped) {
        c->read_stopped = false;
        uv_read_start(&c->h.stream, on_alloc, on_read);
    }
}

int sbx_http_respond(struct sbx_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len)
{
    struct sbx_http_conn *c = req->conn;
    struct sbx_buf out = SBX_BUF_INIT;
    bool keep, head;
    char *data;
    size_t dlen;
    int rc;

    if (!c || c->closed) {
        if (c && c->req == req) {
            c->req = NULL;
            c->busy = false;
        }
        req_free(req);
        if (c)
            conn_maybe_free(c);
        return -EPIPE;
    }
    if (c->hijacking)
        c->close_after = true; /* the body was not read */
    keep = !c->close_after && !c->srv->closing && llhttp_should_keep_alive(&c->parser);
    if (!keep)
        c->close_after = true;
    head = req->method == SBX_HTTP_HEAD;
    rc = build_response(&out, status, content_type, extra_headers, body, len, keep, head);
    req_free(req);
    if (rc < 0) {
        sbx_buf_free(&out);
        c->close_after = true;
        conn_after_answer(c);
        return rc;
    }
    data = sbx_buf_detach(&out, &dlen);
    rc = data ? conn_write(c, data, dlen) : -ENOMEM;
    conn_after_answer(c);
    return rc;
}

int sbx_http_respond_json(struct sbx_http_req *req, int status, const char *json, size_t len)
{
    return sbx_http_respond(req, status, "application/json", NULL, json, len);
}

int sbx_http_respond_detail(struct sbx_http_req *req, int status, const char *detail)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int rc;

    rc = sbx_buf_addstr(&b, "{\"detail\":");
    if (rc == 0)
        rc = sbx_json_quote(&b, detail, strlen(detail));
    if (rc == 0)
        rc = sbx_buf_addch(&b, '}');
    if (rc < 0) {
        sbx_buf_free(&b);
        return sbx_http_respond_json(req, 500, "{}", 2) < 0 ? rc : rc;
    }
    rc = sbx_http_respond_json(req, status, b.ptr, b.len);
    sbx_buf_free(&b);
    return rc;
}

/* ---- streaming answers ------------------------------------------------------ */

int sbx_http_stream_start(struct sbx_http_req *req, int status, const char *content_type,
                          const char *extra_headers, int64_t content_length)
{
    struct sbx_http_conn *c = req->conn;
    struct sbx_buf out = SBX_BUF_INIT;
    bool keep;
    int rc;

    if (!c || c->closed)
        return -EPIPE;
    if (c->streaming || c->req != req)
        return -EINVAL;
    if (c->hijacking)
        c->close_after = true;
    keep = !c->close_after && !c->srv->closing && llhttp_should_keep_alive(&c->parser);
    if (!keep)
        c->close_after = true;
    rc = sbx_buf_addf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status,
                      sbx_http_reason(status),
                      content_type ? content_type : "application/octet-stream");
    if (rc == 0 && content_length >= 0)
        rc = sbx_buf_addf(&out, "Content-Length: %lld\r\n", (long long)content_length);
    else if (rc == 0)
        rc = sbx_buf_addstr(&out, "Transfer-Encoding: chunked\r\n");
    if (rc == 0)
        rc = sbx_buf_addf(&out, "Connection: %s\r\n%s\r\n", keep ? "keep-alive" : "close",
                          extra_headers ? extra_headers : "");
    rc = conn_write_buf(c, &out, rc);
    if (rc < 0)
        return rc;
    c->streaming = true;
    c->stream_chunked = content_length < 0;
    c->stream_head = req->method == SBX_HTTP_HEAD;
    return 0;
}

int sbx_http_stream_write(struct sbx_http_req *req, const void *p, size_t n,
                          sbx_http_drain_fn *drained, void *ud)
{
    struct sbx_http_conn *c = req->conn;
    struct sbx_buf out = SBX_BUF_INIT;
    int rc;

    if (!c || c->closed)
        return -EPIPE;
    if (!c->streaming || c->req != req || c->drain)
        return -EINVAL;
    if (c->stream_head || n == 0)
        return 0;
    if (c->stream_chunked)
        rc = sbx_buf_addf(&out, "%zx\r\n", n);
    else
        rc = 0;
    if (rc == 0)
        rc = sbx_buf_add(&out, p, n);
    if (rc == 0 && c->stream_chunked)
        rc = sbx_buf_add(&out, "\r\n", 2);
    rc = conn_write_buf(c, &out, rc);
    if (rc < 0)
        return rc;
    /* on_write runs later (never inside uv_write) for this write, so a
     * waiting caller is always woken. */
    if (c->inflight > SBX_HTTP_STREAM_HWM) {
        c->drain = drained;
        c->drain_ud = ud;
        return SBX_HTTP_STREAM_WAIT;
    }
    return 0;
}

int sbx_http_stream_end(struct sbx_http_req *req)
{
    struct sbx_http_conn *c = req->conn;
    char *data;
    int rc = 0;

    if (!c || c->closed) {
        if (c) {
            c->streaming = false;
            c->drain = NULL;
        }
        return sbx_http_respond(req, 500, NULL, NULL, NULL, 0); /* frees, -EPIPE */
    }
    c->streaming = false;
    c->drain = NULL;
    if (c->stream_chunked && !c->stream_head) {
        data = strdup("0\r\n\r\n");
        rc = data ? conn_write(c, data, 5) : -ENOMEM;
        if (rc < 0)
            c->close_after = true;
    }
    req_free(req);
    conn_after_answer(c);
    return rc;
}

void sbx_http_stream_abort(struct sbx_http_req *req)
{
    struct sbx_http_conn *c = req->conn;

    if (c) {
        c->streaming = false;
        c->drain = NULL;
        if (c->req == req) {
            c->req = NULL;
            c->busy = false;
        }
    }
    req_free(req);
    if (!c)
        return;
    if (c->closed)
        conn_maybe_free(c);
    else
        conn_close(c);
}

/* An answer sent before the request was complete (limits, early rejects):
 * the rest of the request is not read, so the connection must close. */
static void conn_reject(struct sbx_http_conn *c, int status, const char *detail)
{
    struct sbx_http_req *req = c->req;

    c->rejected = true;
    c->close_after = true;
    if (!req) {
        req = req_new(c);
        if (!req) {
            conn_close(c);
            return;
        }
        c->req = req;
    }
    c->busy = true;
    sbx_http_respond_detail(req, status, detail);
}

/* ---- parser callbacks ---------------------------------------------------- */

#define CONN(p) ((struct sbx_http_conn *)(p)->data)

static int count_header_bytes(struct sbx_http_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > SBX_HTTP_HEADERS_MAX) {
        conn_reject(c, 431, "request headers too large: the limit is 65536 bytes");
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct sbx_http_conn *c = CONN(p);

    c->req = req_new(c);
    if (!c->req)
        return -1;
    c->header_bytes = 0;
    c->in_value = false;
    sbx_buf_reset(&c->field);
    sbx_buf_reset(&c->value);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct sbx_http_conn *c = CONN(p);
    struct sbx_buf b = SBX_BUF_INIT;

    if (count_header_bytes(c, n) < 0)
        return -1;
    if (c->req->target) {
        if (sbx_buf_addstr(&b, c->req->target) < 0)
            return -1;
        free(c->req->target);
    }
    if (sbx_buf_add(&b, at, n) < 0) {
        sbx_buf_free(&b);
        return -1;
    }
    c->req->target = sbx_buf_detach(&b, NULL);
    return c->req->target ? 0 : -1;
}

static int add_header(struct sbx_http_conn *c)
{
    struct sbx_http_req *r = c->req;
    struct sbx_http_header *h;

    if (!c->field.len)
        return 0;
    h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
    if (!h)
        return -1;
    r->headers = h;
    h[r->nheaders].name = sbx_buf_detach(&c->field, NULL);
    h[r->nheaders].value = sbx_buf_detach(&c->value, NULL);
    if (!h[r->nheaders].name || !h[r->nheaders].value) {
        free(h[r->nheaders].name);
        free(h[r->nheaders].value);
        return -1;
    }
    r->nheaders++;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct sbx_http_conn *c = CONN(p);

    if (count_header_bytes(c, n) < 0)
        return -1;
    if (c->in_value) {
        if (add_header(c) < 0)
            return -1;
        c->in_value = false;
    }
    return sbx_buf_add(&c->field, at, n) < 0 ? -1 : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct sbx_http_conn *c = CONN(p);

    if (count_header_bytes(c, n) < 0)
        return -1;
    c->in_value = true;
    return sbx_buf_add(&c->value, at, n) < 0 ? -1 : 0;
}

static enum sbx_http_method method_of(const char *m)
{
    static const struct {
        const char *name;
        enum sbx_http_method m;
    } tab[] = {
        {"GET", SBX_HTTP_GET},       {"HEAD", SBX_HTTP_HEAD},     {"POST", SBX_HTTP_POST},
        {"PUT", SBX_HTTP_PUT},       {"DELETE", SBX_HTTP_DELETE}, {"PATCH", SBX_HTTP_PATCH},
        {"OPTIONS", SBX_HTTP_OPTIONS},
    };
    size_t i;

    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcmp(tab[i].name, m) == 0)
            return tab[i].m;
    return SBX_HTTP_OTHER;
}

static int split_target(struct sbx_http_req *r)
{
    const char *t = r->target ? r->target : "/";
    const char *q = strchr(t, '?');
    size_t plen = q ? (size_t)(q - t) : strlen(t);
    struct sbx_buf path = SBX_BUF_INIT;

    if (sbx_http_decode(t, plen, false, &path) < 0 || memchr(path.ptr, '\0', path.len)) {
        sbx_buf_free(&path);
        return -EINVAL;
    }
    r->path = sbx_buf_detach(&path, NULL);
    r->query = strdup(q ? q + 1 : "");
    return r->path && r->query ? 0 : -ENOMEM;
}

static int on_headers_complete(llhttp_t *p)
{
    struct sbx_http_conn *c = CONN(p);
    struct sbx_http_req *r = c->req;
    char detail[256] = "";
    int status;

    if (c->in_value && add_header(c) < 0)
        return -1;
    c->in_value = false;
    r->method_name = strdup(llhttp_method_name((llhttp_method_t)p->method));
    if (!r->method_name)
        return -1;
    r->method = method_of(r->method_name);
    r->chunked = (p->flags & F_CHUNKED) != 0;
    r->content_length = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    if (split_target(r) < 0) {
        conn_reject(c, 400, "invalid request target: malformed percent-encoding");
        return -1;
    }
    if (c->srv->on_headers) {
        status = c->srv->on_headers(r, detail, sizeof(detail), c->srv->ud);
        if (status) {
            /* A request without a body is answered when complete, and the
             * connection is kept; one with a body is not read further. */
            if (r->content_length <= 0 && !r->chunked) {
                c->early_status = status;
                memcpy(c->early_detail, detail, sizeof(c->early_detail));
                return 0;
            }
            conn_reject(c, status, detail);
            return -1;
        }
    }
    if (r->hijack) {
        /* conn_parse hands it over at the end of the headers */
        c->hijacking = true;
        return HPE_PAUSED;
    }
    if (r->content_length >= 0 && (uint64_t)r->content_length > r->body_max) {
        snprintf(detail, sizeof(detail), "request body too large: %lld bytes, the limit is %zu",
                 (long long)r->content_length, r->body_max);
        conn_reject(c, 413, detail);
        return -1;
    }
    if (!r->body_fn)
        r->body.max = r->body_max + 1;
    /* curl and others wait (a second, for curl) for this before sending a
     * large body; the request was accepted, so say so at once. */
    {
        const char *expect = sbx_http_req_header(r, "Expect");

        if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_major == 1 &&
            p->http_minor >= 1 && (r->content_length > 0 || r->chunked)) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            char *msg = malloc(sizeof(cont) - 1);

            if (!msg)
                return -1;
            memcpy(msg, cont, sizeof(cont) - 1);
            conn_write(c, msg, sizeof(cont) - 1);
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct sbx_http_conn *c = CONN(p);
    struct sbx_http_req *r = c->req;
    char detail[256];

    if (r->body_fn) {
        int status = r->body_fn(r, at, n, r->body_ud);

        if (status) {
            conn_reject(c, status, r->reject_detail[0] ? r->reject_detail : "request rejected");
            return -1;
        }
        return 0;
    }
    if (r->body.len + n > r->body_max) {
        snprintf(detail, sizeof(detail), "request body too large: the limit is %zu bytes",
                 r->body_max);
        conn_reject(c, 413, detail);
        return -1;
    }
    return sbx_buf_add(&r->body, at, n) < 0 ? -1 : 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct sbx_http_conn *c = CONN(p);
    struct sbx_http_req *r = c->req;

    c->busy = true;
    if (!llhttp_should_keep_alive(p))
        c->close_after = true;
    if (c->early_status) {
        int status = c->early_status;

        c->early_status = 0;
        sbx_http_respond_detail(r, status, c->early_detail);
    } else {
        c->srv->on_request(r, c->srv->ud);
    }
    /* Answered synchronously: go on with a pipelined request in the same
     * buffer. Otherwise pause until the answer comes. */
    return c->busy || c->closed || c->draining ? HPE_PAUSED : 0;
}

static const llhttp_settings_t *parser_settings(void)
{
    static llhttp_settings_t s;
    static bool init;

    if (!init) {
        llhttp_settings_init(&s);
        s.on_message_begin = on_message_begin;
        s.on_url = on_url;
        s.on_header_field = on_header_field;
        s.on_header_value = on_header_value;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        init = true;
    }
    return &s;
}

/* ---- connections ---------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sbx_http_conn *c = h->data;

    (void)suggested;
    buf->base = c->srv->rbuf;
    buf->len = sizeof(c->srv->rbuf);
}

/* Input that arrives while a request awaits its answer (pipelining) is
 * kept; reading pauses only once a lot is waiting, which spares two
 * epoll_ctl calls per request in the common case. */
#define PENDING_MAX ((size_t)1 << 20)

static void keep_pending(struct sbx_http_conn *c, const char *p, size_t n)
{
    if (sbx_buf_add(&c->pending, p, n) < 0) {
        conn_close(c);
        return;
    }
    if (c->pending.len > PENDING_MAX && !c->read_stopped) {
        c->read_stopped = true;
        uv_read_stop(&c->h.stream);
    }
}

static void conn_parse(struct sbx_http_conn *c, const char *p, size_t n)
{
    llhttp_errno_t e;
    char detail[256];

    if (c->rejected || c->closed || c->draining)
        return;
    c->in_execute = true;
    e = llhttp_execute(&c->parser, p, n);
    c->in_execute = false;
    if (c->closed || c->draining)
        return;
    if (e == HPE_OK)
        return;
    if (e == HPE_PAUSED) {
        const char *stop = llhttp_get_error_pos(&c->parser);
        size_t used = stop ? (size_t)(stop - p) : n;

        if (c->hijacking && !c->busy) {
            /* The request goes to the application with what follows its
             * headers unparsed: kept for sbx_http_hijack. */
            c->busy = true;
            if (used < n)
                keep_pending(c, p + used, n - used);
            if (!c->closed)
                c->srv->on_request(c->req, c->srv->ud);
            return;
        }
        if (c->busy) {
            /* Answered later: keep what follows for then. */
            if (used < n)
                keep_pending(c, p + used, n - used);
            return;
        }
        llhttp_resume(&c->parser);
        if (used < n)
            conn_parse(c, p + used, n - used);
        return;
    }
    if (c->rejected)
        return;
    if (e == HPE_USER || e == HPE_CB_MESSAGE_BEGIN) {
        conn_close(c);
        return;
    }
    snprintf(detail, sizeof(detail), "invalid HTTP request: %s",
             llhttp_get_error_reason(&c->parser));
    conn_reject(c, 400, detail);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct sbx_http_conn *c = s->data;

    if (c->draining) {
        if (nread < 0)
            conn_close(c);
        return;
    }
    if (nread > 0) {
        if (c->busy)
            keep_pending(c, buf->base, (size_t)nread);
        else
            conn_parse(c, buf->base, (size_t)nread);
    } else if (nread < 0) {
        if (nread == UV_EOF && c->busy) {
            /* The client is done sending (shutdown after its requests):
             * answer what was read, then close. */
            c->eof = true;
            c->read_stopped = true;
            uv_read_stop(&c->h.stream);
            return;
        }
        if (nread == UV_EOF && !c->rejected)
            llhttp_finish(&c->parser);
        conn_close(c);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct sbx_http_conn *c = h->data;
    struct sbx_http_server *srv = c->srv;

    srv->open_handles--;
    c->h.handle.data = NULL;
    conn_maybe_free(c);
}

static void server_maybe_free(struct sbx_http_server *s);

static void conn_maybe_free(struct sbx_http_conn *c)
{
    struct sbx_http_server *srv = c->srv;

    /* Freed when the handle is closed, no write is in flight and no request
     * awaits an answer (a late answer needs the struct to find out the
     * connection is gone). */
    if (!c->closed || c->h.handle.data || c->writes > 0 || c->busy || c->linger)
        return;
    if (c->req) {
        req_free(c->req);
        c->req = NULL;
    }
    sbx_buf_free(&c->field);
    sbx_buf_free(&c->value);
    sbx_buf_free(&c->pending);
    free(c);
    srv->live_conns--;
    if (srv->closing)
        server_maybe_free(srv);
}

static void conn_close(struct sbx_http_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    if (c->linger) {
        uv_timer_stop(c->linger);
        uv_close((uv_handle_t *)c->linger, on_linger_closed);
    }
    /* A request still being parsed (not handed to the application) dies here. */
    if (c->req && !c->busy) {
        req_free(c->req);
        c->req = NULL;
    }
    uv_close(&c->h.handle, on_conn_closed);
    /* A stream waiting for room learns that there will be none. */
    if (c->drain) {
        sbx_http_drain_fn *fn = c->drain;

        c->drain = NULL;
        fn(c->req, -EPIPE, c->drain_ud);
    }
}

static void on_linger_closed(uv_handle_t *h)
{
    struct sbx_http_conn *c = h->data;

    free(h);
    c->linger = NULL;
    c->srv->open_handles--;
    conn_maybe_free(c);
}

static void on_linger_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Closes after an answer that ends the connection: the write side is shut
 * down once the answer is out, and what the client still sends is read and
 * dropped for a while, so that unread data cannot turn into a reset that
 * destroys the answer before the client reads it. */
static void conn_finish(struct sbx_http_conn *c)
{
    if (c->closed || c->draining)
        return;
    c->draining = true;
    if (uv_shutdown(&c->shutdown, &c->h.stream, on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    c->linger = malloc(sizeof(*c->linger));
    if (c->linger && uv_timer_init(c->srv->loop, c->linger) == 0) {
        c->linger->data = c;
        c->srv->open_handles++;
        uv_timer_start(c->linger, on_linger_timeout, 2000, 0);
    } else {
        free(c->linger);
        c->linger = NULL;
    }
    uv_read_start(&c->h.stream, on_alloc, on_read);
}

/* A new connection on handle type `pipe` (unix socket or adopted fd) or TCP;
 * `init` is done, the caller accepts or opens into c->h. */
static struct sbx_http_conn *conn_new(struct sbx_http_server *srv, bool pipe)
{
    struct sbx_http_conn *c = calloc(1, sizeof(*c));
    int rc;

    if (!c)
        return NULL;
    c->srv = srv;
    sbx_buf_init(&c->field, SBX_HTTP_HEADERS_MAX);
    sbx_buf_init(&c->value, SBX_HTTP_HEADERS_MAX);
    sbx_buf_init(&c->pending, 0);
    rc = pipe ? uv_pipe_init(srv->loop, &c->h.pipe, 0) : uv_tcp_init(srv->loop, &c->h.tcp);
    if (rc < 0) {
        free(c);
        return NULL;
    }
    c->h.handle.data = c;
    srv->open_handles++;
    srv->live_conns++;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    llhttp_init(&c->parser, HTTP_REQUEST, parser_settings());
    c->parser.data = c;
    return c;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct sbx_http_server *srv = server->data;
    struct sbx_http_conn *c;

    if (status < 0)
        return;
    c = conn_new(srv, srv->is_unix);
    if (!c)
        return;
    if (uv_accept(server, &c->h.stream) < 0) {
        conn_close(c);
        return;
    }
    if (!srv->is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    uv_read_start(&c->h.stream, on_alloc, on_read);
}

int sbx_http_server_adopt(struct sbx_http_server *s, int fd)
{
    struct sbx_http_conn *c = conn_new(s, true);
    int rc;

    if (!c)
        return -ENOMEM;
    rc = uv_pipe_open(&c->h.pipe, fd);
    if (rc < 0) {
        close(fd); /* ours from the call on, as the header says */
        conn_close(c);
        return rc;
    }
    uv_read_start(&c->h.stream, on_alloc, on_read);
    return 0;
}

/* ---- server ----------------------------------------------------------------- */

struct sbx_http_server *sbx_http_server_new(struct sbx_loop *sloop,
                                            const struct sbx_http_server_opts *o,
                                            struct sbx_err *err)
{
    struct sbx_http_server *s = calloc(1, sizeof(*s));
    uv_loop_t *loop = sbx__loop_uv(sloop);
    int rc;

    if (!s) {
        sbx_err_set(err, -ENOMEM, "http server: out of memory");
        return NULL;
    }
    s->loop = loop;
    s->on_headers = o->on_headers;
    s->on_request = o->on_request;
    s->ud = o->ud;
    if (o->no_listen)
        return s;
    if (o->use_listen_fd) {
        int domain = 0;
        socklen_t dlen = sizeof(domain);

        /* Inherited without CLOEXEC; nothing the server spawns may hold it. */
        if (fcntl(o->listen_fd, F_SETFD, FD_CLOEXEC) < 0 ||
            getsockopt(o->listen_fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) {
            rc = -errno;
            sbx_err_set(err, rc, "listen on fd %d: %s", o->listen_fd, strerror(-rc));
            free(s);
            return NULL;
        }
        if (domain == AF_UNIX) {
            s->is_unix = true;
            rc = uv_pipe_init(loop, &s->listener.pipe, 0);
            if (rc == 0) {
                s->listener.handle.data = s;
                s->open_handles++;
                rc = uv_pipe_open(&s->listener.pipe, o->listen_fd);
            }
        } else {
            rc = uv_tcp_init(loop, &s->listener.tcp);
            if (rc == 0) {
                s->listener.handle.data = s;
                s->open_handles++;
                rc = uv_tcp_open(&s->listener.tcp, o->listen_fd);
            }
        }
    } else if (o->unix_path) {
        s->is_unix = true;
        s->unix_path = strdup(o->unix_path);
        rc = s->unix_path ? uv_pipe_init(loop, &s->listener.pipe, 0) : UV_ENOMEM;
        if (rc == 0) {
            s->listener.handle.data = s;
            s->open_handles++;
            unlink(o->unix_path);
            rc = uv_pipe_bind(&s->listener.pipe, o->unix_path);
        }
    } else {
        struct sockaddr_storage ss;
        const char *host = o->host ? o->host : "0.0.0.0";

        rc = uv_ip4_addr(host, o->port, (struct sockaddr_in *)&ss);
        if (rc < 0)
            rc = uv_ip6_addr(host, o->port, (struct sockaddr_in6 *)&ss);
        if (rc < 0) {
            sbx_err_set(err, rc, "listen on %s: not an IP address", host);
            free(s);
            return NULL;
        }
        rc = uv_tcp_init(loop, &s->listener.tcp);
        if (rc == 0) {
            s->listener.handle.data = s;
            s->open_handles++;
            rc = uv_tcp_bind(&s->listener.tcp, (struct sockaddr *)&ss, 0);
        }
    }
    if (rc == 0)
        rc = uv_listen(&s->listener.stream, 511, on_connection);
    if (rc < 0) {
        sbx_err_set(err, rc, "listen on %s: %s",
                    o->use_listen_fd ? "the inherited socket"
                    : o->unix_path  ? o->unix_path
                                    : "tcp port",
                    uv_strerror(rc));
        sbx_http_server_close(s);
        return NULL;
    }
    if (o->use_listen_fd && s->is_unix) {
        /* nothing to chmod or report: the parent owns the path */
    } else if (o->unix_path) {
        chmod(o->unix_path, 0660);
    } else {
        struct sockaddr_storage ss;
        int len = sizeof(ss);

        if (uv_tcp_getsockname(&s->listener.tcp, (struct sockaddr *)&ss, &len) == 0)
            s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return s;
}

int sbx_http_server_port(const struct sbx_http_server *s)
{
    return s->port;
}

static void server_maybe_free(struct sbx_http_server *s)
{
    if (s->open_handles > 0 || s->conns || s->live_conns > 0)
        return;
    if (s->unix_path)
        unlink(s->unix_path);
    free(s->unix_path);
    free(s);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct sbx_http_server *s = h->data;

    s->open_handles--;
    server_maybe_free(s);
}

void sbx_http_server_close(struct sbx_http_server *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    while (s->conns)
        conn_close(s->conns);
    if (s->open_handles > 0 && s->listener.handle.data)
        uv_close(&s->listener.handle, on_listener_closed);
    else
        server_maybe_free(s);
}
