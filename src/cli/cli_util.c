/*
 * What the subcommands share: error reporting with the exit codes of
 * DESIGN.md, the JSON form of a sandbox, provider lookups, and running one
 * command line in a sandbox's bash session (`sbx run` and `sbx exec`).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "json/json.h"
#include "sbx/model.h"

/* ---- errors ---------------------------------------------------------------- */

/* With --json, errors are also a JSON object on stdout. */
static void json_error(const struct sbx_cli *c, const char *msg, int code)
{
    struct sbx_buf b = SBX_BUF_INIT;

    if (!c || !c->json)
        return;
    if (sbx_buf_addstr(&b, "{\"error\":") == 0 && sbx_json_quote(&b, msg, strlen(msg)) == 0 &&
        sbx_buf_addf(&b, ",\"code\":%d}\n", code) == 0) {
        fwrite(b.ptr, 1, b.len, stdout);
        fflush(stdout);
    }
    sbx_buf_free(&b);
}

int sbx_cli_usage(const struct sbx_cli *c, const char *fmt, ...)
{
    char msg[1024];
    const char *cmd = c && c->cmd ? c->cmd : NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "sbx %s: %s\ntry 'sbx %s --help'\n", cmd, msg, cmd);
    else
        fprintf(stderr, "sbx: %s\ntry 'sbx --help'\n", msg);
    json_error(c, msg, SBX_EXIT_USAGE);
    return SBX_EXIT_USAGE;
}

static int vfail(const struct sbx_cli *c, bool with_cmd, int code, const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (with_cmd && c && c->cmd)
        fprintf(stderr, "sbx %s: %s\n", c->cmd, msg);
    else
        fprintf(stderr, "sbx: %s\n", msg);
    json_error(c, msg, code);
    return code;
}

int sbx_cli_fail(const struct sbx_cli *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    code = vfail(c, false, code, fmt, ap);
    va_end(ap);
    return code;
}

int sbx_cli_fail_cmd(const struct sbx_cli *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    code = vfail(c, true, code, fmt, ap);
    va_end(ap);
    return code;
}

int sbx_cli_exit_for(int rc)
{
    switch (-rc) {
    case ENOENT:
    case EPIPE:
    case EEXIST:
    case EINVAL:
    case ENOTSUP:
    case EISDIR:
    case ENOTDIR:
    case EAGAIN: /* local: the sandbox is paused */ return SBX_EXIT_FAILED;
    default: return SBX_EXIT_INFRA;
    }
}

int sbx_cli_fail_err(const struct sbx_cli *c, int rc, const struct sbx_err *err, const char *what)
{
    const char *msg = err && err->msg[0] ? err->msg : strerror(rc < 0 ? -rc : rc);

    if (what)
        return sbx_cli_fail(c, sbx_cli_exit_for(rc), "%s: %s", what, msg);
    return sbx_cli_fail(c, sbx_cli_exit_for(rc), "%s", msg);
}

int sbx_cli_fail_exchange(const struct sbx_cli *c, int rc, const struct sbx_err *err,
                          const char *what)
{
    const char *msg = err && err->msg[0] ? err->msg : strerror(rc < 0 ? -rc : rc);
    int code = (err && err->http_status) || rc == -EPIPE ? SBX_EXIT_FAILED : SBX_EXIT_INFRA;

    return sbx_cli_fail(c, code, "%s: %s", what, msg);
}

void sbx_cli_warn(const char *fmt, ...)
{
    va_list ap;

    fputs("sbx: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void sbx_cli_progress(const char *line, void *ud)
{
    const struct sbx_cli *c = ud;

    if (c && c->progress)
        fprintf(stderr, "%s\n", line);
}

int sbx_cli_flush_stdout(const struct sbx_cli *c)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;

        /* Reporting on stdout would fail again: stderr only. */
        fprintf(stderr, "sbx: writing to stdout: %s\n", strerror(e));
        (void)c;
        return SBX_EXIT_INFRA;
    }
    return SBX_EXIT_OK;
}

/* ---- parsing a command line ----------------------------------------------- */
int sbx_cli_parse_cmd(struct sbx_cli *c, const struct sbx_cli_cmd *cmd, int argc, char **argv,
                      const struct sbx_cli_opt *opts, int stop_after, sbx_cli_opt_fn *on_opt,
                      void *ud, const bool *help, struct sbx_cli_args *args)
{
    struct sbx_err err = {0};
    int rc = sbx_cli_parse(argc, argv, opts, stop_after, on_opt, ud, args, &err);

    if (rc == -ENOMEM) {
        fprintf(stderr, "sbx: out of memory\n");
        return SBX_EXIT_INFRA;
    }
    if (rc < 0)
        return sbx_cli_usage(c, "%s", err.msg);
    if (*help) {
        fputs(cmd->help, stdout);
        sbx_cli_args_release(args);
        return sbx_cli_flush_stdout(c);
    }
    return -1;
}

int sbx_cli_plain_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct sbx_cli_plain *o = ud;

    (void)err;
    sbx_cli_common_opt(o->c, &o->help, id, arg);
    return 0;
}

int sbx_cli_no_args(const struct sbx_cli *c, const struct sbx_cli_args *args)
{
    if (args->n_pos || args->n_rest)
        return sbx_cli_usage(c, "unexpected argument '%s'",
                             args->n_pos ? args->pos[0] : args->rest[0]);
    return SBX_EXIT_OK;
}

int sbx_cli_two_args(const struct sbx_cli *c, const struct sbx_cli_args *args, const char *none,
                     const char *one)
{
    if (args->n_pos == 2 && !args->n_rest)
        return SBX_EXIT_OK;
    return sbx_cli_usage(c, args->n_pos < 2 ? "missing %s" : "too many arguments%s",
                         args->n_pos == 0   ? none
                         : args->n_pos == 1 ? one
                                            : "");
}

/* ---- providers ------------------------------------------------------------ */

int sbx_cli_provider_open(const struct sbx_cli *c, struct sbx_provider **p)
{
    struct sbx_provider_config cfg = {.state_dir = c->state_dir};
    struct sbx_err err = {0};

    *p = sbx_provider_open(c->provider, &cfg, &err);
    if (*p)
        return SBX_EXIT_OK;
    if (err.code == -ENOENT && strstr(err.msg, "unknown provider"))
        return sbx_cli_usage(c, "%s", err.msg);
    return sbx_cli_fail(c, SBX_EXIT_INFRA, "provider %s: %s", c->provider,
                        err.msg[0] ? err.msg : strerror(-err.code));
}

void sbx_cli_runtime_opts(struct sbx_cli *c, struct sbx_runtime_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->provider = c->provider;
    o->provider_config.state_dir = c->state_dir;
    o->progress = sbx_cli_progress;
    o->progress_ud = c;
}

int sbx_cli_lookup(const struct sbx_cli *c, struct sbx_provider *p, const char *ref,
                   struct sbx_sandbox_info *info)
{
    struct sbx_err err = {0};
    int rc;

    memset(info, 0, sizeof(*info));
    rc = sbx_provider_get(p, ref, info, &err);
    if (rc == 0)
        return SBX_EXIT_OK;
    if (rc == -ENOENT)
        return sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "no such sandbox: %s", ref);
    return sbx_cli_fail_err(c, rc, &err, NULL);
}

int sbx_cli_need_running(const struct sbx_cli *c, const struct sbx_sandbox_info *info)
{
    switch (info->state) {
    case SBX_SANDBOX_RUNNING: return SBX_EXIT_OK;
    case SBX_SANDBOX_DEAD:
        return sbx_cli_fail(c, SBX_EXIT_FAILED, "sandbox %s is dead%s%s%s (remove it: sbx rm %s)",
                            info->id, info->note ? " (" : "", info->note ? info->note : "",
                            info->note ? ")" : "", info->id);
    case SBX_SANDBOX_PAUSED:
        return sbx_cli_fail(c, SBX_EXIT_FAILED, "sandbox %s is paused (sbx resume %s)", info->id,
                            info->id);
    case SBX_SANDBOX_CREATING:
        return sbx_cli_fail(c, SBX_EXIT_FAILED, "sandbox %s is still being created", info->id);
    }
    return SBX_EXIT_FAILED;
}

int sbx_cli_open_running(const struct sbx_cli *c, const char *ref, struct sbx_provider **p,
                         struct sbx_sandbox_info *info)
{
    int rc = sbx_cli_provider_open(c, p);

    if (rc == 0)
        rc = sbx_cli_lookup(c, *p, ref, info);
    if (rc == 0)
        rc = sbx_cli_need_running(c, info);
    return rc;
}

struct sbx_runtime *sbx_cli_attach_id(struct sbx_cli *c, const char *id, struct sbx_err *err)
{
    struct sbx_runtime_opts ro;
    struct sbx_runtime *rt;

    sbx_cli_runtime_opts(c, &ro);
    ro.attach = id;
    rt = sbx_runtime_open(&ro, err);
    if (!rt && !err->code)
        err->code = -EIO;
    return rt;
}

int sbx_cli_attach(struct sbx_cli *c, const char *ref, struct sbx_sandbox_info *info,
                   struct sbx_runtime **rt, struct sbx_err *err)
{
    struct sbx_provider *p = NULL;
    int rc = sbx_cli_open_running(c, ref, &p, info);

    sbx_provider_close(p);
    *rt = NULL;
    if (rc != 0)
        return rc;
    *rt = sbx_cli_attach_id(c, info->id, err);
    return *rt ? 0 : err->code;
}

/* ---- the JSON of a sandbox -------------------------------------------------- */

int sbx_cli_json_out(struct sbx_json *o, int rc)
{
    struct sbx_buf b = SBX_BUF_INIT;

    if (rc == 0)
        rc = sbx_json_dump(o, &b);
    if (rc == 0) {
        fwrite(b.ptr, 1, b.len, stdout);
        fputc('\n', stdout);
    }
    sbx_buf_free(&b);
    sbx_json_free(o);
    return rc;
}

static struct sbx_json *labels_json(const struct sbx_sandbox_info *info)
{
    struct sbx_json *o = sbx_json_object_new();
    size_t i;

    for (i = 0; o && i < info->n_labels; i++) {
        const char *kv = info->labels[i];
        const char *eq = strchr(kv, '=');
        char *key = eq ? strndup(kv, (size_t)(eq - kv)) : strdup(kv);
        int rc = key ? sbx_json_set_str(o, key, eq ? eq + 1 : "") : -ENOMEM;

        free(key);
        if (rc < 0) {
            sbx_json_free(o);
            o = NULL;
        }
    }
    return o;
}

static struct sbx_json *enforced_json(unsigned enforced)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {SBX_LIMIT_MEMORY, "memory"},
        {SBX_LIMIT_PIDS, "pids"},
        {SBX_LIMIT_CPU, "cpu"},
        {SBX_LIMIT_FREEZE, "freeze"},
    };
    struct sbx_json *a = sbx_json_array_new();
    size_t i;

    for (i = 0; a && i < sizeof(names) / sizeof(names[0]); i++)
        if ((enforced & names[i].bit) &&
            sbx_json_append_take(a, sbx_json_cstr_new(names[i].name)) < 0) {
            sbx_json_free(a);
            a = NULL;
        }
    return a;
}

static const char *network_name(enum sbx_network n)
{
    switch (n) {
    case SBX_NETWORK_HOST: return "host";
    case SBX_NETWORK_NONE: return "none";
    }
    return "host";
}

int sbx_cli_info_json(const struct sbx_sandbox_info *info, struct sbx_buf *out)
{
    struct sbx_json *o = sbx_json_object_new();
    int rc = o ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx_json_set_str(o, "id", info->id);
    if (rc == 0)
        rc = sbx_json_set_str(o, "name", info->name);
    if (rc == 0)
        rc = sbx_json_set_str(o, "provider", info->provider);
    if (rc == 0)
        rc = sbx_json_set_str(o, "state", sbx_sandbox_state_name(info->state));
    if (rc == 0)
        rc = sbx_json_set_int(o, "created_ms", info->created_ms);
    if (rc == 0)
        rc = sbx_json_set_take(o, "labels", labels_json(info));
    if (rc == 0)
        rc = sbx_json_set_int(o, "memory_bytes", info->memory_bytes);
    if (rc == 0)
        rc = sbx_json_set_int(o, "cpu_millis", info->cpu_millis);
    if (rc == 0)
        rc = sbx_json_set_int(o, "pids_max", info->pids_max);
    if (rc == 0)
        rc = sbx_json_set_take(o, "enforced", enforced_json(info->enforced));
    if (rc == 0)
        rc = sbx_json_set_str(o, "network", network_name(info->network));
    if (rc == 0)
        rc = sbx_json_set_str(o, "image", info->image);
    if (rc == 0)
        rc = sbx_json_set_str(o, "note", info->note);
    if (rc == 0)
        rc = sbx_json_dump(o, out);
    sbx_json_free(o);
    return rc;
}

int sbx_cli_print_info_json(const struct sbx_sandbox_info *info)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int rc = sbx_cli_info_json(info, &b);

    if (rc == 0) {
        fwrite(b.ptr, 1, b.len, stdout);
        fputc('\n', stdout);
    }
    sbx_buf_free(&b);
    return rc;
}

int sbx_cli_warn_limits(const struct sbx_sandbox_spec *spec, const struct sbx_sandbox_info *info)
{
    struct sbx_buf missing = SBX_BUF_INIT;
    int n = 0;

    if (spec->memory_bytes && !(info->enforced & SBX_LIMIT_MEMORY))
        n++, sbx_buf_addstr(&missing, " memory");
    if (spec->cpu_millis && !(info->enforced & SBX_LIMIT_CPU))
        n++, sbx_buf_addstr(&missing, " cpu");
    if (spec->pids_max && !(info->enforced & SBX_LIMIT_PIDS))
        n++, sbx_buf_addstr(&missing, " pids");
    if (n && info->note && *info->note)
        sbx_cli_warn("%s", info->note);
    else if (n)
        sbx_cli_warn("limits not enforced on this host:%s", missing.ptr);
    sbx_buf_free(&missing);
    return n;
}

/* ---- one command line in the bash session --------------------------------- */

int64_t sbx_cli_oom_count(struct sbx_provider *p, const char *id)
{
    int64_t n = -1;

    if (!p || !id || sbx_provider_oom_kills(p, id, &n, NULL) < 0)
        return -1;
    return n;
}

static int64_t oom_count(struct sbx_runtime *rt)
{
    return sbx_cli_oom_count(sbx_runtime_provider(rt), sbx_runtime_sandbox_id(rt));
}

void sbx_cli_oom_report(int64_t before, int64_t after)
{
    if (before >= 0 && after > before)
        sbx_cli_warn("the sandbox hit its memory limit (%lld process(es) killed by the OOM killer)",
                     (long long)(after - before));
}

/* The action: {"action":"run","args":{...},"timeout":S} with blocking on. */
static int run_action_json(const char *command, int64_t timeout_ms, const char *cwd,
                           struct sbx_buf *out)
{
    struct sbx_json *a = sbx_json_object_new();
    struct sbx_json *args = sbx_json_object_new();
    int rc = a && args ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx_json_set_str(a, "action", "run");
    if (rc == 0)
        rc = sbx_json_set_str(args, "command", command);
    if (rc == 0)
        rc = sbx_json_set_bool(args, "blocking", true);
    if (rc == 0 && cwd) {
        rc = sbx_json_set_bool(args, "is_static", true);
        if (rc == 0)
            rc = sbx_json_set_str(args, "cwd", cwd);
    }
    if (rc == 0) {
        rc = sbx_json_set_take(a, "args", args);
        args = NULL;
    }
    if (rc == 0)
        rc = timeout_ms % 1000 == 0 ? sbx_json_set_int(a, "timeout", timeout_ms / 1000)
                                    : sbx_json_set_real(a, "timeout", (double)timeout_ms / 1000.0);
    if (rc == 0)
        rc = sbx_json_dump(a, out);
    sbx_json_free(args);
    sbx_json_free(a);
    return rc;
}

/* A command still running after its timeout holds the session: interrupt it
 * so that the next exec finds a prompt. */
static void interrupt(struct sbx_runtime *rt)
{
    static const char ctrl_c[] =
        "{\"action\":\"run\",\"args\":{\"command\":\"C-c\",\"is_input\":true},\"timeout\":10}";
    char *obs = NULL;

    if (sbx_runtime_act_json(rt, ctrl_c, &obs, NULL) == 0)
        free(obs);
}

/* "... The bash session exited with code N ..." -> N, else -1. */
static int session_exit_code(const char *suffix)
{
    static const char mark[] = "bash session exited with code ";
    const char *p = suffix ? strstr(suffix, mark) : NULL;
    char *end = NULL;
    long v;

    if (!p)
        return -1;
    errno = 0;
    v = strtol(p + sizeof(mark) - 1, &end, 10);
    if (errno || end == p + sizeof(mark) - 1 || v < 0 || v > 255)
        return -1;
    return (int)v;
}

static int print_run_json(const struct sbx_obs *obs, int code, bool timed_out)
{
    const struct sbx_cmd_metadata *md = &obs->u.run.metadata;
    struct sbx_json *o = sbx_json_object_new();
    int rc = o ? 0 : -ENOMEM;

    if (rc == 0)
        rc = sbx_json_set_int(o, "exit_code", code);
    if (rc == 0)
        rc = sbx_json_set_bool(o, "timed_out", timed_out);
    if (rc == 0)
        rc = sbx_json_set_str(o, "content", obs->content);
    if (rc == 0)
        rc = sbx_json_set_str(o, "working_dir", md->working_dir);
    return sbx_cli_json_out(o, rc);
}

int sbx_cli_session_run(struct sbx_cli *c, struct sbx_runtime *rt, const char *command_line,
                        int64_t timeout_ms, const char *cwd)
{
    struct sbx_buf action = SBX_BUF_INIT;
    struct sbx_err err = {0};
    struct sbx_obs *obs = NULL;
    char *obs_json = NULL;
    int64_t oom_before = oom_count(rt);
    const struct sbx_cmd_metadata *md;
    bool timed_out;
    int rc, code;

    rc = run_action_json(command_line, timeout_ms, cwd, &action);
    if (rc < 0) {
        code = sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory");
        goto out;
    }
    rc = sbx_runtime_act_json(rt, action.ptr, &obs_json, &err);
    if (rc < 0) {
        code = sbx_cli_fail_exchange(c, rc, &err, "running the command");
        goto out;
    }
    rc = sbx_obs_parse(obs_json, strlen(obs_json), &obs, &err);
    if (rc < 0) {
        code = sbx_cli_fail(c, SBX_EXIT_INFRA, "sbx-server answered an unusable observation: %s",
                            err.msg);
        goto out;
    }
    if (obs->kind != SBX_OBS_RUN) {
        code = sbx_cli_fail(c, SBX_EXIT_FAILED, "%s", obs->content);
        goto out;
    }
    md = &obs->u.run.metadata;
    timed_out = md->suffix && strstr(md->suffix, "[The command timed out after");
    if (timed_out)
        code = SBX_EXIT_TIMEOUT;
    else if (md->exit_code >= 0)
        code = (int)(md->exit_code & 255);
    else if (session_exit_code(md->suffix) >= 0)
        code = session_exit_code(md->suffix);
    else
        code = SBX_EXIT_FAILED;
    if (md->prefix && *md->prefix)
        sbx_cli_warn("%.*s", (int)strcspn(md->prefix, "\n"), md->prefix);
    if (c->json) {
        if (print_run_json(obs, code, timed_out) < 0)
            code = sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory");
    } else {
        size_t n = strlen(obs->content);

        fwrite(obs->content, 1, n, stdout);
        if (n && obs->content[n - 1] != '\n')
            fputc('\n', stdout);
    }
    if (sbx_cli_flush_stdout(c) != 0)
        code = SBX_EXIT_INFRA;
    if (timed_out) {
        sbx_cli_warn("the command timed out after %.3g s and was interrupted",
                     (double)timeout_ms / 1000.0);
        interrupt(rt);
    }
    sbx_cli_oom_report(oom_before, oom_count(rt));
out:
    sbx_obs_free(obs);
    free(obs_json);
    sbx_buf_free(&action);
    return code;
}

/* ---- one operation over several sandboxes ----------------------------------- */

int sbx_cli_for_each(const struct sbx_cli *c, struct sbx_provider *p, char *const *refs, size_t n,
                     sbx_cli_op_fn *op, const char *what, bool ignore_missing)
{
    struct sbx_buf done = SBX_BUF_INIT;
    int worst = SBX_EXIT_OK;
    size_t i;

    for (i = 0; i < n; i++) {
        struct sbx_sandbox_info info = {0};
        struct sbx_err err = {0};
        int rc = sbx_provider_get(p, refs[i], &info, &err);

        if (rc == -ENOENT) {
            if (!ignore_missing)
                rc = sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "no such sandbox: %s", refs[i]);
            else
                rc = 0;
        } else if (rc < 0) {
            rc = sbx_cli_fail_err(c, rc, &err, refs[i]);
        } else {
            rc = op(p, info.id, &err);
            if (rc < 0)
                rc = sbx_cli_fail_err(c, rc, &err, what);
            else if (c->json)
                rc = (sbx_buf_addch(&done, done.len ? ',' : '[') < 0 ||
                      sbx_json_quote(&done, info.id, strlen(info.id)) < 0)
                         ? sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory")
                         : 0;
            else
                printf("%s\n", info.id);
        }
        if (rc > worst)
            worst = rc;
        sbx_sandbox_info_free(&info);
        fflush(stdout);
    }
    /* --json: the ids done, as an array (also when an error object was
     * printed before it). */
    if (c->json)
        printf("%s]\n", done.len ? done.ptr : "[");
    sbx_buf_free(&done);
    if (sbx_cli_flush_stdout(c) != 0 && worst == SBX_EXIT_OK)
        worst = SBX_EXIT_INFRA;
    return worst;
}

static const struct sbx_cli_opt ids_opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    SBX_CLI_OPTS_END,
};

int sbx_cli_ids_main(struct sbx_cli *c, const struct sbx_cli_cmd *cmd, int argc, char **argv,
                     sbx_cli_op_fn *op)
{
    struct sbx_cli_plain o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    int rc;

    rc = sbx_cli_parse_cmd(c, cmd, argc, argv, ids_opts, -1, sbx_cli_plain_opt, &o, &o.help, &args);
    if (rc >= 0)
        goto out;
    if (args.n_pos == 0 || args.n_rest) {
        rc = sbx_cli_usage(c, args.n_pos ? "unexpected argument '%s'" : "missing sandbox id%s",
                           args.n_pos ? args.rest[0] : "");
        goto out;
    }
    rc = sbx_cli_provider_open(c, &p);
    if (rc == 0)
        rc = sbx_cli_for_each(c, p, args.pos, (size_t)args.n_pos, op, cmd->name, false);
out:
    sbx_provider_close(p);
    sbx_cli_args_release(&args);
    return rc;
}
