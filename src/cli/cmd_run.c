/*
 * sbx run: the one-liner. Create a sandbox, run one command line in its
 * bash session, print the output, delete the sandbox, exit with the
 * command's code.
 */
#include "cli/cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_TIMEOUT = SBX_OPT_CMD, OPT_KEEP };

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,          SBX_CLI_JSON_OPT,
    SBX_CLI_CREATE_OPTS,          {"timeout", 't', true, OPT_TIMEOUT},
    {"keep", 0, false, OPT_KEEP}, SBX_CLI_OPTS_END,
};

struct run {
    struct sbx_cli *c;
    bool help;
    struct sbx_cli_create cr;
    int64_t timeout_ms;
    bool keep;
};

static int on_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct run *r = ud;
    int rc = sbx_cli_common_opt(r->c, &r->help, id, arg);

    if (rc <= 0)
        return rc;
    rc = sbx_cli_create_opt(&r->cr, id, arg, err);
    if (rc <= 0)
        return rc;
    if (id == OPT_TIMEOUT)
        return sbx_cli_parse_duration(arg, &r->timeout_ms, err);
    r->keep = true;
    return 0;
}

/* Ctrl-C (or SIGTERM, SIGHUP) must not leave the one-liner's sandbox
 * behind. The signals are blocked in every thread and a guard thread waits
 * for them. Once the sandbox exists the guard removes it through a provider
 * handle of its own (handles are independent; the main thread may be deep in
 * an HTTP exchange) and ends the process with 128 + the signal. Before that
 * it only records the signal: the main thread stops once creation returns.
 * A second signal before the sandbox exists ends the process at once. */
struct guard {
    pthread_t th;
    pthread_mutex_t mu;
    sigset_t set;
    sigset_t old;
    const struct sbx_cli *c;
    char *id; /* the sandbox to remove on a signal; NULL = none (yet, or any more) */
    int sig;  /* the signal received, 0 = none */
    bool started;
};

static void *guard_main(void *arg)
{
    struct guard *g = arg;

    for (;;) {
        int sig = 0;

        if (sigwait(&g->set, &sig) != 0)
            continue;
        pthread_mutex_lock(&g->mu);
        if (g->id) {
            struct sbx_provider *p = NULL;

            if (sbx_cli_provider_open(g->c, &p) == 0 && sbx_provider_remove(p, g->id, NULL) == 0)
                fprintf(stderr, "sbx: interrupted: sandbox %s removed\n", g->id);
            _exit(128 + sig);
        }
        if (g->sig)
            _exit(128 + sig);
        g->sig = sig;
        pthread_mutex_unlock(&g->mu);
    }
    return NULL;
}

static int guard_start(struct guard *g, const struct sbx_cli *c)
{
    int rc;

    memset(g, 0, sizeof(*g));
    g->c = c;
    sigemptyset(&g->set);
    sigaddset(&g->set, SIGINT);
    sigaddset(&g->set, SIGTERM);
    sigaddset(&g->set, SIGHUP);
    rc = pthread_sigmask(SIG_BLOCK, &g->set, &g->old);
    if (rc == 0)
        rc = pthread_mutex_init(&g->mu, NULL);
    if (rc == 0)
        rc = pthread_create(&g->th, NULL, guard_main, g);
    if (rc != 0) {
        pthread_sigmask(SIG_SETMASK, &g->old, NULL);
        return -rc;
    }
    g->started = true;
    return 0;
}

/* Publishes the sandbox to remove on a signal (NULL: none any more).
 * Returns the signal already received, if any. */
static int guard_set(struct guard *g, const char *id)
{
    int sig;

    pthread_mutex_lock(&g->mu);
    free(g->id);
    g->id = id ? strdup(id) : NULL;
    sig = g->sig;
    pthread_mutex_unlock(&g->mu);
    return sig;
}

static void guard_stop(struct guard *g)
{
    if (!g->started)
        return;
    guard_set(g, NULL);
    pthread_cancel(g->th);
    pthread_join(g->th, NULL);
    pthread_mutex_destroy(&g->mu);
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    g->started = false;
}

static int run_main(struct sbx_cli *c, int argc, char **argv)
{
    struct guard g = {0};
    struct run r = {.c = c, .timeout_ms = SBX_CLI_RUN_TIMEOUT_MS};
    struct sbx_cli_args args = {0};
    struct sbx_runtime_opts o;
    struct sbx_runtime *rt = NULL;
    struct sbx_sandbox_info info = {0};
    struct sbx_err err = {0};
    char *line = NULL;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_run, argc, argv, opts, 0, on_opt, &r, &r.help, &args);
    if (rc >= 0)
        goto out;
    if (args.n_rest == 0) {
        rc = sbx_cli_usage(c, "missing command (sbx run [options] -- COMMAND...)");
        goto out;
    }
    line = sbx_cli_join(args.rest, args.n_rest);
    if (!line) {
        rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory");
        goto out;
    }
    sbx_cli_runtime_opts(c, &o);
    o.spec = r.cr.spec;
    if (guard_start(&g, c) < 0) {
        rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "cannot start the signal guard");
        goto out;
    }
    rt = sbx_runtime_open(&o, &err);
    if (!rt) {
        rc = sbx_cli_fail_err(c, err.code ? err.code : -EIO, &err, "creating the sandbox");
        goto out;
    }
    rc = guard_set(&g, r.keep ? NULL : sbx_runtime_sandbox_id(rt));
    if (rc) {
        /* Interrupted while the sandbox was being made. */
        sbx_runtime_close(rt, r.keep ? SBX_CLOSE_KEEP : SBX_CLOSE_DELETE, NULL);
        rc = sbx_cli_fail(c, 128 + rc, "interrupted");
        goto out;
    }
    /* The limits the provider could not enforce are worth a warning even
     * for a one-off command. */
    if (sbx_provider_get(sbx_runtime_provider(rt), sbx_runtime_sandbox_id(rt), &info, NULL) == 0)
        sbx_cli_warn_limits(&o.spec, &info);
    rc = sbx_cli_session_run(c, rt, line, r.timeout_ms, NULL);
    /* From here the main thread removes the sandbox itself. */
    guard_set(&g, NULL);
    if (r.keep)
        fprintf(stderr, "%s\n", sbx_runtime_sandbox_id(rt));
    err = (struct sbx_err){0};
    if (sbx_runtime_close(rt, r.keep ? SBX_CLOSE_KEEP : SBX_CLOSE_DELETE, &err) < 0) {
        int rc2 = sbx_cli_fail_err(c, err.code, &err, "removing the sandbox");

        if (rc == 0)
            rc = rc2;
    }
out:
    guard_stop(&g);
    sbx_sandbox_info_free(&info);
    free(line);
    sbx_cli_create_release(&r.cr);
    sbx_cli_args_release(&args);
    return rc;
}

/* The help text splices in SBX_CLI_CREATE_OPTS_HELP: kept one line a row. */
/* clang-format off */
const struct sbx_cli_cmd sbx_cmd_run = {
    "run",
    "create a sandbox, run a command in it, print the output, delete it",
    "usage: sbx run [create options] [--timeout SECONDS] [--keep] [--json] -- COMMAND...\n"
    "\n"
    "Creates a sandbox, runs COMMAND (its words joined with spaces, as one bash\n"
    "command line) in the sandbox's bash session, prints its output (stdout and\n"
    "stderr together, as a terminal shows them), deletes the sandbox and exits with\n"
    "the command's exit code (124 if it timed out).\n"
    "\n"
    "options:\n"
    "  -t, --timeout SECONDS  stop waiting after this long (default 600; 90s, 2m, 1h)\n"
    "  --keep                 keep the sandbox and print its id on stderr\n"
    "  --json                 print {\"exit_code\", \"timed_out\", \"content\", \"working_dir\"}\n"
    "create options:\n"
    "  --name NAME            a unique name to refer to the sandbox by\n"
    "  -l, --label KEY=VALUE  a label (repeatable)\n"
    SBX_CLI_CREATE_OPTS_HELP
    "\n"
    "A limit the platform cannot enforce is reported as 'sbx: warning: ...'.\n"
    "Interrupted (Ctrl-C, SIGTERM, SIGHUP), sbx removes the sandbox and exits 128+signal.\n"
    "exit: the command's code; 124 timed out; 2 usage; 3 the sandbox could not be made.\n"
    "example: sbx run -m 512m -- 'cd /tmp && echo hi > f && cat f'\n",
    run_main,
};
/* clang-format on */
