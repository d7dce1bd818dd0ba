#ifndef SBX_ARCHIVE_ZIP_TREE_H
#define SBX_ARCHIVE_ZIP_TREE_H

/*
 * Zipping a directory tree (or one file) on the host, for uploads (the upstream client's
 * copy_to zips a directory with names relative to its parent). Built on the
 * streaming writer of archive/zip.h.
 *
 * Thread-safety: reentrant.
 */

#include "sbx/err.h"

/* Writes a zip of the directory dir to out_fd (at its current offset).
 * Entry names are "<top>/<path relative to dir>"; directories get their own
 * entries (so empty ones survive), regular files their content, and
 * symlinks are stored as symlinks when their target stays inside the tree
 * (judged on the names). Nothing is ever followed through a symlink below
 * dir: symlinks leading out of the tree, and sockets, fifos and devices, are
 * skipped. Returns 0 or a negative errno with err naming the path. */
int sbx_zip_tree_write(const char *dir, const char *top, int out_fd, struct sbx_err *err);

/* Writes a zip holding the one regular file at path, under the entry name
 * name, to out_fd. Returns 0 or a negative errno with err naming the path. */
int sbx_zip_file_write(const char *path, const char *name, int out_fd, struct sbx_err *err);

#endif
