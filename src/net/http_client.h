#ifndef SBX_NET_HTTP_CLIENT_H
#define SBX_NET_HTTP_CLIENT_H

/*
 * A blocking HTTP/1.1 client (libcurl easy interface; this module is the
 * only user of libcurl). One client keeps one easy handle, so consecutive
 * requests reuse the connection (keep-alive).
 *
 * A client has a base URL ("http://127.0.0.1:4444", "https://api.e2b.dev")
 * or a unix socket path (then the base URL defaults to "http://localhost"),
 * default headers sent with every request (API keys), and a connect timeout.
 * A request names a path (appended to the base URL) or a whole URL, a method,
 * extra headers, a body (memory, a file descriptor range, or multipart parts),
 * and where the response body goes: a bounded buffer (default), a file
 * descriptor, or a callback. Only 2xx bodies go to the descriptor or the
 * callback; any other answer's body lands in resp->body (first 64 KiB), so
 * callers can report the server's "detail".
 *
 * Errors (return values, with curl's message in err):
 *   -ECONNREFUSED  connection refused (also a unix socket that does not exist:
 *                  then -ENOENT; other connect errno values are passed on)
 *   -ETIMEDOUT     the request or the connect outlived its timeout
 *   -ECONNRESET    the connection dropped before a complete response (empty
 *                  reply, truncated body, reset): callers may retry
 *   -EPROTO        TLS failure (handshake, certificate verification)
 *   -EHOSTUNREACH  name resolution failed
 *   -E2BIG         the response body exceeded max_body_bytes, or the
 *                  headers 256 KiB
 *   -EINVAL        bad URL or arguments
 *   -ENOMEM, -EIO  otherwise; or the negative errno a callback returned
 * A non-2xx status is NOT an error here: it is in resp->status.
 *
 * No global state beyond curl_global_init(), run once (pthread_once).
 * Thread-safety: one thread at a time per client; clients are independent.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "sbx/err.h"

struct sbx_http_client;

struct sbx_http_client_opts {
    const char *base_url;          /* NULL with unix_path = "http://localhost" */
    const char *unix_path;         /* connect through this unix socket; NULL = TCP */
    const char *const *headers;    /* "Name: value" sent with every request; NULL-terminated */
    int64_t connect_timeout_ms;    /* 0 = 10000 */
    bool insecure;                 /* do not verify TLS peers (tests only) */
};

/* Receives response body bytes in order (2xx answers only). Returns 0 or a
 * negative errno that aborts the request (the request returns it). */
typedef int sbx_http_data_fn(const void *p, size_t n, void *ud);

/* One multipart/form-data part: data from memory, or from a descriptor range
 * (read with pread, so the descriptor's offset is not used or changed). */
struct sbx_http_part {
    const char *name;
    const char *filename;      /* NULL = none */
    const char *content_type;  /* NULL = curl's default */
    const void *data;
    size_t data_len;
    bool use_fd;
    int fd;
    int64_t fd_offset;
    int64_t fd_len;
};

struct sbx_http_req {
    const char *method;            /* NULL = GET, or POST when there is a body */
    /* Appended to the client's base URL, or a whole URL when it starts with
     * "http://" or "https://". Query strings are the caller's (see
     * sbx_http_url_encode). */
    const char *path;
    const char *const *headers;    /* extra "Name: value", NULL-terminated */
    /* Body: memory, a descriptor range, or multipart parts (one at most). */
    const void *body;
    size_t body_len;
    bool use_body_fd;
    int body_fd;
    int64_t body_fd_offset;
    int64_t body_fd_len;
    const struct sbx_http_part *parts;
    size_t n_parts;
    const char *content_type;      /* for body / body_fd; NULL = none sent */
    /* Response body: into resp->body (at most max_body_bytes, 0 = 64 MiB), or
     * to resp_fd (written at its current offset), or through on_data. */
    size_t max_body_bytes;
    bool use_resp_fd;
    int resp_fd;
    sbx_http_data_fn *on_data;
    void *on_data_ud;
    int64_t timeout_ms;            /* whole request; 0 = none */
    int64_t connect_timeout_ms;    /* 0 = the client's */
    /* -ETIMEDOUT once nothing moved either way for this long (a connection
     * that died without a reset); whole seconds; 0 = no limit */
    int64_t idle_timeout_ms;
};

struct sbx_http_resp {
    int status;                    /* the final status (after 1xx) */
    struct sbx_buf body;
    struct sbx_buf hdrs;           /* private: "name\0value\0" pairs of the final response */
};

void sbx_http_resp_init(struct sbx_http_resp *r);
/* Frees the body and headers and re-initialises r. NULL allowed. */
void sbx_http_resp_release(struct sbx_http_resp *r);
/* The value of a response header (case-insensitive name; the first one when
 * repeated), borrowed from r; NULL when absent. */
const char *sbx_http_resp_header(const struct sbx_http_resp *r, const char *name);

/* Returns NULL and fills err (-EINVAL, -ENOMEM, -EIO when libcurl cannot be
 * initialised) on failure. The options are copied. */
struct sbx_http_client *sbx_http_client_new(const struct sbx_http_client_opts *o,
                                            struct sbx_err *err);
void sbx_http_client_free(struct sbx_http_client *c);

/* Sends one request and reads the answer into resp (which the caller has
 * initialised; it is reset first). Returns 0 when a complete response
 * arrived, whatever its status; a negative errno as listed above. */
int sbx_http_request(struct sbx_http_client *c, const struct sbx_http_req *req,
                     struct sbx_http_resp *resp, struct sbx_err *err);

/* Appends s percent-encoded for a query value or a path segment (everything
 * but A-Z a-z 0-9 - . _ ~ is encoded) to out. */
int sbx_http_url_encode(struct sbx_buf *out, const char *s);

#endif
