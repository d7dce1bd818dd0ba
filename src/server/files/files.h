#ifndef SBX_SERVER_FILES_FILES_H
#define SBX_SERVER_FILES_FILES_H

/*
 * Helpers shared by the read and write actions (openhands-protocol.md
 * §4.2-§4.3), kept apart so that unit tests can reach them: the binaryornot
 * heuristic, pathlib-style path joining, Python text-mode decoding and the
 * upstream line-window rules (openhands/runtime/utils/files.py).
 *
 * Thread-safety: pure functions (sbx_files_is_binary reads the file).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* binaryornot 0.4.4 helpers.is_binary_string() on a chunk (see read.c for
 * how chardet is approximated). An empty chunk is text. */
bool sbx_files_binary_chunk(const unsigned char *p, size_t n);
/* binaryornot check.is_binary(path): a ".pyc" suffix, else the first 1024
 * bytes; a file that cannot be opened or read counts as text. */
bool sbx_files_is_binary(const char *path);

/* str(Path(cwd) / path) as Python's pathlib prints it: an absolute path
 * ignores cwd; empty and "." components and trailing slashes are dropped,
 * ".." is kept, a leading "//" (exactly two) is kept. Appends to out. */
int sbx_files_resolve(const char *cwd, const char *path, struct sbx_buf *out);

/* Python's open(..., 'r', encoding='utf-8').read(): strict UTF-8 (-EILSEQ
 * on any invalid sequence) and universal newlines (CR LF and lone CR become
 * LF). Appends the decoded text to out. */
int sbx_files_decode_text(const char *p, size_t n, struct sbx_buf *out);

/* file.readlines() of decoded text: line i is text[off[i], off[i+1]), each
 * ending in '\n' except perhaps the last. */
struct sbx_files_lines {
    size_t n;
    size_t *off; /* n + 1 entries */
};
int sbx_files_lines_split(const char *text, size_t len, struct sbx_files_lines *l);
void sbx_files_lines_free(struct sbx_files_lines *l);

/* read_lines(all_lines, start, end) of files.py: the slice [*b, *e) of n
 * lines that a read returns. */
void sbx_files_window(size_t n, int64_t start, int64_t end, size_t *b, size_t *e);

/* The text a write produces. old == NULL: a new file, every piece of
 * content split on '\n' gets a '\n'. Otherwise insert_lines() of files.py:
 * (start == 0 ? [] : old[:start]) + pieces + (end == -1 ? [] : old[end:]),
 * with Python's slice rules for negative and out-of-range indices. */
int sbx_files_splice(const char *old_text, const struct sbx_files_lines *old, const char *content,
                     int64_t start, int64_t end, struct sbx_buf *out);

/* str(OSError) for errno -neg_errno on path: "[Errno 2] No such file or
 * directory: '/x'" (path as Python's repr() prints it). Appends to out. */
int sbx_files_oserror(int neg_errno, const char *path, struct sbx_buf *out);

#endif
