#ifndef SBX_CLI_CLI_H
#define SBX_CLI_CLI_H

/*
 * The sbx command (docs/cli.md). Shared pieces of the subcommands: the
 * option parser and the value parsers (cli_opts.c), error reporting, output
 * and provider helpers (cli_util.c). Each subcommand is one cmd_<name>.c
 * exporting a struct sbx_cli_cmd; sbx.c holds the dispatch table.
 *
 * The CLI talks to sandboxes only through libsbx (include/sbx/runtime.h,
 * include/sbx/provider.h). Exit codes (DESIGN.md): 0 ok, 1 the command ran
 * and failed, 2 usage, 3 provider or infrastructure error; `run` and `exec`
 * exit with the command's own code (124 when it timed out).
 *
 * Thread-safety: single-threaded except the terminal relay of `sbx shell`.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sbx/err.h"
#include "sbx/provider.h"
#include "sbx/runtime.h"

#define SBX_CLI_VERSION "0.1.0"

enum {
    SBX_EXIT_OK = 0,
    SBX_EXIT_FAILED = 1,
    SBX_EXIT_USAGE = 2,
    SBX_EXIT_INFRA = 3,
    SBX_EXIT_TIMEOUT = 124, /* like timeout(1) */
};

/* Default blocking timeout of `sbx run` and `sbx exec` (spec: 600 s). */
#define SBX_CLI_RUN_TIMEOUT_MS (600 * 1000)

/* What every subcommand gets: the resolved global settings. */
struct sbx_cli {
    const char *cmd;       /* "run", "exec", ...: names the command in messages */
    const char *provider;  /* flag, else $SBX_PROVIDER, else config, else "local" */
    const char *state_dir; /* flag, else $SBX_STATE_DIR, else config, else NULL (default) */
    bool json;             /* --json: stdout is JSON, errors too */
    bool progress;         /* stderr is a terminal: progress lines are wanted */
};

struct sbx_cli_cmd {
    const char *name;
    /* one line for `sbx help` */
    const char *summary;
    /* the full --help text */
    const char *help;
    /* argv[0] is the command name */
    int (*main)(struct sbx_cli *c, int argc, char **argv);
};

extern const struct sbx_cli_cmd sbx_cmd_run, sbx_cmd_create, sbx_cmd_ls, sbx_cmd_inspect,
    sbx_cmd_exec, sbx_cmd_shell, sbx_cmd_cp, sbx_cmd_act, sbx_cmd_url, sbx_cmd_pause,
    sbx_cmd_resume, sbx_cmd_rm, sbx_cmd_server, sbx_cmd_serve, sbx_cmd_version, sbx_cmd_help;

/* The dispatch table (sbx.c), NULL-terminated, and a lookup by name. */
extern const struct sbx_cli_cmd *const sbx_cli_cmds[];
const struct sbx_cli_cmd *sbx_cli_find_cmd(const char *name);
/* The overview of `sbx --help` and `sbx help`. */
void sbx_cli_print_overview(FILE *f);

/* ---- option parsing (cli_opts.c) ----------------------------------------- */

/* Option ids shared by several commands; a command's own ids start at
 * SBX_OPT_CMD. */
enum {
    SBX_OPT_HELP = 1,
    SBX_OPT_PROVIDER,
    SBX_OPT_STATE_DIR,
    SBX_OPT_JSON,
    /* create options (run, create) */
    SBX_OPT_NAME,
    SBX_OPT_LABEL,
    SBX_OPT_ENV,
    SBX_OPT_MEMORY,
    SBX_OPT_CPUS,
    SBX_OPT_PIDS,
    SBX_OPT_NETWORK,
    SBX_OPT_ROOTFS,
    SBX_OPT_WORKDIR,
    SBX_OPT_CMD = 100,
};

struct sbx_cli_opt {
    const char *long_name; /* without the leading "--"; NULL ends a table */
    char short_name;       /* 0 = none */
    bool has_arg;
    int id;
};

/* Table rows, one option per entry: kept as written. */
/* clang-format off */
/* Every command accepts these (-h/--help, -p/--provider, --state-dir). */
#define SBX_CLI_COMMON_OPTS                                                                        \
    {"help", 'h', false, SBX_OPT_HELP}, {"provider", 'p', true, SBX_OPT_PROVIDER},                 \
        {"state-dir", 0, true, SBX_OPT_STATE_DIR}
#define SBX_CLI_JSON_OPT {"json", 0, false, SBX_OPT_JSON}
/* The create options of `sbx run` and `sbx create`. */
#define SBX_CLI_CREATE_OPTS                                                                        \
    {"name", 0, true, SBX_OPT_NAME}, {"label", 'l', true, SBX_OPT_LABEL},                          \
        {"env", 'e', true, SBX_OPT_ENV}, {"memory", 'm', true, SBX_OPT_MEMORY},                    \
        {"cpus", 0, true, SBX_OPT_CPUS}, {"pids", 0, true, SBX_OPT_PIDS},                          \
        {"network", 0, true, SBX_OPT_NETWORK}, {"rootfs", 0, true, SBX_OPT_ROOTFS},                \
        {"image", 0, true, SBX_OPT_ROOTFS}, {"workdir", 0, true, SBX_OPT_WORKDIR}
#define SBX_CLI_OPTS_END {NULL, 0, false, 0}
/* The --help lines of the create options after --name and --label, which
 * `sbx run` and `sbx create` describe each in their own words. */
#define SBX_CLI_CREATE_OPTS_HELP                                                                   \
    "  -e, --env KEY=VALUE    an environment variable for the sandbox (repeatable)\n"              \
    "  -m, --memory SIZE      memory limit: bytes, or 512m, 2g (binary units)\n"                   \
    "  --cpus N               CPU limit, e.g. 0.5 or 2\n"                                          \
    "  --pids N               process limit (local default 4096)\n"                                \
    "  --network host|none    host: the host's network (default); none: loopback only\n"          \
    "  --rootfs DIR|TARBALL   root filesystem (alias --image); default: the host's /\n"           \
    "  --workdir DIR          working directory (default /workspace)\n"
/* clang-format on */

/* What a parse leaves behind. The strings point into argv. */
struct sbx_cli_args {
    char **pos; /* positional arguments before the command */
    int n_pos;
    char **rest; /* the command: everything after "--" (or after stop_after positionals) */
    int n_rest;
    bool dashdash; /* the command part was started (by "--" or stop_after) */
};

/* Called for each option; returns 0 or -EINVAL with a message in err
 * ("--memory: ..."). */
typedef int sbx_cli_opt_fn(void *ud, int id, const char *arg, struct sbx_err *err);

/* Parses argv[1..argc-1] against opts: "--name value", "--name=value",
 * "-x value", "-xvalue", grouped short flags ("-qa"). Parsing stops at "--";
 * with stop_after >= 0, the first non-option argument after stop_after
 * positionals starts the command (so `sbx exec ID ls -la` works). -h/--help
 * and the common options are handled by the caller's on_opt like any other.
 * Returns 0, or -EINVAL with err naming the bad option, or -ENOMEM. */
int sbx_cli_parse(int argc, char **argv, const struct sbx_cli_opt *opts, int stop_after,
                  sbx_cli_opt_fn *on_opt, void *ud, struct sbx_cli_args *out, struct sbx_err *err);
void sbx_cli_args_release(struct sbx_cli_args *a);

/* Value parsers: each kind of value is parsed here and nowhere else. All
 * return 0 or -EINVAL with err saying what was expected. */
/* SIZE: bytes, or a number with a binary k/m/g/t suffix (optionally followed
 * by "b" or "ib", any case): "512m", "1G", "65536". Must be > 0. */
int sbx_cli_parse_size(const char *s, int64_t *bytes, struct sbx_err *err);
/* CPUS: a decimal number of CPUs with at most 3 decimals ("0.5", "2") into
 * thousandths of a CPU; 0.001 to 4096. */
int sbx_cli_parse_cpus(const char *s, int64_t *millis, struct sbx_err *err);
/* A decimal integer in [min, max]. */
int sbx_cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, struct sbx_err *err);
/* SECONDS: a positive decimal number of seconds ("30", "0.5"), or with an
 * s/m/h suffix ("90s", "2m", "1h"); up to 30 days. Into milliseconds, >= 1. */
int sbx_cli_parse_duration(const char *s, int64_t *ms, struct sbx_err *err);
/* KEY=VALUE for a label: KEY non-empty of [A-Za-z0-9._/-], VALUE any. */
int sbx_cli_parse_label(const char *s, struct sbx_err *err);
/* KEY=VALUE for an environment variable: KEY a shell identifier. */
int sbx_cli_parse_env(const char *s, struct sbx_err *err);
/* "host" or "none". */
int sbx_cli_parse_network(const char *s, enum sbx_network *out, struct sbx_err *err);

/* A growing NULL-terminated array of borrowed strings. */
struct sbx_cli_strv {
    const char **v; /* NULL until the first push; then NULL-terminated */
    size_t n;
    size_t cap;
};
int sbx_cli_strv_push(struct sbx_cli_strv *s, const char *str);
void sbx_cli_strv_release(struct sbx_cli_strv *s);

/* The create options, gathered into a spec. */
struct sbx_cli_create {
    struct sbx_sandbox_spec spec;
    struct sbx_cli_strv labels;
    struct sbx_cli_strv env;
};
/* Handles one SBX_OPT_NAME..SBX_OPT_WORKDIR option; returns 1 when id is not
 * a create option, 0 when handled, -EINVAL/-ENOMEM on a bad value. */
int sbx_cli_create_opt(struct sbx_cli_create *cr, int id, const char *arg, struct sbx_err *err);
void sbx_cli_create_release(struct sbx_cli_create *cr);

/* Handles the common options (help, provider, state dir, json) into c;
 * returns 1 when id is not one of them, 0 when handled. *help is set by
 * -h/--help. */
int sbx_cli_common_opt(struct sbx_cli *c, bool *help, int id, const char *arg);

/* Parses a command's argv (argv[0] = the command name) with the common
 * options handled by the caller's on_opt. Returns -1 to go on, or the exit
 * code to return: 0 after printing cmd's --help (when *help became true),
 * 2 after reporting a usage error. */
int sbx_cli_parse_cmd(struct sbx_cli *c, const struct sbx_cli_cmd *cmd, int argc, char **argv,
                      const struct sbx_cli_opt *opts, int stop_after, sbx_cli_opt_fn *on_opt,
                      void *ud, const bool *help, struct sbx_cli_args *args);

/* The option state of a command that takes the common options only. */
struct sbx_cli_plain {
    struct sbx_cli *c;
    bool help;
};
/* The on_opt of such a command (ud is a struct sbx_cli_plain). */
int sbx_cli_plain_opt(void *ud, int id, const char *arg, struct sbx_err *err);
/* After a parse: returns 0 when there are no positionals and no command,
 * else reports "unexpected argument 'X'" and returns 2. */
int sbx_cli_no_args(const struct sbx_cli *c, const struct sbx_cli_args *args);
/* After a parse: returns 0 when there are exactly two positionals and no
 * command, else reports "missing <none>" (no positional), "missing <one>"
 * (one) or "too many arguments" and returns 2. */
int sbx_cli_two_args(const struct sbx_cli *c, const struct sbx_cli_args *args, const char *none,
                     const char *one);

/* Joins argv with single spaces (heap; NULL when out of memory). */
char *sbx_cli_join(char *const *argv, int n);

/* ---- errors and output (cli_util.c) --------------------------------------- */

/* A usage error: "sbx <cmd>: <problem>" and "try 'sbx <cmd> --help'" on
 * stderr (plus the JSON error object on stdout with --json). Returns 2. */
int sbx_cli_usage(const struct sbx_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A failure: "sbx: <message>" on stderr (and the JSON error object with
 * --json). Returns code. */
int sbx_cli_fail(const struct sbx_cli *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with the command named: "sbx <cmd>: <message>". */
int sbx_cli_fail_cmd(const struct sbx_cli *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports a libsbx failure (rc, err) and returns its exit code
 * (sbx_cli_exit_for). what (may be NULL) names the operation. */
int sbx_cli_fail_err(const struct sbx_cli *c, int rc, const struct sbx_err *err, const char *what);
/* Reports a failed exchange with sbx-server: 1 when the server answered
 * (err->http_status set: it refused) or the sandbox went away (-EPIPE), 3
 * when it could not be reached or answered nonsense. Returns the code. */
int sbx_cli_fail_exchange(const struct sbx_cli *c, int rc, const struct sbx_err *err,
                          const char *what);
/* The exit code for a libsbx errno: the command ran and failed (1) for
 * -ENOENT, -EPIPE, -EEXIST, -EINVAL, -ENOTSUP, -EISDIR, -ENOTDIR, -EAGAIN; 3
 * (provider or infrastructure) for the rest. */
int sbx_cli_exit_for(int rc);
/* "sbx: warning: <message>" on stderr, terminal or not. */
void sbx_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The runtime's progress callback: prints the line on stderr when
 * c->progress (ud is the struct sbx_cli). */
void sbx_cli_progress(const char *line, void *ud);

/* Opens the provider c->provider with c->state_dir. Returns 0, or the exit
 * code after reporting (3, or 2 for an unknown provider name). */
int sbx_cli_provider_open(const struct sbx_cli *c, struct sbx_provider **p);
/* Fills runtime options from c (provider, config, progress). */
void sbx_cli_runtime_opts(struct sbx_cli *c, struct sbx_runtime_opts *o);
/* Finds a sandbox by id, unique prefix or name. Returns 0, or the exit code
 * after reporting "sbx <cmd>: no such sandbox: REF" (1) or another failure. */
int sbx_cli_lookup(const struct sbx_cli *c, struct sbx_provider *p, const char *ref,
                   struct sbx_sandbox_info *info);
/* After a lookup: returns 0 when the sandbox runs, else reports "sandbox
 * <id> is dead" (or paused, or still being created) and returns 1. */
int sbx_cli_need_running(const struct sbx_cli *c, const struct sbx_sandbox_info *info);

/* Opens the provider and looks up the running sandbox ref
 * (sbx_cli_provider_open, sbx_cli_lookup, sbx_cli_need_running). Returns 0,
 * or the exit code after reporting; the caller closes *p and frees info
 * either way. */
int sbx_cli_open_running(const struct sbx_cli *c, const char *ref, struct sbx_provider **p,
                         struct sbx_sandbox_info *info);
/* Attaches a runtime to the existing sandbox id (never creates one).
 * Returns it, or NULL with err set (err->code never 0). */
struct sbx_runtime *sbx_cli_attach_id(struct sbx_cli *c, const char *id, struct sbx_err *err);
/* Looks up the running sandbox ref first (sbx_cli_open_running, so a dead
 * or paused one gets a clear message rather than a failed bootstrap), then
 * attaches to it. Returns 0 with *rt set; the exit code (> 0) after
 * reporting a failed lookup; or -errno with err set when the attach
 * failed, not reported. info gets the sandbox; the caller frees it. */
int sbx_cli_attach(struct sbx_cli *c, const char *ref, struct sbx_sandbox_info *info,
                   struct sbx_runtime **rt, struct sbx_err *err);

/* Prints the JSON object of a sandbox (compact, one line) on stdout. */
int sbx_cli_print_info_json(const struct sbx_sandbox_info *info);
/* Appends the JSON object of a sandbox to buf. */
struct sbx_buf;
/* When rc is 0, prints o (compact, one line) on stdout; frees o either
 * way. Returns rc, or -ENOMEM when o could not be dumped. */
struct sbx_json;
int sbx_cli_json_out(struct sbx_json *o, int rc);
int sbx_cli_info_json(const struct sbx_sandbox_info *info, struct sbx_buf *out);
/* Writes "sbx: warning: ..." for every requested limit the provider does not
 * enforce (with the provider's note, if any). Returns how many. */
int sbx_cli_warn_limits(const struct sbx_sandbox_spec *spec, const struct sbx_sandbox_info *info);
/* The provider's OOM-kill count for a sandbox, -1 when it does not say. */
int64_t sbx_cli_oom_count(struct sbx_provider *p, const char *id);
/* The warning of `sbx exec` when the count rose (nothing when before < 0). */
void sbx_cli_oom_report(int64_t before, int64_t after);
/* An operation on one sandbox id (sbx_provider_pause, _resume, _remove). */
typedef int sbx_cli_op_fn(struct sbx_provider *p, const char *id, struct sbx_err *err);
/* Applies op to each sandbox of refs (ids, prefixes or names), printing
 * each id done; an unknown one is reported ("sbx <cmd>: no such sandbox:
 * X", unless ignore_missing) and the others are still done. Returns the
 * worst exit code. what names op in messages. With c->json the ids done
 * are printed as one JSON array at the end. */
int sbx_cli_for_each(const struct sbx_cli *c, struct sbx_provider *p, char *const *refs, size_t n,
                     sbx_cli_op_fn *op, const char *what, bool ignore_missing);
/* The whole of a command of the form `sbx <cmd> [--json] ID...` that applies
 * op to each sandbox (pause, resume). */
int sbx_cli_ids_main(struct sbx_cli *c, const struct sbx_cli_cmd *cmd, int argc, char **argv,
                     sbx_cli_op_fn *op);
/* Flushes stdout: returns 0, or reports and returns 3 when it could not
 * be written. */
int sbx_cli_flush_stdout(const struct sbx_cli *c);

/* Runs command_line in the sandbox's bash session as one blocking `run`
 * action with timeout_ms (is_static + cwd: a one-off session in cwd),
 * prints the output on stdout (or the JSON result with c->json) and
 * returns the exit code to exit with: the command's, 124 when it timed out
 * (the command is then interrupted with C-c), 1 when the server answered an
 * error observation, 3 when the exchange failed. */
int sbx_cli_session_run(struct sbx_cli *c, struct sbx_runtime *rt, const char *command_line,
                        int64_t timeout_ms, const char *cwd);

#endif
