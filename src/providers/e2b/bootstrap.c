#include "providers/e2b/internal.h"

/*
 * sbx-server in an E2B sandbox, reached at the public URL of port 4444.
 *
 * In order: a process envd knows by the tag "sbx-server" (an earlier
 * bootstrap) is waited for; a template with /usr/local/bin/sbx-server
 * (containers/e2b-sandbox) whose server already answers is used as is, and
 * that binary started when it does not; else the static sbx-server of this
 * host is uploaded through /files and started. Starting is a Process/Start
 * without a lifetime limit whose connection is closed once the server says
 * it listens (its stdout): envd keeps the process, and one that fails (its
 * port taken) is reported with what it printed.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/time.h"

#define SERVER_TAG "sbx-server"
#define READY_TIMEOUT_MS 60000
/* What sbx-server prints on stdout once it listens (src/server/main.c). */
#define READY_LINE "sbx-server listening on "
#define FAILED_LINE "start-up failed"
#define ARGV_MAX 48

static const char *const default_plugins[] = {"agent_skills", "jupyter", NULL};

/* Whether GET <url>/alive answers 2xx within timeout_ms. */
static bool alive(const char *url, const char *const *headers, int64_t timeout_ms)
{
    struct sbx_http_client_opts o = {0};
    struct sbx_http_req req = {0};
    struct sbx_http_resp resp;
    struct sbx_http_client *c;
    bool ok;

    o.base_url = url;
    o.headers = headers;
    o.connect_timeout_ms = timeout_ms;
    c = sbx_http_client_new(&o, NULL);
    if (!c)
        return false;
    sbx_http_resp_init(&resp);
    req.path = "/alive";
    req.timeout_ms = timeout_ms;
    req.max_body_bytes = 65536;
    ok = sbx_http_request(c, &req, &resp, NULL) == 0 && resp.status / 100 == 2;
    sbx_http_resp_release(&resp);
    sbx_http_client_free(c);
    return ok;
}

/* Whether envd runs a process tagged SERVER_TAG (Process/List). */
static bool server_process(struct sbx__e2b *e, struct sbx__e2b_sbx *s)
{
    struct sbx_json *b = sbx_json_object_new(), *out = NULL, *procs;
    bool found = false;

    if (b && sbx__e2b_envd_unary(e, s, "process.Process/List", b, &out, NULL) == 0) {
        procs = sbx_json_get(out, "processes");
        for (size_t i = 0; i < sbx_json_array_len(procs); i++)
            if (!strcmp(sbx_json_str(sbx_json_get(sbx_json_array_at(procs, i), "tag")),
                        SERVER_TAG))
                found = true;
    }
    sbx_json_free(b);
    sbx_json_free(out);
    return found;
}

/* Uploads this host's sbx-server to SBX_E2B_SERVER_PATH, mode 0755. */
static int put_server(struct sbx__e2b *e, struct sbx__e2b_sbx *s, struct sbx_err *err)
{
    const char *bin = sbx_provider_server_bin(e->p);
    const char *chmod_argv[] = {"chmod", "755", SBX_E2B_SERVER_PATH, NULL};
    struct stat st;
    int fd, rc;

    if (!bin)
        return sbx_err_set(err, -ENOENT, "e2b: bootstrap: no sbx-server binary to upload "
                           "(set SBX_SERVER_BIN to a static sbx-server)");
    fd = open(bin, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = sbx_err_set(err, -errno, "e2b: bootstrap: %s: %s", bin, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    rc = sbx__e2b_upload_fd(e, s, fd, (int64_t)st.st_size, SBX_E2B_SERVER_PATH, err);
    close(fd);
    if (rc == 0)
        rc = sbx__e2b_run_ok(e, s, chmod_argv, NULL, err);
    if (rc < 0)
        sbx_err_prefix(err, "bootstrap");
    return rc;
}

static int start_server(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *bin,
                        const struct sbx_server_opts *o, struct sbx_err *err)
{
    const char *argv[ARGV_MAX + 1], *env[2] = {NULL, NULL};
    const char *const *plugins = o->plugins ? o->plugins : default_plugins;
    struct sbx_buf key = SBX_BUF_INIT;
    char uid[32], port[16];
    int64_t pid = 0;
    size_t n = 0;
    int rc;

    snprintf(uid, sizeof(uid), "%" PRId64, o->user_id);
    snprintf(port, sizeof(port), "%d", e->cfg.server_port);
    argv[n++] = bin;
    argv[n++] = port;
    argv[n++] = "--working-dir";
    argv[n++] = o->working_dir ? o->working_dir : "/workspace";
    argv[n++] = "--username";
    argv[n++] = o->username ? o->username : "root";
    argv[n++] = "--user-id";
    argv[n++] = uid;
    if (plugins[0]) {
        argv[n++] = "--plugins";
        for (size_t k = 0; plugins[k] && n < ARGV_MAX; k++)
            argv[n++] = plugins[k];
    }
    argv[n] = NULL;
    if (o->api_key) {
        if (sbx_buf_addf(&key, "SESSION_API_KEY=%s", o->api_key) < 0)
            return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        env[0] = key.ptr;
    }
    rc = sbx__e2b_spawn(e, s, argv, env, "root", SERVER_TAG, READY_LINE, FAILED_LINE, &pid,
                        err);
    sbx_buf_free(&key);
    if (rc < 0)
        sbx_err_prefix(err, "bootstrap");
    return rc;
}

static int fill_endpoint(const char *url, const struct sbx__e2b_sbx *s,
                         const struct sbx_server_opts *o, struct sbx_endpoint *ep,
                         struct sbx_err *err)
{
    struct sbx_buf h = SBX_BUF_INIT;

    memset(ep, 0, sizeof(*ep));
    ep->url = strdup(url);
    if (o->api_key)
        ep->api_key = strdup(o->api_key);
    if (s->traffic_token) {
        ep->headers = calloc(2, sizeof(char *));
        if (ep->headers && sbx_buf_addf(&h, "e2b-traffic-access-token: %s", s->traffic_token) == 0)
            ep->headers[0] = sbx_buf_detach(&h, NULL);
    }
    sbx_buf_free(&h);
    if (!ep->url || (o->api_key && !ep->api_key) ||
        (s->traffic_token && (!ep->headers || !ep->headers[0]))) {
        sbx_endpoint_release(ep);
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    }
    return 0;
}

int sbx__e2b_bootstrap(struct sbx__e2b *e, const char *id, const struct sbx_server_opts *o,
                       struct sbx_endpoint *ep, struct sbx_err *err)
{
    struct sbx__e2b_sbx s = {0};
    struct sbx_buf url = SBX_BUF_INIT, th = SBX_BUF_INIT;
    const char *headers[2] = {NULL, NULL};
    char *type = NULL;
    const char *bin = SBX_E2B_BAKED_SERVER_PATH;
    int64_t deadline;
    int rc;

    rc = sbx__e2b_sbx_load(e, id, false, &s, err);
    if (rc < 0)
        return rc;
    sbx__e2b_keepalive(e, &s);
    if (sbx__e2b_port_url_fill(&e->cfg, id, e->cfg.server_port, s.domain, &url) < 0 ||
        (s.traffic_token &&
         sbx_buf_addf(&th, "e2b-traffic-access-token: %s", s.traffic_token) < 0)) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    if (s.traffic_token)
        headers[0] = th.ptr;
    /* Only a server this sandbox is known to run is trusted at the URL: on
     * `sbx serve e2b --backend local` every sandbox shares the host's ports,
     * so whatever answers there may be another sandbox's. */
    if (!server_process(e, &s)) {
        rc = sbx__e2b_stat(e, &s, SBX_E2B_BAKED_SERVER_PATH, &type, err);
        if (rc == 0 && alive(url.ptr, headers, 3000))
            goto done; /* baked into the template and started by it */
        if (rc == -ENOENT) {
            bin = SBX_E2B_SERVER_PATH;
            rc = put_server(e, &s, err);
        }
        if (rc == 0)
            rc = start_server(e, &s, bin, o, err);
        if (rc < 0)
            goto out;
    }
    deadline = sbx_now_ms() + READY_TIMEOUT_MS;
    while (!alive(url.ptr, headers, 3000)) {
        if (sbx_now_ms() >= deadline) {
            rc = sbx_err_set(err, -ETIMEDOUT, "e2b: bootstrap: sbx-server did not answer at "
                             "%s within %d s", url.ptr, READY_TIMEOUT_MS / 1000);
            goto out;
        }
        sbx__e2b_sleep_ms(250);
    }
done:
    rc = fill_endpoint(url.ptr, &s, o, ep, err);
out:
    free(type);
    sbx_buf_free(&url);
    sbx_buf_free(&th);
    sbx__e2b_sbx_release(&s);
    return rc;
}
