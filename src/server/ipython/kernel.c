#include "server/ipython/ipython.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/spawn.h"
#include "json/json.h"
#include "net/loop.h"
#include "sbx/log.h"
#include "server/editor/editor.h"
#include "server/ipython/internal.h"

/*
 * The run_ipython kernel: python3 running the embedded driver (driver.py),
 * spoken to over one socket with length-prefixed JSON frames (internal.h).
 * Event-driven like the bash session: a watcher on the socket, a timer for
 * the cell's hard timeout and a zero timer so that callbacks never run
 * inside the call that asked for them.
 *
 * Every cell frame sent gets exactly one result frame. A cell that timed out
 * is interrupted (SIGINT) and answered at once; its late result is dropped
 * (`pending` counts the results still owed, the current cell's is the last
 * one). The interpreter starts with the first cell, and again with the next
 * cell after it died.
 *
 * With agent_skills, a cell's file_editor(...) call is a request frame sent
 * while the driver runs a cell (pending > 0); it is answered at once, from
 * the server's editor, before anything else is read. A request at any other
 * time means the driver is broken: the interpreter is killed.
 */

/* Reads fd 0 (the socket) for the driver's source, framed, and runs it. */
static const char BOOTSTRAP[] =
    "import os,sys\n"
    "def _sbx_read(n):\n"
    "    b = b''\n"
    "    while len(b) < n:\n"
    "        c = os.read(0, n - len(b))\n"
    "        if not c:\n"
    "            sys.exit(0)\n"
    "        b += c\n"
    "    return b\n"
    "exec(compile(_sbx_read(int.from_bytes(_sbx_read(4), 'big')), '<sbx-ipython-driver>', "
    "'exec'))\n";

#define EARLY_MAX 4096 /* bytes of start-up noise kept for the error message */

struct sbx_ipython {
    struct sbx_loop *loop;
    struct sbx_ipython_opts opts;
    char *python_opt, *home, *cwd0;
    gid_t *groups;

    /* the interpreter */
    pid_t pid;
    int fd;
    struct sbx_watch *watch;
    bool ready;            /* the driver said hello */
    unsigned pending;      /* results owed by the driver */
    struct sbx_buf in, out;
    struct sbx_buf early;  /* bytes that were no frame, before hello */
    char *python;          /* path started */
    char *executable;      /* sys.executable */
    char *last_cwd;        /* the bash cwd the kernel last chdir'ed to */
    bool init_done;
    bool failed;           /* the channel broke: waiting for the exit */

    struct sbx_timer *timeout, *kick;

    /* the cell in progress */
    bool busy, sent;
    char *code, *init, *bash_cwd;
    bool include_extra, has_timeout, timeout_is_int;
    double timeout_s;
    sbx_ipython_done_fn *done;
    void *ud;
};

static void pump(struct sbx_ipython *k);

/* ---- observations -------------------------------------------------------- */

/* A run_ipython observation for the current cell from its text output. */
static struct sbx_obs *cell_obs(struct sbx_ipython *k, const char *text, size_t len,
                                const struct sbx_json *images)
{
    struct sbx_buf content = SBX_BUF_INIT;
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_RUN_IPYTHON);
    size_t n = images ? sbx_json_array_len(images) : 0, i;

    if (!o)
        goto fail;
    if (sbx__ipython_content(&content, text, len, k->include_extra, k->bash_cwd,
                             k->executable ? k->executable : k->python) < 0 ||
        sbx_obs_set_content(o, content.ptr, content.len) < 0 ||
        sbx_obs_set(&o->u.run_ipython.code, k->code) < 0)
        goto fail;
    if (n) {
        o->u.run_ipython.image_urls = calloc(n, sizeof(char *));
        if (!o->u.run_ipython.image_urls)
            goto fail;
        o->u.run_ipython.has_image_urls = true;
        for (i = 0; i < n; i++) {
            struct sbx_buf url = SBX_BUF_INIT;
            const char *b64 = sbx_json_str(sbx_json_array_at(images, i));

            if (sbx_buf_addf(&url, "data:image/png;base64,%s", b64 ? b64 : "") < 0)
                goto fail;
            o->u.run_ipython.image_urls[i] = sbx_buf_detach(&url, NULL);
            if (!o->u.run_ipython.image_urls[i])
                goto fail;
            o->u.run_ipython.n_image_urls++;
        }
    }
    sbx_buf_free(&content);
    return o;
fail:
    sbx_buf_free(&content);
    sbx_obs_free(o);
    return NULL;
}

static void finish(struct sbx_ipython *k, struct sbx_obs *o)
{
    sbx_ipython_done_fn *done = k->done;
    void *ud = k->ud;

    sbx_timer_stop(k->timeout);
    k->busy = k->sent = false;
    k->done = NULL;
    free(k->code);
    free(k->init);
    free(k->bash_cwd);
    k->code = k->init = k->bash_cwd = NULL;
    if (done)
        done(k, o, ud);
    else
        sbx_obs_free(o);
}

/* ---- the interpreter ------------------------------------------------------ */

/* The channel is unusable: stop using it and make sure the process goes;
 * its exit (child_exited) resets the state. */
static void channel_broken(struct sbx_ipython *k)
{
    if (k->watch) {
        sbx_watch_close(k->watch);
        k->watch = NULL;
    }
    sbx_fd_close(k->fd);
    k->fd = -1;
    sbx_buf_reset(&k->out);
    k->failed = true;
    if (k->pid > 0) {
        kill(-k->pid, SIGKILL);
        kill(k->pid, SIGKILL);
    }
}

static void flush_out(struct sbx_ipython *k)
{
    if (k->fd >= 0 && sbx_watch_flush(k->watch, k->fd, &k->out) < 0)
        channel_broken(k);
}

static int send_json(struct sbx_ipython *k, const struct sbx_json *msg)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int rc = sbx_json_dump(msg, &b);

    if (rc == 0)
        rc = sbx__ipython_frame_add(&k->out, b.ptr, b.len);
    sbx_buf_free(&b);
    if (rc == 0)
        flush_out(k);
    return rc;
}

/* A string argument of a file_editor request; NULL when null or absent. */
static const char *arg_str(const struct sbx_json *args, const char *key)
{
    const struct sbx_json *v = sbx_json_get(args, key);

    return v && sbx_json_type(v) == SBX_JSON_STRING ? sbx_json_str(v) : NULL;
}

/* {"t": "editor", "args": {...}} -> {"t": "editor_result", "output": str,
 * "error": bool, "old_content": str|null, "new_content": str|null}. */
static void on_editor(struct sbx_ipython *k, const struct sbx_json *msg)
{
    const struct sbx_json *args = sbx_json_get(msg, "args");
    const struct sbx_json *vr = sbx_json_get(args, "view_range");
    struct sbx_editor_req q = {0};
    struct sbx_editor_res r = {0};
    struct sbx_buf raw = SBX_BUF_INIT;
    struct sbx_json *reply = sbx_json_object_new();
    const char *output = NULL;
    bool error = true;
    int rc = -ENOMEM;

    if (!reply)
        goto out;
    q.command = arg_str(args, "command");
    q.path = arg_str(args, "path");
    q.file_text = arg_str(args, "file_text");
    q.old_str = arg_str(args, "old_str");
    q.new_str = arg_str(args, "new_str");
    q.insert_line = arg_str(args, "insert_line");
    if (vr && sbx_json_type(vr) != SBX_JSON_NULL) {
        if (sbx_json_type(vr) == SBX_JSON_ARRAY && sbx_json_array_len(vr) == 2 &&
            sbx_json_type(sbx_json_array_at(vr, 0)) == SBX_JSON_INT &&
            sbx_json_type(sbx_json_array_at(vr, 1)) == SBX_JSON_INT) {
            q.has_view_range = true;
            q.view_range[0] = sbx_json_int(sbx_json_array_at(vr, 0));
            q.view_range[1] = sbx_json_int(sbx_json_array_at(vr, 1));
        } else {
            if (sbx_json_dump(vr, &raw) < 0)
                goto out;
            q.view_range_raw = raw.ptr;
        }
    }
    if (!k->opts.agent_skills || !k->opts.editor) {
        output = "file_editor is not available: the agent_skills plugin was not requested";
    } else if (!q.command || !q.path) {
        output = "file_editor: `command` and `path` must be strings";
    } else {
        rc = sbx_editor_run(k->opts.editor, &q, &r);
        if (rc < 0)
            goto out;
        output = r.output;
        error = r.error;
        /* Upstream's file_editor runs inside the kernel, as the session
         * user: a file it creates is that user's. */
        if (!error && k->opts.switch_user && !strcmp(q.command, "create") &&
            lchown(q.path, k->opts.uid, k->opts.gid) < 0)
            sbx_log(SBX_LOG_DEBUG, "ipython: chown %s: %s", q.path, strerror(errno));
    }
    rc = -ENOMEM;
    if (sbx_json_set_str(reply, "t", "editor_result") < 0 ||
        sbx_json_set_str(reply, "output", output) < 0 ||
        sbx_json_set_bool(reply, "error", error) < 0 ||
        sbx_json_set_take(reply, "old_content", sbx_json_cstr_new(r.old_content)) < 0 ||
        sbx_json_set_take(reply, "new_content", sbx_json_cstr_new(r.new_content)) < 0)
        goto out;
    rc = send_json(k, reply);
out:
    if (rc < 0) {
        /* The driver waits for this answer: without one it is stuck. */
        sbx_log(SBX_LOG_WARN, "ipython: cannot answer a file_editor request: %s", strerror(-rc));
        channel_broken(k);
    }
    sbx_editor_res_clear(&r);
    sbx_buf_free(&raw);
    sbx_json_free(reply);
}

static void on_frame(struct sbx_ipython *k, const char *p, size_t n)
{
    struct sbx_json *msg = sbx_json_parse(p, n, NULL);
    const char *t = msg ? sbx_json_str(sbx_json_get(msg, "t")) : NULL;

    if (!t) {
        if (!k->ready)
            sbx_buf_add(&k->early, p, n < EARLY_MAX ? n : EARLY_MAX);
        sbx_log(SBX_LOG_WARN, "ipython: bad frame from the driver (%zu bytes)", n);
        channel_broken(k);
        goto out;
    }
    if (!strcmp(t, "hello")) {
        const char *exe = sbx_json_str(sbx_json_get(msg, "executable"));

        free(k->executable);
        k->executable = strdup(exe && *exe ? exe : k->python);
        k->ready = true;
        pump(k);
    } else if (!strcmp(t, "result") && k->pending) {
        k->pending--;
        if (k->pending == 0 && k->busy && k->sent) {
            const struct sbx_json *text = sbx_json_get(msg, "text");

            finish(k, cell_obs(k, sbx_json_str(text) ? sbx_json_str(text) : "",
                               sbx_json_str_len(text), sbx_json_get(msg, "images")));
        } else {
            pump(k); /* a timed-out cell's late result: the next cell may go */
        }
    } else if (!strcmp(t, "editor")) {
        if (k->pending) {
            on_editor(k, msg); /* also a timed-out cell's: its code still runs */
        } else {
            sbx_log(SBX_LOG_WARN, "ipython: file_editor request outside a cell");
            channel_broken(k);
        }
    }
out:
    sbx_json_free(msg);
}

static void read_chan(struct sbx_ipython *k)
{
    char buf[65536];

    while (k->fd >= 0) {
        ssize_t n = read(k->fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            channel_broken(k); /* EOF: the interpreter is exiting */
            break;
        }
        if (sbx_buf_add(&k->in, buf, (size_t)n) < 0) {
            channel_broken(k);
            break;
        }
        for (;;) {
            const char *payload;
            size_t len, used;
            int rc = sbx__ipython_frame_next(k->in.ptr, k->in.len, SBX_IPYTHON_FRAME_MAX,
                                             &payload, &len, &used);

            if (rc == 0)
                break;
            if (rc < 0) {
                /* Not a frame: python complaining on stderr before the
                 * driver took the descriptors over (or a broken driver). */
                if (!k->ready)
                    sbx_buf_add(&k->early, k->in.ptr, k->in.len < EARLY_MAX ? k->in.len
                                                                             : EARLY_MAX);
                channel_broken(k);
                break;
            }
            on_frame(k, payload, len);
            if (k->fd < 0)
                break;
            sbx_buf_consume(&k->in, used);
        }
        if ((size_t)n < sizeof(buf))
            break;
    }
}

static void on_chan(struct sbx_watch *w, int events, void *ud)
{
    struct sbx_ipython *k = ud;

    (void)w;
    if (events & SBX_WATCH_WRITE)
        flush_out(k);
    if ((events & SBX_WATCH_READ) && k->fd >= 0)
        read_chan(k);
}

static bool is_exec_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The next python3 on PATH from *pos on (no NSS, no execvp: a static
 * binary searches itself); *pos moves past it. opts.python is the only
 * candidate when set. */
static char *find_python(const struct sbx_ipython *k, size_t *pos)
{
    const char *path = getenv("PATH");
    const char *p, *e;

    if (k->python_opt) {
        if (*pos)
            return NULL;
        *pos = 1;
        return is_exec_file(k->python_opt) ? strdup(k->python_opt) : NULL;
    }
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    if (*pos > strlen(path))
        return NULL;
    for (p = path + *pos;; p = e + 1) {
        struct sbx_buf b = SBX_BUF_INIT;

        e = strchr(p, ':');
        if (!e)
            e = p + strlen(p);
        *pos = (size_t)(e - path) + 1;
        if (e > p && *p == '/') {
            sbx_buf_add(&b, p, (size_t)(e - p));
            sbx_buf_addstr(&b, "/python3");
            if (is_exec_file(b.ptr))
                return sbx_buf_detach(&b, NULL);
        }
        sbx_buf_free(&b);
        if (!*e)
            return NULL;
    }
}

/* The server's environment without its session key; as another user, with
 * that user's HOME (and no USER/LOGNAME of the server's). */
static char **build_env(const struct sbx_ipython *k)
{
    static const char *const unset_plain[] = {"SESSION_API_KEY", NULL};
    static const char *const unset_user[] = {"SESSION_API_KEY", "USER", "LOGNAME", NULL};
    struct sbx_buf home = SBX_BUF_INIT;
    const char *set[2] = {NULL, NULL};
    char **env;

    if (k->opts.switch_user) {
        sbx_buf_addf(&home, "HOME=%s", k->home ? k->home : "/");
        set[0] = home.ptr;
    }
    env = sbx_env_new(k->opts.switch_user ? unset_user : unset_plain, set);
    sbx_buf_free(&home);
    return env;
}

/* Starts the interpreter; done gets an error observation from the caller
 * when this fails (err says why). */
static int spawn_kernel(struct sbx_ipython *k, struct sbx_err *err)
{
    char *argv[] = {NULL, "-c", (char *)BOOTSTRAP, NULL};
    struct sbx_spawn_opts so = {0};
    char **env = NULL;
    int sv[2] = {-1, -1}, rc;
    pid_t pid = -1;
    size_t pos = 0;
    struct sbx_err serr = {0};

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return sbx_err_set(err, -errno, "start python3: socketpair: %s", strerror(errno));
    env = build_env(k);
    if (!env) {
        rc = sbx_err_set(err, -ENOMEM, "start python3: out of memory");
        goto fail;
    }
    /* The server looks as root; the session user may not be able to run
     * the first candidate (a python3 under /root): try the next one. */
    for (;;) {
        free(k->python);
        k->python = find_python(k, &pos);
        if (!k->python)
            break;
        argv[0] = k->python;
        so.path = k->python;
        so.argv = argv;
        so.envp = env;
        so.cwd = k->bash_cwd ? k->bash_cwd : k->cwd0;
        so.cwd_optional = true;
        so.stdio_fd = sv[1];
        so.new_session = true; /* its own group: interrupts and kills reach its children */
        so.set_ids = k->opts.switch_user;
        so.uid = k->opts.uid;
        so.gid = k->opts.gid;
        so.groups = k->groups;
        so.ngroups = k->opts.ngroups;
        pid = sbx_spawn(&so, &serr);
        if (pid >= 0 || (pid != -EACCES && pid != -ENOENT && pid != -ENOEXEC))
            break;
        sbx_log(SBX_LOG_DEBUG, "ipython: %s", serr.msg);
    }
    sbx_env_free(env);
    env = NULL;
    if (!k->python && serr.code) {
        rc = sbx_err_set(err, serr.code, "no python3 on PATH could be started as the session "
                                         "user (last: %s)", serr.msg);
        goto fail;
    }
    if (!k->python) {
        if (k->python_opt)
            rc = sbx_err_set(err, -ENOENT,
                             "python3 was not found in the sandbox: %s is not an executable "
                             "file; run_ipython needs a Python 3 interpreter",
                             k->python_opt);
        else
            rc = sbx_err_set(err, -ENOENT,
                             "python3 was not found in the sandbox (searched PATH=%s); "
                             "run_ipython needs a Python 3 interpreter",
                             getenv("PATH") ? getenv("PATH") : "");
        goto fail;
    }
    if (pid < 0) {
        rc = sbx_err_set(err, (int)pid, "%s", serr.msg);
        goto fail;
    }
    sbx_fd_close(sv[1]);
    sbx_fd_set_nonblock(sv[0], 1);
    k->fd = sv[0];
    k->pid = pid;
    k->ready = k->failed = k->init_done = false;
    k->pending = 0;
    free(k->last_cwd);
    k->last_cwd = NULL;
    sbx_buf_reset(&k->in);
    sbx_buf_reset(&k->out);
    sbx_buf_reset(&k->early);
    k->watch = sbx_watch_new(k->loop, k->fd, SBX_WATCH_READ, on_chan, k, err);
    if (!k->watch) {
        channel_broken(k);
        return err->code ? err->code : -ENOMEM;
    }
    sbx_log(SBX_LOG_DEBUG, "ipython: started %s (pid %d)", k->python, (int)pid);
    rc = sbx__ipython_frame_add(&k->out, sbx__ipython_driver, sbx__ipython_driver_len);
    if (rc < 0) {
        channel_broken(k);
        return sbx_err_set(err, rc, "start python3: out of memory");
    }
    flush_out(k);
    return 0;
fail:
    sbx_fd_close(sv[0]);
    sbx_fd_close(sv[1]);
    return rc;
}

static int send_cell(struct sbx_ipython *k)
{
    struct sbx_json *msg = sbx_json_object_new();
    bool cd = !k->last_cwd || strcmp(k->last_cwd, k->bash_cwd) != 0;
    int rc = -ENOMEM;

    if (!msg)
        return -ENOMEM;
    if (sbx_json_set_str(msg, "code", k->code) < 0 ||
        (cd ? sbx_json_set_str(msg, "cwd", k->bash_cwd) : sbx_json_set_null(msg, "cwd")) < 0 ||
        sbx_json_set_str(msg, "init", k->init_done ? "" : k->init) < 0 ||
        sbx_json_set_bool(msg, "agent_skills", k->opts.agent_skills && k->opts.editor) < 0)
        goto out;
    rc = send_json(k, msg);
    if (rc < 0)
        goto out;
    if (cd) {
        free(k->last_cwd);
        k->last_cwd = strdup(k->bash_cwd);
    }
    if (*k->init)
        k->init_done = true;
    k->pending++;
    k->sent = true;
out:
    sbx_json_free(msg);
    return rc;
}

/* Moves the current cell forward: starts the interpreter, sends the cell. */
static void pump(struct sbx_ipython *k)
{
    struct sbx_err err = {0};

    if (!k->busy || k->sent)
        return;
    if (k->pid <= 0) {
        if (spawn_kernel(k, &err) < 0) {
            finish(k, sbx_obs_error_new(err.msg));
            return;
        }
    }
    if (!k->ready || k->failed || k->pending)
        return;
    if (send_cell(k) < 0)
        channel_broken(k);
}

static void on_kick(struct sbx_timer *t, void *ud)
{
    struct sbx_ipython *k = ud;

    (void)t;
    pump(k);
}

static void on_timeout(struct sbx_timer *t, void *ud)
{
    struct sbx_ipython *k = ud;
    struct sbx_buf msg = SBX_BUF_INIT;

    (void)t;
    if (!k->busy)
        return;
    if (k->fd >= 0)
        read_chan(k); /* the result may be waiting */
    if (!k->busy)
        return;
    if (k->sent) {
        kill(k->pid, SIGINT); /* its result arrives later and is dropped */
    } else if (k->pid > 0 && k->ready && k->pending) {
        /* Stuck behind an earlier cell that ignored its interrupt: restart. */
        channel_broken(k);
    }
    if (sbx__ipython_timeout_text(&msg, k->timeout_s, k->timeout_is_int) < 0)
        finish(k, NULL);
    else
        finish(k, cell_obs(k, msg.ptr, msg.len, NULL));
    sbx_buf_free(&msg);
}

/* ---- public ---------------------------------------------------------------- */

struct sbx_ipython *sbx_ipython_new(struct sbx_loop *loop, const struct sbx_ipython_opts *o,
                                    struct sbx_err *err)
{
    struct sbx_ipython *k = calloc(1, sizeof(*k));

    if (!k) {
        sbx_err_set(err, -ENOMEM, "ipython kernel: out of memory");
        return NULL;
    }
    k->loop = loop;
    k->opts = *o;
    k->pid = -1;
    k->fd = -1;
    sbx_buf_init(&k->in, SBX_IPYTHON_FRAME_MAX + 4 + 65536);
    sbx_buf_init(&k->out, 0);
    sbx_buf_init(&k->early, 0);
    k->python_opt = o->python ? strdup(o->python) : NULL;
    k->home = o->home ? strdup(o->home) : NULL;
    k->cwd0 = strdup(o->cwd ? o->cwd : "/");
    if (o->ngroups) {
        k->groups = calloc(o->ngroups, sizeof(*k->groups));
        if (k->groups)
            memcpy(k->groups, o->groups, o->ngroups * sizeof(*k->groups));
    }
    k->opts.python = k->python_opt;
    k->opts.home = k->home;
    k->opts.cwd = k->cwd0;
    k->opts.groups = k->groups;
    k->timeout = sbx_timer_new(loop, on_timeout, k, err);
    k->kick = k->timeout ? sbx_timer_new(loop, on_kick, k, err) : NULL;
    if (!k->kick || !k->cwd0 || (o->python && !k->python_opt) || (o->home && !k->home) ||
        (o->ngroups && !k->groups)) {
        if (k->kick)
            sbx_err_set(err, -ENOMEM, "ipython kernel: out of memory");
        sbx_ipython_close(k);
        return NULL;
    }
    return k;
}

int sbx_ipython_run(struct sbx_ipython *k, const struct sbx_action_run_ipython *cell,
                    bool has_timeout, double timeout_s, bool timeout_is_int,
                    const char *bash_cwd, sbx_ipython_done_fn *done, void *ud)
{
    if (k->busy)
        return -EBUSY;
    k->code = strdup(cell->code ? cell->code : "");
    k->init = strdup(cell->kernel_init_code ? cell->kernel_init_code : "");
    k->bash_cwd = strdup(bash_cwd ? bash_cwd : k->cwd0);
    if (!k->code || !k->init || !k->bash_cwd) {
        free(k->code);
        free(k->init);
        free(k->bash_cwd);
        k->code = k->init = k->bash_cwd = NULL;
        return -ENOMEM;
    }
    k->include_extra = cell->include_extra;
    k->has_timeout = has_timeout;
    k->timeout_s = timeout_s;
    k->timeout_is_int = timeout_is_int;
    k->done = done;
    k->ud = ud;
    k->busy = true;
    k->sent = false;
    if (k->pid > 0 && k->pending && !k->failed)
        kill(k->pid, SIGINT); /* still busy with a timed-out cell: move on */
    if (has_timeout) {
        double ms = timeout_s * 1000.0;

        sbx_timer_start(k->timeout, ms < 0 ? 0 : ms > 9e15 ? (int64_t)9e15 : (int64_t)ms);
    }
    sbx_timer_start(k->kick, 0);
    return 0;
}

bool sbx_ipython_child_exited(struct sbx_ipython *k, pid_t pid, int status)
{
    struct sbx_buf msg = SBX_BUF_INIT;
    bool was_ready, was_sent;

    if (!k || pid != k->pid || pid <= 0)
        return false;
    if (k->fd >= 0)
        read_chan(k); /* a last result may be in the socket */
    was_ready = k->ready;
    was_sent = k->busy && k->sent;
    if (k->watch)
        sbx_watch_close(k->watch);
    k->watch = NULL;
    sbx_fd_close(k->fd);
    k->fd = -1;
    k->pid = -1;
    k->ready = k->failed = false;
    k->pending = 0;
    sbx_log(SBX_LOG_DEBUG, "ipython: interpreter %d exited (status %d)", (int)pid, status);
    if (!k->busy)
        goto out;
    if (!was_ready) {
        /* It never came up: report what it said and do not loop. */
        sbx_buf_addf(&msg, "python3 (%s) could not start the IPython driver (", k->python);
        if (WIFEXITED(status))
            sbx_buf_addf(&msg, "exit code %d)", WEXITSTATUS(status));
        else
            sbx_buf_addf(&msg, "killed by signal %d)", WTERMSIG(status));
        if (k->early.len) {
            sbx_buf_addstr(&msg, ": ");
            sbx_buf_add(&msg, k->early.ptr, k->early.len);
        }
        finish(k, sbx_obs_error_new(msg.ptr));
    } else if (was_sent) {
        sbx_buf_addstr(&msg, "[The Python kernel exited");
        if (WIFEXITED(status))
            sbx_buf_addf(&msg, " with code %d", WEXITSTATUS(status));
        else
            sbx_buf_addf(&msg, " (killed by signal %d)", WTERMSIG(status));
        sbx_buf_addstr(&msg, " while running this cell; its variables are lost. A new kernel "
                             "starts with the next cell.]");
        finish(k, cell_obs(k, msg.ptr, msg.len, NULL));
    } else {
        sbx_timer_start(k->kick, 0); /* a cell waits: start a new interpreter */
    }
out:
    sbx_buf_free(&msg);
    return true;
}

void sbx_ipython_close(struct sbx_ipython *k)
{
    if (!k)
        return;
    if (k->pid > 0) {
        kill(-k->pid, SIGKILL);
        kill(k->pid, SIGKILL);
    }
    if (k->watch)
        sbx_watch_close(k->watch);
    sbx_fd_close(k->fd);
    if (k->busy)
        finish(k, cell_obs(k, "", 0, NULL));
    sbx_timer_close(k->timeout);
    sbx_timer_close(k->kick);
    sbx_buf_free(&k->in);
    sbx_buf_free(&k->out);
    sbx_buf_free(&k->early);
    free(k->python);
    free(k->executable);
    free(k->last_cwd);
    free(k->code);
    free(k->init);
    free(k->bash_cwd);
    free(k->python_opt);
    free(k->home);
    free(k->cwd0);
    free(k->groups);
    free(k);
}
