#include "base/base64.h"

#include <errno.h>
#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sbx_base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

int sbx_base64_encode(const void *data, size_t n, struct sbx_buf *out)
{
    const unsigned char *p = data;
    size_t want, i;
    char *w;
    int rc;

    if (n > (SIZE_MAX - 2) / 4 * 3)
        return -EMSGSIZE;
    want = sbx_base64_encoded_len(n);
    rc = sbx_buf_grow(out, want);
    if (rc < 0)
        return rc;
    w = out->ptr + out->len;
    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        *w++ = alphabet[v >> 18 & 63];
        *w++ = alphabet[v >> 12 & 63];
        *w++ = alphabet[v >> 6 & 63];
        *w++ = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;

        *w++ = alphabet[v >> 18 & 63];
        *w++ = alphabet[v >> 12 & 63];
        *w++ = '=';
        *w++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

        *w++ = alphabet[v >> 18 & 63];
        *w++ = alphabet[v >> 12 & 63];
        *w++ = alphabet[v >> 6 & 63];
        *w++ = '=';
    }
    out->len += want;
    out->ptr[out->len] = '\0';
    return 0;
}
