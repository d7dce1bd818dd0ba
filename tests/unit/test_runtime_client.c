/*
 * src/runtime/client.c and transfer.c: sbx_runtime_connect to a real
 * sbx-server (unix socket and TCP) and to a fake server for the retry and
 * error rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "archive/zip.h"
#include "runtime/internal.h"
#include "rt_fixture.h"

struct fx {
    struct real_srv srv;
    struct sbx_runtime *rt;
};

static struct sbx_runtime *connect_ep(const char *url, const char *sock, const char *key)
{
    struct sbx_endpoint ep = {
        .url = (char *)url, .unix_path = (char *)sock, .api_key = (char *)key};
    struct sbx_err err = {0};
    struct sbx_runtime *rt = sbx_runtime_connect(&ep, &err);

    if (!rt)
        fail_msg("sbx_runtime_connect: %s", err.msg);
    /* Tests wait milliseconds, not the upstream's seconds, between retries. */
    rt->retry_base_ms = 1;
    return rt;
}

static int up(void **state, bool on_unix)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f || real_srv_start(&f->srv, on_unix, NULL) < 0)
        return -1;
    f->rt = on_unix ? connect_ep(NULL, f->srv.sock, NULL) : connect_ep(f->srv.url, NULL, NULL);
    *state = f;
    return 0;
}

static int up_unix(void **state)
{
    return up(state, true);
}

static int up_tcp(void **state)
{
    return up(state, false);
}

static int down(void **state)
{
    struct fx *f = *state;

    assert_int_equal(sbx_runtime_close(f->rt, SBX_CLOSE_DELETE, NULL), 0);
    real_srv_stop(&f->srv);
    free(f);
    return 0;
}

static void test_run(void **state)
{
    struct fx *f = *state;
    struct sbx_obs *obs = NULL;
    struct sbx_err err = {0};

    assert_null(sbx_runtime_sandbox_id(f->rt));
    assert_null(sbx_runtime_provider(f->rt));
    assert_int_equal(sbx_runtime_alive(f->rt, &err), 0);
    assert_int_equal(sbx_runtime_run(f->rt, "echo hi; echo there", 30000, &obs, &err), 0);
    assert_int_equal(obs->kind, SBX_OBS_RUN);
    assert_int_equal(obs->u.run.metadata.exit_code, 0);
    assert_string_equal(obs->content, "hi\nthere");
    sbx_obs_free(obs);
    /* The session persists: cd sticks, and the exit code comes back. */
    assert_int_equal(sbx_runtime_run(f->rt, "cd /tmp", 0, &obs, &err), 0);
    sbx_obs_free(obs);
    assert_int_equal(sbx_runtime_run(f->rt, "pwd; false", 30000, &obs, &err), 0);
    assert_int_equal(obs->u.run.metadata.exit_code, 1);
    assert_string_equal(obs->content, "/tmp");
    sbx_obs_free(obs);
}

static void test_read_write_edit(void **state)
{
    struct fx *f = *state;
    struct sbx_obs *obs = NULL;
    struct sbx_err err = {0};
    char path[700];
    char *text;

    snprintf(path, sizeof(path), "%s/notes.txt", f->srv.ws);
    assert_int_equal(sbx_runtime_write(f->rt, path, "alpha\nbeta", &obs, &err), 0);
    assert_int_equal(obs->kind, SBX_OBS_WRITE);
    sbx_obs_free(obs);
    assert_int_equal(sbx_runtime_edit(f->rt, path, "beta", "gamma", &obs, &err), 0);
    assert_int_equal(obs->kind, SBX_OBS_EDIT);
    sbx_obs_free(obs);
    assert_int_equal(sbx_runtime_read(f->rt, path, &obs, &err), 0);
    assert_int_equal(obs->kind, SBX_OBS_READ);
    text = read_text(path);
    assert_non_null(text);
    assert_string_equal(obs->content, text);
    assert_memory_equal(text, "alpha\ngamma\n", 12);
    free(text);
    sbx_obs_free(obs);
    /* An edit that cannot apply is reported in the observation (as
     * upstream's editor does), not as a failed call. */
    assert_int_equal(sbx_runtime_edit(f->rt, path, "no such text", "x", &obs, &err), 0);
    assert_int_equal(obs->kind, SBX_OBS_EDIT);
    assert_memory_equal(obs->content, "ERROR:", 6);
    sbx_obs_free(obs);
    /* Reading what is not there: an ErrorObservation too. */
    assert_int_equal(sbx_runtime_read(f->rt, "/nonexistent/file", &obs, &err), 0);
    assert_int_equal(obs->kind, SBX_OBS_ERROR);
    sbx_obs_free(obs);
}

static bool has_name(char **names, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], want))
            return true;
    return false;
}

static void test_list_files(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    char path[700];
    char **names = NULL;
    int n;

    snprintf(path, sizeof(path), "%s/sub", f->srv.ws);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/a.txt", f->srv.ws);
    write_text(path, "a");
    n = sbx_runtime_list_files(f->rt, NULL, &names, &err);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "sub/");
    assert_string_equal(names[1], "a.txt");
    sbx_runtime_names_free(names, (size_t)n);
    n = sbx_runtime_list_files(f->rt, "/", &names, &err);
    assert_true(n > 3);
    assert_true(has_name(names, n, "tmp/"));
    sbx_runtime_names_free(names, (size_t)n);
    n = sbx_runtime_list_files(f->rt, "/nonexistent", &names, &err);
    assert_int_equal(n, 0);
    sbx_runtime_names_free(names, 0);
}

static void expect_file(const char *dir, const char *rel, const char *content)
{
    char p[1200];
    char *got;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    got = read_text(p);
    if (!got)
        fail_msg("%s: missing", p);
    assert_string_equal(got, content);
    free(got);
}

static void test_upload(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    char host[600], p[900], dest[700], link[1000];
    struct stat st;
    char *host_dir = make_tmpdir();

    assert_non_null(host_dir);
    snprintf(dest, sizeof(dest), "%s/dest", f->srv.ws);
    /* A file: destination created, file named by its basename. */
    snprintf(host, sizeof(host), "%s/one.txt", host_dir);
    write_text(host, "one\n");
    assert_int_equal(sbx_runtime_upload(f->rt, host, dest, &err), 0);
    expect_file(dest, "one.txt", "one\n");
    /* A file named *.zip arrives as itself (the server unpacks uploads of
     * that name, so it travels wrapped). */
    snprintf(host, sizeof(host), "%s/data.zip", host_dir);
    write_text(host, "not really a zip\n");
    assert_int_equal(sbx_runtime_upload(f->rt, host, dest, &err), 0);
    expect_file(dest, "data.zip", "not really a zip\n");
    snprintf(p, sizeof(p), "%s/data.zip.sbx-upload.zip", dest);
    assert_int_equal(lstat(p, &st), -1);
    /* A tree: dest/<dirname>/..., empty directories kept, a symlink inside
     * the tree kept, one leading out of it dropped. */
    snprintf(host, sizeof(host), "%s/proj", host_dir);
    mkdir(host, 0755);
    snprintf(p, sizeof(p), "%s/src", host);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/empty", host);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/src/main.c", host);
    write_text(p, "int main(void) { return 0; }\n");
    snprintf(p, sizeof(p), "%s/README", host);
    write_text(p, "readme\n");
    snprintf(p, sizeof(p), "%s/src/readme-link", host);
    assert_int_equal(symlink("../README", p), 0);
    snprintf(p, sizeof(p), "%s/passwd-link", host);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/escape-link", host);
    assert_int_equal(symlink("../one.txt", p), 0);
    assert_int_equal(sbx_runtime_upload(f->rt, host, dest, &err), 0);
    expect_file(dest, "proj/src/main.c", "int main(void) { return 0; }\n");
    expect_file(dest, "proj/README", "readme\n");
    snprintf(p, sizeof(p), "%s/proj/empty", dest);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(p, sizeof(p), "%s/proj/src/readme-link", dest);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(readlink(p, link, sizeof(link)), 9);
    snprintf(p, sizeof(p), "%s/proj/passwd-link", dest);
    assert_int_equal(lstat(p, &st), -1);
    snprintf(p, sizeof(p), "%s/proj/escape-link", dest);
    assert_int_equal(lstat(p, &st), -1);
    /* A trailing slash names the same directory. */
    snprintf(p, sizeof(p), "%s/proj/", host_dir);
    snprintf(dest, sizeof(dest), "%s/dest2", f->srv.ws);
    assert_int_equal(sbx_runtime_upload(f->rt, p, dest, &err), 0);
    expect_file(dest, "proj/README", "readme\n");
    /* A missing host path. */
    snprintf(p, sizeof(p), "%s/missing", host_dir);
    assert_int_equal(sbx_runtime_upload(f->rt, p, dest, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "missing: no such file or directory"));
    assert_non_null(strstr(err.msg, "upload: "));
    /* A relative destination: the server's own error, with its detail. */
    assert_int_equal(sbx_runtime_upload(f->rt, host, "relative/dir", &err), -EIO);
    assert_int_equal(err.http_status, 500);
    assert_non_null(strstr(err.msg, "Destination must be an absolute path"));
    rmrf(host_dir);
    free(host_dir);
}

static void test_download(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    char p[900], zip[700], out[700];
    char *host_dir = make_tmpdir();
    struct stat st;

    assert_non_null(host_dir);
    snprintf(p, sizeof(p), "%s/d", f->srv.ws);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/d/x.txt", f->srv.ws);
    write_text(p, "x content\n");
    snprintf(p, sizeof(p), "%s/d/sub", f->srv.ws);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/d/sub/y.txt", f->srv.ws);
    write_text(p, "y content\n");
    snprintf(zip, sizeof(zip), "%s/d.zip", host_dir);
    snprintf(p, sizeof(p), "%s/d", f->srv.ws);
    assert_int_equal(sbx_runtime_download(f->rt, p, zip, &err), 0);
    /* A valid zip: extract it with the archive module. */
    snprintf(out, sizeof(out), "%s/out", host_dir);
    mkdir(out, 0755);
    assert_int_equal(sbx_zip_extract(zip, out, &err), 0);
    expect_file(out, "x.txt", "x content\n");
    expect_file(out, "sub/y.txt", "y content\n");
    /* Nothing there: an error with the server's detail and no file left. */
    snprintf(zip, sizeof(zip), "%s/none.zip", host_dir);
    assert_int_equal(sbx_runtime_download(f->rt, "/nonexistent/path", zip, &err), -EIO);
    assert_int_equal(err.http_status, 500);
    assert_non_null(strstr(err.msg, "File not found"));
    assert_int_equal(stat(zip, &st), -1);
    /* Only the two files of the first download are in the directory. */
    {
        int entries = 0;
        DIR *dp = opendir(host_dir);
        struct dirent *de;

        while ((de = readdir(dp)))
            entries += de->d_name[0] != '.';
        closedir(dp);
        assert_int_equal(entries, 2); /* d.zip, out */
    }
    rmrf(host_dir);
    free(host_dir);
}

static void test_act_json(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    char *obs = NULL;

    /* A bare action and a whole body give the same kind of answer. */
    assert_int_equal(sbx_runtime_act_json(f->rt,
                                          "{\"action\":\"run\",\"args\":{\"command\":\"echo "
                                          "bare\",\"blocking\":true},\"timeout\":20}",
                                          &obs, &err),
                     0);
    assert_non_null(strstr(obs, "\"observation\":\"run\""));
    assert_non_null(strstr(obs, "\"content\":\"bare\""));
    free(obs);
    assert_int_equal(sbx_runtime_act_json(f->rt,
                                          "{\"action\":{\"action\":\"run\",\"args\":{\"command\":"
                                          "\"echo whole\"}}}",
                                          &obs, &err),
                     0);
    assert_non_null(strstr(obs, "\"content\":\"whole\""));
    free(obs);
    /* A valid action the server answers with an ErrorObservation. */
    assert_int_equal(sbx_runtime_act_json(f->rt,
                                          "{\"action\":\"read\",\"args\":{\"path\":"
                                          "\"/nonexistent\"}}",
                                          &obs, &err),
                     0);
    assert_non_null(strstr(obs, "\"observation\":\"error\""));
    free(obs);
}

static void test_act_json_bad_action_sends_nothing(void **state)
{
    static const struct fake_step steps[] = {{FAKE_ANSWER, 200, "{}", 0}};
    struct fake_srv fk;
    struct sbx_runtime *rt;
    struct sbx_err err = {0};
    char url[64];
    char *obs = NULL;

    (void)state;
    assert_int_equal(fake_srv_start(&fk, steps, 1), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fk.port);
    rt = connect_ep(url, NULL, NULL);
    assert_int_equal(sbx_runtime_act_json(rt, "{\"action\":\"run\",\"args\":{}}", &obs, &err),
                     -EINVAL);
    assert_null(obs);
    assert_non_null(strstr(err.msg, "command"));
    assert_int_equal(sbx_runtime_act_json(rt, "{\"action\":\"fly\"}", &obs, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "action.action"));
    assert_int_equal(sbx_runtime_act_json(rt, "{\"action\":", &obs, &err), -EINVAL);
    assert_int_equal(sbx_runtime_act_json(rt,
                                          "{\"action\":{\"action\":\"write\",\"args\":{\"path\":"
                                          "\"/x\"}}}",
                                          &obs, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "action.args.content"));
    assert_int_equal(fake_srv_count(&fk), 0);
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    fake_srv_stop(&fk);
}

#define RUN_OBS                                                                                    \
    "{\"id\":1,\"observation\":\"run\",\"content\":\"ok\",\"extras\":{\"command\":\"true\","       \
    "\"metadata\":{\"exit_code\":0}},\"message\":\"m\"}"

static void test_retries(void **state)
{
    static const struct fake_step steps[] = {
        /* 429 twice, then the answer: 3 attempts */
        {FAKE_ANSWER, 429, "{\"detail\":\"Too Many Requests\"}", 0},
        {FAKE_ANSWER, 429, "{\"detail\":\"Too Many Requests\"}", 0},
        {FAKE_ANSWER, 200, RUN_OBS, 0},
        /* 429 three times: the budget is spent */
        {FAKE_ANSWER, 429, "{\"detail\":\"Too Many Requests\"}", 0},
        {FAKE_ANSWER, 429, "{\"detail\":\"Too Many Requests\"}", 0},
        {FAKE_ANSWER, 429, "{\"detail\":\"Too Many Requests\"}", 0},
        /* a dropped connection and an empty reply, then the answer */
        {FAKE_DROP, 0, NULL, 0},
        {FAKE_EMPTY, 0, NULL, 0},
        /* (closed: curl itself resends once when a kept-alive connection
         * dies before answering, which would blur the count) */
        {FAKE_ANSWER_CLOSE, 200, RUN_OBS, 0},
        /* dropped five times: the budget is spent */
        {FAKE_EMPTY, 0, NULL, 0},
        {FAKE_EMPTY, 0, NULL, 0},
        {FAKE_EMPTY, 0, NULL, 0},
        {FAKE_EMPTY, 0, NULL, 0},
        {FAKE_EMPTY, 0, NULL, 0},
    };
    struct fake_srv fk;
    struct sbx_runtime *rt;
    struct sbx_obs *obs = NULL;
    struct sbx_err err = {0};
    char url[64];

    (void)state;
    assert_int_equal(fake_srv_start(&fk, steps, sizeof(steps) / sizeof(steps[0])), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fk.port);
    rt = connect_ep(url, NULL, NULL);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), 0);
    assert_string_equal(obs->content, "ok");
    sbx_obs_free(obs);
    assert_int_equal(fake_srv_count(&fk), 3);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -EAGAIN);
    assert_null(obs);
    assert_int_equal(err.http_status, 429);
    assert_non_null(strstr(err.msg, "Too Many Requests"));
    assert_int_equal(fake_srv_count(&fk), 6);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), 0);
    sbx_obs_free(obs);
    assert_int_equal(fake_srv_count(&fk), 9);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -ECONNRESET);
    assert_non_null(strstr(err.msg, "execute_action: "));
    assert_int_equal(fake_srv_count(&fk), 14);
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    fake_srv_stop(&fk);
}

static void test_error_detail(void **state)
{
    static const struct fake_step steps[] = {
        {FAKE_ANSWER, 403, "{\"detail\":\"Invalid API Key\"}", 0},
        {FAKE_ANSWER, 404, "not json at all\n", 0},
        {FAKE_ANSWER, 413, "{\"detail\":{\"limit\":10}}", 0},
        {FAKE_ANSWER, 422, "{\"detail\":\"Invalid request parameters\",\"errors\":\"x\"}", 0},
        {FAKE_ANSWER, 500, "{\"detail\":\"Internal server error: boom\"}", 0},
        {FAKE_ANSWER, 200, "[1]", 0},
    };
    struct fake_srv fk;
    struct sbx_runtime *rt;
    struct sbx_obs *obs = NULL;
    struct sbx_err err = {0};
    char **names = NULL;
    char url[64];

    (void)state;
    assert_int_equal(fake_srv_start(&fk, steps, sizeof(steps) / sizeof(steps[0])), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fk.port);
    rt = connect_ep(url, NULL, NULL);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -EACCES);
    assert_int_equal(err.http_status, 403);
    assert_string_equal(err.msg, "execute_action: HTTP 403: Invalid API Key");
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -ENOENT);
    assert_string_equal(err.msg, "execute_action: HTTP 404: not json at all");
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -E2BIG);
    assert_string_equal(err.msg, "execute_action: HTTP 413: {\"limit\":10}");
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -EINVAL);
    assert_int_equal(err.http_status, 422);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -EIO);
    assert_string_equal(err.msg, "execute_action: HTTP 500: Internal server error: boom");
    /* list_files insists on a list of strings. */
    assert_int_equal(sbx_runtime_list_files(rt, NULL, &names, &err), -EPROTO);
    assert_null(names);
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    fake_srv_stop(&fk);
}

/* A failed exchange is a failure whatever err is: with err NULL (allowed,
 * house rule 5) a refused connection once came back as success, and a
 * download as an empty file renamed over the target. */
static void test_failure_without_err(void **state)
{
    static const struct fake_step steps[] = {{FAKE_ANSWER, 200, "{}", 0}};
    struct fake_srv fk;
    struct sbx_runtime *rt;
    struct sbx_obs *obs = NULL;
    char url[64], zip[700];
    char *obs_json = NULL;
    char *host_dir = make_tmpdir();
    struct stat st;

    (void)state;
    assert_non_null(host_dir);
    /* A port that was just listening and is closed now refuses. */
    assert_int_equal(fake_srv_start(&fk, steps, 1), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fk.port);
    fake_srv_stop(&fk);
    rt = connect_ep(url, NULL, NULL);
    assert_int_equal(sbx_runtime_act_json(rt,
                                          "{\"action\":\"run\",\"args\":{\"command\":\"true\"}}",
                                          &obs_json, NULL),
                     -ECONNREFUSED);
    assert_null(obs_json);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, NULL), -ECONNREFUSED);
    assert_null(obs);
    snprintf(zip, sizeof(zip), "%s/out.zip", host_dir);
    assert_int_equal(sbx_runtime_download(rt, "/workspace", zip, NULL), -ECONNREFUSED);
    assert_int_equal(stat(zip, &st), -1);
    assert_int_equal(sbx_runtime_upload(rt, host_dir, "/workspace", NULL), -ECONNREFUSED);
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    rmrf(host_dir);
    free(host_dir);
}

static void test_api_key(void **state)
{
    struct real_srv s;
    struct sbx_runtime *rt;
    struct sbx_obs *obs = NULL;
    struct sbx_err err = {0};

    (void)state;
    assert_int_equal(real_srv_start(&s, true, "sekrit"), 0);
    rt = connect_ep(NULL, s.sock, "wrong");
    /* /alive needs no key; actions do. */
    assert_int_equal(sbx_runtime_alive(rt, &err), 0);
    assert_int_equal(sbx_runtime_run(rt, "true", 0, &obs, &err), -EACCES);
    assert_int_equal(err.http_status, 403);
    assert_non_null(strstr(err.msg, "Invalid API Key"));
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    rt = connect_ep(NULL, s.sock, "sekrit");
    assert_int_equal(sbx_runtime_run(rt, "echo in", 10000, &obs, &err), 0);
    assert_string_equal(obs->content, "in");
    sbx_obs_free(obs);
    sbx_runtime_close(rt, SBX_CLOSE_DELETE, NULL);
    real_srv_stop(&s);
}

static void test_connect_bad_endpoint(void **state)
{
    struct sbx_endpoint ep = {0};
    struct sbx_err err = {0};

    (void)state;
    assert_null(sbx_runtime_connect(&ep, &err));
    assert_int_equal(err.code, -EINVAL);
    ep.url = (char *)"gopher://x";
    assert_null(sbx_runtime_connect(&ep, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_int_equal(sbx_runtime_close(NULL, SBX_CLOSE_DELETE, NULL), 0);
}

#define BOTH(t)                                                                                    \
    cmocka_unit_test_setup_teardown(t, up_unix, down),                                             \
        cmocka_unit_test_setup_teardown(t, up_tcp, down)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_run),
        BOTH(test_read_write_edit),
        BOTH(test_list_files),
        BOTH(test_upload),
        BOTH(test_download),
        BOTH(test_act_json),
        cmocka_unit_test(test_act_json_bad_action_sends_nothing),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_error_detail),
        cmocka_unit_test(test_failure_without_err),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_connect_bad_endpoint),
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
