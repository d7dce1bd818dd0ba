#include "server/bash/session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/fmt.h"
#include "base/spawn.h"
#include "net/loop.h"
#include "sbx/log.h"
#include "server/bash/output.h"
#include "server/bash/ps1.h"
#include "server/bash/screen.h"
#include "server/bash/split.h"

/* The upstream pane: 1000x1000 with a 10000-line history. */
#define PANE_COLS 1000
#define PANE_ROWS 1000
#define PANE_HISTORY 10000

#define TIMEOUT_TEMPLATE                                                                          \
    "You may wait longer to see additional output by sending empty command '', send other "      \
    "commands to interact with the current process, send keys (\"C-c\", \"C-z\", \"C-d\") to "   \
    "interrupt/kill the previous command before sending your new command, or use the timeout "  \
    "parameter in execute_bash for future commands."
#define CONTINUE_PREFIX "[Below is the output of the previous command.]\n"

enum prev_status {
    ST_NONE,
    ST_COMPLETED,
    ST_CONTINUE,
    ST_NO_CHANGE_TIMEOUT,
    ST_HARD_TIMEOUT,
};

enum phase {
    PH_IDLE,
    PH_STARTING,   /* bash spawned, waiting for the first prompt block */
    PH_QUEUED,     /* an action was accepted; it starts on the next timer tick */
    PH_RUNNING,    /* input sent, waiting for a prompt or a timeout */
};

struct sbx_bash {
    struct sbx_loop *loop;
    struct sbx_bash_opts opts;
    char *cwd_start, *username, *home;
    gid_t *groups;

    int master;
    pid_t pid;
    bool dead;
    /* The pty's EIO usually arrives before SIGCHLD: the session is dead but
     * its exit status is not known until the child is reaped. */
    bool reaped;
    int exit_status;
    struct sbx_watch *watch;
    struct sbx_timer *timer;
    struct sbx_screen *screen;
    struct sbx_buf inq; /* input not yet written to the pty */

    sbx_bash_ready_fn *ready;
    void *ready_ud;

    /* upstream BashSession state */
    enum prev_status prev_status;
    struct sbx_buf prev_output;
    char *cwd;

    /* prompt blocks seen in the stream */
    size_t blocks;
    size_t scan_abs;
    size_t last_end_abs;
    bool has_last_end;
    /* The end marker was seen in the raw bytes since the last scan; the tail
     * keeps the last bytes of the previous read for a marker cut in two. */
    bool marker_pending;
    char tail[sizeof(SBX_PS1_END)];
    size_t tail_len;

    /* the action in progress */
    enum phase phase;
    char *command;
    bool is_input, blocking, hidden, has_timeout, timeout_is_int;
    double timeout_s;
    int64_t start_ms, last_change_ms;
    size_t initial_blocks;
    bool sent, output_since_send;
    bool end_seen;  /* an end marker arrived since the action started */
    bool evaluated; /* the first evaluation of the action is done */
    sbx_bash_done_fn *done;
    void *done_ud;
};

static void on_pty(struct sbx_watch *w, int events, void *ud);
static void on_timer(struct sbx_timer *t, void *ud);
static void evaluate(struct sbx_bash *b);
static int spawn_bash(struct sbx_bash *b, struct sbx_err *err);

/* ---- small helpers ------------------------------------------------------ */

static char *strip_dup(const char *s)
{
    const char *e = s + strlen(s);

    while (*s && sbx_bash_is_space((unsigned char)*s))
        s++;
    while (e > s && sbx_bash_is_space((unsigned char)e[-1]))
        e--;
    return strndup(s, (size_t)(e - s));
}

static bool is_special_key(const char *cmd)
{
    return strlen(cmd) == 3 && cmd[0] == 'C' && cmd[1] == '-';
}

/* The byte a terminal sends for Ctrl+<c>. */
static char ctrl_byte(char c)
{
    if (c >= 'a' && c <= 'z')
        return (char)(c - 'a' + 1);
    if (c >= '@' && c <= '_')
        return (char)(c - '@');
    if (c == '?')
        return 0x7f;
    if (c == ' ')
        return 0;
    return (char)(c & 0x1f);
}

static int64_t now_ms(struct sbx_bash *b)
{
    return sbx_loop_now_ms(b->loop);
}

/* Sends sig to every process of session sid. Job control gives each
 * background job its own process group, so killing bash's group is not
 * enough; /proc tells the session of every process. */
static void kill_session(pid_t sid, int sig)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[64], buf[512], *p;
        long pid, fsid;
        int fd;
        ssize_t n;

        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid = strtol(e->d_name, NULL, 10);
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n = sbx_fd_read(fd, buf, sizeof(buf) - 1);
        sbx_fd_close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        /* pid (comm) state ppid pgrp session: comm may hold spaces and ')' */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %*c %*d %*d %ld", &fsid) != 1)
            continue;
        if (fsid == sid)
            kill((pid_t)pid, sig);
    }
    closedir(d);
}

/* ---- the pty ---------------------------------------------------------- */

static void flush_input(struct sbx_bash *b)
{
    if (b->master >= 0 && sbx_watch_flush(b->watch, b->master, &b->inq) < 0)
        sbx_buf_reset(&b->inq); /* the slave is gone */
}

static int send_input(struct sbx_bash *b, const char *p, size_t n)
{
    int rc = sbx_buf_add(&b->inq, p, n);

    if (rc == 0)
        flush_input(b);
    return rc;
}

static bool line_is(const struct sbx_screen *s, size_t i, const char *want)
{
    size_t len;
    const char *l = sbx_screen_line(s, i, &len);

    return l && len == strlen(want) && memcmp(l, want, len) == 0;
}

/* Counts the prompt blocks completed since the last scan: an end-marker
 * line whose begin marker is a few lines above with valid JSON between.
 * The last line may still grow, so it is looked at again next time; an end
 * marker already counted is remembered by its absolute index. */
static void scan_blocks(struct sbx_bash *b)
{
    size_t dropped = sbx_screen_dropped(b->screen);
    size_t count = sbx_screen_line_count(b->screen);
    size_t i, from = b->scan_abs > dropped ? b->scan_abs - dropped : 0;

    for (i = from; i < count; i++) {
        size_t j, lo = i > 12 ? i - 12 : 0;
        struct sbx_buf body = SBX_BUF_INIT;
        struct sbx_cmd_metadata md;

        if (b->has_last_end && dropped + i <= b->last_end_abs)
            continue;
        if (!line_is(b->screen, i, SBX_PS1_END))
            continue;
        for (j = i; j > lo; j--)
            if (line_is(b->screen, j - 1, SBX_PS1_BEGIN))
                break;
        if (j == lo || !line_is(b->screen, j - 1, SBX_PS1_BEGIN))
            continue;
        for (size_t k = j; k < i; k++) {
            size_t len;
            const char *l = sbx_screen_line(b->screen, k, &len);

            sbx_buf_add(&body, l, len);
            sbx_buf_addch(&body, '\n');
        }
        if (sbx_ps1_parse(body.ptr, body.len, &md) == 0) {
            b->blocks++;
            b->has_last_end = true;
            b->last_end_abs = dropped + i;
            sbx_ps1_md_clear(&md);
        }
        sbx_buf_free(&body);
    }
    b->scan_abs = count ? dropped + count - 1 : dropped;
}

/* upstream: pane.rstrip().endswith("\n###PS1END###") */
static bool pane_ends_with_end(const struct sbx_bash *b)
{
    size_t n = sbx_screen_line_count(b->screen);

    while (n > 0) {
        size_t len;

        sbx_screen_line(b->screen, n - 1, &len);
        if (len)
            break;
        n--;
    }
    return n >= 2 && line_is(b->screen, n - 1, SBX_PS1_END);
}

static void on_child_gone(struct sbx_bash *b)
{
    if (b->dead)
        return;
    b->dead = true;
    if (b->watch) {
        sbx_watch_close(b->watch);
        b->watch = NULL;
    }
    sbx_fd_close(b->master);
    b->master = -1;
    sbx_buf_reset(&b->inq);
}

/* Whether the end marker occurs in the stream, looking across reads. Most
 * reads (command output) do not hold it, and then the screen's lines need
 * not be looked at: rendering them is the costly part. */
static void watch_marker(struct sbx_bash *b, const char *p, size_t n)
{
    static const size_t mlen = sizeof(SBX_PS1_END) - 1;
    char joint[2 * sizeof(SBX_PS1_END)];
    size_t head = n < mlen - 1 ? n : mlen - 1;

    if (!b->marker_pending && b->tail_len) {
        memcpy(joint, b->tail, b->tail_len);
        memcpy(joint + b->tail_len, p, head);
        if (memmem(joint, b->tail_len + head, SBX_PS1_END, mlen))
            b->marker_pending = true;
    }
    if (!b->marker_pending && memmem(p, n, SBX_PS1_END, mlen))
        b->marker_pending = true;
    if (n >= mlen - 1) {
        memcpy(b->tail, p + n - (mlen - 1), mlen - 1);
        b->tail_len = mlen - 1;
    } else {
        size_t keep = b->tail_len + n > mlen - 1 ? mlen - 1 - n : b->tail_len;

        memmove(b->tail, b->tail + b->tail_len - keep, keep);
        memcpy(b->tail + keep, p, n);
        b->tail_len = keep + n;
    }
}

static void read_pty(struct sbx_bash *b)
{
    char buf[65536];
    bool changed = false;

    for (;;) {
        ssize_t n = read(b->master, buf, sizeof(buf));

        if (n > 0) {
            int rc = sbx_screen_feed(b->screen, buf, (size_t)n);

            if (rc > 0)
                changed = true;
            watch_marker(b, buf, (size_t)n);
            /* A short read emptied the pty: the poll is level-triggered and
             * wakes us for more, so spare the read that would say EAGAIN. */
            if ((size_t)n < sizeof(buf))
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        /* EIO (or EOF): every holder of the slave is gone: bash exited. */
        on_child_gone(b);
        break;
    }
    if (changed) {
        b->last_change_ms = now_ms(b);
        if (b->sent)
            b->output_since_send = true;
    }
    if (b->marker_pending) {
        scan_blocks(b);
        b->marker_pending = false;
        b->end_seen = true;
    }
}

/* ---- observations -------------------------------------------------------- */

static struct sbx_obs *run_obs(const char *command, const char *content, size_t len)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_RUN);

    if (!o)
        return NULL;
    if (sbx_obs_set(&o->u.run.command, command) < 0 || sbx_obs_set_content(o, content, len) < 0) {
        sbx_obs_free(o);
        return NULL;
    }
    return o;
}

static void finish(struct sbx_bash *b, struct sbx_obs *o)
{
    sbx_bash_done_fn *done = b->done;
    void *ud = b->done_ud;

    if (o && o->kind == SBX_OBS_RUN && !o->u.run.hidden)
        sbx_text_truncate_middle(&o->content, SBX_OBS_MAX_CHARS);
    b->phase = PH_IDLE;
    b->done = NULL;
    free(b->command);
    b->command = NULL;
    sbx_timer_stop(b->timer);
    if (done)
        done(b, o, ud);
    else
        sbx_obs_free(o);
}

/* _get_command_output: cleans raw, handles the continuation prefix and
 * remembers raw for the next continuation. */
static int command_output(struct sbx_bash *b, const struct sbx_buf *raw, struct sbx_obs *o,
                          const char *continue_prefix, struct sbx_buf *out)
{
    int rc;

    if (b->prev_output.len) {
        rc = sbx_obs_set(&o->u.run.metadata.prefix, continue_prefix);
        if (rc < 0)
            return rc;
    }
    rc = sbx_bash_clean_output(raw->ptr, raw->len, b->prev_output.ptr, b->prev_output.len,
                               b->command, out);
    sbx_buf_reset(&b->prev_output);
    if (rc == 0)
        rc = sbx_buf_add(&b->prev_output, raw->ptr, raw->len);
    return rc;
}

/* Upstream clears the screen and history after a completed command (C-l
 * makes readline redraw the prompt at the top). Here: drop everything and
 * put the last prompt block back, so the next command's output is again
 * the text between two blocks. */
static void ready_for_next(struct sbx_bash *b, const char *pane, const struct sbx_ps1_match *m)
{
    struct sbx_buf redraw = SBX_BUF_INIT;
    size_t i;

    sbx_screen_clear(b->screen);
    if (m) {
        size_t from = m->start;

        sbx_buf_addstr(&redraw, "\r\n");
        for (i = m->start; i < m->end; i++) {
            if (pane[i] == '\n') {
                sbx_buf_add(&redraw, pane + from, i - from);
                sbx_buf_add(&redraw, "\r\n", 2);
                from = i + 1;
            }
        }
        sbx_buf_add(&redraw, pane + from, m->end - from);
        sbx_buf_addstr(&redraw, "\r\n");
        sbx_screen_feed(b->screen, redraw.ptr, redraw.len);
    }
    /* The redrawn block is not a new prompt: its end marker is line 1 + the
     * block's line breaks (line 0 is the empty line the prompt starts with);
     * counted without rendering the screen. */
    b->has_last_end = m != NULL;
    b->last_end_abs = 1;
    for (i = m ? m->start : 0; m && i < m->end; i++)
        if (pane[i] == '\n')
            b->last_end_abs++;
    b->scan_abs = m ? b->last_end_abs : 0;
    sbx_buf_free(&redraw);
}

static void complete(struct sbx_bash *b)
{
    struct sbx_buf pane = SBX_BUF_INIT, raw = SBX_BUF_INIT, out = SBX_BUF_INIT;
    struct sbx_ps1_matches m = {0};
    struct sbx_cmd_metadata *md;
    struct sbx_obs *o = NULL;
    bool before_last;
    int rc;

    rc = sbx_screen_capture(b->screen, &pane);
    if (rc == 0)
        rc = sbx_ps1_find(pane.ptr, pane.len, &m);
    o = rc == 0 ? sbx_obs_new(SBX_OBS_RUN) : NULL;
    if (!o)
        goto out;
    before_last = m.n == 1;
    rc = sbx_bash_combine(pane.ptr, pane.len, &m, before_last, &raw);
    if (rc < 0)
        goto out;
    md = &o->u.run.metadata;
    if (m.n > 0) {
        struct sbx_cmd_metadata *last = &m.v[m.n - 1].md;

        md->exit_code = last->exit_code;
        md->pid = last->pid;
        md->username = last->username;
        md->hostname = last->hostname;
        md->working_dir = last->working_dir;
        md->py_interpreter_path = last->py_interpreter_path;
        last->username = last->hostname = last->working_dir = last->py_interpreter_path = NULL;
        if (md->working_dir && *md->working_dir) {
            free(b->cwd);
            b->cwd = strdup(md->working_dir);
        }
    }
    if (before_last) {
        char prefix[160];

        snprintf(prefix, sizeof(prefix),
                 "[Previous command outputs are truncated. Showing the last %zu lines of the "
                 "output below.]\n",
                 sbx_bash_count_lines(raw.ptr, raw.len));
        sbx_obs_set(&md->prefix, prefix);
    }
    {
        char suffix[128];

        if (is_special_key(b->command))
            snprintf(suffix, sizeof(suffix),
                     "\n[The command completed with exit code %lld. CTRL+%c was sent.]",
                     (long long)md->exit_code,
                     (char)(b->command[2] >= 'a' && b->command[2] <= 'z' ? b->command[2] - 32
                                                                         : b->command[2]));
        else
            snprintf(suffix, sizeof(suffix), "\n[The command completed with exit code %lld.]",
                     (long long)md->exit_code);
        sbx_obs_set(&md->suffix, suffix);
    }
    rc = command_output(b, &raw, o, "", &out);
    if (rc < 0)
        goto out;
    sbx_buf_reset(&b->prev_output);
    rc = sbx_obs_set(&o->u.run.command, b->command);
    if (rc == 0)
        rc = sbx_obs_set_content(o, out.ptr, out.len);
    o->u.run.hidden = b->hidden;
    b->prev_status = ST_COMPLETED;
    ready_for_next(b, pane.ptr, m.n ? &m.v[m.n - 1] : NULL);
out:
    if (rc < 0 || !o) {
        sbx_obs_free(o);
        o = run_obs(b->command ? b->command : "", "ERROR: out of memory", 20);
    }
    sbx_ps1_matches_free(&m);
    sbx_buf_free(&pane);
    sbx_buf_free(&raw);
    sbx_buf_free(&out);
    finish(b, o);
}

/* The no-change and hard timeouts, and the "NOT executed" answer: the
 * output so far, default metadata, a notice in the suffix. */
static void partial(struct sbx_bash *b, enum prev_status st, const char *suffix, bool hidden)
{
    struct sbx_buf pane = SBX_BUF_INIT, raw = SBX_BUF_INIT, out = SBX_BUF_INIT;
    struct sbx_ps1_matches m = {0};
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_RUN);
    int rc = o ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx_screen_capture(b->screen, &pane);
    if (rc == 0)
        rc = sbx_ps1_find(pane.ptr, pane.len, &m);
    if (rc == 0)
        rc = sbx_bash_combine(pane.ptr, pane.len, &m, false, &raw);
    if (rc == 0)
        rc = sbx_obs_set(&o->u.run.metadata.suffix, suffix);
    if (rc == 0)
        rc = command_output(b, &raw, o, CONTINUE_PREFIX, &out);
    if (rc == 0)
        rc = sbx_obs_set(&o->u.run.command, b->command);
    if (rc == 0)
        rc = sbx_obs_set_content(o, out.ptr, out.len);
    if (rc == 0)
        o->u.run.hidden = hidden;
    if (st != ST_NONE)
        b->prev_status = st;
    if (rc < 0) {
        sbx_obs_free(o);
        o = run_obs(b->command, "ERROR: out of memory", 20);
    }
    sbx_ps1_matches_free(&m);
    sbx_buf_free(&pane);
    sbx_buf_free(&raw);
    sbx_buf_free(&out);
    finish(b, o);
}

static void no_change_timeout(struct sbx_bash *b)
{
    char suffix[640];

    snprintf(suffix, sizeof(suffix), "\n[The command has no new output after %d seconds. %s]",
             b->opts.no_change_timeout_s, TIMEOUT_TEMPLATE);
    partial(b, ST_NO_CHANGE_TIMEOUT, suffix, false);
}

static void hard_timeout(struct sbx_bash *b)
{
    char suffix[640], num[40];

    if (b->timeout_is_int)
        snprintf(num, sizeof(num), "%lld", (long long)b->timeout_s);
    else
        sbx_fmt_pyfloat(b->timeout_s, num, sizeof(num));
    snprintf(suffix, sizeof(suffix), "\n[The command timed out after %s seconds. %s]", num,
             TIMEOUT_TEMPLATE);
    partial(b, ST_HARD_TIMEOUT, suffix, false);
}

static void bash_exited(struct sbx_bash *b)
{
    char suffix[160];
    int code = WIFEXITED(b->exit_status) ? WEXITSTATUS(b->exit_status)
                                         : 128 + WTERMSIG(b->exit_status);

    snprintf(suffix, sizeof(suffix),
             "\n[The bash session exited with code %d. A new session starts with the next "
             "command.]",
             code);
    b->prev_status = ST_NONE;
    partial(b, ST_NONE, suffix, b->hidden);
    sbx_buf_reset(&b->prev_output);
}

/* ---- the algorithm of §5.3 ---------------------------------------------- */

static void start_action(struct sbx_bash *b)
{
    struct sbx_bash_split split = {0};
    struct sbx_buf msg = SBX_BUF_INIT;
    bool running_before = b->prev_status == ST_CONTINUE ||
                          b->prev_status == ST_NO_CHANGE_TIMEOUT ||
                          b->prev_status == ST_HARD_TIMEOUT;
    size_t i;

    if (!running_before) {
        if (!*b->command) {
            static const char m[] = "ERROR: No previous running command to retrieve logs from.";

            free(b->command);
            b->command = strdup("");
            finish(b, run_obs("", m, sizeof(m) - 1));
            return;
        }
        if (b->is_input) {
            static const char m[] = "ERROR: No previous running command to interact with.";

            free(b->command);
            b->command = strdup("");
            finish(b, run_obs("", m, sizeof(m) - 1));
            return;
        }
    }
    if (sbx_bash_split(b->command, strlen(b->command), &split) == 0 && split.n > 1) {
        struct sbx_obs *o = sbx_obs_new(SBX_OBS_ERROR);

        sbx_buf_addstr(&msg, "ERROR: Cannot execute multiple commands at once.\n"
                             "Please run each command separately OR chain them into a single "
                             "command via && or ;\nProvided commands:");
        for (i = 0; i < split.n; i++)
            sbx_buf_addf(&msg, "\n(%zu) %s", i + 1, split.cmds[i]);
        if (o)
            sbx_obs_set_content(o, msg.ptr, msg.len);
        sbx_buf_free(&msg);
        sbx_bash_split_free(&split);
        finish(b, o);
        return;
    }
    sbx_bash_split_free(&split);

    b->initial_blocks = b->blocks;
    b->start_ms = b->last_change_ms = now_ms(b);
    b->sent = b->output_since_send = b->end_seen = b->evaluated = false;

    if ((b->prev_status == ST_HARD_TIMEOUT || b->prev_status == ST_NO_CHANGE_TIMEOUT) &&
        !pane_ends_with_end(b) && !b->is_input && *b->command) {
        struct sbx_buf s = SBX_BUF_INIT;

        sbx_buf_addf(&s,
                     "\n[Your command \"%s\" is NOT executed. The previous command is still "
                     "running - You CANNOT send new commands until the previous command is "
                     "completed. By setting `is_input` to `true`, you can interact with the "
                     "current process: %s]",
                     b->command, TIMEOUT_TEMPLATE);
        /* upstream copies `hidden` on this path only */
        partial(b, ST_NONE, s.ptr, b->hidden);
        sbx_buf_free(&s);
        return;
    }
    if (*b->command) {
        if (is_special_key(b->command)) {
            char c = ctrl_byte(b->command[2]);

            send_input(b, &c, 1);
        } else {
            /* one write: the command and Enter */
            if (sbx_buf_addstr(&b->inq, b->command) == 0)
                send_input(b, "\r", 1);
        }
        b->sent = true;
    }
    b->phase = PH_RUNNING;
    evaluate(b);
}

static void evaluate(struct sbx_bash *b)
{
    int64_t now, next = -1;

    if (b->phase != PH_RUNNING)
        return;
    /* A pane can end with the marker only if one arrived (or, before
     * anything was sent, was there already): skip rendering otherwise. */
    if (b->blocks > b->initial_blocks ||
        (((!b->sent && !b->evaluated) || (b->output_since_send && b->end_seen)) &&
         pane_ends_with_end(b))) {
        complete(b);
        return;
    }
    b->evaluated = true;
    if (b->dead) {
        /* Reported once reaped (sbx_bash_child_exited evaluates again), so
         * that `exit 7` reports 7, not a status not yet known. */
        if (b->reaped)
            bash_exited(b);
        return;
    }
    now = now_ms(b);
    if (!b->blocking) {
        int64_t soft = b->last_change_ms + b->opts.no_change_timeout_ms;

        if (now >= soft) {
            no_change_timeout(b);
            return;
        }
        next = soft - now;
    }
    if (b->has_timeout && b->timeout_s > 0) {
        int64_t hard = b->start_ms + (int64_t)(b->timeout_s * 1000.0 + 0.5);

        if (now >= hard) {
            hard_timeout(b);
            return;
        }
        if (next < 0 || hard - now < next)
            next = hard - now;
    }
    if (next >= 0)
        sbx_timer_start(b->timer, next);
}

/* ---- start-up ------------------------------------------------------------- */

static void became_ready(struct sbx_bash *b)
{
    struct sbx_buf pane = SBX_BUF_INIT;
    struct sbx_ps1_matches m = {0};
    sbx_bash_ready_fn *ready = b->ready;

    if (sbx_screen_capture(b->screen, &pane) == 0 && sbx_ps1_find(pane.ptr, pane.len, &m) == 0 &&
        m.n > 0) {
        const char *wd = m.v[m.n - 1].md.working_dir;

        if (wd && *wd) {
            free(b->cwd);
            b->cwd = strdup(wd);
        }
        ready_for_next(b, pane.ptr, &m.v[m.n - 1]);
    }
    sbx_ps1_matches_free(&m);
    sbx_buf_free(&pane);
    b->phase = b->command ? PH_QUEUED : PH_IDLE;
    b->ready = NULL;
    if (ready)
        ready(b, 0, NULL, b->ready_ud);
    if (b->phase == PH_QUEUED)
        sbx_timer_start(b->timer, 0);
}

static void on_pty(struct sbx_watch *w, int events, void *ud)
{
    struct sbx_bash *b = ud;

    (void)w;
    if (events & SBX_WATCH_WRITE)
        flush_input(b);
    if (events & SBX_WATCH_READ)
        read_pty(b);
    if (b->phase == PH_STARTING) {
        if (b->blocks > 0) {
            became_ready(b);
        } else if (b->dead) {
            struct sbx_err err;
            sbx_bash_ready_fn *ready = b->ready;

            sbx_err_set(&err, -ECHILD, "bash exited before its first prompt");
            b->ready = NULL;
            b->phase = PH_IDLE;
            if (ready)
                ready(b, -ECHILD, &err, b->ready_ud);
        }
        return;
    }
    evaluate(b);
}

static void on_timer(struct sbx_timer *t, void *ud)
{
    struct sbx_bash *b = ud;

    (void)t;
    if (b->phase == PH_QUEUED) {
        if (b->dead) {
            struct sbx_err err;

            /* Restart a session whose bash exited (`exit` typed, say). */
            if (spawn_bash(b, &err) < 0) {
                finish(b, run_obs(b->command, err.msg, strlen(err.msg)));
                return;
            }
            b->phase = PH_STARTING;
            return;
        }
        start_action(b);
        return;
    }
    evaluate(b);
}

/* The server's environment, minus its session key (the server's, not the
 * agent's), with TERM and, for `su <user> -`, the user's HOME, USER, LOGNAME
 * and SHELL. */
static char **build_env(const struct sbx_bash *b)
{
    static const char *const unset[] = {"SESSION_API_KEY", NULL};
    struct sbx_buf home = SBX_BUF_INIT, user = SBX_BUF_INIT, logname = SBX_BUF_INIT;
    const char *set[6] = {"TERM=xterm", NULL};
    char **env;

    if (b->opts.switch_user) {
        sbx_buf_addf(&home, "HOME=%s", b->home ? b->home : "/");
        sbx_buf_addf(&user, "USER=%s", b->username ? b->username : "");
        sbx_buf_addf(&logname, "LOGNAME=%s", b->username ? b->username : "");
        set[1] = home.ptr;
        set[2] = user.ptr;
        set[3] = logname.ptr;
        set[4] = "SHELL=/bin/bash";
    }
    env = sbx_env_new(unset, set);
    sbx_buf_free(&home);
    sbx_buf_free(&user);
    sbx_buf_free(&logname);
    return env;
}

static int spawn_bash(struct sbx_bash *b, struct sbx_err *err)
{
    static char *const argv[] = {"bash", "-i", NULL};
    struct winsize ws = {.ws_row = PANE_ROWS, .ws_col = PANE_COLS};
    struct sbx_spawn_opts so = {0};
    struct sbx_buf setup = SBX_BUF_INIT;
    char name[128];
    char **env = NULL;
    int master = -1, slave = -1, rc;
    pid_t pid;

    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return sbx_err_set(err, -errno, "open pty: %s", strerror(errno));
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name))) {
        rc = sbx_err_set(err, -errno, "unlock pty: %s", strerror(errno));
        goto fail;
    }
    slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        rc = sbx_err_set(err, -errno, "open %s: %s", name, strerror(errno));
        goto fail;
    }
    if (ioctl(slave, TIOCSWINSZ, &ws) < 0) {
        rc = sbx_err_set(err, -errno, "set pty size: %s", strerror(errno));
        goto fail;
    }
    env = build_env(b);
    if (!env) {
        rc = sbx_err_set(err, -ENOMEM, "start bash: out of memory");
        goto fail;
    }
    so.path = "/bin/bash";
    so.argv = argv;
    so.envp = env;
    so.cwd = b->cwd ? b->cwd : b->cwd_start;
    so.cwd_optional = true;
    so.stdio_fd = slave;
    so.new_session = true;
    so.set_ids = b->opts.switch_user;
    so.uid = b->opts.uid;
    so.gid = b->opts.gid;
    so.groups = b->groups;
    so.ngroups = b->opts.ngroups;
    pid = sbx_spawn(&so, err);
    sbx_env_free(env);
    env = NULL;
    if (pid < 0) {
        rc = (int)pid;
        goto fail;
    }
    sbx_fd_close(slave);
    slave = -1;
    sbx_fd_set_nonblock(master, 1);
    b->master = master;
    b->pid = pid;
    b->dead = false;
    b->reaped = false;
    b->blocks = 0;
    b->scan_abs = 0;
    b->has_last_end = false;
    b->prev_status = ST_NONE;
    sbx_buf_reset(&b->prev_output);
    sbx_screen_clear(b->screen);
    b->watch = sbx_watch_new(b->loop, master, SBX_WATCH_READ, on_pty, b, err);
    if (!b->watch) {
        kill(-pid, SIGKILL);
        b->master = -1;
        rc = -ENOMEM;
        goto fail;
    }
    rc = sbx_ps1_setup_line(&setup);
    if (rc == 0)
        rc = send_input(b, setup.ptr, setup.len);
    sbx_buf_free(&setup);
    return rc;
fail:
    sbx_env_free(env);
    sbx_fd_close(slave);
    sbx_fd_close(master);
    return rc;
}

struct sbx_bash *sbx_bash_new(struct sbx_loop *loop, const struct sbx_bash_opts *o,
                              sbx_bash_ready_fn *ready, void *ud, struct sbx_err *err)
{
    struct sbx_bash *b = calloc(1, sizeof(*b));

    if (!b) {
        sbx_err_set(err, -ENOMEM, "bash session: out of memory");
        return NULL;
    }
    b->loop = loop;
    b->opts = *o;
    if (!b->opts.no_change_timeout_ms) {
        b->opts.no_change_timeout_ms = 10000;
        b->opts.no_change_timeout_s = 10;
    }
    b->master = -1;
    b->pid = -1;
    b->ready = ready;
    b->ready_ud = ud;
    b->phase = PH_STARTING;
    sbx_buf_init(&b->inq, 0);
    sbx_buf_init(&b->prev_output, 0);
    b->cwd_start = strdup(o->cwd ? o->cwd : "/");
    b->username = o->username ? strdup(o->username) : NULL;
    b->home = o->home ? strdup(o->home) : NULL;
    if (o->ngroups) {
        b->groups = calloc(o->ngroups, sizeof(*b->groups));
        if (b->groups)
            memcpy(b->groups, o->groups, o->ngroups * sizeof(*b->groups));
    }
    b->opts.cwd = b->cwd_start;
    b->opts.groups = b->groups;
    b->screen = sbx_screen_new(PANE_COLS, PANE_ROWS, PANE_HISTORY);
    b->timer = sbx_timer_new(loop, on_timer, b, err);
    if (!b->cwd_start || !b->screen || !b->timer || (o->ngroups && !b->groups)) {
        if (b->timer)
            sbx_err_set(err, -ENOMEM, "bash session: out of memory");
        sbx_bash_close(b);
        return NULL;
    }
    if (spawn_bash(b, err) < 0) {
        sbx_bash_close(b);
        return NULL;
    }
    return b;
}

int sbx_bash_execute(struct sbx_bash *b, const struct sbx_action_run *run, bool has_timeout,
                     double timeout_s, bool timeout_is_int, sbx_bash_done_fn *done, void *ud)
{
    if (b->command || b->phase == PH_RUNNING || b->phase == PH_QUEUED)
        return -EBUSY;
    b->command = strip_dup(run->command ? run->command : "");
    if (!b->command)
        return -ENOMEM;
    b->is_input = run->is_input;
    /* §3.1: without a timeout the action is never blocking. */
    b->blocking = has_timeout && run->blocking;
    b->hidden = run->hidden;
    b->has_timeout = has_timeout;
    b->timeout_s = timeout_s;
    b->timeout_is_int = timeout_is_int;
    b->done = done;
    b->done_ud = ud;
    if (b->phase == PH_STARTING)
        return 0; /* started once the first prompt is in */
    b->phase = PH_QUEUED;
    /* Never call back from inside this call: the action starts on the
     * next loop iteration. */
    sbx_timer_start(b->timer, 0);
    return 0;
}

const char *sbx_bash_cwd(const struct sbx_bash *b)
{
    return b->cwd ? b->cwd : b->cwd_start;
}

pid_t sbx_bash_pid(const struct sbx_bash *b)
{
    return b->dead ? -1 : b->pid;
}

bool sbx_bash_child_exited(struct sbx_bash *b, pid_t pid, int status)
{
    if (!b || pid != b->pid)
        return false;
    b->exit_status = status;
    b->reaped = true;
    /* The pty may still hold output; the read side sees EIO after it. */
    if (b->master >= 0)
        read_pty(b);
    on_child_gone(b);
    if (b->phase == PH_RUNNING)
        evaluate(b);
    return true;
}

void sbx_bash_close(struct sbx_bash *b)
{
    if (!b)
        return;
    if (b->pid > 0) {
        /* Like closing a terminal, then making sure: the whole session. */
        kill_session(b->pid, SIGHUP);
        kill_session(b->pid, SIGCONT);
        kill_session(b->pid, SIGKILL);
        if (!b->dead)
            kill(b->pid, SIGKILL);
    }
    if (b->done) {
        sbx_bash_done_fn *done = b->done;

        b->done = NULL;
        done(b, run_obs(b->command ? b->command : "", "", 0), b->done_ud);
    }
    if (b->watch)
        sbx_watch_close(b->watch);
    sbx_timer_close(b->timer);
    sbx_fd_close(b->master);
    sbx_screen_free(b->screen);
    sbx_buf_free(&b->inq);
    sbx_buf_free(&b->prev_output);
    free(b->command);
    free(b->cwd);
    free(b->cwd_start);
    free(b->username);
    free(b->home);
    free(b->groups);
    free(b);
}
