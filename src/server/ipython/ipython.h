#ifndef SBX_SERVER_IPYTHON_IPYTHON_H
#define SBX_SERVER_IPYTHON_IPYTHON_H

/*
 * run_ipython (openhands-protocol.md §4.5): a persistent Python interpreter
 * driven by a small driver program shipped inside sbx-server, speaking
 * framed messages over pipes. Event-driven like the bash session.
 *
 * Thread-safety: used on the loop thread only.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "sbx/err.h"
#include "sbx/model.h"

struct sbx_loop;
struct sbx_ipython;
struct sbx_editor;

struct sbx_ipython_opts {
    const char *python;      /* interpreter path; NULL = search PATH for python3 */
    bool switch_user;        /* run as uid/gid/groups (needs root) */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
    const char *home;
    const char *cwd;
    bool agent_skills;       /* the agent_skills plugin was requested */
    /* Runs the cells' file_editor(...) calls (with agent_skills): the `edit`
     * action's editor, so the undo history is shared. Borrowed; it must
     * outlive the kernel. */
    struct sbx_editor *editor;
};

/* Called once per cell; takes ownership of obs (a run_ipython or error
 * observation). */
typedef void sbx_ipython_done_fn(struct sbx_ipython *k, struct sbx_obs *obs, void *ud);

/* Creates the kernel handle; the interpreter starts with the first cell.
 * NULL with err filled when out of memory. */
struct sbx_ipython *sbx_ipython_new(struct sbx_loop *loop, const struct sbx_ipython_opts *o,
                                    struct sbx_err *err);
/* Runs a cell in bash_cwd (the kernel chdirs there first when it changed).
 * done runs later, exactly once, never inside this call. -EBUSY while a
 * cell runs. Without a usable python3, done gets a 200-able error
 * observation that says so. */
int sbx_ipython_run(struct sbx_ipython *k, const struct sbx_action_run_ipython *cell,
                    bool has_timeout, double timeout_s, bool timeout_is_int,
                    const char *bash_cwd, sbx_ipython_done_fn *done, void *ud);
/* Tells the kernel a child exited (SIGCHLD reaper); true if it was its own. */
bool sbx_ipython_child_exited(struct sbx_ipython *k, pid_t pid, int status);
/* Kills the interpreter; a running cell's done gets what it has. NULL-safe. */
void sbx_ipython_close(struct sbx_ipython *k);

#endif
