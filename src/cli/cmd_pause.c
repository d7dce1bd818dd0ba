/*
 * sbx pause: freeze every process of sandboxes (local: the cgroup freezer).
 */
#include "cli/cli.h"

static int pause_main(struct sbx_cli *c, int argc, char **argv)
{
    return sbx_cli_ids_main(c, &sbx_cmd_pause, argc, argv, sbx_provider_pause);
}

const struct sbx_cli_cmd sbx_cmd_pause = {
    "pause",
    "freeze sandboxes",
    "usage: sbx pause [--json] ID...\n"
    "\n"
    "Freezes every process of each sandbox (local: the cgroup freezer) and prints\n"
    "each id paused. A paused sandbox keeps its memory and files; 'sbx resume'\n"
    "thaws it. Commands cannot run in it meanwhile. --json: a JSON array of the ids.\n"
    "\n"
    "exit: 0; 1 a sandbox was unknown or could not be paused (the others still are);\n"
    "2 usage; 3 the provider failed.\n"
    "example: sbx pause dev && sbx ls --name dev\n",
    pause_main,
};
