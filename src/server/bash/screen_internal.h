#ifndef SBX_SERVER_BASH_SCREEN_INTERNAL_H
#define SBX_SERVER_BASH_SCREEN_INTERNAL_H

/* Shared between screen.c (parser, cursor motion, life cycle), screen_grid.c
 * (rows, scrolling, erasing, writing cells) and screen_capture.c. */

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "server/bash/screen.h"

/*
 * Model (tmux 3.3a's grid, see screen.h): a ring of hsize history rows
 * followed by `sy` visible rows. A cell is a uint32_t: 0 = blank (a cleared or
 * skipped cell, printed as a space when it lies below the row's `used` mark),
 * CELL_PAD = right half of a wide character (printed as nothing), CELL_COMB |
 * off = a character with combining marks stored in the row's `comb` bytes,
 * anything else = a code point.
 */

#define CELL_PAD 0xFFFFFFFFu
#define CELL_COMB 0x80000000u
#define COMB_MAX 21 /* tmux's UTF8_SIZE: bytes per cell including combining marks */
#define MAX_PARAMS 24
#define MAX_DIM 10000u

struct sbx__screen_row {
    uint32_t *cells;
    uint32_t used; /* cells [0, used) print; tmux's cellused */
    uint32_t cap;
    unsigned char *comb; /* entries: len, width, bytes */
    uint32_t comb_len;
    uint32_t comb_cap;
    int wrapped;
};

enum sbx__screen_pstate {
    SBX__SCREEN_P_GROUND,
    SBX__SCREEN_P_ESC,
    SBX__SCREEN_P_ESC_INTER,
    SBX__SCREEN_P_CSI,
    SBX__SCREEN_P_CSI_IGNORE,
    SBX__SCREEN_P_STR,
    SBX__SCREEN_P_STR_ESC
};

struct sbx__screen_cache {
    int valid;
    struct sbx_buf text; /* lines separated by NUL */
    size_t *off;         /* start of each line in text */
    size_t count, cap;
};

struct sbx_screen {
    uint32_t sx, sy;
    size_t hlimit;
    struct sbx__screen_row *ring;
    size_t ring_cap;
    size_t head;  /* ring index of grid row 0 */
    size_t hsize; /* history rows */
    uint32_t cx, cy;
    uint32_t saved_cx, saved_cy;       /* ESC 7 / ESC 8 */
    struct sbx__screen_row *alt_saved; /* main screen's visible rows while on the alternate one */
    uint32_t alt_cx, alt_cy;
    int alt_cursor;
    int nowrap;  /* ?7l */
    int gset[2]; /* G0/G1 designations: 1 = DEC line drawing */
    int shift;   /* SO selected G1 */
    int sgr_fg, sgr_bg;
    uint32_t sgr_attr; /* SGR attributes in effect (only "any or none" matters) */
    unsigned char *tabs;
    size_t dropped;
    int changed;
    int oom;
    /* parser */
    enum sbx__screen_pstate st;
    int str_bel; /* the string ends at BEL too (OSC, APC, ESC k) */
    unsigned char u8[4];
    int u8_len, u8_need;
    uint32_t u8_min;
    int params[MAX_PARAMS];
    int nparams;
    int param_bad;
    int priv;  /* first byte if 0x3c-0x3f */
    int inter; /* an intermediate byte was seen */
    int esc_inter;
    struct sbx__screen_cache *cache;
};

struct sbx__screen_row *sbx__screen_grow_row(struct sbx_screen *s, size_t y);
struct sbx__screen_row *sbx__screen_vrow(struct sbx_screen *s, uint32_t y);
void sbx__screen_row_reset(struct sbx__screen_row *r);
void sbx__screen_row_release(struct sbx__screen_row *r);
int sbx__screen_row_use(struct sbx_screen *s, struct sbx__screen_row *r, uint32_t n);
size_t sbx__screen_utf8_put(unsigned char *o, uint32_t c);
uint32_t sbx__screen_clampx(const struct sbx_screen *s, uint32_t x);
void sbx__screen_touch(struct sbx_screen *s);
void sbx__screen_linefeed(struct sbx_screen *s, int wrapped);
void sbx__screen_reverse_index(struct sbx_screen *s);
void sbx__screen_erase_line(struct sbx_screen *s, int mode);
void sbx__screen_clear_screen(struct sbx_screen *s);
void sbx__screen_clear_history(struct sbx_screen *s);
void sbx__screen_erase_display(struct sbx_screen *s, int mode);
void sbx__screen_clear_following_pad(struct sbx__screen_row *r, uint32_t x);
void sbx__screen_ascii_fixup(struct sbx__screen_row *r, uint32_t x);
void sbx__screen_put_cell(struct sbx_screen *s, uint32_t cell, int width, int ascii_path);
void sbx__screen_print_utf8(struct sbx_screen *s, uint32_t c, const unsigned char *b, size_t n);

#endif
