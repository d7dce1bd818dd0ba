#ifndef SBX_SERVER_BASH_SCREEN_H
#define SBX_SERVER_BASH_SCREEN_H

/*
 * struct sbx_screen: a small terminal-screen emulator that turns the raw byte
 * stream of a PTY into the text upstream OpenHands reads from tmux with
 * `capture-pane -J -pS -` + libtmux (protocol §5.2, §11).
 *
 * It models tmux 3.3a's grid: `rows` visible rows of `cols` columns below up to
 * `history` rows of scrollback. Rows (not logical lines) count against the
 * history limit, and when a row is about to scroll into a full history the
 * oldest history/10 rows (at least 1) are dropped at once, as tmux's
 * grid_collect_history does: after `seq 1 50000` in a 1000x1000 pane with
 * history-limit 10000 the capture holds exactly the last 10000 lines.
 *
 * Rendering matches tmux 3.3a (checked byte for byte against it by
 * tests/integration/test_screen_tmux.py):
 *  - printable UTF-8: columns, not bytes; widths from glibc's wcwidth (wide
 *    CJK/emoji take 2 columns); zero-width characters combine onto the cell
 *    left of the cursor (dropped at column 0); characters wcwidth rejects
 *    (C1, unassigned), invalid/overlong/surrogate sequences are dropped, and
 *    so is the byte that breaks a sequence; escape sequences do not end one.
 *  - CR; LF/VT/FF move down keeping the column; BS (back over a wrap to the
 *    previous row's last column); TAB moves to the next 8-column stop
 *    without writing cells (the gap prints as spaces, a trailing tab as
 *    nothing); ESC H / CSI g set and clear stops.
 *  - autowrap with the pending-wrap column, -J joining of wrapped rows; a
 *    full-row erase also unwraps the row above (tmux's grid_clear_lines);
 *    ?7l (no autowrap) keeps overwriting the last column.
 *  - CSI A B C D E F G ` d H f K J m ?h ?l; J 2 (and RIS, ESC c) push the
 *    used rows into history, J 3 clears history (so `clear` leaves nothing);
 *    ESC 7/8, ESC D/E/M; alternate screen ?47/?1047/?1049 captured as tmux
 *    does (history stays above the alternate rows, main screen comes back).
 *  - SGR, other CSI, OSC (BEL or ST), DCS/APC/PM/SOS/ESC k strings, charset
 *    designations and other escapes and C0 controls change no text. Not
 *    modelled (tmux implements them; rare in command output): insert mode,
 *    ICH/DCH/ECH, IL/DL, SU/SD and scroll regions.
 *  - written spaces count: a line of only spaces is captured (then stripped
 *    to an empty line), as libtmux drops trailing "" lines before OpenHands
 *    strips each line.
 *
 * Thread-safety: one thread at a time per screen.
 */

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct sbx_screen;

/* Creates an empty screen. cols: pane width (1000 upstream), rows: visible
 * rows (1000), history: tmux history-limit (10000). cols and rows are clamped
 * to [1, 10000], history to at most 2^20 rows (the row ring is allocated
 * up front: about 40 bytes a row). Returns NULL if out of memory. */
struct sbx_screen *sbx_screen_new(unsigned cols, unsigned rows, size_t history);

/* Releases s. NULL allowed. */
void sbx_screen_free(struct sbx_screen *s);

/* Feeds raw pty output: any bytes, split anywhere (an escape sequence or a
 * UTF-8 character may be cut between calls). Returns 1 if the captured text
 * may have changed, 0 if it certainly did not (e.g. only cursor motion or
 * ignored escapes), -ENOMEM (s is then still consistent, some output lost). */
int sbx_screen_feed(struct sbx_screen *s, const char *p, size_t n);

/* Logical lines (wrapped rows joined, as -J), each right-stripped of the
 * characters Python's str.rstrip() strips; trailing lines that tmux prints as
 * "" are not counted. Index 0 is the oldest line still held. The pointer
 * returned by sbx_screen_line() stays valid until the next feed or clear; it
 * is NUL-terminated, *len (if not NULL) gets its length. Out-of-range or
 * out-of-memory: "" with *len 0 (and a count of 0). */
size_t sbx_screen_line_count(const struct sbx_screen *s);
const char *sbx_screen_line(const struct sbx_screen *s, size_t i, size_t *len);

/* Total number of logical lines dropped from the top (history limit) since
 * creation or the last sbx_screen_clear(), so (dropped + i) is a stable
 * absolute line index. A line whose first rows were dropped keeps its index. */
size_t sbx_screen_dropped(const struct sbx_screen *s);

/* Like Ctrl-L + clear-history: drops all rows; the cursor moves to column 0
 * of the first (empty) row. Resets sbx_screen_dropped(). The escape-sequence
 * parser state, modes and a saved main screen (while on the alternate one)
 * are kept, as tmux keeps them. */
void sbx_screen_clear(struct sbx_screen *s);

/* Columns a code point takes on the screen (glibc wcwidth, as tmux): 1 or 2,
 * 0 for combining marks, -1 for characters tmux drops. */
int sbx_screen_cp_width(uint32_t cp);

/* Appends what libtmux's capture gives: lines right-stripped, trailing empty
 * lines dropped, joined with "\n" (no final newline). Returns 0, -ENOMEM or
 * -EMSGSIZE (out is then unchanged). */
int sbx_screen_capture(const struct sbx_screen *s, struct sbx_buf *out);

#endif
