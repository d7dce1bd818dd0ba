#ifndef SBX_SERVER_BASH_SPLIT_H
#define SBX_SERVER_BASH_SPLIT_H

/*
 * The multi-command check of a `run` action (openhands-protocol.md 5.3 step 2).
 *
 * OpenHands parses the command with bashlex and rejects it when it holds more
 * than one top-level command. This module reproduces that split without
 * Python: a small bash lexer plus a recursive-descent recogniser of the
 * grammar subset bashlex accepts, and then OpenHands' own way of cutting the
 * original text at each top-level node (text between nodes and after the last
 * one is appended, right-stripped, to the preceding command).
 *
 * Anything bashlex rejects or does not implement (unclosed quotes, heredocs
 * without their delimiter line, stray `fi`, `select`, `[[ ]]`, `$(( ))`,
 * nesting deeper than an internal bound, ...) yields the whole text as one
 * command, as upstream does.
 *
 * Thread-safety: no shared state; any number of threads may split at once.
 */

#include <stddef.h>

struct sbx_bash_split {
    size_t n;    /* number of commands, >= 1 after a successful split */
    char **cmds; /* n NUL-terminated strings, owned by the struct */
};

/*
 * Splits text (len bytes, need not be NUL-terminated) into top-level commands
 * exactly as OpenHands' split_bash_commands() does. On success *out holds
 * n >= 1 commands (whitespace-only input gives one empty string); free them
 * with sbx_bash_split_free(). Returns 0, or -ENOMEM (then *out is empty).
 * A NUL byte inside the text ends the C string of the command holding it.
 */
int sbx_bash_split(const char *text, size_t len, struct sbx_bash_split *out);

/* Releases the commands and zeroes *s. NULL-safe and idempotent. */
void sbx_bash_split_free(struct sbx_bash_split *s);

#endif
