#ifndef SBX_BASE_SPAWN_H
#define SBX_BASE_SPAWN_H

/*
 * Process spawning with an error pipe (the uv_spawn / bubblewrap pattern):
 * between fork and exec the child only calls async-signal-safe functions; a
 * failing step is written to a CLOEXEC pipe as {step, errno} and the child
 * _exit(127)s. The parent reads the pipe: EOF means exec succeeded.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "sbx/err.h"

enum sbx_spawn_step {
    SBX_SPAWN_STEP_SETSID = 1,
    SBX_SPAWN_STEP_CTTY,
    SBX_SPAWN_STEP_DUP,
    SBX_SPAWN_STEP_SETGROUPS,
    SBX_SPAWN_STEP_SETGID,
    SBX_SPAWN_STEP_SETUID,
    SBX_SPAWN_STEP_CHDIR,
    SBX_SPAWN_STEP_EXEC,
};

struct sbx_spawn_opts {
    const char *path;         /* program to execve */
    char *const *argv;        /* NULL-terminated */
    char *const *envp;        /* NULL-terminated; NULL = inherit environ */
    const char *cwd;          /* NULL = inherit; failure to chdir is not fatal when cwd_optional */
    bool cwd_optional;
    int stdio_fd;             /* >= 0: dup'ed onto 0, 1 and 2 (e.g. a pty slave) */
    bool new_session;         /* setsid(); with stdio_fd a tty, also make it the controlling tty */
    bool set_ids;             /* switch to uid/gid/groups below */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
};

/* A new environment for a child: the process's environ without the
 * variables named in unset (NULL-terminated, may be NULL), then the
 * "NAME=value" strings of set (NULL-terminated, may be NULL), which replace
 * variables of the same name. NULL when out of memory. */
char **sbx_env_new(const char *const *unset, const char *const *set);
void sbx_env_free(char **env);

/* Starts the child; returns its pid, or a negative errno with err naming the
 * step that failed. */
pid_t sbx_spawn(const struct sbx_spawn_opts *o, struct sbx_err *err);

#endif
