#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fd.h"

extern char **environ;

struct child_report {
    int step;
    int err;
};

static const char *step_name(int step)
{
    switch (step) {
    case SBX_SPAWN_STEP_SETSID: return "setsid";
    case SBX_SPAWN_STEP_CTTY: return "set controlling tty";
    case SBX_SPAWN_STEP_DUP: return "dup2";
    case SBX_SPAWN_STEP_SETGROUPS: return "setgroups";
    case SBX_SPAWN_STEP_SETGID: return "setgid";
    case SBX_SPAWN_STEP_SETUID: return "setuid";
    case SBX_SPAWN_STEP_CHDIR: return "chdir";
    case SBX_SPAWN_STEP_EXEC: return "exec";
    default: return "spawn";
    }
}

static void __attribute__((noreturn)) child_fail(int errfd, int step, int e)
{
    struct child_report r = {step, e};
    ssize_t w;

    do {
        w = write(errfd, &r, sizeof(r));
    } while (w < 0 && errno == EINTR);
    _exit(127);
}

static void __attribute__((noreturn)) child(const struct sbx_spawn_opts *o, int errfd)
{
    sigset_t all;
    int i;

    /* Signals blocked by the parent (and its ignored dispositions) must not
     * leak into the program. */
    for (i = 1; i < NSIG; i++)
        signal(i, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    if (o->new_session && setsid() < 0)
        child_fail(errfd, SBX_SPAWN_STEP_SETSID, errno);
    if (o->stdio_fd >= 0) {
        if (o->new_session && ioctl(o->stdio_fd, TIOCSCTTY, 0) < 0 && errno != ENOTTY)
            child_fail(errfd, SBX_SPAWN_STEP_CTTY, errno);
        for (i = 0; i < 3; i++)
            if (dup2(o->stdio_fd, i) < 0)
                child_fail(errfd, SBX_SPAWN_STEP_DUP, errno);
        if (o->stdio_fd > 2)
            close(o->stdio_fd);
    }
    if (o->set_ids) {
        if (setgroups(o->ngroups, o->groups) < 0 && errno != EPERM)
            child_fail(errfd, SBX_SPAWN_STEP_SETGROUPS, errno);
        if (setgid(o->gid) < 0)
            child_fail(errfd, SBX_SPAWN_STEP_SETGID, errno);
        if (setuid(o->uid) < 0)
            child_fail(errfd, SBX_SPAWN_STEP_SETUID, errno);
    }
    if (o->cwd && chdir(o->cwd) < 0 && !o->cwd_optional)
        child_fail(errfd, SBX_SPAWN_STEP_CHDIR, errno);
    execve(o->path, o->argv, o->envp ? o->envp : environ);
    child_fail(errfd, SBX_SPAWN_STEP_EXEC, errno);
}

static bool env_named(const char *entry, const char *const *names, bool with_value)
{
    size_t n;

    for (; names && *names; names++) {
        n = with_value ? strcspn(*names, "=") : strlen(*names);
        if (strncmp(entry, *names, n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

char **sbx_env_new(const char *const *unset, const char *const *set)
{
    size_t n = 0, ns = 0, k = 0, i;
    char **env;

    while (environ[n])
        n++;
    while (set && set[ns])
        ns++;
    env = calloc(n + ns + 1, sizeof(*env));
    if (!env)
        return NULL;
    for (i = 0; i < n; i++) {
        if (env_named(environ[i], unset, false) || env_named(environ[i], set, true))
            continue;
        if (!(env[k++] = strdup(environ[i])))
            goto fail;
    }
    for (i = 0; i < ns; i++)
        if (!(env[k++] = strdup(set[i])))
            goto fail;
    env[k] = NULL;
    return env;
fail:
    sbx_env_free(env);
    return NULL;
}

void sbx_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

pid_t sbx_spawn(const struct sbx_spawn_opts *o, struct sbx_err *err)
{
    struct child_report r;
    int p[2];
    pid_t pid;
    ssize_t n;

    if (pipe2(p, O_CLOEXEC) < 0)
        return sbx_err_set(err, -errno, "spawn %s: pipe: %s", o->path, strerror(errno));
    pid = fork();
    if (pid < 0) {
        int e = errno;

        sbx_fd_close(p[0]);
        sbx_fd_close(p[1]);
        return sbx_err_set(err, -e, "spawn %s: fork: %s", o->path, strerror(e));
    }
    if (pid == 0) {
        close(p[0]);
        child(o, p[1]);
    }
    close(p[1]);
    n = sbx_fd_read(p[0], &r, sizeof(r));
    sbx_fd_close(p[0]);
    if (n == (ssize_t)sizeof(r)) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return sbx_err_set(err, -r.err, "spawn %s: %s: %s", o->path, step_name(r.step),
                           strerror(r.err));
    }
    return pid;
}
