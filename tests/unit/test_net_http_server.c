/* Tests for src/net/http_server.c through its public API: a no_listen server
 * serving one end of a socketpair, driven by sbx_loop_run_once(). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "net/http_server.h"
#include "net/loop.h"

enum mode { ANSWER_NOW, ANSWER_LATER, ANSWER_MANUAL };

struct fx {
    struct sbx_loop *loop;
    struct sbx_timer *tick;  /* keeps run_once from blocking */
    struct sbx_timer *later; /* answers queued requests */
    struct sbx_http_server *srv;
    int client;
    enum mode mode;
    size_t body_max; /* set in on_headers when non-zero */
    int reject;      /* on_headers status when non-zero */
    struct sbx_http_req *queue[8];
    size_t nqueue;
    size_t nrequests;
    struct sbx_buf in; /* bytes the client received */
    bool eof;
    bool stream_body;   /* on_headers installs a body sink with body_free */
    size_t sunk, freed; /* bytes the sink got, body_free calls */
    bool hijack;        /* on_headers marks requests for sbx_http_hijack */
};

static int sink_body(struct sbx_http_req *req, const char *p, size_t n, void *ud)
{
    struct fx *fx = ud;

    (void)req;
    (void)p;
    fx->sunk += n;
    return 0;
}

static void sink_free(void *ud)
{
    struct fx *fx = ud;

    fx->freed++;
}

static void answer(struct sbx_http_req *req)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_buf_addf(&b, "%s %s q=%s cl=%lld ch=%d b=%s", req->method_name, req->path,
                                  req->query, (long long)req->content_length, req->chunked,
                                  req->body.ptr),
                     0);
    sbx_http_respond(req, 200, "text/plain", "X-Test: 1\r\n", b.ptr, b.len);
    sbx_buf_free(&b);
}

static void on_later(struct sbx_timer *t, void *ud)
{
    struct fx *fx = ud;
    size_t i;

    (void)t;
    for (i = 0; i < fx->nqueue; i++)
        answer(fx->queue[i]);
    fx->nqueue = 0;
}

static void on_tick(struct sbx_timer *t, void *ud)
{
    (void)ud;
    sbx_timer_start(t, 5);
}

static int on_headers(struct sbx_http_req *req, char *detail, size_t n, void *ud)
{
    struct fx *fx = ud;

    if (fx->body_max)
        req->body_max = fx->body_max;
    if (fx->stream_body) {
        req->body_fn = sink_body;
        req->body_free = sink_free;
        req->body_ud = fx;
    }
    req->hijack = fx->hijack;
    if (fx->reject) {
        snprintf(detail, n, "Invalid API Key");
        return fx->reject;
    }
    return 0;
}

static void on_request(struct sbx_http_req *req, void *ud)
{
    struct fx *fx = ud;

    fx->nrequests++;
    switch (fx->mode) {
    case ANSWER_NOW: answer(req); return;
    case ANSWER_LATER:
        fx->queue[fx->nqueue++] = req;
        sbx_timer_start(fx->later, 20);
        return;
    case ANSWER_MANUAL: fx->queue[fx->nqueue++] = req; return;
    }
}

static int up(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct sbx_http_server_opts o = {
        .no_listen = true, .on_headers = on_headers, .on_request = on_request};
    int sv[2];

    if (!fx)
        return -1;
    o.ud = fx;
    fx->loop = sbx_loop_new(NULL);
    fx->tick = sbx_timer_new(fx->loop, on_tick, fx, NULL);
    fx->later = sbx_timer_new(fx->loop, on_later, fx, NULL);
    fx->srv = sbx_http_server_new(fx->loop, &o, NULL);
    if (!fx->srv || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    if (sbx_http_server_adopt(fx->srv, sv[0]) < 0)
        return -1;
    fx->client = sv[1];
    sbx_fd_set_nonblock(fx->client, 1);
    sbx_buf_init(&fx->in, 0);
    sbx_timer_start(fx->tick, 5);
    *state = fx;
    return 0;
}

static int down(void **state)
{
    struct fx *fx = *state;
    int i;

    sbx_fd_close(fx->client);
    sbx_http_server_close(fx->srv);
    for (i = 0; i < 5; i++)
        sbx_loop_run_once(fx->loop);
    sbx_timer_close(fx->tick);
    sbx_timer_close(fx->later);
    sbx_loop_free(fx->loop);
    sbx_buf_free(&fx->in);
    free(fx);
    return 0;
}

static void send_str(struct fx *fx, const char *s, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = write(fx->client, s + done, n - done);

        if (w < 0 && errno == EAGAIN) {
            sbx_loop_run_once(fx->loop);
            continue;
        }
        assert_true(w > 0);
        done += (size_t)w;
    }
}

#define SEND(fx, s) send_str((fx), (s), strlen(s))

/* One loop iteration plus a non-blocking read of what the client got. */
static void pump(struct fx *fx)
{
    char tmp[65536];
    ssize_t n;

    sbx_loop_run_once(fx->loop);
    while (!fx->eof) {
        n = read(fx->client, tmp, sizeof(tmp));
        if (n > 0) {
            assert_int_equal(sbx_buf_add(&fx->in, tmp, (size_t)n), 0);
        } else {
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                fx->eof = true;
            break;
        }
    }
}

/* Length of the first complete response in fx->in, or 0. */
static size_t complete_len(struct fx *fx)
{
    const char *end = strstr(fx->in.ptr, "\r\n\r\n");
    const char *cl;
    size_t hlen;

    if (!end)
        return 0;
    hlen = (size_t)(end - fx->in.ptr) + 4;
    cl = strcasestr(fx->in.ptr, "\r\nContent-Length: ");
    assert_non_null(cl);
    assert_true(cl < end);
    hlen += strtoul(cl + 18, NULL, 10);
    return fx->in.len >= hlen ? hlen : 0;
}

/* Waits (2 s at most) for a response; returns its status and copies it. */
static int next_response(struct fx *fx, struct sbx_buf *head, struct sbx_buf *body)
{
    time_t end = time(NULL) + 3;
    size_t len, hlen;
    int status;

    while (!(len = complete_len(fx))) {
        if (fx->eof || time(NULL) > end)
            fail_msg("no complete response; got \"%s\"", fx->in.ptr);
        pump(fx);
    }
    hlen = (size_t)(strstr(fx->in.ptr, "\r\n\r\n") - fx->in.ptr) + 4;
    assert_int_equal(sscanf(fx->in.ptr, "HTTP/1.1 %d ", &status), 1);
    if (head)
        assert_int_equal(sbx_buf_add(head, fx->in.ptr, hlen), 0);
    if (body)
        assert_int_equal(sbx_buf_add(body, fx->in.ptr + hlen, len - hlen), 0);
    sbx_buf_consume(&fx->in, len);
    return status;
}

static void expect_ok(struct fx *fx, const char *want_body)
{
    struct sbx_buf head = SBX_BUF_INIT, body = SBX_BUF_INIT;

    assert_int_equal(next_response(fx, &head, &body), 200);
    assert_non_null(strstr(head.ptr, "Connection: keep-alive\r\n"));
    assert_non_null(strstr(head.ptr, "X-Test: 1\r\n"));
    assert_string_equal(body.ptr, want_body);
    sbx_buf_free(&head);
    sbx_buf_free(&body);
}

/* Expects an error answer with a JSON detail, then the server's EOF. */
static void expect_error_and_close(struct fx *fx, int status, const char *detail_part)
{
    struct sbx_buf head = SBX_BUF_INIT, body = SBX_BUF_INIT;
    time_t end = time(NULL) + 3;

    assert_int_equal(next_response(fx, &head, &body), status);
    assert_non_null(strstr(head.ptr, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(head.ptr, "Connection: close\r\n"));
    assert_memory_equal(body.ptr, "{\"detail\":\"", 11);
    if (!strstr(body.ptr, detail_part))
        fail_msg("detail %s lacks %s", body.ptr, detail_part);
    while (!fx->eof && time(NULL) <= end)
        pump(fx);
    assert_true(fx->eof);
    assert_int_equal(fx->in.len, 0);
    sbx_buf_free(&head);
    sbx_buf_free(&body);
}

static void wait_requests(struct fx *fx, size_t n)
{
    time_t end = time(NULL) + 3;

    while (fx->nrequests < n && time(NULL) <= end)
        pump(fx);
    assert_int_equal(fx->nrequests, n);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_answer_now(void **state)
{
    struct fx *fx = *state;

    SEND(fx, "GET /alive HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_ok(fx, "GET /alive q= cl=-1 ch=0 b=");
}

static void test_answer_later(void **state)
{
    struct fx *fx = *state;

    fx->mode = ANSWER_LATER;
    SEND(fx, "GET /slow?x=1 HTTP/1.1\r\n\r\n");
    expect_ok(fx, "GET /slow q=x=1 cl=-1 ch=0 b=");
}

static void test_keep_alive(void **state)
{
    struct fx *fx = *state;
    int i;

    for (i = 0; i < 3; i++) {
        fx->mode = i == 1 ? ANSWER_LATER : ANSWER_NOW;
        SEND(fx, "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
        expect_ok(fx, "POST /x q= cl=2 ch=0 b=hi");
    }
    assert_false(fx->eof);
}

static void test_pipelined_later(void **state)
{
    struct fx *fx = *state;

    fx->mode = ANSWER_LATER;
    SEND(fx, "GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n");
    expect_ok(fx, "GET /one q= cl=-1 ch=0 b=");
    expect_ok(fx, "GET /two q= cl=-1 ch=0 b=");
    assert_int_equal(fx->nrequests, 2);
}

static void test_pipelined_now(void **state)
{
    struct fx *fx = *state;

    SEND(fx, "GET /one HTTP/1.1\r\n\r\nPOST /two HTTP/1.1\r\nContent-Length: 1\r\n\r\nzGET "
             "/three HTTP/1.1\r\n\r\n");
    expect_ok(fx, "GET /one q= cl=-1 ch=0 b=");
    expect_ok(fx, "POST /two q= cl=1 ch=0 b=z");
    expect_ok(fx, "GET /three q= cl=-1 ch=0 b=");
}

static void test_chunked_body(void **state)
{
    struct fx *fx = *state;

    SEND(fx, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    pump(fx);
    SEND(fx, "6\r\n world\r\n0\r\n\r\n");
    expect_ok(fx, "POST /c q= cl=-1 ch=1 b=hello world");
}

static void test_content_length_split(void **state)
{
    struct fx *fx = *state;

    SEND(fx, "PUT /p HTTP/1.1\r\nContent-Len");
    pump(fx);
    SEND(fx, "gth: 6\r\n\r\nab");
    pump(fx);
    SEND(fx, "cdef");
    expect_ok(fx, "PUT /p q= cl=6 ch=0 b=abcdef");
}

static void test_body_too_large(void **state)
{
    struct fx *fx = *state;

    fx->body_max = 10;
    SEND(fx, "POST /big HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890");
    expect_error_and_close(fx, 413, "too large");
    assert_int_equal(fx->nrequests, 0);
}

static void test_body_max_exact(void **state)
{
    struct fx *fx = *state;

    fx->body_max = 10;
    SEND(fx, "POST /b HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
    expect_ok(fx, "POST /b q= cl=10 ch=0 b=0123456789");
}

static void test_chunked_too_large(void **state)
{
    struct fx *fx = *state;

    fx->body_max = 10;
    SEND(fx, "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n"
             "01234567\r\n0\r\n\r\n");
    expect_error_and_close(fx, 413, "too large");
}

static void test_headers_too_large(void **state)
{
    struct fx *fx = *state;
    struct sbx_buf req = SBX_BUF_INIT;
    size_t i;

    assert_int_equal(sbx_buf_addstr(&req, "GET / HTTP/1.1\r\nX-Big: "), 0);
    for (i = 0; i < 70000; i++)
        assert_int_equal(sbx_buf_addch(&req, 'a'), 0);
    assert_int_equal(sbx_buf_addstr(&req, "\r\n\r\n"), 0);
    send_str(fx, req.ptr, req.len);
    expect_error_and_close(fx, 431, "too large");
    sbx_buf_free(&req);
}

static void test_malformed(void **state)
{
    struct fx *fx = *state;

    SEND(fx, "GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    expect_error_and_close(fx, 400, "invalid HTTP request");
}

static void test_reject_without_body_keeps_alive(void **state)
{
    struct fx *fx = *state;

    fx->reject = 403;
    SEND(fx, "GET /secret HTTP/1.1\r\n\r\n");
    {
        struct sbx_buf head = SBX_BUF_INIT, body = SBX_BUF_INIT;

        assert_int_equal(next_response(fx, &head, &body), 403);
        assert_string_equal(body.ptr, "{\"detail\":\"Invalid API Key\"}");
        assert_non_null(strstr(head.ptr, "Connection: keep-alive\r\n"));
        sbx_buf_free(&head);
        sbx_buf_free(&body);
    }
    assert_int_equal(fx->nrequests, 0);
    fx->reject = 0;
    SEND(fx, "GET /next HTTP/1.1\r\n\r\n");
    expect_ok(fx, "GET /next q= cl=-1 ch=0 b=");
}

static void test_reject_with_body_closes(void **state)
{
    struct fx *fx = *state;

    fx->reject = 403;
    SEND(fx, "POST /secret HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    expect_error_and_close(fx, 403, "Invalid API Key");
}

static void test_percent_decoding(void **state)
{
    struct fx *fx = *state;

    SEND(fx, "GET /a%20b/%C3%A9+c?x=%41&y HTTP/1.1\r\n\r\n");
    expect_ok(fx, "GET /a b/\xc3\xa9+c q=x=%41&y cl=-1 ch=0 b=");
}

static void test_bad_percent_in_path(void **state)
{
    struct fx *fx = *state;

    SEND(fx, "GET /a%zz HTTP/1.1\r\n\r\n");
    expect_error_and_close(fx, 400, "percent");
}

static void test_connection_close_header(void **state)
{
    struct fx *fx = *state;
    struct sbx_buf head = SBX_BUF_INIT;

    SEND(fx, "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_int_equal(next_response(fx, &head, NULL), 200);
    assert_non_null(strstr(head.ptr, "Connection: close\r\n"));
    while (!fx->eof)
        pump(fx);
    sbx_buf_free(&head);
}

static void test_answer_after_client_closed(void **state)
{
    struct fx *fx = *state;
    int i;

    fx->mode = ANSWER_MANUAL;
    SEND(fx, "GET /gone HTTP/1.1\r\n\r\n");
    wait_requests(fx, 1);
    sbx_fd_close(fx->client);
    fx->client = -1;
    fx->eof = true;
    for (i = 0; i < 5; i++)
        sbx_loop_run_once(fx->loop);
    /* The connection may or may not have noticed yet; either way the answer
     * is accepted or dropped without harm. */
    sbx_http_respond(fx->queue[0], 200, "text/plain", NULL, "x", 1);
    fx->nqueue = 0;
    for (i = 0; i < 5; i++)
        sbx_loop_run_once(fx->loop);
}

static void test_close_server_with_pending_request(void **state)
{
    struct fx *fx = *state;
    struct sbx_http_req *req;
    int i;

    fx->mode = ANSWER_MANUAL;
    SEND(fx, "GET /pending HTTP/1.1\r\n\r\n");
    wait_requests(fx, 1);
    req = fx->queue[0];
    fx->nqueue = 0;
    sbx_http_server_close(fx->srv);
    fx->srv = NULL;
    for (i = 0; i < 5; i++)
        pump(fx);
    assert_true(fx->eof);
    assert_int_equal(fx->in.len, 0);
    /* The request stays valid until answered; the answer is dropped. */
    assert_false(sbx_http_req_connected(req));
    assert_string_equal(req->path, "/pending");
    assert_int_equal(sbx_http_respond(req, 200, "text/plain", NULL, "x", 1), -EPIPE);
    for (i = 0; i < 5; i++)
        sbx_loop_run_once(fx->loop);
}

/* ---- query strings ------------------------------------------------------------ */

static void test_query_get(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_http_query_get("a=1&b=x%20y+z", "b", &b), 1);
    assert_string_equal(b.ptr, "x y z");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_http_query_get("a=1&b=x%20y+z", "a", &b), 1);
    assert_string_equal(b.ptr, "1");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_http_query_get("a=1&b=2", "c", &b), 0);
    assert_int_equal(sbx_http_query_get("", "a", &b), 0);
    assert_int_equal(sbx_http_query_get("ab=1", "a", &b), 0);
    assert_int_equal(b.len, 0);
    /* A key without '=' is present with an empty value. */
    assert_int_equal(sbx_http_query_get("x&flag", "flag", &b), 1);
    assert_int_equal(b.len, 0);
    /* Keys are decoded too; the first occurrence wins. */
    assert_int_equal(sbx_http_query_get("%61=1&a=2", "a", &b), 1);
    assert_string_equal(b.ptr, "1");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_http_query_get("&&a=&", "a", &b), 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(sbx_http_query_get("path=/a=b", "path", &b), 1);
    assert_string_equal(b.ptr, "/a=b");
    sbx_buf_reset(&b);
    assert_true(sbx_http_query_get("a=%zz", "a", &b) < 0);
    assert_true(sbx_http_query_get("a=%4", "a", &b) < 0);
    assert_true(sbx_http_query_get("a=%", "a", &b) < 0);
    sbx_buf_free(&b);
}

static void test_decode(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_http_decode("a+b%2B%2b%00", 12, false, &b), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.ptr, "a+b++\0", 6);
    sbx_buf_reset(&b);
    assert_int_equal(sbx_http_decode("%41", 3, true, &b), 0);
    assert_string_equal(b.ptr, "A");
    assert_int_equal(sbx_http_decode("%4", 2, true, &b), -EINVAL);
    assert_int_equal(sbx_http_decode("%g0", 3, true, &b), -EINVAL);
    sbx_buf_free(&b);
}

static void test_reason(void **state)
{
    (void)state;
    assert_string_equal(sbx_http_reason(200), "OK");
    assert_string_equal(sbx_http_reason(413), "Content Too Large");
    assert_string_equal(sbx_http_reason(431), "Request Header Fields Too Large");
}

/* ---- streaming answers ----------------------------------------------------------- */

struct stream_st {
    struct sbx_http_req *req;
    size_t sent, total, piece;
    int waits, drains, last_status;
    bool done;
};

static void st_drained(struct sbx_http_req *req, int status, void *ud);

static void st_fill(struct stream_st *st)
{
    char chunk[20000];
    size_t i;
    int rc;

    while (st->sent < st->total) {
        size_t n = st->total - st->sent < st->piece ? st->total - st->sent : st->piece;

        for (i = 0; i < n; i++)
            chunk[i] = (char)((st->sent + i) * 7 % 251);
        rc = sbx_http_stream_write(st->req, chunk, n, st_drained, st);
        if (rc < 0) {
            st->last_status = rc;
            sbx_http_stream_abort(st->req);
            st->done = true;
            return;
        }
        st->sent += n;
        if (rc == SBX_HTTP_STREAM_WAIT) {
            st->waits++;
            return;
        }
    }
    assert_int_equal(sbx_http_stream_end(st->req), 0);
    st->done = true;
}

static void st_drained(struct sbx_http_req *req, int status, void *ud)
{
    struct stream_st *st = ud;

    assert_ptr_equal(req, st->req);
    st->drains++;
    st->last_status = status;
    if (status < 0) {
        sbx_http_stream_abort(req);
        st->done = true;
        return;
    }
    st_fill(st);
}

/* Decodes a chunked body that starts at p; returns bytes consumed (0 when
 * incomplete). */
static size_t dechunk(const char *p, size_t len, struct sbx_buf *out)
{
    size_t off = 0;

    for (;;) {
        const char *eol = memmem(p + off, len - off, "\r\n", 2);
        unsigned long n;

        if (!eol)
            return 0;
        n = strtoul(p + off, NULL, 16);
        off = (size_t)(eol - p) + 2;
        if (n == 0)
            return len - off >= 2 ? off + 2 : 0;
        if (len - off < n + 2)
            return 0;
        assert_int_equal(sbx_buf_add(out, p + off, n), 0);
        assert_memory_equal(p + off + n, "\r\n", 2);
        off += n + 2;
    }
}

static void test_stream_chunked_backpressure(void **state)
{
    struct fx *fx = *state;
    struct stream_st st = {.total = (size_t)5 << 20, .piece = 20000};
    struct sbx_buf body = SBX_BUF_INIT;
    const char *hend;
    size_t i, used = 0;
    time_t end = time(NULL) + 10;

    fx->mode = ANSWER_MANUAL;
    SEND(fx, "GET /big HTTP/1.1\r\n\r\n");
    wait_requests(fx, 1);
    st.req = fx->queue[0];
    fx->nqueue = 0;
    assert_int_equal(sbx_http_stream_start(st.req, 200, "application/zip",
                                           "Content-Disposition: attachment\r\n", -1), 0);
    st_fill(&st);
    /* The client has not read anything: the writer must be waiting, with
     * at most the high-water mark (plus one piece) queued. */
    assert_false(st.done);
    assert_int_equal(st.waits, 1);
    assert_true(st.sent <= SBX_HTTP_STREAM_HWM + st.piece);
    while (!used) {
        if (time(NULL) > end)
            fail_msg("stream did not finish: sent %zu", st.sent);
        pump(fx);
        hend = strstr(fx->in.ptr, "\r\n\r\n");
        if (st.done && hend) {
            sbx_buf_reset(&body);
            used = dechunk(hend + 4, fx->in.len - (size_t)(hend + 4 - fx->in.ptr), &body);
        }
    }
    assert_non_null(strstr(fx->in.ptr, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(fx->in.ptr, "Content-Disposition: attachment\r\n"));
    assert_true(st.waits > 1);
    assert_int_equal(st.drains, st.waits);
    assert_int_equal(st.last_status, 0);
    assert_int_equal(body.len, st.total);
    for (i = 0; i < body.len; i++)
        if (body.ptr[i] != (char)(i * 7 % 251))
            fail_msg("byte %zu differs", i);
    /* keep-alive: the connection serves the next request */
    sbx_buf_reset(&fx->in);
    fx->mode = ANSWER_NOW;
    SEND(fx, "GET /next HTTP/1.1\r\n\r\n");
    expect_ok(fx, "GET /next q= cl=-1 ch=0 b=");
    sbx_buf_free(&body);
}

static void test_stream_content_length(void **state)
{
    struct fx *fx = *state;
    struct stream_st st = {.total = 30000, .piece = 1000};
    struct sbx_buf head = SBX_BUF_INIT, body = SBX_BUF_INIT;

    fx->mode = ANSWER_MANUAL;
    SEND(fx, "GET /cl HTTP/1.1\r\n\r\n");
    wait_requests(fx, 1);
    st.req = fx->queue[0];
    fx->nqueue = 0;
    assert_int_equal(sbx_http_stream_start(st.req, 200, NULL, NULL, 30000), 0);
    st_fill(&st);
    assert_true(st.done);
    assert_int_equal(next_response(fx, &head, &body), 200);
    assert_non_null(strstr(head.ptr, "Content-Length: 30000\r\n"));
    assert_null(strstr(head.ptr, "chunked"));
    assert_int_equal(body.len, 30000);
    sbx_buf_free(&head);
    sbx_buf_free(&body);
}

static void test_stream_client_disconnects(void **state)
{
    struct fx *fx = *state;
    struct stream_st st = {.total = (size_t)64 << 20, .piece = 20000};
    int i;

    fx->mode = ANSWER_MANUAL;
    SEND(fx, "GET /gone HTTP/1.1\r\n\r\n");
    wait_requests(fx, 1);
    st.req = fx->queue[0];
    fx->nqueue = 0;
    assert_int_equal(sbx_http_stream_start(st.req, 200, NULL, NULL, -1), 0);
    st_fill(&st);
    for (i = 0; i < 20 && st.waits < 3; i++)
        sbx_loop_run_once(fx->loop); /* fills the socket buffer */
    assert_false(st.done);
    sbx_fd_close(fx->client);
    fx->client = -1;
    fx->eof = true;
    for (i = 0; i < 50 && !st.done; i++)
        sbx_loop_run_once(fx->loop);
    assert_true(st.done);
    assert_true(st.last_status < 0);
    assert_true(st.sent < st.total);
}

static void test_stream_server_closes(void **state)
{
    struct fx *fx = *state;
    struct stream_st st = {.total = (size_t)64 << 20, .piece = 20000};
    int i;

    fx->mode = ANSWER_MANUAL;
    SEND(fx, "GET /x HTTP/1.1\r\n\r\n");
    wait_requests(fx, 1);
    st.req = fx->queue[0];
    fx->nqueue = 0;
    assert_int_equal(sbx_http_stream_start(st.req, 200, NULL, NULL, -1), 0);
    st_fill(&st);
    assert_false(st.done);
    sbx_http_server_close(fx->srv);
    fx->srv = NULL;
    for (i = 0; i < 10 && !st.done; i++)
        sbx_loop_run_once(fx->loop);
    assert_true(st.done);
    assert_int_equal(st.last_status, -EPIPE);
}

static void test_body_free_on_disconnect(void **state)
{
    struct fx *fx = *state;
    int i;

    fx->stream_body = true;
    SEND(fx, "POST /up HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789");
    for (i = 0; i < 5; i++)
        pump(fx);
    assert_int_equal(fx->sunk, 10);
    assert_int_equal(fx->freed, 0);
    sbx_fd_close(fx->client);
    fx->client = -1;
    fx->eof = true;
    for (i = 0; i < 10 && !fx->freed; i++)
        sbx_loop_run_once(fx->loop);
    assert_int_equal(fx->freed, 1);
    assert_int_equal(fx->nrequests, 0);
}

static void test_body_free_on_answer(void **state)
{
    struct fx *fx = *state;

    fx->stream_body = true;
    SEND(fx, "POST /up HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    expect_ok(fx, "POST /up q= cl=3 ch=0 b=");
    assert_int_equal(fx->sunk, 3);
    assert_int_equal(fx->freed, 1);
}

/* A hijacked request: the handler gets the socket and the bytes past the
 * headers (nothing of the body was consumed), and the server lets go. */
static void test_hijack(void **state)
{
    struct fx *fx = *state;
    struct sbx_buf rest = SBX_BUF_INIT;
    char tmp[64];
    ssize_t n;
    int fd = -1, i;

    fx->hijack = true;
    fx->mode = ANSWER_MANUAL;
    SEND(fx, "POST /up HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel");
    wait_requests(fx, 1);
    SEND(fx, "lo-more");
    for (i = 0; i < 3; i++)
        pump(fx);
    assert_int_equal(sbx_http_hijack(fx->queue[0], &fd, &rest), 0);
    assert_true(fd >= 0);
    sbx_fd_set_nonblock(fd, 1);
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        assert_int_equal(sbx_buf_add(&rest, tmp, (size_t)n), 0);
    assert_int_equal(rest.len, 10);
    assert_memory_equal(rest.ptr, "hello-more", 10);
    for (i = 0; i < 3; i++)
        pump(fx);
    assert_false(fx->eof); /* the server closed its copy only */
    assert_int_equal(write(fd, "raw", 3), 3);
    close(fd);
    for (i = 0; i < 20 && !fx->eof; i++)
        pump(fx);
    assert_true(fx->eof);
    assert_int_equal(fx->in.len, 3);
    assert_memory_equal(fx->in.ptr, "raw", 3);
    sbx_buf_free(&rest);
}

/* Answering a hijack request instead closes the connection after the
 * answer: its body was never read. */
static void test_hijack_answered_closes(void **state)
{
    struct fx *fx = *state;

    fx->hijack = true;
    fx->mode = ANSWER_MANUAL;
    SEND(fx, "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nab");
    wait_requests(fx, 1);
    sbx_http_respond_detail(fx->queue[0], 502, "no upstream");
    expect_error_and_close(fx, 502, "no upstream");
}

static void test_hijack_needs_the_mark(void **state)
{
    struct fx *fx = *state;
    struct sbx_buf rest = SBX_BUF_INIT;
    int fd = -1;

    fx->mode = ANSWER_MANUAL;
    SEND(fx, "GET /plain HTTP/1.1\r\n\r\n");
    wait_requests(fx, 1);
    assert_int_equal(sbx_http_hijack(fx->queue[0], &fd, &rest), -EINVAL);
    assert_int_equal(fd, -1);
    answer(fx->queue[0]);
    expect_ok(fx, "GET /plain q= cl=-1 ch=0 b=");
    sbx_buf_free(&rest);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, up, down)
    const struct CMUnitTest tests[] = {
        T(test_answer_now),
        T(test_answer_later),
        T(test_keep_alive),
        T(test_pipelined_later),
        T(test_pipelined_now),
        T(test_chunked_body),
        T(test_content_length_split),
        T(test_body_too_large),
        T(test_body_max_exact),
        T(test_chunked_too_large),
        T(test_headers_too_large),
        T(test_malformed),
        T(test_reject_without_body_keeps_alive),
        T(test_reject_with_body_closes),
        T(test_percent_decoding),
        T(test_bad_percent_in_path),
        T(test_connection_close_header),
        T(test_answer_after_client_closed),
        T(test_close_server_with_pending_request),
        T(test_stream_chunked_backpressure),
        T(test_stream_content_length),
        T(test_stream_client_disconnects),
        T(test_stream_server_closes),
        T(test_body_free_on_disconnect),
        T(test_body_free_on_answer),
        T(test_hijack),
        T(test_hijack_answered_closes),
        T(test_hijack_needs_the_mark),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_reason),
    };

    signal(SIGPIPE, SIG_IGN); /* as sbx-server's main() */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
