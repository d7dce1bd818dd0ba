#ifndef SBX_PROVIDERS_LOCAL_LOCAL_H
#define SBX_PROVIDERS_LOCAL_LOCAL_H

/*
 * What the files of the local provider share: its private state, the store
 * row of a sandbox with its parsed JSON data, and helpers across create.c,
 * local.c, exec.c and fs.c.
 *
 * Layout of the state directory (one directory per sandbox):
 *   <state>/sbx.db               the store (rows of provider "local")
 *   <state>/local/<id>/          0700
 *       root/ upper/ work/       the new root and its overlay layers
 *       server.sock              sbx-server's socket, bound by the init (init.h)
 *       ctl.sock                 the init's control socket (ctl.h)
 *       server.log               sbx-server's stdout and stderr
 *
 * Thread-safety: one thread at a time per provider (the store handle is
 * shared by its operations).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "providers/provider.h"
#include "store/store.h"

#define SBX_LOCAL_PROVIDER "local"
#define SBX_LOCAL_ID_LEN 12
#define SBX_LOCAL_DEFAULT_WORKDIR "/workspace"
#define SBX_LOCAL_DEFAULT_PIDS 4096
#define SBX_LOCAL_SERVER_WAIT_MS 20000
/* The longest sbx-server command line: 10 fixed words, --plugins and its names. */
#define SBX_LOCAL_SERVER_ARGV_MAX 24

struct sbx__local {
    struct sbx_store *store;
    char *dir; /* <state>/local */
};

/* A sandbox as the store knows it, with the fields of its JSON data. */
struct sbx__local_sbx {
    struct sbx_store_row row;
    enum sbx_sandbox_state state; /* after the liveness check */
    char dir[4096];               /* <state>/local/<id> */
    char *workdir;
    char *image;
    char *note;
    enum sbx_network network;
    int64_t memory_bytes, cpu_millis, pids_max;
    unsigned enforced;
    int creator; /* row.pid is the creating process, not the init yet */
};

void sbx__local_sbx_release(struct sbx__local_sbx *s);

/* Finds ref (id, name or unique id prefix) and checks that its init still
 * runs; a row whose process is gone is marked dead in the store. */
int sbx__local_find(struct sbx_provider *p, const char *ref, struct sbx__local_sbx *s,
                    struct sbx_err *err);
/* sbx__local_find, then -EPIPE unless it is running ("<op>: sandbox <id> is
 * dead (...)") and -EAGAIN when paused. */
int sbx__local_find_running(struct sbx_provider *p, const char *ref, const char *op,
                            struct sbx__local_sbx *s, struct sbx_err *err);
/* The store's JSON data for these fields (heap). */
char *sbx__local_data_json(const struct sbx__local_sbx *s);
/* Fills info from s. */
int sbx__local_info(const struct sbx__local_sbx *s, struct sbx_sandbox_info *info);

/* /proc/<pid>/stat field 22 (start time in clock ticks), or -errno. */
int sbx__local_pid_start(pid_t pid, int64_t *start);
/* SIGKILLs pid (if its start time is start, or any when start is 0) and
 * waits, bounded, until it has exited. */
int sbx__local_kill_wait(pid_t pid, int64_t start);
/* The two halves: sbx__local_kill sends the SIGKILL and gives a pidfd of
 * the dying process in *pidfd (-1 when there was nothing to kill);
 * sbx__local_wait_exit waits, bounded, until it has exited and closes it
 * (0 or -ETIMEDOUT). */
int sbx__local_kill(pid_t pid, int64_t start, int *pidfd);
int sbx__local_wait_exit(int pidfd);
/* Removes path and everything below it without following symlinks. */
int sbx__local_rmtree(const char *path);
/* Waits until <dir>/server.sock exists, the init (pid, start) dies, or
 * timeout_ms passes (inotify; no sleeping). */
int sbx__local_wait_server(const char *dir, pid_t pid, int64_t timeout_ms, struct sbx_err *err);
/* Validates a sandbox name: [A-Za-z0-9][A-Za-z0-9_.-]{0,62}. */
int sbx__local_valid_name(const char *name);
/* Validates a spec (name, labels, limits, workdir); -EINVAL with a message. */
int sbx__local_check_spec(const struct sbx_sandbox_spec *spec, struct sbx_err *err);

int sbx__local_create(struct sbx_provider *p, const struct sbx_sandbox_spec *spec,
                      struct sbx_sandbox_info *info_out, struct sbx_err *err);
/* Kills every process of s and removes everything it left. */
int sbx__local_destroy(struct sbx_provider *p, struct sbx__local_sbx *s, struct sbx_err *err);
int sbx__local_exec(struct sbx_provider *p, const char *id, const struct sbx_exec_req *req,
                    struct sbx_exec_result *res, struct sbx_err *err);
int sbx__local_upload(struct sbx_provider *p, const char *id, const char *host_path,
                      const char *sandbox_path, unsigned mode, struct sbx_err *err);
int sbx__local_download(struct sbx_provider *p, const char *id, const char *sandbox_path,
                        const char *host_path, struct sbx_err *err);

/* The default plugins of sbx-server in a local sandbox (NULL-terminated). */
extern const char *const sbx__local_default_plugins[];
/* Fills argv (SBX_LOCAL_SERVER_ARGV_MAX + 1 slots) with the sbx-server command line
 * the init runs; returns the number of words. Borrows every string. */
size_t sbx__local_server_argv(const char **argv, const char *workdir, const char *username,
                              const char *uid, const char *const *plugins);

#endif
