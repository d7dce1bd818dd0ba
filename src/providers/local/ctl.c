#include "providers/local/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NO_STR 0xffffffffu

void sbx__ctl_init(struct sbx__ctl_msg *m, uint32_t type)
{
    m->type = type;
    m->flags = 0;
    m->num = 0;
    m->str = NULL;
    m->argc = 0;
    m->envc = 0;
    m->argv[0] = NULL;
    m->env[0] = NULL;
}

int sbx__ctl_set_strs(struct sbx__ctl_msg *m, int which, const char *const *strs)
{
    const char **dst = which ? m->env : m->argv;
    size_t n = 0;

    while (strs && strs[n]) {
        if (n >= SBX_CTL_MAX_STRS)
            return -E2BIG;
        dst[n] = strs[n];
        n++;
    }
    dst[n] = NULL;
    if (which)
        m->envc = n;
    else
        m->argc = n;
    return 0;
}

struct wr {
    char *p;
    size_t cap, len;
    int fail;
};

static void put(struct wr *w, const void *src, size_t n)
{
    if (w->fail || n > w->cap - w->len) {
        w->fail = 1;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_u32(struct wr *w, uint32_t v)
{
    put(w, &v, sizeof(v));
}

static void put_str(struct wr *w, const char *s)
{
    size_t n;

    if (!s) {
        put_u32(w, NO_STR);
        return;
    }
    n = strlen(s);
    if (n >= NO_STR) {
        w->fail = 1;
        return;
    }
    put_u32(w, (uint32_t)n);
    put(w, s, n + 1);
}

int sbx__ctl_encode(const struct sbx__ctl_msg *m, char *buf, size_t cap, size_t *len)
{
    struct wr w = {buf, cap, 0, 0};
    size_t i;

    if (m->argc > SBX_CTL_MAX_STRS || m->envc > SBX_CTL_MAX_STRS)
        return -E2BIG;
    put_u32(&w, SBX_CTL_MAGIC);
    put_u32(&w, m->type);
    put_u32(&w, m->flags);
    put(&w, &m->num, sizeof(m->num));
    put_str(&w, m->str);
    put_u32(&w, (uint32_t)m->argc);
    for (i = 0; i < m->argc; i++)
        put_str(&w, m->argv[i]);
    put_u32(&w, (uint32_t)m->envc);
    for (i = 0; i < m->envc; i++)
        put_str(&w, m->env[i]);
    if (w.fail)
        return -E2BIG;
    *len = w.len;
    return 0;
}

struct rd {
    const char *p;
    size_t len, off;
    int fail;
};

static void get(struct rd *r, void *dst, size_t n)
{
    if (r->fail || n > r->len - r->off) {
        r->fail = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->off, n);
    r->off += n;
}

static uint32_t get_u32(struct rd *r)
{
    uint32_t v;

    get(r, &v, sizeof(v));
    return v;
}

/* A string that may be NULL (allow_null) and never holds a NUL inside. */
static const char *get_str(struct rd *r, int allow_null)
{
    uint32_t n = get_u32(r);
    const char *s;

    if (r->fail)
        return NULL;
    if (n == NO_STR) {
        if (!allow_null)
            r->fail = 1;
        return NULL;
    }
    if ((size_t)n >= r->len - r->off) {
        r->fail = 1;
        return NULL;
    }
    s = r->p + r->off;
    if (s[n] != '\0' || memchr(s, '\0', n)) {
        r->fail = 1;
        return NULL;
    }
    r->off += (size_t)n + 1;
    return s;
}

static int get_strs(struct rd *r, const char **dst, size_t *count)
{
    uint32_t n = get_u32(r);
    uint32_t i;

    if (r->fail || n > SBX_CTL_MAX_STRS)
        return -EPROTO;
    for (i = 0; i < n; i++) {
        dst[i] = get_str(r, 0);
        if (r->fail)
            return -EPROTO;
    }
    dst[n] = NULL;
    *count = n;
    return 0;
}

int sbx__ctl_decode(const char *buf, size_t len, struct sbx__ctl_msg *m)
{
    struct rd r = {buf, len, 0, 0};

    sbx__ctl_init(m, 0);
    if (get_u32(&r) != SBX_CTL_MAGIC)
        return -EPROTO;
    m->type = get_u32(&r);
    m->flags = get_u32(&r);
    get(&r, &m->num, sizeof(m->num));
    m->str = get_str(&r, 1);
    if (r.fail)
        return -EPROTO;
    if (get_strs(&r, m->argv, &m->argc) < 0 || get_strs(&r, m->env, &m->envc) < 0)
        return -EPROTO;
    if (r.off != r.len)
        return -EPROTO;
    return 0;
}

int sbx__ctl_send(int fd, const struct sbx__ctl_msg *m, const int *fds, int nfds, char *buf,
                  size_t cap)
{
    union {
        char b[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh;
    struct iovec iov;
    size_t len = 0;
    ssize_t n;
    int rc;

    if (nfds < 0 || nfds > 3)
        return -EINVAL;
    rc = sbx__ctl_encode(m, buf, cap, &len);
    if (rc < 0)
        return rc;
    memset(&mh, 0, sizeof(mh));
    iov.iov_base = buf;
    iov.iov_len = len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds > 0) {
        struct cmsghdr *c;

        memset(&u, 0, sizeof(u));
        mh.msg_control = u.b;
        mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == ECONNRESET ? -EPIPE : -errno;
    return (size_t)n == len ? 0 : -EIO;
}

int sbx__ctl_recv(int fd, char *buf, size_t cap, struct sbx__ctl_msg *m, int *fds, int maxfds,
                  int *nfds)
{
    union {
        char b[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *c;
    ssize_t n;
    int got = 0;
    int rc;

    *nfds = 0;
    memset(&mh, 0, sizeof(mh));
    iov.iov_base = buf;
    iov.iov_len = cap;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.b;
    mh.msg_controllen = sizeof(u.b);
    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ECONNRESET) {
        /* the peer closed with our message unread: the kernel says so
         * first, and what the peer sent before it closed (the init's
         * refusal of a connection past its limit) comes after */
        mh.msg_controllen = sizeof(u.b);
        mh.msg_flags = 0;
        do {
            n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return 0;
    }
    if (n < 0)
        return -errno;
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        size_t k, cnt;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (k = 0; k < cnt; k++) {
            int rfd;

            memcpy(&rfd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
            if (got < maxfds)
                fds[got++] = rfd;
            else
                close(rfd);
        }
    }
    *nfds = got;
    if (n == 0 && got == 0)
        return 0;
    rc = -EPROTO;
    if (!(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        rc = sbx__ctl_decode(buf, (size_t)n, m);
    if (rc < 0) {
        while (got > 0)
            close(fds[--got]);
        *nfds = 0;
        return rc;
    }
    return 1;
}

int sbx__ctl_connect(const char *dir, struct sbx_err *err)
{
    struct sockaddr_un sa;
    int fd, rc, n;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl.sock", dir);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return sbx_err_set(err, -ENAMETOOLONG, "control socket path %s/ctl.sock is too long",
                           dir);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sbx_err_set(err, -errno, "control socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        close(fd);
        if (rc == -ECONNREFUSED || rc == -ENOENT)
            return sbx_err_set(err, -EPIPE, "the sandbox's init is gone (%s)", strerror(-rc));
        return sbx_err_set(err, rc, "connect %s: %s", sa.sun_path, strerror(-rc));
    }
    return fd;
}

int sbx__ctl_refused(int fd, char *buf, size_t cap, struct sbx__ctl_msg *m, struct sbx_err *err)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rfd[3], nfds = 0, e;

    if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
        return 0;
    if (sbx__ctl_recv(fd, buf, cap, m, rfd, 3, &nfds) != 1 || m->type != SBX_CTL_ERR) {
        while (nfds > 0)
            close(rfd[--nfds]);
        return 0;
    }
    while (nfds > 0)
        close(rfd[--nfds]);
    e = m->num > 0 && m->num < 4096 ? (int)m->num : EIO;
    return sbx_err_set(err, -e, "%s: %s", m->str ? m->str : "init", strerror(e));
}

int sbx__ctl_call(const char *dir, const struct sbx__ctl_msg *req, int64_t *num_out,
                  int *fd_out, struct sbx_err *err)
{
    struct sbx__ctl_msg *rep = NULL;
    char *buf = NULL;
    int fd = -1, rc, nfds = 0;
    int rfd[3] = {-1, -1, -1};

    if (fd_out)
        *fd_out = -1;
    rep = malloc(sizeof(*rep));
    buf = malloc(SBX_CTL_MAX_MSG);
    if (!rep || !buf) {
        rc = sbx_err_set(err, -ENOMEM, "control request: out of memory");
        goto out;
    }
    fd = sbx__ctl_connect(dir, err);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = sbx__ctl_send(fd, req, NULL, 0, buf, SBX_CTL_MAX_MSG);
    if (rc < 0) {
        int why = sbx__ctl_refused(fd, buf, SBX_CTL_MAX_MSG, rep, err);

        if (why < 0)
            rc = why;
        else
            sbx_err_set(err, rc, "send to the sandbox's init: %s", strerror(-rc));
        goto out;
    }
    rc = sbx__ctl_recv(fd, buf, SBX_CTL_MAX_MSG, rep, rfd, 3, &nfds);
    if (rc <= 0) {
        rc = sbx_err_set(err, rc < 0 ? rc : -EPIPE, "the sandbox's init did not answer%s%s",
                         rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
        goto out;
    }
    if (rep->type == SBX_CTL_ERR) {
        int e = rep->num > 0 && rep->num < 4096 ? (int)rep->num : EIO;

        rc = sbx_err_set(err, -e, "%s: %s", rep->str ? rep->str : "init", strerror(e));
        goto out;
    }
    if (rep->type != SBX_CTL_OK) {
        rc = sbx_err_set(err, -EPROTO, "the sandbox's init answered message type %u",
                         (unsigned)rep->type);
        goto out;
    }
    if (num_out)
        *num_out = rep->num;
    if (fd_out && nfds > 0) {
        *fd_out = rfd[0];
        rfd[0] = -1;
    }
    rc = 0;
out:
    for (nfds = 0; nfds < 3; nfds++)
        if (rfd[nfds] >= 0)
            close(rfd[nfds]);
    if (fd >= 0)
        close(fd);
    free(buf);
    free(rep);
    return rc;
}
