/* libFuzzer target for src/net/http_server.c: the input is what a client
 * sends on one adopted connection of a no_listen server whose handler
 * answers 200 at once. Must never crash or leak. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fd.h"
#include "net/http_server.h"
#include "net/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct state {
    struct sbx_loop *loop;
    struct sbx_timer *tick;
};

static int on_headers(struct sbx_http_req *req, char *detail, size_t n, void *ud)
{
    (void)detail;
    (void)n;
    (void)ud;
    req->body_max = 4096; /* keeps each iteration small */
    return 0;
}

static void on_request(struct sbx_http_req *req, void *ud)
{
    (void)ud;
    sbx_http_respond(req, 200, "text/plain", NULL, req->body.ptr, req->body.len);
}

static void on_tick(struct sbx_timer *t, void *ud)
{
    (void)ud;
    sbx_timer_start(t, 1); /* 0 would re-run in the same timer pass forever */
}

/* Reads and drops what the server sent; true at EOF. */
static bool drain(int fd)
{
    char tmp[65536];

    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));

        if (n > 0)
            continue;
        return n == 0 || (errno != EAGAIN && errno != EINTR);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct state st;
    struct sbx_http_server_opts o = {
        .no_listen = true, .on_headers = on_headers, .on_request = on_request};
    struct sbx_http_server *srv;
    size_t off = 0;
    int sv[2], i;
    bool eof = false;

    if (!st.loop) {
        signal(SIGPIPE, SIG_IGN);
        st.loop = sbx_loop_new(NULL);
        st.tick = sbx_timer_new(st.loop, on_tick, NULL, NULL);
        if (!st.loop || !st.tick)
            abort();
    }
    srv = sbx_http_server_new(st.loop, &o, NULL);
    if (!srv || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (sbx_http_server_adopt(srv, sv[0]) < 0)
        abort();
    sbx_fd_set_nonblock(sv[1], 1);
    sbx_timer_start(st.tick, 1);
    /* Feed in pieces; stop when the server closes or all is consumed. */
    for (i = 0; i < 10000 && !eof; i++) {
        if (off < size) {
            ssize_t w = write(sv[1], data + off, size - off);

            if (w > 0)
                off += (size_t)w;
            else if (errno != EAGAIN)
                break;
        } else if (i > 0) {
            shutdown(sv[1], SHUT_WR);
        }
        sbx_loop_run_once(st.loop);
        eof = drain(sv[1]);
        if (off >= size && i > 8)
            break;
    }
    close(sv[1]);
    sbx_http_server_close(srv);
    for (i = 0; i < 4; i++)
        sbx_loop_run_once(st.loop);
    sbx_timer_stop(st.tick);
    return 0;
}
