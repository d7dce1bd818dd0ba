#ifndef SBX_PROVIDER_H
#define SBX_PROVIDER_H

/*
 * Providers: the host-side clients of sandbox platforms (DESIGN.md).
 *
 * A provider is a table of operations (struct sbx_provider_ops) plus its
 * private state, opened by name from a registry: "local" (Linux namespaces on
 * this machine), later "e2b", "daytona", "runloop", "modal". Every operation
 * returns 0 (or a count) or a negative errno, with detail in err:
 *   -ENOENT     no such sandbox (id, unique id prefix or name)
 *   -EEXIST     a sandbox of that name exists
 *   -EINVAL     bad spec or argument (message names it)
 *   -ENOTSUP    the provider cannot do this (message says why)
 *   -EPIPE      the sandbox died or went away under us
 *   -ETIMEDOUT  a deadline passed
 *   -EACCES     credentials refused, or not permitted
 *   -EIO/-EPROTO  the platform or the sandbox answered something unusable
 *
 * Thread-safety: one thread at a time per struct sbx_provider; different
 * providers are independent. Several processes may use the same state
 * directory at once (the index is SQLite with WAL and a busy timeout).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/err.h"

struct sbx_provider;

enum sbx_network {
    SBX_NETWORK_HOST = 0, /* the host's network (local) / the platform default */
    SBX_NETWORK_NONE = 1, /* loopback only */
};

enum sbx_sandbox_state {
    SBX_SANDBOX_CREATING = 0, /* being set up (or its creator died while setting it up) */
    SBX_SANDBOX_RUNNING = 1,
    SBX_SANDBOX_PAUSED = 2,
    SBX_SANDBOX_DEAD = 3, /* its processes are gone; only `rm` is left to do */
};

/* Which limits the platform enforces for a sandbox (bits of
 * sbx_sandbox_info.enforced). */
#define SBX_LIMIT_MEMORY (1u << 0)
#define SBX_LIMIT_PIDS (1u << 1)
#define SBX_LIMIT_CPU (1u << 2)
#define SBX_LIMIT_FREEZE (1u << 3) /* pause/resume available */

/* What to create. All-zero means the provider's defaults. Strings are
 * borrowed for the duration of the call. */
struct sbx_sandbox_spec {
    /* Image or template. local: NULL = an overlay of the host's own root;
     * a directory = that root filesystem; a .tar/.tar.gz/.tar.xz file = a
     * root filesystem tarball (e.g. `docker export`), extracted once and cached. */
    const char *image;
    const char *name;           /* NULL = none; unique within the provider */
    const char *const *labels;  /* "key=value", NULL-terminated; NULL = none */
    const char *const *env;     /* "KEY=value" for the sandbox's processes; NULL = none */
    int64_t memory_bytes;       /* 0 = provider default (local: unlimited) */
    int64_t cpu_millis;         /* 1000 = one CPU; 0 = unlimited */
    int64_t pids_max;           /* 0 = provider default (local: 4096) */
    enum sbx_network network;
    int64_t lifetime_ms;        /* cloud platforms: time to live; 0 = platform default */
    const char *workdir;        /* NULL = "/workspace" */
};

/* What a provider knows of one sandbox. Heap strings, released by
 * sbx_sandbox_info_free(). */
struct sbx_sandbox_info {
    char *id;
    char *name;                 /* NULL = none */
    char *provider;             /* "local", ... */
    char *image;                /* NULL = provider default */
    enum sbx_sandbox_state state;
    int64_t created_ms;         /* wall clock, ms since the epoch */
    char **labels;              /* "key=value" */
    size_t n_labels;
    int64_t memory_bytes;       /* as requested; 0 = none */
    int64_t cpu_millis;
    int64_t pids_max;
    unsigned enforced;          /* SBX_LIMIT_* the platform enforces for it */
    enum sbx_network network;
    char *note;                 /* human-readable caveats (limits not enforced, why it died); NULL = none */
};

void sbx_sandbox_info_free(struct sbx_sandbox_info *info);
void sbx_sandbox_info_array_free(struct sbx_sandbox_info *infos, size_t n);
const char *sbx_sandbox_state_name(enum sbx_sandbox_state s); /* "creating", "running", ... */

/* A filter for list: every label given must match ("key=value"), and the
 * name, when given, must be equal. All-zero lists everything. */
struct sbx_sandbox_filter {
    const char *const *labels;
    const char *name;
};

/* A one-off command (not the persistent bash session of sbx-server). */
struct sbx_exec_req {
    const char *const *argv;    /* argv[0] is looked up in the sandbox's PATH */
    const char *const *env;     /* extra "KEY=value"; NULL = none */
    const char *cwd;            /* NULL = the sandbox's workdir */
    int64_t timeout_ms;         /* 0 = none; on expiry the command is killed */
    /* Descriptors on the host side (local passes them to the command as is;
     * remote providers pump them). -1: stdin from /dev/null; stdout/stderr
     * captured into struct sbx_exec_result. */
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    bool tty;                   /* stdin_fd is a terminal slave: make it the controlling tty */
    /* Cancellation: when cancel_fd becomes readable (or hangs up), the
     * command is killed and exec returns with canceled set. For callers that
     * run exec on a thread of their own (the API faces). */
    bool use_cancel_fd;
    int cancel_fd;
};

struct sbx_exec_result {
    int exit_code;              /* 0-255, or 128+signal when killed by a signal */
    int term_signal;            /* the signal that killed it, 0 if it exited */
    bool timed_out;
    bool canceled;              /* req->cancel_fd fired: killed on request */
    char *out;                  /* captured stdout (NUL-terminated), NULL if not captured */
    size_t out_len;
    char *err;
    size_t err_len;
};

void sbx_exec_result_release(struct sbx_exec_result *r); /* frees out/err, keeps r */

/* How to reach the sbx-server of a sandbox once bootstrapped. */
struct sbx_endpoint {
    char *url;                  /* "http://127.0.0.1:4444" or "https://..." ; NULL with unix_path */
    char *unix_path;            /* a unix socket on this host; NULL with url */
    char *api_key;              /* X-Session-API-Key, NULL = none */
    char **headers;             /* extra "Name: value" headers, NULL-terminated; NULL = none */
};

void sbx_endpoint_release(struct sbx_endpoint *ep);

/* The options sbx-server is started with (protocol doc §1.1). */
struct sbx_server_opts {
    const char *working_dir;    /* NULL = "/workspace" */
    const char *username;       /* NULL = "root" */
    int64_t user_id;            /* used with username; 0 = root */
    const char *const *plugins; /* NULL-terminated; NULL = none */
    const char *api_key;        /* SESSION_API_KEY; NULL = none */
};

/* The operations. A provider leaves an operation NULL when it cannot do it;
 * the sbx_provider_* wrappers then fail with -ENOTSUP and say so. */
struct sbx_provider_ops {
    const char *name;
    int (*open)(struct sbx_provider *p, struct sbx_err *err);
    void (*close)(struct sbx_provider *p);
    /* Creates and starts a sandbox; on success *info_out (if not NULL) gets
     * its description, which the caller frees. */
    int (*create)(struct sbx_provider *p, const struct sbx_sandbox_spec *spec,
                  struct sbx_sandbox_info *info_out, struct sbx_err *err);
    /* ref: an id, a unique id prefix, or a name. */
    int (*get)(struct sbx_provider *p, const char *ref, struct sbx_sandbox_info *out,
               struct sbx_err *err);
    /* Returns the count and a heap array in *out (sbx_sandbox_info_array_free). */
    int (*list)(struct sbx_provider *p, const struct sbx_sandbox_filter *f,
                struct sbx_sandbox_info **out, struct sbx_err *err);
    int (*pause)(struct sbx_provider *p, const char *id, struct sbx_err *err);
    int (*resume)(struct sbx_provider *p, const char *id, struct sbx_err *err);
    /* Kills every process of the sandbox and removes everything it left. */
    int (*remove)(struct sbx_provider *p, const char *id, struct sbx_err *err);
    int (*exec)(struct sbx_provider *p, const char *id, const struct sbx_exec_req *req,
                struct sbx_exec_result *res, struct sbx_err *err);
    /* Copies the host file host_path to sandbox_path (a file path), with mode. */
    int (*upload)(struct sbx_provider *p, const char *id, const char *host_path,
                  const char *sandbox_path, unsigned mode, struct sbx_err *err);
    /* Copies the sandbox file sandbox_path to host_path. */
    int (*download)(struct sbx_provider *p, const char *id, const char *sandbox_path,
                    const char *host_path, struct sbx_err *err);
    /* A URL that reaches a TCP port the sandbox listens on, in *url_out (heap). */
    int (*port_url)(struct sbx_provider *p, const char *id, int port, char **url_out,
                    struct sbx_err *err);
    /* Makes sure sbx-server runs in the sandbox and says how to reach it. */
    int (*bootstrap)(struct sbx_provider *p, const char *id, const struct sbx_server_opts *o,
                     struct sbx_endpoint *ep, struct sbx_err *err);
    /* Counters worth reporting after a command: e.g. OOM kills; NULL ok. */
    int (*oom_kills)(struct sbx_provider *p, const char *id, int64_t *count, struct sbx_err *err);
};

/* Configuration common to every provider. All-zero = defaults. */
struct sbx_provider_config {
    /* $SBX_STATE_DIR, else /var/lib/sbx as root, else ~/.local/share/sbx. */
    const char *state_dir;
    /* The static sbx-server to put into sandboxes: NULL = $SBX_SERVER_BIN, else
     * sbx-server next to the running executable, else
     * <prefix>/libexec/sbx/sbx-server. */
    const char *server_bin;
};

/* Opens the provider called name ("local", ...). NULL and err on failure
 * (-ENOENT "unknown provider 'x' (available: local, ...)"). */
struct sbx_provider *sbx_provider_open(const char *name, const struct sbx_provider_config *cfg,
                                       struct sbx_err *err);
void sbx_provider_close(struct sbx_provider *p);
const char *sbx_provider_name(const struct sbx_provider *p);
/* Comma-separated names of the registered providers. */
const char *sbx_provider_names(void);

int sbx_provider_create(struct sbx_provider *p, const struct sbx_sandbox_spec *spec,
                        struct sbx_sandbox_info *info_out, struct sbx_err *err);
int sbx_provider_get(struct sbx_provider *p, const char *ref, struct sbx_sandbox_info *out,
                     struct sbx_err *err);
int sbx_provider_list(struct sbx_provider *p, const struct sbx_sandbox_filter *f,
                      struct sbx_sandbox_info **out, struct sbx_err *err);
int sbx_provider_pause(struct sbx_provider *p, const char *id, struct sbx_err *err);
int sbx_provider_resume(struct sbx_provider *p, const char *id, struct sbx_err *err);
int sbx_provider_remove(struct sbx_provider *p, const char *id, struct sbx_err *err);
int sbx_provider_exec(struct sbx_provider *p, const char *id, const struct sbx_exec_req *req,
                      struct sbx_exec_result *res, struct sbx_err *err);
int sbx_provider_upload(struct sbx_provider *p, const char *id, const char *host_path,
                        const char *sandbox_path, unsigned mode, struct sbx_err *err);
int sbx_provider_download(struct sbx_provider *p, const char *id, const char *sandbox_path,
                          const char *host_path, struct sbx_err *err);
int sbx_provider_port_url(struct sbx_provider *p, const char *id, int port, char **url_out,
                          struct sbx_err *err);
int sbx_provider_bootstrap(struct sbx_provider *p, const char *id,
                           const struct sbx_server_opts *o, struct sbx_endpoint *ep,
                           struct sbx_err *err);
int sbx_provider_oom_kills(struct sbx_provider *p, const char *id, int64_t *count,
                           struct sbx_err *err);

/* The resolved state directory / sbx-server path of an open provider. */
const char *sbx_provider_state_dir(const struct sbx_provider *p);
const char *sbx_provider_server_bin(const struct sbx_provider *p);

#endif
