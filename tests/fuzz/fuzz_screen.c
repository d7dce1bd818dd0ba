/* libFuzzer target for src/server/bash/screen*.c: random bytes fed whole
 * and in random chunks must give the same capture, captures are stable, the
 * line API agrees with the capture, and the line count stays within the
 * rows the screen can hold. A small screen makes wrapping, scrolling and
 * history trimming happen often. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "server/bash/screen.h"

#define COLS 16
#define ROWS 4
#define HIST 23

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_screen *a = NULL, *b = NULL;
    struct sbx_buf ca = SBX_BUF_INIT, cb = SBX_BUF_INIT, again = SBX_BUF_INIT,
                   joined = SBX_BUF_INIT;
    const char *p;
    size_t off, i, n, len, dropped = 0;
    unsigned seed;

    if (size < 1)
        return 0;
    seed = data[0];
    data++;
    size--;
    a = sbx_screen_new(COLS, ROWS, HIST);
    b = sbx_screen_new(COLS, ROWS, HIST);
    if (!a || !b)
        goto out;

    check(sbx_screen_feed(a, (const char *)data, size) >= 0);

    /* Chunk sizes from a tiny LCG seeded by the first byte. */
    for (off = 0; off < size; off += n) {
        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % 7;
        if (n > size - off)
            n = size - off;
        check(sbx_screen_feed(b, (const char *)data + off, n) >= 0);
        check(sbx_screen_dropped(b) >= dropped);
        dropped = sbx_screen_dropped(b);
    }

    check(sbx_screen_capture(a, &ca) == 0);
    check(sbx_screen_capture(b, &cb) == 0);
    check(ca.len == cb.len && memcmp(ca.ptr, cb.ptr, ca.len) == 0);
    check(sbx_screen_capture(a, &again) == 0);
    check(again.len == ca.len && memcmp(again.ptr, ca.ptr, ca.len) == 0);
    check(sbx_screen_dropped(a) == sbx_screen_dropped(b));

    n = sbx_screen_line_count(a);
    check(n <= HIST + ROWS);
    for (i = 0; i < n; i++) {
        p = sbx_screen_line(a, i, &len);
        check(strlen(p) == len);
        check(len == 0 || p[len - 1] != ' ');
        if (i > 0)
            check(sbx_buf_addch(&joined, '\n') == 0);
        check(sbx_buf_add(&joined, p, len) == 0);
    }
    check(joined.len == ca.len && memcmp(joined.ptr, ca.ptr, ca.len) == 0);

    sbx_screen_clear(a);
    check(sbx_screen_line_count(a) == 0 && sbx_screen_dropped(a) == 0);
    /* The parser state survives a clear (as tmux's does): CAN ends any
     * sequence in progress. */
    check(sbx_screen_feed(a, "\030x", 2) == 1);
    check(sbx_screen_line_count(a) == 1);

out:
    sbx_buf_free(&ca);
    sbx_buf_free(&cb);
    sbx_buf_free(&again);
    sbx_buf_free(&joined);
    sbx_screen_free(a);
    sbx_screen_free(b);
    return 0;
}
