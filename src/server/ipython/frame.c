#include "server/ipython/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/fmt.h"

/*
 * Frames and observation text of the run_ipython kernel (kernel.c).
 */

int sbx__ipython_frame_add(struct sbx_buf *out, const void *p, size_t n)
{
    unsigned char h[4];
    int rc;

    if (n > UINT32_MAX)
        return -EMSGSIZE;
    h[0] = (unsigned char)(n >> 24);
    h[1] = (unsigned char)(n >> 16);
    h[2] = (unsigned char)(n >> 8);
    h[3] = (unsigned char)n;
    rc = sbx_buf_grow(out, 4 + n);
    if (rc < 0)
        return rc;
    sbx_buf_add(out, h, 4);
    return sbx_buf_add(out, p, n);
}

int sbx__ipython_frame_next(const char *p, size_t len, size_t max, const char **payload,
                            size_t *n, size_t *used)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t want;

    if (len < 4)
        return 0;
    want = (size_t)u[0] << 24 | (size_t)u[1] << 16 | (size_t)u[2] << 8 | (size_t)u[3];
    if (want > max)
        return -EPROTO;
    if (len - 4 < want)
        return 0;
    *payload = p + 4;
    *n = want;
    *used = 4 + want;
    return 1;
}

void sbx__ipython_strip_ansi(struct sbx_buf *b)
{
    size_t i = 0, o = 0, len = b->len;
    char *s = b->ptr;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];

        if (c == 0x1b && i + 1 < len) {
            unsigned char d = (unsigned char)s[i + 1];

            if (d == '[') {
                /* CSI: parameters 0x30-0x3f, intermediates 0x20-0x2f, final 0x40-0x7e */
                size_t j = i + 2;

                while (j < len && s[j] >= 0x30 && s[j] <= 0x3f)
                    j++;
                while (j < len && s[j] >= 0x20 && s[j] <= 0x2f)
                    j++;
                if (j < len && s[j] >= 0x40 && s[j] <= 0x7e) {
                    i = j + 1;
                    continue;
                }
            } else if ((d >= '@' && d <= 'Z') || (d >= '\\' && d <= '_')) {
                /* [@-Z\\-_]: the ranges @..Z and 0x5c.._ (so not the dash) */
                i += 2;
                continue;
            }
        }
        s[o++] = s[i++];
    }
    sbx_buf_truncate(b, o);
}

int sbx__ipython_timeout_text(struct sbx_buf *out, double timeout_s, bool is_int)
{
    char num[48];

    if (is_int)
        snprintf(num, sizeof(num), "%lld", (long long)timeout_s);
    else
        sbx_fmt_pyfloat(timeout_s, num, sizeof(num));
    return sbx_buf_addf(out, "[Execution timed out (%s seconds).]", num);
}

/* What Python's str.rstrip() removes, for ASCII. */
static bool py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

int sbx__ipython_content(struct sbx_buf *out, const char *text, size_t len, bool include_extra,
                         const char *cwd, const char *executable)
{
    size_t start = out->len, end;
    int rc;

    if (len == 0)
        rc = sbx_buf_addstr(out, "[Code executed successfully with no output]");
    else
        rc = sbx_buf_add(out, text, len);
    if (rc < 0)
        return rc;
    if (len) {
        struct sbx_buf tail = SBX_BUF_INIT;

        /* strip the escapes of this text only */
        rc = sbx_buf_add(&tail, out->ptr + start, out->len - start);
        if (rc < 0)
            return rc;
        sbx__ipython_strip_ansi(&tail);
        sbx_buf_truncate(out, start);
        rc = sbx_buf_add(out, tail.ptr, tail.len);
        sbx_buf_free(&tail);
        if (rc < 0)
            return rc;
    }
    end = out->len;
    while (end > start && py_space((unsigned char)out->ptr[end - 1]))
        end--;
    sbx_buf_truncate(out, end);
    if (include_extra)
        rc = sbx_buf_addf(out,
                          "\n[Jupyter current working directory: %s]"
                          "\n[Jupyter Python interpreter: %s]",
                          cwd ? cwd : "", executable ? executable : "");
    return rc;
}
