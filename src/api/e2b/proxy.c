/*
 * `sbx serve e2b`: user ports. A request for port P of a sandbox (any port
 * but envd's) goes to the backend's port_url for P, the way E2B's edge
 * proxy forwards to the sandbox. The connection is taken over once the
 * request's headers are in (sbx_http_hijack) and relayed byte for byte to a
 * socket connected upstream, so that streamed bodies, long responses and
 * WebSocket upgrades pass through unchanged. The request head is rewritten
 * (Host, hop-by-hop headers, the routing headers) and carries
 * `Connection: close` unless it is an Upgrade: one client connection is one
 * request upstream, so each request is routed, and its traffic token
 * checked, on its own. (Keeping the connection would relay the next request
 * unseen to the first one's sandbox: a pooling proxy in front could then
 * reach sandbox B through A's connection without B's token.)
 *
 * port_url and the name lookup run on the worker; the answer (an address)
 * is cached per sandbox and port. Connect and relay are non-blocking, on
 * the loop.
 */
#include "api/e2b/internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/ct.h"
#include "json/json.h"
#include "net/loop.h"
#include "sbx/log.h"

/* Bytes one direction may hold before its reading side pauses. */
#define RELAY_HWM ((size_t)1 << 20)
#define RELAY_READ 65536

struct cache_ent {
    struct cache_ent *next;
    char id[SBX_E2B_ID_LEN + 1];
    int port;
    struct sockaddr_storage addr;
    socklen_t alen;
};

struct side {
    int fd;
    struct sbx_watch *w;
    struct sbx_buf out; /* waiting to be written to fd */
    bool rd_eof;        /* fd said EOF */
    bool wr_shut;       /* fd's write side was shut down */
};

struct relay {
    struct relay *next;
    struct sbx_e2b_proxy *px;
    struct side cl, up; /* client, upstream */
};

/* A request waiting for its upstream (the lookup, then the connect). */
struct pending {
    struct pending *next;
    struct sbx_e2b_face *f;
    struct sbx_http_req *req; /* NULL once answered */
    char id[SBX_E2B_ID_LEN + 1];
    int port;
    struct sbx_buf head; /* the request head to send upstream */
    int fd;              /* the upstream socket, -1 until connecting */
    struct sbx_watch *w;
};

struct sbx_e2b_proxy {
    struct cache_ent *cache;
    struct relay *relays;
    struct pending *pending;
};

/* ---- the cache ------------------------------------------------------------ */

static struct sbx_e2b_proxy *proxy_of(struct sbx_e2b_face *f)
{
    if (!f->proxy)
        f->proxy = calloc(1, sizeof(*f->proxy));
    return f->proxy;
}

static struct cache_ent *cache_find(struct sbx_e2b_face *f, const char *id, int port)
{
    struct cache_ent **pp = &f->proxy->cache, *e;

    while ((e = *pp)) {
        if (!sbx__e2b_find(f, e->id)) {
            /* its sandbox is gone (or paused): forget it */
            *pp = e->next;
            free(e);
            continue;
        }
        if (e->port == port && strcmp(e->id, id) == 0)
            return e;
        pp = &e->next;
    }
    return NULL;
}

/* ---- errors ------------------------------------------------------------------ */

/* The edge proxy's answer for a port nothing listens on. */
static void port_closed(struct sbx_http_req *req, const char *id, int port)
{
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"sandboxId\":\"%s\",\"message\":\"The sandbox is running but port is not "
                     "open\",\"port\":%d,\"code\":502}",
                     id, port);

    sbx_http_respond_json(req, 502, body, (size_t)n);
}

/* ---- the relay ------------------------------------------------------------------ */

static void relay_free(struct relay *r)
{
    struct relay **pp;

    for (pp = &r->px->relays; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    sbx_watch_close(r->cl.w);
    sbx_watch_close(r->up.w);
    close(r->cl.fd);
    close(r->up.fd);
    sbx_buf_free(&r->cl.out);
    sbx_buf_free(&r->up.out);
    free(r);
}

/* Events side s wants: READ while its data has room on the other side,
 * WRITE while something waits for it. */
static void relay_arm(struct side *s, const struct side *other)
{
    int ev = 0;

    if (!s->rd_eof && other->out.len < RELAY_HWM)
        ev |= SBX_WATCH_READ;
    if (s->out.len)
        ev |= SBX_WATCH_WRITE;
    sbx_watch_set(s->w, ev);
}

/* Reads what s has into other's queue. 0, or -1 on an error. */
static int side_read(struct side *s, struct side *other)
{
    char buf[RELAY_READ];
    ssize_t n = read(s->fd, buf, sizeof(buf));

    if (n > 0)
        return sbx_buf_add(&other->out, buf, (size_t)n) < 0 ? -1 : 0;
    if (n == 0) {
        s->rd_eof = true;
        return 0;
    }
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int side_write(struct side *s)
{
    ssize_t n;

    if (!s->out.len)
        return 0;
    n = send(s->fd, s->out.ptr, s->out.len, MSG_NOSIGNAL);
    if (n > 0) {
        sbx_buf_consume(&s->out, (size_t)n);
        return 0;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

/* After any progress: half-close what is finished, free when all is. */
static void relay_step(struct relay *r)
{
    /* the other side said all it had and it is delivered: pass the EOF on */
    if (r->cl.rd_eof && !r->up.out.len && !r->up.wr_shut) {
        shutdown(r->up.fd, SHUT_WR);
        r->up.wr_shut = true;
    }
    if (r->up.rd_eof && !r->cl.out.len && !r->cl.wr_shut) {
        shutdown(r->cl.fd, SHUT_WR);
        r->cl.wr_shut = true;
    }
    /* The answer is complete: the request went with `Connection: close`, so
     * nothing more comes for this client connection. */
    if (r->cl.wr_shut && (r->up.wr_shut || r->up.rd_eof)) {
        relay_free(r);
        return;
    }
    relay_arm(&r->cl, &r->up);
    relay_arm(&r->up, &r->cl);
}

static void on_relay(struct sbx_watch *w, int events, void *ud)
{
    struct relay *r = ud;
    struct side *s = w == r->cl.w ? &r->cl : &r->up;
    struct side *other = s == &r->cl ? &r->up : &r->cl;

    if ((events & SBX_WATCH_WRITE) && side_write(s) < 0)
        goto fail;
    if ((events & SBX_WATCH_READ) && side_read(s, other) < 0)
        goto fail;
    if (other->out.len && side_write(other) < 0)
        goto fail;
    relay_step(r);
    return;
fail:
    relay_free(r);
}

static int relay_start(struct sbx_e2b_face *f, int cfd, int ufd, struct sbx_buf *to_up)
{
    struct relay *r = calloc(1, sizeof(*r));
    struct sbx_err err = {0};

    if (!r) {
        close(cfd);
        close(ufd);
        sbx_buf_free(to_up);
        return -ENOMEM;
    }
    r->px = f->proxy;
    r->cl.fd = cfd;
    r->up.fd = ufd;
    sbx_buf_init(&r->cl.out, 0);
    r->up.out = *to_up;
    sbx_buf_init(to_up, 0);
    r->next = f->proxy->relays;
    f->proxy->relays = r;
    r->cl.w = sbx_watch_new(f->loop, cfd, 0, on_relay, r, &err);
    r->up.w = r->cl.w ? sbx_watch_new(f->loop, ufd, 0, on_relay, r, &err) : NULL;
    if (!r->up.w) {
        sbx_log(SBX_LOG_WARN, "serve e2b: proxy: %s", err.msg);
        relay_free(r);
        return -EIO;
    }
    if (side_write(&r->up) < 0) {
        relay_free(r);
        return -EPIPE;
    }
    relay_step(r);
    return 0;
}

/* ---- connecting ------------------------------------------------------------------ */

static void pending_free(struct pending *p)
{
    struct pending **pp;

    for (pp = &p->f->proxy->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    sbx_watch_close(p->w);
    if (p->fd >= 0)
        close(p->fd);
    if (p->req)
        sbx__e2b_respond_error(p->req, 503, "the face is shutting down");
    sbx_buf_free(&p->head);
    free(p);
}

/* Answers p's request with an error and forgets p. */
static void pending_fail(struct pending *p, int status, const char *fmt, const char *a)
    __attribute__((format(printf, 3, 0)));

static void pending_fail(struct pending *p, int status, const char *fmt, const char *a)
{
    sbx__e2b_respond_error(p->req, status, fmt, a);
    p->req = NULL;
    pending_free(p);
}

/* ECONNREFUSED is the edge's 502 for a closed port; others say why. */
static void unreachable(struct pending *p, int e)
{
    if (e == ECONNREFUSED) {
        port_closed(p->req, p->id, p->port);
        p->req = NULL;
        pending_free(p);
        return;
    }
    sbx__e2b_respond_error(p->req, 502, "cannot reach port %d of sandbox %s: %s", p->port, p->id,
                           strerror(e));
    p->req = NULL;
    pending_free(p);
}

static void connected(struct pending *p)
{
    struct sbx_e2b_face *f = p->f;
    struct sbx_buf to_up = p->head, rest = SBX_BUF_INIT;
    int cfd = -1, ufd = p->fd, rc;

    sbx_watch_close(p->w);
    p->w = NULL;
    p->fd = -1;
    sbx_buf_init(&p->head, 0);
    rc = sbx_http_hijack(p->req, &cfd, &rest);
    p->req = NULL;
    pending_free(p);
    if (rc == 0 && sbx_buf_add(&to_up, rest.ptr, rest.len) < 0)
        rc = -ENOMEM;
    sbx_buf_free(&rest);
    if (rc < 0) {
        if (cfd >= 0)
            close(cfd);
        close(ufd);
        sbx_buf_free(&to_up);
        return;
    }
    relay_start(f, cfd, ufd, &to_up);
}

static void on_connect(struct sbx_watch *w, int events, void *ud)
{
    struct pending *p = ud;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    (void)w;
    (void)events;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr == EINPROGRESS || soerr == EALREADY)
        return;
    if (soerr) {
        unreachable(p, soerr);
        return;
    }
    connected(p);
}

static void connect_start(struct pending *p, const struct cache_ent *e)
{
    struct sbx_err err = {0};
    int one = 1;

    p->fd = socket(e->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        pending_fail(p, 502, "proxy: socket: %s", strerror(errno));
        return;
    }
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(p->fd, (const struct sockaddr *)&e->addr, e->alen) < 0 && errno != EINPROGRESS) {
        unreachable(p, errno);
        return;
    }
    p->w = sbx_watch_new(p->f->loop, p->fd, SBX_WATCH_WRITE, on_connect, p, &err);
    if (!p->w)
        pending_fail(p, 502, "proxy: %s", err.msg);
}

/* ---- the lookup (worker) ------------------------------------------------------------ */

struct lookup {
    struct pending *p;
    char *backend_id;
    int port;
    int rc;
    struct sbx_err err;
    struct sockaddr_storage addr;
    socklen_t alen;
};

/* "http://host:port[/...]" -> host and port. */
static int split_url(const char *url, char *host, size_t hlen, char *port, size_t plen)
{
    const char *h, *end, *colon;
    size_t n;

    if (strncmp(url, "http://", 7) != 0)
        return -ENOTSUP;
    h = url + 7;
    end = h + strcspn(h, "/?#");
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));

        if (!rb)
            return -EINVAL;
        n = (size_t)(rb - h - 1);
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        h++;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        n = (size_t)((colon ? colon : end) - h);
    }
    if (n == 0 || n >= hlen)
        return -EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    if (colon) {
        n = (size_t)(end - colon - 1);
        if (n == 0 || n >= plen)
            return -EINVAL;
        memcpy(port, colon + 1, n);
        port[n] = '\0';
    } else {
        snprintf(port, plen, "80");
    }
    return 0;
}

static void lookup_run(struct sbx_provider *prov, const struct sbx_err *open_err, void *ud)
{
    struct lookup *l = ud;
    char *url = NULL, host[256], port[16];
    struct addrinfo hints, *ai = NULL;
    int rc;

    if (!prov) {
        l->err = *open_err;
        l->rc = open_err->code ? open_err->code : -EIO;
        return;
    }
    l->rc = sbx_provider_port_url(prov, l->backend_id, l->port, &url, &l->err);
    if (l->rc < 0)
        return;
    rc = split_url(url, host, sizeof(host), port, sizeof(port));
    if (rc < 0) {
        l->rc = sbx_err_set(&l->err, rc, "the backend's URL for port %d (%s) is not plain http",
                            l->port, url);
        free(url);
        return;
    }
    free(url);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) {
        l->rc =
            sbx_err_set(&l->err, -EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(rc));
        return;
    }
    memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
    l->alen = (socklen_t)ai->ai_addrlen;
    freeaddrinfo(ai);
}

static void lookup_done(void *ud)
{
    struct lookup *l = ud;
    struct pending *p = l->p;
    struct sbx_e2b_face *f = p->f;
    struct cache_ent *e;

    if (!p->req || f->closing) {
        pending_free(p);
        goto out;
    }
    if (l->rc < 0) {
        pending_fail(p, 502, "cannot reach this port of the sandbox: %s", l->err.msg);
        goto out;
    }
    e = cache_find(f, p->id, p->port);
    if (!e && sbx__e2b_find(f, p->id) && (e = calloc(1, sizeof(*e)))) {
        memcpy(e->id, p->id, sizeof(e->id));
        e->port = p->port;
        e->addr = l->addr;
        e->alen = l->alen;
        e->next = f->proxy->cache;
        f->proxy->cache = e;
    }
    if (e) {
        connect_start(p, e);
    } else {
        struct cache_ent tmp;

        memset(&tmp, 0, sizeof(tmp));
        tmp.addr = l->addr;
        tmp.alen = l->alen;
        connect_start(p, &tmp);
    }
out:
    free(l->backend_id);
    free(l);
}

/* ---- the request head ------------------------------------------------------------------ */

static bool hop_by_hop(const char *name)
{
    static const char *const drop[] = {
        "Connection", "Keep-Alive",     "Proxy-Connection", "Proxy-Authorization",      "TE",
        "Host",       "E2b-Sandbox-Id", "E2b-Sandbox-Port", "e2b-traffic-access-token",
    };
    size_t i;

    for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (strcasecmp(name, drop[i]) == 0)
            return true;
    return false;
}

/* Whether the request asks for an Upgrade (Connection: ... upgrade ...). */
static bool wants_upgrade(const struct sbx_http_req *req)
{
    const char *c = sbx_http_req_header(req, "Connection");

    return c && sbx_http_req_header(req, "Upgrade") && strcasestr(c, "upgrade");
}

static int build_head(const struct sbx_http_req *req, int port, struct sbx_buf *out)
{
    size_t i;
    int rc = sbx_buf_addf(out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", req->method_name,
                          req->target ? req->target : "/", port);

    for (i = 0; rc == 0 && i < req->nheaders; i++)
        if (!hop_by_hop(req->headers[i].name))
            rc = sbx_buf_addf(out, "%s: %s\r\n", req->headers[i].name, req->headers[i].value);
    if (rc == 0)
        rc = sbx_buf_addstr(out, wants_upgrade(req) ? "Connection: Upgrade\r\n\r\n"
                                                    : "Connection: close\r\n\r\n");
    return rc;
}

/* ---- entry points ----------------------------------------------------------------------- */

void sbx__e2b_proxy_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, int port,
                           struct sbx_http_req *req)
{
    struct sbx_err err = {0};
    struct pending *p;
    struct cache_ent *e;
    struct lookup *l;

    if (!req->hijack) {
        /* the sandbox changed state between the headers and now */
        sbx__e2b_respond_error(req, 502, "The sandbox %s is not ready yet", s->id);
        return;
    }
    if (s->traffic_token) {
        const char *tok = sbx_http_req_header(req, "e2b-traffic-access-token");

        if (!sbx_ct_streq(tok, s->traffic_token)) {
            sbx__e2b_respond_error(req, 403,
                                   "The sandbox %s requires a valid traffic access token "
                                   "(e2b-traffic-access-token header)",
                                   s->id);
            return;
        }
    }
    if (!proxy_of(f) || !(p = calloc(1, sizeof(*p)))) {
        sbx__e2b_respond_error(req, 500, "out of memory");
        return;
    }
    p->f = f;
    p->req = req;
    p->fd = -1;
    p->port = port;
    memcpy(p->id, s->id, sizeof(p->id));
    sbx_buf_init(&p->head, 0);
    p->next = f->proxy->pending;
    f->proxy->pending = p;
    if (build_head(req, port, &p->head) < 0) {
        pending_fail(p, 500, "%s", "out of memory");
        return;
    }
    e = cache_find(f, s->id, port);
    if (e) {
        connect_start(p, e);
        return;
    }
    l = calloc(1, sizeof(*l));
    if (!l || !(l->backend_id = strdup(s->backend_id))) {
        free(l);
        pending_fail(p, 500, "%s", "out of memory");
        return;
    }
    l->p = p;
    l->port = port;
    if (sbx_api_worker_submit(f->worker, lookup_run, lookup_done, l, &err) < 0) {
        free(l->backend_id);
        free(l);
        pending_fail(p, 503, "%s", "the face is shutting down");
    }
}

void sbx__e2b_proxy_free(struct sbx_e2b_face *f)
{
    struct sbx_e2b_proxy *px = f->proxy;

    if (!px)
        return;
    while (px->relays)
        relay_free(px->relays);
    while (px->pending)
        pending_free(px->pending);
    while (px->cache) {
        struct cache_ent *e = px->cache;

        px->cache = e->next;
        free(e);
    }
    free(px);
    f->proxy = NULL;
}
