/*
 * sbx resume: thaw paused sandboxes (local: the cgroup freezer).
 */
#include "cli/cli.h"

static int resume_main(struct sbx_cli *c, int argc, char **argv)
{
    return sbx_cli_ids_main(c, &sbx_cmd_resume, argc, argv, sbx_provider_resume);
}

const struct sbx_cli_cmd sbx_cmd_resume = {
    "resume",
    "thaw paused sandboxes",
    "usage: sbx resume [--json] ID...\n"
    "\n"
    "Thaws each paused sandbox (local: the cgroup freezer) and prints each id\n"
    "resumed; its processes go on where they stopped. --json: a JSON array of the ids.\n"
    "\n"
    "exit: 0; 1 a sandbox was unknown or could not be resumed (the others still are);\n"
    "2 usage; 3 the provider failed.\n"
    "example: sbx resume dev && sbx exec dev -- uptime\n",
    resume_main,
};
