#ifndef SBX_SERVER_EDITOR_EDITOR_H
#define SBX_SERVER_EDITOR_EDITOR_H

/*
 * The OH_ACI str_replace_editor (openhands-aci 0.3.2 OHEditor), as
 * openhands-protocol.md §4.4 specifies it: view, create, str_replace,
 * insert, undo_edit, with every message string exactly.
 *
 * Thread-safety: one thread at a time per editor.
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

struct sbx_editor;

/* One editor per server: it holds the undo history (10 entries per file,
 * for the editor's lifetime). workdir is the workspace root (used for the
 * "Maybe you meant <workdir>/<p>?" hint). NULL when out of memory. */
struct sbx_editor *sbx_editor_new(const char *workdir);
void sbx_editor_free(struct sbx_editor *e);

struct sbx_editor_req {
    const char *command;     /* "view", "create", "str_replace", "insert", "undo_edit", ... */
    const char *path;
    const char *file_text;   /* NULL = not given */
    const char *old_str;     /* NULL = not given */
    const char *new_str;     /* NULL = not given */
    const char *insert_line; /* NULL = not given; decimal text or any string */
    bool has_view_range;     /* view_range given as two integers */
    int64_t view_range[2];
    const char *view_range_raw; /* view_range given in another shape (compact JSON) */
};

struct sbx_editor_res {
    bool error;        /* output is an error message (callers prefix "ERROR:\n") */
    char *output;      /* the editor's text, never NULL after a 0 return */
    char *old_content; /* file content before the command, NULL when none */
    char *new_content; /* file content after the command, NULL when none */
};

/* Runs one command. Returns 0 (the outcome, success or editor error, is in
 * r) or -ENOMEM. r is cleared first; release it with
 * sbx_editor_res_clear(). */
int sbx_editor_run(struct sbx_editor *e, const struct sbx_editor_req *q,
                   struct sbx_editor_res *r);
void sbx_editor_res_clear(struct sbx_editor_res *r);

/* The `diff` of an edit observation (§4.4): unified diff with 0 context
 * lines between a and b, each line right-stripped, joined with "\n", both
 * file names `path`; "" when a equals b. Appends to out. */
int sbx_editor_diff(const char *path, const char *a, const char *b, struct sbx_buf *out);


#endif
