#include "base/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

ssize_t sbx_fd_read(int fd, void *p, size_t n)
{
    ssize_t r;

    do {
        r = read(fd, p, n);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int sbx_fd_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int sbx_fd_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (fcntl(fd, F_SETFL, fl) < 0)
        return -errno;
    return 0;
}

void sbx_fd_close(int fd)
{
    int saved = errno;

    if (fd >= 0)
        close(fd);
    errno = saved;
}

int sbx_file_read(const char *path, struct sbx_buf *out)
{
    char tmp[65536];
    int fd, rc = 0;
    ssize_t n;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        n = sbx_fd_read(fd, tmp, sizeof(tmp));
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        rc = sbx_buf_add(out, tmp, (size_t)n);
        if (rc < 0)
            break;
    }
    sbx_fd_close(fd);
    return rc;
}

int sbx_file_write_atomic(const char *path, const void *data, size_t n, mode_t mode)
{
    char tmp[4096];
    int fd, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.sbx-tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    rc = sbx_fd_write_all(fd, data, n);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int sbx_file_append(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd, rc;

    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    rc = sbx_fd_write_all(fd, data, n);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}
