/*
 * Host-side helpers of the local provider that touch processes and files:
 * a pid's start time, killing an init and waiting for it, waiting for
 * sbx-server's socket, and removing a sandbox directory.
 */
#include "providers/local/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/time.h"

#define KILL_WAIT_MS 5000
#define RM_MAX_DEPTH 32

int sbx__local_pid_start(pid_t pid, int64_t *start)
{
    char path[64], buf[1024];
    const char *p;
    long long v = 0;
    ssize_t n;
    int fd;

    *start = 0;
    if (pid <= 0)
        return -ESRCH;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    n = sbx_fd_read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: skip to the last
     * ')'. Then state (field 3) ... starttime (field 22, clock ticks since
     * boot); field 23 (vsize) changes as the process allocates, and reading
     * it instead declared live sandboxes dead. */
    p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    if (p[1] == ' ' && p[2] == 'Z')
        return -ESRCH; /* a zombie is no longer running */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d"
                      " %*d %*d %lld",
               &v) != 1)
        return -EIO;
    *start = v;
    return *start > 0 ? 0 : -EIO;
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int sbx__local_kill(pid_t pid, int64_t start, int *pidfd)
{
    int fd, rc;

    *pidfd = -1;
    fd = pidfd_open_(pid);
    if (fd < 0)
        return errno == ESRCH ? 0 : -errno;
    /* the pidfd pins the process: check it is still the one we mean */
    if (start) {
        int64_t cur = 0;

        if (sbx__local_pid_start(pid, &cur) < 0 || cur != start) {
            close(fd);
            return 0;
        }
    }
    if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) {
        rc = -errno;
        close(fd);
        return rc;
    }
    *pidfd = fd;
    return 0;
}

int sbx__local_kill_wait(pid_t pid, int64_t start)
{
    int fd, rc = sbx__local_kill(pid, start, &fd);

    return rc < 0 || fd < 0 ? rc : sbx__local_wait_exit(fd);
}

int sbx__local_wait_exit(int fd)
{
    struct pollfd pfd;
    int64_t now;
    int rc;

    pfd.fd = fd;
    pfd.events = POLLIN;
    now = sbx_now_ms();
    rc = -ETIMEDOUT;
    for (;;) {
        int64_t left = now + KILL_WAIT_MS - sbx_now_ms();
        int r;

        if (left <= 0)
            break;
        r = poll(&pfd, 1, (int)left);
        if (r > 0) {
            rc = 0;
            break;
        }
        if (r < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
    }
    close(fd);
    return rc;
}

int sbx__local_wait_server(const char *dir, pid_t pid, int64_t timeout_ms, struct sbx_err *err)
{
    char sock[4300];
    struct pollfd pfd[2];
    struct stat st;
    int64_t deadline = sbx_now_ms() + timeout_ms;
    int ifd = -1, pidfd = -1, rc;

    snprintf(sock, sizeof(sock), "%s/server.sock", dir);
    /* the usual case, and cheap: closing an inotify instance waits for an
     * SRCU grace period (10-25 ms here) */
    if (lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
        return 0;
    ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd < 0)
        return sbx_err_set(err, -errno, "inotify: %s", strerror(errno));
    if (inotify_add_watch(ifd, dir, IN_CREATE | IN_MOVED_TO) < 0) {
        rc = sbx_err_set(err, -errno, "watch %s: %s", dir, strerror(errno));
        goto out;
    }
    pidfd = pidfd_open_(pid);
    if (pidfd < 0) {
        rc = sbx_err_set(err, -EPIPE, "the sandbox's init exited");
        goto out;
    }
    for (;;) {
        int64_t left;
        char ev[4096];
        int r;

        if (lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
            rc = 0;
            break;
        }
        left = deadline - sbx_now_ms();
        if (left <= 0) {
            rc = sbx_err_set(err, -ETIMEDOUT,
                             "sbx-server did not start within %lld ms (see %s/server.log)",
                             (long long)timeout_ms, dir);
            break;
        }
        pfd[0].fd = ifd;
        pfd[0].events = POLLIN;
        pfd[1].fd = pidfd;
        pfd[1].events = POLLIN;
        r = poll(pfd, 2, (int)left);
        if (r < 0 && errno != EINTR) {
            rc = sbx_err_set(err, -errno, "poll: %s", strerror(errno));
            break;
        }
        if (r > 0 && pfd[1].revents) {
            rc = sbx_err_set(err, -EPIPE, "the sandbox's init exited (see %s/server.log)", dir);
            break;
        }
        while (read(ifd, ev, sizeof(ev)) > 0)
            ;
    }
out:
    if (pidfd >= 0)
        close(pidfd);
    close(ifd);
    return rc;
}

static int rm_entries(int dfd, int topfd, unsigned depth, unsigned *moved);

/* Removes name in dfd. Below RM_MAX_DEPTH a directory is moved up to the
 * top instead of descended into, so neither the stack nor the descriptors
 * grow with a hostile tree's depth. */
static int rm_at(int dfd, const char *name, int topfd, unsigned depth, unsigned *moved)
{
    struct stat st;
    int fd, rc;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    if (unlinkat(dfd, name, AT_REMOVEDIR) == 0)
        return 0;
    /* overlay's work/work is mode 000: we own it, so open it up first (and
     * before a move, which rewrites its ".."). NOFOLLOW: a dying sandbox
     * process may have swapped the directory for a symlink to a host file
     * since the fstatat. */
    if ((st.st_mode & 0700) != 0700)
        fchmodat(dfd, name, 0700, AT_SYMLINK_NOFOLLOW);
    if (depth >= RM_MAX_DEPTH) {
        char tmp[64];

        snprintf(tmp, sizeof(tmp), ".sbx-rm-%u", (*moved)++);
        if (renameat(dfd, name, topfd, tmp) < 0)
            return -errno;
        return 1; /* the top needs another pass */
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = rm_entries(fd, topfd, depth + 1, moved);
    close(fd);
    if (rc < 0)
        return rc;
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0) {
        if (errno == ENOTEMPTY && rc > 0)
            return 1;
        return errno == ENOENT ? 0 : -errno;
    }
    return rc;
}

/* Removes everything in the directory dfd (which it keeps open). Returns 1
 * when something was moved to the top and needs another pass. */
static int rm_entries(int dfd, int topfd, unsigned depth, unsigned *moved)
{
    struct dirent *de;
    DIR *d;
    int fd, rc = 0, again = 0;

    fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    /* the duplicate shares dfd's offset, which a previous pass left at the end */
    rewinddir(d);
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        rc = rm_at(dfd, de->d_name, topfd, depth, moved);
        if (rc < 0)
            break;
        if (rc > 0)
            again = 1;
        rc = 0;
    }
    closedir(d);
    return rc < 0 ? rc : again;
}

int sbx__local_rmtree(const char *path)
{
    unsigned moved = 0;
    int fd, rc, passes;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    /* each pass removes RM_MAX_DEPTH levels of what is left */
    for (passes = 0; passes < 1 << 20; passes++) {
        rc = rm_entries(fd, fd, 0, &moved);
        if (rc <= 0)
            break;
    }
    close(fd);
    if (rc < 0)
        return rc;
    if (rmdir(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}
