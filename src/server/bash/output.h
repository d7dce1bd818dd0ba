#ifndef SBX_SERVER_BASH_OUTPUT_H
#define SBX_SERVER_BASH_OUTPUT_H

/*
 * How a command's output is cut out of the captured pane, exactly as
 * upstream's BashSession does (openhands-protocol.md §5.2): pure functions
 * over text, unit-tested on their own.
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "server/bash/ps1.h"

/* _combine_outputs_between_matches: the text between consecutive blocks
 * (each segment followed by "\n") plus what follows the last block; with one
 * block, what follows it, or with before_last what precedes it; with none,
 * the whole pane. Appends to out. */
int sbx_bash_combine(const char *pane, size_t len, const struct sbx_ps1_matches *m,
                     bool before_last, struct sbx_buf *out);

/* _get_command_output: removes prev (the raw output returned last time, if
 * any) from the front of raw, then strips leading whitespace, the echoed
 * command (command left-stripped) and leading whitespace again, and trailing
 * whitespace. Appends the result to out. */
int sbx_bash_clean_output(const char *raw, size_t len, const char *prev, size_t prev_len,
                          const char *command, struct sbx_buf *out);

/* Python's len(text.splitlines()) for pane text. */
size_t sbx_bash_count_lines(const char *s, size_t len);

/* Python str.isspace() for one ASCII byte (what strip() removes here). */
bool sbx_bash_is_space(unsigned char c);

#endif
