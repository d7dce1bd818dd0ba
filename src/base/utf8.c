#include "base/utf8.h"

size_t sbx_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    uint32_t cp;
    size_t len, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t sbx_utf8_next(const unsigned char *p, const unsigned char *e, uint32_t *cp)
{
    size_t n = sbx_utf8_seq(p, (size_t)(e - p)), i;
    uint32_t c;

    if (n <= 1) {
        *cp = *p;
        return 1;
    }
    c = (uint32_t)(*p & (0x7f >> n));
    for (i = 1; i < n; i++)
        c = (c << 6) | (p[i] & 0x3f);
    *cp = c;
    return n;
}

bool sbx_utf8_valid(const unsigned char *p, size_t n, size_t *multibyte)
{
    size_t i = 0, k, mb = 0;

    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        k = sbx_utf8_seq(p + i, n - i);
        if (!k)
            return false;
        mb++;
        i += k;
    }
    if (multibyte)
        *multibyte = mb;
    return true;
}
