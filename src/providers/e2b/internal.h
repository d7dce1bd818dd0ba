#ifndef SBX_PROVIDERS_E2B_INTERNAL_H
#define SBX_PROVIDERS_E2B_INTERNAL_H

/*
 * The e2b provider's private interface (shared/docs/providers.md §1).
 *
 *   e2b.c        the vtable, open/close, the sandbox cache in the store, the
 *                mapping of E2B's Sandbox objects to sbx_sandbox_info
 *   config.c     configuration from the environment, exactly as the SDK
 *                reads it, and the URLs derived from it
 *   api.c        the control plane: requests with bounded retries, error
 *                mapping, create (with its nonce), get, list, connect,
 *                timeout, pause, kill; the SDK's metadata query encoding
 *   envd.c       envd's Connect RPCs: unary calls, Process/Start streaming,
 *                exec
 *   files.c      envd's /files, streamed from and to descriptors
 *   bootstrap.c  sbx-server in the sandbox
 *
 * Thread-safety: one thread at a time per provider (provider.h); exec's
 * stdin pump runs on a thread of its own with a client of its own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "json/json.h"
#include "net/http_client.h"
#include "providers/provider.h"
#include "sbx/err.h"

#define SBX_E2B_ENVD_PORT 49983
#define SBX_E2B_SERVER_PORT 4444
/* TTL given at create and on every keep-alive (seconds). */
#define SBX_E2B_DEFAULT_TIMEOUT_S 3600
/* A keep-alive is sent at most this often per sandbox. */
#define SBX_E2B_KEEPALIVE_EVERY_MS 30000
/* Seconds between envd's keepalive events on a command's stream (the SDK's). */
#define SBX_E2B_KEEPALIVE_S 50
/* Metadata keys sbx uses itself. */
#define SBX_E2B_NAME_KEY "OpenHands_SID"
#define SBX_E2B_NONCE_KEY "sbx_create_nonce"
#define SBX_E2B_DEFAULT_TEMPLATE "base"
#define SBX_E2B_SERVER_PATH "/home/user/.sbx/sbx-server"
#define SBX_E2B_BAKED_SERVER_PATH "/usr/local/bin/sbx-server"

/* ---- config.c ---------------------------------------------------------- */

struct sbx__e2b_config {
    char *api_key;     /* NULL = not set */
    char *domain;      /* E2B_DOMAIN, default e2b.app */
    char *api_url;     /* E2B_API_URL, default https://api.<domain> */
    char *sandbox_url; /* E2B_SANDBOX_URL; NULL = derived per sandbox */
    char *port_url;    /* SBX_E2B_PORT_URL template, default https://{port}-{id}.{domain} */
    bool debug;        /* E2B_DEBUG=true */
    /* SBX_E2B_SERVER_PORT, default 4444: sbx-server's port in the sandbox.
     * For tests on `sbx serve e2b --backend local`, whose sandboxes share the
     * host's ports. */
    int server_port;
    /* SBX_E2B_PUBLIC=1: sandboxes made with E2B's default, every port public
     * without a token; by default they are made with
     * network.allowPublicTraffic false and their ports need the traffic
     * access token. */
    bool public_traffic;
    /* SBX_E2B_KEEPALIVE_S, default 50: the keepalive interval asked of envd
     * (Keepalive-Ping-Interval); a connection to envd silent for three of
     * them (sbx__e2b_idle_ms) is taken for dead. For tests, and networks that
     * cut idle connections sooner. */
    int keepalive_s;
};

typedef const char *sbx__e2b_getenv_fn(const char *name);

int sbx__e2b_config_load(struct sbx__e2b_config *c, sbx__e2b_getenv_fn *get, struct sbx_err *err);
void sbx__e2b_config_release(struct sbx__e2b_config *c);
/* How long a connection to envd may stay silent, both ways, before it is
 * taken for dead: three keepalive intervals of ka_s seconds and 5 s. */
int64_t sbx__e2b_idle_ms(int ka_s);
/* envd's base URL for a sandbox (sandbox_domain NULL = the configured one). */
int sbx__e2b_envd_url(const struct sbx__e2b_config *c, const char *id, const char *sandbox_domain,
                      struct sbx_buf *out);
/* The public URL of a port: the SBX_E2B_PORT_URL template filled in. */
int sbx__e2b_port_url_fill(const struct sbx__e2b_config *c, const char *id, int port,
                           const char *sandbox_domain, struct sbx_buf *out);

/* ---- api.c -------------------------------------------------------------- */

struct sbx__e2b_retry {
    int attempts;       /* in all, the first included */
    int64_t base_ms;    /* delay before the first retry, doubled each time */
    int64_t max_ms;     /* cap of any one delay, Retry-After included */
};

extern const struct sbx__e2b_retry sbx__e2b_default_retry;

/* The delay before attempt number `done + 1` after `done` attempts, the last
 * of which failed with net_rc (< 0: no answer) or answered status with the
 * Retry-After header retry_after (NULL = none); -1 when not to retry. Only
 * idempotent calls retry 5xx and connection errors; 429 (the request was
 * refused, so nothing happened) is retried for any call. */
int64_t sbx__e2b_retry_delay(const struct sbx__e2b_retry *pol, int done, int net_rc, int status,
                             const char *retry_after, bool idempotent);

/* Sleeps ms milliseconds (signals do not cut it short). */
void sbx__e2b_sleep_ms(int64_t ms);

/* Appends the `metadata` query parameter's value for the pairs
 * keys[i]=values[i], encoded exactly as the JS SDK 2.x sends it (each key and
 * value encodeURIComponent'ed, joined by URLSearchParams, the whole encoded
 * once more by openapi-fetch). */
int sbx__e2b_metadata_query(struct sbx_buf *out, const char *const *keys,
                            const char *const *values, size_t n);
/* encodeURIComponent. */
int sbx__e2b_uri_component(struct sbx_buf *out, const char *s);
/* n random bytes (getrandom) as 2n lowercase hex digits and a NUL in out;
 * -EIO when the kernel gives none. */
int sbx__e2b_random_hex(char *out, size_t n);

struct sbx__e2b;

struct sbx__e2b_call {
    const char *method;
    const char *path;      /* with its query */
    const char *body;      /* JSON; NULL = none */
    bool idempotent;
    const char *what;      /* for messages: "get sandbox X" */
    /* out (NULL = not wanted): set when an attempt that was retried may have
     * been carried out (no answer, or a 5xx) */
    bool *maybe_done;
};

/* One control-plane call with retries. 0 with a 2xx answer in resp; else
 * -errno with the platform's message (401: -EACCES naming E2B_API_KEY, 404:
 * -ENOENT, ...). */
int sbx__e2b_api(struct sbx__e2b *e, const struct sbx__e2b_call *call, struct sbx_http_resp *resp,
                 struct sbx_err *err);
/* The error of a non-2xx control-plane answer. */
int sbx__e2b_api_error(int status, const char *body, size_t len, const char *what,
                       struct sbx_err *err);

/* Filters of a list: metadata pairs (NULL-terminated "key=value"), and the
 * name (OpenHands_SID). */
int sbx__e2b_list_raw(struct sbx__e2b *e, const char *const *labels, const char *name,
                      const char *nonce, struct sbx_json **out, struct sbx_err *err);
int sbx__e2b_create_raw(struct sbx__e2b *e, const struct sbx_sandbox_spec *spec,
                        struct sbx_json **out, struct sbx_err *err);
/* NewSandbox for spec, with its nonce and TTL; public_traffic false adds
 * network.allowPublicTraffic false. */
int sbx__e2b_create_body(const struct sbx_sandbox_spec *spec, const char *nonce,
                         int64_t timeout_s, bool public_traffic, struct sbx_buf *out,
                         struct sbx_err *err);
int sbx__e2b_get_raw(struct sbx__e2b *e, const char *id, struct sbx_json **out,
                     struct sbx_err *err);
/* POST /sandboxes/{id}/connect: attaches, resumes a paused one. */
int sbx__e2b_connect_raw(struct sbx__e2b *e, const char *id, int64_t timeout_s,
                         struct sbx_json **out, struct sbx_err *err);
int sbx__e2b_set_timeout(struct sbx__e2b *e, const char *id, int64_t timeout_s,
                         struct sbx_err *err);
int sbx__e2b_pause_raw(struct sbx__e2b *e, const char *id, struct sbx_err *err);
int sbx__e2b_kill_raw(struct sbx__e2b *e, const char *id, struct sbx_err *err);

/* ---- e2b.c --------------------------------------------------------------- */

struct sbx__e2b {
    struct sbx_provider *p;
    struct sbx__e2b_config cfg;
    struct sbx__e2b_retry retry;
    struct sbx_http_client *api; /* lazily made */
    struct sbx_store *store;
};

/* What envd and the ports need of one sandbox, cached in the store
 * (provider "e2b"). */
struct sbx__e2b_sbx {
    char *id;
    char *token;         /* envdAccessToken; NULL = not secure */
    char *domain;        /* NULL = the configured one */
    char *traffic_token; /* trafficAccessToken; NULL = none known */
    bool traffic_known;  /* traffic_token NULL and this: public ports */
    char *server_key;    /* SESSION_API_KEY of the sbx-server sbx started */
    char *envd_version;  /* the sandbox's envdVersion; NULL = not known */
    int64_t timeout_s;
    int64_t kept_ms;     /* wall time of the last keep-alive */
};

/* What an answer of the control plane says of a sandbox's traffic token. */
enum sbx__e2b_traffic {
    SBX_E2B_TRAFFIC_UNKNOWN, /* nothing (a SandboxDetail of a non-public one) */
    SBX_E2B_TRAFFIC_PUBLIC,  /* no token: the ports are public */
    SBX_E2B_TRAFFIC_TOKEN,   /* *token_out (borrowed from v) is required */
};

/* A Sandbox (create, connect: no "state") carries trafficAccessToken, null
 * or absent when the ports are public; a SandboxDetail or ListedSandbox
 * carries no token, at most network.allowPublicTraffic. */
enum sbx__e2b_traffic sbx__e2b_traffic_of(const struct sbx_json *v, const char **token_out);

void sbx__e2b_sbx_release(struct sbx__e2b_sbx *s);
/* The cached connection facts of id, from the store, else from the platform
 * (GET /sandboxes/{id}, stored then). refresh: ask the platform in any case
 * (after envd refused the token). */
int sbx__e2b_sbx_load(struct sbx__e2b *e, const char *id, bool refresh, struct sbx__e2b_sbx *s,
                      struct sbx_err *err);
/* Asks the platform again (after envd refused the token), in place. */
int sbx__e2b_sbx_refetch(struct sbx__e2b *e, struct sbx__e2b_sbx *s, struct sbx_err *err);
/* Makes s's traffic token known: a connect (POST /sandboxes/{id}/connect,
 * whose Sandbox answer carries it) when it is not, or when force (a port
 * refused the one known). */
int sbx__e2b_sbx_traffic(struct sbx__e2b *e, struct sbx__e2b_sbx *s, bool force,
                         struct sbx_err *err);
/* Records key (NULL = none) as the SESSION_API_KEY of the sandbox's sbx-server,
 * in the store and in s. */
int sbx__e2b_sbx_set_key(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *key,
                         struct sbx_err *err);
/* Records the facts a Sandbox object (create/connect/get answer) carries. */
int sbx__e2b_sbx_save(struct sbx__e2b *e, const struct sbx_json *sandbox, int64_t timeout_s,
                      struct sbx_err *err);
/* Refreshes the TTL of a sandbox in use (at most every
 * SBX_E2B_KEEPALIVE_EVERY_MS). Failures are ignored. */
void sbx__e2b_keepalive(struct sbx__e2b *e, struct sbx__e2b_sbx *s);

/* Maps an E2B Sandbox/SandboxDetail/ListedSandbox object. now_ms: wall clock
 * for the TTL note. */
int sbx__e2b_info_from_json(const struct sbx_json *v, int64_t now_ms,
                            struct sbx_sandbox_info *out, struct sbx_err *err);
/* RFC 3339 time to ms since the epoch; -EINVAL when not one. */
int sbx__e2b_parse_time(const char *s, int64_t *ms_out);
/* Whether ref has the form of a sandbox id (20 of [a-z0-9]). */
bool sbx__e2b_is_id(const char *ref);

/* ---- envd.c -------------------------------------------------------------- */

/* An envd client for sandbox s (base URL, token and routing headers). */
struct sbx_http_client *sbx__e2b_envd_client(struct sbx__e2b *e, const struct sbx__e2b_sbx *s,
                                             struct sbx_err *err);
/* A unary Connect call: POST /<service>/<method> with body (JSON), the
 * answer's message in *out (may be NULL). A 401 refetches the token once. */
int sbx__e2b_envd_unary(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *rpc,
                        const struct sbx_json *body, struct sbx_json **out, struct sbx_err *err);
/* The error of a non-200 envd answer: a Connect error body, E2B's proxy's
 * {"code","message"}, or a bare status. A proxy's "sandbox not found" or a
 * dropped connection is -EPIPE (the sandbox went away). */
int sbx__e2b_envd_error(const char *id, const char *rpc, int status, const char *body,
                        size_t len, struct sbx_err *err);
/* After an envd call failed without an answer (rc): -EPIPE when the
 * sandbox is gone or paused (asked of the control plane), else rc. */
int sbx__e2b_gone_or(struct sbx__e2b *e, const char *id, int rc, struct sbx_err *err);
/* Whether the dotted version v (an envdVersion) is at least min; an unknown
 * (NULL or empty) v counts as the newest. */
bool sbx__e2b_version_at_least(const char *v, const char *min);
/* The first envd that takes /files uploads as application/octet-stream (older
 * ones: multipart/form-data only; the SDK's ENVD_OCTET_STREAM_UPLOAD). */
#define SBX_E2B_ENVD_OCTET_STREAM "0.5.7"
/* The first envd that runs requests without a user as the template's default
 * user (older ones: the SDK always names user "user"). */
#define SBX_E2B_ENVD_DEFAULT_USER "0.4.0"
/* The exit status of an EndEvent: exit code, or 128+signal with the signal
 * from its status text ("signal: killed"). */
void sbx__e2b_end_status(const struct sbx_json *end, int *exit_code, int *term_signal);

int sbx__e2b_exec(struct sbx__e2b *e, const char *id, const struct sbx_exec_req *req,
                  struct sbx_exec_result *res, struct sbx_err *err);
/* Starts argv in the background (no lifetime limit; the connection is
 * closed after the start event, or once its stdout holds ready when that is
 * not NULL: envd keeps the process), as user (NULL = the template's
 * default), tagged tag (NULL = none) for Process/List. A process that ends
 * before that, prints failed on stderr, or is not ready within 60 s is an
 * error with its output. */
int sbx__e2b_spawn(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *const *argv,
                   const char *const *env, const char *user, const char *tag, const char *ready,
                   const char *failed, int64_t *pid_out, struct sbx_err *err);
/* Runs argv to its end and fails unless it exits 0 (helpers: chmod, mkdir). */
int sbx__e2b_run_ok(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *const *argv,
                    const char *user, struct sbx_err *err);
/* Filesystem/Stat of path: 0 (with the EntryInfo type in *type_out, e.g.
 * "FILE_TYPE_FILE", heap) or -ENOENT. */
int sbx__e2b_stat(struct sbx__e2b *e, struct sbx__e2b_sbx *s, const char *path, char **type_out,
                  struct sbx_err *err);

/* ---- files.c ------------------------------------------------------------- */

int sbx__e2b_upload(struct sbx__e2b *e, const char *id, const char *host_path,
                    const char *sandbox_path, unsigned mode, struct sbx_err *err);
int sbx__e2b_download(struct sbx__e2b *e, const char *id, const char *sandbox_path,
                      const char *host_path, struct sbx_err *err);
int sbx__e2b_upload_fd(struct sbx__e2b *e, struct sbx__e2b_sbx *s, int fd, int64_t len,
                       const char *sandbox_path, struct sbx_err *err);

/* ---- bootstrap.c --------------------------------------------------------- */

int sbx__e2b_bootstrap(struct sbx__e2b *e, const char *id, const struct sbx_server_opts *o,
                       struct sbx_endpoint *ep, struct sbx_err *err);

#endif
