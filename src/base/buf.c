#include "base/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char sbx__buf_empty[1];

static size_t buf_max(const struct sbx_buf *b)
{
    return b->max ? b->max : SBX_BUF_DEFAULT_MAX;
}

void sbx_buf_init(struct sbx_buf *b, size_t max)
{
    b->ptr = sbx__buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sbx_buf_free(struct sbx_buf *b)
{
    if (!b)
        return;
    if (b->cap)
        free(b->ptr);
    sbx_buf_init(b, b->max);
}

void sbx_buf_reset(struct sbx_buf *b)
{
    b->len = 0;
    b->ptr[0] = '\0';
}

int sbx_buf_grow(struct sbx_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > buf_max(b) || b->len > buf_max(b) - extra)
        return -EMSGSIZE;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap < ((size_t)1 << 62) ? ncap * 2 : need;
    if (b->cap) {
        p = realloc(b->ptr, ncap);
    } else {
        p = malloc(ncap);
        if (p) {
            memcpy(p, b->ptr, b->len);
            p[b->len] = '\0';
        }
    }
    if (!p)
        return -ENOMEM;
    b->ptr = p;
    b->cap = ncap;
    return 0;
}

int sbx_buf_add(struct sbx_buf *b, const void *data, size_t len)
{
    int rc = sbx_buf_grow(b, len);

    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

int sbx_buf_addstr(struct sbx_buf *b, const char *s)
{
    return sbx_buf_add(b, s, strlen(s));
}

int sbx_buf_addch(struct sbx_buf *b, char c)
{
    return sbx_buf_add(b, &c, 1);
}

int sbx_buf_vaddf(struct sbx_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n, rc;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;
    rc = sbx_buf_grow(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sbx_buf_addf(struct sbx_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = sbx_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void sbx_buf_truncate(struct sbx_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->ptr[len] = '\0';
}

void sbx_buf_consume(struct sbx_buf *b, size_t n)
{
    if (n >= b->len) {
        sbx_buf_reset(b);
        return;
    }
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = '\0';
}

char *sbx_buf_detach(struct sbx_buf *b, size_t *len_out)
{
    char *p;

    if (len_out)
        *len_out = b->len;
    if (b->cap) {
        p = b->ptr;
    } else {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    sbx_buf_init(b, b->max);
    return p;
}
