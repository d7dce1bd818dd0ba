/*
 * sbx url: the URL that reaches a TCP port of a sandbox.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "json/json.h"

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    SBX_CLI_OPTS_END,
};

static int url_main(struct sbx_cli *c, int argc, char **argv)
{
    struct sbx_cli_plain o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info info = {0};
    struct sbx_err err = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    char *url = NULL;
    int64_t port = 0;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_url, argc, argv, opts, -1, sbx_cli_plain_opt, &o, &o.help,
                           &args);
    if (rc >= 0)
        goto out;
    rc = sbx_cli_two_args(c, &args, "sandbox id and port", "port");
    if (rc != 0)
        goto out;
    if (sbx_cli_parse_int(args.pos[1], 1, 65535, &port, &err) < 0) {
        rc = sbx_cli_usage(c, "port: %s", err.msg);
        goto out;
    }
    rc = sbx_cli_open_running(c, args.pos[0], &p, &info);
    if (rc != 0)
        goto out;
    rc = sbx_provider_port_url(p, info.id, (int)port, &url, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, "port url");
        goto out;
    }
    if (c->json) {
        rc = sbx_buf_addstr(&b, "{\"url\":");
        if (rc == 0)
            rc = sbx_json_quote(&b, url, strlen(url));
        if (rc == 0)
            rc = sbx_buf_addstr(&b, "}");
        printf("%s\n", b.ptr);
    } else {
        printf("%s\n", url);
    }
    rc = rc < 0 ? sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory") : sbx_cli_flush_stdout(c);
out:
    sbx_buf_free(&b);
    free(url);
    sbx_sandbox_info_free(&info);
    sbx_provider_close(p);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_url = {
    "url",
    "print the URL that reaches a port in a sandbox",
    "usage: sbx url ID PORT [--json]\n"
    "\n"
    "Prints the URL through which the host reaches TCP PORT (1-65535) that a\n"
    "process listens on inside the sandbox (local provider, network host: the\n"
    "host's loopback). With --json: {\"url\": ...}.\n"
    "\n"
    "exit: 0; 1 no such sandbox, not running, or the provider cannot expose ports\n"
    "for it; 2 usage; 3 the provider failed.\n"
    "example: sbx exec dev -- 'python3 -m http.server 8000 &' && curl $(sbx url dev 8000)\n",
    url_main,
};
