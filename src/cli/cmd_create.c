/*
 * sbx create: make a sandbox and print its id (or its JSON).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    SBX_CLI_CREATE_OPTS,
    SBX_CLI_OPTS_END,
};

struct create {
    struct sbx_cli *c;
    bool help;
    struct sbx_cli_create cr;
};

static int on_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct create *o = ud;
    int rc = sbx_cli_common_opt(o->c, &o->help, id, arg);

    if (rc <= 0)
        return rc;
    rc = sbx_cli_create_opt(&o->cr, id, arg, err);
    return rc < 0 ? rc : 0;
}

static int create_main(struct sbx_cli *c, int argc, char **argv)
{
    struct create o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info info = {0};
    struct sbx_err err = {0};
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_create, argc, argv, opts, -1, on_opt, &o, &o.help, &args);
    if (rc >= 0)
        goto out;
    rc = sbx_cli_no_args(c, &args);
    if (rc != 0)
        goto out;
    rc = sbx_cli_provider_open(c, &p);
    if (rc != 0)
        goto out;
    sbx_cli_progress("creating sandbox ...", c);
    rc = sbx_provider_create(p, &o.cr.spec, &info, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, NULL);
        goto out;
    }
    sbx_cli_warn_limits(&o.cr.spec, &info);
    if (c->json)
        rc = sbx_cli_print_info_json(&info) < 0 ? sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory")
                                                : 0;
    else
        printf("%s\n", info.id);
    if (rc == 0)
        rc = sbx_cli_flush_stdout(c);
out:
    sbx_sandbox_info_free(&info);
    sbx_provider_close(p);
    sbx_cli_create_release(&o.cr);
    sbx_cli_args_release(&args);
    return rc;
}

/* The help text splices in SBX_CLI_CREATE_OPTS_HELP: kept one line a row. */
/* clang-format off */
const struct sbx_cli_cmd sbx_cmd_create = {
    "create",
    "create a sandbox and print its id",
    "usage: sbx create [create options] [--json]\n"
    "\n"
    "Creates and starts a sandbox and prints its id (with --json: its JSON object,\n"
    "as 'sbx inspect' shows it). The sandbox keeps running after sbx exits, until\n"
    "'sbx rm'.\n"
    "\n"
    "create options:\n"
    "  --name NAME            a unique name to refer to the sandbox by\n"
    "  -l, --label KEY=VALUE  a label (repeatable); 'sbx ls -l' and 'sbx rm -l' filter on it\n"
    SBX_CLI_CREATE_OPTS_HELP
    "  --json                 print the sandbox's JSON object instead of its id\n"
    "\n"
    "A limit the platform cannot enforce is reported as 'sbx: warning: ...' (and in\n"
    "the JSON's \"note\").\n"
    "exit: 0 created; 1 the name is taken or the options were refused; 2 usage;\n"
    "3 the provider failed.\n"
    "example: id=$(sbx create --name dev -l team=ml --memory 1g --cpus 0.5)\n",
    create_main,
};
/* clang-format on */
