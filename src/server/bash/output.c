#include "server/bash/output.h"

#include <string.h>

bool sbx_bash_is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
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
    const char *start = command;
    size_t i = 0, col = 0;

    for (; *command; command++) {
        unsigned char c = (unsigned char)*command;

        if (c == '\n' && command > start && command[-1] == '\n')
            continue;
        if (c == '\t') {
            size_t stop = (col / 8 + 1) * 8;

            for (; col < stop; col++, i++)
                if (i >= len || s[i] != ' ')
                    return 0;
            continue;
        }
        if (i >= len || s[i] != (char)c)
            return 0;
        i++;
        if (c == '\n')
            col = 0;
        else if ((c & 0xc0) != 0x80)
            col++;
    }
    return i;
}

int sbx_bash_clean_output(const char *raw, size_t len, const char *prev, size_t prev_len,
                          const char *command, struct sbx_buf *out)
{
    const char *s = raw, *e = raw + len;
    size_t clen;

    if (prev && prev_len && prev_len <= len && memcmp(raw, prev, prev_len) == 0)
        s += prev_len;
    while (s < e && sbx_bash_is_space((unsigned char)*s))
        s++;
    while (*command && sbx_bash_is_space((unsigned char)*command))
        command++;
    clen = echo_len(s, (size_t)(e - s), command);
    s += clen;
    while (s < e && sbx_bash_is_space((unsigned char)*s))
        s++;
    while (e > s && sbx_bash_is_space((unsigned char)e[-1]))
        e--;
    return sbx_buf_add(out, s, (size_t)(e - s));
}

size_t sbx_bash_count_lines(const char *s, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
            continue; /* \r\n is one break */
        if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e))
            n++;
    }
    if (len && !(s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == '\v' ||
                 s[len - 1] == '\f' || ((unsigned char)s[len - 1] >= 0x1c &&
                                        (unsigned char)s[len - 1] <= 0x1e)))
        n++;
    return n;
}
