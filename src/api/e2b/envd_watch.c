/*
 * envd's directory watchers (envd.h): filesystem.Filesystem/WatchDir (a
 * server stream) and CreateWatcher / GetWatcherEvents / RemoveWatcher.
 * The watching happens in the sandbox, event-driven: `sbx-server watch`
 * (src/server/watch.h, inotify) run through the provider's exec on a worker
 * job, its stdout a host pipe read on the loop, one line per event; the job
 * is stopped through its cancel descriptor. Behaviour and messages follow
 * e2b-dev/infra packages/envd/internal/services/filesystem/watch*.go.
 *
 * CreateWatcher buffers events until GetWatcherEvents takes them (envd has
 * no bound); past EVENTS_MAX the watcher stops and GetWatcherEvents answers
 * resource_exhausted, as envd answers a watcher's error.
 */
#include "api/e2b/envd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/fd.h"
#include "json/json.h"
#include "net/connect.h"
#include "net/loop.h"
#include "server/watch.h" /* the exit statuses only */

#define KEEPALIVE "{\"keepalive\":{}}"
#define LINE_MAX_LEN ((size_t)64 << 10)
#define EVENTS_MAX 100000
#define ERRTXT_MAX 200
#define EXIT_NO_BINARY 127

/* $@ = the watch options and directory; sbx-server is in every sandbox sbx
 * makes (local: /.sbx, e2b template: /usr/local/bin). */
static const char WRAPPER[] =
    "for b in /.sbx/sbx-server /usr/local/bin/sbx-server; do "
    "[ -x \"$b\" ] && exec \"$b\" watch \"$@\"; done; exit 127";

struct sbx__envd_watch {
    struct sbx__envd_watch *next;
    struct sbx__envd_watch **list; /* the sandbox's list; NULL once out of it */
    struct sbx_e2b_face *f;
    char id[24];                 /* CreateWatcher's; "" for WatchDir */
    char *root;                  /* the resolved directory */
    bool ready;
    /* loop side */
    int out_r, cancel_w;
    struct sbx_watch *wout;
    struct sbx_buf line;               /* a stdout line not complete yet */
    struct sbx__envd_stream *streams;  /* WatchDir: its stream */
    struct sbx_http_req *create_req;   /* CreateWatcher: answered once ready */
    struct sbx_json *events;           /* CreateWatcher: not yet taken */
    enum sbx_connect_code err_code;    /* CreateWatcher: its error, once failed */
    char err_msg[256];
    /* job side */
    bool running;
    char *backend_id;
    bool recursive, entry;
    int out_w, cancel_r;
    int rc;
    struct sbx_err err;
    struct sbx_exec_result res;
};

/* ---- the line parser ---------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int unescape(const char *p, size_t n, struct sbx_buf *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = p[i];

        if (c == '\\') {
            if (i + 1 < n && p[i + 1] == '\\') {
                i++;
            } else if (i + 3 < n && p[i + 1] == 'x' && hexval(p[i + 2]) >= 0 &&
                       hexval(p[i + 3]) >= 0) {
                c = (char)(hexval(p[i + 2]) * 16 + hexval(p[i + 3]));
                i += 3;
            } else {
                return -EPROTO;
            }
        }
        if (c == '\0' || sbx_buf_add(out, &c, 1) < 0)
            return c == '\0' ? -EPROTO : -ENOMEM;
    }
    return sbx_buf_add(out, "", 1) < 0 ? -ENOMEM : 0;
}

static int parse_num(const char *p, size_t n, int base, long long *out)
{
    char tmp[32], *end;

    if (n == 0 || n >= sizeof(tmp))
        return -EPROTO;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoll(tmp, &end, base);
    return *end || errno || *out < 0 ? -EPROTO : 0;
}

/* The EntryInfo of the ten fields of an event line with --entry. */
static int parse_entry(const char *const *fp, const size_t *fl, const char *root,
                       const char *name, struct sbx_json **entry)
{
    struct sbx_buf owner = SBX_BUF_INIT, group = SBX_BUF_INIT, target = SBX_BUF_INIT,
                   path = SBX_BUF_INIT;
    struct sbx__envd_entry e;
    long long size, mode, tmode, secs, ns;
    const char *dot = memchr(fp[7], '.', fl[7]), *base;
    int rc = -EPROTO;

    memset(&e, 0, sizeof(e));
    if (fl[2] != 2 || !dot || parse_num(fp[3], fl[3], 10, &size) < 0 ||
        parse_num(fp[4], fl[4], 8, &mode) < 0 || parse_num(fp[9], fl[9], 8, &tmode) < 0 ||
        parse_num(fp[7], (size_t)(dot - fp[7]), 10, &secs) < 0 ||
        parse_num(dot + 1, fl[7] - (size_t)(dot - fp[7]) - 1, 10, &ns) < 0 || ns > 999999999)
        goto out;
    if ((rc = unescape(fp[5], fl[5], &owner)) < 0 || (rc = unescape(fp[6], fl[6], &group)) < 0 ||
        (rc = unescape(fp[8], fl[8], &target)) < 0)
        goto out;
    rc = strcmp(name, ".") == 0 ? sbx_buf_addstr(&path, root)
                                : sbx_buf_addf(&path, "%s%s%s", root,
                                               root[strlen(root) - 1] == '/' ? "" : "/", name);
    if (rc < 0 || sbx_buf_add(&path, "", 1) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    base = strrchr(path.ptr, '/');
    e.name = (char *)(base && base[1] ? base + 1 : path.ptr);
    e.path = path.ptr;
    e.owner = owner.ptr;
    e.group = group.ptr;
    e.target = target.ptr;
    e.type = fp[2][0];
    e.target_type = fp[2][1];
    e.size = size;
    e.mode = (unsigned)mode;
    e.target_mode = (unsigned)tmode;
    e.mtime_s = secs;
    e.mtime_ns = (int32_t)ns;
    *entry = sbx__envd_entry_json(&e);
    rc = *entry ? 0 : -ENOMEM;
out:
    sbx_buf_free(&owner);
    sbx_buf_free(&group);
    sbx_buf_free(&target);
    sbx_buf_free(&path);
    return rc;
}

int sbx__envd_watch_parse_line(const char *line, size_t n, const char *root, char *kind,
                               struct sbx_buf *name, struct sbx_json **entry)
{
    const char *fp[11];
    size_t fl[11], nf = 0, i, start = 0;

    *entry = NULL;
    for (i = 0; i <= n; i++) {
        if (i == n || line[i] == '\t') {
            if (nf == 11)
                return -EPROTO;
            fp[nf] = line + start;
            fl[nf++] = i - start;
            start = i + 1;
        }
    }
    if (fl[0] != 1 || !strchr("RCWDMA", line[0]) || line[0] == '\0')
        return -EPROTO;
    *kind = line[0];
    if (*kind == 'R')
        return nf == 1 ? 0 : -EPROTO;
    if (nf != 2 && nf != 10)
        return -EPROTO;
    sbx_buf_reset(name);
    if (unescape(fp[1], fl[1], name) < 0 || name->len < 2)
        return -EPROTO;
    return nf == 10 ? parse_entry(fp, fl, root, name->ptr, entry) : 0;
}

/* ---- the watcher ---------------------------------------------------------- */

static void watch_close_loop_side(struct sbx__envd_watch *w)
{
    sbx_watch_close(w->wout);
    w->wout = NULL;
    sbx_fd_close(w->out_r);
    sbx_fd_close(w->cancel_w);
    w->out_r = w->cancel_w = -1;
}

static void watch_free(struct sbx__envd_watch *w)
{
    watch_close_loop_side(w);
    sbx_fd_close(w->out_w);
    sbx_fd_close(w->cancel_r);
    sbx_buf_free(&w->line);
    sbx_json_free(w->events);
    sbx_exec_result_release(&w->res);
    free(w->backend_id);
    free(w->root);
    free(w);
}

static void watch_unlink(struct sbx__envd_watch *w)
{
    struct sbx__envd_watch **pp;

    for (pp = w->list; pp && *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    w->list = NULL;
}

/* Stops the in-sandbox watcher and takes w out of its sandbox; it is freed
 * once its job is done. */
static void watch_stop(struct sbx__envd_watch *w)
{
    if (w->cancel_w >= 0 && write(w->cancel_w, "k", 1) < 0) {
        /* the job sees the hang-up when the descriptor closes below */
    }
    watch_close_loop_side(w);
    watch_unlink(w);
    if (!w->running)
        watch_free(w);
}

static void on_stream_gone(void *ud)
{
    watch_stop(ud); /* the client went away or the deadline passed */
}

/* Ends w with an error: a WatchDir stream ends with it and w stops, a
 * pending CreateWatcher is answered with it and w stops, a created watcher
 * stops and keeps it for GetWatcherEvents. w may be freed. */
static void fail(struct sbx__envd_watch *w, enum sbx_connect_code code, const char *msg)
{
    struct sbx__envd_stream *st = w->streams;

    if (st) {
        sbx__envd_stream_unlink(st);
        sbx__envd_stream_end_error(st, code, msg);
    }
    if (w->create_req) {
        sbx__envd_rpc_error(w->create_req, code, "%s", msg);
        w->create_req = NULL;
    } else if (w->id[0] && w->list) {
        w->err_code = code;
        snprintf(w->err_msg, sizeof(w->err_msg), "%s", msg);
        if (w->cancel_w >= 0 && write(w->cancel_w, "k", 1) < 0) {
            /* the job sees the hang-up when the descriptor closes below */
        }
        watch_close_loop_side(w); /* it stays listed until RemoveWatcher */
        return;
    }
    watch_stop(w);
}

static const char *type_of(char kind)
{
    switch (kind) {
    case 'C':
        return "EVENT_TYPE_CREATE";
    case 'W':
        return "EVENT_TYPE_WRITE";
    case 'D':
        return "EVENT_TYPE_REMOVE";
    case 'M':
        return "EVENT_TYPE_RENAME";
    default:
        return "EVENT_TYPE_CHMOD";
    }
}

/* One line from the watcher: 0, or -1 when w failed (it may be freed). */
static int take_line(struct sbx__envd_watch *w, const char *p, size_t n)
{
    struct sbx_buf name = SBX_BUF_INIT, out = SBX_BUF_INIT;
    struct sbx_json *entry = NULL, *ev;
    char kind;
    int rc = sbx__envd_watch_parse_line(p, n, w->root, &kind, &name, &entry);

    if (rc < 0) {
        sbx_buf_free(&name);
        fail(w, SBX_CONNECT_INTERNAL, "watcher error: malformed output of sbx-server watch");
        return -1;
    }
    if (kind == 'R') {
        sbx_buf_free(&name);
        w->ready = true;
        if (w->streams) {
            sbx__envd_stream_send(w->streams, "{\"start\":{}}", 12);
        } else if (w->create_req) {
            ev = sbx_json_object_new();
            if (ev && sbx_json_set_str(ev, "watcherId", w->id) < 0) {
                sbx_json_free(ev);
                ev = NULL;
            }
            if (ev)
                sbx__envd_unary_reply(w->create_req, ev);
            else
                sbx__envd_rpc_error(w->create_req, SBX_CONNECT_INTERNAL, "out of memory");
            w->create_req = NULL;
        }
        return 0;
    }
    ev = sbx_json_object_new();
    rc = ev ? sbx_json_set_str(ev, "name", name.ptr) : -ENOMEM;
    sbx_buf_free(&name);
    if (rc == 0)
        rc = sbx_json_set_str(ev, "type", type_of(kind));
    if (rc == 0 && entry) {
        rc = sbx_json_set_take(ev, "entry", entry);
        entry = rc == 0 ? NULL : entry;
    }
    sbx_json_free(entry);
    if (rc == 0 && w->streams) {
        rc = sbx_buf_addstr(&out, "{\"filesystem\":");
        if (rc == 0)
            rc = sbx_json_dump(ev, &out);
        if (rc == 0)
            rc = sbx_buf_addstr(&out, "}");
        if (rc == 0)
            sbx__envd_stream_send(w->streams, out.ptr, out.len);
        sbx_json_free(ev);
    } else if (rc == 0 && w->events) {
        if (sbx_json_array_len(w->events) >= EVENTS_MAX) {
            sbx_json_free(ev);
            sbx_buf_free(&out);
            fail(w, SBX_CONNECT_RESOURCE_EXHAUSTED,
                 "watcher error: more than 100000 events not taken; the watcher stopped");
            return -1;
        }
        rc = sbx_json_append_take(w->events, ev);
        if (rc < 0)
            sbx_json_free(ev);
    } else {
        sbx_json_free(ev);
    }
    sbx_buf_free(&out);
    if (rc < 0) {
        fail(w, SBX_CONNECT_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

/* Reads what the watcher printed: 1 data, 0 nothing now, -1 EOF or error,
 * -2 when w failed (then w may be freed). */
static int pump(struct sbx__envd_watch *w)
{
    char buf[16384];
    ssize_t n;
    size_t i, start = 0;

    if (w->out_r < 0)
        return -1;
    n = read(w->out_r, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        sbx_watch_close(w->wout);
        w->wout = NULL;
        sbx_fd_close(w->out_r);
        w->out_r = -1;
        return -1;
    }
    for (i = 0; i < (size_t)n; i++) {
        if (buf[i] != '\n')
            continue;
        if (sbx_buf_add(&w->line, buf + start, i - start) < 0) {
            fail(w, SBX_CONNECT_INTERNAL, "out of memory");
            return -2;
        }
        start = i + 1;
        if (take_line(w, w->line.ptr ? w->line.ptr : "", w->line.len) < 0)
            return -2;
        sbx_buf_reset(&w->line);
    }
    if (sbx_buf_add(&w->line, buf + start, (size_t)n - start) < 0 || w->line.len > LINE_MAX_LEN) {
        fail(w, SBX_CONNECT_INTERNAL, "watcher error: malformed output of sbx-server watch");
        return -2;
    }
    return 1;
}

static void on_out(struct sbx_watch *sw, int events, void *ud)
{
    struct sbx__envd_watch *w = ud;

    (void)sw;
    (void)events;
    if (pump(w) < 0)
        return;
    if (w->streams && w->streams->waiting && w->wout)
        sbx_watch_set(w->wout, 0);
}

static void on_resume(void *ud)
{
    struct sbx__envd_watch *w = ud;

    if (w->wout)
        sbx_watch_set(w->wout, SBX_WATCH_READ);
}

/* ---- the exec job ------------------------------------------------------- */

static void job_run(struct sbx_provider *prov, const struct sbx_err *open_err, void *ud)
{
    struct sbx__envd_watch *w = ud;
    const char *argv[9];
    struct sbx_exec_req r;
    size_t n = 0;

    if (!prov) {
        w->rc = open_err->code ? open_err->code : -EIO;
        w->err = *open_err;
    } else {
        argv[n++] = "/bin/sh";
        argv[n++] = "-c";
        argv[n++] = WRAPPER;
        argv[n++] = "sh";
        if (w->recursive)
            argv[n++] = "--recursive";
        if (w->entry)
            argv[n++] = "--entry";
        argv[n++] = "--";
        argv[n++] = w->root;
        argv[n] = NULL;
        memset(&r, 0, sizeof(r));
        r.argv = argv;
        r.cwd = "/";
        r.stdin_fd = -1;
        r.stdout_fd = w->out_w;
        r.stderr_fd = -1; /* captured: the reason of a failure */
        r.use_cancel_fd = true;
        r.cancel_fd = w->cancel_r;
        w->rc = sbx_provider_exec(prov, w->backend_id, &r, &w->res, &w->err);
    }
    sbx_fd_close(w->out_w);
    sbx_fd_close(w->cancel_r);
    w->out_w = w->cancel_r = -1;
}

static void job_done(void *ud)
{
    struct sbx__envd_watch *w = ud;
    char msg[SBX_ERR_MSG_MAX + 300];
    int len = (int)(w->res.err_len > ERRTXT_MAX ? ERRTXT_MAX : w->res.err_len);
    int r = 1;

    /* what it printed before it exited; w stays "running" meanwhile: a send
     * that finds the client gone stops w (on_stream_gone), which must not
     * free it under the pump */
    if (w->list && w->err_code == SBX_CONNECT_OK)
        for (int i = 0; i < 64 && (r = pump(w)) > 0; i++)
            ;
    w->running = false;
    if (!w->list) {
        watch_free(w); /* stopped while the job ran or while pumping */
        return;
    }
    if (w->err_code != SBX_CONNECT_OK || r == -2)
        return; /* failed already; kept for GetWatcherEvents */
    while (len > 0 && w->res.err[len - 1] == '\n')
        len--;
    if (w->rc < 0) {
        snprintf(msg, sizeof(msg), "error creating watcher: %s", w->err.msg);
        fail(w, SBX_CONNECT_INTERNAL, msg);
    } else if (!w->ready && !w->res.term_signal && w->res.exit_code == SBX_WATCH_EXIT_MISSING) {
        snprintf(msg, sizeof(msg), "path %s not found: stat %s: no such file or directory",
                 w->root, w->root);
        fail(w, SBX_CONNECT_NOT_FOUND, msg);
    } else if (!w->ready && !w->res.term_signal && w->res.exit_code == SBX_WATCH_EXIT_NOTDIR) {
        /* envd wraps a nil error with %w: Go prints %!w(<nil>) */
        snprintf(msg, sizeof(msg), "path %s not a directory: %%!w(<nil>)", w->root);
        fail(w, SBX_CONNECT_INVALID_ARGUMENT, msg);
    } else if (!w->ready && !w->res.term_signal && w->res.exit_code == EXIT_NO_BINARY) {
        fail(w, SBX_CONNECT_UNIMPLEMENTED,
             "filesystem.Filesystem watchers are not implemented by sbx serve e2b for this "
             "sandbox (no sbx-server in it)");
    } else if (!w->ready) {
        snprintf(msg, sizeof(msg), "error adding path %s to watcher: %.*s", w->root, len,
                 len ? w->res.err : "the watcher exited");
        fail(w, SBX_CONNECT_INTERNAL, msg);
    } else {
        snprintf(msg, sizeof(msg), "watcher error: %.*s", len,
                 len ? w->res.err : "the watcher exited");
        fail(w, SBX_CONNECT_INTERNAL, msg);
    }
}

/* ---- requests --------------------------------------------------------------- */

static const struct sbx__envd_field WATCH_REQ[] = {
    {"path", NULL, SBX_ENVD_STRING, NULL, NULL},
    {"recursive", NULL, SBX_ENVD_BOOL, NULL, NULL},
    {"includeEntry", "include_entry", SBX_ENVD_BOOL, NULL, NULL},
    /* accepted; no mount is refused (envd refuses network mounts without it) */
    {"allowNetworkMounts", "allow_network_mounts", SBX_ENVD_BOOL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field ID_REQ[] = {
    {"watcherId", "watcher_id", SBX_ENVD_STRING, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static bool flag(const struct sbx_json *msg, const char *name, const char *alt)
{
    struct sbx_json *v = sbx__envd_get(msg, name, alt);

    return v && sbx_json_bool(v);
}

/* A new watcher of msg's directory in s's list, its job submitted. NULL
 * with code and emsg set on failure. */
static struct sbx__envd_watch *watch_new(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                                         const struct sbx__envd_user *u,
                                         const struct sbx_json *msg, char *emsg, size_t elen,
                                         enum sbx_connect_code *code)
{
    struct sbx__envd_watch **list = sbx__envd_watches(s);
    struct sbx__envd_watch *w = calloc(1, sizeof(*w));
    struct sbx_json *p = sbx__envd_get(msg, "path", NULL);
    struct sbx_buf root = SBX_BUF_INIT;
    struct sbx_err err = {0};

    *code = SBX_CONNECT_INTERNAL;
    snprintf(emsg, elen, "out of memory");
    if (!w || !list) {
        free(w);
        return NULL;
    }
    w->out_r = w->out_w = w->cancel_r = w->cancel_w = -1;
    sbx_buf_init(&w->line, 0);
    w->f = f;
    w->recursive = flag(msg, "recursive", NULL);
    w->entry = flag(msg, "includeEntry", "include_entry");
    if (sbx__envd_resolve(u->home, p ? sbx_json_str(p) : "", p ? sbx_json_str_len(p) : 0,
                          &root) < 0) {
        sbx_buf_free(&root);
        *code = SBX_CONNECT_INVALID_ARGUMENT;
        snprintf(emsg, elen, "invalid path");
        watch_free(w);
        return NULL;
    }
    w->root = sbx_buf_detach(&root, NULL);
    w->backend_id = strdup(s->backend_id);
    if (!w->root || !w->backend_id) {
        watch_free(w);
        return NULL;
    }
    if (sbx__envd_make_pipe(&w->out_r, &w->out_w, true) < 0 ||
        sbx__envd_make_pipe(&w->cancel_r, &w->cancel_w, false) < 0) {
        snprintf(emsg, elen, "error creating watcher: %s", strerror(errno));
        watch_free(w);
        return NULL;
    }
    w->wout = sbx_watch_new(f->loop, w->out_r, SBX_WATCH_READ, on_out, w, &err);
    if (!w->wout) {
        snprintf(emsg, elen, "error creating watcher: %.200s", err.msg);
        watch_free(w);
        return NULL;
    }
    w->running = true;
    if (sbx_api_worker_submit(f->procs, job_run, job_done, w, &err) < 0) {
        w->running = false;
        *code = SBX_CONNECT_UNAVAILABLE;
        snprintf(emsg, elen, "%s", err.msg);
        watch_free(w);
        return NULL;
    }
    w->list = list;
    w->next = *w->list;
    *w->list = w;
    return w;
}

static void watch_dir(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                      const struct sbx__envd_user *u, struct sbx_http_req *req)
{
    struct sbx_json *msg;
    enum sbx_connect_code code;
    struct sbx__envd_stream *st;
    struct sbx__envd_watch *w;
    int64_t timeout;
    char emsg[256];

    msg = sbx__envd_stream_begin(req, "filesystem.WatchDirRequest", WATCH_REQ, &timeout);
    if (!msg)
        return;
    w = watch_new(f, s, u, msg, emsg, sizeof(emsg), &code);
    sbx_json_free(msg);
    if (!w) {
        sbx__envd_stream_error(req, code, emsg);
        return;
    }
    /* the stream starts now (its deadline and a client going away stop the
     * watcher); its first message is StartEvent, once the watcher is ready */
    st = sbx__envd_stream_open(f, req, timeout, KEEPALIVE);
    if (!st) {
        watch_stop(w);
        return;
    }
    /* no keepalive before StartEvent (the SDK wants it first); sending
     * StartEvent starts the keepalive timer */
    sbx_timer_stop(st->keepalive);
    sbx__envd_stream_attach(st, &w->streams, w, on_resume, on_stream_gone);
}

/* "w" and 20 random lowercase letters and digits. */
static void new_id(char out[24])
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[20];
    size_t i;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        for (i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)rand();
    out[0] = 'w';
    for (i = 0; i < sizeof(r); i++)
        out[i + 1] = al[r[i] % 36];
    out[21] = '\0';
}

static void create_watcher(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                           const struct sbx__envd_user *u, struct sbx_http_req *req)
{
    struct sbx_json *msg = sbx__envd_unary_begin(req, "filesystem.CreateWatcherRequest",
                                                 WATCH_REQ);
    struct sbx_json *events = sbx_json_array_new();
    enum sbx_connect_code code;
    struct sbx__envd_watch *w;
    char emsg[256];

    if (!msg || !events) {
        sbx_json_free(events);
        if (msg)
            sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        sbx_json_free(msg);
        return;
    }
    w = watch_new(f, s, u, msg, emsg, sizeof(emsg), &code);
    sbx_json_free(msg);
    if (!w) {
        sbx_json_free(events);
        sbx__envd_rpc_error(req, code, "%s", emsg);
        return;
    }
    new_id(w->id);
    w->events = events;
    w->create_req = req; /* answered once the watcher is ready */
}

/* The CreateWatcher watcher a request names; NULL when req was answered. */
static struct sbx__envd_watch *find_watcher(struct sbx_e2b_sbx *s, struct sbx_http_req *req,
                                            const char *type_name)
{
    struct sbx_json *msg = sbx__envd_unary_begin(req, type_name, ID_REQ), *id;
    struct sbx__envd_watch *w;
    const char *want;

    if (!msg)
        return NULL;
    id = sbx__envd_get(msg, "watcherId", "watcher_id");
    want = id ? sbx_json_str(id) : "";
    for (w = s->envd ? *sbx__envd_watches(s) : NULL; w; w = w->next)
        if (w->id[0] && !w->create_req && strcmp(w->id, want) == 0)
            break;
    if (!w)
        sbx__envd_rpc_error(req, SBX_CONNECT_NOT_FOUND, "watcher with id %s not found", want);
    sbx_json_free(msg);
    return w;
}

static void get_events(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx__envd_watch *w = find_watcher(s, req, "filesystem.GetWatcherEventsRequest");
    struct sbx_json *out, *fresh;

    if (!w)
        return;
    if (w->err_code != SBX_CONNECT_OK) {
        sbx__envd_rpc_error(req, w->err_code, "%s", w->err_msg);
        return;
    }
    out = sbx_json_object_new();
    fresh = sbx_json_array_new();
    if (!out || !fresh ||
        (sbx_json_array_len(w->events) && sbx_json_set_take(out, "events", w->events) < 0)) {
        sbx_json_free(out);
        sbx_json_free(fresh);
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        return;
    }
    /* taken: the next call returns what came since */
    if (!sbx_json_array_len(w->events))
        sbx_json_free(w->events);
    w->events = fresh;
    sbx__envd_unary_reply(req, out);
}

static void remove_watcher(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx__envd_watch *w = find_watcher(s, req, "filesystem.RemoveWatcherRequest");

    if (!w)
        return;
    watch_stop(w);
    sbx__envd_unary_reply(req, NULL);
}

/* ---- entry points -------------------------------------------------------- */

void sbx__envd_watch_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                            const struct sbx__envd_user *u, const char *method,
                            struct sbx_http_req *req)
{
    if (strcmp(method, "WatchDir") == 0 || strcmp(method, "CreateWatcher") == 0)
        (method[0] == 'W' ? watch_dir : create_watcher)(f, s, u, req);
    else
        (strcmp(method, "GetWatcherEvents") == 0 ? get_events : remove_watcher)(s, req);
}

void sbx__envd_watch_release(struct sbx__envd_watch **list)
{
    while (*list) {
        struct sbx__envd_watch *w = *list;
        struct sbx__envd_stream *st = w->streams;

        if (st) {
            sbx__envd_stream_unlink(st);
            sbx__envd_stream_end_error(st, SBX_CONNECT_UNAVAILABLE, "the sandbox was killed");
        }
        if (w->create_req) {
            sbx__envd_rpc_error(w->create_req, SBX_CONNECT_UNAVAILABLE, "the sandbox was killed");
            w->create_req = NULL;
        }
        watch_stop(w); /* out of the list; freed once its job is done */
    }
}
