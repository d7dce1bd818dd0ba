#include "server/bash/screen_internal.h"

/* sbx_screen's grid: rows, scrolling into the history ring with tmux's
 * 10% trimming, erasing, and writing cells with tmux 3.3a's rules for wide
 * characters and their padding. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/bash/screen_width.h"

/* ---- rows -------------------------------------------------------------- */

struct sbx__screen_row *sbx__screen_grow_row(struct sbx_screen *s, size_t y)
{
    return &s->ring[(s->head + y) % s->ring_cap];
}

struct sbx__screen_row *sbx__screen_vrow(struct sbx_screen *s, uint32_t y)
{
    return sbx__screen_grow_row(s, s->hsize + y);
}

void sbx__screen_row_reset(struct sbx__screen_row *r)
{
    r->used = 0;
    r->comb_len = 0;
    r->wrapped = 0;
    /* Keep the allocation for reuse unless it is unusually large. */
    if (r->cap > 256) {
        free(r->cells);
        r->cells = NULL;
        r->cap = 0;
    }
    if (r->comb_cap > 1024) {
        free(r->comb);
        r->comb = NULL;
        r->comb_cap = 0;
    }
}

void sbx__screen_row_release(struct sbx__screen_row *r)
{
    free(r->cells);
    free(r->comb);
    memset(r, 0, sizeof(*r));
}

/* Makes cells [0, n) addressable, filling new ones with blanks. */
static int row_reserve(struct sbx_screen *s, struct sbx__screen_row *r, uint32_t n)
{
    uint32_t ncap;
    uint32_t *p;

    if (n <= r->cap)
        return 0;
    ncap = r->cap ? r->cap : 16;
    while (ncap < n)
        ncap *= 2;
    if (ncap > s->sx)
        ncap = s->sx;
    p = realloc(r->cells, (size_t)ncap * sizeof(*p));
    if (!p) {
        s->oom = 1;
        return -ENOMEM;
    }
    r->cells = p;
    r->cap = ncap;
    return 0;
}

/* Extends `used` to n, blanking the cells in between. */
int sbx__screen_row_use(struct sbx_screen *s, struct sbx__screen_row *r, uint32_t n)
{
    if (n <= r->used)
        return 0;
    if (row_reserve(s, r, n) < 0)
        return -ENOMEM;
    memset(r->cells + r->used, 0, (size_t)(n - r->used) * sizeof(uint32_t));
    r->used = n;
    return 0;
}

static uint32_t cell_get(const struct sbx__screen_row *r, uint32_t x)
{
    return x < r->used ? r->cells[x] : 0;
}

/* Drops combining entries no live cell refers to, so rewriting one cell
 * forever cannot grow the row without bound. */
static void row_compact_comb(struct sbx__screen_row *r)
{
    unsigned char *nb = malloc(r->comb_len ? r->comb_len : 1);
    uint32_t nlen = 0, x;

    if (!nb)
        return;
    for (x = 0; x < r->used; x++) {
        uint32_t c = r->cells[x];
        if (c == CELL_PAD || !(c & CELL_COMB))
            continue;
        uint32_t off = c & ~CELL_COMB;
        uint32_t sz = 2u + r->comb[off];
        memcpy(nb + nlen, r->comb + off, sz);
        r->cells[x] = CELL_COMB | nlen;
        nlen += sz;
    }
    free(r->comb);
    r->comb = nb;
    r->comb_cap = r->comb_len ? r->comb_len : 1;
    r->comb_len = nlen;
}

static int row_add_comb(struct sbx_screen *s, struct sbx__screen_row *r, const unsigned char *b,
                        size_t n, int width, uint32_t *cell)
{
    if (r->comb_len + n + 2 > r->comb_cap) {
        if (r->comb_len > 4096u + 64u * r->used)
            row_compact_comb(r);
    }
    if (r->comb_len + n + 2 > r->comb_cap) {
        uint32_t ncap = r->comb_cap ? r->comb_cap * 2 : 64;
        unsigned char *p;
        while (ncap < r->comb_len + n + 2)
            ncap *= 2;
        p = realloc(r->comb, ncap);
        if (!p) {
            s->oom = 1;
            return -ENOMEM;
        }
        r->comb = p;
        r->comb_cap = ncap;
    }
    *cell = CELL_COMB | r->comb_len;
    r->comb[r->comb_len] = (unsigned char)n;
    r->comb[r->comb_len + 1] = (unsigned char)width;
    memcpy(r->comb + r->comb_len + 2, b, n);
    r->comb_len += (uint32_t)n + 2;
    return 0;
}

size_t sbx__screen_utf8_put(unsigned char *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

int sbx_screen_cp_width(uint32_t c)
{
    size_t lo = 0, hi = sizeof(screen_wranges) / sizeof(screen_wranges[0]);

    if (c < 0x80)
        return 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < screen_wranges[mid].lo)
            hi = mid;
        else if (c > screen_wranges[mid].hi)
            lo = mid + 1;
        else
            return screen_wranges[mid].width;
    }
    return 1;
}

/* ---- grid operations ------------------------------------------------------ */

uint32_t sbx__screen_clampx(const struct sbx_screen *s, uint32_t x)
{
    return x > s->sx - 1 ? s->sx - 1 : x;
}

void sbx__screen_touch(struct sbx_screen *s)
{
    s->changed = 1;
    s->cache->valid = 0;
}

/* tmux's grid_collect_history: at the limit, free the oldest tenth. */
static void collect_history(struct sbx_screen *s)
{
    size_t ny, i;

    if (s->hsize == 0 || s->hsize < s->hlimit)
        return;
    ny = s->hlimit / 10;
    if (ny < 1)
        ny = 1;
    if (ny > s->hsize)
        ny = s->hsize;
    for (i = 0; i < ny; i++) {
        struct sbx__screen_row *r = sbx__screen_grow_row(s, i);
        if (!r->wrapped)
            s->dropped++;
        sbx__screen_row_reset(r);
    }
    s->head = (s->head + ny) % s->ring_cap;
    s->hsize -= ny;
    sbx__screen_touch(s);
}

/* Moves visible row 0 into the history (or drops it when history is off:
 * history-limit 0 or the alternate screen) and opens an empty bottom row. */
static void scroll_up(struct sbx_screen *s)
{
    if (s->hlimit > 0 && !s->alt_saved) {
        collect_history(s);
        s->hsize++;
        /* The slot now at the bottom was freed by collect or never used. */
        sbx__screen_row_reset(sbx__screen_vrow(s, s->sy - 1));
        return;
    }
    if (s->hsize == 0 && s->ring_cap == s->sy) {
        /* No history at all: the ring is exactly the screen, just turn it. */
        struct sbx__screen_row *r = sbx__screen_vrow(s, 0);
        if (!r->wrapped)
            s->dropped++;
        sbx__screen_row_reset(r);
        s->head = (s->head + 1) % s->ring_cap;
        sbx__screen_touch(s);
        return;
    }
    /* Drop the top visible row: rotate rows hsize.. up by one; tmux's
     * grid_move_lines unwraps the row above the destination. */
    if (s->hsize > 0)
        sbx__screen_grow_row(s, s->hsize - 1)->wrapped = 0;
    struct sbx__screen_row top = *sbx__screen_vrow(s, 0);
    uint32_t y;
    for (y = 0; y + 1 < s->sy; y++)
        *sbx__screen_vrow(s, y) = *sbx__screen_vrow(s, y + 1);
    *sbx__screen_vrow(s, s->sy - 1) = top;
    sbx__screen_row_reset(sbx__screen_vrow(s, s->sy - 1));
    if (s->hsize == 0 && !s->alt_saved && !top.wrapped)
        s->dropped++;
    sbx__screen_touch(s);
}

void sbx__screen_linefeed(struct sbx_screen *s, int wrapped)
{
    if (wrapped) {
        struct sbx__screen_row *r = sbx__screen_vrow(s, s->cy);
        if (!r->wrapped) {
            r->wrapped = 1;
            sbx__screen_touch(s);
        }
    }
    if (s->cy == s->sy - 1)
        scroll_up(s);
    else
        s->cy++;
}

/* ESC M at the top: shift the visible rows down, dropping the bottom one. */
void sbx__screen_reverse_index(struct sbx_screen *s)
{
    uint32_t y;
    struct sbx__screen_row bottom;

    if (s->cy > 0) {
        s->cy--;
        return;
    }
    /* tmux's grid_move_lines unwraps the row above the destination, which
     * is the old top row itself. */
    sbx__screen_vrow(s, 0)->wrapped = 0;
    bottom = *sbx__screen_vrow(s, s->sy - 1);
    for (y = s->sy - 1; y > 0; y--)
        *sbx__screen_vrow(s, y) = *sbx__screen_vrow(s, y - 1);
    sbx__screen_row_reset(&bottom);
    *sbx__screen_vrow(s, 0) = bottom;
    sbx__screen_touch(s);
}

/* tmux's grid_clear_lines on visible rows [y0, y0 + n): they become empty and
 * unwrapped, and so does the wrap flag of the row above them (which may be
 * the newest history row). */
static void clear_lines(struct sbx_screen *s, uint32_t y0, uint32_t n)
{
    uint32_t y;

    if (n == 0)
        return;
    for (y = y0; y < y0 + n && y < s->sy; y++)
        sbx__screen_row_reset(sbx__screen_vrow(s, y));
    if (s->hsize + y0 > 0)
        sbx__screen_grow_row(s, s->hsize + y0 - 1)->wrapped = 0;
    sbx__screen_touch(s);
}

/* tmux's grid_clear on part of a row: blanks the cells in use. */
static void clear_cells(struct sbx_screen *s, uint32_t y, uint32_t x0, uint32_t n)
{
    struct sbx__screen_row *r = sbx__screen_vrow(s, y);
    uint32_t x, end;

    if (x0 == 0 && n >= s->sx) {
        clear_lines(s, y, 1);
        return;
    }
    if (x0 >= r->used)
        return;
    end = x0 + n > r->used ? r->used : x0 + n;
    for (x = x0; x < end; x++)
        r->cells[x] = 0;
    sbx__screen_touch(s);
}

/* tmux's screen_write_clearline: a no-op on a row that holds nothing. */
static void clear_line(struct sbx_screen *s, uint32_t y)
{
    if (sbx__screen_vrow(s, y)->used)
        clear_lines(s, y, 1);
}

void sbx__screen_erase_line(struct sbx_screen *s, int mode)
{
    uint32_t cx = s->cx;

    switch (mode) {
    case 0:
        if (cx == 0) {
            clear_line(s, s->cy);
            return;
        }
        if (cx > s->sx - 1 || cx >= sbx__screen_vrow(s, s->cy)->used)
            return;
        clear_cells(s, s->cy, cx, s->sx - cx);
        return;
    case 1:
        if (cx > s->sx - 1)
            clear_lines(s, s->cy, 1);
        else
            clear_cells(s, s->cy, 0, cx + 1);
        return;
    case 2: clear_line(s, s->cy); return;
    default: return;
    }
}

static int history_on(const struct sbx_screen *s)
{
    return s->hlimit > 0 && !s->alt_saved;
}

/* tmux's screen_write_clearscreen (ED 2, RIS): with history on, the rows up
 * to the last used one scroll into history (grid_view_clear_history). */
void sbx__screen_clear_screen(struct sbx_screen *s)
{
    uint32_t last = 0, y;

    if (history_on(s)) {
        for (y = 0; y < s->sy; y++)
            if (sbx__screen_vrow(s, y)->used)
                last = y + 1;
        for (y = 0; y < last; y++)
            scroll_up(s);
    }
    clear_lines(s, 0, s->sy - last);
}

void sbx__screen_clear_history(struct sbx_screen *s)
{
    size_t i;

    if (s->hsize == 0)
        return;
    for (i = 0; i < s->hsize; i++) {
        struct sbx__screen_row *r = sbx__screen_grow_row(s, i);
        if (!r->wrapped)
            s->dropped++;
        sbx__screen_row_reset(r);
    }
    s->head = (s->head + s->hsize) % s->ring_cap;
    s->hsize = 0;
    sbx__screen_touch(s);
}

void sbx__screen_erase_display(struct sbx_screen *s, int mode)
{
    switch (mode) {
    case 0:
        if (s->cx == 0 && s->cy == 0 && history_on(s)) {
            sbx__screen_clear_screen(s);
        } else if (s->cx == 0) {
            clear_lines(s, s->cy, s->sy - s->cy);
        } else {
            if (s->cx <= s->sx - 1)
                clear_cells(s, s->cy, s->cx, s->sx - s->cx);
            clear_lines(s, s->cy + 1, s->sy - s->cy - 1);
        }
        return;
    case 1:
        clear_lines(s, 0, s->cy);
        sbx__screen_erase_line(s, 1);
        return;
    case 2: sbx__screen_clear_screen(s); return;
    case 3: sbx__screen_clear_history(s); return;
    default: return;
    }
}

/* After a narrow character lands on x, padding cells it orphaned go blank. */
void sbx__screen_clear_following_pad(struct sbx__screen_row *r, uint32_t x)
{
    while (x < r->used && r->cells[x] == CELL_PAD)
        r->cells[x++] = 0;
}

/* What tmux's screen_write_collect_end does before an ASCII run lands on x:
 * padding cells under and left of x go blank, and so does the wide character
 * they belong to - except when that character sits in column 0 (tmux's loop
 * stops before looking at it). */
void sbx__screen_ascii_fixup(struct sbx__screen_row *r, uint32_t x)
{
    uint32_t c = 0;

    if (x == 0)
        return;
    for (; x > 0; x--) {
        c = cell_get(r, x);
        if (c != CELL_PAD)
            break;
        r->cells[x] = 0;
    }
    if (x > 0 && c != 0 && c != CELL_PAD) {
        int w = (c & CELL_COMB) ? r->comb[(c & ~CELL_COMB) + 1] : sbx_screen_cp_width(c);
        if (w > 1)
            r->cells[x] = 0;
    }
}

/* tmux moves the cursor past the character, or with autowrap off leaves it
 * on the last column so the next character replaces this one. */
static void advance(struct sbx_screen *s, uint32_t width)
{
    uint32_t end = s->nowrap ? s->sx - 1 : s->sx;

    s->cx = s->cx + width <= end ? s->cx + width : end;
}

void sbx__screen_put_cell(struct sbx_screen *s, uint32_t cell, int width, int ascii_path)
{
    struct sbx__screen_row *r;
    uint32_t x;

    if (s->cx + (uint32_t)width > s->sx) {
        if (s->nowrap)
            return; /* tmux drops what does not fit */
        sbx__screen_linefeed(s, 1);
        s->cx = 0;
    }
    r = sbx__screen_vrow(s, s->cy);
    x = s->cx;
    if (cell == ' ' && (s->nowrap || !ascii_path) && cell_get(r, x) == 0 && !s->gset[s->shift] &&
        !s->sgr_fg && !s->sgr_bg && !s->sgr_attr) {
        /* tmux's screen_write_cell skips a cell that looks the same as
         * what is there, so such a space does not extend the used part. */
        advance(s, 1);
        return;
    }
    if (sbx__screen_row_use(s, r, x + (uint32_t)width) < 0)
        return;
    if (ascii_path) {
        sbx__screen_ascii_fixup(r, x);
        r->cells[x] = cell;
        sbx__screen_clear_following_pad(r, x + 1);
    } else {
        if (r->cells[x] == CELL_PAD) {
            uint32_t xx = x;
            while (xx > 0 && r->cells[xx] == CELL_PAD)
                r->cells[xx--] = 0;
            r->cells[xx] = 0;
        }
        /* tmux clears padding to the right only when the new or the old
         * character is wide. */
        uint32_t old = r->cells[x];
        int old_wide = old != 0 && old != CELL_PAD &&
                       ((old & CELL_COMB) ? r->comb[(old & ~CELL_COMB) + 1] : sbx_screen_cp_width(old)) > 1;
        r->cells[x] = cell;
        if (width == 2)
            r->cells[x + 1] = CELL_PAD;
        if (width == 2 || old_wide)
            sbx__screen_clear_following_pad(r, x + (uint32_t)width);
    }
    advance(s, (uint32_t)width);
    sbx__screen_touch(s);
}

/* Appends a zero-width character to the cell left of the cursor (tmux's
 * screen_write_combine); dropped at column 0 or when the cell is full. */
static void combine(struct sbx_screen *s, const unsigned char *b, size_t n)
{
    struct sbx__screen_row *r = sbx__screen_vrow(s, s->cy);
    unsigned char tmp[COMB_MAX + 4];
    size_t len;
    uint32_t x, c, newcell;
    int width = 1;

    if (s->cx == 0)
        return;
    x = s->cx;
    do {
        x--;
        c = cell_get(r, x);
    } while (x > 0 && c == CELL_PAD);
    if (c == CELL_PAD)
        return;
    if (c == 0) {
        tmp[0] = ' ';
        len = 1;
    } else if (c & CELL_COMB) {
        const unsigned char *e = r->comb + (c & ~CELL_COMB);
        len = e[0];
        width = e[1];
        memcpy(tmp, e + 2, len);
    } else {
        len = sbx__screen_utf8_put(tmp, c);
        width = sbx_screen_cp_width(c);
    }
    if (len + n > COMB_MAX)
        return;
    memcpy(tmp + len, b, n);
    if (sbx__screen_row_use(s, r, x + 1) < 0)
        return;
    if (row_add_comb(s, r, tmp, len + n, width, &newcell) < 0)
        return;
    r->cells[x] = newcell;
    sbx__screen_touch(s);
}

void sbx__screen_print_utf8(struct sbx_screen *s, uint32_t c, const unsigned char *b, size_t n)
{
    int w = sbx_screen_cp_width(c);

    if (w < 0)
        return;
    if (w == 0) {
        combine(s, b, n);
        return;
    }
    sbx__screen_put_cell(s, c, w, 0);
}
