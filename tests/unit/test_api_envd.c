/* Tests for envd of `sbx serve e2b` (src/api/e2b/envd_*.c) over a real
 * local sandbox: the face runs on a loop thread, the tests speak raw HTTP to
 * it (Connect envelopes built by hand) with routing headers, as the SDK
 * does. The control plane is not needed: the sandbox record is inserted
 * into the face's table directly. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/e2b/envd.h"
#include "base/base64.h"
#include "base/buf.h"
#include "json/json.h"
#include "net/loop.h"

#define SID "envdtest000000000001"
#define SID2 "envdtest000000000002"

static struct {
    char state_dir[64];
    struct sbx_loop *loop;
    struct sbx_e2b_face *face;
    struct sbx_async *stop;
    struct sbx_async *drop;
    pthread_t thread;
    int port;
    char *backend_id;
    int left_fd; /* a stream left open for the face's release */
} g;

/* ---- raw HTTP ------------------------------------------------------------ */

struct resp {
    int status;
    char head[4096];
    struct sbx_buf body; /* de-chunked */
};

static int connect_face(void)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int send_req_to(const char *sid, const char *method, const char *path,
                       const char *headers, const void *body, size_t len)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int fd = connect_face();

    assert_int_equal(sbx_buf_addf(&b,
                                  "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                  "E2b-Sandbox-Id: %s\r\nE2b-Sandbox-Port: 49983\r\n"
                                  "Content-Length: %zu\r\n%s\r\n",
                                  method, path, sid, len, headers ? headers : ""),
                     0);
    assert_int_equal(sbx_buf_add(&b, body, len), 0);
    assert_int_equal(write(fd, b.ptr, b.len), (ssize_t)b.len);
    sbx_buf_free(&b);
    return fd;
}

static int send_req(const char *method, const char *path, const char *headers, const void *body,
                    size_t len)
{
    return send_req_to(SID, method, path, headers, body, len);
}

static void finish_resp(int fd, struct sbx_buf *raw, struct resp *r)
{
    char buf[65536];
    ssize_t n;
    char *hend, *p, *end;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        assert_int_equal(sbx_buf_add(raw, buf, (size_t)n), 0);
    close(fd);
    assert_int_equal(sbx_buf_addch(raw, '\0'), 0);
    hend = strstr(raw->ptr, "\r\n\r\n");
    assert_non_null(hend);
    memset(r, 0, sizeof(*r));
    snprintf(r->head, sizeof(r->head), "%.*s", (int)(hend - raw->ptr), raw->ptr);
    r->status = atoi(raw->ptr + 9);
    sbx_buf_init(&r->body, 0);
    p = hend + 4;
    end = raw->ptr + raw->len - 1;
    if (strcasestr(r->head, "Transfer-Encoding: chunked")) {
        while (p < end) {
            size_t cl = strtoul(p, &p, 16);

            p = strstr(p, "\r\n") + 2;
            if (cl == 0)
                break;
            assert_int_equal(sbx_buf_add(&r->body, p, cl), 0);
            p += cl + 2;
        }
    } else {
        assert_int_equal(sbx_buf_add(&r->body, p, (size_t)(end - p)), 0);
    }
    assert_int_equal(sbx_buf_addch(&r->body, '\0'), 0);
    r->body.len--;
    sbx_buf_free(raw);
}

static void http(const char *method, const char *path, const char *headers, const void *body,
                 size_t len, struct resp *r)
{
    struct sbx_buf raw = SBX_BUF_INIT;

    finish_resp(send_req(method, path, headers, body, len), &raw, r);
}

static void rpc(const char *method, const char *json, const char *extra, struct resp *r)
{
    char h[512];

    snprintf(h, sizeof(h), "Content-Type: application/json\r\nX-Access-Token: tok\r\n%s",
             extra ? extra : "");
    http("POST", method, h, json, strlen(json), r);
}

/* Builds one envelope around json. */
static void envelope(struct sbx_buf *b, const char *json)
{
    uint32_t n = (uint32_t)strlen(json);
    unsigned char h[5] = {0, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};

    sbx_buf_init(b, 0);
    assert_int_equal(sbx_buf_add(b, h, 5), 0);
    assert_int_equal(sbx_buf_addstr(b, json), 0);
}

static int stream_open(const char *method, const char *json, const char *extra)
{
    struct sbx_buf b;
    char h[512];
    int fd;

    envelope(&b, json);
    snprintf(h, sizeof(h), "Content-Type: application/connect+json\r\nX-Access-Token: tok\r\n%s",
             extra ? extra : "");
    fd = send_req("POST", method, h, b.ptr, b.len);
    sbx_buf_free(&b);
    return fd;
}

static int stream_open2(const char *sid, const char *method, const char *json)
{
    struct sbx_buf b;
    int fd;

    envelope(&b, json);
    fd = send_req_to(sid, "POST", method, "Content-Type: application/connect+json\r\n", b.ptr,
                     b.len);
    sbx_buf_free(&b);
    return fd;
}

/* The frames of a stream body, joined as "flags:json\n". */
static void frames(const struct resp *r, struct sbx_buf *out)
{
    size_t off = 0;

    sbx_buf_init(out, 0);
    while (off + 5 <= r->body.len) {
        const unsigned char *p = (const unsigned char *)r->body.ptr + off;
        uint32_t n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];

        assert_true(off + 5 + n <= r->body.len);
        assert_int_equal(sbx_buf_addf(out, "%u:%.*s\n", p[0], (int)n, (const char *)p + 5), 0);
        off += 5 + n;
    }
    assert_int_equal(off, r->body.len);
    assert_int_equal(sbx_buf_addch(out, '\0'), 0);
}

static void start_and_collect(const char *json, const char *extra, struct sbx_buf *fr)
{
    struct sbx_buf raw = SBX_BUF_INIT;
    struct resp r;

    finish_resp(stream_open("/process.Process/Start", json, extra), &raw, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.head, "Content-Type: application/connect+json"));
    frames(&r, fr);
    sbx_buf_free(&r.body);
}

/* Reads from a streaming answer until the start frame; returns its pid. */
static unsigned read_until_pid(int fd, struct sbx_buf *raw)
{
    char buf[4096];
    const char *s;

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        assert_true(n > 0);
        assert_int_equal(sbx_buf_add(raw, buf, (size_t)n), 0);
        assert_int_equal(sbx_buf_addch(raw, '\0'), 0);
        raw->len--;
        /* the envelopes' headers hold NUL bytes */
        s = memmem(raw->ptr, raw->len, "{\"event\":{\"start\":{\"pid\":", 25);
        if (s && strchr(s, '}'))
            return (unsigned)strtoul(s + 25, NULL, 10);
    }
}

/* ---- the face on its own thread ------------------------------------------ */

static void on_stop(struct sbx_async *a, void *ud)
{
    (void)a;
    (void)ud;
    sbx_loop_stop(g.loop);
}

static void on_drop(struct sbx_async *a, void *ud)
{
    struct sbx_e2b_sbx *s = sbx__e2b_find(g.face, SID2);

    (void)a;
    (void)ud;
    if (s)
        sbx__e2b_drop(g.face, s);
}

static void *loop_main(void *ud)
{
    (void)ud;
    sbx_loop_run(g.loop);
    return NULL;
}

static int setup(void **state)
{
    struct sbx_e2b_face_opts o;
    struct sbx_err err = {0};
    struct sbx_provider *p;
    struct sbx_sandbox_info info;
    struct sbx_sandbox_spec spec;
    struct sbx_e2b_sbx *s;
    const char *mk[] = {"mkdir", "-p", "/home/user", NULL};
    const char *vars = "{\"SBX_FACE_VAR\":\"from-create\"}";
    struct sbx_exec_req xr;
    struct sbx_exec_result xres;

    (void)state;
    g.left_fd = -1;
    /* as `sbx serve` does: a client gone mid-write is an EPIPE, not a death */
    signal(SIGPIPE, SIG_IGN);
    snprintf(g.state_dir, sizeof(g.state_dir), "/tmp/sbx-envd-test-XXXXXX");
    assert_non_null(mkdtemp(g.state_dir));
    setenv("SBX_STATE_DIR", g.state_dir, 1);
    /* the face's worker opens its own providers: point them at this build's server */
    setenv("SBX_SERVER_BIN", SBX_TEST_SERVER_BIN, 0);
    p = sbx_provider_open("local", NULL, &err);
    assert_non_null(p);
    memset(&spec, 0, sizeof(spec));
    memset(&info, 0, sizeof(info));
    if (sbx_provider_create(p, &spec, &info, &err) < 0)
        fail_msg("create: %s", err.msg);
    g.backend_id = strdup(info.id);
    sbx_sandbox_info_free(&info);
    memset(&xr, 0, sizeof(xr));
    memset(&xres, 0, sizeof(xres));
    xr.argv = mk;
    xr.stdin_fd = xr.stdout_fd = xr.stderr_fd = -1;
    assert_int_equal(sbx_provider_exec(p, g.backend_id, &xr, &xres, &err), 0);
    sbx_exec_result_release(&xres);
    sbx_provider_close(p);
    g.loop = sbx_loop_new(&err);
    assert_non_null(g.loop);
    memset(&o, 0, sizeof(o));
    g.face = sbx_e2b_face_new(g.loop, &o, &err);
    if (!g.face)
        fail_msg("face: %s", err.msg);
    g.port = sbx_e2b_face_port(g.face);
    s = calloc(1, sizeof(*s));
    assert_non_null(s);
    snprintf(s->id, sizeof(s->id), "%s", SID);
    s->backend_id = strdup(g.backend_id);
    s->template_id = strdup("base");
    s->access_token = strdup("tok");
    s->metadata = sbx_json_object_new();
    s->env_vars = sbx_json_parse(vars, strlen(vars), &err);
    assert_non_null(s->env_vars);
    s->state = SBX_E2B_RUNNING;
    sbx__e2b_add(g.face, s);
    g.stop = sbx_async_new(g.loop, on_stop, NULL, &err);
    assert_non_null(g.stop);
    g.drop = sbx_async_new(g.loop, on_drop, NULL, &err);
    assert_non_null(g.drop);
    /* a second record for the same backend sandbox, dropped by a test */
    s = calloc(1, sizeof(*s));
    assert_non_null(s);
    snprintf(s->id, sizeof(s->id), "%s", SID2);
    s->backend_id = strdup(g.backend_id);
    s->metadata = sbx_json_object_new();
    s->env_vars = sbx_json_object_new();
    s->state = SBX_E2B_RUNNING;
    sbx__e2b_add(g.face, s);
    assert_int_equal(pthread_create(&g.thread, NULL, loop_main, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    struct sbx_err err = {0};
    struct sbx_provider *p;
    char cmd[128];

    (void)state;
    if (!g.stop)
        return 0; /* setup failed before the loop thread started */
    sbx_async_send(g.stop);
    pthread_join(g.thread, NULL);
    sbx_async_close(g.stop);
    sbx_async_close(g.drop);
    /* a command may still run: released with the face */
    sbx_e2b_face_free(g.face);
    if (g.left_fd >= 0)
        close(g.left_fd);
    sbx_loop_free(g.loop);
    p = sbx_provider_open("local", NULL, &err);
    if (p) {
        sbx_provider_remove(p, g.backend_id, &err);
        sbx_provider_close(p);
    }
    free(g.backend_id);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g.state_dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_health_and_auth(void **state)
{
    struct resp r;

    (void)state;
    http("GET", "/health", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    sbx_buf_free(&r.body);
    /* no token: envd's middleware answers before Connect */
    http("POST", "/process.Process/List", "Content-Type: application/json\r\n", "{}", 2, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body.ptr, "\"code\":401"));
    assert_non_null(strstr(r.body.ptr, "please provide a valid access token"));
    sbx_buf_free(&r.body);
    http("GET", "/files?path=x", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body.ptr, "missing signature query parameter"));
    sbx_buf_free(&r.body);
    http("GET", "/files?path=x", "X-Access-Token: nope\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body.ptr, "access token present in header but does not match"));
    sbx_buf_free(&r.body);
    /* a user envd does not know */
    rpc("/process.Process/List", "{}", "Authorization: Basic Ym9iOg==\r\n", &r); /* bob: */
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body.ptr, "\"code\":\"unauthenticated\""));
    assert_non_null(strstr(r.body.ptr, "invalid username: 'bob'"));
    sbx_buf_free(&r.body);
    rpc("/process.Process/List", "{}", "Authorization: Basic cm9vdDo=\r\n", &r); /* root: */
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
}

static void test_bad_requests(void **state)
{
    struct resp r;
    struct sbx_buf fr;

    (void)state;
    http("POST", "/filesystem.Filesystem/Stat", "Content-Type: text/plain\r\nX-Access-Token: tok\r\n",
         "{}", 2, &r);
    assert_int_equal(r.status, 415);
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Stat", "{\"path\":1}", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.ptr, "\"code\":\"invalid_argument\""));
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Stat", "{\"bogus\":\"x\"}", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.ptr, "unknown field \\\"bogus\\\""));
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Stat", "{not json", NULL, &r);
    assert_int_equal(r.status, 400);
    sbx_buf_free(&r.body);
    /* WatchDir streams: a unary content type is connect-go's 415 */
    rpc("/filesystem.Filesystem/WatchDir", "{}", NULL, &r);
    assert_int_equal(r.status, 415);
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/GetWatcherEvents", "{\"watcherId\":\"wx\"}", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body.ptr, "watcher with id wx not found"));
    sbx_buf_free(&r.body);
    rpc("/process.Process/Nope", "{}", NULL, &r);
    assert_int_equal(r.status, 404);
    sbx_buf_free(&r.body);
    /* a stream request that is not one envelope */
    http("POST", "/process.Process/Start",
         "Content-Type: application/connect+json\r\nX-Access-Token: tok\r\n", "{}", 2, &r);
    assert_int_equal(r.status, 200);
    frames(&r, &fr);
    assert_non_null(strstr(fr.ptr, "2:{\"error\":{\"code\":\"invalid_argument\""));
    sbx_buf_free(&fr);
    sbx_buf_free(&r.body);
    rpc("/process.Process/SendSignal", "{\"process\":{\"pid\":4000000},\"signal\":\"SIGNAL_SIGKILL\"}",
        NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body.ptr, "process with pid 4000000 not found"));
    sbx_buf_free(&r.body);
}

static void test_start_output_and_exit(void **state)
{
    struct sbx_buf fr;

    (void)state;
    start_and_collect("{\"process\":{\"cmd\":\"/bin/sh\",\"args\":[\"-c\",\"echo hi; echo oops >&2; "
                      "echo $SBX_FACE_VAR $MINE; pwd; exit 3\"],\"envs\":{\"MINE\":\"req\"}},"
                      "\"stdin\":false}",
                      NULL, &fr);
    assert_non_null(strstr(fr.ptr, "0:{\"event\":{\"start\":{\"pid\":"));
    assert_non_null(strstr(fr.ptr, "{\"stderr\":\"b29wcwo=\"}")); /* oops\n */
    assert_non_null(strstr(fr.ptr, "0:{\"event\":{\"end\":{\"exitCode\":3,\"exited\":true,"
                                   "\"status\":\"exit status 3\",\"error\":\"exit status 3\"}}}\n"
                                   "2:{}\n"));
    /* stdout: hi, the sandbox's env then the request's, the default cwd */
    {
        struct sbx_buf all = SBX_BUF_INIT;
        const char *p = fr.ptr;

        while ((p = strstr(p, "{\"stdout\":\""))) {
            struct sbx_buf dec = SBX_BUF_INIT;
            const char *q = strchr(p + 11, '"');

            assert_int_equal(sbx__envd_b64decode(p + 11, (size_t)(q - p - 11), &dec), 0);
            sbx_buf_add(&all, dec.ptr, dec.len);
            sbx_buf_free(&dec);
            p = q;
        }
        sbx_buf_addch(&all, '\0');
        assert_string_equal(all.ptr, "hi\nfrom-create req\n/home/user\n");
        sbx_buf_free(&all);
    }
    sbx_buf_free(&fr);
    /* exit 0: exitCode and error omitted */
    start_and_collect("{\"process\":{\"cmd\":\"true\",\"cwd\":\"/tmp\"}}", NULL, &fr);
    assert_non_null(strstr(fr.ptr, "{\"end\":{\"exited\":true,\"status\":\"exit status 0\"}}}"));
    sbx_buf_free(&fr);
    /* a cwd that does not exist */
    start_and_collect("{\"process\":{\"cmd\":\"true\",\"cwd\":\"nope/dir\"}}", NULL, &fr);
    assert_non_null(strstr(fr.ptr, "2:{\"error\":{\"code\":\"invalid_argument\","
                                   "\"message\":\"cwd '/home/user/nope/dir' does not exist\"}}"));
    assert_null(strstr(fr.ptr, "\"start\""));
    sbx_buf_free(&fr);
}

static void test_timeout_and_keepalive(void **state)
{
    struct sbx_buf fr;

    (void)state;
    start_and_collect("{\"process\":{\"cmd\":\"sleep\",\"args\":[\"3\"]}}",
                      "Keepalive-Ping-Interval: 1\r\n", &fr);
    assert_non_null(strstr(fr.ptr, "0:{\"event\":{\"keepalive\":{}}}"));
    assert_non_null(strstr(fr.ptr, "\"status\":\"exit status 0\""));
    sbx_buf_free(&fr);
    start_and_collect("{\"process\":{\"cmd\":\"sleep\",\"args\":[\"30\"]}}",
                      "Connect-Timeout-Ms: 500\r\n", &fr);
    assert_non_null(strstr(fr.ptr, "\"start\""));
    assert_non_null(strstr(fr.ptr, "2:{\"error\":{\"code\":\"deadline_exceeded\","
                                   "\"message\":\"context deadline exceeded\"}}"));
    sbx_buf_free(&fr);
}

static void test_stdin_list_signal(void **state)
{
    struct sbx_buf raw = SBX_BUF_INIT, fr;
    struct resp r, sr;
    char json[256];
    unsigned pid, pid2;
    int fd, fd2;

    (void)state;
    fd = stream_open("/process.Process/Start",
                     "{\"process\":{\"cmd\":\"head\",\"args\":[\"-c\",\"5\"]},\"stdin\":true,"
                     "\"tag\":\"reader\"}",
                     NULL);
    pid = read_until_pid(fd, &raw);
    assert_true(pid > 0);
    rpc("/process.Process/List", "{}", NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(json, sizeof(json), "{\"config\":{\"cmd\":\"head\",\"args\":[\"-c\",\"5\"]},\"pid\":%u,"
                                 "\"tag\":\"reader\"}", pid);
    assert_non_null(strstr(r.body.ptr, json));
    sbx_buf_free(&r.body);
    /* by tag, then the bytes through SendInput: "hello" */
    rpc("/process.Process/SendInput",
        "{\"process\":{\"tag\":\"reader\"},\"input\":{\"stdin\":\"aGVs\"}}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.ptr, "{}");
    sbx_buf_free(&r.body);
    snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"input\":{\"stdin\":\"bG8=\"}}", pid);
    rpc("/process.Process/SendInput", json, NULL, &r);
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
    finish_resp(fd, &raw, &sr);
    frames(&sr, &fr);
    assert_non_null(strstr(fr.ptr, "{\"stdout\":\"aGVsbG8=\"}"));
    assert_non_null(strstr(fr.ptr, "\"status\":\"exit status 0\""));
    sbx_buf_free(&fr);
    sbx_buf_free(&sr.body);
    /* SIGKILL ends a sleep; a Connect stream attached to it sees the end */
    sbx_buf_init(&raw, 0);
    fd = stream_open("/process.Process/Start", "{\"process\":{\"cmd\":\"sleep\",\"args\":[\"60\"]}}",
                     NULL);
    pid = read_until_pid(fd, &raw);
    /* the client goes away: the process goes on */
    close(fd);
    sbx_buf_free(&raw);
    snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u}}", pid);
    fd2 = stream_open("/process.Process/Connect", json, NULL);
    sbx_buf_init(&raw, 0);
    pid2 = read_until_pid(fd2, &raw);
    assert_int_equal(pid2, pid);
    snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"signal\":\"SIGNAL_SIGKILL\"}", pid);
    rpc("/process.Process/SendSignal", json, NULL, &r);
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
    finish_resp(fd2, &raw, &sr);
    frames(&sr, &fr);
    assert_non_null(strstr(fr.ptr, "{\"end\":{\"exitCode\":-1,\"status\":\"signal: killed\","
                                   "\"error\":\"signal: killed\"}}"));
    sbx_buf_free(&fr);
    sbx_buf_free(&sr.body);
    /* SIGTERM goes through `kill` in the sandbox */
    sbx_buf_init(&raw, 0);
    fd = stream_open("/process.Process/Start", "{\"process\":{\"cmd\":\"sleep\",\"args\":[\"60\"]}}",
                     NULL);
    pid = read_until_pid(fd, &raw);
    snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"signal\":\"SIGNAL_SIGTERM\"}", pid);
    rpc("/process.Process/SendSignal", json, NULL, &r);
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
    finish_resp(fd, &raw, &sr);
    frames(&sr, &fr);
    assert_non_null(strstr(fr.ptr, "\"status\":\"signal: terminated\""));
    sbx_buf_free(&fr);
    sbx_buf_free(&sr.body);
    /* left running for teardown: the face's release ends it */
    sbx_buf_init(&raw, 0);
    g.left_fd = stream_open("/process.Process/Start",
                            "{\"process\":{\"cmd\":\"sleep\",\"args\":[\"300\"]}}", NULL);
    assert_true(read_until_pid(g.left_fd, &raw) > 0);
    sbx_buf_free(&raw);
}

/* A command on a terminal: pty output, input through SendInput's pty,
 * resize through Update, stdin refused. */
static void test_pty(void **state)
{
    struct sbx_buf raw = SBX_BUF_INIT, fr, all = SBX_BUF_INIT;
    struct resp r, sr;
    char json[256];
    const char *p;
    unsigned pid;
    int fd;

    (void)state;
    fd = stream_open("/process.Process/Start",
                     "{\"process\":{\"cmd\":\"/bin/sh\",\"args\":[\"-c\",\"read x; echo got $x; "
                     "stty size; tty -s && echo isatty\"]},\"pty\":{\"size\":{\"cols\":80,"
                     "\"rows\":24}}}",
                     NULL);
    pid = read_until_pid(fd, &raw);
    snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"pty\":{\"size\":{\"cols\":100,"
                                 "\"rows\":30}}}", pid);
    rpc("/process.Process/Update", json, NULL, &r);
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
    snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"input\":{\"stdin\":\"eA==\"}}", pid);
    rpc("/process.Process/SendInput", json, NULL, &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body.ptr, "tty assigned to process"));
    sbx_buf_free(&r.body);
    snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"input\":{\"pty\":\"aGkK\"}}", pid);
    rpc("/process.Process/SendInput", json, NULL, &r); /* hi\n */
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
    finish_resp(fd, &raw, &sr);
    frames(&sr, &fr);
    assert_null(strstr(fr.ptr, "\"stdout\""));
    for (p = fr.ptr; (p = strstr(p, "{\"pty\":\"")); ) {
        const char *q = strchr(p + 8, '"');

        assert_int_equal(sbx__envd_b64decode(p + 8, (size_t)(q - p - 8), &all), 0);
        p = q;
    }
    sbx_buf_addch(&all, '\0');
    assert_non_null(strstr(all.ptr, "got hi\r\n"));
    assert_non_null(strstr(all.ptr, "30 100\r\n"));
    assert_non_null(strstr(all.ptr, "isatty"));
    assert_non_null(strstr(fr.ptr, "\"status\":\"exit status 0\""));
    sbx_buf_free(&all);
    sbx_buf_free(&fr);
    sbx_buf_free(&sr.body);
}

/* A sandbox dropped (killed or paused) while a command runs: its streams
 * end with an error, the command is canceled, the exec job's late done
 * callback finds its state detached. */
static void test_release_while_running(void **state)
{
    struct sbx_buf raw = SBX_BUF_INIT, fr;
    struct resp r;
    int fd;

    (void)state;
    fd = stream_open2(SID2, "/process.Process/Start",
                      "{\"process\":{\"cmd\":\"sleep\",\"args\":[\"300\"]}}");
    assert_true(read_until_pid(fd, &raw) > 0);
    assert_int_equal(sbx_async_send(g.drop), 0);
    finish_resp(fd, &raw, &r);
    frames(&r, &fr);
    assert_non_null(strstr(fr.ptr, "2:{\"error\":{\"code\":\"unavailable\",\"message\":"
                                   "\"the sandbox was killed\"}}"));
    sbx_buf_free(&fr);
    sbx_buf_free(&r.body);
}

static void test_filesystem(void **state)
{
    struct resp r;

    (void)state;
    rpc("/filesystem.Filesystem/Remove", "{\"path\":\"fsdir\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/MakeDir", "{\"path\":\"fsdir/sub\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.ptr, "{\"entry\":{\"name\":\"sub\",\"type\":\"FILE_TYPE_DIRECTORY\","
                                    "\"path\":\"/home/user/fsdir/sub\"}}");
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/MakeDir", "{\"path\":\"/home/user/fsdir/sub\"}", NULL, &r);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(r.body.ptr, "directory already exists: /home/user/fsdir/sub"));
    sbx_buf_free(&r.body);
    http("POST", "/files?path=fsdir/a.txt",
         "Content-Type: application/octet-stream\r\nX-Access-Token: tok\r\n", "hello", 5, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.ptr,
                        "[{\"path\":\"/home/user/fsdir/a.txt\",\"name\":\"a.txt\",\"type\":\"file\"}]");
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Stat", "{\"path\":\"~/fsdir/a.txt\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.ptr, "{\"entry\":{\"name\":\"a.txt\",\"type\":\"FILE_TYPE_FILE\","
                                       "\"path\":\"/home/user/fsdir/a.txt\",\"size\":\"5\","
                                       "\"mode\":420,\"permissions\":\"-rw-r--r--\""));
    assert_non_null(strstr(r.body.ptr, "\"modifiedTime\":\""));
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/ListDir", "{\"path\":\"fsdir\",\"depth\":2}", NULL, &r);
    assert_int_equal(r.status, 200);
    {
        const char *a = strstr(r.body.ptr, "\"path\":\"/home/user/fsdir/a.txt\"");
        const char *s = strstr(r.body.ptr, "\"path\":\"/home/user/fsdir/sub\"");

        assert_non_null(a);
        assert_non_null(s);
        assert_true(a < s);
        assert_non_null(strstr(r.body.ptr, "\"permissions\":\"drwxr-xr-x\""));
    }
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Move",
        "{\"source\":\"fsdir/a.txt\",\"destination\":\"fsdir/new/b.txt\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.ptr, "\"path\":\"/home/user/fsdir/new/b.txt\""));
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Move", "{\"source\":\"fsdir/a.txt\",\"destination\":\"x\"}", NULL,
        &r);
    assert_int_equal(r.status, 404);
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Stat", "{\"path\":\"/nope/at/all\"}", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body.ptr, "file not found"));
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/ListDir", "{\"path\":\"fsdir/new/b.txt\"}", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.ptr, "path is not a directory"));
    sbx_buf_free(&r.body);
    http("GET", "/files?path=fsdir/new/b.txt", "X-Access-Token: tok\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.ptr, "hello");
    sbx_buf_free(&r.body);
    http("GET", "/files?path=fsdir", "X-Access-Token: tok\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.ptr, "path '/home/user/fsdir' is a directory"));
    sbx_buf_free(&r.body);
    http("GET", "/files?path=fsdir/none", "X-Access-Token: tok\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body.ptr, "path '/home/user/fsdir/none' does not exist"));
    sbx_buf_free(&r.body);
    {
        static const char mp[] = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                                 "filename=\"fsdir/m1.txt\"\r\n\r\none\r\n--XyZ\r\n"
                                 "Content-Disposition: form-data; name=\"file\"; "
                                 "filename=\"/home/user/fsdir/m2.txt\"\r\n\r\ntwo!\r\n--XyZ--\r\n";

        http("POST", "/files",
             "Content-Type: multipart/form-data; boundary=XyZ\r\nX-Access-Token: tok\r\n", mp,
             sizeof(mp) - 1, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body.ptr,
                            "[{\"path\":\"/home/user/fsdir/m1.txt\",\"name\":\"m1.txt\",\"type\":"
                            "\"file\"},{\"path\":\"/home/user/fsdir/m2.txt\",\"name\":\"m2.txt\","
                            "\"type\":\"file\"}]");
        sbx_buf_free(&r.body);
        http("GET", "/files?path=/home/user/fsdir/m2.txt&username=root", "X-Access-Token: tok\r\n",
             NULL, 0, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body.ptr, "two!");
        sbx_buf_free(&r.body);
    }
    http("GET", "/files?path=x&username=bob", "X-Access-Token: tok\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 401);
    sbx_buf_free(&r.body);
    rpc("/filesystem.Filesystem/Remove", "{\"path\":\"fsdir\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    sbx_buf_free(&r.body);
}

static void test_resolve_and_listing(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", "/home/user"},       {"~", "/home/user"},        {"~/a/../b", "/home/user/b"},
        {"a//b/./c", "/home/user/a/b/c"}, {"/x/../../y", "/y"}, {"/", "/"},
        {"../..", "/"},           {"~x", "/home/user/~x"},
    };
    static const char listing[] =
        "f\0f\0005\0" "644\0root\0root\0001700000000.5000000000\0a-b\0./a-b\0"
        "d\0d\0004096\0" "755\0root\0root\0001700000000.0000000000\0a\0./a\0"
        "l\0f\0003\0" "777\0root\0root\0001700000000.1234567890\0ln\0./a/ln\0"
        "@@LINKS@@\0./a/ln\0/home/user/a-b\0" "644\0";
    struct sbx__envd_entry *e;
    struct sbx_json *j;
    struct sbx_buf b = SBX_BUF_INIT;
    char perm[16], ts[40];
    size_t i;
    int n;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sbx_buf_reset(&b);
        assert_int_equal(sbx__envd_resolve("/home/user", cases[i].in, strlen(cases[i].in), &b), 0);
        assert_string_equal(b.ptr, cases[i].want);
    }
    sbx_buf_free(&b);
    n = sbx__envd_parse_listing(listing, sizeof(listing) - 1, &e);
    assert_int_equal(n, 3);
    /* WalkDir's order: a, a/ln, a-b */
    assert_string_equal(e[0].path, "./a");
    assert_string_equal(e[1].path, "./a/ln");
    assert_string_equal(e[2].path, "./a-b");
    j = sbx__envd_entry_json(&e[1]);
    assert_int_equal(sbx_json_dump(j, &b), 0);
    assert_string_equal(b.ptr, "{\"name\":\"ln\",\"type\":\"FILE_TYPE_FILE\",\"path\":\"./a/ln\","
                               "\"size\":\"3\",\"mode\":420,\"permissions\":\"Lrwxrwxrwx\","
                               "\"owner\":\"root\",\"group\":\"root\",\"modifiedTime\":"
                               "\"2023-11-14T22:13:20.123456789Z\",\"symlinkTarget\":"
                               "\"/home/user/a-b\"}");
    sbx_buf_free(&b);
    sbx_json_free(j);
    sbx__envd_entries_free(e, (size_t)n);
    assert_int_equal(sbx__envd_parse_listing("f\0f\0", 4, &e), -EPROTO);
    sbx__envd_perm_string('f', 04755, perm);
    assert_string_equal(perm, "urwxr-xr-x");
    sbx__envd_perm_string('d', 01777, perm);
    assert_string_equal(perm, "dtrwxrwxrwx");
    sbx__envd_perm_string('c', 0666, perm);
    assert_string_equal(perm, "Dcrw-rw-rw-");
    sbx__envd_rfc3339(0, 500000000, ts);
    assert_string_equal(ts, "1970-01-01T00:00:00.500Z");
}

/* envd_files_auth.c: signatures as the SDK's getSignature makes them
 * (python3: base64.b64encode(hashlib.sha256(raw).digest()).rstrip(b"=")),
 * and the codings of encoding.go. */
static void test_files_signature_and_codings(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int64_t exp = 1700000000;

    (void)state;
    assert_int_equal(sbx__envd_signature("/home/user/a.txt", "read", "", "tok", NULL, &b), 0);
    /* sha256("/home/user/a.txt:read::tok") */
    assert_string_equal(b.ptr, "v1_Zkbb3914oLJLvMBzCAHQhm2ydBLxbSx2eQUR/kLdvIY");
    sbx_buf_reset(&b);
    assert_int_equal(sbx__envd_signature("a b", "write", "user", "tok", &exp, &b), 0);
    /* sha256("a b:write:user:tok:1700000000") */
    assert_string_equal(b.ptr, "v1_+oD5QACiLRh7x3FS0226jQ/gtJIWrYDqpQT7QueVuqc");
    assert_null(strchr(b.ptr, '='));
    sbx_buf_free(&b);

    assert_int_equal(sbx__envd_content_gzip(NULL), 0);
    assert_int_equal(sbx__envd_content_gzip(""), 0);
    assert_int_equal(sbx__envd_content_gzip(" Identity "), 0);
    assert_int_equal(sbx__envd_content_gzip("GZIP"), 1);
    assert_int_equal(sbx__envd_content_gzip("gzip; q=1"), 1);
    assert_int_equal(sbx__envd_content_gzip("br"), -1);
    assert_int_equal(sbx__envd_content_gzip("gzip, br"), -1);

    assert_int_equal(sbx__envd_accept_gzip(NULL), 0);
    assert_int_equal(sbx__envd_accept_gzip("gzip"), 1);
    assert_int_equal(sbx__envd_accept_gzip("gzip, deflate, br"), 1);
    assert_int_equal(sbx__envd_accept_gzip("identity, gzip"), 0);
    assert_int_equal(sbx__envd_accept_gzip("identity;q=0.5, gzip;q=0.9"), 1);
    assert_int_equal(sbx__envd_accept_gzip("gzip;q=0"), 0);
    assert_int_equal(sbx__envd_accept_gzip("gzip;q=x"), 1); /* unparsable q: 1 */
    assert_int_equal(sbx__envd_accept_gzip("*"), 0);
    assert_int_equal(sbx__envd_accept_gzip("*, identity;q=0"), 1);
    assert_int_equal(sbx__envd_accept_gzip("br, identity;q=0"), -1);
    assert_int_equal(sbx__envd_accept_gzip("identity;q=0"), -1);
    assert_int_equal(sbx__envd_accept_gzip(" ,, ;q=1"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_and_listing),
        cmocka_unit_test(test_health_and_auth),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_start_output_and_exit),
        cmocka_unit_test(test_timeout_and_keepalive),
        cmocka_unit_test(test_stdin_list_signal),
        cmocka_unit_test(test_filesystem),
        cmocka_unit_test(test_pty),
        cmocka_unit_test(test_release_while_running),
        cmocka_unit_test(test_files_signature_and_codings),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
