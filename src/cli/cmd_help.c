/*
 * sbx help [CMD]: the overview, or a command's --help text.
 */
#include "cli/cli.h"

#include <stdio.h>

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_OPTS_END,
};

static int help_main(struct sbx_cli *c, int argc, char **argv)
{
    struct sbx_cli_plain o = {.c = c};
    struct sbx_cli_args args = {0};
    const struct sbx_cli_cmd *cmd = NULL;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_help, argc, argv, opts, -1, sbx_cli_plain_opt, &o, &o.help,
                           &args);
    if (rc >= 0)
        goto out;
    if (args.n_pos > 1 || args.n_rest) {
        rc = sbx_cli_usage(c, "unexpected argument '%s'",
                           args.n_pos > 1 ? args.pos[1] : args.rest[0]);
        goto out;
    }
    if (args.n_pos == 1) {
        cmd = sbx_cli_find_cmd(args.pos[0]);
        if (!cmd) {
            rc = sbx_cli_usage(c, "unknown command '%s'", args.pos[0]);
            goto out;
        }
        fputs(cmd->help, stdout);
    } else {
        sbx_cli_print_overview(stdout);
    }
    rc = sbx_cli_flush_stdout(c);
out:
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_help = {
    "help",
    "show the overview or a command's help",
    "usage: sbx help [COMMAND]\n"
    "\n"
    "Without COMMAND: the list of commands, the global options and the exit codes.\n"
    "With COMMAND: the same text as 'sbx COMMAND --help'.\n"
    "\n"
    "exit: 0; 2 unknown command.\n"
    "example: sbx help cp\n",
    help_main,
};
