#include "server/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/time.h"
#include "net/http_server.h"
#include "net/loop.h"
#include "sbx/log.h"
#include "server/bash/session.h"
#include "server/ipython/ipython.h"
#include "server/editor/editor.h"

/*
 * Start-up (§1.3): user and working directory, the main bash session, the
 * init commands (each must exit 0), and only then the listener, so that a
 * client polling /alive sees a closed port until everything is ready.
 */

bool sbx_server_has_plugin(const struct sbx_server *s, const char *name)
{
    for (size_t i = 0; i < s->cfg.nplugins; i++)
        if (strcmp(s->cfg.plugins[i], name) == 0)
            return true;
    return false;
}

static void run_init_step(struct sbx_server *s);

static void init_failed(struct sbx_server *s, const char *what)
{
    sbx_log(SBX_LOG_ERROR, "start-up failed: %s", what);
    s->exit_code = 1;
    sbx_server_stop(s);
}

static void on_init_done(struct sbx_bash *b, struct sbx_obs *o, void *ud)
{
    struct sbx_server *s = ud;

    (void)b;
    if (!o || o->kind != SBX_OBS_RUN || o->u.run.metadata.exit_code != 0) {
        struct sbx_buf m = SBX_BUF_INIT;

        sbx_buf_addf(&m, "init command \"%s\" failed: %s%s",
                     o && o->kind == SBX_OBS_RUN ? o->u.run.command : "?",
                     o ? o->content : "out of memory",
                     o && o->kind == SBX_OBS_RUN ? o->u.run.metadata.suffix : "");
        sbx_obs_free(o);
        init_failed(s, m.ptr);
        sbx_buf_free(&m);
        return;
    }
    sbx_obs_free(o);
    s->init_step++;
    run_init_step(s);
}

static void run_init_step(struct sbx_server *s)
{
    struct sbx_buf cmd = SBX_BUF_INIT;
    struct sbx_action_run run = {0};
    struct sbx_err err = {0};

    switch (s->init_step) {
    case 0:
        sbx_buf_addstr(&cmd, "alias git=\"git --no-pager\"");
        break;
    case 1:
        if (s->user.uid != 0) {
            /* single-quoted for bash, with embedded quotes escaped */
            sbx_buf_addstr(&cmd, "cd '");
            for (const char *c = s->cfg.working_dir; *c; c++) {
                if (*c == '\'')
                    sbx_buf_addstr(&cmd, "'\\''");
                else
                    sbx_buf_addch(&cmd, *c);
            }
            sbx_buf_addch(&cmd, '\'');
            break;
        }
        s->init_step++;
        /* fall through */
    default:
        sbx_buf_free(&cmd);
        if (sbx_server_listen(s, &err) < 0)
            init_failed(s, err.msg);
        return;
    }
    run.command = cmd.ptr;
    run.confirmation_state = "confirmed";
    run.blocking = true;
    if (sbx_bash_execute(s->bash, &run, true, 300.0, true, on_init_done, s) < 0)
        init_failed(s, "bash session busy");
    sbx_buf_free(&cmd);
}

static void on_bash_ready(struct sbx_bash *b, int status, const struct sbx_err *err, void *ud)
{
    struct sbx_server *s = ud;

    (void)b;
    if (status < 0) {
        init_failed(s, err ? err->msg : "bash did not start");
        return;
    }
    run_init_step(s);
}

int sbx_server_listen(struct sbx_server *s, struct sbx_err *err)
{
    struct sbx_http_server_opts o = {
        .host = s->cfg.host,
        .port = s->cfg.port,
        .unix_path = s->cfg.unix_path,
        .use_listen_fd = s->cfg.has_listen_fd,
        .listen_fd = s->cfg.listen_fd,
        .on_headers = sbx_server_on_headers,
        .on_request = sbx_server_on_request,
        .ud = s,
    };

    s->http = sbx_http_server_new(s->loop, &o, err);
    if (!s->http)
        return err->code ? err->code : -EINVAL;
    s->ready = true;
    if (s->on_listening) {
        char where[512];

        if (s->cfg.has_listen_fd)
            snprintf(where, sizeof(where), "fd:%d", s->cfg.listen_fd);
        else if (s->cfg.unix_path)
            snprintf(where, sizeof(where), "unix:%s", s->cfg.unix_path);
        else
            snprintf(where, sizeof(where), "%s:%d", s->cfg.host ? s->cfg.host : "0.0.0.0",
                     sbx_http_server_port(s->http));
        s->on_listening(s, where);
    }
    return 0;
}

int sbx_server_start(struct sbx_server *s, struct sbx_loop *loop, struct sbx_err *err)
{
    const struct sbx_server_cfg *c = &s->cfg;
    struct sbx_bash_opts bo = {0};
    gid_t wd_gid = 0;
    int rc;

    s->loop = loop;
    s->start_ms = s->last_exec_ms = s->cpu_last_wall_ms = sbx_now_ms();
    if (geteuid() == 0) {
        if (strcmp(c->username, "root") == 0)
            rc = sbx_user_lookup(NULL, "root", -1, &s->user);
        else
            rc = sbx_user_ensure(NULL, c->username, (uid_t)c->user_id, &s->user, err);
        if (rc < 0 && strcmp(c->username, "root") == 0) {
            /* No passwd entry for root (minimal images): use the obvious one. */
            memset(&s->user, 0, sizeof(s->user));
            snprintf(s->user.name, sizeof(s->user.name), "root");
            snprintf(s->user.home, sizeof(s->user.home), "/root");
            s->user.ngroups = 1;
            rc = 0;
        }
        if (rc < 0)
            return rc;
        if (c->group_name && sbx_group_lookup(NULL, c->group_name, &wd_gid) < 0)
            return sbx_err_set(err, -ENOENT, "group %s (SANDBOX_GROUP_ID) not found",
                               c->group_name);
    } else {
        /* Not root: the server's own user runs the shell. */
        if (sbx_user_lookup(NULL, NULL, (long)geteuid(), &s->user) < 0) {
            memset(&s->user, 0, sizeof(s->user));
            snprintf(s->user.name, sizeof(s->user.name), "%s", c->username);
            s->user.uid = geteuid();
            s->user.gid = getegid();
        }
        wd_gid = getegid();
    }
    rc = sbx_workdir_init(c->working_dir, s->user.uid, wd_gid, err);
    if (rc < 0)
        return rc;
    s->editor = sbx_editor_new(c->working_dir);
    if (!s->editor)
        return sbx_err_set(err, -ENOMEM, "editor: out of memory");
    /* §5.1: `su <user> -` for root, openhands or $RUNTIME_USERNAME. */
    s->switch_user = geteuid() == 0 && c->su_to_user &&
                     (!strcmp(c->username, "root") || !strcmp(c->username, "openhands") ||
                      (c->runtime_username && !strcmp(c->username, c->runtime_username)));
    bo.cwd = c->working_dir;
    bo.switch_user = s->switch_user;
    bo.uid = s->user.uid;
    bo.gid = s->user.gid;
    bo.groups = s->user.groups;
    bo.ngroups = s->user.ngroups;
    bo.username = s->user.name;
    bo.home = s->user.home;
    bo.no_change_timeout_ms = (int64_t)c->no_change_timeout_s * 1000;
    bo.no_change_timeout_s = c->no_change_timeout_s;
    s->bash = sbx_bash_new(loop, &bo, on_bash_ready, s, err);
    if (!s->bash)
        return err->code ? err->code : -ENOMEM;
    if (sbx_server_has_plugin(s, "jupyter")) {
        /* The interpreter itself starts with the first cell. */
        struct sbx_ipython_opts io = {
            .switch_user = s->switch_user,
            .uid = s->user.uid,
            .gid = s->user.gid,
            .groups = s->user.groups,
            .ngroups = s->user.ngroups,
            .home = s->user.home,
            .cwd = c->working_dir,
            .agent_skills = sbx_server_has_plugin(s, "agent_skills"),
            .editor = s->editor,
        };

        s->ipython = sbx_ipython_new(loop, &io, err);
        if (!s->ipython)
            return err->code ? err->code : -ENOMEM;
    }
    return 0;
}

void sbx_server_child_exited(struct sbx_server *s, int pid, int status)
{
    struct exec_job *j;

    if (sbx_bash_child_exited(s->bash, pid, status))
        return;
    if (sbx_ipython_child_exited(s->ipython, pid, status))
        return;
    for (j = s->statics; j; j = j->next)
        if (sbx_bash_child_exited(j->bash, pid, status))
            return;
}
