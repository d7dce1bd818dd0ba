/*
 * Server-streaming answers of envd's RPCs (envd.h): Connect envelopes
 * written with the server's backpressure, keepalive messages
 * (Keepalive-Ping-Interval, seconds), the Connect-Timeout-Ms deadline, and
 * the parsing of the one request message. Shared by envd_process.c (Start,
 * Connect) and envd_watch.c (WatchDir).
 */
#include "api/e2b/envd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fd.h"
#include "json/json.h"
#include "net/connect.h"
#include "net/loop.h"

#define KEEPALIVE_DEFAULT_S 90


void sbx__envd_stream_attach(struct sbx__envd_stream *st, struct sbx__envd_stream **head,
                             void *owner, void (*resume)(void *), void (*gone)(void *))
{
    st->resume = resume;
    st->gone = gone;
    st->head = head;
    st->owner = owner;
    st->next = *head;
    *head = st;
}

void sbx__envd_stream_unlink(struct sbx__envd_stream *st)
{
    struct sbx__envd_stream **pp;

    if (!st->head)
        return;
    for (pp = st->head; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    }
    st->head = NULL;
    st->owner = NULL;
}

/* The stream leaves its owner on its own (client gone, deadline). */
static void stream_leave(struct sbx__envd_stream *st)
{
    void *owner = st->owner;

    sbx__envd_stream_unlink(st);
    if (owner && st->gone)
        st->gone(owner);
}

static void stream_free(struct sbx__envd_stream *st)
{
    stream_leave(st);
    sbx_timer_close(st->keepalive);
    sbx_timer_close(st->deadline);
    sbx_buf_free(&st->pending);
    free(st);
}

static void stream_drained(struct sbx_http_req *req, int status, void *ud);

/* Writes what st holds back; ends the stream when asked to and all is out. */
static void stream_flush(struct sbx__envd_stream *st)
{
    int rc;

    if (st->waiting)
        return;
    if (st->pending.len) {
        rc = sbx_http_stream_write(st->req, st->pending.ptr, st->pending.len, stream_drained, st);
        sbx_buf_reset(&st->pending);
        if (rc < 0) {
            sbx_http_stream_abort(st->req);
            stream_free(st);
            return;
        }
        if (rc == SBX_HTTP_STREAM_WAIT) {
            st->waiting = true;
            return;
        }
    }
    if (st->ending) {
        sbx_http_stream_end(st->req);
        stream_free(st);
    }
}

static void stream_drained(struct sbx_http_req *req, int status, void *ud)
{
    struct sbx__envd_stream *st = ud;
    void *owner = st->owner;
    void (*resume)(void *) = st->resume;

    (void)req;
    st->waiting = false;
    if (status < 0) {
        /* the client is gone (a process goes on) */
        sbx_http_stream_abort(st->req);
        stream_free(st);
    } else {
        stream_flush(st);
    }
    if (owner && resume)
        resume(owner);
}

void sbx__envd_stream_send(struct sbx__envd_stream *st, const char *json, size_t len)
{
    if (sbx_connect_envelope(&st->pending, 0, json, len) < 0)
        return;
    if (st->keepalive)
        sbx_timer_start(st->keepalive, st->keepalive_ms);
    stream_flush(st);
}

void sbx__envd_stream_end(struct sbx__envd_stream *st, const struct sbx_connect_error *e)
{
    sbx_timer_stop(st->keepalive);
    sbx_timer_stop(st->deadline);
    if (sbx_connect_end_stream(&st->pending, e) < 0) {
        sbx_http_stream_abort(st->req);
        stream_free(st);
        return;
    }
    st->ending = true;
    stream_flush(st);
}

void sbx__envd_stream_end_error(struct sbx__envd_stream *st, enum sbx_connect_code code,
                                const char *msg)
{
    struct sbx_connect_error e;

    size_t n = strnlen(msg, sizeof(e.message) - 1); /* truncated to fit, as connect.h says */

    e.code = code;
    memcpy(e.message, msg, n);
    e.message[n] = '\0';
    sbx__envd_stream_end(st, &e);
}

static void on_keepalive(struct sbx_timer *t, void *ud)
{
    struct sbx__envd_stream *st = ud;

    (void)t;
    sbx__envd_stream_send(st, st->keepalive_json, strlen(st->keepalive_json));
}

static void on_deadline(struct sbx_timer *t, void *ud)
{
    struct sbx__envd_stream *st = ud;

    (void)t;
    /* connect-go's handler context ends: the stream ends with the deadline,
     * whatever the process does (Start's process dies of the same deadline) */
    stream_leave(st);
    sbx__envd_stream_end_error(st, SBX_CONNECT_DEADLINE_EXCEEDED, "context deadline exceeded");
}

static int parse_timeout(struct sbx_http_req *req, int64_t *ms, char *msg, size_t len);

struct sbx_json *sbx__envd_stream_begin(struct sbx_http_req *req, const char *type_name,
                                        const struct sbx__envd_field *schema,
                                        int64_t *timeout_ms)
{
    struct sbx_connect_reader r;
    struct sbx_err err = {0};
    struct sbx_json *v = NULL;
    char msg[256];
    size_t off = 0;

    if (sbx__envd_want_post(req, "application/connect+json", SBX_ENVD_STREAM_ACCEPT) < 0)
        return NULL;
    msg[0] = '\0';
    sbx_connect_reader_init(&r, SBX_CONNECT_DEFAULT_MAX_MESSAGE);
    while (off < req->body.len) {
        ssize_t n = sbx_connect_reader_feed(&r, req->body.ptr + off, req->body.len - off, &err);

        if (n < 0) {
            snprintf(msg, sizeof(msg), "protocol error: %.200s", err.msg);
            break;
        }
        off += (size_t)n;
        if (sbx_connect_reader_ready(&r)) {
            if (off < req->body.len) {
                snprintf(msg, sizeof(msg), "protocol error: received extra input message for "
                                           "server-streaming method");
            } else if (r.flags) {
                snprintf(msg, sizeof(msg), "protocol error: invalid envelope flags %u", r.flags);
            } else {
                v = sbx_json_parse(r.msg.len ? r.msg.ptr : "{}", r.msg.len ? r.msg.len : 2, &err);
                if (!v)
                    snprintf(msg, sizeof(msg), "unmarshal into %s: %.180s", type_name, err.msg);
                else if (sbx__envd_check(v, schema, msg, sizeof(msg)) < 0) {
                    char m2[256];

                    snprintf(m2, sizeof(m2), "unmarshal into %s: %.180s", type_name, msg);
                    memcpy(msg, m2, sizeof(msg));
                    sbx_json_free(v);
                    v = NULL;
                }
            }
            break;
        }
    }
    if (!v && !msg[0])
        snprintf(msg, sizeof(msg), "protocol error: %s",
                 req->body.len ? "incomplete envelope" : "missing request message");
    sbx_connect_reader_free(&r);
    if (v && parse_timeout(req, timeout_ms, msg, sizeof(msg)) < 0) {
        sbx_json_free(v);
        v = NULL;
    }
    if (!v)
        sbx__envd_stream_error(req, SBX_CONNECT_INVALID_ARGUMENT, msg);
    return v;
}

struct sbx__envd_stream *sbx__envd_stream_open(struct sbx_e2b_face *f, struct sbx_http_req *req,
                                               int64_t deadline_ms, const char *keepalive_json)
{
    struct sbx__envd_stream *st = calloc(1, sizeof(*st));
    const char *ka = sbx_http_req_header(req, "Keepalive-Ping-Interval");
    long secs = ka ? strtol(ka, NULL, 10) : 0;

    if (!st || sbx_http_stream_start(req, 200, "application/connect+json", NULL, -1) < 0) {
        free(st);
        sbx_http_stream_abort(req);
        return NULL;
    }
    st->req = req;
    st->keepalive_json = keepalive_json;
    sbx_buf_init(&st->pending, 0);
    st->keepalive_ms = (secs > 0 && secs < 86400 ? secs : KEEPALIVE_DEFAULT_S) * 1000;
    st->keepalive = sbx_timer_new(f->loop, on_keepalive, st, NULL);
    if (st->keepalive)
        sbx_timer_start(st->keepalive, st->keepalive_ms);
    if (deadline_ms > 0) {
        st->deadline = sbx_timer_new(f->loop, on_deadline, st, NULL);
        if (st->deadline)
            sbx_timer_start(st->deadline, deadline_ms);
    }
    return st;
}

static int parse_timeout(struct sbx_http_req *req, int64_t *ms, char *msg, size_t len)
{
    const char *h = sbx_http_req_header(req, "Connect-Timeout-Ms");
    char *end;
    long long v;

    *ms = 0;
    if (!h || !*h)
        return 0;
    /* the protocol's Timeout-Milliseconds: at most 10 digits (115 days);
     * more would overflow the backend's deadline (now + timeout) */
    if (strlen(h) > 10) {
        snprintf(msg, len, "protocol error: timeout \"%.20s\": too long", h);
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(h, &end, 10);
    if (*end || errno || end == h || v < 0) {
        snprintf(msg, len, "strconv.Atoi: parsing \"%.20s\": invalid syntax", h);
        return -EINVAL;
    }
    *ms = v;
    return 0;
}

int sbx__envd_make_pipe(int *r, int *w, bool loop_reads)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    *r = fds[0];
    *w = fds[1];
    sbx_fd_set_nonblock(loop_reads ? fds[0] : fds[1], 1);
    return 0;
}
