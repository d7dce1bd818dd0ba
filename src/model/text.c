#include "sbx/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

static const char trunc_notice[] = "\n[... Observation truncated due to length ...]\n";

size_t sbx__utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned int cp;
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

/* One character = one valid UTF-8 sequence or one invalid byte, which is
 * what the JSON layer turns into one U+FFFD: the count matches Python's len()
 * of the string the client finally decodes. */
static size_t char_len(const unsigned char *s, size_t n)
{
    size_t k = sbx__utf8_seq(s, n);

    return k ? k : 1;
}

int sbx_text_truncate_middle(char **s, size_t max_chars)
{
    const unsigned char *u = (const unsigned char *)*s;
    size_t len = strlen(*s);
    size_t half = max_chars / 2;
    size_t nchars = 0, head_end = 0, i = 0;
    size_t tail_start;
    char *p;

    while (i < len) {
        if (nchars == half)
            head_end = i;
        i += char_len(u + i, len - i);
        nchars++;
    }
    if (nchars <= max_chars)
        return 0;
    /* The tail starts `half` characters before the end: count once more. */
    tail_start = len;
    if (half > 0) {
        size_t target = nchars - half, c = 0;

        for (i = 0; i < len; c++) {
            if (c == target)
                break;
            i += char_len(u + i, len - i);
        }
        tail_start = i;
    }
    p = malloc(head_end + sizeof(trunc_notice) - 1 + (len - tail_start) + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, *s, head_end);
    memcpy(p + head_end, trunc_notice, sizeof(trunc_notice) - 1);
    memcpy(p + head_end + sizeof(trunc_notice) - 1, *s + tail_start, len - tail_start);
    p[head_end + sizeof(trunc_notice) - 1 + len - tail_start] = '\0';
    free(*s);
    *s = p;
    return 1;
}
