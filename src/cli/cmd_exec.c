/*
 * sbx exec: one command line in a sandbox's persistent bash session (cd and
 * export stick), or with --raw a one-off process through the provider.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "json/json.h"

enum { OPT_TIMEOUT = SBX_OPT_CMD, OPT_RAW, OPT_WORKDIR };

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    {"timeout", 't', true, OPT_TIMEOUT},
    {"raw", 0, false, OPT_RAW},
    {"workdir", 'w', true, OPT_WORKDIR},
    SBX_CLI_OPTS_END,
};

struct exec {
    struct sbx_cli *c;
    bool help;
    int64_t timeout_ms; /* 0 = not given */
    bool raw;
    const char *workdir;
};

static int on_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct exec *o = ud;
    int rc = sbx_cli_common_opt(o->c, &o->help, id, arg);

    if (rc <= 0)
        return rc;
    switch (id) {
    case OPT_TIMEOUT: return sbx_cli_parse_duration(arg, &o->timeout_ms, err);
    case OPT_RAW: o->raw = true; return 0;
    default:
        if (arg[0] != '/')
            return sbx_err_set(err, -EINVAL, "'%s' is not an absolute path", arg);
        o->workdir = arg;
        return 0;
    }
}

static int print_raw_json(const struct sbx_exec_result *res)
{
    struct sbx_json *o = sbx_json_object_new();
    int rc = o ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx_json_set_int(o, "exit_code", res->exit_code);
    if (rc == 0)
        rc = sbx_json_set_bool(o, "timed_out", res->timed_out);
    if (rc == 0)
        rc = sbx_json_set_strn(o, "stdout", res->out ? res->out : "", res->out_len);
    if (rc == 0)
        rc = sbx_json_set_strn(o, "stderr", res->err ? res->err : "", res->err_len);
    return sbx_cli_json_out(o, rc);
}

/* --raw: argv as is, through the provider; stdin passed through, stdout
 * and stderr separate (captured into JSON with --json). */
static int exec_raw(struct sbx_cli *c, const struct exec *o, const char *ref, char **argv)
{
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info info = {0};
    struct sbx_exec_result res = {0};
    struct sbx_err err = {0};
    struct sbx_exec_req req = {
        .argv = (const char *const *)argv,
        .cwd = o->workdir,
        .timeout_ms = o->timeout_ms,
        .stdin_fd = fcntl(STDIN_FILENO, F_GETFD) < 0 ? -1 : STDIN_FILENO,
        .stdout_fd = c->json ? -1 : STDOUT_FILENO,
        .stderr_fd = c->json ? -1 : STDERR_FILENO,
    };
    int64_t oom_before;
    int rc;

    rc = sbx_cli_open_running(c, ref, &p, &info);
    if (rc != 0)
        goto out;
    oom_before = sbx_cli_oom_count(p, info.id);
    fflush(stdout);
    rc = sbx_provider_exec(p, info.id, &req, &res, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, "exec");
        goto out;
    }
    if (c->json && print_raw_json(&res) < 0) {
        rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory");
        goto out;
    }
    rc = res.timed_out ? SBX_EXIT_TIMEOUT : res.exit_code;
    if (res.timed_out)
        sbx_cli_warn("the command timed out after %.3g s and was killed",
                     (double)o->timeout_ms / 1000.0);
    sbx_cli_oom_report(oom_before, sbx_cli_oom_count(p, info.id));
    if (sbx_cli_flush_stdout(c) != 0 && rc == 0)
        rc = SBX_EXIT_INFRA;
out:
    sbx_exec_result_release(&res);
    sbx_sandbox_info_free(&info);
    sbx_provider_close(p);
    return rc;
}

/* The session: attach (never create) and one blocking run action. */
static int exec_session(struct sbx_cli *c, const struct exec *o, const char *ref, char *line)
{
    struct sbx_sandbox_info info = {0};
    struct sbx_runtime *rt = NULL;
    struct sbx_err err = {0};
    int rc;

    rc = sbx_cli_attach(c, ref, &info, &rt, &err);
    if (rc == -ENOENT)
        rc = sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "no such sandbox: %s", ref);
    else if (rc == -EPIPE)
        rc = sbx_cli_fail(c, SBX_EXIT_FAILED, "sandbox %s is dead (%s)", info.id, err.msg);
    else if (rc < 0)
        rc = sbx_cli_fail_err(c, rc, &err, "attaching");
    if (rc != 0)
        goto out;
    rc = sbx_cli_session_run(c, rt, line, o->timeout_ms ? o->timeout_ms : SBX_CLI_RUN_TIMEOUT_MS,
                             o->workdir);
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
out:
    sbx_sandbox_info_free(&info);
    return rc;
}

static int exec_main(struct sbx_cli *c, int argc, char **argv)
{
    struct exec o = {.c = c};
    struct sbx_cli_args args = {0};
    char *line = NULL;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_exec, argc, argv, opts, 1, on_opt, &o, &o.help, &args);
    if (rc >= 0)
        goto out;
    if (args.n_pos == 0) {
        rc = sbx_cli_usage(c, "missing sandbox id");
        goto out;
    }
    if (args.n_rest == 0) {
        rc = sbx_cli_usage(c, "missing command (sbx exec ID -- COMMAND...)");
        goto out;
    }
    if (o.raw) {
        rc = exec_raw(c, &o, args.pos[0], args.rest);
        goto out;
    }
    line = sbx_cli_join(args.rest, args.n_rest);
    if (!line) {
        rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory");
        goto out;
    }
    rc = exec_session(c, &o, args.pos[0], line);
out:
    free(line);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_exec = {
    "exec",
    "run a command in a sandbox's persistent bash session",
    "usage: sbx exec [--timeout SECONDS] [--raw] [-w DIR] [--json] ID -- COMMAND...\n"
    "\n"
    "Runs COMMAND (its words joined with spaces, as one bash command line) in the\n"
    "sandbox's persistent bash session: cd, export and shell variables stick from\n"
    "one exec to the next. Output (stdout and stderr together, as a terminal shows\n"
    "them) goes to stdout; sbx exits with the command's exit code.\n"
    "\n"
    "options:\n"
    "  -t, --timeout SECONDS  give up after this long (default 600; 90s, 2m, 1h): the\n"
    "                         command is interrupted (C-c) and sbx exits 124\n"
    "  -w, --workdir DIR      run in DIR in a fresh one-off session (nothing sticks)\n"
    "  --raw                  a one-off process through the provider instead of the\n"
    "                         session: COMMAND is an argv (no shell), stdin is passed\n"
    "                         through, stdout and stderr stay separate and exact; no\n"
    "                         timeout unless --timeout\n"
    "  --json                 print {\"exit_code\", \"timed_out\", \"content\", \"working_dir\"}\n"
    "                         (--raw: {\"exit_code\", \"timed_out\", \"stdout\", \"stderr\"})\n"
    "\n"
    "If the sandbox's OOM-kill count rose meanwhile: 'sbx: warning: the sandbox hit\n"
    "its memory limit (N process(es) killed by the OOM killer)'.\n"
    "exit: the command's code; 124 timed out; 1 no such sandbox, or it is dead or\n"
    "paused; 2 usage; 3 the provider or sbx-server failed.\n"
    "example: sbx exec dev -- cd /tmp && sbx exec dev -- pwd    # prints /tmp\n",
    exec_main,
};
