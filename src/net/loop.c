#include "net/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

struct sbx_loop {
    uv_loop_t uv;
};

struct sbx_watch {
    uv_poll_t h;
    sbx_watch_fn *cb;
    void *ud;
    int events; /* as last set: a repeated set costs no epoll_ctl */
};

struct sbx_timer {
    uv_timer_t h;
    sbx_timer_fn *cb;
    void *ud;
};

struct sbx_sig {
    uv_signal_t h;
    sbx_sig_fn *cb;
    void *ud;
};

struct sbx_async {
    uv_async_t h;
    sbx_async_fn *cb;
    void *ud;
};

struct sbx_loop *sbx_loop_new(struct sbx_err *err)
{
    struct sbx_loop *l = calloc(1, sizeof(*l));
    int rc;

    if (!l) {
        sbx_err_set(err, -ENOMEM, "event loop: out of memory");
        return NULL;
    }
    rc = uv_loop_init(&l->uv);
    if (rc < 0) {
        sbx_err_set(err, rc, "event loop: %s", uv_strerror(rc));
        free(l);
        return NULL;
    }
    return l;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL); /* leaked rather than freed: the owner forgot it */
}

void sbx_loop_free(struct sbx_loop *l)
{
    if (!l)
        return;
    /* Handles still open here belong to code that did not close them. */
    uv_walk(&l->uv, close_walk, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    uv_loop_close(&l->uv);
    free(l);
}

int sbx_loop_run(struct sbx_loop *l)
{
    return uv_run(&l->uv, UV_RUN_DEFAULT);
}

int sbx_loop_run_once(struct sbx_loop *l)
{
    return uv_run(&l->uv, UV_RUN_NOWAIT);
}

void sbx_loop_stop(struct sbx_loop *l)
{
    uv_stop(&l->uv);
}

struct uv_loop_s *sbx__loop_uv(struct sbx_loop *l)
{
    return &l->uv;
}

int64_t sbx_loop_now_ms(struct sbx_loop *l)
{
    uv_update_time(&l->uv);
    return (int64_t)uv_now(&l->uv);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sbx_watch *w = h->data;
    int ev = 0;

    if (status < 0)
        ev = SBX_WATCH_READ; /* let the reader see the error */
    if (events & UV_READABLE)
        ev |= SBX_WATCH_READ;
    if (events & (UV_WRITABLE | UV_DISCONNECT))
        ev |= (events & UV_WRITABLE) ? SBX_WATCH_WRITE : SBX_WATCH_READ;
    w->cb(w, ev, w->ud);
}

struct sbx_watch *sbx_watch_new(struct sbx_loop *l, int fd, int events, sbx_watch_fn *cb,
                                void *ud, struct sbx_err *err)
{
    struct sbx_watch *w = calloc(1, sizeof(*w));
    int rc;

    if (!w) {
        sbx_err_set(err, -ENOMEM, "fd watch: out of memory");
        return NULL;
    }
    rc = uv_poll_init(&l->uv, &w->h, fd);
    if (rc < 0) {
        sbx_err_set(err, rc, "watch fd %d: %s", fd, uv_strerror(rc));
        free(w);
        return NULL;
    }
    w->h.data = w;
    w->cb = cb;
    w->ud = ud;
    w->events = -1;
    rc = sbx_watch_set(w, events);
    if (rc < 0) {
        sbx_err_set(err, rc, "watch fd %d: %s", fd, uv_strerror(rc));
        sbx_watch_close(w);
        return NULL;
    }
    return w;
}

int sbx_watch_set(struct sbx_watch *w, int events)
{
    int uv_ev = 0;

    if (events == w->events)
        return 0;
    w->events = events;
    if (!events)
        return uv_poll_stop(&w->h);
    if (events & SBX_WATCH_READ)
        uv_ev |= UV_READABLE | UV_DISCONNECT;
    if (events & SBX_WATCH_WRITE)
        uv_ev |= UV_WRITABLE;
    return uv_poll_start(&w->h, uv_ev, on_poll);
}

int sbx_watch_flush(struct sbx_watch *w, int fd, struct sbx_buf *out)
{
    while (out->len) {
        ssize_t n = write(fd, out->ptr, out->len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -errno;
            break;
        }
        sbx_buf_consume(out, (size_t)n);
    }
    return w ? sbx_watch_set(w, SBX_WATCH_READ | (out->len ? SBX_WATCH_WRITE : 0)) : 0;
}

void sbx_watch_close(struct sbx_watch *w)
{
    if (!w)
        return;
    uv_poll_stop(&w->h);
    uv_close((uv_handle_t *)&w->h, (uv_close_cb)free);
}

static void on_timer(uv_timer_t *h)
{
    struct sbx_timer *t = h->data;

    t->cb(t, t->ud);
}

struct sbx_timer *sbx_timer_new(struct sbx_loop *l, sbx_timer_fn *cb, void *ud,
                                struct sbx_err *err)
{
    struct sbx_timer *t = calloc(1, sizeof(*t));

    if (!t) {
        sbx_err_set(err, -ENOMEM, "timer: out of memory");
        return NULL;
    }
    uv_timer_init(&l->uv, &t->h);
    t->h.data = t;
    t->cb = cb;
    t->ud = ud;
    return t;
}

int sbx_timer_start(struct sbx_timer *t, int64_t timeout_ms)
{
    return uv_timer_start(&t->h, on_timer, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
}

void sbx_timer_stop(struct sbx_timer *t)
{
    if (t)
        uv_timer_stop(&t->h);
}

void sbx_timer_close(struct sbx_timer *t)
{
    if (!t)
        return;
    uv_timer_stop(&t->h);
    uv_close((uv_handle_t *)&t->h, (uv_close_cb)free);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct sbx_sig *s = h->data;

    s->cb(s, signum, s->ud);
}

struct sbx_sig *sbx_sig_new(struct sbx_loop *l, int signum, sbx_sig_fn *cb, void *ud,
                            struct sbx_err *err)
{
    struct sbx_sig *s = calloc(1, sizeof(*s));
    int rc;

    if (!s) {
        sbx_err_set(err, -ENOMEM, "signal: out of memory");
        return NULL;
    }
    uv_signal_init(&l->uv, &s->h);
    s->h.data = s;
    s->cb = cb;
    s->ud = ud;
    rc = uv_signal_start(&s->h, on_signal, signum);
    if (rc < 0) {
        sbx_err_set(err, rc, "signal %d: %s", signum, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->h, (uv_close_cb)free);
        return NULL;
    }
    return s;
}

void sbx_sig_close(struct sbx_sig *s)
{
    if (!s)
        return;
    uv_signal_stop(&s->h);
    uv_close((uv_handle_t *)&s->h, (uv_close_cb)free);
}

static void on_async(uv_async_t *h)
{
    struct sbx_async *a = h->data;

    a->cb(a, a->ud);
}

struct sbx_async *sbx_async_new(struct sbx_loop *l, sbx_async_fn *cb, void *ud,
                                struct sbx_err *err)
{
    struct sbx_async *a = calloc(1, sizeof(*a));
    int rc;

    if (!a) {
        sbx_err_set(err, -ENOMEM, "async: out of memory");
        return NULL;
    }
    rc = uv_async_init(&l->uv, &a->h, on_async);
    if (rc < 0) {
        sbx_err_set(err, rc, "async: %s", uv_strerror(rc));
        free(a);
        return NULL;
    }
    a->h.data = a;
    a->cb = cb;
    a->ud = ud;
    return a;
}

int sbx_async_send(struct sbx_async *a)
{
    return uv_async_send(&a->h);
}

void sbx_async_close(struct sbx_async *a)
{
    if (a)
        uv_close((uv_handle_t *)&a->h, (uv_close_cb)free);
}
