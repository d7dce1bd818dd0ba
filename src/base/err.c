#include "sbx/err.h"

#include <stdio.h>
#include <string.h>

static void vset(struct sbx_err *err, const char *fmt, va_list ap)
{
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int sbx_err_set(struct sbx_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    err->http_status = 0;
    err->grpc_status = 0;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    return code;
}

int sbx_err_set_http(struct sbx_err *err, int code, int http_status, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    err->http_status = http_status;
    err->grpc_status = 0;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    return code;
}

int sbx_err_prefix(struct sbx_err *err, const char *fmt, ...)
{
    char ctx[SBX_ERR_MSG_MAX];
    char old[SBX_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return 0;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    /* Truncation is fine: the message is bounded by design. */
    {
        size_t n = strnlen(ctx, sizeof(err->msg) - 1);

        memcpy(err->msg, ctx, n);
        if (n + 2 < sizeof(err->msg)) {
            memcpy(err->msg + n, ": ", 2);
            n += 2;
        }
        size_t m = strnlen(old, sizeof(old));
        if (m > sizeof(err->msg) - 1 - n)
            m = sizeof(err->msg) - 1 - n;
        memcpy(err->msg + n, old, m);
        err->msg[n + m] = '\0';
    }
    return err->code;
}

void sbx_err_clear(struct sbx_err *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
}
