#include "server/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/ct.h"
#include "base/time.h"
#include "json/json.h"
#include "net/http_server.h"
#include "net/loop.h"
#include "sbx/log.h"
#include "sbx/model.h"
#include "server/bash/session.h"
#include "server/ipython/ipython.h"
#include "server/editor/editor.h"

/*
 * HTTP face of sbx-server (openhands-protocol.md §2). Actions execute one at
 * a time in arrival order (upstream holds an asyncio lock around dispatch);
 * every other endpoint answers at once, also while an action runs.
 */

static void run_next(struct sbx_server *s);

/* ---- answers -------------------------------------------------------------- */

static void respond_obs(struct sbx_http_req *req, struct sbx_obs *o)
{
    struct sbx_buf b = SBX_BUF_INIT;

    if (!o || sbx_obs_to_json(o, &b) < 0) {
        sbx_http_respond_detail(req, 500, "Internal server error: out of memory");
    } else {
        sbx_http_respond_json(req, 200, b.ptr, b.len);
    }
    sbx_buf_free(&b);
    sbx_obs_free(o);
}

static void respond_error_obs(struct sbx_http_req *req, const char *msg)
{
    respond_obs(req, sbx_obs_error_new(msg));
}

static void respond_500(struct sbx_http_req *req, const char *fmt, const char *arg)
{
    struct sbx_buf b = SBX_BUF_INIT;

    sbx_buf_addstr(&b, "Internal server error: ");
    sbx_buf_addf(&b, fmt, arg);
    sbx_http_respond_detail(req, 500, b.ptr);
    sbx_buf_free(&b);
}

/* ---- /execute_action -------------------------------------------------------- */

static void job_free(struct exec_job *j)
{
    if (!j)
        return;
    sbx_action_free(j->action);
    free(j);
}

static void unlink_static(struct sbx_server *s, struct exec_job *j)
{
    struct exec_job **p;

    for (p = &s->statics; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            return;
        }
    }
}

static void job_done(struct sbx_server *s, struct exec_job *j, struct sbx_obs *o)
{
    if (j->req)
        respond_obs(j->req, o);
    else
        sbx_obs_free(o);
    j->req = NULL;
    if (s->current == j)
        s->current = NULL;
    job_free(j);
    run_next(s);
}

static void on_bash_done(struct sbx_bash *b, struct sbx_obs *o, void *ud)
{
    struct exec_job *j = ud;

    (void)b;
    job_done(j->srv, j, o);
}

static void on_ipython_done(struct sbx_ipython *k, struct sbx_obs *o, void *ud)
{
    struct exec_job *j = ud;

    (void)k;
    job_done(j->srv, j, o);
}

static void on_static_done(struct sbx_bash *b, struct sbx_obs *o, void *ud)
{
    struct exec_job *j = ud;
    struct sbx_server *s = j->srv;

    /* The static session served its one command; hang it up. */
    unlink_static(s, j);
    j->bash = NULL;
    if (!s->stopping)
        sbx_bash_close(b);
    job_done(s, j, o);
}

static void on_static_ready(struct sbx_bash *b, int status, const struct sbx_err *err, void *ud)
{
    struct exec_job *j = ud;
    const struct sbx_action_run *run = &j->action->u.run;

    if (status < 0) {
        unlink_static(j->srv, j);
        j->bash = NULL;
        sbx_bash_close(b);
        job_done(j->srv, j, sbx_obs_error_new(err->msg));
        return;
    }
    if (sbx_bash_execute(b, run, j->action->has_timeout, j->action->timeout_s,
                         j->action->timeout_is_int, on_static_done, j) < 0) {
        unlink_static(j->srv, j);
        j->bash = NULL;
        sbx_bash_close(b);
        job_done(j->srv, j, NULL);
    }
}

static int start_static(struct sbx_server *s, struct exec_job *j, struct sbx_err *err)
{
    const struct sbx_action_run *run = &j->action->u.run;
    struct sbx_bash_opts o = {
        .cwd = run->cwd && *run->cwd ? run->cwd : s->cfg.working_dir,
        .switch_user = s->switch_user,
        .uid = s->user.uid,
        .gid = s->user.gid,
        .groups = s->user.groups,
        .ngroups = s->user.ngroups,
        .username = s->user.name,
        .home = s->user.home,
        .no_change_timeout_ms = (int64_t)s->cfg.no_change_timeout_s * 1000,
        .no_change_timeout_s = s->cfg.no_change_timeout_s,
    };

    j->bash = sbx_bash_new(s->loop, &o, on_static_ready, j, err);
    if (!j->bash)
        return err->code ? err->code : -ENOMEM;
    j->next = s->statics;
    s->statics = j;
    return 0;
}

static void dispatch(struct sbx_server *s, struct exec_job *j)
{
    struct sbx_action *a = j->action;
    struct sbx_err err = {0};
    int rc;

    s->last_exec_ms = sbx_now_ms();
    switch (a->kind) {
    case SBX_ACTION_RUN:
        if (a->u.run.is_static) {
            rc = start_static(s, j, &err);
            if (rc < 0) {
                respond_error_obs(j->req, err.msg);
                j->req = NULL;
                job_done(s, j, NULL);
            }
            return;
        }
        rc = sbx_bash_execute(s->bash, &a->u.run, a->has_timeout, a->timeout_s,
                              a->timeout_is_int, on_bash_done, j);
        if (rc < 0) {
            respond_500(j->req, "%s", "bash session busy");
            j->req = NULL;
            job_done(s, j, NULL);
        }
        return;
    case SBX_ACTION_BROWSE:
    case SBX_ACTION_BROWSE_INTERACTIVE:
        respond_error_obs(j->req, "Browser functionality is not supported or disabled.");
        j->req = NULL;
        job_done(s, j, NULL);
        return;
    case SBX_ACTION_RUN_IPYTHON:
        /* The client sends a cell while connecting when it asked for the
         * jupyter plugin (§4.5): that must be a 200. */
        if (s->ipython) {
            rc = sbx_ipython_run(s->ipython, &a->u.run_ipython, a->has_timeout, a->timeout_s,
                                 a->timeout_is_int, sbx_bash_cwd(s->bash), on_ipython_done, j);
            if (rc == 0)
                return;
            respond_500(j->req, "%s", rc == -EBUSY ? "IPython kernel busy" : "out of memory");
        } else {
            respond_500(j->req, "%s", "JupyterRequirement not found. Unable to run IPython action.");
        }
        j->req = NULL;
        job_done(s, j, NULL);
        return;
    case SBX_ACTION_EDIT:
        job_done(s, j, sbx_server_do_edit(s, a));
        return;
    case SBX_ACTION_READ:
        job_done(s, j, sbx_server_do_read(s, a));
        return;
    case SBX_ACTION_WRITE:
        job_done(s, j, sbx_server_do_write(s, a));
        return;
    }
}

static void run_next(struct sbx_server *s)
{
    struct exec_job *j;

    while (!s->current && s->queue_head && !s->stopping) {
        j = s->queue_head;
        s->queue_head = j->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        j->next = NULL;
        s->current = j;
        dispatch(s, j);
    }
}

static void execute_action(struct sbx_server *s, struct sbx_http_req *req)
{
    enum sbx_action_error why = SBX_ACTION_ERR_NONE;
    struct sbx_action *a = NULL;
    struct sbx_err err = {0};
    struct exec_job *j;

    if (sbx_action_parse(req->body.ptr, req->body.len, false, &a, &why, &err) < 0) {
        switch (why) {
        case SBX_ACTION_ERR_JSON:
        case SBX_ACTION_ERR_NO_ACTION: {
            struct sbx_json *o = sbx_json_object_new();
            struct sbx_buf b = SBX_BUF_INIT;

            sbx_json_set_str(o, "detail", "Invalid request parameters");
            sbx_json_set_str(o, "errors", err.msg);
            sbx_json_dump(o, &b);
            sbx_json_free(o);
            sbx_http_respond_json(req, 422, b.ptr, b.len);
            sbx_buf_free(&b);
            return;
        }
        case SBX_ACTION_ERR_NOT_ACTION:
            sbx_http_respond_detail(req, 500, "Internal server error: 400: Invalid action type");
            return;
        case SBX_ACTION_ERR_UNKNOWN_TYPE:
        case SBX_ACTION_ERR_BAD_ARGS:
        case SBX_ACTION_ERR_NONE:
            respond_500(req, "%s", err.msg);
            return;
        }
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        sbx_action_free(a);
        sbx_http_respond_detail(req, 500, "Internal server error: out of memory");
        return;
    }
    j->srv = s;
    j->req = req;
    j->action = a;
    if (s->queue_tail)
        s->queue_tail->next = j;
    else
        s->queue_head = j;
    s->queue_tail = j;
    run_next(s);
}

/* ---- other endpoints ------------------------------------------------------- */

static void list_files(struct sbx_server *s, struct sbx_http_req *req)
{
    struct sbx_buf b = SBX_BUF_INIT;
    struct sbx_json *body = NULL, *p;
    const char *path = NULL;

    /* Any failure is [] (upstream catches everything here). */
    if (req->body.len)
        body = sbx_json_parse(req->body.ptr, req->body.len, NULL);
    p = sbx_json_get(body, "path");
    if (p && sbx_json_type(p) == SBX_JSON_STRING)
        path = sbx_json_str(p);
    if (sbx_list_files_json(s->cfg.working_dir, path, &b) < 0) {
        sbx_buf_reset(&b);
        sbx_buf_addstr(&b, "[]");
    }
    sbx_http_respond_json(req, 200, b.ptr, b.len);
    sbx_json_free(body);
    sbx_buf_free(&b);
}

/* Validates one stdio MCP server config; returns a message or NULL. */
static const char *check_mcp_entry(const struct sbx_json *e, char *msg, size_t n, size_t i)
{
    const struct sbx_json *v;

    if (sbx_json_type(e) != SBX_JSON_OBJECT) {
        snprintf(msg, n, "body[%zu]: expected an object with name, command, args and env", i);
        return msg;
    }
    v = sbx_json_get(e, "name");
    if (!v || sbx_json_type(v) != SBX_JSON_STRING) {
        snprintf(msg, n, "body[%zu].name: required string is missing", i);
        return msg;
    }
    v = sbx_json_get(e, "command");
    if (!v || sbx_json_type(v) != SBX_JSON_STRING) {
        snprintf(msg, n, "body[%zu].command: required string is missing", i);
        return msg;
    }
    v = sbx_json_get(e, "args");
    if (v && sbx_json_type(v) != SBX_JSON_ARRAY && sbx_json_type(v) != SBX_JSON_NULL) {
        snprintf(msg, n, "body[%zu].args: expected an array of strings", i);
        return msg;
    }
    for (size_t k = 0; v && k < sbx_json_array_len(v); k++) {
        if (sbx_json_type(sbx_json_array_at(v, k)) != SBX_JSON_STRING) {
            snprintf(msg, n, "body[%zu].args[%zu]: expected a string", i, k);
            return msg;
        }
    }
    v = sbx_json_get(e, "env");
    if (v && sbx_json_type(v) != SBX_JSON_OBJECT && sbx_json_type(v) != SBX_JSON_NULL) {
        snprintf(msg, n, "body[%zu].env: expected an object of strings", i);
        return msg;
    }
    return NULL;
}

static void update_mcp_server(struct sbx_http_req *req)
{
    struct sbx_err err = {0};
    struct sbx_json *body = sbx_json_parse(req->body.ptr, req->body.len, &err);
    struct sbx_json *o;
    struct sbx_buf b = SBX_BUF_INIT, log = SBX_BUF_INIT;
    char msg[400];
    size_t i, n;

    if (!body) {
        snprintf(msg, sizeof(msg), "Request must be a list of MCP tools to sync: %s", err.msg);
        sbx_http_respond_detail(req, 400, msg);
        return;
    }
    if (sbx_json_type(body) != SBX_JSON_ARRAY) {
        sbx_json_free(body);
        sbx_http_respond_detail(req, 400, "Request must be a list of MCP tools to sync");
        return;
    }
    n = sbx_json_array_len(body);
    for (i = 0; i < n; i++) {
        if (check_mcp_entry(sbx_json_array_at(body, i), msg, sizeof(msg), i)) {
            sbx_json_free(body);
            sbx_http_respond_detail(req, 400, msg);
            return;
        }
    }
    /* The MCP SSE proxy is not part of this server yet: say so where the
     * client looks for proxy failures, and keep the 200 it expects. */
    if (n == 0)
        sbx_buf_addstr(&log, "");
    else
        sbx_buf_addf(&log,
                     "sbx-server has no MCP proxy yet: %zu stdio MCP server(s) were not "
                     "started and /mcp/sse is not served",
                     n);
    o = sbx_json_object_new();
    sbx_json_set_str(o, "detail", "MCP server updated successfully");
    sbx_json_set_str(o, "router_error_log", log.ptr);
    sbx_json_dump(o, &b);
    sbx_http_respond_json(req, 200, b.ptr, b.len);
    sbx_json_free(o);
    sbx_json_free(body);
    sbx_buf_free(&b);
    sbx_buf_free(&log);
}

/* ---- routing ------------------------------------------------------------------ */

enum route_id {
    R_ALIVE,
    R_SERVER_INFO,
    R_EXECUTE,
    R_LIST_FILES,
    R_VSCODE_TOKEN,
    R_UPDATE_MCP,
    R_UPLOAD,
    R_DOWNLOAD,
    R_NONE,
};

static const struct route {
    const char *path;
    enum sbx_http_method method;
    enum route_id id;
} routes[] = {
    {"/alive", SBX_HTTP_GET, R_ALIVE},
    {"/server_info", SBX_HTTP_GET, R_SERVER_INFO},
    {"/execute_action", SBX_HTTP_POST, R_EXECUTE},
    {"/list_files", SBX_HTTP_POST, R_LIST_FILES},
    {"/vscode/connection_token", SBX_HTTP_GET, R_VSCODE_TOKEN},
    {"/update_mcp_server", SBX_HTTP_POST, R_UPDATE_MCP},
    {"/upload_file", SBX_HTTP_POST, R_UPLOAD},
    {"/download_files", SBX_HTTP_GET, R_DOWNLOAD},
};

/* 0 = found, 404 = no such path, 405 = path exists with another method. */
static int find_route(const struct sbx_http_req *req, enum route_id *id)
{
    bool path_seen = false;
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(routes[i].path, req->path) != 0)
            continue;
        path_seen = true;
        if (routes[i].method == req->method ||
            (routes[i].method == SBX_HTTP_GET && req->method == SBX_HTTP_HEAD)) {
            *id = routes[i].id;
            return 0;
        }
    }
    return path_seen ? 405 : 404;
}

int sbx_server_on_headers(struct sbx_http_req *req, char *detail, size_t n, void *ud)
{
    struct sbx_server *s = ud;
    enum route_id id = R_NONE;
    int st;

    /* §2.1: everything but exactly /alive and /server_info needs the key. */
    if (s->cfg.api_key && *s->cfg.api_key && strcmp(req->path, "/alive") != 0 &&
        strcmp(req->path, "/server_info") != 0) {
        const char *k = sbx_http_req_header(req, "X-Session-API-Key");

        if (!k || !sbx_ct_streq(k, s->cfg.api_key)) {
            snprintf(detail, n, "Invalid API Key");
            return 403;
        }
    }
    st = find_route(req, &id);
    if (st) {
        snprintf(detail, n, st == 404 ? "Not Found" : "Method Not Allowed");
        return st;
    }
    req->route_ud = (void *)(uintptr_t)id;
    /* Uploads stream to disk instead of being buffered (files/transfer.c). */
    if (id == R_UPLOAD)
        return sbx_server_upload_headers(s, req, detail, n);
    return 0;
}

void sbx_server_on_request(struct sbx_http_req *req, void *ud)
{
    struct sbx_server *s = ud;
    enum route_id id = (enum route_id)(uintptr_t)req->route_ud;
    struct sbx_buf b = SBX_BUF_INIT;

    switch (id) {
    case R_ALIVE:
        sbx_http_respond_json(req, 200, "{\"status\":\"ok\"}", 15);
        break;
    case R_SERVER_INFO:
        if (sbx_server_info_json(s, &b) < 0)
            sbx_http_respond_detail(req, 500, "Internal server error: out of memory");
        else
            sbx_http_respond_json(req, 200, b.ptr, b.len);
        break;
    case R_EXECUTE:
        execute_action(s, req);
        break;
    case R_LIST_FILES:
        list_files(s, req);
        break;
    case R_VSCODE_TOKEN:
        sbx_http_respond_json(req, 200, "{\"token\":null}", 14);
        break;
    case R_UPDATE_MCP:
        update_mcp_server(req);
        break;
    case R_UPLOAD:
        sbx_server_upload_done(s, req);
        break;
    case R_DOWNLOAD:
        sbx_server_download(s, req);
        break;
    case R_NONE:
        sbx_http_respond_detail(req, 404, "Not Found");
        break;
    }
    sbx_buf_free(&b);
}

void sbx_server_stop(struct sbx_server *s)
{
    struct exec_job *j;

    if (s->stopping)
        return;
    s->stopping = true;
    sbx_http_server_close(s->http);
    s->http = NULL;
    /* Sessions are hung up; their pending actions are answered (the
     * connections are closed already, so the answers are dropped). */
    while ((j = s->statics)) {
        struct sbx_bash *b = j->bash;

        s->statics = j->next;
        j->bash = NULL;
        sbx_bash_close(b);
    }
    sbx_bash_close(s->bash);
    s->bash = NULL;
    sbx_ipython_close(s->ipython);
    s->ipython = NULL;
    sbx_editor_free(s->editor);
    s->editor = NULL;
    while ((j = s->queue_head)) {
        s->queue_head = j->next;
        sbx_http_respond_detail(j->req, 503, "server shutting down");
        job_free(j);
    }
    s->queue_tail = NULL;
}
