#ifndef SBX_BASE_BUF_H
#define SBX_BASE_BUF_H

/*
 * struct sbx_buf: the one growable byte/text buffer.
 *
 * Invariants (git's strbuf): after sbx_buf_init() `ptr` is never NULL and
 * ptr[len] == '\0' always, so the content can be used as a C string when it
 * holds no NUL bytes. Every buffer has a hard maximum size (`max`, 0 = the
 * default SBX_BUF_DEFAULT_MAX); growing past it fails with -EMSGSIZE and
 * leaves the buffer unchanged. Functions return 0 or a negative errno.
 * Thread-safety: one thread at a time per buffer.
 */

#include <stdarg.h>
#include <stddef.h>

#define SBX_BUF_DEFAULT_MAX ((size_t)1 << 30)

struct sbx_buf {
    char *ptr;
    size_t len;
    size_t cap; /* 0 while ptr points at the shared empty string */
    size_t max;
};

#define SBX_BUF_INIT {sbx__buf_empty, 0, 0, 0}
extern char sbx__buf_empty[1];

void sbx_buf_init(struct sbx_buf *b, size_t max);
/* Releases the memory and re-initialises b (keeping max). NULL allowed. */
void sbx_buf_free(struct sbx_buf *b);
/* Empties b, keeping its allocation. */
void sbx_buf_reset(struct sbx_buf *b);
/* Makes room for `extra` more bytes (plus the NUL). */
int sbx_buf_grow(struct sbx_buf *b, size_t extra);
int sbx_buf_add(struct sbx_buf *b, const void *data, size_t len);
int sbx_buf_addstr(struct sbx_buf *b, const char *s);
int sbx_buf_addch(struct sbx_buf *b, char c);
int sbx_buf_addf(struct sbx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sbx_buf_vaddf(struct sbx_buf *b, const char *fmt, va_list ap);
/* Shortens b to len bytes (no-op if already shorter). */
void sbx_buf_truncate(struct sbx_buf *b, size_t len);
/* Removes the first n bytes (all if n >= len). */
void sbx_buf_consume(struct sbx_buf *b, size_t n);
/* Hands the content to the caller (free() it) and re-initialises b; never
 * NULL unless out of memory. *len_out (if not NULL) gets the length. */
char *sbx_buf_detach(struct sbx_buf *b, size_t *len_out);

#endif
