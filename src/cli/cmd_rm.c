/*
 * sbx rm: remove sandboxes (running, paused or dead) by id, by label, or all.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>

enum { OPT_FORCE = SBX_OPT_CMD, OPT_ALL, OPT_LABEL };

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    {"force", 'f', false, OPT_FORCE},
    {"all", 'a', false, OPT_ALL},
    {"label", 'l', true, OPT_LABEL},
    SBX_CLI_OPTS_END,
};

struct rm {
    struct sbx_cli *c;
    bool help;
    bool force;
    bool all;
    struct sbx_cli_strv labels;
};

static int on_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct rm *o = ud;
    int rc = sbx_cli_common_opt(o->c, &o->help, id, arg);

    if (rc <= 0)
        return rc;
    switch (id) {
    case OPT_FORCE: o->force = true; return 0;
    case OPT_ALL: o->all = true; return 0;
    default:
        rc = sbx_cli_parse_label(arg, err);
        if (rc == 0 && sbx_cli_strv_push(&o->labels, arg) < 0)
            rc = sbx_err_set(err, -ENOMEM, "out of memory");
        return rc;
    }
}

/* --all and -l: every matching sandbox, by id. */
static int rm_matching(struct sbx_cli *c, struct sbx_provider *p, const struct rm *o)
{
    struct sbx_sandbox_filter f = {.labels = o->labels.v};
    struct sbx_sandbox_info *in = NULL;
    struct sbx_err err = {0};
    char **ids = NULL;
    int n, i, rc;

    n = sbx_provider_list(p, &f, &in, &err);
    if (n < 0)
        return sbx_cli_fail_err(c, n, &err, "listing sandboxes");
    ids = calloc((size_t)n + 1, sizeof(*ids));
    if (!ids) {
        rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        ids[i] = in[i].id;
    /* One that vanished meanwhile (another sbx rm) is no error. */
    rc = sbx_cli_for_each(c, p, ids, (size_t)n, sbx_provider_remove, "rm", true);
out:
    free(ids);
    sbx_sandbox_info_array_free(in, (size_t)n);
    return rc;
}

static int rm_main(struct sbx_cli *c, int argc, char **argv)
{
    struct rm o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    bool matching;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_rm, argc, argv, opts, -1, on_opt, &o, &o.help, &args);
    if (rc >= 0)
        goto out;
    matching = o.all || o.labels.n;
    if (args.n_rest) {
        rc = sbx_cli_usage(c, "unexpected argument '%s'", args.rest[0]);
        goto out;
    }
    if (matching && args.n_pos) {
        rc = sbx_cli_usage(c, "give sandbox ids or --all or -l KEY=VALUE, not both");
        goto out;
    }
    if (o.all && o.labels.n) {
        rc = sbx_cli_usage(c, "--all and -l exclude each other");
        goto out;
    }
    if (!matching && !args.n_pos) {
        rc = sbx_cli_usage(c, "missing sandbox id (or --all, or -l KEY=VALUE)");
        goto out;
    }
    rc = sbx_cli_provider_open(c, &p);
    if (rc != 0)
        goto out;
    if (matching)
        rc = rm_matching(c, p, &o);
    else
        rc = sbx_cli_for_each(c, p, args.pos, (size_t)args.n_pos, sbx_provider_remove, "rm",
                              o.force);
out:
    sbx_provider_close(p);
    sbx_cli_strv_release(&o.labels);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_rm = {
    "rm",
    "remove sandboxes (running, paused or dead)",
    "usage: sbx rm [-f] [--json] ID...\n"
    "       sbx rm --all\n"
    "       sbx rm -l KEY=VALUE [-l KEY=VALUE]...\n"
    "\n"
    "Kills every process of each sandbox and removes everything it left (files,\n"
    "mounts, cgroups, its index entry), whatever its state, and prints each id\n"
    "removed. An unknown id is reported and the others are still removed.\n"
    "\n"
    "options:\n"
    "  -a, --all              remove every sandbox of the provider\n"
    "  -l, --label KEY=VALUE  remove the sandboxes with this label (repeatable: all\n"
    "                         must match)\n"
    "  -f, --force            an unknown id is not an error\n"
    "  --json                 print a JSON array of the ids removed\n"
    "\n"
    "exit: 0; 1 an id was unknown ('sbx rm: no such sandbox: X') or a sandbox could\n"
    "not be removed; 2 usage; 3 the provider failed.\n"
    "example: sbx rm -l job=nightly\n",
    rm_main,
};
