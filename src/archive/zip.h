#ifndef SBX_ARCHIVE_ZIP_H
#define SBX_ARCHIVE_ZIP_H

/*
 * Zip archives for the static server (DESIGN.md: minizip + zlib).
 *
 * The writer streams: every byte goes out through a callback as soon as it
 * is produced (local headers carry the data-descriptor flag, so sizes and
 * CRC follow the data), entries are deflated with zlib, and ZIP64 records
 * are used when a size, an offset or the entry count needs them. Only the
 * central directory (one small record per entry) is kept in memory.
 *
 * The extractor reads a zip file on disk with minizip and refuses anything
 * that would write outside the destination: absolute names, ".."
 * components, symlink entries whose target leaves the destination, and
 * names that would go through a symlink leading out of it (openat2
 * RESOLVE_BENEATH; without openat2, any symlink on the way is refused).
 *
 * Thread-safety: one thread at a time per writer; extraction is reentrant.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "sbx/err.h"

struct sbx_zip_writer;

/* Receives the archive's bytes in order. Returns 0, or a negative errno
 * that aborts the writer (the call that produced output returns it). */
typedef int sbx_zip_out_fn(const void *p, size_t n, void *ud);

/* Returns NULL when out of memory. level: zlib level (-1 = default). */
struct sbx_zip_writer *sbx_zip_writer_new(sbx_zip_out_fn *out, void *ud, int level);
/* Starts an entry. name is stored as is (use '/' separators, no leading
 * '/'); mode is the unix mode (type bits included); size_hint is the
 * expected uncompressed size or -1 when unknown (>= 4 GiB or unknown selects
 * ZIP64 sizes for the entry); store: no compression (method 0), for data
 * that would not shrink. Returns 0 or a negative errno. */
int sbx_zip_writer_begin(struct sbx_zip_writer *z, const char *name, mode_t mode, time_t mtime,
                         int64_t size_hint, bool store);
/* Whether deflate at level 1 shrinks a sample of the data by at least 5%:
 * deflating already-compressed data (images, archives, git packs) costs
 * far more time than it saves bytes. */
bool sbx_zip_compressible(const void *p, size_t n);
/* Adds data to the current entry. */
int sbx_zip_writer_data(struct sbx_zip_writer *z, const void *p, size_t n);
/* Ends the current entry (flushes the deflate stream and the data
 * descriptor). -EFBIG if the entry grew past 4 GiB without ZIP64 sizes. */
int sbx_zip_writer_end(struct sbx_zip_writer *z);
/* Writes the central directory and end records. */
int sbx_zip_writer_finish(struct sbx_zip_writer *z);
void sbx_zip_writer_free(struct sbx_zip_writer *z);

/* Extracts the zip file at zip_path into the directory dest (which must
 * exist). Every entry name is checked before anything is written. Returns
 * 0; -EINVAL for an unsafe entry or a damaged archive, with err naming the
 * entry; or another negative errno for I/O failures. An entry refused
 * during extraction (a symlink on the way) may leave earlier entries
 * written, never anything outside dest. */
int sbx_zip_extract(const char *zip_path, const char *dest, struct sbx_err *err);

/* Internal to src/archive (the extractor and the tree writer): whether a
 * symlink at the relative name `name` pointing at `target` stays inside the
 * tree that holds it, judged on the names alone (an absolute or empty target
 * never does; what it may reach through other symlinks is checked when
 * anything is written through it). */
bool sbx_zip_link_stays_inside(const char *name, const char *target);

#endif
