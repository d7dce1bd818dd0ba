#ifndef SBX_ERR_H
#define SBX_ERR_H

/*
 * Error reporting for libsbx.
 *
 * Every fallible function returns 0 (or a non-negative count) on success and
 * a negative errno on failure. Detail goes into a caller-provided
 * struct sbx_err, which may be NULL. Filling it never allocates.
 * Thread-safety: a struct sbx_err belongs to one thread at a time.
 */

#include <stdarg.h>

#define SBX_ERR_MSG_MAX 256

struct sbx_err {
    int code;         /* negative errno, 0 when unset */
    int http_status;  /* HTTP status a server should answer with, 0 if none */
    int grpc_status;  /* gRPC status, 0 if none */
    char msg[SBX_ERR_MSG_MAX];
};

/* Fills err (if not NULL) with code and a printf-style message; returns code,
 * so that `return sbx_err_set(err, -ENOENT, "open %s: no such file", p);` works.
 * Messages are lowercase, without a final period, and name what failed first. */
int sbx_err_set(struct sbx_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same as sbx_err_set, and also records the HTTP status to answer with. */
int sbx_err_set_http(struct sbx_err *err, int code, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "context: " to the message already in err (if any); returns err->code
 * (or 0 when err is NULL). */
int sbx_err_prefix(struct sbx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to the empty state. NULL allowed. */
void sbx_err_clear(struct sbx_err *err);

#endif
