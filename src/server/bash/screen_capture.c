#include "server/bash/screen.h"

/* sbx_screen rendering: logical lines as `capture-pane -J -pS -` prints them,
 * then libtmux's trailing-empty-line drop and OpenHands' per-line rstrip. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/bash/screen_internal.h"

/* ---- capture ------------------------------------------------------------------ */

/* Length of s[0, n) without the trailing characters Python's str.rstrip()
 * removes (libtmux/OpenHands strip each captured line that way). */
static size_t py_rstrip(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;

    while (n > 0) {
        if (u[n - 1] == ' ') {
            n--;
            continue;
        }
        if (n >= 2 && u[n - 2] == 0xC2 && (u[n - 1] == 0x85 || u[n - 1] == 0xA0)) {
            n -= 2;
            continue;
        }
        if (n >= 3) {
            uint32_t c = ((uint32_t)u[n - 3] << 16) | ((uint32_t)u[n - 2] << 8) | u[n - 1];
            if (c == 0xE19A80 /* U+1680 */ || (c >= 0xE28080 && c <= 0xE2808A) || c == 0xE280A8 ||
                c == 0xE280A9 || c == 0xE280AF || c == 0xE2819F || c == 0xE38080 /* U+3000 */) {
                n -= 3;
                continue;
            }
        }
        break;
    }
    return n;
}

static int add_row_text(struct sbx_buf *b, const struct sbx__screen_row *r)
{
    unsigned char tmp[4];
    uint32_t x;
    int rc;

    if (sbx_buf_grow(b, r->used) < 0)
        return -ENOMEM;
    for (x = 0; x < r->used; x++) {
        uint32_t c = r->cells[x];
        if (c == CELL_PAD)
            continue;
        if (c < 0x80) {
            /* a run of ASCII cells (blanks print as spaces): one copy */
            uint32_t y = x;
            char *o;

            while (y < r->used && r->cells[y] < 0x80)
                y++;
            if (sbx_buf_grow(b, y - x) < 0)
                return -ENOMEM;
            o = b->ptr + b->len;
            for (uint32_t k = x; k < y; k++)
                *o++ = r->cells[k] ? (char)r->cells[k] : ' ';
            b->len += y - x;
            b->ptr[b->len] = '\0';
            x = y - 1;
            continue;
        }
        if (c & CELL_COMB)
            rc = sbx_buf_add(b, r->comb + (c & ~CELL_COMB) + 2, r->comb[c & ~CELL_COMB]);
        else
            rc = sbx_buf_add(b, tmp, sbx__screen_utf8_put(tmp, c));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Rebuilds the line cache: every logical line up to the last row tmux would
 * print non-empty, right-stripped, NUL-separated. */
static int render(const struct sbx_screen *s)
{
    struct sbx_screen *ms = (struct sbx_screen *)s; /* row lookup is read-only */
    struct sbx__screen_cache *c = s->cache;
    size_t total = s->hsize + s->sy, last = 0, y, start;
    int any = 0, rc;

    if (c->valid)
        return 0;
    sbx_buf_reset(&c->text);
    c->count = 0;
    /* Most of the 1000 visible rows are empty: walk the ring backwards
     * without a division per row. */
    if (total) {
        size_t idx = (s->head + total - 1) % s->ring_cap;

        for (y = total; y > 0; y--) {
            if (s->ring[idx].used) {
                last = y - 1;
                any = 1;
                break;
            }
            idx = idx ? idx - 1 : s->ring_cap - 1;
        }
    }
    if (!any) {
        c->valid = 1;
        return 0;
    }
    start = 0;
    for (y = 0; y <= last; y++) {
        const struct sbx__screen_row *r = sbx__screen_grow_row(ms, y);
        if (y == 0 || !sbx__screen_grow_row(ms, y - 1)->wrapped) {
            if (c->count == c->cap) {
                size_t ncap = c->cap ? c->cap * 2 : 256;
                size_t *p = realloc(c->off, ncap * sizeof(*p));
                if (!p)
                    return -ENOMEM;
                c->off = p;
                c->cap = ncap;
            }
            start = c->text.len;
            c->off[c->count++] = start;
        }
        rc = add_row_text(&c->text, r);
        if (rc < 0)
            return rc;
        if (!r->wrapped || y == last) {
            sbx_buf_truncate(&c->text, start + py_rstrip(c->text.ptr + start, c->text.len - start));
            rc = sbx_buf_addch(&c->text, '\0');
            if (rc < 0)
                return rc;
        }
    }
    c->valid = 1;
    return 0;
}

size_t sbx_screen_line_count(const struct sbx_screen *s)
{
    if (!s || render(s) < 0)
        return 0;
    return s->cache->count;
}

const char *sbx_screen_line(const struct sbx_screen *s, size_t i, size_t *len)
{
    const char *p;

    if (len)
        *len = 0;
    if (!s || render(s) < 0 || i >= s->cache->count)
        return "";
    p = s->cache->text.ptr + s->cache->off[i];
    if (len)
        *len = strlen(p);
    return p;
}

int sbx_screen_capture(const struct sbx_screen *s, struct sbx_buf *out)
{
    size_t i, orig;
    int rc;

    if (!s || !out)
        return -EINVAL;
    rc = render(s);
    if (rc < 0)
        return rc;
    orig = out->len;
    for (i = 0; i < s->cache->count; i++) {
        const char *p = s->cache->text.ptr + s->cache->off[i];
        if (i > 0 && (rc = sbx_buf_addch(out, '\n')) < 0)
            goto fail;
        if ((rc = sbx_buf_addstr(out, p)) < 0)
            goto fail;
    }
    return 0;
fail:
    sbx_buf_truncate(out, orig);
    return rc;
}
