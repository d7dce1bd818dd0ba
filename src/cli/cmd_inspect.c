/*
 * sbx inspect: the JSON object of one sandbox.
 */
#include "cli/cli.h"

#include <stdio.h>

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    SBX_CLI_OPTS_END,
};

static int inspect_main(struct sbx_cli *c, int argc, char **argv)
{
    struct sbx_cli_plain o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info info = {0};
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_inspect, argc, argv, opts, -1, sbx_cli_plain_opt, &o,
                           &o.help, &args);
    if (rc >= 0)
        goto out;
    c->json = true; /* the output is JSON: so are its errors */
    if (args.n_pos != 1 || args.n_rest) {
        rc = sbx_cli_usage(c, args.n_pos ? "expected one sandbox id" : "missing sandbox id");
        goto out;
    }
    rc = sbx_cli_provider_open(c, &p);
    if (rc == 0)
        rc = sbx_cli_lookup(c, p, args.pos[0], &info);
    if (rc != 0)
        goto out;
    rc = sbx_cli_print_info_json(&info) < 0 ? sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory")
                                            : sbx_cli_flush_stdout(c);
out:
    sbx_sandbox_info_free(&info);
    sbx_provider_close(p);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_inspect = {
    "inspect",
    "print the JSON object of a sandbox",
    "usage: sbx inspect ID\n"
    "\n"
    "Prints the sandbox's JSON object on one line: id, name, provider, state\n"
    "(creating, running, paused, dead), created_ms, labels {}, memory_bytes,\n"
    "cpu_millis (1000 = one CPU), pids_max, enforced (the limits the platform\n"
    "enforces: memory, pids, cpu, freeze), network (host or none), image (null =\n"
    "the provider's default) and note (caveats, e.g. a limit not enforced or why\n"
    "the sandbox died). Errors are JSON too: {\"error\": ..., \"code\": N}.\n"
    "\n"
    "exit: 0; 1 no such sandbox; 2 usage; 3 the provider failed.\n"
    "example: sbx inspect dev | python3 -m json.tool\n",
    inspect_main,
};
