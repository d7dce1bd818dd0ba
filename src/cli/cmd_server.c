/*
 * sbx server: exec sbx-server with the OpenHands argv (protocol doc §1.1),
 * so that an image or a gateway that starts "the action execution server"
 * can start ours.
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"

/* The stock command line starts with a python prefix ("... python -u -m
 * openhands.runtime.action_execution_server PORT ..."): only what follows
 * the module name is the server's. */
static const char module[] = "openhands.runtime.action_execution_server";

/* $SBX_SERVER_BIN, else sbx-server next to this executable. */
static int server_path(struct sbx_buf *out)
{
    const char *env = getenv("SBX_SERVER_BIN");
    char self[PATH_MAX];
    ssize_t n;
    char *slash;

    if (env && *env)
        return sbx_buf_addstr(out, env);
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        return -errno;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    return sbx_buf_addf(out, "%s/sbx-server", self);
}

static int server_main(struct sbx_cli *c, int argc, char **argv)
{
    struct sbx_buf path = SBX_BUF_INIT;
    int first = 1, i, rc, e;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(sbx_cmd_server.help, stdout);
        return sbx_cli_flush_stdout(c);
    }
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], module) == 0)
            first = i + 1;
    rc = server_path(&path);
    if (rc < 0) {
        sbx_buf_free(&path);
        return sbx_cli_fail(c, SBX_EXIT_INFRA, "cannot find sbx-server: %s (set SBX_SERVER_BIN)",
                            strerror(-rc));
    }
    /* argv[first - 1] becomes the server's argv[0]. */
    argv[first - 1] = path.ptr;
    fflush(NULL);
    execv(path.ptr, argv + first - 1);
    e = errno;
    rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "cannot run %s: %s (set SBX_SERVER_BIN)", path.ptr,
                      strerror(e));
    sbx_buf_free(&path);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_server = {
    "server",
    "run sbx-server (the OpenHands action server) with its own arguments",
    "usage: sbx server PORT [--working-dir DIR] [--plugins NAME...] [--username USER]\n"
    "                  [--user-id UID] [--no-enable-browser] [--unix PATH] ...\n"
    "\n"
    "Replaces itself with sbx-server ($SBX_SERVER_BIN, else sbx-server next to sbx),\n"
    "passing every argument through. A stock OpenHands command line may be given\n"
    "whole: everything up to 'openhands.runtime.action_execution_server' (the\n"
    "python/micromamba prefix) is dropped. 'sbx server --help' shows this text;\n"
    "'sbx-server --help' the server's own.\n"
    "\n"
    "exit: the server's; 3 sbx-server cannot be run.\n"
    "example: sbx server 3000 --working-dir /workspace --username root --user-id 0\n",
    server_main,
};
