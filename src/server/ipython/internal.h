#ifndef SBX_SERVER_IPYTHON_INTERNAL_H
#define SBX_SERVER_IPYTHON_INTERNAL_H

/*
 * Pieces of the run_ipython kernel that are pure functions (unit-tested on
 * their own): the frames spoken with the driver, and the observation text.
 *
 * Frame: a 4-byte big-endian payload length, then the payload (JSON text;
 * the very first frame to the driver is the driver's source instead).
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Largest payload accepted from the driver (text is capped there at
 * 32 MiB; PNGs come base64-encoded on top). */
#define SBX_IPYTHON_FRAME_MAX ((size_t)256 << 20)

/* driver.py, embedded at build time (generated ipython_driver.c). */
extern const char sbx__ipython_driver[];
extern const size_t sbx__ipython_driver_len;

/* Appends the frame for payload p/n to out. */
int sbx__ipython_frame_add(struct sbx_buf *out, const void *p, size_t n);
/* Looks for a whole frame at the front of p/len: returns 1 with *payload,
 * *n and *used (header + payload) set, 0 when more bytes are needed, or
 * -EPROTO when the announced length exceeds max. */
int sbx__ipython_frame_next(const char *p, size_t len, size_t max, const char **payload,
                            size_t *n, size_t *used);

/* Removes ANSI escape sequences in place, as upstream's
 * re.sub(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])', '', s) does. */
void sbx__ipython_strip_ansi(struct sbx_buf *b);

/* "[Execution timed out (<t> seconds).]": t as Python prints it (an int
 * stays an int, a float as repr(float)). */
int sbx__ipython_timeout_text(struct sbx_buf *out, double timeout_s, bool is_int);

/* The observation's content from the cell's text output (§4.5): ANSI
 * stripped, "[Code executed successfully with no output]" when there is
 * none, right-stripped, then with include_extra the two footer lines. */
int sbx__ipython_content(struct sbx_buf *out, const char *text, size_t len, bool include_extra,
                         const char *cwd, const char *executable);

#endif
