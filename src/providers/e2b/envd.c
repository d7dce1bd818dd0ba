#include "providers/e2b/internal.h"

/*
 * envd, the agent in every E2B sandbox, over Connect with the JSON codec on
 * HTTP/1.1 (providers.md §0.3 and §1.5; process.proto, filesystem.proto):
 * unary calls, and Process/Start's enveloped server stream for exec.
 *
 * A command's stream that breaks before its end event is -EPIPE when the
 * sandbox went away, else -ECONNRESET, with a message (never a hang: a cut connection ends the request, and a stream
 * that closes without its end-of-stream envelope is refused by the reader).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base64.h"
#include "base/time.h"
#include "net/connect.h"

/* "root:" in base64: envd runs the process as root. */
#define ROOT_AUTH "Authorization: Basic cm9vdDo="

struct sbx_http_client *sbx__e2b_envd_client(struct sbx__e2b *e, const struct sbx__e2b_sbx *s,
                                             struct sbx_err *err)
{
    struct sbx_http_client_opts o = {0};
    struct sbx_buf url = SBX_BUF_INIT, tok = SBX_BUF_INIT, sid = SBX_BUF_INIT;
    struct sbx_http_client *c = NULL;
    const char *headers[5];
    size_t n = 0;

    if (sbx__e2b_envd_url(&e->cfg, s->id, s->domain, &url) < 0 ||
        sbx_buf_addf(&sid, "E2b-Sandbox-Id: %s", s->id) < 0 ||
        (s->token && sbx_buf_addf(&tok, "X-Access-Token: %s", s->token) < 0)) {
        sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    headers[n++] = sid.ptr;
    headers[n++] = "E2b-Sandbox-Port: 49983";
    if (s->token)
        headers[n++] = tok.ptr;
    headers[n++] = "User-Agent: sbx-e2b";
    headers[n] = NULL;
    o.base_url = url.ptr;
    o.headers = headers;
    c = sbx_http_client_new(&o, err);
out:
    sbx_buf_free(&url);
    sbx_buf_free(&tok);
    sbx_buf_free(&sid);
    return c;
}

int sbx__e2b_envd_error(const char *id, const char *rpc, int status, const char *body,
                        size_t len, struct sbx_err *err)
{
    struct sbx_connect_error ce = {0};
    struct sbx_json *v;
    enum sbx_connect_code code;
    int rc;

    if (body && len && sbx_connect_parse_error(body, len, false, &ce, NULL) == 0 &&
        ce.code != SBX_CONNECT_OK) {
        rc = ce.code == SBX_CONNECT_UNAUTHENTICATED ? -EACCES : sbx_connect_code_errno(ce.code);
        return sbx_err_set(err, rc, "e2b: %s in sandbox %s: %s: %s", rpc, id,
                           sbx_connect_code_name(ce.code), ce.message);
    }
    /* E2B's proxy and envd's HTTP routes answer {"code":N,"message":"..."} */
    v = body && len ? sbx_json_parse(body, len, NULL) : NULL;
    if (v && sbx_json_get(v, "message") &&
        sbx_json_type(sbx_json_get(v, "message")) == SBX_JSON_STRING) {
        const char *m = sbx_json_str(sbx_json_get(v, "message"));

        if (status == 502 && strstr(m, "not found"))
            rc = sbx_err_set(err, -EPIPE, "e2b: sandbox %s is gone (killed or timed out): %s", id,
                             m);
        else if (status == 401)
            rc = sbx_err_set(err, -EACCES, "e2b: %s in sandbox %s: envd refused the access "
                             "token: %s", rpc, id, m);
        else
            rc = sbx_err_set(err, status == 404 ? -ENOENT : status == 400 ? -EINVAL
                             : status == 507 ? -ENOSPC : -EIO,
                             "e2b: %s in sandbox %s: %d %s", rpc, id, status, m);
        sbx_json_free(v);
        return rc;
    }
    sbx_json_free(v);
    code = sbx_connect_code_from_http(status);
    rc = code == SBX_CONNECT_UNAUTHENTICATED ? -EACCES : sbx_connect_code_errno(code);
    return sbx_err_set(err, rc, "e2b: %s in sandbox %s: HTTP %d", rpc, id, status);
}

int sbx__e2b_gone_or(struct sbx__e2b *e, const char *id, int rc, struct sbx_err *err)
{
    struct sbx_json *v = NULL;
    int grc = sbx__e2b_get_raw(e, id, &v, NULL);

    if (grc == -ENOENT) {
        sbx_json_free(v);
        return sbx_err_set(err, -EPIPE, "e2b: sandbox %s is gone (killed or timed out)", id);
    }
    if (grc == 0 && !strcmp(sbx_json_str(sbx_json_get(v, "state")), "paused")) {
        sbx_json_free(v);
        return sbx_err_set(err, -EPIPE, "e2b: sandbox %s is paused (sbx resume %s)", id, id);
    }
    sbx_json_free(v);
    return rc;
}

/* One unary call on client c, without a token refetch. */
static int unary_once(struct sbx_http_client *c, const char *id, const char *rpc,
                      const struct sbx_json *body, const char *user_hdr, struct sbx_json **out,
                      int *status_out, struct sbx_err *err)
{
    const char *hdrs[] = {"Content-Type: application/json", "Connect-Protocol-Version: 1",
                          user_hdr, NULL};
    struct sbx_buf path = SBX_BUF_INIT, b = SBX_BUF_INIT;
    struct sbx_http_req req = {0};
    struct sbx_http_resp resp;
    struct sbx_err perr = {0};
    int rc;

    sbx_http_resp_init(&resp);
    *status_out = 0;
    if (sbx_buf_addf(&path, "/%s", rpc) < 0 || sbx_json_dump(body, &b) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    req.method = "POST";
    req.path = path.ptr;
    req.headers = hdrs;
    req.body = b.ptr;
    req.body_len = b.len;
    req.max_body_bytes = SBX_CONNECT_DEFAULT_MAX_MESSAGE;
    req.timeout_ms = 60000;
    rc = sbx_http_request(c, &req, &resp, err);
    if (rc < 0) {
        sbx_err_prefix(err, "e2b: %s in sandbox %s", rpc, id);
        goto out;
    }
    *status_out = resp.status;
    if (resp.status != 200) {
        rc = sbx__e2b_envd_error(id, rpc, resp.status, resp.body.ptr, resp.body.len, err);
        goto out;
    }
    if (out) {
        *out = sbx_json_parse(resp.body.ptr, resp.body.len, &perr);
        if (!*out)
            rc = sbx_err_set(err, -EPROTO, "e2b: %s in sandbox %s: the answer is not JSON: %s",
                             rpc, id, perr.msg);
    }
out:
    sbx_http_resp_release(&resp);
    sbx_buf_free(&path);
    sbx_buf_free(&b);
    return rc;
}

static int unary_as(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *rpc,
                    const struct sbx_json *body, const char *user_hdr, struct sbx_json **out,
                    struct sbx_err *err)
{
    int rc = -EIO, status = 0;

    if (out)
        *out = NULL;
    for (int round = 0; round < 2; round++) {
        struct sbx_http_client *c = sbx__e2b_envd_client(e, s, err);

        if (!c)
            return err && err->code ? err->code : -ENOMEM;
        rc = unary_once(c, s->id, rpc, body, user_hdr, out, &status, err);
        sbx_http_client_free(c);
        if (rc != -EACCES || status != 401 || round == 1)
            break;
        /* a token that changed (the sandbox was resumed elsewhere): refetch */
        rc = sbx__e2b_sbx_refetch(e, s, err);
        if (rc < 0)
            return rc;
    }
    if (rc < 0 && status == 0)
        rc = sbx__e2b_gone_or(e, s->id, rc, err);
    return rc;
}

int sbx__e2b_envd_unary(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *rpc,
                        const struct sbx_json *body, struct sbx_json **out, struct sbx_err *err)
{
    return unary_as(e, s, rpc, body, NULL, out, err);
}

int sbx__e2b_stat(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *path, char **type_out,
                  struct sbx_err *err)
{
    struct sbx_json *b = sbx_json_object_new(), *out = NULL;
    int rc = b && sbx_json_set_str(b, "path", path) == 0 ? 0 : -ENOMEM;

    *type_out = NULL;
    if (rc == 0)
        rc = sbx__e2b_envd_unary(e, s, "filesystem.Filesystem/Stat", b, &out, err);
    else
        sbx_err_set(err, rc, "e2b: out of memory");
    if (rc == 0) {
        *type_out = strdup(sbx_json_str(sbx_json_get(sbx_json_get(out, "entry"), "type")));
        if (!*type_out)
            rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    }
    sbx_json_free(b);
    sbx_json_free(out);
    return rc;
}

bool sbx__e2b_version_at_least(const char *v, const char *min)
{
    if (!v || !*v)
        return true;
    while (*v || *min) {
        char *end;
        unsigned long a = strtoul(v, &end, 10), b;

        v = *end == '.' ? end + 1 : end;
        b = strtoul(min, &end, 10);
        min = *end == '.' ? end + 1 : end;
        if (a != b)
            return a > b;
        if (!*v && !*min)
            break;
        /* a part that is no number (a pre-release suffix) ends the comparison */
        if ((*v && (*v < '0' || *v > '9')) || (*min && (*min < '0' || *min > '9')))
            break;
    }
    return true;
}

/* ---- exit status ------------------------------------------------------------- */

/* Go's names of signals (syscall's signal table), as ProcessState.String()
 * prints them after "signal: ". */
static const struct {
    const char *name;
    int sig;
} go_signals[] = {
    {"hangup", 1}, {"interrupt", 2}, {"quit", 3}, {"illegal instruction", 4},
    {"trace/breakpoint trap", 5}, {"aborted", 6}, {"bus error", 7},
    {"floating point exception", 8}, {"killed", 9}, {"user defined signal 1", 10},
    {"segmentation fault", 11}, {"user defined signal 2", 12}, {"broken pipe", 13},
    {"alarm clock", 14}, {"terminated", 15},
};

void sbx__e2b_end_status(const struct sbx_json *end, int *exit_code, int *term_signal)
{
    const char *status = sbx_json_str(sbx_json_get(end, "status"));
    int64_t code = sbx_json_int(sbx_json_get(end, "exitCode"));

    *term_signal = 0;
    if (!strncmp(status, "signal: ", 8)) {
        const char *n = status + 8;

        for (size_t i = 0; i < sizeof(go_signals) / sizeof(go_signals[0]); i++)
            if (!strncmp(n, go_signals[i].name, strlen(go_signals[i].name)))
                *term_signal = go_signals[i].sig;
        if (!*term_signal && !strncmp(n, "signal ", 7))
            *term_signal = (int)strtol(n + 7, NULL, 10);
        if (*term_signal > 0 && *term_signal < 128) {
            *exit_code = 128 + *term_signal;
            return;
        }
        *term_signal = 0;
    }
    *exit_code = code < 0 || code > 255 ? 255 : (int)code;
}

/* ---- Process/Start ------------------------------------------------------------- */

struct pump {
    struct sbx__e2b *e;
    struct sbx__e2b_sbx s; /* copies: the thread's own */
    int fd;
    int64_t pid;
    int stop[2];
    pthread_t th;
    bool running;
};

struct stream {
    struct sbx_connect_reader rd;
    char id[64];
    int out_fd, err_fd;
    struct sbx_buf out, errb;
    bool only_start; /* stop reading after the start frame */
    const char *ready; /* with only_start: stop once stdout holds this instead */
    const char *failed; /* ... or stderr this (the process failed to start) */
    bool is_ready, is_failed;
    bool started, got_end, has_end_err;
    bool after_end; /* an event came after the end event: reading stopped */
    int64_t pid;
    int exit_code, term_signal;
    struct sbx_connect_error end_err;
    struct sbx_buf dec;
    int cb_rc;
    struct sbx_err cb_err;
    bool use_cancel;
    int cancel_fd;
    bool canceled;
    int64_t last_ms;   /* monotonic time of the last byte */
    int64_t idle_ms;   /* the request's idle limit */
    bool stalled;      /* it ran out: nothing, not even a keepalive, came */
    struct pump *pump; /* NULL: no stdin */
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int pid_body(struct sbx_json **out, int64_t pid)
{
    struct sbx_json *b = sbx_json_object_new(), *sel = sbx_json_object_new();
    int rc = b && sel ? sbx_json_set_int(sel, "pid", pid) : -ENOMEM;

    if (rc == 0) {
        rc = sbx_json_set_take(b, "process", sel);
        sel = NULL;
    }
    sbx_json_free(sel);
    if (rc < 0) {
        sbx_json_free(b);
        return -ENOMEM;
    }
    *out = b;
    return 0;
}

static void *pump_main(void *arg)
{
    struct pump *pu = arg;
    struct sbx_http_client *c = sbx__e2b_envd_client(pu->e, &pu->s, NULL);
    struct sbx_buf b64 = SBX_BUF_INIT;
    char buf[32768];
    int status;

    for (bool done = false; c && !done;) {
        struct pollfd pf[2] = {{pu->fd, POLLIN, 0}, {pu->stop[0], POLLIN, 0}};
        struct sbx_json *body = NULL, *in = NULL;
        ssize_t n;

        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            break;
        n = read(pu->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (pid_body(&body, pu->pid) < 0)
            break;
        if (n <= 0) {
            unary_once(c, pu->s.id, "process.Process/CloseStdin", body, NULL, NULL, &status,
                       NULL);
            sbx_json_free(body);
            break;
        }
        sbx_buf_reset(&b64);
        in = sbx_json_object_new();
        if (!in || sbx_base64_encode(buf, (size_t)n, &b64) < 0 ||
            sbx_json_set_strn(in, "stdin", b64.ptr, b64.len) < 0 ||
            sbx_json_set_take(body, "input", in) < 0)
            done = true;
        else if (unary_once(c, pu->s.id, "process.Process/SendInput", body, NULL, NULL, &status,
                            NULL) < 0)
            done = true; /* the process is gone: nothing more to send */
        sbx_json_free(body);
    }
    sbx_buf_free(&b64);
    sbx_http_client_free(c);
    return NULL;
}

static int pump_start(struct stream *st)
{
    struct pump *pu = st->pump;

    pu->pid = st->pid;
    if (pipe2(pu->stop, O_CLOEXEC) < 0)
        return -errno;
    if (pthread_create(&pu->th, NULL, pump_main, pu) != 0) {
        close(pu->stop[0]);
        close(pu->stop[1]);
        return -EAGAIN;
    }
    pu->running = true;
    return 0;
}

static void pump_stop(struct pump *pu)
{
    if (!pu || !pu->running)
        return;
    (void)!write(pu->stop[1], "x", 1);
    pthread_join(pu->th, NULL);
    close(pu->stop[0]);
    close(pu->stop[1]);
    pu->running = false;
}

static int on_event(struct stream *st, const char *msg, size_t len)
{
    struct sbx_err perr = {0};
    struct sbx_json *v = sbx_json_parse(msg, len, &perr), *ev, *x;
    int rc = 0;

    if (!v)
        return sbx_err_set(&st->cb_err, -EPROTO, "e2b: Process/Start in sandbox %s: a frame "
                           "that is not JSON: %s", st->id, perr.msg);
    if (st->got_end) {
        /* the end event is the last word; a stream that goes on after it
         * (keepalives, never closed) is not waited for */
        sbx_json_free(v);
        st->after_end = true;
        return -ECANCELED;
    }
    ev = sbx_json_get(v, "event");
    if ((x = sbx_json_get(ev, "start"))) {
        st->started = true;
        st->pid = sbx_json_int(sbx_json_get(x, "pid"));
        if (st->pump && !st->only_start && pump_start(st) < 0)
            rc = sbx_err_set(&st->cb_err, -EAGAIN, "e2b: exec: cannot start the stdin pump");
        if (st->only_start && !st->ready && rc == 0)
            rc = -ECANCELED;
    } else if ((x = sbx_json_get(ev, "data"))) {
        const char *key = sbx_json_get(x, "stdout") ? "stdout"
                          : sbx_json_get(x, "stderr") ? "stderr" : "pty";
        struct sbx_json *d = sbx_json_get(x, key);
        bool to_err = !strcmp(key, "stderr");
        int fd = to_err ? st->err_fd : st->out_fd;

        sbx_buf_reset(&st->dec);
        if (sbx_base64_decode(sbx_json_str(d), sbx_json_str_len(d), &st->dec) < 0)
            rc = sbx_err_set(&st->cb_err, -EPROTO, "e2b: Process/Start in sandbox %s: %s is "
                             "not base64", st->id, key);
        else if (fd >= 0)
            rc = write_all(fd, st->dec.ptr, st->dec.len) < 0
                     ? sbx_err_set(&st->cb_err, -EIO, "e2b: exec: writing the command's %s: %s",
                                   key, strerror(errno))
                     : 0;
        else if (sbx_buf_add(to_err ? &st->errb : &st->out, st->dec.ptr, st->dec.len) < 0)
            rc = sbx_err_set(&st->cb_err, -E2BIG, "e2b: exec: the command's %s is too large "
                             "to capture", key);
        if (rc == 0 && st->ready && strstr(st->out.ptr, st->ready)) {
            st->is_ready = true;
            rc = -ECANCELED;
        } else if (rc == 0 && st->failed && strstr(st->errb.ptr, st->failed)) {
            /* its children may keep the output open long after it exited */
            st->is_failed = true;
            rc = -ECANCELED;
        }
    } else if ((x = sbx_json_get(ev, "end"))) {
        st->got_end = true;
        sbx__e2b_end_status(x, &st->exit_code, &st->term_signal);
    }
    /* keepalive, and events a newer envd may add: nothing to do */
    sbx_json_free(v);
    return rc;
}

static int on_data(const void *p, size_t n, void *ud)
{
    struct stream *st = ud;
    const char *c = p;

    st->last_ms = sbx_now_ms();
    if (st->use_cancel) {
        struct pollfd pf = {st->cancel_fd, POLLIN, 0};

        if (poll(&pf, 1, 0) > 0) {
            st->canceled = true;
            return -ECANCELED;
        }
    }
    while (n > 0) {
        ssize_t k = sbx_connect_reader_feed(&st->rd, c, n, &st->cb_err);
        int rc;

        if (k < 0)
            return st->cb_rc = (int)k;
        c += k;
        n -= (size_t)k;
        if (!sbx_connect_reader_ready(&st->rd))
            continue;
        if (st->rd.flags & SBX_CONNECT_FLAG_END) {
            rc = sbx_connect_parse_error(st->rd.msg.ptr, st->rd.msg.len, true, &st->end_err,
                                         &st->cb_err);
            if (rc < 0)
                return st->cb_rc = rc;
            st->has_end_err = st->end_err.code != SBX_CONNECT_OK;
            continue;
        }
        rc = on_event(st, st->rd.msg.ptr, st->rd.msg.len);
        if (rc < 0)
            return st->cb_rc = rc;
    }
    return 0;
}

static int start_body(const char *const *argv, const char *const *env, const char *cwd,
                      const char *tag, bool stdin_on, struct sbx_buf *out)
{
    struct sbx_json *b = sbx_json_object_new(), *proc = sbx_json_object_new();
    struct sbx_json *args = sbx_json_array_new(), *envs = sbx_json_object_new();
    int rc = b && proc && args && envs ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx_json_set_str(proc, "cmd", argv[0]);
    for (size_t i = 1; rc == 0 && argv[i]; i++)
        rc = sbx_json_append_take(args, sbx_json_cstr_new(argv[i]));
    for (size_t i = 0; rc == 0 && env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        char *k;

        if (!eq)
            return -EINVAL;
        k = strndup(env[i], (size_t)(eq - env[i]));
        rc = k ? sbx_json_set_str(envs, k, eq + 1) : -ENOMEM;
        free(k);
    }
    if (rc == 0) {
        rc = sbx_json_set_take(proc, "args", args);
        args = NULL;
    }
    if (rc == 0) {
        rc = sbx_json_set_take(proc, "envs", envs);
        envs = NULL;
    }
    if (rc == 0 && cwd)
        rc = sbx_json_set_str(proc, "cwd", cwd);
    if (rc == 0) {
        rc = sbx_json_set_take(b, "process", proc);
        proc = NULL;
    }
    if (rc == 0 && tag)
        rc = sbx_json_set_str(b, "tag", tag);
    if (rc == 0)
        rc = sbx_json_set_bool(b, "stdin", stdin_on);
    if (rc == 0)
        rc = sbx_json_dump(b, out);
    sbx_json_free(b);
    sbx_json_free(proc);
    sbx_json_free(args);
    sbx_json_free(envs);
    return rc;
}

struct start_opts {
    const char *const *argv;
    const char *const *env;
    const char *cwd;
    const char *user_hdr;
    int64_t timeout_ms; /* 0 = no lifetime limit (no Connect-Timeout-Ms) */
    const char *tag;    /* NULL = none */
};

/* One Process/Start request, its stream read into st. */
static int start_once(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const struct start_opts *so,
                      struct stream *st, int *status_out, struct sbx_err *err)
{
    struct sbx_buf msg = SBX_BUF_INIT, env = SBX_BUF_INIT, tmo = SBX_BUF_INIT,
                   ka = SBX_BUF_INIT;
    const char *hdrs[7];
    size_t nh = 0;
    struct sbx_http_client *c = NULL;
    struct sbx_http_req req = {0};
    struct sbx_http_resp resp;
    /* 1 s when a cancel descriptor must be watched: the events wake the
     * reader up */
    int ka_s = st->use_cancel ? 1 : e->cfg.keepalive_s;
    int rc;

    sbx_http_resp_init(&resp);
    *status_out = 0;
    rc = start_body(so->argv, so->env, so->cwd, so->tag, st->pump != NULL, &msg);
    if (rc == -EINVAL) {
        rc = sbx_err_set(err, -EINVAL, "e2b: exec: an environment entry is not KEY=value");
        goto out;
    }
    if (rc < 0 || sbx_connect_envelope(&env, 0, msg.ptr, msg.len) < 0 ||
        sbx_buf_addf(&ka, "Keepalive-Ping-Interval: %d", ka_s) < 0 ||
        (so->timeout_ms > 0 &&
         sbx_buf_addf(&tmo, "Connect-Timeout-Ms: %" PRId64, so->timeout_ms) < 0)) {
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
        goto out;
    }
    hdrs[nh++] = "Content-Type: application/connect+json";
    hdrs[nh++] = "Connect-Protocol-Version: 1";
    hdrs[nh++] = ka.ptr;
    if (so->timeout_ms > 0)
        hdrs[nh++] = tmo.ptr;
    if (so->user_hdr)
        hdrs[nh++] = so->user_hdr;
    hdrs[nh] = NULL;
    c = sbx__e2b_envd_client(e, s, err);
    if (!c) {
        rc = err && err->code ? err->code : -ENOMEM;
        goto out;
    }
    req.method = "POST";
    req.path = "/process.Process/Start";
    req.headers = hdrs;
    req.body = env.ptr;
    req.body_len = env.len;
    req.on_data = on_data;
    req.on_data_ud = st;
    /* envd ends the stream at the deadline; the slack covers the way back */
    req.timeout_ms = so->timeout_ms > 0 ? so->timeout_ms + 30000 : 0;
    if (st->only_start)
        req.timeout_ms = 60000; /* the start frame, or the ready line */
    /* envd sends an event at least every ka_s seconds */
    st->idle_ms = req.idle_timeout_ms = sbx__e2b_idle_ms(ka_s);
    st->last_ms = sbx_now_ms();
    rc = sbx_http_request(c, &req, &resp, err);
    st->stalled = rc == -ETIMEDOUT && sbx_now_ms() - st->last_ms >= st->idle_ms - 1000;
    *status_out = resp.status;
    if (rc == 0 && resp.status != 200)
        rc = sbx__e2b_envd_error(s->id, "Process/Start", resp.status, resp.body.ptr,
                                 resp.body.len, err);
out:
    sbx_http_client_free(c);
    sbx_http_resp_release(&resp);
    sbx_buf_free(&msg);
    sbx_buf_free(&env);
    sbx_buf_free(&tmo);
    sbx_buf_free(&ka);
    return rc;
}

static void stream_init(struct stream *st, const char *id)
{
    memset(st, 0, sizeof(*st));
    sbx_connect_reader_init(&st->rd, SBX_CONNECT_DEFAULT_MAX_MESSAGE);
    snprintf(st->id, sizeof(st->id), "%s", id);
    st->out_fd = st->err_fd = -1;
    sbx_buf_init(&st->out, (size_t)64 << 20);
    sbx_buf_init(&st->errb, (size_t)64 << 20);
    sbx_buf_init(&st->dec, 0);
}

static void stream_free(struct stream *st)
{
    sbx_connect_reader_free(&st->rd);
    sbx_buf_free(&st->out);
    sbx_buf_free(&st->errb);
    sbx_buf_free(&st->dec);
}

/* Starts so, refetching the token once after a 401. */
static int start(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const struct start_opts *so,
                 struct stream *st, struct sbx_err *err)
{
    int status = 0, rc = -EIO;

    for (int round = 0; round < 2; round++) {
        rc = start_once(e, s, so, st, &status, err);
        if (rc != -EACCES || status != 401 || round == 1)
            break;
        rc = sbx__e2b_sbx_refetch(e, s, err);
        if (rc < 0)
            return rc;
    }
    return rc;
}

static void kill_pid(struct sbx__e2b *e, struct sbx__e2b_sbx *s, int64_t pid)
{
    struct sbx_json *b = NULL;

    if (pid_body(&b, pid) == 0 && sbx_json_set_str(b, "signal", "SIGNAL_SIGKILL") == 0)
        sbx__e2b_envd_unary(e, s, "process.Process/SendSignal", b, NULL, NULL);
    sbx_json_free(b);
}

/* What a Process/Start that returned rc (with the stream's state) means. */
static int finish(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *what,
                  struct stream *st, int rc, bool timed, struct sbx_err *err)
{
    if (rc == -ECANCELED && st->canceled)
        return 0;
    if (rc == -ECANCELED && st->after_end)
        return 0; /* the end event said all there is */
    if (rc < 0 && st->cb_rc < 0 && rc == st->cb_rc) {
        if (err)
            *err = st->cb_err;
        return rc;
    }
    if (rc == -ETIMEDOUT && st->stalled) {
        int grc = sbx__e2b_gone_or(e, s->id, 0, err);

        if (grc < 0)
            return grc;
        return sbx_err_set(err, -ECONNRESET,
                           "e2b: the stream of '%s' in sandbox %s went silent for %" PRId64
                           " s, envd's keepalives included (a dead connection); its outcome is "
                           "unknown", what, s->id, st->idle_ms / 1000);
    }
    if (rc == -ETIMEDOUT && timed)
        return 0; /* envd did not end it in time: counted as timed out below */
    if (rc == 0 && sbx_connect_reader_finish(&st->rd, NULL) < 0)
        rc = -ECONNRESET; /* closed without its end-of-stream envelope */
    if (rc == 0 && st->has_end_err) {
        if (st->end_err.code == SBX_CONNECT_DEADLINE_EXCEEDED && timed)
            return 0;
        return sbx_err_set(err, st->end_err.code == SBX_CONNECT_UNAUTHENTICATED
                                    ? -EACCES : sbx_connect_code_errno(st->end_err.code),
                           "e2b: '%s' in sandbox %s: %s: %s", what, s->id,
                           sbx_connect_code_name(st->end_err.code), st->end_err.message);
    }
    if (rc == 0 && !st->got_end)
        rc = -ECONNRESET;
    if (rc == -ECONNRESET || rc == -EPROTO || rc == -ECONNREFUSED || rc == -EPIPE ||
        rc == -ETIMEDOUT) {
        int grc = sbx__e2b_gone_or(e, s->id, 0, err);

        if (grc < 0)
            return grc;
        /* the sandbox is there (-EPIPE is for one that went away): the
         * connection failed, an infrastructure error */
        return sbx_err_set(err, -ECONNRESET,
                           "e2b: the stream of '%s' in sandbox %s broke before the command "
                           "ended (%s); its outcome is unknown",
                           what, s->id, st->started ? "after it started" : "before it started");
    }
    return rc;
}

int sbx__e2b_exec(struct sbx__e2b *e, const char *id, const struct sbx_exec_req *req,
                  struct sbx_exec_result *res, struct sbx_err *err)
{
    struct sbx__e2b_sbx s = {0};
    struct start_opts so = {req->argv, req->env, req->cwd, NULL, req->timeout_ms, NULL};
    struct pump pu = {0};
    struct stream st;
    int rc;

    if (req->tty)
        return sbx_err_set(err, -ENOTSUP, "e2b: exec: a terminal (tty) is not supported by "
                           "the e2b provider; run without -t");
    rc = sbx__e2b_sbx_load(e, id, false, &s, err);
    if (rc < 0)
        return rc;
    sbx__e2b_keepalive(e, &s);
    stream_init(&st, id);
    st.out_fd = req->stdout_fd;
    st.err_fd = req->stderr_fd;
    st.use_cancel = req->use_cancel_fd;
    st.cancel_fd = req->cancel_fd;
    if (req->stdin_fd >= 0) {
        pu.e = e;
        pu.fd = req->stdin_fd;
        pu.s.id = strdup(s.id);
        pu.s.token = s.token ? strdup(s.token) : NULL;
        pu.s.domain = s.domain ? strdup(s.domain) : NULL;
        if (!pu.s.id || (s.token && !pu.s.token) || (s.domain && !pu.s.domain)) {
            rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
            goto out;
        }
        st.pump = &pu;
    }
    rc = start(e, &s, &so, &st, err);
    pump_stop(st.pump);
    /* envd keeps a process whose stream's client went away: one sbx stopped
     * reading (canceled, its output could not be delivered, or its stream
     * outlived the command's timeout or went silent) is killed */
    if ((st.canceled || (rc < 0 && st.cb_rc < 0 && rc == st.cb_rc) || rc == -ETIMEDOUT) &&
        !st.got_end && st.pid > 0)
        kill_pid(e, &s, st.pid);
    rc = finish(e, &s, req->argv[0], &st, rc, req->timeout_ms > 0, err);
    if (rc < 0)
        goto out;
    res->canceled = st.canceled;
    res->exit_code = st.exit_code;
    res->term_signal = st.term_signal;
    if (st.canceled) {
        res->exit_code = 128 + SIGKILL;
        res->term_signal = SIGKILL;
    } else if (req->timeout_ms > 0 && (!st.got_end || (st.has_end_err &&
               st.end_err.code == SBX_CONNECT_DEADLINE_EXCEEDED))) {
        res->timed_out = true;
        if (!st.got_end) {
            res->exit_code = 128 + SIGKILL;
            res->term_signal = SIGKILL;
        }
    }
    if (req->stdout_fd < 0)
        res->out = sbx_buf_detach(&st.out, &res->out_len);
    if (req->stderr_fd < 0)
        res->err = sbx_buf_detach(&st.errb, &res->err_len);
    if ((req->stdout_fd < 0 && !res->out) || (req->stderr_fd < 0 && !res->err)) {
        sbx_exec_result_release(res);
        rc = sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    }
out:
    stream_free(&st);
    sbx__e2b_sbx_release(&pu.s);
    sbx__e2b_sbx_release(&s);
    return rc;
}

int sbx__e2b_spawn(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *const *argv,
                   const char *const *env, const char *user, const char *tag, const char *ready,
                   const char *failed, int64_t *pid_out, struct sbx_err *err)
{
    struct start_opts so = {argv, env, NULL, user && !strcmp(user, "root") ? ROOT_AUTH : NULL, 0,
                            tag};
    struct stream st;
    int rc;

    stream_init(&st, s->id);
    st.only_start = true;
    st.ready = ready;
    /* what the server prints before it is ready stays small */
    st.out.max = st.errb.max = (size_t)1 << 20;
    st.failed = ready ? failed : NULL;
    rc = start(e, s, &so, &st, err);
    if (st.is_failed || (ready && rc == -ETIMEDOUT)) {
        rc = sbx_err_set(err, st.is_failed ? -EIO : -ETIMEDOUT,
                         "e2b: '%s' in sandbox %s %s: %.160s", argv[0], s->id,
                         st.is_failed ? "failed to start" : "was not ready within 60 s",
                         st.errb.len ? st.errb.ptr : st.out.ptr);
    } else if (rc == -ECANCELED && st.started && (!ready || st.is_ready)) {
        rc = 0;
        *pid_out = st.pid;
        if (err)
            sbx_err_clear(err);
    } else {
        rc = finish(e, s, argv[0], &st, rc, false, err);
        if (rc == 0 && st.got_end)
            rc = sbx_err_set(err, -EIO, "e2b: '%s' in sandbox %s exited (status %d) before it "
                             "was ready: %.160s", argv[0], s->id, st.exit_code,
                             st.errb.len ? st.errb.ptr : st.out.ptr);
        else if (rc == 0)
            rc = sbx_err_set(err, -EPROTO, "e2b: starting '%s' in sandbox %s: the stream "
                             "ended without a start event", argv[0], s->id);
    }
    stream_free(&st);
    return rc;
}

int sbx__e2b_run_ok(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *const *argv,
                    const char *user, struct sbx_err *err)
{
    struct start_opts so = {argv, NULL, NULL, user && !strcmp(user, "root") ? ROOT_AUTH : NULL,
                            60000, NULL};
    struct stream st;
    int rc;

    stream_init(&st, s->id);
    rc = start(e, s, &so, &st, err);
    rc = finish(e, s, argv[0], &st, rc, true, err);
    if (rc == 0 && (!st.got_end || st.exit_code != 0))
        rc = sbx_err_set(err, -EIO, "e2b: '%s' in sandbox %s failed (exit %d): %.120s", argv[0],
                         s->id, st.exit_code, st.errb.ptr);
    stream_free(&st);
    return rc;
}
