/* Tests for the pure pieces of src/providers/e2b/: configuration from the
 * environment (as the SDK reads it), the SDK's metadata query encoding, the
 * mapping of Sandbox objects and EndEvents, what an answer says of the
 * traffic token, the create body, times, the retry policy, random keys, and
 * the base64 decoder the envd stream needs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base64.h"
#include "providers/e2b/internal.h"

/* ---- a fake environment ---------------------------------------------------- */

static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; fake_env && fake_env[i]; i++)
        if (!strncmp(fake_env[i], name, n) && fake_env[i][n] == '=')
            return fake_env[i] + n + 1;
    return NULL;
}

static void load(struct sbx__e2b_config *c, const char *const *env)
{
    struct sbx_err err = {0};

    fake_env = env;
    assert_int_equal(sbx__e2b_config_load(c, fake_getenv, &err), 0);
}

static void assert_envd(const struct sbx__e2b_config *c, const char *domain, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx__e2b_envd_url(c, "abcdefghij0123456789", domain, &b), 0);
    assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
}

static void assert_port(const struct sbx__e2b_config *c, int port, const char *domain,
                        const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx__e2b_port_url_fill(c, "abcdefghij0123456789", port, domain, &b), 0);
    assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
}

static void test_config_defaults(void **state)
{
    static const char *const env[] = {NULL};
    struct sbx__e2b_config c;

    (void)state;
    load(&c, env);
    assert_null(c.api_key);
    assert_string_equal(c.domain, "e2b.app");
    assert_string_equal(c.api_url, "https://api.e2b.app");
    assert_null(c.sandbox_url);
    assert_false(c.debug);
    /* a supported domain: one envd host, routed by headers */
    assert_envd(&c, NULL, "https://sandbox.e2b.app");
    assert_envd(&c, "e2b.dev", "https://sandbox.e2b.dev");
    /* any other sandbox domain: the port's own host */
    assert_envd(&c, "example.org", "https://49983-abcdefghij0123456789.example.org");
    assert_port(&c, 4444, NULL, "https://4444-abcdefghij0123456789.e2b.app");
    assert_port(&c, 8080, "eu.example.org", "https://8080-abcdefghij0123456789.eu.example.org");
    sbx__e2b_config_release(&c);
}

static void test_config_env(void **state)
{
    static const char *const env[] = {
        "E2B_API_KEY=e2b_abc", "E2B_DOMAIN=my.cloud", "E2B_SANDBOX_URL=http://127.0.0.1:9/",
        "SBX_E2B_PORT_URL=http://{port}-{id}.{domain}", NULL};
    static const char *const env2[] = {"E2B_DOMAIN=my.cloud", "E2B_API_URL=http://h:1/", NULL};
    static const char *const debug[] = {"E2B_DEBUG=TRUE", NULL};
    static const char *const bad[] = {"SBX_E2B_PORT_URL=https://{port}.x", NULL};
    static const char *const port[] = {"SBX_E2B_SERVER_PORT=4555", NULL};
    static const char *const bad_port[] = {"SBX_E2B_SERVER_PORT=49983", NULL};
    static const char *const empty[] = {"E2B_API_KEY=", "E2B_DOMAIN=", NULL};
    struct sbx__e2b_config c;
    struct sbx_err err = {0};

    (void)state;
    load(&c, env);
    assert_string_equal(c.api_key, "e2b_abc");
    assert_string_equal(c.api_url, "https://api.my.cloud");
    /* E2B_SANDBOX_URL wins for every sandbox (trailing slash dropped) */
    assert_envd(&c, NULL, "http://127.0.0.1:9");
    assert_envd(&c, "e2b.app", "http://127.0.0.1:9");
    assert_port(&c, 4444, "localhost:3000", "http://4444-abcdefghij0123456789.localhost:3000");
    sbx__e2b_config_release(&c);

    load(&c, env2);
    assert_string_equal(c.api_url, "http://h:1");
    assert_envd(&c, NULL, "https://49983-abcdefghij0123456789.my.cloud");
    sbx__e2b_config_release(&c);

    load(&c, debug);
    assert_true(c.debug);
    assert_string_equal(c.api_url, "http://localhost:3000");
    assert_envd(&c, NULL, "http://localhost:49983");
    assert_port(&c, 4444, NULL, "http://localhost:4444");
    sbx__e2b_config_release(&c);

    /* empty values count as unset, as in the SDK (`||`) */
    load(&c, empty);
    assert_null(c.api_key);
    assert_string_equal(c.domain, "e2b.app");
    sbx__e2b_config_release(&c);

    fake_env = bad;
    assert_int_equal(sbx__e2b_config_load(&c, fake_getenv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "SBX_E2B_PORT_URL"));

    load(&c, debug);
    assert_int_equal(c.server_port, 4444);
    sbx__e2b_config_release(&c);
    load(&c, port);
    assert_int_equal(c.server_port, 4555);
    sbx__e2b_config_release(&c);
    fake_env = bad_port;
    assert_int_equal(sbx__e2b_config_load(&c, fake_getenv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "SBX_E2B_SERVER_PORT"));
}

static void test_config_public(void **state)
{
    static const char *const none[] = {NULL};
    static const char *const one[] = {"SBX_E2B_PUBLIC=1", NULL};
    static const char *const yes[] = {"SBX_E2B_PUBLIC=TRUE", NULL};
    static const char *const zero[] = {"SBX_E2B_PUBLIC=0", NULL};
    static const char *const bad[] = {"SBX_E2B_PUBLIC=maybe", NULL};
    static const struct {
        const char *const *env;
        bool want;
    } cases[] = {{none, false}, {one, true}, {yes, true}, {zero, false}};
    struct sbx__e2b_config c;
    struct sbx_err err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        load(&c, cases[i].env);
        assert_int_equal(c.public_traffic, cases[i].want);
        sbx__e2b_config_release(&c);
    }
    fake_env = bad;
    assert_int_equal(sbx__e2b_config_load(&c, fake_getenv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "SBX_E2B_PUBLIC 'maybe'"));
}

/* ---- traffic token and create body ---------------------------------------------- */

static enum sbx__e2b_traffic traffic(const char *json, const char **tok)
{
    struct sbx_json *v = sbx_json_parse(json, strlen(json), NULL);
    enum sbx__e2b_traffic t;

    assert_non_null(v);
    t = sbx__e2b_traffic_of(v, tok);
    /* the token is borrowed from v: copied out before v goes */
    if (*tok) {
        static char copy[128];

        snprintf(copy, sizeof(copy), "%s", *tok);
        *tok = copy;
    }
    sbx_json_free(v);
    return t;
}

static void test_traffic_of(void **state)
{
    const char *tok = NULL;

    (void)state;
    /* Sandbox (create, connect): the token, or public when null or absent */
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"trafficAccessToken\":\"t1\"}", &tok),
                     SBX_E2B_TRAFFIC_TOKEN);
    assert_string_equal(tok, "t1");
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"trafficAccessToken\":null}", &tok),
                     SBX_E2B_TRAFFIC_PUBLIC);
    assert_null(tok);
    assert_int_equal(traffic("{\"sandboxID\":\"x\"}", &tok), SBX_E2B_TRAFFIC_PUBLIC);
    /* SandboxDetail: no token; network.allowPublicTraffic (default true) */
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"state\":\"running\",\"network\":"
                             "{\"allowPublicTraffic\":false}}", &tok),
                     SBX_E2B_TRAFFIC_UNKNOWN);
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"state\":\"running\",\"network\":"
                             "{\"allowPublicTraffic\":true}}", &tok),
                     SBX_E2B_TRAFFIC_PUBLIC);
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"state\":\"running\",\"network\":{}}",
                             &tok),
                     SBX_E2B_TRAFFIC_PUBLIC);
    /* ListedSandbox, or a detail without network: nothing said */
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"state\":\"paused\"}", &tok),
                     SBX_E2B_TRAFFIC_UNKNOWN);
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"state\":\"running\",\"network\":"
                             "{\"allowPublicTraffic\":\"no\"}}", &tok),
                     SBX_E2B_TRAFFIC_UNKNOWN);
    /* an empty token is none */
    assert_int_equal(traffic("{\"sandboxID\":\"x\",\"trafficAccessToken\":\"\"}", &tok),
                     SBX_E2B_TRAFFIC_PUBLIC);
    assert_int_equal(traffic("[]", &tok), SBX_E2B_TRAFFIC_UNKNOWN);
    assert_int_equal(sbx__e2b_traffic_of(NULL, &tok), SBX_E2B_TRAFFIC_UNKNOWN);
}

static struct sbx_json *body_of(const struct sbx_sandbox_spec *spec, bool public_traffic)
{
    struct sbx_buf b = SBX_BUF_INIT;
    struct sbx_json *v;

    assert_int_equal(sbx__e2b_create_body(spec, "n0nce", 60, public_traffic, &b, NULL), 0);
    v = sbx_json_parse(b.ptr, b.len, NULL);
    assert_non_null(v);
    sbx_buf_free(&b);
    return v;
}

static void test_create_body(void **state)
{
    struct sbx_sandbox_spec spec = {0};
    struct sbx_json *v, *net;

    (void)state;
    v = body_of(&spec, false);
    assert_string_equal(sbx_json_str(sbx_json_get(v, "templateID")), "base");
    assert_true(sbx_json_bool(sbx_json_get(v, "secure")));
    net = sbx_json_get(v, "network");
    assert_non_null(net);
    assert_int_equal(sbx_json_object_len(net), 1);
    assert_int_equal(sbx_json_type(sbx_json_get(net, "allowPublicTraffic")), SBX_JSON_BOOL);
    assert_false(sbx_json_bool(sbx_json_get(net, "allowPublicTraffic")));
    assert_string_equal(sbx_json_str(sbx_json_get(sbx_json_get(v, "metadata"),
                                                  SBX_E2B_NONCE_KEY)), "n0nce");
    sbx_json_free(v);
    /* SBX_E2B_PUBLIC: E2B's default, no network object at all */
    v = body_of(&spec, true);
    assert_null(sbx_json_get(v, "network"));
    sbx_json_free(v);
}

static void test_random_hex(void **state)
{
    char a[65], b[65], big[200];

    (void)state;
    assert_int_equal(sbx__e2b_random_hex(a, 32), 0);
    assert_int_equal(sbx__e2b_random_hex(b, 32), 0);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_string_not_equal(a, b);
    assert_int_equal(sbx__e2b_random_hex(big, 65), -EINVAL);
}

/* ---- metadata query ------------------------------------------------------------ */

/* Expected values printed by the e2b SDK 2.51.0 (tests/sdk/package-lock.json)
 * itself: SandboxPaginator.nextItems's encoding through openapi-fetch with
 * the ApiClient's querySerializer, URL captured from its fetch. */
static void assert_query(const char *const *keys, const char *const *values, size_t n,
                         const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx__e2b_metadata_query(&b, keys, values, n), 0);
    assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
}

static void test_metadata_query(void **state)
{
    static const char *const k1[] = {"OpenHands_SID"}, *const v1[] = {"abc"};
    static const char *const v2[] = {"a b"};
    static const char *const k3[] = {"k", "key/2"},
                             *const v3[] = {"v=1&x", "\xc3\xbc\xe2\x82\xac ~*()!'"};
    static const char *const k4[] = {"a", "b"}, *const v4[] = {"1", "2"};
    static const char *const k5[] = {"sbx_create_nonce"}, *const v5[] = {"0123456789abcdef"};
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_query(k1, v1, 1, "OpenHands_SID%3Dabc");
    assert_query(k1, v2, 1, "OpenHands_SID%3Da%252520b");
    assert_query(k3, v3, 2,
                 "k%3Dv%25253D1%252526x%26key%25252F2%3D%2525C3%2525BC%2525E2%252582%2525AC"
                 "%252520%257E*%2528%2529%2521%2527");
    assert_query(k4, v4, 2, "a%3D1%26b%3D2");
    assert_query(k5, v5, 1, "sbx_create_nonce%3D0123456789abcdef");
    /* nextToken: encodeURIComponent as openapi-fetch does ("tok/+=") */
    assert_int_equal(sbx__e2b_uri_component(&b, "tok/+="), 0);
    assert_string_equal(b.ptr, "tok%2F%2B%3D");
    sbx_buf_free(&b);
}

/* ---- mapping ------------------------------------------------------------------------ */

static struct sbx_json *parse(const char *s)
{
    struct sbx_json *v = sbx_json_parse(s, strlen(s), NULL);

    assert_non_null(v);
    return v;
}

static void test_times(void **state)
{
    int64_t ms;

    (void)state;
    assert_int_equal(sbx__e2b_parse_time("2026-11-28T21:58:06Z", &ms), 0);
    assert_int_equal(ms, 1795903086000LL);
    assert_int_equal(sbx__e2b_parse_time("2026-11-28T21:58:06.123456Z", &ms), 0);
    assert_int_equal(ms, 1795903086123LL);
    assert_int_equal(sbx__e2b_parse_time("2026-11-28T23:58:06.5+02:00", &ms), 0);
    assert_int_equal(ms, 1795903086500LL);
    assert_int_equal(sbx__e2b_parse_time("2026-11-28T21:58:06", &ms), -EINVAL);
    assert_int_equal(sbx__e2b_parse_time("2026-13-28T21:58:06Z", &ms), -EINVAL);
    assert_int_equal(sbx__e2b_parse_time("", &ms), -EINVAL);
    assert_int_equal(sbx__e2b_parse_time("2026-11-28T21:58:06Zjunk", &ms), -EINVAL);
    assert_true(sbx__e2b_is_id("abcdefghij0123456789"));
    assert_false(sbx__e2b_is_id("abcdefghij012345678"));
    assert_false(sbx__e2b_is_id("Abcdefghij0123456789"));
    assert_false(sbx__e2b_is_id("my-sandbox"));
}

static void test_info_detail(void **state)
{
    /* a SandboxDetail as GET /sandboxes/{id} answers it (openapi.yml) */
    struct sbx_json *v = parse(
        "{\"templateID\":\"rki5dems9wqfm4r03t7g\",\"alias\":\"base\",\"sandboxID\":"
        "\"i1g5yqsvtd1d3mdf5pnz3\",\"clientID\":\"6532622b\",\"startedAt\":"
        "\"2026-11-28T21:58:06.000Z\",\"endAt\":\"2026-11-28T22:58:06.000Z\",\"envdVersion\":"
        "\"0.5.7\",\"envdAccessToken\":\"tok\",\"domain\":null,\"cpuCount\":2,\"memoryMB\":512,"
        "\"diskSizeMB\":1024,\"metadata\":{\"OpenHands_SID\":\"my-sid\",\"team\":\"a\","
        "\"sbx_create_nonce\":\"00ff\"},\"state\":\"running\"}");
    struct sbx_sandbox_info info;
    struct sbx_err err = {0};

    (void)state;
    /* an hour before endAt: no note */
    assert_int_equal(sbx__e2b_info_from_json(v, 1795903086000LL, &info, &err), 0);
    assert_string_equal(info.id, "i1g5yqsvtd1d3mdf5pnz3");
    assert_string_equal(info.provider, "e2b");
    assert_string_equal(info.image, "rki5dems9wqfm4r03t7g");
    assert_string_equal(info.name, "my-sid");
    assert_int_equal(info.state, SBX_SANDBOX_RUNNING);
    assert_int_equal(info.created_ms, 1795903086000LL);
    assert_int_equal(info.n_labels, 1); /* the nonce is sbx's own */
    assert_string_equal(info.labels[0], "team=a");
    assert_int_equal(info.memory_bytes, 512LL << 20);
    assert_int_equal(info.cpu_millis, 2000);
    assert_true(info.enforced & SBX_LIMIT_FREEZE);
    assert_null(info.note);
    sbx_sandbox_info_free(&info);
    /* 30 s before endAt: the TTL is near */
    assert_int_equal(sbx__e2b_info_from_json(v, 1795906656000LL, &info, &err), 0);
    assert_non_null(info.note);
    assert_non_null(strstr(info.note, "30 s"));
    sbx_sandbox_info_free(&info);
    sbx_json_free(v);

    /* a create answer (Sandbox): no state, no metadata; a paused listed one */
    v = parse("{\"templateID\":\"base\",\"sandboxID\":\"abcdefghij0123456789\",\"clientID\":"
              "\"x\",\"envdVersion\":\"0.5.7\"}");
    assert_int_equal(sbx__e2b_info_from_json(v, 0, &info, &err), 0);
    assert_int_equal(info.state, SBX_SANDBOX_RUNNING);
    assert_null(info.name);
    assert_int_equal(info.n_labels, 0);
    sbx_sandbox_info_free(&info);
    sbx_json_free(v);
    v = parse("{\"sandboxID\":\"abcdefghij0123456789\",\"state\":\"paused\",\"endAt\":"
              "\"2026-11-28T21:58:06Z\"}");
    assert_int_equal(sbx__e2b_info_from_json(v, 1795903086000LL, &info, &err), 0);
    assert_int_equal(info.state, SBX_SANDBOX_PAUSED);
    assert_null(info.note); /* a paused sandbox does not time out */
    sbx_sandbox_info_free(&info);
    sbx_json_free(v);
    /* no sandboxID: refused */
    v = parse("{\"templateID\":\"base\"}");
    assert_int_equal(sbx__e2b_info_from_json(v, 0, &info, &err), -EPROTO);
    sbx_json_free(v);
}

static void test_end_status(void **state)
{
    static const struct {
        const char *json;
        int code, sig;
    } cases[] = {
        {"{\"exited\":true,\"status\":\"exit status 0\"}", 0, 0}, /* exitCode omitted = 0 */
        {"{\"exitCode\":3,\"exited\":true,\"status\":\"exit status 3\"}", 3, 0},
        {"{\"exitCode\":-1,\"status\":\"signal: killed\"}", 137, 9},
        {"{\"exitCode\":-1,\"status\":\"signal: terminated\"}", 143, 15},
        {"{\"exitCode\":-1,\"status\":\"signal: segmentation fault (core dumped)\"}", 139, 11},
        {"{\"exitCode\":-1,\"status\":\"signal: signal 34\"}", 162, 34},
        {"{\"exitCode\":-1,\"status\":\"signal: nonsense\"}", 255, 0},
        {"{}", 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbx_json *v = parse(cases[i].json);
        int code = -7, sig = -7;

        sbx__e2b_end_status(v, &code, &sig);
        assert_int_equal(code, cases[i].code);
        assert_int_equal(sig, cases[i].sig);
        sbx_json_free(v);
    }
}

static void test_envd_errors(void **state)
{
    struct sbx_err err = {0};
    const char *b;

    (void)state;
    b = "{\"code\":\"not_found\",\"message\":\"path not found\"}";
    assert_int_equal(sbx__e2b_envd_error("x", "Stat", 404, b, strlen(b), &err), -ENOENT);
    assert_non_null(strstr(err.msg, "path not found"));
    b = "{\"code\":502,\"message\":\"The sandbox x was not found\"}";
    assert_int_equal(sbx__e2b_envd_error("x", "Stat", 502, b, strlen(b), &err), -EPIPE);
    assert_non_null(strstr(err.msg, "is gone"));
    b = "{\"code\":\"unauthenticated\",\"message\":\"bad token\"}";
    assert_int_equal(sbx__e2b_envd_error("x", "Stat", 401, b, strlen(b), &err), -EACCES);
    assert_int_equal(sbx__e2b_envd_error("x", "Stat", 503, NULL, 0, &err), -EAGAIN);
    b = "{\"code\":401,\"message\":\"Invalid API key\"}";
    assert_int_equal(sbx__e2b_api_error(401, b, strlen(b), "list sandboxes", &err), -EACCES);
    assert_non_null(strstr(err.msg, "E2B_API_KEY"));
    assert_non_null(strstr(err.msg, "Invalid API key"));
    b = "{\"code\":404,\"message\":\"sandbox not found\"}";
    assert_int_equal(sbx__e2b_api_error(404, b, strlen(b), "get sandbox x", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "sandbox not found"));
    assert_int_equal(sbx__e2b_api_error(500, "oops", 4, "kill", &err), -EIO);
    assert_non_null(strstr(err.msg, "oops"));
}

/* ---- retries ------------------------------------------------------------------------ */

static void test_retry_policy(void **state)
{
    const struct sbx__e2b_retry *p = &sbx__e2b_default_retry;
    int done;

    (void)state;
    /* bounded: attempts in all, exponential waits */
    assert_int_equal(p->attempts, 4);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 503, NULL, true), 500);
    assert_int_equal(sbx__e2b_retry_delay(p, 2, 0, 503, NULL, true), 1000);
    assert_int_equal(sbx__e2b_retry_delay(p, 3, 0, 502, NULL, true), 2000);
    assert_int_equal(sbx__e2b_retry_delay(p, 4, 0, 503, NULL, true), -1);
    for (done = 1; sbx__e2b_retry_delay(p, done, 0, 429, NULL, true) >= 0; done++)
        assert_true(done < 100);
    assert_int_equal(done, p->attempts);
    /* Retry-After (seconds) wins, capped; a date falls back to backoff */
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 429, "3", true), 3000);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 429, "0", true), 0);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 429, "3600", true), p->max_ms);
    assert_int_equal(sbx__e2b_retry_delay(p, 2, 0, 503, "Wed, 21 Oct 2015 07:28:00 GMT", true),
                     1000);
    /* connection errors of idempotent calls; never a DNS failure */
    assert_int_equal(sbx__e2b_retry_delay(p, 1, -ECONNREFUSED, 0, NULL, true), 500);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, -ECONNRESET, 0, NULL, true), 500);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, -EHOSTUNREACH, 0, NULL, true), -1);
    /* a create (not idempotent): 429 only, never a 5xx or a lost answer */
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 429, NULL, false), 500);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 500, NULL, false), -1);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, -ECONNRESET, 0, NULL, false), -1);
    /* answers that will not change */
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 400, NULL, true), -1);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 401, NULL, true), -1);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 404, NULL, true), -1);
    assert_int_equal(sbx__e2b_retry_delay(p, 1, 0, 501, NULL, true), -1);
}

static void test_config_keepalive(void **state)
{
    static const char *const none[] = {NULL};
    static const char *const two[] = {"SBX_E2B_KEEPALIVE_S=2", NULL};
    static const char *const bad[][2] = {{"SBX_E2B_KEEPALIVE_S=0", NULL},
                                         {"SBX_E2B_KEEPALIVE_S=3601", NULL},
                                         {"SBX_E2B_KEEPALIVE_S=5s", NULL}};
    static const struct {
        const char *const *env;
        int want;
    } cases[] = {{none, 50}, {two, 2}};
    struct sbx__e2b_config c;
    struct sbx_err err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        load(&c, cases[i].env);
        assert_int_equal(c.keepalive_s, cases[i].want);
        sbx__e2b_config_release(&c);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_env = bad[i];
        assert_int_equal(sbx__e2b_config_load(&c, fake_getenv, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "SBX_E2B_KEEPALIVE_S"));
        sbx_err_clear(&err);
    }
}

static void test_envd_version(void **state)
{
    (void)state;
    assert_true(sbx__e2b_version_at_least("0.5.7", SBX_E2B_ENVD_OCTET_STREAM));
    assert_true(sbx__e2b_version_at_least("0.5.10", SBX_E2B_ENVD_OCTET_STREAM));
    assert_true(sbx__e2b_version_at_least("0.6.0", SBX_E2B_ENVD_OCTET_STREAM));
    assert_true(sbx__e2b_version_at_least("1.0", SBX_E2B_ENVD_OCTET_STREAM));
    assert_false(sbx__e2b_version_at_least("0.5.6", SBX_E2B_ENVD_OCTET_STREAM));
    assert_false(sbx__e2b_version_at_least("0.5", SBX_E2B_ENVD_OCTET_STREAM));
    assert_false(sbx__e2b_version_at_least("0.4.9", SBX_E2B_ENVD_OCTET_STREAM));
    assert_false(sbx__e2b_version_at_least("0.3.0", SBX_E2B_ENVD_DEFAULT_USER));
    assert_true(sbx__e2b_version_at_least("0.4.0", SBX_E2B_ENVD_DEFAULT_USER));
    assert_true(sbx__e2b_version_at_least("0.5.7-rc1", SBX_E2B_ENVD_OCTET_STREAM));
    /* not known: the newest */
    assert_true(sbx__e2b_version_at_least(NULL, SBX_E2B_ENVD_OCTET_STREAM));
    assert_true(sbx__e2b_version_at_least("", SBX_E2B_ENVD_OCTET_STREAM));
}

static void test_base64_decode(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_base64_decode("aGkK", 4, &b), 0);
    assert_string_equal(b.ptr, "hi\n");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_base64_decode("AP8=", 4, &b), 0);
    assert_int_equal(b.len, 2);
    assert_int_equal((unsigned char)b.ptr[0], 0);
    assert_int_equal((unsigned char)b.ptr[1], 255);
    sbx_buf_reset(&b);
    assert_int_equal(sbx_base64_decode("", 0, &b), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(sbx_base64_decode("aGk", 3, &b), 0); /* padding optional */
    assert_string_equal(b.ptr, "hi");
    sbx_buf_reset(&b);
    assert_int_equal(sbx_base64_decode("a=Gk", 4, &b), -EINVAL);
    assert_int_equal(sbx_base64_decode("aGk*", 4, &b), -EINVAL);
    assert_int_equal(sbx_base64_decode("a", 1, &b), -EINVAL);
    assert_int_equal(b.len, 0);
    sbx_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults), cmocka_unit_test(test_config_env),
        cmocka_unit_test(test_metadata_query),  cmocka_unit_test(test_times),
        cmocka_unit_test(test_info_detail),     cmocka_unit_test(test_end_status),
        cmocka_unit_test(test_envd_errors),     cmocka_unit_test(test_retry_policy),
        cmocka_unit_test(test_base64_decode),   cmocka_unit_test(test_config_public),
        cmocka_unit_test(test_traffic_of),      cmocka_unit_test(test_create_body),
        cmocka_unit_test(test_random_hex),      cmocka_unit_test(test_envd_version),
        cmocka_unit_test(test_config_keepalive),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
