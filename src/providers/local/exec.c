/*
 * One-off commands and file transfer for local sandboxes, over the init's
 * control socket (ctl.h): EXEC hands the init our descriptors (or pipes we
 * read), OPEN hands us a descriptor of a file inside the sandbox, which we
 * copy from or to on the host without going through the init.
 */
#include "providers/local/local.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/time.h"
#include "providers/local/ctl.h"

#define MAX_OUTPUT ((size_t)64 << 20)

struct capture {
    int fd;
    struct sbx_buf buf;
    int eof;
};

/* Reads what is available from c into its buffer. Returns 0, or -E2BIG past
 * MAX_OUTPUT. */
static int drain(struct capture *c)
{
    char tmp[65536];
    ssize_t n;

    while (c->fd >= 0 && !c->eof) {
        n = read(c->fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            c->eof = 1;
            return 0;
        }
        if (sbx_buf_add(&c->buf, tmp, (size_t)n) < 0)
            return -E2BIG;
    }
    return 0;
}

static int capture_pipe(struct capture *c, int *write_end)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    c->fd = fds[0];
    *write_end = fds[1];
    sbx_fd_set_nonblock(c->fd, 1);
    return 0;
}

static char *abs_path(const struct sbx__local_sbx *s, const char *path)
{
    struct sbx_buf b = SBX_BUF_INIT;

    if (path[0] == '/')
        sbx_buf_addstr(&b, path);
    else
        sbx_buf_addf(&b, "%s/%s", s->workdir, path);
    return sbx_buf_detach(&b, NULL);
}

static void set_status(struct sbx_exec_result *res, int st)
{
    if (WIFSIGNALED(st)) {
        res->term_signal = WTERMSIG(st);
        res->exit_code = 128 + WTERMSIG(st);
    } else {
        res->exit_code = WEXITSTATUS(st);
    }
}

int sbx__local_exec(struct sbx_provider *p, const char *id, const struct sbx_exec_req *req,
                    struct sbx_exec_result *res, struct sbx_err *err)
{
    struct sbx__local_sbx s;
    struct sbx__ctl_msg *m = NULL;
    struct capture cap[2];
    char *buf = NULL;
    int send_fds[3] = {-1, -1, -1};
    int owned[3] = {-1, -1, -1}; /* descriptors we made for the command */
    int conn = -1, rc, i, nfds, exited = 0, st = 0;
    /* a timeout past any clock (years) is no deadline, not an overflow */
    int64_t deadline = req->timeout_ms > 0 && req->timeout_ms < INT64_MAX / 4
                           ? sbx_now_ms() + req->timeout_ms
                           : 0;
    int rfds[3];

    memset(cap, 0, sizeof(cap));
    for (i = 0; i < 2; i++) {
        cap[i].fd = -1;
        sbx_buf_init(&cap[i].buf, MAX_OUTPUT);
    }
    rc = sbx__local_find_running(p, id, "exec", &s, err);
    if (rc < 0)
        goto out_nosbx;
    m = malloc(sizeof(*m));
    buf = malloc(SBX_CTL_MAX_MSG);
    if (!m || !buf) {
        rc = sbx_err_set(err, -ENOMEM, "exec: out of memory");
        goto out;
    }
    if (req->stdin_fd >= 0) {
        send_fds[0] = req->stdin_fd;
    } else {
        owned[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (owned[0] < 0) {
            rc = sbx_err_set(err, -errno, "exec: open /dev/null: %s", strerror(errno));
            goto out;
        }
        send_fds[0] = owned[0];
    }
    for (i = 0; i < 2; i++) {
        int want = i == 0 ? req->stdout_fd : req->stderr_fd;

        if (want >= 0) {
            send_fds[i + 1] = want;
            continue;
        }
        rc = capture_pipe(&cap[i], &owned[i + 1]);
        if (rc < 0) {
            sbx_err_set(err, rc, "exec: pipe: %s", strerror(-rc));
            goto out;
        }
        send_fds[i + 1] = owned[i + 1];
    }
    sbx__ctl_init(m, SBX_CTL_EXEC);
    m->flags = req->tty ? SBX_CTL_TTY : 0;
    m->str = req->cwd;
    if (sbx__ctl_set_strs(m, 0, req->argv) < 0 || sbx__ctl_set_strs(m, 1, req->env) < 0) {
        rc = sbx_err_set(err, -E2BIG, "exec: too many arguments or environment variables");
        goto out;
    }
    conn = sbx__ctl_connect(s.dir, err);
    if (conn < 0) {
        rc = conn;
        sbx_err_prefix(err, "exec");
        goto out;
    }
    rc = sbx__ctl_send(conn, m, send_fds, 3, buf, SBX_CTL_MAX_MSG);
    if (rc < 0) {
        int why = sbx__ctl_refused(conn, buf, SBX_CTL_MAX_MSG, m, err);

        if (why < 0) {
            rc = why;
            sbx_err_prefix(err, "exec");
        } else {
            sbx_err_set(err, rc, "exec: send to the sandbox's init: %s",
                        rc == -E2BIG ? "the command line is too long" : strerror(-rc));
        }
        goto out;
    }
    /* the command holds the write ends now; EOF comes when it is done */
    for (i = 0; i < 3; i++) {
        sbx_fd_close(owned[i]);
        owned[i] = -1;
    }
    for (;;) {
        struct pollfd pfd[4];
        int np = 0, r, timeout = -1, cancel_at = -1;

        pfd[np].fd = conn;
        pfd[np++].events = POLLIN;
        if (req->use_cancel_fd && req->cancel_fd >= 0) {
            cancel_at = np;
            pfd[np].fd = req->cancel_fd;
            pfd[np++].events = POLLIN;
        }
        for (i = 0; i < 2; i++) {
            if (cap[i].fd >= 0 && !cap[i].eof) {
                pfd[np].fd = cap[i].fd;
                pfd[np++].events = POLLIN;
            }
        }
        if (deadline) {
            int64_t left = deadline - sbx_now_ms();

            if (left <= 0) {
                /* closing the connection makes the init kill the command */
                res->timed_out = true;
                res->exit_code = 137;
                res->term_signal = SIGKILL;
                break;
            }
            timeout = (int)left;
        }
        r = poll(pfd, (nfds_t)np, timeout);
        if (r < 0 && errno != EINTR) {
            rc = sbx_err_set(err, -errno, "exec: poll: %s", strerror(errno));
            goto out;
        }
        if (r <= 0)
            continue;
        if (cancel_at >= 0 && pfd[cancel_at].revents) {
            /* closing the connection makes the init kill the command */
            res->canceled = true;
            res->exit_code = 137;
            res->term_signal = SIGKILL;
            break;
        }
        for (i = 0; i < 2; i++) {
            if (drain(&cap[i]) < 0) {
                rc = sbx_err_set(err, -E2BIG, "exec: output larger than 64 MiB");
                goto out;
            }
        }
        if (pfd[0].revents) {
            rc = sbx__ctl_recv(conn, buf, SBX_CTL_MAX_MSG, m, rfds, 3, &nfds);
            while (nfds > 0)
                close(rfds[--nfds]);
            if (rc == 0 || (rc < 0 && rc != -EAGAIN)) {
                rc = sbx_err_set(err, -EPIPE, "exec: the sandbox's init went away");
                goto out;
            }
            if (rc > 0 && m->type == SBX_CTL_ERR) {
                int e = m->num > 0 && m->num < 4096 ? (int)m->num : EIO;

                rc = sbx_err_set(err, -e, "exec: %s: %s", m->str ? m->str : "init",
                                 strerror(e));
                goto out;
            }
            if (rc > 0 && m->type == SBX_CTL_EXITED) {
                st = (int)m->num;
                exited = 1;
                break;
            }
        }
    }
    if (exited) {
        set_status(res, st);
        /* what the command wrote before it exited is in the pipes; a
         * background child that keeps them open is not waited for */
        for (i = 0; i < 2; i++) {
            if (drain(&cap[i]) < 0) {
                rc = sbx_err_set(err, -E2BIG, "exec: output larger than 64 MiB");
                goto out;
            }
        }
    }
    for (i = 0; i < 2; i++) {
        char **dst = i == 0 ? &res->out : &res->err;
        size_t *len = i == 0 ? &res->out_len : &res->err_len;

        if (cap[i].fd < 0)
            continue;
        *dst = sbx_buf_detach(&cap[i].buf, len);
        if (!*dst) {
            rc = sbx_err_set(err, -ENOMEM, "exec: out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc < 0)
        sbx_exec_result_release(res);
    sbx__local_sbx_release(&s);
out_nosbx:
    if (conn >= 0)
        close(conn);
    for (i = 0; i < 3; i++)
        sbx_fd_close(owned[i]);
    for (i = 0; i < 2; i++) {
        sbx_fd_close(cap[i].fd);
        sbx_buf_free(&cap[i].buf);
    }
    free(buf);
    free(m);
    return rc;
}

/* Copies everything from in to out: copy_file_range, then sendfile, then
 * read/write, whichever the two file systems allow. */
static int copy_fd(int in, int out)
{
    char tmp[65536];
    ssize_t n;
    int mode = 0;

    for (;;) {
        if (mode == 0) {
            n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
            if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                          errno == EOPNOTSUPP || errno == EBADF)) {
                mode = 1;
                continue;
            }
        } else if (mode == 1) {
            n = sendfile(out, in, NULL, (size_t)1 << 30);
            if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
                mode = 2;
                continue;
            }
        } else {
            n = sbx_fd_read(in, tmp, sizeof(tmp));
            if (n > 0) {
                int rc = sbx_fd_write_all(out, tmp, (size_t)n);

                if (rc < 0)
                    return rc;
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
    }
}

/* Opens path inside the sandbox through its init. The descriptor is checked
 * here as well: the init runs inside the sandbox, and a FIFO or a device
 * would hang the copy or swallow the data. */
static int open_inside(struct sbx__local_sbx *s, const char *path, int flags, unsigned mode,
                       const char *op, int *fd_out, struct stat *st, struct sbx_err *err)
{
    struct sbx__ctl_msg *m = malloc(sizeof(*m));
    char *full = abs_path(s, path);
    int rc;

    if (!m || !full) {
        rc = sbx_err_set(err, -ENOMEM, "%s: out of memory", op);
        goto out;
    }
    sbx__ctl_init(m, SBX_CTL_OPEN);
    m->str = full;
    m->flags = (uint32_t)flags;
    m->num = mode;
    rc = sbx__ctl_call(s->dir, m, NULL, fd_out, err);
    if (rc < 0) {
        sbx_err_prefix(err, "%s", op);
        goto out;
    }
    if (*fd_out < 0) {
        rc = sbx_err_set(err, -EPROTO, "%s: the sandbox's init sent no file", op);
    } else if (fstat(*fd_out, st) < 0) {
        rc = sbx_err_set(err, -errno, "%s: %s: %s", op, path, strerror(errno));
    } else if (!S_ISREG(st->st_mode)) {
        rc = sbx_err_set(err, -EINVAL, "%s: %s is not a regular file", op, path);
    }
    if (rc < 0 && *fd_out >= 0) {
        close(*fd_out);
        *fd_out = -1;
    }
out:
    free(full);
    free(m);
    return rc;
}

int sbx__local_upload(struct sbx_provider *p, const char *id, const char *host_path,
                      const char *sandbox_path, unsigned mode, struct sbx_err *err)
{
    struct sbx__local_sbx s;
    int in = -1, out = -1, rc;
    struct stat st;

    rc = sbx__local_find_running(p, id, "upload", &s, err);
    if (rc < 0)
        return rc;
    in = open(host_path, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) < 0) {
        rc = sbx_err_set(err, -errno, "upload: %s: %s", host_path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sbx_err_set(err, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
                         "upload: %s is not a regular file", host_path);
        goto out;
    }
    rc = open_inside(&s, sandbox_path, O_WRONLY | O_CREAT | O_TRUNC, mode ? mode : 0644,
                     "upload", &out, &st, err);
    if (rc < 0)
        goto out;
    rc = copy_fd(in, out);
    if (rc < 0)
        sbx_err_set(err, rc, "upload: copy %s to %s: %s", host_path, sandbox_path,
                    strerror(-rc));
out:
    sbx_fd_close(in);
    sbx_fd_close(out);
    sbx__local_sbx_release(&s);
    return rc;
}

int sbx__local_download(struct sbx_provider *p, const char *id, const char *sandbox_path,
                        const char *host_path, struct sbx_err *err)
{
    struct sbx__local_sbx s;
    int in = -1, out = -1, rc;
    struct stat st;

    rc = sbx__local_find_running(p, id, "download", &s, err);
    if (rc < 0)
        return rc;
    rc = open_inside(&s, sandbox_path, O_RDONLY, 0, "download", &in, &st, err);
    if (rc < 0)
        goto out;
    out = open(host_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
    if (out < 0) {
        rc = sbx_err_set(err, -errno, "download: %s: %s", host_path, strerror(errno));
        goto out;
    }
    rc = copy_fd(in, out);
    if (rc < 0)
        sbx_err_set(err, rc, "download: copy %s to %s: %s", sandbox_path, host_path,
                    strerror(-rc));
out:
    sbx_fd_close(in);
    sbx_fd_close(out);
    sbx__local_sbx_release(&s);
    return rc;
}
