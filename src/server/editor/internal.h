#ifndef SBX_SERVER_EDITOR_INTERNAL_H
#define SBX_SERVER_EDITOR_INTERNAL_H

/*
 * Helpers shared by the editor's files (text.c, editor.c, view.c, diff.c).
 * All text handled here is the *decoded* file content: valid UTF-8 with
 * LF line ends (see sbx__editor_decode).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* OHEditor's MAX_RESPONSE_LEN_CHAR: outputs are clipped at this many
 * characters (code points, as Python counts them). */
#define SBX_EDITOR_MAX_CHARS 16000
/* OHEditor's SNIPPET_CONTEXT_WINDOW. */
#define SBX_EDITOR_SNIPPET_WINDOW 4

extern const char sbx__editor_file_clip_notice[];
extern const char sbx__editor_dir_clip_notice[];

/* Decodes raw file bytes into out (appended): valid UTF-8 stays as is,
 * anything else is read as latin-1 (*latin1 = true). Then, as Python's
 * text-mode open() does, CR LF and lone CR become LF. */
int sbx__editor_decode(const char *raw, size_t n, struct sbx_buf *out, bool *latin1);
/* The inverse for writing: UTF-8 text to UTF-8 (copy) or latin-1 bytes.
 * Returns -EILSEQ when a character does not fit latin-1, with *bad_cp and
 * *bad_pos (character index) set. */
int sbx__editor_encode(const char *text, size_t n, bool latin1, struct sbx_buf *out,
                       uint32_t *bad_cp, size_t *bad_pos);
/* Byte offset of the first nchars characters of the UTF-8 text (len if
 * it has fewer). */
size_t sbx__editor_char_offset(const char *s, size_t len, size_t nchars);
/* Python's len(content.split('\n')) - 1 style line count of OHEditor's
 * _count_lines: number of '\n' plus one for an unterminated last line. */
int64_t sbx__editor_count_lines(const char *s, size_t len);
/* Byte range [*b, *e) of lines first..last (1-based, inclusive, each with
 * its '\n') as Python's line iteration yields them. */
void sbx__editor_line_range(const char *s, size_t len, int64_t first, int64_t last, size_t *b,
                            size_t *e);
/* OHEditor._make_output: "Here's the result of running `cat -n` on
 * <desc>:\n" + numbered lines of content (clipped first) + "\n". */
int sbx__editor_cat_n(struct sbx_buf *out, const char *desc, const char *content, size_t len,
                      int64_t start_line);
/* binaryornot's is_binary() heuristic on the first bytes of a file. */
bool sbx__editor_is_binary(const unsigned char *p, size_t n);
/* Python repr() of a str (quotes chosen as Python does; only the quote and
 * backslash escapes Python would add for printable text). */
int sbx__editor_pyrepr(struct sbx_buf *out, const char *s);

/* Python str(Path(p)): repeated slashes and "." components dropped, no
 * trailing slash; "" becomes ".". Returns a malloc'd string or NULL. */
char *sbx__editor_normalize_path(const char *p);
/* pathlib's Path.suffix ("" for ".bashrc" and "name."). */
const char *sbx__editor_path_suffix(const char *p);
/* One of OHEditor's SUPPORTED_BINARY_EXTENSIONS (case-insensitive). */
bool sbx__editor_is_supported_binary(const char *p);
/* Python's int(str) for insert_line. */
bool sbx__editor_parse_pyint(const char *s, int64_t *v);

/* history.c: undo entries per path (decoded text), oldest first. */
#define SBX_EDITOR_HISTORY_MAX 10
struct sbx__editor_hist {
    char *path;
    char *texts[SBX_EDITOR_HISTORY_MAX]; /* oldest first */
    size_t lens[SBX_EDITOR_HISTORY_MAX];
    size_t n;
    struct sbx__editor_hist *next;
};
struct sbx__editor_hist *sbx__editor_hist_find(struct sbx__editor_hist **list, const char *path);
/* Appends a copy of text, dropping the oldest entry past the maximum. */
int sbx__editor_hist_push(struct sbx__editor_hist **list, const char *path, const char *text,
                          size_t len);
void sbx__editor_hist_free(struct sbx__editor_hist *list);

/* view.c: the directory listing of `view` (path already normalised).
 * Sets *error when find would have failed (out then holds the message). */
int sbx__editor_view_dir(const char *path, struct sbx_buf *out, bool *error);

#endif
