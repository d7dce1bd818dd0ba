/*
 * sbx version: the version, the sbx-server it puts into sandboxes, and the
 * providers available.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "json/json.h"

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    SBX_CLI_OPTS_END,
};

static int print_json(const char *server)
{
    struct sbx_buf b = SBX_BUF_INIT;
    const char *names = sbx_provider_names();
    int rc = sbx_buf_addstr(&b, "{\"version\":\"" SBX_CLI_VERSION "\",\"server_bin\":");

    if (rc == 0)
        rc = server ? sbx_json_quote(&b, server, strlen(server)) : sbx_buf_addstr(&b, "null");
    if (rc == 0)
        rc = sbx_buf_addstr(&b, ",\"providers\":[");
    while (rc == 0 && *names) {
        size_t n = strcspn(names, ", ");

        if (n) {
            if (b.ptr[b.len - 1] != '[')
                rc = sbx_buf_addch(&b, ',');
            if (rc == 0)
                rc = sbx_json_quote(&b, names, n);
        }
        names += n;
        names += strspn(names, ", ");
    }
    if (rc == 0)
        rc = sbx_buf_addstr(&b, "]}\n");
    if (rc == 0)
        fwrite(b.ptr, 1, b.len, stdout);
    sbx_buf_free(&b);
    return rc;
}

static int version_main(struct sbx_cli *c, int argc, char **argv)
{
    struct sbx_cli_plain o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    struct sbx_provider_config cfg = {.state_dir = c->state_dir};
    const char *server = NULL;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_version, argc, argv, opts, -1, sbx_cli_plain_opt, &o,
                           &o.help, &args);
    if (rc >= 0)
        goto out;
    rc = sbx_cli_no_args(c, &args);
    if (rc != 0)
        goto out;
    /* The provider resolves the sbx-server path; without one (a state
     * directory that cannot be made, say) the version is still printed. */
    p = sbx_provider_open(c->provider, &cfg, NULL);
    if (p)
        server = sbx_provider_server_bin(p);
    if (c->json) {
        if (print_json(server) < 0) {
            rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory");
            goto out;
        }
    } else {
        printf("sbx %s (sbx-server %s)\nproviders: %s\n", SBX_CLI_VERSION,
               server ? server : "not found", sbx_provider_names());
    }
    rc = sbx_cli_flush_stdout(c);
out:
    sbx_provider_close(p);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_version = {
    "version",
    "print the version, the sbx-server used and the providers",
    "usage: sbx version [--json]\n"
    "\n"
    "Prints 'sbx 0.1.0 (sbx-server PATH)' - the static server put into sandboxes\n"
    "($SBX_SERVER_BIN, else sbx-server next to sbx, else <prefix>/libexec/sbx) - and\n"
    "the providers available. --json: {\"version\", \"server_bin\", \"providers\"}.\n"
    "\n"
    "exit: 0; 2 usage.\n"
    "example: sbx version --json\n",
    version_main,
};
