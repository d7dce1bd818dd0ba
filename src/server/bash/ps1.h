#ifndef SBX_SERVER_BASH_PS1_H
#define SBX_SERVER_BASH_PS1_H

/*
 * The prompt protocol of openhands-protocol.md §5.1: before every prompt
 * bash prints a JSON block between "###PS1JSON###" and "###PS1END###" with
 * $!, $?, \u, \h, the cwd and the python path. This module writes the bash
 * code that installs the prompt and finds and parses the blocks in a
 * captured pane, with upstream's rules (a block starts at a line start, ends
 * at the next end marker, and counts only if its body is valid JSON).
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "sbx/model.h"

#define SBX_PS1_BEGIN "###PS1JSON###"
#define SBX_PS1_END "###PS1END###"

struct sbx_ps1_match {
    size_t start; /* offset of the begin marker */
    size_t end;   /* offset just past the end marker */
    struct sbx_cmd_metadata md; /* exit_code, pid, username, hostname, working_dir,
                                   py_interpreter_path; prefix and suffix "" */
};

struct sbx_ps1_matches {
    struct sbx_ps1_match *v;
    size_t n;
};

/* Appends the line typed into a fresh bash to install the prompt (with its
 * trailing "\r"). The prompt is computed without forking (no $(pwd), no
 * `which`), so a command's round trip costs no extra process. */
int sbx_ps1_setup_line(struct sbx_buf *out);

/* Finds every valid block in pane. Returns 0 or -ENOMEM. */
int sbx_ps1_find(const char *pane, size_t len, struct sbx_ps1_matches *out);
void sbx_ps1_matches_free(struct sbx_ps1_matches *m);

/* Parses one block body (the text between the markers) into md. Returns 0
 * for any JSON (a non-object leaves md at its defaults: pid and exit_code -1,
 * strings NULL), or -EINVAL when it is not JSON. Strings are allocated. */
int sbx_ps1_parse(const char *body, size_t len, struct sbx_cmd_metadata *md);
/* Frees the strings of md and sets them to NULL. */
void sbx_ps1_md_clear(struct sbx_cmd_metadata *md);

#endif
