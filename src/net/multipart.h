#ifndef SBX_NET_MULTIPART_H
#define SBX_NET_MULTIPART_H

/*
 * Streaming multipart/form-data parser (RFC 7578 over RFC 2046 §5.1): bytes
 * are fed in pieces of any size, part bodies come out through callbacks in
 * pieces as they arrive (nothing is buffered but a part's headers and at most
 * a delimiter's worth of lookahead), so a multi-GiB upload needs constant
 * memory. The preamble and epilogue are ignored; the CRLF before each
 * delimiter belongs to the delimiter, not to the data.
 *
 * Thread-safety: one thread at a time per parser.
 */

#include <stddef.h>

#include "base/buf.h"

/* Limit on one part's header block (bytes, including the blank line). */
#define SBX_MULTIPART_HEADERS_MAX ((size_t)16 << 10)
/* RFC 2046: a boundary is 1 to 70 characters. */
#define SBX_MULTIPART_BOUNDARY_MAX 70

struct sbx_multipart;

struct sbx_multipart_part {
    const char *name;         /* Content-Disposition name, "" when absent */
    const char *filename;     /* filename (filename* preferred), NULL when absent */
    const char *content_type; /* "" when absent */
};

/* Each callback returns 0 to go on, or any non-zero value to stop: feed then
 * returns that value (and the parser stays stopped). */
struct sbx_multipart_cbs {
    int (*part_begin)(const struct sbx_multipart_part *part, void *ud);
    int (*part_data)(const char *p, size_t n, void *ud);
    int (*part_end)(void *ud);
};

/* Appends the boundary parameter of a multipart/form-data Content-Type to
 * out. Returns 0, or -EINVAL when content_type is not multipart/form-data or
 * has no valid boundary. */
int sbx_multipart_boundary(const char *content_type, struct sbx_buf *out);

/* New parser for content_type (see sbx_multipart_boundary). Returns NULL on
 * an invalid Content-Type (errno-style code in *rc: -EINVAL or -ENOMEM). */
struct sbx_multipart *sbx_multipart_new(const char *content_type,
                                        const struct sbx_multipart_cbs *cbs, void *ud,
                                        int *rc);
/* Parses n more bytes. Returns 0, a callback's non-zero value, or -EPROTO
 * on malformed input (sbx_multipart_error() says what; the parser then
 * refuses further input). */
int sbx_multipart_feed(struct sbx_multipart *m, const char *p, size_t n);
/* At the end of the input: 0 if the closing delimiter was seen, else
 * -EPROTO (truncated body). */
int sbx_multipart_finish(struct sbx_multipart *m);
/* What went wrong, "" when nothing did. */
const char *sbx_multipart_error(const struct sbx_multipart *m);
void sbx_multipart_free(struct sbx_multipart *m);

#endif
