#ifndef SBX_ARCHIVE_GZIP_H
#define SBX_ARCHIVE_GZIP_H

/*
 * Streaming gzip (RFC 1952) with zlib, for HTTP bodies with
 * Content-Encoding: gzip (envd's /files). Both directions take input in
 * pieces of any size and hand output to a callback as it is produced, so
 * memory stays bounded whatever the size.
 *
 * The reader follows Go's compress/gzip Reader (what envd uses): members
 * may follow one another (multistream); anything after a member that is not
 * another member's header is an error; an empty input is an error (EOF).
 *
 * Thread-safety: one thread at a time per object.
 */

#include <stdbool.h>
#include <stddef.h>

#include "sbx/err.h"

/* Receives output bytes in order. 0, or a negative errno that stops the
 * call that produced them (which returns it). */
typedef int sbx_gzip_out_fn(const void *p, size_t n, void *ud);

struct sbx_gunzip;

/* NULL when out of memory. */
struct sbx_gunzip *sbx_gunzip_new(sbx_gzip_out_fn *out, void *ud);
/* Decompresses n more bytes. 0; -EINVAL for a damaged stream (err: Go's
 * wording: "gzip: invalid header", "gzip: invalid checksum", "flate:
 * corrupt input"); what out returned; -ENOMEM. After an error every call
 * returns it again. */
int sbx_gunzip_feed(struct sbx_gunzip *g, const void *p, size_t n, struct sbx_err *err);
/* The input ended: 0 when it ended with a complete member, else -EINVAL
 * ("EOF" for no input at all, "unexpected EOF" for a cut member). */
int sbx_gunzip_finish(struct sbx_gunzip *g, struct sbx_err *err);
/* Whether the first member's header has been read (a failure before it
 * is the one Go's gzip.NewReader reports). */
bool sbx_gunzip_header_read(const struct sbx_gunzip *g);
void sbx_gunzip_free(struct sbx_gunzip *g);

struct sbx_gzip;

/* level: zlib's (-1 default, 1 fastest .. 9). NULL when out of memory. */
struct sbx_gzip *sbx_gzip_new(int level, sbx_gzip_out_fn *out, void *ud);
/* Compresses n more bytes (output may be held back until later calls). */
int sbx_gzip_feed(struct sbx_gzip *z, const void *p, size_t n, struct sbx_err *err);
/* Flushes the rest and the trailer. */
int sbx_gzip_finish(struct sbx_gzip *z, struct sbx_err *err);
void sbx_gzip_free(struct sbx_gzip *z);

#endif
