#include "server/bash/screen.h"

/* sbx_screen: the escape-sequence parser, cursor motion and modes, and the
 * life cycle. Grid operations live in screen_grid.c, rendering in
 * screen_capture.c; the behaviour each one copies from tmux 3.3a is noted
 * where it is implemented. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/bash/screen_internal.h"

/* ---- cursor motion ------------------------------------------------------- */

static void tab(struct sbx_screen *s)
{
    if (s->cx >= s->sx - 1)
        return;
    do {
        s->cx++;
        if (s->tabs[s->cx])
            break;
    } while (s->cx < s->sx - 1);
}

/* tmux's screen_alternate_on: the visible rows are put aside and cleared,
 * history stops growing (it stays above the alternate rows in a capture). */
static void alt_on(struct sbx_screen *s, int cursor)
{
    struct sbx__screen_row *save;
    uint32_t y;

    if (s->alt_saved)
        return;
    save = calloc(s->sy, sizeof(*save));
    if (!save) {
        s->oom = 1;
        return;
    }
    for (y = 0; y < s->sy; y++) {
        save[y] = *sbx__screen_vrow(s, y);
        memset(sbx__screen_vrow(s, y), 0, sizeof(struct sbx__screen_row));
    }
    if (cursor) {
        s->alt_cx = s->cx;
        s->alt_cy = s->cy;
        s->alt_cursor = 1;
    }
    if (s->hsize > 0)
        sbx__screen_grow_row(s, s->hsize - 1)->wrapped = 0; /* grid_clear_lines */
    s->alt_saved = save;
    sbx__screen_touch(s);
}

/* tmux's screen_alternate_off: restores the cursor saved by ?1049h even when
 * not on the alternate screen, then clamps it into the screen. */
static void alt_off(struct sbx_screen *s, int cursor)
{
    uint32_t y;

    if (cursor && s->alt_cursor) {
        s->cx = s->alt_cx;
        s->cy = s->alt_cy;
    }
    if (s->alt_saved) {
        for (y = 0; y < s->sy; y++) {
            sbx__screen_row_release(sbx__screen_vrow(s, y));
            *sbx__screen_vrow(s, y) = s->alt_saved[y];
        }
        free(s->alt_saved);
        s->alt_saved = NULL;
        sbx__screen_touch(s);
    }
    s->cx = sbx__screen_clampx(s, s->cx);
    if (s->cy > s->sy - 1)
        s->cy = s->sy - 1;
}

/* Tracks whether any SGR attribute or colour is set: tmux compares a blank
 * written through its general path with the cell already there, and only a
 * plain space "looks equal" to an empty cell. */
static void sgr(struct sbx_screen *s)
{
    int i;

    for (i = 0; i < s->nparams || i == 0; i++) {
        int p = i < s->nparams ? s->params[i] : 0;
        if (p == 0) {
            s->sgr_fg = s->sgr_bg = 0;
            s->sgr_attr = 0;
        } else if (p <= 9 || p == 21 || p == 53) {
            s->sgr_attr |= 1u << (p == 21 ? 10 : p == 53 ? 11 : p);
        } else if (p == 22) {
            s->sgr_attr &= ~((1u << 1) | (1u << 2));
        } else if (p >= 23 && p <= 29 && p != 26) {
            s->sgr_attr &= ~(1u << (p - 20));
            if (p == 24)
                s->sgr_attr &= ~(1u << 10);
            if (p == 25)
                s->sgr_attr &= ~(1u << 6);
        } else if (p == 55) {
            s->sgr_attr &= ~(1u << 11);
        } else if ((p >= 30 && p <= 37) || (p >= 90 && p <= 97)) {
            s->sgr_fg = 1;
        } else if (p == 39) {
            s->sgr_fg = 0;
        } else if ((p >= 40 && p <= 47) || (p >= 100 && p <= 107)) {
            s->sgr_bg = 1;
        } else if (p == 49) {
            s->sgr_bg = 0;
        } else if (p == 38 || p == 48) {
            int mode = i + 1 < s->nparams ? s->params[i + 1] : 0;
            if (mode == 5)
                i += 2;
            else if (mode == 2)
                i += 4;
            else
                break;
            if (p == 38)
                s->sgr_fg = 1;
            else
                s->sgr_bg = 1;
        }
    }
}

static int param(const struct sbx_screen *s, int i, int def)
{
    if (i >= s->nparams || s->params[i] <= 0)
        return def;
    return s->params[i];
}

static void csi_dispatch(struct sbx_screen *s, unsigned char f)
{
    int n = param(s, 0, 1);
    uint32_t un = (uint32_t)n;

    if (s->param_bad || s->inter)
        return;
    if (s->priv) {
        int i;
        if (s->priv != '?' || (f != 'h' && f != 'l'))
            return;
        for (i = 0; i < s->nparams; i++) {
            int m = s->params[i];
            if (m == 7)
                s->nowrap = f == 'l';
            if (m != 47 && m != 1047 && m != 1049)
                continue;
            if (f == 'h')
                alt_on(s, m == 1049);
            else
                alt_off(s, m == 1049);
        }
        return;
    }
    switch (f) {
    case 'A':
        if (s->cx == s->sx)
            s->cx--;
        s->cy = un > s->cy ? 0 : s->cy - un;
        break;
    case 'B':
        if (s->cx == s->sx)
            s->cx--;
        s->cy = un > s->sy - 1 - s->cy ? s->sy - 1 : s->cy + un;
        break;
    case 'C':
        s->cx = un > s->sx - 1 - sbx__screen_clampx(s, s->cx) ? s->sx - 1
                                                              : sbx__screen_clampx(s, s->cx) + un;
        break;
    case 'D':
        /* From the pending-wrap column (sx) tmux counts from sx, not sx - 1. */
        s->cx = un > s->cx ? 0 : s->cx - un;
        break;
    case 'E':
        s->cx = 0;
        s->cy = un > s->sy - 1 - s->cy ? s->sy - 1 : s->cy + un;
        break;
    case 'F':
        s->cx = 0;
        s->cy = un > s->cy ? 0 : s->cy - un;
        break;
    case 'G':
    case '`': s->cx = sbx__screen_clampx(s, un - 1); break;
    case 'd': s->cy = un - 1 > s->sy - 1 ? s->sy - 1 : un - 1; break;
    case 'H':
    case 'f': {
        uint32_t r = (uint32_t)param(s, 0, 1) - 1, c = (uint32_t)param(s, 1, 1) - 1;
        s->cy = r > s->sy - 1 ? s->sy - 1 : r;
        s->cx = sbx__screen_clampx(s, c);
        break;
    }
    case 'K': sbx__screen_erase_line(s, s->nparams ? s->params[0] : 0); break;
    case 'J': sbx__screen_erase_display(s, s->nparams ? s->params[0] : 0); break;
    case 'm': sgr(s); break;
    case 'g': {
        int m = s->nparams ? s->params[0] : 0;
        if (m == 0 && s->cx < s->sx)
            s->tabs[s->cx] = 0;
        else if (m == 3)
            memset(s->tabs, 0, s->sx);
        break;
    }
    default: break;
    }
}

static void reset_tabs(struct sbx_screen *s)
{
    uint32_t x;

    memset(s->tabs, 0, s->sx);
    for (x = 8; x < s->sx; x += 8)
        s->tabs[x] = 1;
}

static void esc_dispatch(struct sbx_screen *s, unsigned char f)
{
    switch (f) {
    case '7':
        s->saved_cx = s->cx;
        s->saved_cy = s->cy;
        break;
    case '8':
        s->cx = sbx__screen_clampx(s, s->saved_cx);
        s->cy = s->saved_cy > s->sy - 1 ? s->sy - 1 : s->saved_cy;
        break;
    case 'D': sbx__screen_linefeed(s, 0); break;
    case 'E':
        s->cx = 0;
        sbx__screen_linefeed(s, 0);
        break;
    case 'M': sbx__screen_reverse_index(s); break;
    case 'H':
        if (s->cx < s->sx)
            s->tabs[s->cx] = 1;
        break;
    case 'c':
        /* RIS: tmux's screen_write_reset clears the screen (into history)
         * and homes the cursor. */
        reset_tabs(s);
        s->nowrap = 0;
        sbx__screen_clear_screen(s);
        s->cx = 0;
        s->cy = 0;
        s->saved_cx = 0;
        s->saved_cy = 0;
        s->gset[0] = s->gset[1] = 0;
        s->shift = 0;
        s->sgr_fg = s->sgr_bg = 0;
        s->sgr_attr = 0;
        break;
    default: break;
    }
}

/* C0 controls act in every state except inside strings. */
static void c0(struct sbx_screen *s, unsigned char c)
{
    switch (c) {
    case '\b':
        /* tmux 3.3a moves back over a wrap to the end of the previous row. */
        if (s->cx > 0) {
            s->cx--;
        } else if (s->cy > 0 && sbx__screen_vrow(s, s->cy - 1)->wrapped) {
            s->cy--;
            s->cx = s->sx - 1;
        }
        break;
    case '\t': tab(s); break;
    case '\n':
    case '\v':
    case '\f': sbx__screen_linefeed(s, 0); break;
    case '\r': s->cx = 0; break;
    case 0x0E: s->shift = 1; break;
    case 0x0F: s->shift = 0; break;
    default: break;
    }
}

/* ---- parser ---------------------------------------------------------------- */

static void utf8_reset(struct sbx_screen *s)
{
    s->u8_len = 0;
    s->u8_need = 0;
}

/* A pending UTF-8 sequence survives escape sequences in tmux (only C0
 * controls and ASCII text end it), so it is not reset here. */
static void enter_esc(struct sbx_screen *s)
{
    s->st = SBX__SCREEN_P_ESC;
}

static void enter_csi(struct sbx_screen *s)
{
    s->st = SBX__SCREEN_P_CSI;
    s->nparams = 0;
    s->param_bad = 0;
    s->priv = 0;
    s->inter = 0;
}

/* Feeds one byte >= 0x80 (or an ASCII byte ending a broken sequence). */
static void utf8_byte(struct sbx_screen *s, unsigned char c)
{
    if (s->u8_need == 0) {
        if (c >= 0xC2 && c <= 0xDF) {
            s->u8_need = 2;
            s->u8_min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            s->u8_need = 3;
            s->u8_min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            s->u8_need = 4;
            s->u8_min = 0x10000;
        } else {
            return; /* stray continuation or invalid lead byte: dropped */
        }
        s->u8[0] = c;
        s->u8_len = 1;
        return;
    }
    if ((c & 0xC0) != 0x80) {
        /* Broken sequence: tmux drops it together with the byte that broke
         * it (an ASCII byte never gets here: it resets the sequence). */
        utf8_reset(s);
        return;
    }
    s->u8[s->u8_len++] = c;
    if (s->u8_len < s->u8_need)
        return;
    uint32_t cp;
    if (s->u8_need == 2)
        cp = ((uint32_t)(s->u8[0] & 0x1F) << 6) | (s->u8[1] & 0x3F);
    else if (s->u8_need == 3)
        cp = ((uint32_t)(s->u8[0] & 0x0F) << 12) | ((uint32_t)(s->u8[1] & 0x3F) << 6) |
             (s->u8[2] & 0x3F);
    else
        cp = ((uint32_t)(s->u8[0] & 0x07) << 18) | ((uint32_t)(s->u8[1] & 0x3F) << 12) |
             ((uint32_t)(s->u8[2] & 0x3F) << 6) | (s->u8[3] & 0x3F);
    int n = s->u8_len;
    utf8_reset(s);
    if (cp < s->u8_min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return;
    sbx__screen_print_utf8(s, cp, s->u8, (size_t)n);
}

static void csi_byte(struct sbx_screen *s, unsigned char c)
{
    if (c >= '0' && c <= '9') {
        if (s->inter) {
            s->param_bad = 1;
            return;
        }
        if (s->nparams == 0) {
            s->nparams = 1;
            s->params[0] = 0;
        }
        int *p = &s->params[s->nparams - 1];
        if (*p > 100000000)
            s->param_bad = 1;
        else
            *p = *p * 10 + (c - '0');
    } else if (c == ';' || c == ':') {
        if (s->nparams == 0)
            s->params[s->nparams++] = 0;
        if (s->nparams >= MAX_PARAMS) {
            s->param_bad = 1;
            return;
        }
        s->params[s->nparams++] = 0;
    } else if (c >= 0x3C && c <= 0x3F) {
        if (s->nparams || s->priv || s->inter)
            s->param_bad = 1;
        else
            s->priv = c;
    } else if (c >= 0x20 && c <= 0x2F) {
        s->inter = 1;
    } else if (c >= 0x40 && c <= 0x7E) {
        if (s->nparams == 0)
            s->params[0] = 0;
        csi_dispatch(s, c);
        s->st = SBX__SCREEN_P_GROUND;
    } else if (c < 0x80) {
        s->st = SBX__SCREEN_P_CSI_IGNORE;
    }
}

static void feed_byte(struct sbx_screen *s, unsigned char c)
{
    if (s->st == SBX__SCREEN_P_STR || s->st == SBX__SCREEN_P_STR_ESC) {
        if ((c == 0x07 && s->str_bel) || c == 0x18 || c == 0x1A) {
            s->st = SBX__SCREEN_P_GROUND;
        } else if (c == 0x1B && s->str_bel) {
            /* tmux ends an OSC/APC/title string at any ESC and parses what
             * follows as a new escape (ESC \ then is a no-op). */
            enter_esc(s);
        } else if (s->st == SBX__SCREEN_P_STR_ESC) {
            /* DCS, SOS, PM: only ESC \ ends them. */
            s->st = c == '\\'   ? SBX__SCREEN_P_GROUND
                    : c == 0x1B ? SBX__SCREEN_P_STR_ESC
                                : SBX__SCREEN_P_STR;
        } else if (c == 0x1B) {
            s->st = SBX__SCREEN_P_STR_ESC;
        }
        return;
    }
    if (c == 0x1B) {
        enter_esc(s);
        return;
    }
    if (c == 0x18 || c == 0x1A) {
        utf8_reset(s);
        s->st = SBX__SCREEN_P_GROUND;
        return;
    }
    if (c < 0x20) {
        utf8_reset(s);
        c0(s, c);
        return;
    }
    if (c == 0x7F)
        return;
    switch (s->st) {
    case SBX__SCREEN_P_GROUND:
        if (c >= 0x80 || s->u8_need) {
            if (c < 0x80) {
                utf8_reset(s);
                sbx__screen_put_cell(s, c, 1, !s->gset[s->shift] && !s->nowrap);
            } else {
                utf8_byte(s, c);
            }
        } else {
            /* tmux writes ASCII through its general (non-ASCII) path when
             * autowrap is off or line drawing is selected; the captured
             * text is still the ASCII byte. */
            sbx__screen_put_cell(s, c, 1, !s->gset[s->shift] && !s->nowrap);
        }
        return;
    case SBX__SCREEN_P_ESC:
        if (c >= 0x80)
            return; /* tmux ignores it and stays in the escape */
        if (c == '[') {
            enter_csi(s);
        } else if (c == ']' || c == '_' || c == 'k') {
            s->st = SBX__SCREEN_P_STR;
            s->str_bel = 1;
        } else if (c == 'P' || c == 'X' || c == '^') {
            s->st = SBX__SCREEN_P_STR;
            s->str_bel = 0;
        } else if (c >= 0x20 && c <= 0x2F) {
            s->st = SBX__SCREEN_P_ESC_INTER;
            s->esc_inter = c;
        } else {
            s->st = SBX__SCREEN_P_GROUND;
            esc_dispatch(s, c);
        }
        return;
    case SBX__SCREEN_P_ESC_INTER:
        if (c >= 0x30 && c < 0x7F) {
            s->st = SBX__SCREEN_P_GROUND;
            if (s->esc_inter == '(' || s->esc_inter == ')')
                s->gset[s->esc_inter == ')'] = c == '0';
        }
        return;
    case SBX__SCREEN_P_CSI: csi_byte(s, c); return;
    case SBX__SCREEN_P_CSI_IGNORE:
        if (c >= 0x40 && c <= 0x7E)
            s->st = SBX__SCREEN_P_GROUND;
        return;
    case SBX__SCREEN_P_STR:
    case SBX__SCREEN_P_STR_ESC: return;
    }
}

int sbx_screen_feed(struct sbx_screen *s, const char *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i = 0;

    if (!s)
        return -EINVAL;
    s->changed = 0;
    s->oom = 0;
    while (i < n) {
        /* Fast path: a run of printable ASCII in the ground state. */
        if (s->st == SBX__SCREEN_P_GROUND && !s->u8_need && !s->nowrap && !s->gset[s->shift] &&
            b[i] >= 0x20 && b[i] < 0x7F) {
            struct sbx__screen_row *r;
            size_t j = i;
            uint32_t room, k;
            if (s->cx >= s->sx) {
                sbx__screen_put_cell(s, b[i], 1, 1);
                i++;
                continue;
            }
            room = s->sx - s->cx;
            while (j < n && j - i < room && b[j] >= 0x20 && b[j] < 0x7F)
                j++;
            r = sbx__screen_vrow(s, s->cy);
            if (sbx__screen_row_use(s, r, s->cx + (uint32_t)(j - i)) < 0)
                break;
            sbx__screen_ascii_fixup(r, s->cx);
            for (k = 0; k < j - i; k++)
                r->cells[s->cx + k] = b[i + k];
            s->cx += (uint32_t)(j - i);
            sbx__screen_clear_following_pad(r, s->cx);
            sbx__screen_touch(s);
            i = j;
            continue;
        }
        feed_byte(s, b[i]);
        i++;
    }
    if (s->oom)
        return -ENOMEM;
    return s->changed;
}

/* ---- life cycle -------------------------------------------------------------- */

struct sbx_screen *sbx_screen_new(unsigned cols, unsigned rows, size_t history)
{
    struct sbx_screen *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->sx = cols < 1 ? 1 : cols > MAX_DIM ? MAX_DIM : cols;
    s->sy = rows < 1 ? 1 : rows > MAX_DIM ? MAX_DIM : rows;
    if (history > ((size_t)1 << 20))
        history = (size_t)1 << 20; /* the row ring is allocated up front */
    s->hlimit = history;
    s->ring_cap = s->hlimit + s->sy;
    s->ring = calloc(s->ring_cap, sizeof(*s->ring));
    s->tabs = calloc(s->sx + 1, 1);
    s->cache = calloc(1, sizeof(*s->cache));
    if (!s->ring || !s->tabs || !s->cache) {
        sbx_screen_free(s);
        return NULL;
    }
    sbx_buf_init(&s->cache->text, 0);
    reset_tabs(s);
    return s;
}

void sbx_screen_free(struct sbx_screen *s)
{
    size_t i;

    if (!s)
        return;
    if (s->ring)
        for (i = 0; i < s->ring_cap; i++)
            sbx__screen_row_release(&s->ring[i]);
    if (s->alt_saved)
        for (i = 0; i < s->sy; i++)
            sbx__screen_row_release(&s->alt_saved[i]);
    free(s->alt_saved);
    if (s->cache) {
        sbx_buf_free(&s->cache->text);
        free(s->cache->off);
        free(s->cache);
    }
    free(s->tabs);
    free(s->ring);
    free(s);
}

void sbx_screen_clear(struct sbx_screen *s)
{
    uint32_t y;

    if (!s)
        return;
    /* Ctrl-L scrolls the screen away and clear-history drops it: only an
     * empty cursor row is left, at the top. */
    sbx__screen_clear_history(s);
    for (y = 0; y < s->sy; y++)
        sbx__screen_row_reset(sbx__screen_vrow(s, y));
    s->cy = 0;
    s->cx = 0;
    s->dropped = 0;
    sbx__screen_touch(s);
}

size_t sbx_screen_dropped(const struct sbx_screen *s)
{
    return s ? s->dropped : 0;
}
