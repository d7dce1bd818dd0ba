#include "sbx/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "model/internal.h"

static const char trunc_notice[] = "\n[... Observation truncated due to length ...]\n";

/* One character = one valid UTF-8 sequence or one invalid byte, which is
 * what the JSON layer turns into one U+FFFD: the count matches Python's len()
 * of the string the client finally decodes. */
static size_t char_len(const unsigned char *s, size_t n)
{
    size_t k = sbx_utf8_seq(s, n);

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
