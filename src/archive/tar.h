#ifndef SBX_ARCHIVE_TAR_H
#define SBX_ARCHIVE_TAR_H

/*
 * Safe extraction of tar archives on the host side: tar (ustar, pax, GNU),
 * cpio, zip and 7z, plain or compressed with gzip, bzip2, xz, lzma, lzip,
 * zstd, lz4 or compress (never through an external program). libarchive is used only in
 * src/archive/tar_extract.c, which is built into the host archive target and
 * never into the static sbx-server.
 *
 * Every entry name is checked before it is written: absolute names, `..`
 * components and hard links whose target is absolute or climbs out are
 * refused; nothing is ever written through a symlink (libarchive's
 * ARCHIVE_EXTRACT_SECURE_* checks), so a symlink entry can point anywhere
 * (absolute symlinks are normal in a root filesystem) without letting a
 * later entry escape. Modes and times are kept; ownership too when running
 * as root (numeric ids, no user database lookup). Device nodes that cannot
 * be created (not root, or root in a user namespace) are skipped, and
 * extended attributes are restored where the file system allows.
 *
 * Thread-safety: reentrant; the working directory is never changed.
 */

#include <stddef.h>

#include "sbx/err.h"

/* Extracts the archive at archive_path into the existing directory dest.
 * Returns 0; -ENOENT if archive_path does not exist; -EINVAL for an unsafe
 * entry (err names it) or an unreadable or damaged archive; another negative
 * errno for I/O failures. Entries written before a failure stay in dest:
 * extract into a fresh directory and remove it on failure. */
int sbx_tar_extract(const char *archive_path, const char *dest, struct sbx_err *err);

/* Same, from an archive in memory (data is borrowed for the call). */
int sbx_tar_extract_mem(const void *data, size_t len, const char *dest, struct sbx_err *err);

#endif
