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

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sbx_base64_decode(const char *s, size_t n, struct sbx_buf *out)
{
    size_t i, start = out->len;
    uint32_t acc = 0;
    int bits = 0, rc;

    while (n > 0 && s[n - 1] == '=')
        n--;
    rc = sbx_buf_grow(out, n / 4 * 3 + 3);
    if (rc < 0)
        return rc;
    for (i = 0; i < n; i++) {
        int v = b64_value(s[i]);

        if (v < 0) {
            sbx_buf_truncate(out, start);
            return -EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->ptr[out->len++] = (char)(acc >> bits & 0xff);
        }
    }
    out->ptr[out->len] = '\0';
    /* One character left over cannot encode a byte. */
    if (bits >= 6) {
        sbx_buf_truncate(out, start);
        return -EINVAL;
    }
    return 0;
}
