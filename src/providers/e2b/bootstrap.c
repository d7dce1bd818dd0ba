#include "providers/e2b/internal.h"

/*
 * sbx-server in an E2B sandbox, reached at the public URL of port 4444.
 *
 * Every port of an E2B sandbox is reachable from anywhere at
 * https://<port>-<id>.<domain>, so the server is guarded twice: sandboxes
 * are made with public traffic off (api.c), and every request to a port
 * carries the sandbox's traffic access token; and a server sbx starts gets
 * a SESSION_API_KEY of its own (32 random bytes), kept in the store with
 * the sandbox so that later sbx processes send it too.
 *
 * In order: a process envd knows by the tag "sbx-server" (an earlier
 * bootstrap) is used when the key sbx has for it opens it, and else killed
 * and started again with a new key (another machine started it, or the
 * store was lost: its key is unknown). A template with
 * /usr/local/bin/sbx-server (containers/e2b-sandbox) whose server already
 * answers is used as is: it started at the template's build, without a
 * key, and only the traffic token guards it. Else that binary, or the
 * static sbx-server of this host uploaded through /files, is started.
 * Starting is a Process/Start without a lifetime limit whose connection is
 * closed once the server says it listens (its stdout): envd keeps the
 * process, and one that fails (its port taken) is reported with what it
 * printed.
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
/* How long a killed server may take to leave envd's list and its port. */
#define STOP_TIMEOUT_MS 15000
/* What sbx-server prints on stdout once it listens (src/server/main.c). */
#define READY_LINE "sbx-server listening on "
#define FAILED_LINE "start-up failed"
#define ARGV_MAX 48
/* The session key of a server sbx starts: this many random bytes, in hex. */
#define KEY_BYTES 32
/* A cheap GET that sbx-server answers only with its key (not /alive or
 * /server_info, which it never guards: openhands-protocol.md §2.1). */
#define KEYED_PATH "/vscode/connection_token"

static const char *const default_plugins[] = {"agent_skills", "jupyter", NULL};

/* The status of GET <url><path> with the sandbox's traffic token and, when
 * key is not NULL, X-Session-API-Key; 0 when nothing answered. */
static int probe(const char *url, const struct sbx__e2b_sbx *s, const char *path,
                 const char *key, int64_t timeout_ms)
{
    struct sbx_http_client_opts o = {0};
    struct sbx_http_req req = {0};
    struct sbx_http_resp resp;
    struct sbx_http_client *c = NULL;
    struct sbx_buf th = SBX_BUF_INIT, kh = SBX_BUF_INIT;
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    int status = 0;

    sbx_http_resp_init(&resp);
    if (s->traffic_token) {
        if (sbx_buf_addf(&th, "e2b-traffic-access-token: %s", s->traffic_token) < 0)
            goto out;
        headers[n++] = th.ptr;
    }
    if (key) {
        if (sbx_buf_addf(&kh, "X-Session-API-Key: %s", key) < 0)
            goto out;
        headers[n++] = kh.ptr;
    }
    o.base_url = url;
    o.headers = headers;
    o.connect_timeout_ms = timeout_ms;
    c = sbx_http_client_new(&o, NULL);
    if (!c)
        goto out;
    req.path = path;
    req.timeout_ms = timeout_ms;
    req.max_body_bytes = 65536;
    if (sbx_http_request(c, &req, &resp, NULL) == 0)
        status = resp.status;
out:
    sbx_http_client_free(c);
    sbx_http_resp_release(&resp);
    sbx_buf_free(&th);
    sbx_buf_free(&kh);
    return status;
}

/* Waits until GET /alive answers 2xx. sbx-server never guards /alive, so a
 * 403 there is E2B's proxy refusing the traffic token: it is asked for
 * again once (a connect), then the refusal is the error. */
static int wait_alive(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *url,
                      struct sbx_err *err)
{
    int64_t deadline = sbx_now_ms() + READY_TIMEOUT_MS;
    bool asked = false;
    int st, rc;

    for (;;) {
        st = probe(url, s, "/alive", NULL, 3000);
        if (st / 100 == 2)
            return 0;
        if (st == 403) {
            if (asked)
                return sbx_err_set(err, -EACCES, "e2b: bootstrap: the port URL %s refused the "
                                   "sandbox's traffic access token (403)", url);
            asked = true;
            rc = sbx__e2b_sbx_traffic(e, s, true, err);
            if (rc < 0)
                return rc;
            continue;
        }
        if (sbx_now_ms() >= deadline)
            return sbx_err_set(err, -ETIMEDOUT, "e2b: bootstrap: sbx-server did not answer at "
                               "%s within %d s", url, READY_TIMEOUT_MS / 1000);
        sbx__e2b_sleep_ms(250);
    }
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

/* Kills the process tagged SERVER_TAG (Process/SendSignal) and waits until
 * envd no longer lists it and its port no longer answers. */
static int stop_server(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *url,
                       struct sbx_err *err)
{
    struct sbx_json *b = sbx_json_object_new(), *sel = sbx_json_object_new();
    int64_t deadline;
    int rc = b && sel ? sbx_json_set_str(sel, "tag", SERVER_TAG) : -ENOMEM;

    if (rc == 0) {
        rc = sbx_json_set_take(b, "process", sel);
        sel = NULL;
    }
    if (rc == 0)
        rc = sbx_json_set_str(b, "signal", "SIGNAL_SIGKILL");
    sbx_json_free(sel);
    if (rc < 0) {
        sbx_json_free(b);
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    }
    rc = sbx__e2b_envd_unary(e, s, "process.Process/SendSignal", b, NULL, err);
    sbx_json_free(b);
    if (rc < 0) {
        sbx_err_prefix(err, "bootstrap: stopping the sbx-server of unknown key");
        return rc;
    }
    deadline = sbx_now_ms() + STOP_TIMEOUT_MS;
    while (server_process(e, s) || probe(url, s, "/alive", NULL, 2000) / 100 == 2) {
        if (sbx_now_ms() >= deadline)
            return sbx_err_set(err, -ETIMEDOUT, "e2b: bootstrap: the sbx-server killed in "
                               "sandbox %s still runs after %d s", s->id,
                               STOP_TIMEOUT_MS / 1000);
        sbx__e2b_sleep_ms(250);
    }
    return 0;
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

/* Starts bin with the runtime's options and SESSION_API_KEY=key. */
static int start_server(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *bin,
                        const struct sbx_server_opts *o, const char *key, struct sbx_err *err)
{
    const char *argv[ARGV_MAX + 1], *env[2] = {NULL, NULL};
    const char *const *plugins = o->plugins ? o->plugins : default_plugins;
    struct sbx_buf kv = SBX_BUF_INIT;
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
    if (sbx_buf_addf(&kv, "SESSION_API_KEY=%s", key) < 0)
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    env[0] = kv.ptr;
    rc = sbx__e2b_spawn(e, s, argv, env, "root", SERVER_TAG, READY_LINE, FAILED_LINE, &pid,
                        err);
    sbx_buf_free(&kv);
    if (rc < 0)
        sbx_err_prefix(err, "bootstrap");
    return rc;
}

/* 1 when the server that runs at url accepts key, 0 when it refuses it,
 * else -errno. */
static int key_opens(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *url,
                     const char *key, struct sbx_err *err)
{
    int rc = wait_alive(e, s, url, err), st;

    if (rc < 0)
        return rc;
    st = probe(url, s, KEYED_PATH, key, 10000);
    if (st / 100 == 2)
        return 1;
    if (st == 403)
        return 0;
    return sbx_err_set(err, -EPROTO, "e2b: bootstrap: sbx-server at %s answered %d to a request "
                       "with its key", url, st);
}

/* Makes sbx-server answer at url with a key sbx knows: *key_out (heap; NULL
 * for the template's server, which has none). */
static int ensure_server(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *url,
                         const struct sbx_server_opts *o, char **key_out, struct sbx_err *err)
{
    const char *want = o->api_key ? o->api_key : s->server_key;
    const char *bin = SBX_E2B_BAKED_SERVER_PATH, *key;
    char fresh[2 * KEY_BYTES + 1];
    bool refused = false;
    char *type = NULL;
    int rc;

    *key_out = NULL;
    /* Only a server this sandbox is known to run is trusted at the URL: on
     * `sbx serve e2b --backend local` every sandbox shares the host's ports,
     * so whatever answers there may be another sandbox's. */
    if (server_process(e, s)) {
        if (want) {
            /* a copy: wait_alive may reload s, and s->server_key with it */
            char *k = strdup(want);

            rc = k ? key_opens(e, s, url, k, err) : sbx_err_set(err, -ENOMEM, "e2b: out of memory");
            if (rc > 0 && (!s->server_key || strcmp(s->server_key, k))) {
                rc = sbx__e2b_sbx_set_key(e, s, k, err);
                if (rc == 0)
                    rc = 1;
            }
            if (rc > 0) {
                *key_out = k;
                return 0;
            }
            free(k);
            if (rc < 0)
                return rc;
            refused = true; /* another sbx started it again with a key of its own */
        }
        rc = stop_server(e, s, url, err);
        if (rc < 0)
            return rc;
    }
    rc = sbx__e2b_stat(e, s, SBX_E2B_BAKED_SERVER_PATH, &type, err);
    free(type);
    if (rc == 0 && probe(url, s, "/alive", NULL, 3000) / 100 == 2) {
        /* baked into the template and started by it, without a key: the
         * caller's is sent (and ignored), the traffic token guards it */
        *key_out = o->api_key ? strdup(o->api_key) : NULL;
        return o->api_key && !*key_out ? sbx_err_set(err, -ENOMEM, "e2b: out of memory") : 0;
    }
    if (rc == -ENOENT) {
        bin = SBX_E2B_SERVER_PATH;
        rc = put_server(e, s, err);
    }
    if (rc < 0)
        return rc;
    if (o->api_key) {
        key = o->api_key;
    } else if (s->server_key && !refused) {
        key = s->server_key;
    } else {
        if (sbx__e2b_random_hex(fresh, KEY_BYTES) < 0)
            return sbx_err_set(err, -EIO, "e2b: bootstrap: no random bytes for the session key");
        key = fresh;
    }
    *key_out = strdup(key);
    if (!*key_out)
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    /* known before the server runs, so that an sbx process bootstrapping
     * meanwhile waits for it instead of killing it */
    rc = sbx__e2b_sbx_set_key(e, s, *key_out, err);
    if (rc == 0)
        rc = start_server(e, s, bin, o, *key_out, err);
    if (rc == 0)
        rc = wait_alive(e, s, url, err);
    if (rc < 0) {
        free(*key_out);
        *key_out = NULL;
    }
    return rc;
}

static int fill_endpoint(const char *url, const struct sbx__e2b_sbx *s, char *key,
                         struct sbx_endpoint *ep, struct sbx_err *err)
{
    struct sbx_buf h = SBX_BUF_INIT;

    memset(ep, 0, sizeof(*ep));
    ep->url = strdup(url);
    ep->api_key = key;
    if (s->traffic_token) {
        ep->headers = calloc(2, sizeof(char *));
        if (ep->headers && sbx_buf_addf(&h, "e2b-traffic-access-token: %s", s->traffic_token) == 0)
            ep->headers[0] = sbx_buf_detach(&h, NULL);
    }
    sbx_buf_free(&h);
    if (!ep->url || (s->traffic_token && (!ep->headers || !ep->headers[0]))) {
        sbx_endpoint_release(ep);
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    }
    return 0;
}

int sbx__e2b_bootstrap(struct sbx__e2b *e, const char *id, const struct sbx_server_opts *o,
                       struct sbx_endpoint *ep, struct sbx_err *err)
{
    struct sbx__e2b_sbx s = {0};
    struct sbx_buf url = SBX_BUF_INIT;
    char *key = NULL;
    int rc;

    rc = sbx__e2b_sbx_load(e, id, false, &s, err);
    if (rc < 0)
        return rc;
    sbx__e2b_keepalive(e, &s);
    /* a later process, or a sandbox made elsewhere: the token through connect */
    rc = sbx__e2b_sbx_traffic(e, &s, false, err);
    if (rc < 0)
        goto out;
    if (sbx__e2b_port_url_fill(&e->cfg, id, e->cfg.server_port, s.domain, &url) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    rc = ensure_server(e, &s, url.ptr, o, &key, err);
    if (rc == 0)
        rc = fill_endpoint(url.ptr, &s, key, ep, err);
    else
        free(key);
out:
    sbx_buf_free(&url);
    sbx__e2b_sbx_release(&s);
    return rc;
}
