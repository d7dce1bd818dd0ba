#ifndef SBX_PROVIDERS_LOCAL_IMAGE_H
#define SBX_PROVIDERS_LOCAL_IMAGE_H

/*
 * Root filesystem images for local sandboxes (--rootfs DIR|TARBALL).
 * A directory is used in place (read-only lower layer). A tarball (.tar,
 * .tar.gz, .tgz, .tar.xz, .tar.zst: whatever libarchive reads, e.g. the
 * output of `docker export`) is extracted once into
 * <state_dir>/images/<key>/rootfs, where key hashes the tarball's real path,
 * size and mtime; concurrent first uses extract into a temporary directory
 * and the first rename wins. Entries with absolute or `..` names, and
 * hard links pointing outside, are refused.
 */

#include "sbx/err.h"

/* Resolves image to a root filesystem directory, in *rootfs_out (heap).
 * -ENOENT if image does not exist, -EINVAL if it is neither a directory nor
 * a readable archive, or if the result has no /bin/sh (message says so). */
int sbx_image_prepare(const char *state_dir, const char *image, char **rootfs_out,
                      struct sbx_err *err);

#endif
