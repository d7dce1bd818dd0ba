#ifndef SBX_SERVER_SERVER_H
#define SBX_SERVER_SERVER_H

/*
 * sbx-server: the OpenHands action-execution server (openhands-protocol.md
 * §1-§5). main.c parses the command line and starts it; routes.c answers
 * HTTP; actions are executed one at a time, in arrival order.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "sbx/err.h"
#include "server/users.h"

struct sbx_loop;
struct sbx_http_server;
struct sbx_http_req;
struct sbx_bash;
struct sbx_action;
struct sbx_obs;
struct sbx_editor;
struct sbx_ipython;

#define SBX_SERVER_MAX_PLUGINS 8

struct sbx_server_cfg {
    int port;
    const char *host;      /* default 0.0.0.0 */
    const char *unix_path; /* --unix */
    bool has_listen_fd;    /* --listen-fd: serve a socket the parent bound */
    int listen_fd;
    const char *working_dir;
    const char *plugins[SBX_SERVER_MAX_PLUGINS];
    size_t nplugins;
    const char *username;
    long user_id;
    bool enable_browser;
    const char *browsergym_eval_env;
    /* environment (§1.2) */
    const char *api_key;      /* SESSION_API_KEY, NULL or "" = no auth */
    int no_change_timeout_s;  /* NO_CHANGE_TIMEOUT_SECONDS, default 10 */
    bool su_to_user;          /* SU_TO_USER, default true */
    const char *runtime_username; /* RUNTIME_USERNAME */
    const char *group_name;   /* SANDBOX_GROUP_ID, default root */
};

/* One /execute_action request, waiting or executing. */
struct exec_job {
    struct sbx_server *srv;
    struct sbx_http_req *req;
    struct sbx_action *action;
    struct sbx_bash *bash; /* is_static: the session of its own */
    struct exec_job *next;
};

struct sbx_server {
    struct sbx_loop *loop;
    struct sbx_server_cfg cfg;
    struct sbx_http_server *http;
    struct sbx_bash *bash;
    struct sbx_editor *editor;   /* str_replace_editor state (undo history) */
    struct sbx_ipython *ipython; /* run_ipython kernel, with the jupyter plugin */
    struct sbx_user user;
    bool switch_user;
    int64_t start_ms, last_exec_ms;
    /* /server_info cpu_percent: CPU time and wall time at the last call */
    int64_t cpu_last_ticks, cpu_last_wall_ms;
    struct exec_job *queue_head, *queue_tail; /* waiting actions, FIFO */
    struct exec_job *current;                 /* the action executing */
    struct exec_job *statics;                 /* is_static sessions alive */
    size_t init_step;
    int exit_code;
    /* Called once the listener is up, with "HOST:PORT" or "unix:PATH"
     * (main prints it: the library side never prints). */
    void (*on_listening)(struct sbx_server *s, const char *where);
    bool ready;
    bool stopping;
};

/* Parses argv (§1.1) into cfg; on error writes a line to stderr and returns
 * 2 (usage) — or 0 on success, 1 after --help/--version output. */
int sbx_server_parse_args(int argc, char **argv, struct sbx_server_cfg *cfg);
/* Reads the environment of §1.2 into cfg. Returns 0, or 2 after a message. */
int sbx_server_read_env(struct sbx_server_cfg *cfg);

/* Prepares the user and working directory, starts the bash session, runs
 * the init commands, then listens. Returns 0 when the loop has work, or a
 * negative errno with err filled. */
int sbx_server_start(struct sbx_server *s, struct sbx_loop *loop, struct sbx_err *err);
/* Starts the HTTP listener (called once initialisation is done). */
int sbx_server_listen(struct sbx_server *s, struct sbx_err *err);
/* Stops listening, ends every bash session and its processes. */
void sbx_server_stop(struct sbx_server *s);
/* Called from the SIGCHLD handler with each reaped child. */
void sbx_server_child_exited(struct sbx_server *s, int pid, int status);
bool sbx_server_has_plugin(const struct sbx_server *s, const char *name);

/* routes.c */
int sbx_server_on_headers(struct sbx_http_req *req, char *detail, size_t n, void *ud);
void sbx_server_on_request(struct sbx_http_req *req, void *ud);

/* sysinfo.c: appends the /server_info JSON. */
int sbx_server_info_json(struct sbx_server *s, struct sbx_buf *out);

/* files/list.c: appends the /list_files JSON array for path (NULL = none). */
int sbx_list_files_json(const char *workdir, const char *path, struct sbx_buf *out);

/* files/read.c, files/write.c, editor/action.c: the file actions (§4.2-§4.4).
 * Each returns the observation to send with HTTP 200 (never NULL unless out
 * of memory). */
struct sbx_obs *sbx_server_do_read(struct sbx_server *s, const struct sbx_action *a);
struct sbx_obs *sbx_server_do_write(struct sbx_server *s, const struct sbx_action *a);
struct sbx_obs *sbx_server_do_edit(struct sbx_server *s, const struct sbx_action *a);

/* files/transfer.c: POST /upload_file and GET /download_files (§2.3).
 * upload_headers runs from the header hook (sets up the streaming body
 * sink; returns 0 or an HTTP status with detail filled); upload_done runs
 * when the body is in and answers the request; download answers it with a
 * zip streamed as it is built. */
int sbx_server_upload_headers(struct sbx_server *s, struct sbx_http_req *req, char *detail,
                              size_t n);
void sbx_server_upload_done(struct sbx_server *s, struct sbx_http_req *req);
void sbx_server_download(struct sbx_server *s, struct sbx_http_req *req);

#endif
