#ifndef SBX_API_E2B_INTERNAL_H
#define SBX_API_E2B_INTERNAL_H

/*
 * What the files of the e2b face share. Ownership of the parts:
 *   face.c     listener, routing (control plane / envd / port proxy), the
 *              sandbox table, auth helpers, error bodies
 *   api.c      the control plane (openapi.yml): sandboxes CRUD, timeout,
 *              pause, connect; TTL expiry
 *   api_list.c its lists, with filters and pagination
 *   persist.c  the sandbox table in the store (survives a restart)
 *   proxy.c    user ports: requests forwarded to the backend's port_url
 *   envd_process.c, envd_fs.c, envd_watch.c, envd_files.c,
 *   envd_files_auth.c
 *              envd: process.Process, filesystem.Filesystem (its watchers
 *              run `sbx-server watch` in the sandbox), /files, /health, on
 *              top of the provider's exec/upload/download; envd_stream.c
 *              the server-streaming responses they share
 * Everything runs on the loop thread except the job functions handed to
 * the worker (api/worker.h), which must not touch face state.
 */

#include <stdbool.h>
#include <stdint.h>

#include "api/e2b/e2b.h"
#include "api/worker.h"
#include "base/buf.h"
#include "net/http_server.h"

struct sbx_json;
struct sbx_store;
struct sbx_timer;
struct sbx_e2b_proxy;

#define SBX_E2B_ENVD_PORT 49983
#define SBX_E2B_ID_LEN 20          /* [a-z0-9], as the platform's ids */
#define SBX_E2B_ENVD_VERSION "0.5.7"
/* The home of the default user: relative paths and the default cwd. */
#define SBX_E2B_DEFAULT_USER "user"
#define SBX_E2B_HOME "/home/user"
/* Worker threads: for calls that end, and for envd processes and watchers
 * (one each while it runs; beyond this many, a Start waits for one to end). */
#define SBX_E2B_CALL_THREADS 64
#define SBX_E2B_PROC_THREADS 1024

enum sbx_e2b_state {
    SBX_E2B_RUNNING = 0,
    SBX_E2B_PAUSED = 1,
    SBX_E2B_PAUSING = 2,  /* a pause is in flight */
    SBX_E2B_KILLING = 3,  /* a kill is in flight: invisible to the API */
};

struct sbx_e2b_envd; /* envd_*.c's per-sandbox state (processes) */

/* One sandbox as the face knows it. Lives on the loop thread. */
struct sbx_e2b_sbx {
    struct sbx_e2b_sbx *next;
    char id[SBX_E2B_ID_LEN + 1];   /* the E2B sandboxID */
    char *backend_id;              /* the provider's id */
    char *template_id;             /* as requested (templateID) */
    char *alias;                   /* NULL = none */
    char *client_id;
    char *access_token;            /* envdAccessToken; NULL when not secure */
    char *traffic_token;           /* trafficAccessToken; NULL = public */
    struct sbx_json *metadata;     /* object of strings; never NULL */
    struct sbx_json *env_vars;     /* object of strings; never NULL */
    enum sbx_e2b_state state;
    int64_t started_ms;            /* wall clock */
    int64_t end_ms;                /* wall clock: TTL expiry */
    bool auto_pause;               /* expiry pauses instead of killing */
    bool allow_internet;
    int cpu_count, memory_mb, disk_mb;
    struct sbx_e2b_envd *envd;     /* NULL until envd is first used */
};

struct sbx_e2b_face {
    struct sbx_loop *loop;
    struct sbx_http_server *http;
    struct sbx_api_worker *worker; /* calls that end: control plane, files, fs, signals */
    struct sbx_api_worker *procs;  /* envd processes and watchers: a thread each while it runs */
    struct sbx_store *store;       /* NULL when it could not be opened (then in memory only) */
    char *backend;
    char *api_key;                 /* NULL = any */
    char *domain;
    char **templates;              /* "name=image", NULL-terminated */
    struct sbx_e2b_sbx *sandboxes;
    struct sbx_timer *ttl_timer;   /* api.c: fires at the next end_ms */
    struct sbx_e2b_proxy *proxy;   /* proxy.c: relays, port address cache */
    int port;
    bool closing;
};

/* ---- face.c ------------------------------------------------------------ */

/* The sandbox of that E2B id, or NULL (also for a sandbox being killed). */
struct sbx_e2b_sbx *sbx__e2b_find(struct sbx_e2b_face *f, const char *id);
/* Adds s (owned by the table from now on). */
void sbx__e2b_add(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s);
/* Unlinks s from the table, releases its envd state and frees it. */
void sbx__e2b_drop(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s);
void sbx__e2b_sbx_free(struct sbx_e2b_sbx *s);
/* A fresh [a-z0-9]{20} id / a random hex token (n bytes of entropy; NULL
 * when out of memory or without an entropy source). */
void sbx__e2b_new_id(char out[SBX_E2B_ID_LEN + 1]);
char *sbx__e2b_new_token(const char *prefix, size_t n);
/* The image a template names; NULL = the backend's default; -ENOENT when
 * the template is unknown. */
int sbx__e2b_template_image(const struct sbx_e2b_face *f, const char *name, const char **image);
/* The path part of f->domain etc. are not needed: envd and proxy build URLs
 * from the provider. */

/* Error bodies. Control plane and envd's HTTP routes: {"code":N,"message":"..."}. */
int sbx__e2b_respond_error(struct sbx_http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A Connect unary error: status from the code, {"code":"...","message":"..."}. */
int sbx__e2b_respond_connect_error(struct sbx_http_req *req, int connect_code, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

/* ---- api.c (control plane), api_list.c (its lists) --------------------- */

/* The prefix of the platform's request-validation messages. */
#define SBX_E2B_VALIDATION "validation error: error in openapi3filter.RequestError: "

/* Handles a control-plane request (auth included). Answers req. */
void sbx__e2b_api_handle(struct sbx_e2b_face *f, struct sbx_http_req *req);
/* (Re)arms the TTL timer for the earliest end_ms; called after any change. */
void sbx__e2b_ttl_rearm(struct sbx_e2b_face *f);
/* GET /v2/sandboxes (v2) and GET /sandboxes (v1), auth done. Answers req. */
void sbx__e2b_api_list(struct sbx_e2b_face *f, struct sbx_http_req *req, bool v2);
/* The ListedSandbox object of s. NULL when out of memory. */
struct sbx_json *sbx__e2b_listed_json(const struct sbx_e2b_sbx *s);
/* Answers status with o as its body (o taken; NULL answers 500). */
int sbx__e2b_respond_take(struct sbx_http_req *req, int status, struct sbx_json *o,
                          const char *extra_headers);
/* Starts the TTL machinery (after the table is loaded) / stops it. */
int sbx__e2b_api_start(struct sbx_e2b_face *f, struct sbx_err *err);
void sbx__e2b_api_stop(struct sbx_e2b_face *f);

/* ---- persist.c -------------------------------------------------------- */

/* Loads the table from the store (sandboxes the backend no longer has are
 * dropped). Saves / deletes one sandbox. Failures are logged, not fatal. */
int sbx__e2b_persist_load(struct sbx_e2b_face *f, struct sbx_err *err);
void sbx__e2b_persist_save(struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s);
void sbx__e2b_persist_delete(struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s);

/* ---- proxy.c ---------------------------------------------------------- */

/* Forwards req to port of sandbox s (a user port, not envd). Answers req,
 * or takes its connection over (face.c's headers callback sets req->hijack
 * for user ports). */
void sbx__e2b_proxy_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, int port,
                           struct sbx_http_req *req);
/* Closes the relays, answers the requests still waiting, frees the cache.
 * After the worker is freed (no lookup in flight). */
void sbx__e2b_proxy_free(struct sbx_e2b_face *f);

/* ---- envd_*.c --------------------------------------------------------- */

/* Handles a request to envd (port 49983) of sandbox s, auth included
 * (X-Access-Token). Answers req. */
void sbx__e2b_envd_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          struct sbx_http_req *req);
/* Streaming bodies (POST /files): called from the headers callback for envd
 * requests; may set req->body_fn/body_max. Returns 0 or an HTTP status. */
int sbx__e2b_envd_headers(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          struct sbx_http_req *req, char *detail, size_t detail_len);
/* The sandbox is killed (or the face closes): cancel its processes, end
 * their streams (each open stream gets its end), free s->envd. A pause
 * keeps all of it (the backend freezes the processes). */
void sbx__e2b_envd_release(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s);

#endif
