#ifndef SBX_SERVER_BASH_SESSION_H
#define SBX_SERVER_BASH_SESSION_H

/*
 * One persistent interactive bash on a PTY, executing `run` actions with the
 * exact observable contract of upstream's tmux-based BashSession
 * (openhands-protocol.md §5), but event-driven: the PTY fd wakes the loop,
 * completion is the arrival of a new prompt block, and the soft and hard
 * timeouts are timers. No polling, no sleeps.
 *
 * Thread-safety: used on the loop thread only.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbx/err.h"
#include "sbx/model.h"

struct sbx_loop;
struct sbx_bash;

struct sbx_bash_opts {
    const char *cwd;            /* start directory */
    bool switch_user;           /* `su <user> -` semantics (needs root) */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
    const char *username;       /* for USER/LOGNAME */
    const char *home;           /* HOME */
    int64_t no_change_timeout_ms; /* soft timeout; 0 = 10 s */
    int no_change_timeout_s;    /* the same in seconds, as printed in notices */
};

/* Called once when the session has printed its first prompt (status 0) or
 * failed to start (negative errno, err filled). */
typedef void sbx_bash_ready_fn(struct sbx_bash *b, int status, const struct sbx_err *err,
                               void *ud);
/* Called when an action is done; takes ownership of obs. */
typedef void sbx_bash_done_fn(struct sbx_bash *b, struct sbx_obs *obs, void *ud);

/* Starts bash; ready is called later (never from inside this call). NULL
 * with err filled if the PTY or the process could not be created. */
struct sbx_bash *sbx_bash_new(struct sbx_loop *loop, const struct sbx_bash_opts *o,
                              sbx_bash_ready_fn *ready, void *ud, struct sbx_err *err);

/* Executes a run action (§5.3). done is called exactly once, later. Returns
 * -EBUSY if an action is in progress. The action is copied. */
int sbx_bash_execute(struct sbx_bash *b, const struct sbx_action_run *run, bool has_timeout,
                     double timeout_s, bool timeout_is_int, sbx_bash_done_fn *done, void *ud);

/* The cwd reported by the last prompt. */
const char *sbx_bash_cwd(const struct sbx_bash *b);
/* The pid of the bash process (its process group id too), or -1. */
pid_t sbx_bash_pid(const struct sbx_bash *b);

/* Tells the session its child exited (from the server's SIGCHLD reaper).
 * Returns true if pid was this session's bash. */
bool sbx_bash_child_exited(struct sbx_bash *b, pid_t pid, int status);

/* Hangs up: SIGHUP then SIGKILL to the session's process group, closes the
 * PTY. An action in progress gets its done callback with what it has.
 * NULL-safe. */
void sbx_bash_close(struct sbx_bash *b);

#endif
