#ifndef SBX_BASE_FD_H
#define SBX_BASE_FD_H

/*
 * File-descriptor helpers. All retry EINTR and return 0 (or a count) or a
 * negative errno. Descriptors they open are O_CLOEXEC.
 */

#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"

/* read(2) retrying EINTR; returns bytes read (0 at EOF) or -errno. */
ssize_t sbx_fd_read(int fd, void *p, size_t n);
/* Writes all n bytes (blocking fds), retrying EINTR and short writes. */
int sbx_fd_write_all(int fd, const void *p, size_t n);
int sbx_fd_set_nonblock(int fd, int on);
/* close(2) that ignores EINTR and keeps errno; no-op on fd < 0. */
void sbx_fd_close(int fd);
/* Appends the whole content of path to out (at most out->max bytes). */
int sbx_file_read(const char *path, struct sbx_buf *out);
/* Writes data to path atomically (temp file + rename) with mode. */
int sbx_file_write_atomic(const char *path, const void *data, size_t n, mode_t mode);
/* Appends data to path (O_APPEND), creating it with mode if missing. */
int sbx_file_append(const char *path, const void *data, size_t n, mode_t mode);

#endif
