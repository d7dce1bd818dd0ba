/*
 * src/net/http_client: against a real sbx-server (unix socket and TCP) and
 * a fork()ed fake server for the failure modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/mman.h>

#include "net/http_client.h"
#include "rt_fixture.h"

static struct sbx_http_client *client_for(const char *url, const char *sock,
                                          const char *const *headers)
{
    struct sbx_http_client_opts o = {.base_url = url, .unix_path = sock, .headers = headers};
    struct sbx_err err = {0};
    struct sbx_http_client *c = sbx_http_client_new(&o, &err);

    if (!c)
        fail_msg("sbx_http_client_new: %s", err.msg);
    return c;
}

static void test_real_server_unix(void **state)
{
    struct real_srv s;
    struct sbx_http_client *c;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    struct sbx_http_req alive = {.path = "/alive", .timeout_ms = 5000};
    const char body[] = "{\"path\":\"/\"}";
    struct sbx_http_req list = {.method = "POST",
                                .path = "list_files",
                                .body = body,
                                .body_len = sizeof(body) - 1,
                                .content_type = "application/json",
                                .timeout_ms = 10000};

    (void)state;
    assert_int_equal(real_srv_start(&s, true, NULL), 0);
    assert_true(s.sock[0] != '\0');
    c = client_for(NULL, s.sock, NULL);
    sbx_http_resp_init(&r);
    /* Twice, over the same kept-alive connection. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sbx_http_request(c, &alive, &r, &err), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body.ptr, "\"ok\""));
        assert_non_null(sbx_http_resp_header(&r, "content-type"));
        assert_non_null(strstr(sbx_http_resp_header(&r, "Content-Type"), "json"));
    }
    assert_int_equal(sbx_http_request(c, &list, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.ptr[0], '[');
    assert_non_null(strstr(r.body.ptr, "\"tmp/\""));
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    real_srv_stop(&s);
}

static void test_real_server_tcp_multipart(void **state)
{
    struct real_srv s;
    struct sbx_http_client *c;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    char path[700], src[700], query[900];
    struct sbx_buf q = SBX_BUF_INIT;
    char *got;
    int fd;

    (void)state;
    assert_int_equal(real_srv_start(&s, false, NULL), 0);
    assert_true(s.port > 0);
    c = client_for(s.url, NULL, NULL);
    sbx_http_resp_init(&r);
    /* A part streamed from a descriptor range: "world" out of "hello world!". */
    snprintf(src, sizeof(src), "%s/src.txt", s.dir);
    write_text(src, "hello world!");
    fd = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    {
        struct sbx_http_part part = {.name = "file", .filename = "up.txt", .use_fd = true,
                                     .fd = fd, .fd_offset = 6, .fd_len = 5};
        struct sbx_http_req req = {.method = "POST", .parts = &part, .n_parts = 1,
                                   .timeout_ms = 30000};

        assert_int_equal(sbx_http_url_encode(&q, s.ws), 0);
        snprintf(query, sizeof(query), "/upload_file?destination=%s&recursive=false", q.ptr);
        req.path = query;
        assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
        assert_int_equal(r.status, 200);
    }
    close(fd);
    snprintf(path, sizeof(path), "%s/up.txt", s.ws);
    got = read_text(path);
    assert_non_null(got);
    assert_string_equal(got, "world");
    free(got);
    /* A 4xx/5xx is a complete response, not an error of the client. */
    {
        struct sbx_http_req req = {.path = "/download_files?path=relative", .timeout_ms = 5000};

        assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
        assert_int_equal(r.status, 500);
        assert_non_null(strstr(r.body.ptr, "absolute"));
    }
    sbx_buf_free(&q);
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    real_srv_stop(&s);
}

static void test_statuses_and_headers(void **state)
{
    static const struct fake_step steps[] = {
        {FAKE_ANSWER, 429, "{\"detail\":\"slow down\"}", 0},
        {FAKE_ANSWER, 200, "{\"ok\":true}", 0},
    };
    static const char *const defaults[] = {"X-Default: d1", NULL};
    static const char *const extra[] = {"X-Extra: e1", NULL};
    struct fake_srv f;
    struct sbx_http_client *c;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    char url[64];
    char *log;
    struct sbx_http_req req = {.path = "/x?a=1", .headers = extra, .timeout_ms = 5000};

    (void)state;
    assert_int_equal(fake_srv_start(&f, steps, 2), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f.port);
    c = client_for(url, NULL, defaults);
    sbx_http_resp_init(&r);
    assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.body.ptr, "{\"detail\":\"slow down\"}");
    assert_string_equal(sbx_http_resp_header(&r, "x-next-token"), "tok-1");
    assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.ptr, "{\"ok\":true}");
    assert_string_equal(sbx_http_resp_header(&r, "X-Next-Token"), "tok-2");
    assert_null(sbx_http_resp_header(&r, "X-Absent"));
    log = read_text(f.log);
    assert_non_null(log);
    assert_non_null(strstr(log, "GET /x?a=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(log, "\r\nX-Default: d1\r\n"));
    assert_non_null(strstr(log, "\r\nX-Extra: e1\r\n"));
    free(log);
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    fake_srv_stop(&f);
}

static int fake_client(const struct fake_step *steps, size_t n, struct fake_srv *f,
                       struct sbx_http_client **c)
{
    char url[64];

    if (fake_srv_start(f, steps, n) < 0)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
    *c = client_for(url, NULL, NULL);
    return 0;
}

static void test_dropped_mid_response(void **state)
{
    static const struct fake_step steps[] = {{FAKE_DROP, 0, NULL, 0}, {FAKE_EMPTY, 0, NULL, 0}};
    struct fake_srv f;
    struct sbx_http_client *c = NULL;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    struct sbx_http_req req = {.path = "/", .timeout_ms = 5000};

    (void)state;
    assert_int_equal(fake_client(steps, 2, &f, &c), 0);
    sbx_http_resp_init(&r);
    assert_int_equal(sbx_http_request(c, &req, &r, &err), -ECONNRESET);
    assert_int_equal(err.code, -ECONNRESET);
    assert_non_null(strstr(err.msg, "GET http://127.0.0.1:"));
    /* An empty reply is a dropped connection too. */
    assert_int_equal(sbx_http_request(c, &req, &r, &err), -ECONNRESET);
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    fake_srv_stop(&f);
}

static void test_slow_answer_times_out(void **state)
{
    static const struct fake_step steps[] = {{FAKE_SLOW, 200, "{}", 0}};
    struct fake_srv f;
    struct sbx_http_client *c = NULL;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    struct sbx_http_req req = {.path = "/", .timeout_ms = 200};

    (void)state;
    assert_int_equal(fake_client(steps, 1, &f, &c), 0);
    sbx_http_resp_init(&r);
    assert_int_equal(sbx_http_request(c, &req, &r, &err), -ETIMEDOUT);
    assert_int_equal(err.code, -ETIMEDOUT);
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    fake_srv_stop(&f);
}

static void test_refused(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    struct sbx_http_client *c;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    struct sbx_http_req req = {.path = "/alive", .timeout_ms = 5000};
    char url[64];
    int s;

    (void)state;
    /* A port that was just free: bound, never listened on, closed. */
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    c = client_for(url, NULL, NULL);
    sbx_http_resp_init(&r);
    assert_int_equal(sbx_http_request(c, &req, &r, &err), -ECONNREFUSED);
    assert_int_equal(err.code, -ECONNREFUSED);
    sbx_http_client_free(c);
    /* A unix socket that does not exist. */
    c = client_for(NULL, "/nonexistent/sbx-test.sock", NULL);
    assert_int_equal(sbx_http_request(c, &req, &r, &err), -ENOENT);
    /* The message names the socket, not curl's "localhost port 80". */
    assert_non_null(strstr(err.msg, "unix socket /nonexistent/sbx-test.sock: No such file"));
    sbx_http_client_free(c);
    sbx_http_resp_release(&r);
}

static void test_body_limit(void **state)
{
    static const struct fake_step steps[] = {{FAKE_BIG, 200, NULL, 100000},
                                             {FAKE_BIG, 200, NULL, 1000}};
    struct fake_srv f;
    struct sbx_http_client *c = NULL;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    struct sbx_http_req req = {.path = "/", .timeout_ms = 5000, .max_body_bytes = 1000};

    (void)state;
    assert_int_equal(fake_client(steps, 2, &f, &c), 0);
    sbx_http_resp_init(&r);
    assert_int_equal(sbx_http_request(c, &req, &r, &err), -E2BIG);
    assert_int_equal(err.code, -E2BIG);
    assert_non_null(strstr(err.msg, "larger than 1000 bytes"));
    /* Exactly at the limit is fine (on a new connection: the last one was
     * abandoned mid-body). */
    assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
    assert_int_equal(r.body.len, 1000);
    assert_int_equal(r.body.ptr[999], fake_pattern(999));
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    fake_srv_stop(&f);
}

/* Headers beyond the kept maximum (256 KiB) fail the request, and the
 * message says so rather than blaming the body. */
static void test_header_limit(void **state)
{
    static const struct fake_step steps[] = {{FAKE_BIG_HEADERS, 200, NULL, 280000}};
    struct fake_srv f;
    struct sbx_http_client *c = NULL;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    struct sbx_http_req req = {.path = "/", .timeout_ms = 5000};

    (void)state;
    assert_int_equal(fake_client(steps, 1, &f, &c), 0);
    sbx_http_resp_init(&r);
    assert_int_equal(sbx_http_request(c, &req, &r, &err), -E2BIG);
    assert_non_null(strstr(err.msg, "response headers larger than 262144 bytes"));
    assert_null(strstr(err.msg, "body"));
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    fake_srv_stop(&f);
}

static int count_cb(const void *p, size_t n, void *ud)
{
    size_t *total = ud;

    (void)p;
    *total += n;
    return *total > 5000 ? -ECANCELED : 0;
}

static void test_stream_to_fd_and_callback(void **state)
{
    static const struct fake_step steps[] = {
        {FAKE_BIG, 200, NULL, 300000},
        {FAKE_ANSWER, 404, "{\"detail\":\"no such thing\"}", 0},
        {FAKE_BIG, 200, NULL, 100000},
    };
    struct fake_srv f;
    struct sbx_http_client *c = NULL;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    size_t total = 0, i;
    char *buf;
    int fd;

    (void)state;
    assert_int_equal(fake_client(steps, 3, &f, &c), 0);
    sbx_http_resp_init(&r);
    fd = memfd_create("resp", MFD_CLOEXEC);
    assert_true(fd >= 0);
    {
        struct sbx_http_req req = {.path = "/", .timeout_ms = 5000, .use_resp_fd = true,
                                   .resp_fd = fd, .max_body_bytes = 10};

        /* The limit is for memory bodies: a descriptor takes everything. */
        assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body.len, 0);
        assert_int_equal(lseek(fd, 0, SEEK_END), 300000);
        buf = malloc(300000);
        assert_int_equal(pread(fd, buf, 300000, 0), 300000);
        for (i = 0; i < 300000; i++)
            if (buf[i] != fake_pattern(i))
                fail_msg("byte %zu differs", i);
        free(buf);
        /* An error answer's body goes to resp->body, not to the file. */
        assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body.ptr, "no such thing"));
        assert_int_equal(lseek(fd, 0, SEEK_END), 300000);
    }
    {
        struct sbx_http_req req = {.path = "/", .timeout_ms = 5000, .on_data = count_cb,
                                   .on_data_ud = &total};

        /* A callback's error aborts the request and is returned as is. */
        assert_int_equal(sbx_http_request(c, &req, &r, &err), -ECANCELED);
        assert_true(total > 5000);
    }
    close(fd);
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    fake_srv_stop(&f);
}

static void test_body_from_fd(void **state)
{
    static const struct fake_step steps[] = {{FAKE_ANSWER, 201, "{}", 0}};
    struct fake_srv f;
    struct sbx_http_client *c = NULL;
    struct sbx_http_resp r;
    struct sbx_err err = {0};
    char *log;
    int fd;

    (void)state;
    assert_int_equal(fake_client(steps, 1, &f, &c), 0);
    sbx_http_resp_init(&r);
    fd = memfd_create("body", MFD_CLOEXEC);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    {
        struct sbx_http_req req = {.method = "PUT", .path = "/put", .use_body_fd = true,
                                   .body_fd = fd, .body_fd_offset = 2, .body_fd_len = 5,
                                   .content_type = "text/plain", .timeout_ms = 5000};

        assert_int_equal(sbx_http_request(c, &req, &r, &err), 0);
        assert_int_equal(r.status, 201);
    }
    log = read_text(f.log);
    assert_non_null(log);
    assert_non_null(strstr(log, "PUT /put HTTP/1.1\r\n"));
    assert_non_null(strstr(log, "Content-Length: 5\r\n"));
    assert_non_null(strstr(log, "Content-Type: text/plain\r\n"));
    assert_non_null(strstr(log, "\r\n\r\n23456\n--\n"));
    free(log);
    close(fd);
    sbx_http_resp_release(&r);
    sbx_http_client_free(c);
    fake_srv_stop(&f);
}

static void test_url_encode_and_bad_args(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    struct sbx_http_client_opts o = {.base_url = "ftp://x"};
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(sbx_http_url_encode(&b, "/a b/c&d=e~f_g.h-\xc3\xa9"), 0);
    assert_string_equal(b.ptr, "%2Fa%20b%2Fc%26d%3De~f_g.h-%C3%A9");
    sbx_buf_free(&b);
    assert_null(sbx_http_client_new(&o, &err));
    assert_int_equal(err.code, -EINVAL);
    o.base_url = NULL;
    assert_null(sbx_http_client_new(&o, &err));
    assert_int_equal(err.code, -EINVAL);
    sbx_http_client_free(NULL);
    sbx_http_resp_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_server_unix),
        cmocka_unit_test(test_real_server_tcp_multipart),
        cmocka_unit_test(test_statuses_and_headers),
        cmocka_unit_test(test_dropped_mid_response),
        cmocka_unit_test(test_slow_answer_times_out),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_stream_to_fd_and_callback),
        cmocka_unit_test(test_body_from_fd),
        cmocka_unit_test(test_url_encode_and_bad_args),
    };

    int fds, rc;

    signal(SIGPIPE, SIG_IGN);
    fds = count_fds();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* Nothing the tests opened stays open (house rule 23). */
    if (count_fds() != fds) {
        fprintf(stderr, "descriptors leaked: %d before, %d after\n", fds, count_fds());
        return 1;
    }
    return rc;
}
