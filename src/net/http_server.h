#ifndef SBX_NET_HTTP_SERVER_H
#define SBX_NET_HTTP_SERVER_H

/*
 * HTTP/1.1 server on libuv + llhttp: keep-alive, pipelining (one request at a
 * time per connection, answered in order), Content-Length and chunked request
 * bodies, limits on header and body size, TCP or unix-socket listeners.
 *
 * A handler runs on the loop thread when a request is complete; it answers
 * with sbx_http_respond() either at once or later (asynchronously): the
 * connection reads nothing more until the answer is written. Every request
 * must be answered exactly once, even when its connection has gone away
 * (the answer is then dropped and the request freed).
 *
 * Thread-safety: everything runs on the one loop thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "sbx/err.h"

struct sbx_loop;
struct sbx_http_server;
struct sbx_http_conn;

enum sbx_http_method {
    SBX_HTTP_OTHER = 0,
    SBX_HTTP_GET,
    SBX_HTTP_HEAD,
    SBX_HTTP_POST,
    SBX_HTTP_PUT,
    SBX_HTTP_DELETE,
    SBX_HTTP_PATCH,
    SBX_HTTP_OPTIONS,
};

struct sbx_http_header {
    char *name;
    char *value;
};

struct sbx_http_req;

/* Streaming body sink: called with each piece of body as it arrives instead
 * of buffering it. Return 0 to go on, or an HTTP status (4xx/5xx) to abort:
 * the server then answers with that status and req->reject_detail. */
typedef int sbx_http_body_fn(struct sbx_http_req *req, const char *p, size_t n, void *ud);
/* Releases body_ud: called exactly once when the request is freed, however
 * that happens (answered, or dropped with its connection mid-body). */
typedef void sbx_http_body_free_fn(void *ud);

struct sbx_http_req {
    enum sbx_http_method method;
    char *method_name;
    char *target;  /* raw request target */
    char *path;    /* percent-decoded path, without the query */
    char *query;   /* raw query (after '?'), "" when none */
    struct sbx_http_header *headers;
    size_t nheaders;
    struct sbx_buf body;     /* the body, unless body_fn is set */
    bool chunked;
    int64_t content_length;  /* -1 when absent */
    /* Set by the headers callback: */
    size_t body_max;               /* default SBX_HTTP_DEFAULT_BODY_MAX */
    sbx_http_body_fn *body_fn;     /* optional streaming sink */
    void *body_ud;
    sbx_http_body_free_fn *body_free; /* optional, releases body_ud */
    char reject_detail[256];       /* detail for a status returned by body_fn */
    /* Set by the headers callback to take the connection over (proxies,
     * WebSocket upgrades): the body is not read, on_request is called at
     * once, and the handler either answers as usual (the connection then
     * closes after the answer) or calls sbx_http_hijack(). */
    bool hijack;
    void *route_ud;                /* free for the application */
    struct sbx_http_conn *conn;    /* internal */
};

#define SBX_HTTP_DEFAULT_BODY_MAX ((size_t)64 << 20)
#define SBX_HTTP_HEADERS_MAX ((size_t)64 << 10)

/* Called when the request line and headers are in. Return 0 to accept, or an
 * HTTP status to answer at once (with `detail` filled, at most 255 bytes);
 * the connection is then closed if a body was announced. */
typedef int sbx_http_headers_fn(struct sbx_http_req *req, char *detail, size_t detail_len,
                                void *ud);
/* Called when the whole request is in. */
typedef void sbx_http_request_fn(struct sbx_http_req *req, void *ud);

struct sbx_http_server_opts {
    const char *host;      /* TCP address to bind, default "0.0.0.0" */
    int port;              /* 0 = ephemeral */
    const char *unix_path; /* listen on a unix socket instead of TCP */
    sbx_http_headers_fn *on_headers; /* optional */
    sbx_http_request_fn *on_request; /* required */
    void *ud;
    bool no_listen;        /* serve only adopted connections (tests, fuzzing) */
    /* Serve an already bound socket (TCP or unix) handed over by the parent,
     * instead of binding: the local provider binds the server's socket
     * outside the sandbox's view. The fd is owned by the server from then on. */
    bool use_listen_fd;
    int listen_fd;
};

/* Binds and listens. Returns NULL and fills err on failure. */
struct sbx_http_server *sbx_http_server_new(struct sbx_loop *loop,
                                            const struct sbx_http_server_opts *o,
                                            struct sbx_err *err);
/* Serves an already connected stream socket fd (the server owns it from
 * now on, also on failure). Returns 0 or a negative errno. */
int sbx_http_server_adopt(struct sbx_http_server *s, int fd);
/* The bound TCP port (after an ephemeral bind), or 0 for a unix socket. */
int sbx_http_server_port(const struct sbx_http_server *s);
/* Stops listening and closes every connection; pending requests stay valid
 * until answered. Frees the server once all handles are closed. NULL-safe. */
void sbx_http_server_close(struct sbx_http_server *s);

/* Case-insensitive header lookup; NULL when absent. */
const char *sbx_http_req_header(const struct sbx_http_req *req, const char *name);
/* Finds key in a raw query string and appends its percent-decoded value
 * (`+` as space) to out. Returns 1 if found, 0 if not, or a negative errno. */
int sbx_http_query_get(const char *query, const char *key, struct sbx_buf *out);
/* Percent-decodes s into out (plus_as_space for query strings). -EINVAL on a
 * malformed escape. */
int sbx_http_decode(const char *s, size_t len, bool plus_as_space, struct sbx_buf *out);

/* Answers req with a full body and frees req. extra_headers (may be NULL) are
 * complete "Name: value\r\n" lines. Returns 0 or a negative errno (the
 * request is freed either way). */
int sbx_http_respond(struct sbx_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len);
/* sbx_http_respond with Content-Type application/json. */
int sbx_http_respond_json(struct sbx_http_req *req, int status, const char *json, size_t len);
/* Answers {"detail": "<detail>"} with status. */
int sbx_http_respond_detail(struct sbx_http_req *req, int status, const char *detail);
/*
 * Streaming answers: a body produced piece by piece, with backpressure.
 *
 * sbx_http_stream_start() sends the status line and headers; the body follows
 * with chunked transfer encoding, or with Content-Length when content_length
 * is >= 0 (the caller must then write exactly that many bytes). The request
 * stays owned by the server until sbx_http_stream_end() or
 * sbx_http_stream_abort(), one of which must be called exactly once (also
 * after a failure or a disconnect): that answers the request and frees it.
 *
 * sbx_http_stream_write() queues a copy of p. It returns 0 when the caller
 * may write again at once, SBX_HTTP_STREAM_WAIT when enough is queued (the
 * write was accepted; `drained` is called later, once, with status 0 when
 * there is room again), or a negative errno (-EPIPE: the client is gone;
 * drained is not called). Bytes count as queued until
 * their write has completed and its callback has run, so queued data never
 * exceeds SBX_HTTP_STREAM_HWM plus one write, and a stream whose client reads
 * as fast as it is written still waits once per HWM: it cannot starve the
 * loop's other connections. drained runs when the queue is down to half the
 * HWM. If the client disconnects while the caller waits, drained is called
 * with a negative status (-EPIPE); the caller then ends or aborts the
 * stream.
 */
#define SBX_HTTP_STREAM_WAIT 1
#define SBX_HTTP_STREAM_HWM ((size_t)1 << 20)
typedef void sbx_http_drain_fn(struct sbx_http_req *req, int status, void *ud);

/* Returns 0 or a negative errno; on failure the request is still owned by
 * the server and must be ended or aborted. */
int sbx_http_stream_start(struct sbx_http_req *req, int status, const char *content_type,
                          const char *extra_headers, int64_t content_length);
int sbx_http_stream_write(struct sbx_http_req *req, const void *p, size_t n,
                          sbx_http_drain_fn *drained, void *ud);
/* Ends the body (the chunked terminator), answers and frees req. Returns 0,
 * or -EPIPE if the client went away (req is freed either way). */
int sbx_http_stream_end(struct sbx_http_req *req);
/* Gives up mid-body: the connection is closed so that the client sees a
 * truncated answer, never a complete-looking one. Frees req. */
void sbx_http_stream_abort(struct sbx_http_req *req);

/* Takes over the connection of a request whose headers callback set
 * req->hijack: *fd gets the connection's socket (non-blocking, close-on-exec,
 * the caller's to close), `rest` gets what was read past the request's
 * headers (the start of the body, or more), and the server forgets the
 * connection. Frees req (copy what is needed of it first). Returns 0, or
 * -EPIPE when the client is gone (req freed all the same), -EINVAL when req
 * was not marked for it (req untouched). */
int sbx_http_hijack(struct sbx_http_req *req, int *fd, struct sbx_buf *rest);

/* Whether the request's connection is still open. */
bool sbx_http_req_connected(const struct sbx_http_req *req);

const char *sbx_http_reason(int status);

#endif
