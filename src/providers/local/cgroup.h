#ifndef SBX_PROVIDERS_LOCAL_CGROUP_H
#define SBX_PROVIDERS_LOCAL_CGROUP_H

/*
 * Cgroup limits for local sandboxes, on cgroup v2, v1, or a hybrid of both
 * (probed at run time, never assumed). A sandbox's cgroups live at a path
 * derived from its id alone, so any later sbx process finds them again:
 * v2 <root>/sbx/<id>, v1 <controller mount>/sbx/<id> for each controller.
 *
 * Nothing here fails because a limit cannot be enforced: the caller gets the
 * SBX_LIMIT_* bits that are enforced and a note saying what is not and why
 * ("memory limit not enforced: /sys/fs/cgroup/memory is not writable by uid
 * 1000"), and shows them to the user.
 *
 * Thread-safety: one thread at a time per struct sbx_cgroup.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbx/err.h"

struct sbx_cgroup;

struct sbx_cgroup_limits {
    int64_t memory_bytes; /* 0 = none; swap is limited to the same total where possible */
    int64_t cpu_millis;   /* 0 = none; 1000 = one CPU (CFS quota per 100 ms period) */
    int64_t pids_max;     /* 0 = none */
};

/* Creates the sandbox's cgroups and applies lim. *enforced gets the
 * SBX_LIMIT_* bits (sbx/provider.h) in force, note (may be NULL) a
 * human-readable caveat or "" when everything requested is enforced.
 * NULL and err only on a real failure (e.g. ENOMEM, a limit write refused
 * with EINVAL). */
struct sbx_cgroup *sbx_cgroup_create(const char *sandbox_id, const struct sbx_cgroup_limits *lim,
                                     unsigned *enforced, char *note, size_t note_len,
                                     struct sbx_err *err);
/* Finds the cgroups of an existing sandbox (those that exist). Never NULL
 * except on ENOMEM. */
struct sbx_cgroup *sbx_cgroup_open(const char *sandbox_id, struct sbx_err *err);
void sbx_cgroup_free(struct sbx_cgroup *cg);

/* Moves pid into every cgroup of the sandbox. */
int sbx_cgroup_add_pid(struct sbx_cgroup *cg, pid_t pid, struct sbx_err *err);
/* Freezes (true) or thaws (false) every process, and waits (bounded, 5 s) until
 * the kernel reports the new state. -ENOTSUP when no freezer is available. */
int sbx_cgroup_freeze(struct sbx_cgroup *cg, bool frozen, struct sbx_err *err);
bool sbx_cgroup_frozen(struct sbx_cgroup *cg);
/* SIGKILLs every process in the cgroups (thawing first) and waits (bounded,
 * 5 s) until they are empty. */
int sbx_cgroup_kill_all(struct sbx_cgroup *cg, struct sbx_err *err);
/* The number of processes the kernel OOM-killed in the sandbox so far
 * (v2 memory.events oom_kill, v1 memory.oom_control oom_kill). -ENOTSUP
 * without a memory controller. */
int sbx_cgroup_oom_kills(struct sbx_cgroup *cg, int64_t *count, struct sbx_err *err);
/* Current memory use in bytes (v2 memory.current, v1 memory.usage_in_bytes). */
int sbx_cgroup_memory_bytes(struct sbx_cgroup *cg, int64_t *bytes, struct sbx_err *err);
/* Removes the (empty) cgroups. -EBUSY if a process is still in one. */
int sbx_cgroup_destroy(struct sbx_cgroup *cg, struct sbx_err *err);

#endif
