#ifndef SBX_RUNTIME_H
#define SBX_RUNTIME_H

/*
 * A runtime: a sandbox made ready for OpenHands actions = a provider +
 * sbx-server bootstrapped inside + an action client (DESIGN.md, "A sandbox on
 * a platform").
 *
 *   struct sbx_err err;
 *   struct sbx_runtime_opts o = { .provider = "local" };
 *   struct sbx_runtime *rt = sbx_runtime_open(&o, &err);
 *   struct sbx_obs *obs = NULL;
 *   if (rt && sbx_runtime_run(rt, "echo hi", 0, &obs, &err) == 0) ...
 *   sbx_obs_free(obs);
 *   sbx_runtime_close(rt, SBX_CLOSE_DELETE, NULL);
 *
 * The action client follows the upstream client (protocol doc §6): per-call
 * timeouts (/alive 5 s, /list_files 10 s, /download_files 30 s,
 * /upload_file 300 s, /execute_action (action timeout, else the sandbox
 * default 120 s) + 5 s);
 * HTTP 429 retried up to 3 attempts with exponential backoff; a connection
 * dropped mid-response retried up to 5 attempts. Any other non-2xx answer
 * fails with the server's "detail" in err (err->http_status set).
 * Backoff waits are scaled by opts.retry_base_ms (upstream: 4000).
 *
 * Thread-safety: one thread at a time per runtime; runtimes are independent.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/err.h"
#include "sbx/model.h"
#include "sbx/provider.h"

struct sbx_runtime;

struct sbx_runtime_opts {
    const char *provider;       /* NULL = $SBX_PROVIDER, else "local" */
    struct sbx_provider_config provider_config;
    /* Attach to this existing sandbox (id, unique id prefix or name) instead
     * of creating one. With create_if_missing, a missing name is created with
     * spec.name = attach. */
    const char *attach;
    bool create_if_missing;
    struct sbx_sandbox_spec spec;       /* for creation */
    struct sbx_server_opts server;      /* for the bootstrap */
    int64_t alive_timeout_ms;   /* waiting for /alive; 0 = 120000 */
    int64_t retry_base_ms;      /* first retry wait; 0 = 4000 (upstream), tests use less */
    /* Called with progress lines ("creating sandbox", "waiting for sbx-server")
     * when not NULL; never inside sbx_runtime_open's return. */
    void (*progress)(const char *line, void *ud);
    void *progress_ud;
};

/* Creates (or attaches to) a sandbox, bootstraps sbx-server and waits until
 * GET /alive answers 200. NULL and err on failure; a sandbox created by this
 * call is deleted again when the bootstrap fails. */
struct sbx_runtime *sbx_runtime_open(const struct sbx_runtime_opts *o, struct sbx_err *err);

/* Connects an action client to an already running sbx-server (no provider):
 * url "http://host:port" or unix_path. For `sbx act` on a bare server and
 * tests. */
struct sbx_runtime *sbx_runtime_connect(const struct sbx_endpoint *ep, struct sbx_err *err);

enum sbx_close_mode {
    SBX_CLOSE_KEEP = 0,   /* leave the sandbox running */
    SBX_CLOSE_PAUSE = 1,  /* pause it (where the provider can) */
    SBX_CLOSE_DELETE = 2, /* delete it */
};

/* Closes the client and applies mode to the sandbox. NULL is a no-op.
 * Returns the result of the pause/delete (the handle is freed either way). */
int sbx_runtime_close(struct sbx_runtime *rt, enum sbx_close_mode mode, struct sbx_err *err);

const char *sbx_runtime_sandbox_id(const struct sbx_runtime *rt); /* NULL for connect() */
struct sbx_provider *sbx_runtime_provider(struct sbx_runtime *rt); /* borrowed; NULL for connect() */

/* Sends one action and returns its observation. A failed HTTP exchange is an
 * error (err->http_status set when the server answered); an ErrorObservation
 * is a successful call whose *obs has kind SBX_OBS_ERROR. */
int sbx_runtime_act(struct sbx_runtime *rt, const struct sbx_action *a, struct sbx_obs **obs,
                    struct sbx_err *err);
/* The same with raw JSON: action_json is a bare action object
 * ({"action":"run","args":{...}}) or a whole {"action": {...}} body; the
 * observation JSON as the server sent it goes into *obs_json (heap). */
int sbx_runtime_act_json(struct sbx_runtime *rt, const char *action_json, char **obs_json,
                         struct sbx_err *err);

/* Conveniences over act. timeout_ms 0 = the server's default (blocking off). */
int sbx_runtime_run(struct sbx_runtime *rt, const char *command, int64_t timeout_ms,
                    struct sbx_obs **obs, struct sbx_err *err);
int sbx_runtime_read(struct sbx_runtime *rt, const char *path, struct sbx_obs **obs,
                     struct sbx_err *err);
int sbx_runtime_write(struct sbx_runtime *rt, const char *path, const char *content,
                      struct sbx_obs **obs, struct sbx_err *err);
/* str_replace_editor str_replace. */
int sbx_runtime_edit(struct sbx_runtime *rt, const char *path, const char *old_str,
                     const char *new_str, struct sbx_obs **obs, struct sbx_err *err);
/* POST /list_files: the names as a heap array of heap strings (count returned). */
int sbx_runtime_list_files(struct sbx_runtime *rt, const char *path, char ***names,
                           struct sbx_err *err);
void sbx_runtime_names_free(char **names, size_t n);
/* Copies a host file or directory (recursive) into the sandbox directory
 * sandbox_dir, as the upstream client's copy_to does. */
int sbx_runtime_upload(struct sbx_runtime *rt, const char *host_path, const char *sandbox_dir,
                       struct sbx_err *err);
/* GET /download_files?path=...: the zip is written to host_zip_path. */
int sbx_runtime_download(struct sbx_runtime *rt, const char *sandbox_path,
                         const char *host_zip_path, struct sbx_err *err);
/* GET /alive once; 0 when 200. */
int sbx_runtime_alive(struct sbx_runtime *rt, struct sbx_err *err);

#endif
