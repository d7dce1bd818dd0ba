/*
 * envd's process.Process service (envd.h) over the provider's exec: each
 * started process is one exec job on a worker thread with host pipes for
 * stdout/stderr (and stdin), watched on the loop and fanned out as Connect
 * stream events to the Start stream and any Connect streams attached later.
 * The process outlives its clients (envd: "We do not want the command to be
 * killed if the request context is cancelled"); Connect-Timeout-Ms of Start
 * is its lifetime. Messages follow e2b-dev/infra
 * packages/envd/internal/services/process.
 *
 * The in-sandbox pid comes from a wrapper: /bin/sh changes to the cwd (or
 * reports it missing), prints its own pid ($$) as the first stderr line and
 * execs the command, which keeps that pid.
 */
#include "api/e2b/envd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base64.h"
#include "base/fd.h"
#include "json/json.h"
#include "net/connect.h"
#include "net/loop.h"

#define CHUNK ((size_t)32 << 10)       /* envd's stdChunkSize */
#define STDIN_MAX ((size_t)16 << 20)   /* queued SendInput bytes per process */
#define PIDLINE_MAX 64
#define KEEPALIVE "{\"event\":{\"keepalive\":{}}}"

/* $0 = cwd, $1... = the command */
static const char WRAPPER[] =
    "cd -- \"$0\" 2>/dev/null || { printf '!cwd\\n' >&2; exit 1; }; "
    "printf '%d\\n' \"$$\" >&2; exec \"$@\"";

struct proc;

struct proc {
    struct proc *next;
    struct sbx_e2b_face *f;
    struct sbx_e2b_envd *envd; /* NULL once released (the job may still run) */
    uint32_t pid;
    bool started;              /* pid known, start event sent */
    bool cwd_missing;
    bool is_pty;               /* out_r is a pty master, in_w a dup of it */
    char *cwd;                 /* resolved */
    char *tag;
    struct sbx_json *config;   /* ProcessConfig as given, for List */
    /* loop side */
    int out_r, err_r, in_w, cancel_w;
    struct sbx_watch *wout, *werr, *win;
    struct sbx_buf inbuf;      /* stdin bytes not yet written */
    bool close_stdin;          /* close in_w once inbuf is written */
    struct sbx_buf pidline;
    struct sbx__envd_stream *streams;
    /* job side (owned by the job until done) */
    char *backend_id;
    char **argv, **env;
    int64_t timeout_ms;
    int out_w, err_w, in_r, cancel_r;
    bool ran;
    int rc;
    struct sbx_err err;
    struct sbx_exec_result res;
};

struct sbx_e2b_envd {
    struct proc *procs;
    struct sbx__envd_watch *watches; /* envd_watch.c */
};

/* ---- helpers ------------------------------------------------------------ */

static void strv_free(char **v)
{
    size_t i;

    for (i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static struct sbx_e2b_envd *envd_of(struct sbx_e2b_sbx *s)
{
    if (!s->envd)
        s->envd = calloc(1, sizeof(*s->envd));
    return s->envd;
}

static void proc_unlink(struct proc *p)
{
    struct proc **pp;

    if (!p->envd)
        return;
    for (pp = &p->envd->procs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    p->envd = NULL;
}

static void proc_close_loop_side(struct proc *p)
{
    sbx_watch_close(p->wout);
    sbx_watch_close(p->werr);
    sbx_watch_close(p->win);
    p->wout = p->werr = p->win = NULL;
    sbx_fd_close(p->out_r);
    sbx_fd_close(p->err_r);
    sbx_fd_close(p->in_w);
    sbx_fd_close(p->cancel_w);
    p->out_r = p->err_r = p->in_w = p->cancel_w = -1;
}

static void proc_free(struct proc *p)
{
    proc_close_loop_side(p);
    sbx_fd_close(p->out_w);
    sbx_fd_close(p->err_w);
    sbx_fd_close(p->in_r);
    sbx_fd_close(p->cancel_r);
    sbx_buf_free(&p->inbuf);
    sbx_buf_free(&p->pidline);
    sbx_exec_result_release(&p->res);
    sbx_json_free(p->config);
    strv_free(p->argv);
    strv_free(p->env);
    free(p->backend_id);
    free(p->cwd);
    free(p->tag);
    free(p);
}

/* Sends the event to every stream of p (json = {"event":{...}}). */
static void proc_broadcast(struct proc *p, const char *json, size_t len)
{
    struct sbx__envd_stream *st = p->streams, *next;

    for (; st; st = next) {
        next = st->next;
        sbx__envd_stream_send(st, json, len);
    }
}

static bool proc_any_waiting(const struct proc *p)
{
    const struct sbx__envd_stream *st;

    for (st = p->streams; st; st = st->next)
        if (st->waiting)
            return true;
    return false;
}

struct sbx__envd_watch **sbx__envd_watches(struct sbx_e2b_sbx *s)
{
    return envd_of(s) ? &s->envd->watches : NULL;
}

/* ---- events --------------------------------------------------------------- */

static void send_start(struct proc *p, struct sbx__envd_stream *only)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "{\"event\":{\"start\":{\"pid\":%u}}}", p->pid);

    if (only)
        sbx__envd_stream_send(only, buf, (size_t)n);
    else
        proc_broadcast(p, buf, (size_t)n);
}

static void send_data(struct proc *p, const char *which, const char *d, size_t n)
{
    struct sbx_buf b = SBX_BUF_INIT;

    if (n == 0)
        return;
    if (sbx_buf_addf(&b, "{\"event\":{\"data\":{\"%s\":\"", which) == 0 &&
        sbx_base64_encode(d, n, &b) == 0 && sbx_buf_addstr(&b, "\"}}}") == 0)
        proc_broadcast(p, b.ptr, b.len);
    sbx_buf_free(&b);
}

/* Go's ProcessState.String() and envd's EndEvent. */
static void send_end(struct proc *p)
{
    struct sbx_json *end = sbx_json_object_new(), *ev = sbx_json_object_new(),
                    *top = sbx_json_object_new();
    struct sbx_buf b = SBX_BUF_INIT;
    char status[96];
    int code;

    if (p->res.term_signal) {
        const char *name = strsignal(p->res.term_signal);
        char low[64];

        snprintf(low, sizeof(low), "%s", name ? name : "unknown signal");
        low[0] = (char)tolower((unsigned char)low[0]);
        snprintf(status, sizeof(status), "signal: %s", low);
        code = -1;
    } else {
        snprintf(status, sizeof(status), "exit status %d", p->res.exit_code);
        code = p->res.exit_code;
    }
    if (end && ev && top && (code == 0 || sbx_json_set_int(end, "exitCode", code) == 0) &&
        (p->res.term_signal || sbx_json_set_bool(end, "exited", true) == 0) &&
        sbx_json_set_str(end, "status", status) == 0 &&
        (code == 0 || sbx_json_set_str(end, "error", status) == 0) &&
        sbx_json_set_take(ev, "end", end) == 0) {
        end = NULL;
        if (sbx_json_set_take(top, "event", ev) == 0) {
            ev = NULL;
            if (sbx_json_dump(top, &b) == 0)
                proc_broadcast(p, b.ptr, b.len);
        }
    }
    sbx_json_free(end);
    sbx_json_free(ev);
    sbx_json_free(top);
    sbx_buf_free(&b);
}

/* The first stderr line is the wrapper's: the pid or "!cwd". */
/* The first stderr line (the terminal's with a pty) is the wrapper's: the
 * pid or "!cwd". */
static void take_pidline(struct proc *p, const char *d, size_t n)
{
    const char *nl = memchr(d, '\n', n);
    const char *which = p->is_pty ? "pty" : "stderr";
    size_t use = nl ? (size_t)(nl - d) + 1 : n;

    if (p->pidline.len + use > PIDLINE_MAX) {
        p->started = true; /* not ours (pid unknown): the rest is data */
        send_start(p, NULL);
        send_data(p, which, p->pidline.ptr, p->pidline.len);
        send_data(p, which, d, n);
        return;
    }
    sbx_buf_add(&p->pidline, d, use);
    if (!nl)
        return;
    if (p->pidline.len >= 4 && memcmp(p->pidline.ptr, "!cwd", 4) == 0) {
        p->cwd_missing = true;
        return;
    }
    p->pid = (uint32_t)strtoul(p->pidline.ptr, NULL, 10);
    p->started = true;
    send_start(p, NULL);
    if (n > use)
        send_data(p, which, d + use, n - use);
}

/* Reads what one pipe has: 1 data, 0 nothing now, -1 EOF or error (then
 * the pipe is closed). */
static int pump_pipe(struct proc *p, bool is_err)
{
    char buf[CHUNK];
    int fd = is_err ? p->err_r : p->out_r;
    ssize_t n;

    if (fd < 0)
        return -1;
    /* the pid line was written before the command could write anything */
    if (!is_err && !p->started && !p->cwd_missing && p->err_r >= 0 && !p->is_pty)
        pump_pipe(p, true);
    n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        if (is_err) {
            sbx_watch_close(p->werr);
            p->werr = NULL;
            sbx_fd_close(p->err_r);
            p->err_r = -1;
        } else {
            sbx_watch_close(p->wout);
            p->wout = NULL;
            sbx_fd_close(p->out_r);
            p->out_r = -1;
        }
        return -1;
    }
    if ((is_err || p->is_pty) && !p->started && !p->cwd_missing)
        take_pidline(p, buf, (size_t)n);
    else if (!p->cwd_missing)
        send_data(p, p->is_pty ? "pty" : is_err ? "stderr" : "stdout", buf, (size_t)n);
    return 1;
}

static void pause_reading(struct proc *p)
{
    if (p->wout)
        sbx_watch_set(p->wout, 0);
    if (p->werr)
        sbx_watch_set(p->werr, 0);
}

static void proc_resume_reading(void *ud)
{
    struct proc *p = ud;

    if (proc_any_waiting(p))
        return;
    if (p->wout)
        sbx_watch_set(p->wout, SBX_WATCH_READ);
    if (p->werr)
        sbx_watch_set(p->werr, SBX_WATCH_READ);
}

static void on_pipe(struct sbx_watch *w, int events, void *ud)
{
    struct proc *p = ud;

    (void)events;
    pump_pipe(p, w == p->werr);
    if (proc_any_waiting(p))
        pause_reading(p);
}

static void on_stdin(struct sbx_watch *w, int events, void *ud)
{
    struct proc *p = ud;

    (void)events;
    if (p->in_w < 0)
        return;
    if (sbx_watch_flush(w, p->in_w, &p->inbuf) < 0) {
        sbx_buf_reset(&p->inbuf);
        p->close_stdin = true;
    }
    if (p->inbuf.len == 0) {
        sbx_watch_set(w, 0);
        if (p->close_stdin) {
            sbx_watch_close(p->win);
            p->win = NULL;
            sbx_fd_close(p->in_w);
            p->in_w = -1;
        }
    }
}

/* ---- the exec job ------------------------------------------------------- */

static void job_run(struct sbx_provider *prov, const struct sbx_err *open_err, void *ud)
{
    struct proc *p = ud;
    struct sbx_exec_req r;

    p->ran = true;
    if (!prov) {
        p->rc = open_err->code ? open_err->code : -EIO;
        p->err = *open_err;
    } else {
        memset(&r, 0, sizeof(r));
        r.argv = (const char *const *)p->argv;
        r.env = (const char *const *)p->env;
        r.cwd = "/";
        r.timeout_ms = p->timeout_ms;
        r.stdin_fd = p->is_pty ? p->out_w : p->in_r;
        r.stdout_fd = p->out_w;
        r.stderr_fd = p->is_pty ? p->out_w : p->err_w;
        r.tty = p->is_pty;
        r.use_cancel_fd = true;
        r.cancel_fd = p->cancel_r;
        p->rc = sbx_provider_exec(prov, p->backend_id, &r, &p->res, &p->err);
    }
    /* the command's ends: EOF comes once the command (and what it left) is done */
    sbx_fd_close(p->out_w);
    sbx_fd_close(p->err_w);
    sbx_fd_close(p->in_r);
    sbx_fd_close(p->cancel_r);
    p->out_w = p->err_w = p->in_r = p->cancel_r = -1;
}

static void job_done(void *ud)
{
    struct proc *p = ud;
    struct sbx__envd_stream *st, *next;
    char msg[SBX_ERR_MSG_MAX + 64];

    if (!p->envd) {
        proc_free(p); /* released while the job ran */
        return;
    }
    /* what the command wrote before it exited; a process it left behind
     * may keep the pipes open: no waiting for EOF (envd's cmd.Wait) */
    for (int i = 0; i < 64 && pump_pipe(p, true) > 0 && !p->started; i++)
        ;
    for (int i = 0; i < 64 && pump_pipe(p, false) > 0; i++)
        ;
    for (int i = 0; i < 64 && pump_pipe(p, true) > 0; i++)
        ;
    proc_close_loop_side(p);
    proc_unlink(p);
    if (p->rc < 0 || p->cwd_missing || !p->started) {
        if (p->cwd_missing)
            snprintf(msg, sizeof(msg), "cwd '%s' does not exist", p->cwd);
        else
            snprintf(msg, sizeof(msg), "error starting process '%s': %s",
                     p->argv[4] ? p->argv[4] : "", p->rc < 0 ? p->err.msg : "no pid reported");
        for (st = p->streams; st; st = next) {
            next = st->next;
            sbx__envd_stream_unlink(st);
            sbx__envd_stream_end_error(st, p->cwd_missing ? SBX_CONNECT_INVALID_ARGUMENT
                                                : SBX_CONNECT_INVALID_ARGUMENT,
                             msg);
        }
    } else {
        /* killed by its Connect-Timeout-Ms: the Start stream ends with the
         * deadline of its context, as envd's (the timer and the kill race) */
        for (st = p->streams; p->res.timed_out && st; st = next) {
            next = st->next;
            if (st->deadline) {
                sbx__envd_stream_unlink(st);
                sbx__envd_stream_end_error(st, SBX_CONNECT_DEADLINE_EXCEEDED, "context deadline exceeded");
            }
        }
        send_end(p);
        for (st = p->streams; st; st = next) {
            next = st->next;
            sbx__envd_stream_unlink(st);
            sbx__envd_stream_end(st, NULL);
        }
    }
    proc_free(p);
}

/* ---- request schemas ------------------------------------------------------ */

static const struct sbx__envd_field SELECTOR[] = {
    {"pid", NULL, SBX_ENVD_UINT32, NULL, NULL},
    {"tag", NULL, SBX_ENVD_STRING, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field CONFIG[] = {
    {"cmd", NULL, SBX_ENVD_STRING, NULL, NULL},
    {"args", NULL, SBX_ENVD_LIST_STR, NULL, NULL},
    {"envs", NULL, SBX_ENVD_MAP_STR, NULL, NULL},
    {"cwd", NULL, SBX_ENVD_STRING, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field PTY_SIZE[] = {
    {"cols", NULL, SBX_ENVD_UINT32, NULL, NULL},
    {"rows", NULL, SBX_ENVD_UINT32, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field PTY[] = {
    {"size", NULL, SBX_ENVD_MESSAGE, PTY_SIZE, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field START_REQ[] = {
    {"process", NULL, SBX_ENVD_MESSAGE, CONFIG, NULL},
    {"pty", NULL, SBX_ENVD_MESSAGE, PTY, NULL},
    {"tag", NULL, SBX_ENVD_STRING, NULL, NULL},
    {"stdin", NULL, SBX_ENVD_BOOL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field SELECT_REQ[] = {
    {"process", NULL, SBX_ENVD_MESSAGE, SELECTOR, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field LIST_REQ[] = {
    {NULL, NULL, 0, NULL, NULL},
};
static const char *const SIGNALS[] = {"SIGNAL_UNSPECIFIED", "SIGNAL_SIGTERM", "SIGNAL_SIGKILL",
                                      NULL};
static const struct sbx__envd_field SIGNAL_REQ[] = {
    {"process", NULL, SBX_ENVD_MESSAGE, SELECTOR, NULL},
    {"signal", NULL, SBX_ENVD_ENUM, NULL, SIGNALS},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field INPUT[] = {
    {"stdin", NULL, SBX_ENVD_BYTES, NULL, NULL},
    {"pty", NULL, SBX_ENVD_BYTES, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field INPUT_REQ[] = {
    {"process", NULL, SBX_ENVD_MESSAGE, SELECTOR, NULL},
    {"input", NULL, SBX_ENVD_MESSAGE, INPUT, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field UPDATE_REQ[] = {
    {"process", NULL, SBX_ENVD_MESSAGE, SELECTOR, NULL},
    {"pty", NULL, SBX_ENVD_MESSAGE, PTY, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field SI_START[] = {
    {"process", NULL, SBX_ENVD_MESSAGE, SELECTOR, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field SI_DATA[] = {
    {"input", NULL, SBX_ENVD_MESSAGE, INPUT, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field STREAM_INPUT_REQ[] = {
    {"start", NULL, SBX_ENVD_MESSAGE, SI_START, NULL},
    {"data", NULL, SBX_ENVD_MESSAGE, SI_DATA, NULL},
    {"keepalive", NULL, SBX_ENVD_MESSAGE, LIST_REQ, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

/* ---- lookups -------------------------------------------------------------- */

/* The process a ProcessSelector names; NULL with code and msg set. */
static struct proc *find_proc(struct sbx_e2b_sbx *s, const struct sbx_json *sel,
                              enum sbx_connect_code *code, char *msg, size_t len)
{
    struct sbx_json *pid = sel ? sbx__envd_get(sel, "pid", NULL) : NULL;
    struct sbx_json *tag = sel ? sbx__envd_get(sel, "tag", NULL) : NULL;
    struct proc *p;

    if (!pid && !tag) {
        *code = SBX_CONNECT_UNIMPLEMENTED;
        snprintf(msg, len, "invalid input type %s", "<nil>");
        return NULL;
    }
    for (p = s->envd ? s->envd->procs : NULL; p; p = p->next) {
        if (!p->started)
            continue;
        if (pid && p->pid == sbx__envd_u32(pid))
            return p;
        if (!pid && p->tag && strcmp(p->tag, sbx_json_str(tag)) == 0)
            return p;
    }
    *code = SBX_CONNECT_NOT_FOUND;
    if (pid)
        snprintf(msg, len, "process with pid %u not found", sbx__envd_u32(pid));
    else
        snprintf(msg, len, "process with tag %s not found", sbx_json_str(tag));
    return NULL;
}

/* A unary call naming one process: parses and checks the request, finds
 * the process. NULL when req was answered (bad request, no such process);
 * else the message in *msg (the caller frees it). */
static struct proc *unary_proc(struct sbx_e2b_sbx *s, struct sbx_http_req *req,
                               const char *type_name, const struct sbx__envd_field *schema,
                               struct sbx_json **msg)
{
    enum sbx_connect_code code;
    struct proc *p;
    char emsg[256];

    *msg = sbx__envd_unary_begin(req, type_name, schema);
    if (!*msg)
        return NULL;
    p = find_proc(s, sbx__envd_get(*msg, "process", NULL), &code, emsg, sizeof(emsg));
    if (!p) {
        sbx_json_free(*msg);
        *msg = NULL;
        sbx__envd_rpc_error(req, code, "%s", emsg);
    }
    return p;
}

/* ---- Start ----------------------------------------------------------------- */

static int strv_push(char ***v, size_t *n, const char *a, const char *b)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(**v));
    char *s;

    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (b) {
        size_t len = strlen(a) + strlen(b) + 2;

        s = malloc(len);
        if (s)
            snprintf(s, len, "%s=%s", a, b);
    } else {
        s = strdup(a);
    }
    if (!s)
        return -ENOMEM;
    nv[(*n)++] = s;
    nv[*n] = NULL;
    return 0;
}

static int add_envs(char ***v, size_t *n, const struct sbx_json *obj)
{
    const char *k;
    struct sbx_json *val;
    size_t i;

    for (i = 0; obj && sbx_json_object_at(obj, i, &k, &val) == 0; i++)
        if (strv_push(v, n, k, sbx_json_str(val)) < 0)
            return -ENOMEM;
    return 0;
}

static struct sbx_json *config_json(const struct sbx_json *cfg)
{
    struct sbx_json *o = sbx_json_object_new(), *x;

    if (!o)
        return NULL;
    if ((x = sbx__envd_get(cfg, "cmd", NULL)) && sbx_json_str_len(x) &&
        sbx_json_set_take(o, "cmd", sbx_json_ref(x)) < 0)
        goto fail;
    if ((x = sbx__envd_get(cfg, "args", NULL)) && sbx_json_array_len(x) &&
        sbx_json_set_take(o, "args", sbx_json_ref(x)) < 0)
        goto fail;
    if ((x = sbx__envd_get(cfg, "envs", NULL)) && sbx_json_object_len(x) &&
        sbx_json_set_take(o, "envs", sbx_json_ref(x)) < 0)
        goto fail;
    if ((x = sbx__envd_get(cfg, "cwd", NULL)) && sbx_json_set_take(o, "cwd", sbx_json_ref(x)) < 0)
        goto fail;
    return o;
fail:
    sbx_json_free(o);
    return NULL;
}

/* Window size of a PTY message (0 = leave it). */
static void set_winsize(int fd, const struct sbx_json *pty)
{
    struct sbx_json *size = pty ? sbx__envd_get(pty, "size", NULL) : NULL;
    struct sbx_json *c = size ? sbx__envd_get(size, "cols", NULL) : NULL;
    struct sbx_json *r = size ? sbx__envd_get(size, "rows", NULL) : NULL;
    struct winsize ws;

    memset(&ws, 0, sizeof(ws));
    ws.ws_col = (unsigned short)(c ? sbx__envd_u32(c) : 0);
    ws.ws_row = (unsigned short)(r ? sbx__envd_u32(r) : 0);
    ioctl(fd, TIOCSWINSZ, &ws);
}

/* A pty pair: the master (out_r, and in_w a dup for input) stays on the
 * loop, the slave (out_w) is the command's terminal. */
static int make_pty(struct proc *p, const struct sbx_json *pty)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    const char *name;

    if (m < 0)
        return -errno;
    if (grantpt(m) < 0 || unlockpt(m) < 0 || !(name = ptsname(m))) {
        close(m);
        return -EIO;
    }
    p->out_w = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    p->in_w = fcntl(m, F_DUPFD_CLOEXEC, 3);
    p->out_r = m;
    if (p->out_w < 0 || p->in_w < 0)
        return -EIO;
    set_winsize(m, pty);
    sbx_fd_set_nonblock(m, 1);
    return 0;
}

static void process_start(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          const struct sbx__envd_user *u, struct sbx_http_req *req)
{
    struct sbx_json *msg;
    struct sbx_json *cfg, *x;
    struct sbx_buf cwd = SBX_BUF_INIT;
    struct sbx_err err = {0};
    struct sbx__envd_stream *st;
    struct proc *p;
    char emsg[256];
    size_t n = 0, i;
    int64_t timeout;
    bool want_stdin;

    msg = sbx__envd_stream_begin(req, "process.StartRequest", START_REQ, &timeout);
    if (!msg)
        return;
    cfg = sbx__envd_get(msg, "process", NULL);
    x = cfg ? sbx__envd_get(cfg, "cwd", NULL) : NULL;
    want_stdin = !sbx__envd_get(msg, "stdin", NULL) || sbx_json_bool(sbx_json_get(msg, "stdin"));
    p = calloc(1, sizeof(*p));
    if (!p || !envd_of(s) ||
        sbx__envd_resolve(u->home, x ? sbx_json_str(x) : "", x ? sbx_json_str_len(x) : 0, &cwd) <
            0) {
        free(p);
        sbx_buf_free(&cwd);
        sbx_json_free(msg);
        sbx__envd_stream_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        return;
    }
    p->out_r = p->err_r = p->in_w = p->cancel_w = -1;
    p->out_w = p->err_w = p->in_r = p->cancel_r = -1;
    sbx_buf_init(&p->inbuf, 0);
    sbx_buf_init(&p->pidline, 0);
    p->f = f;
    p->timeout_ms = timeout;
    p->cwd = sbx_buf_detach(&cwd, NULL);
    p->backend_id = strdup(s->backend_id);
    p->config = config_json(cfg);
    if ((x = sbx__envd_get(msg, "tag", NULL)))
        p->tag = strdup(sbx_json_str(x));
    if (!p->cwd || !p->backend_id || !p->config || (x && !p->tag) ||
        strv_push(&p->argv, &n, "/bin/sh", NULL) < 0 || strv_push(&p->argv, &n, "-c", NULL) < 0 ||
        strv_push(&p->argv, &n, WRAPPER, NULL) < 0 || strv_push(&p->argv, &n, p->cwd, NULL) < 0)
        goto oom;
    x = cfg ? sbx__envd_get(cfg, "cmd", NULL) : NULL;
    if (strv_push(&p->argv, &n, x ? sbx_json_str(x) : "", NULL) < 0)
        goto oom;
    x = cfg ? sbx__envd_get(cfg, "args", NULL) : NULL;
    for (i = 0; x && i < sbx_json_array_len(x); i++)
        if (strv_push(&p->argv, &n, sbx_json_str(sbx_json_array_at(x, i)), NULL) < 0)
            goto oom;
    n = 0;
    if (strv_push(&p->env, &n, "HOME", u->home) < 0 || strv_push(&p->env, &n, "USER", u->name) < 0 ||
        strv_push(&p->env, &n, "LOGNAME", u->name) < 0 || add_envs(&p->env, &n, s->env_vars) < 0 ||
        add_envs(&p->env, &n, cfg ? sbx__envd_get(cfg, "envs", NULL) : NULL) < 0)
        goto oom;
    p->is_pty = sbx__envd_get(msg, "pty", NULL) != NULL;
    if (p->is_pty ? make_pty(p, sbx__envd_get(msg, "pty", NULL)) < 0
                  : sbx__envd_make_pipe(&p->out_r, &p->out_w, true) < 0 ||
                        sbx__envd_make_pipe(&p->err_r, &p->err_w, true) < 0 ||
                        (want_stdin && sbx__envd_make_pipe(&p->in_r, &p->in_w, false) < 0)) {
        snprintf(emsg, sizeof(emsg), "error creating pipes for command: %s", strerror(errno));
        goto fail;
    }
    if (sbx__envd_make_pipe(&p->cancel_r, &p->cancel_w, false) < 0) {
        snprintf(emsg, sizeof(emsg), "error creating pipes for command: %s", strerror(errno));
        goto fail;
    }
    p->wout = sbx_watch_new(f->loop, p->out_r, SBX_WATCH_READ, on_pipe, p, &err);
    if (p->err_r >= 0)
        p->werr = sbx_watch_new(f->loop, p->err_r, SBX_WATCH_READ, on_pipe, p, &err);
    if (p->in_w >= 0)
        p->win = sbx_watch_new(f->loop, p->in_w, 0, on_stdin, p, &err);
    if (!p->wout || (p->err_r >= 0 && !p->werr) || (p->in_w >= 0 && !p->win)) {
        snprintf(emsg, sizeof(emsg), "%s", err.msg);
        goto fail;
    }
    sbx_json_free(msg);
    msg = NULL;
    st = sbx__envd_stream_open(f, req, timeout, KEEPALIVE);
    if (!st) {
        proc_free(p);
        return;
    }
    sbx__envd_stream_attach(st, &p->streams, p, proc_resume_reading, NULL);
    p->envd = s->envd;
    p->next = s->envd->procs;
    s->envd->procs = p;
    if (sbx_api_worker_submit(f->procs, job_run, job_done, p, &err) < 0) {
        proc_unlink(p);
        sbx__envd_stream_unlink(st);
        sbx__envd_stream_end_error(st, SBX_CONNECT_UNAVAILABLE, err.msg);
        proc_free(p);
    }
    return;
oom:
    snprintf(emsg, sizeof(emsg), "out of memory");
fail:
    sbx_json_free(msg);
    proc_free(p);
    sbx__envd_stream_error(req, SBX_CONNECT_INTERNAL, emsg);
}

/* ---- Connect ---------------------------------------------------------------- */

static void process_connect(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                            struct sbx_http_req *req)
{
    struct sbx_json *msg;
    enum sbx_connect_code code;
    struct sbx__envd_stream *st;
    struct proc *p;
    char emsg[256];
    int64_t timeout;

    msg = sbx__envd_stream_begin(req, "process.ConnectRequest", SELECT_REQ, &timeout);
    if (!msg)
        return;
    p = find_proc(s, sbx__envd_get(msg, "process", NULL), &code, emsg, sizeof(emsg));
    sbx_json_free(msg);
    if (!p) {
        sbx__envd_stream_error(req, code, emsg);
        return;
    }
    st = sbx__envd_stream_open(f, req, timeout, KEEPALIVE);
    if (!st)
        return;
    sbx__envd_stream_attach(st, &p->streams, p, proc_resume_reading, NULL);
    send_start(p, st);
}

/* ---- List ------------------------------------------------------------------- */

static void process_list(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx_json *msg = sbx__envd_unary_begin(req, "process.ListRequest", LIST_REQ);
    struct sbx_json *out, *arr;
    struct proc *p;

    if (!msg)
        return;
    sbx_json_free(msg);
    out = sbx_json_object_new();
    arr = sbx_json_array_new();
    for (p = s->envd ? s->envd->procs : NULL; out && arr && p; p = p->next) {
        struct sbx_json *info;

        if (!p->started)
            continue;
        info = sbx_json_object_new();
        if (!info || sbx_json_set_take(info, "config", sbx_json_ref(p->config)) < 0 ||
            sbx_json_set_int(info, "pid", p->pid) < 0 ||
            (p->tag && sbx_json_set_str(info, "tag", p->tag) < 0) ||
            sbx_json_append_take(arr, info) < 0) {
            sbx_json_free(arr);
            arr = NULL;
        }
    }
    if (!out || !arr) {
        sbx_json_free(out);
        sbx_json_free(arr);
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        return;
    }
    if (sbx_json_array_len(arr) && sbx_json_set_take(out, "processes", arr) < 0) {
        sbx_json_free(out);
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        return;
    }
    if (!sbx_json_array_len(arr))
        sbx_json_free(arr);
    sbx__envd_unary_reply(req, out);
}

/* ---- SendSignal ------------------------------------------------------------- */

struct sigjob {
    struct sbx_http_req *req;
    char *backend_id;
    char pid[16];
    const char *sig;
    int rc;
    struct sbx_err err;
    struct sbx_exec_result res;
};

static void sig_run(struct sbx_provider *prov, const struct sbx_err *open_err, void *ud)
{
    struct sigjob *j = ud;
    const char *argv[] = {"kill", j->sig, j->pid, NULL};
    struct sbx_exec_req r;

    if (!prov) {
        j->rc = open_err->code ? open_err->code : -EIO;
        j->err = *open_err;
        return;
    }
    memset(&r, 0, sizeof(r));
    r.argv = argv;
    r.cwd = "/";
    r.timeout_ms = 30000;
    r.stdin_fd = r.stdout_fd = r.stderr_fd = -1;
    j->rc = sbx_provider_exec(prov, j->backend_id, &r, &j->res, &j->err);
}

static void sig_done(void *ud)
{
    struct sigjob *j = ud;

    if (j->rc < 0)
        sbx__envd_rpc_error(j->req, SBX_CONNECT_INTERNAL, "error sending signal: %s", j->err.msg);
    else if (j->res.exit_code != 0)
        sbx__envd_rpc_error(j->req, SBX_CONNECT_INTERNAL, "error sending signal: %.*s",
                            (int)(j->res.err_len > 200 ? 200 : j->res.err_len),
                            j->res.err ? j->res.err : "kill failed");
    else
        sbx__envd_unary_reply(j->req, NULL);
    sbx_exec_result_release(&j->res);
    free(j->backend_id);
    free(j);
}

static void process_signal(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                           struct sbx_http_req *req)
{
    struct sbx_json *msg, *sig;
    struct proc *p = unary_proc(s, req, "process.SendSignalRequest", SIGNAL_REQ, &msg);
    struct sbx_err err = {0};
    struct sigjob *j;
    int signo = 0;

    if (!p)
        return;
    sig = sbx__envd_get(msg, "signal", NULL);
    if (sig && sbx_json_type(sig) == SBX_JSON_INT)
        signo = (int)sbx_json_int(sig);
    else if (sig)
        signo = strcmp(sbx_json_str(sig), "SIGNAL_SIGKILL") == 0   ? 9
                : strcmp(sbx_json_str(sig), "SIGNAL_SIGTERM") == 0 ? 15
                                                                    : 0;
    sbx_json_free(msg);
    if (signo == 9) {
        /* the exec kills the command when its cancel descriptor fires */
        if (p->cancel_w >= 0 && write(p->cancel_w, "k", 1) < 0 && errno != EAGAIN) {
            sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "error sending signal: %s",
                                strerror(errno));
            return;
        }
        sbx__envd_unary_reply(req, NULL);
        return;
    }
    if (signo != 15) {
        sbx__envd_rpc_error(req, SBX_CONNECT_UNIMPLEMENTED, "invalid signal: %s",
                            signo == 0 ? "SIGNAL_UNSPECIFIED" : "unknown");
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j || !(j->backend_id = strdup(s->backend_id))) {
        free(j);
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        return;
    }
    j->req = req;
    j->sig = "-TERM";
    snprintf(j->pid, sizeof(j->pid), "%u", p->pid);
    if (sbx_api_worker_submit(f->worker, sig_run, sig_done, j, &err) < 0) {
        free(j->backend_id);
        free(j);
        sbx__envd_rpc_error(req, SBX_CONNECT_UNAVAILABLE, "%s", err.msg);
    }
}

/* ---- input ------------------------------------------------------------------ */

/* Queues input for p's stdin; 0 or answers an error (returns -1). */
static int write_input(struct proc *p, const struct sbx_json *in, struct sbx_http_req *req)
{
    struct sbx_json *d = in ? sbx__envd_get(in, "stdin", NULL) : NULL;
    struct sbx_json *t = in ? sbx__envd_get(in, "pty", NULL) : NULL;
    struct sbx_buf raw = SBX_BUF_INIT;

    if (!d && !t) {
        sbx__envd_rpc_error(req, SBX_CONNECT_UNIMPLEMENTED, "invalid input type <nil>");
        return -1;
    }
    if (t && !p->is_pty) {
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL,
                            "error writing to tty: tty not assigned to process — input should "
                            "be written to the stdin, not the tty");
        return -1;
    }
    if (d && p->is_pty) {
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL,
                            "error writing to stdin: tty assigned to process — input should be "
                            "written to the pty, not the stdin");
        return -1;
    }
    if (t)
        d = t;
    if (p->in_w < 0 || p->close_stdin) {
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL,
                            "error writing to stdin: stdin not enabled or closed");
        return -1;
    }
    if (sbx__envd_b64decode(sbx_json_str(d), sbx_json_str_len(d), &raw) < 0 ||
        p->inbuf.len + raw.len > STDIN_MAX || sbx_buf_add(&p->inbuf, raw.ptr, raw.len) < 0) {
        sbx_buf_free(&raw);
        sbx__envd_rpc_error(req, SBX_CONNECT_RESOURCE_EXHAUSTED,
                            "error writing to stdin of process '%u': too much input queued",
                            p->pid);
        return -1;
    }
    sbx_buf_free(&raw);
    on_stdin(p->win, SBX_WATCH_WRITE, p);
    return 0;
}

static void process_input(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx_json *msg;
    struct proc *p = unary_proc(s, req, "process.SendInputRequest", INPUT_REQ, &msg);

    if (p && write_input(p, sbx__envd_get(msg, "input", NULL), req) == 0)
        sbx__envd_unary_reply(req, NULL);
    sbx_json_free(msg);
}

static void process_close_stdin(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx_json *msg;
    struct proc *p = unary_proc(s, req, "process.CloseStdinRequest", SELECT_REQ, &msg);

    sbx_json_free(msg);
    if (!p)
        return;
    if (p->is_pty) {
        sbx__envd_rpc_error(req, SBX_CONNECT_UNKNOWN,
                            "error closing stdin: cannot close stdin for PTY process — send "
                            "Ctrl+D (0x04) instead");
        return;
    }
    if (p->in_w >= 0) {
        p->close_stdin = true;
        on_stdin(p->win, SBX_WATCH_WRITE, p);
    }
    sbx__envd_unary_reply(req, NULL);
}

static void process_update(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx_json *msg;
    struct proc *p = unary_proc(s, req, "process.UpdateRequest", UPDATE_REQ, &msg);

    if (p && p->is_pty) {
        set_winsize(p->out_r, sbx__envd_get(msg, "pty", NULL));
        sbx__envd_unary_reply(req, NULL);
    } else if (p) {
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL,
                            "error resizing tty: tty not assigned to process");
    }
    sbx_json_free(msg);
}

/* Client streaming over HTTP/1.1: the whole request body is in, so its
 * envelopes are applied in order; the answer is one message and the end. */
static void process_stream_input(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx_connect_reader r;
    struct sbx_err err = {0};
    struct proc *p = NULL;
    struct sbx_buf b = SBX_BUF_INIT;
    char emsg[256];
    enum sbx_connect_code code = SBX_CONNECT_OK;
    size_t off = 0;

    if (sbx__envd_want_post(req, "application/connect+json", SBX_ENVD_STREAM_ACCEPT) < 0)
        return;
    emsg[0] = '\0';
    sbx_connect_reader_init(&r, SBX_CONNECT_DEFAULT_MAX_MESSAGE);
    while (off < req->body.len && code == SBX_CONNECT_OK) {
        ssize_t n = sbx_connect_reader_feed(&r, req->body.ptr + off, req->body.len - off, &err);
        struct sbx_json *v, *x;

        if (n < 0) {
            code = SBX_CONNECT_INVALID_ARGUMENT;
            snprintf(emsg, sizeof(emsg), "protocol error: %.200s", err.msg);
            break;
        }
        off += (size_t)n;
        if (!sbx_connect_reader_ready(&r) || (r.flags & SBX_CONNECT_FLAG_END))
            continue;
        v = sbx_json_parse(r.msg.len ? r.msg.ptr : "{}", r.msg.len ? r.msg.len : 2, &err);
        if (!v || sbx__envd_check(v, STREAM_INPUT_REQ, emsg, sizeof(emsg)) < 0) {
            code = SBX_CONNECT_INVALID_ARGUMENT;
            if (!v)
                snprintf(emsg, sizeof(emsg), "unmarshal into process.StreamInputRequest: %.180s",
                         err.msg);
        } else if ((x = sbx__envd_get(v, "start", NULL))) {
            p = find_proc(s, sbx__envd_get(x, "process", NULL), &code, emsg, sizeof(emsg));
            if (p)
                code = SBX_CONNECT_OK;
        } else if ((x = sbx__envd_get(v, "data", NULL))) {
            struct sbx_json *in = sbx__envd_get(x, "input", NULL);
            struct sbx_json *d = in ? sbx__envd_get(in, "stdin", NULL) : NULL;
            struct sbx_buf raw = SBX_BUF_INIT;

            if (!p || !d || p->in_w < 0 || p->close_stdin) {
                code = SBX_CONNECT_INTERNAL;
                snprintf(emsg, sizeof(emsg), "error writing to stdin: %s",
                         !p ? "no process selected" : "stdin not enabled or closed");
            } else if (sbx__envd_b64decode(sbx_json_str(d), sbx_json_str_len(d), &raw) < 0 ||
                       p->inbuf.len + raw.len > STDIN_MAX) {
                /* SendInput's bound: a process that does not read would
                 * otherwise have the face hold whatever is sent */
                code = SBX_CONNECT_RESOURCE_EXHAUSTED;
                snprintf(emsg, sizeof(emsg),
                         "error writing to stdin of process '%u': too much input queued", p->pid);
            } else if (sbx_buf_add(&p->inbuf, raw.ptr, raw.len) < 0) {
                code = SBX_CONNECT_RESOURCE_EXHAUSTED;
                snprintf(emsg, sizeof(emsg), "error writing to stdin: out of memory");
            } else {
                on_stdin(p->win, SBX_WATCH_WRITE, p);
            }
            sbx_buf_free(&raw);
        }
        sbx_json_free(v);
    }
    sbx_connect_reader_free(&r);
    if (code == SBX_CONNECT_OK) {
        if (sbx_connect_envelope(&b, 0, "{}", 2) == 0 && sbx_connect_end_stream(&b, NULL) == 0)
            sbx_http_respond(req, 200, "application/connect+json", NULL, b.ptr, b.len);
        else
            sbx_http_respond(req, 500, NULL, NULL, NULL, 0);
        sbx_buf_free(&b);
        return;
    }
    sbx__envd_stream_error(req, code, emsg);
}

/* ---- entry points -------------------------------------------------------- */

void sbx__envd_process_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                              const struct sbx__envd_user *u, const char *method,
                              struct sbx_http_req *req)
{
    if (strcmp(method, "Start") == 0)
        process_start(f, s, u, req);
    else if (strcmp(method, "Connect") == 0)
        process_connect(f, s, req);
    else if (strcmp(method, "List") == 0)
        process_list(s, req);
    else if (strcmp(method, "SendSignal") == 0)
        process_signal(f, s, req);
    else if (strcmp(method, "SendInput") == 0)
        process_input(s, req);
    else if (strcmp(method, "CloseStdin") == 0)
        process_close_stdin(s, req);
    else if (strcmp(method, "Update") == 0)
        process_update(s, req);
    else if (strcmp(method, "StreamInput") == 0)
        process_stream_input(s, req);
    else
        sbx_http_respond(req, 404, "text/plain; charset=utf-8", NULL, "404 page not found\n", 19);
}

void sbx__e2b_envd_release(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s)
{
    struct sbx_e2b_envd *e = s->envd;

    (void)f;
    if (!e)
        return;
    sbx__envd_watch_release(&e->watches);
    while (e->procs) {
        struct proc *p = e->procs;
        struct sbx__envd_stream *st, *next;

        if (p->cancel_w >= 0 && write(p->cancel_w, "k", 1) < 0) {
            /* the job sees the hang-up when the write end closes below */
        }
        for (st = p->streams; st; st = next) {
            next = st->next;
            sbx__envd_stream_unlink(st);
            sbx__envd_stream_end_error(st, SBX_CONNECT_UNAVAILABLE, "the sandbox was killed");
        }
        proc_close_loop_side(p);
        proc_unlink(p); /* the job's done callback frees it */
    }
    free(e);
    s->envd = NULL;
}
