#include "server/bash/output.h"

#include <string.h>

#include "base/utf8.h"
#include "server/bash/screen.h"

bool sbx_bash_is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Python's str.isspace() beyond ASCII, as UTF-8: U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. Returns the
 * length of the whitespace character at p (before e), or 0. */
static size_t uspace_at(const unsigned char *p, const unsigned char *e)
{
    if (p < e && sbx_bash_is_space(*p))
        return 1;
    if (e - p >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
        return 2;
    if (e - p >= 3) {
        if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
            return 3;
        if (p[0] == 0xe2 && p[1] == 0x80 &&
            (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf) && p[2] >= 0x80)
            return 3;
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
            return 3;
        if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
            return 3;
    }
    return 0;
}

/* Length of the whitespace character ending at e (after s), or 0. */
static size_t uspace_before(const unsigned char *s, const unsigned char *e)
{
    size_t n;

    for (n = 1; n <= 3 && (size_t)(e - s) >= n; n++)
        if ((n == 1 || (e[-(long)n] & 0xc0) != 0x80) && uspace_at(e - n, e) == n)
            return n;
    return 0;
}

int sbx_bash_combine(const char *pane, size_t len, const struct sbx_ps1_matches *m,
                     bool before_last, struct sbx_buf *out)
{
    size_t i, from;
    int rc;

    if (m->n == 0)
        return sbx_buf_add(out, pane, len);
    if (m->n == 1) {
        if (before_last)
            return sbx_buf_add(out, pane, m->v[0].start);
        from = m->v[0].end + 1;
        return from < len ? sbx_buf_add(out, pane + from, len - from) : 0;
    }
    for (i = 0; i + 1 < m->n; i++) {
        size_t a = m->v[i].end + 1, b = m->v[i + 1].start;

        /* Python slicing: an empty slice when a >= b. */
        if (a < b) {
            rc = sbx_buf_add(out, pane + a, b - a);
            if (rc < 0)
                return rc;
        }
        rc = sbx_buf_addch(out, '\n');
        if (rc < 0)
            return rc;
    }
    from = m->v[m->n - 1].end + 1;
    return from < len ? sbx_buf_add(out, pane + from, len - from) : 0;
}

/* Length of the echo of command at the start of s, or 0 if s does not start
 * with it. A TAB in the command is echoed by readline as spaces up to the
 * next 8-column stop (upstream never sees tabs: tmux send-keys would have
 * triggered completion), so it matches those spaces. An empty line inside a
 * multi-line command is not echoed at all (readline with an empty PS2; tmux
 * shows the same), so it matches nothing. Everything else must match
 * exactly, as str.removeprefix. */
static size_t echo_len(const char *s, size_t len, const char *command)
{
    const unsigned char *c = (const unsigned char *)command;
    const unsigned char *ce = c + strlen(command);
    size_t i = 0, col = 0;

    while (c < ce) {
        uint32_t cp;
        size_t n;
        int w;

        if (*c == '\n' && c > (const unsigned char *)command && c[-1] == '\n') {
            c++;
            continue;
        }
        if (*c == '\t') {
            size_t stop = (col / 8 + 1) * 8;

            for (; col < stop; col++, i++)
                if (i >= len || s[i] != ' ')
                    return 0;
            c++;
            continue;
        }
        n = sbx_utf8_next(c, ce, &cp);
        if (len - i < n || memcmp(s + i, c, n) != 0)
            return 0;
        i += n;
        c += n;
        w = cp < 0x80 ? 1 : sbx_screen_cp_width(cp);
        if (cp == '\n')
            col = 0;
        else if (w > 0)
            col += (size_t)w;
    }
    return i;
}

int sbx_bash_clean_output(const char *raw, size_t len, const char *prev, size_t prev_len,
                          const char *command, struct sbx_buf *out)
{
    const char *s = raw, *e = raw + len;
    size_t clen;

    const unsigned char *cmd = (const unsigned char *)command;
    size_t n;

    if (prev && prev_len && prev_len <= len && memcmp(raw, prev, prev_len) == 0)
        s += prev_len;
    while ((n = uspace_at((const unsigned char *)s, (const unsigned char *)e)))
        s += n;
    while ((n = uspace_at(cmd, cmd + strlen((const char *)cmd))))
        cmd += n;
    clen = echo_len(s, (size_t)(e - s), (const char *)cmd);
    s += clen;
    while ((n = uspace_at((const unsigned char *)s, (const unsigned char *)e)))
        s += n;
    while ((n = uspace_before((const unsigned char *)s, (const unsigned char *)e)))
        e -= n;
    return sbx_buf_add(out, s, (size_t)(e - s));
}

/* Length of the line break at p (splitlines' set: \n \r \r\n \v \f \x1c-\x1e
 * U+0085 U+2028 U+2029), or 0. */
static size_t line_break_at(const unsigned char *p, const unsigned char *e)
{
    if (p >= e)
        return 0;
    if (*p == '\r')
        return e - p >= 2 && p[1] == '\n' ? 2 : 1;
    if (*p == '\n' || *p == '\v' || *p == '\f' || (*p >= 0x1c && *p <= 0x1e))
        return 1;
    if (e - p >= 2 && p[0] == 0xc2 && p[1] == 0x85)
        return 2;
    if (e - p >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
        return 3;
    return 0;
}

size_t sbx_bash_count_lines(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    size_t n = 0;
    bool open = false;

    while (p < e) {
        size_t b = line_break_at(p, e);

        if (b) {
            n++;
            open = false;
            p += b;
        } else {
            open = true;
            p++;
        }
    }
    return n + (open ? 1 : 0);
}
