/*
 * sbx: main, the global options, the configuration file and the dispatch
 * table (git's builtin/ layout: one cmd_<name>.c per subcommand).
 *
 * Settings come from the command line first, then the environment
 * (SBX_PROVIDER, SBX_STATE_DIR; SBX_SERVER_BIN is read by the provider),
 * then ~/.config/sbx/config.json ({"provider": "...", "state_dir": "..."}),
 * then the defaults (provider "local").
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "json/json.h"
#include "sbx/log.h"

const struct sbx_cli_cmd *const sbx_cli_cmds[] = {
    &sbx_cmd_run,    &sbx_cmd_create,  &sbx_cmd_ls,     &sbx_cmd_inspect,
    &sbx_cmd_exec,   &sbx_cmd_shell,   &sbx_cmd_cp,     &sbx_cmd_act,
    &sbx_cmd_url,    &sbx_cmd_pause,   &sbx_cmd_resume, &sbx_cmd_rm,
    &sbx_cmd_server, &sbx_cmd_serve,   &sbx_cmd_version, &sbx_cmd_help,
    NULL,
};

const struct sbx_cli_cmd *sbx_cli_find_cmd(const char *name)
{
    size_t i;

    for (i = 0; sbx_cli_cmds[i]; i++)
        if (strcmp(sbx_cli_cmds[i]->name, name) == 0)
            return sbx_cli_cmds[i];
    return NULL;
}

void sbx_cli_print_overview(FILE *f)
{
    size_t i;

    fputs("usage: sbx [--state-dir DIR] [-p|--provider NAME] <command> [options]\n"
          "\n"
          "Sandboxes for AI agents: each runs sbx-server, the OpenHands action server.\n"
          "\n"
          "commands:\n",
          f);
    for (i = 0; sbx_cli_cmds[i]; i++)
        fprintf(f, "  %-9s %s\n", sbx_cli_cmds[i]->name, sbx_cli_cmds[i]->summary);
    fputs("\n"
          "global options (also accepted after the command):\n"
          "  -p, --provider NAME  sandbox provider (default: $SBX_PROVIDER, config, local)\n"
          "  --state-dir DIR      state directory (default: $SBX_STATE_DIR, config,\n"
          "                       /var/lib/sbx as root, else ~/.local/share/sbx)\n"
          "  -h, --help           this help; 'sbx <command> --help' for a command's\n"
          "\n"
          "IDs accept a full id, a unique id prefix, or a name.\n"
          "Exit codes: 0 ok, 1 the command ran and failed, 2 usage, 3 provider or\n"
          "infrastructure error; run and exec exit with the command's code (124: timed out).\n"
          "Configuration: ~/.config/sbx/config.json {\"provider\": ..., \"state_dir\": ...}.\n"
          "Documentation: docs/cli.md.\n",
          f);
}

/* ~/.config/sbx/config.json (or $XDG_CONFIG_HOME/sbx/config.json). A missing
 * file is fine; a broken one is a usage error naming the file. */
struct config {
    char *provider;
    char *state_dir;
};

static int config_str(const struct sbx_json *root, const char *key, const char *path, char **out)
{
    const struct sbx_json *v = sbx_json_get(root, key);

    if (!v || sbx_json_type(v) == SBX_JSON_NULL)
        return 0;
    if (sbx_json_type(v) != SBX_JSON_STRING) {
        fprintf(stderr, "sbx: %s: \"%s\" must be a string\n", path, key);
        return SBX_EXIT_USAGE;
    }
    *out = strdup(sbx_json_str(v));
    if (!*out) {
        fprintf(stderr, "sbx: out of memory\n");
        return SBX_EXIT_INFRA;
    }
    return 0;
}

static int config_load(struct config *cfg)
{
    struct sbx_buf path = SBX_BUF_INIT, text = SBX_BUF_INIT;
    struct sbx_json *root = NULL;
    struct sbx_err err = {0};
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int rc = 0;

    if (xdg && *xdg)
        rc = sbx_buf_addf(&path, "%s/sbx/config.json", xdg);
    else if (home && *home)
        rc = sbx_buf_addf(&path, "%s/.config/sbx/config.json", home);
    else
        goto out;
    if (rc == 0) {
        text.max = 1 << 20;
        rc = sbx_file_read(path.ptr, &text);
    }
    if (rc == -ENOENT) {
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "sbx: %s: %s\n", path.ptr, strerror(-rc));
        rc = SBX_EXIT_INFRA;
        goto out;
    }
    root = sbx_json_parse(text.ptr, text.len, &err);
    if (!root || sbx_json_type(root) != SBX_JSON_OBJECT) {
        fprintf(stderr, "sbx: %s: %s\n", path.ptr, root ? "not a JSON object" : err.msg);
        rc = SBX_EXIT_USAGE;
        goto out;
    }
    rc = config_str(root, "provider", path.ptr, &cfg->provider);
    if (rc == 0)
        rc = config_str(root, "state_dir", path.ptr, &cfg->state_dir);
out:
    sbx_json_free(root);
    sbx_buf_free(&text);
    sbx_buf_free(&path);
    return rc;
}

static const struct sbx_cli_opt global_opts[] = {
    SBX_CLI_COMMON_OPTS,
    {"version", 0, false, SBX_OPT_CMD},
    SBX_CLI_OPTS_END,
};

struct global {
    struct sbx_cli *c;
    bool help;
    bool version;
};

static int on_global(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct global *g = ud;

    (void)err;
    if (sbx_cli_common_opt(g->c, &g->help, id, arg) <= 0)
        return 0;
    g->version = true;
    return 0;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v && *v ? v : fallback;
}

int main(int argc, char **argv)
{
    struct sbx_cli c = {0};
    struct config cfg = {0};
    struct global g = {.c = &c};
    struct sbx_cli_args args = {0};
    struct sbx_err err = {0};
    const struct sbx_cli_cmd *cmd;
    int rc;

    if (getenv("SBX_DEBUG")) {
        sbx_log_set_sink(sbx_log_stderr_sink, NULL);
        sbx_log_set_level(SBX_LOG_DEBUG);
    }
    /* The first non-option argument is the command; what follows is its. */
    rc = sbx_cli_parse(argc, argv, global_opts, 0, on_global, &g, &args, &err);
    if (rc < 0) {
        rc = rc == -ENOMEM ? SBX_EXIT_INFRA : sbx_cli_usage(&c, "%s", err.msg);
        goto out;
    }
    if (g.help || g.version) {
        if (g.help)
            sbx_cli_print_overview(stdout);
        else
            printf("sbx %s\n", SBX_CLI_VERSION);
        rc = sbx_cli_flush_stdout(&c);
        goto out;
    }
    if (args.n_rest == 0) {
        sbx_cli_print_overview(stderr);
        rc = SBX_EXIT_USAGE;
        goto out;
    }
    cmd = sbx_cli_find_cmd(args.rest[0]);
    if (!cmd) {
        rc = sbx_cli_usage(&c, "unknown command '%s'", args.rest[0]);
        goto out;
    }
    rc = config_load(&cfg);
    if (rc != 0)
        goto out;
    if (!c.provider)
        c.provider = env_or("SBX_PROVIDER", cfg.provider ? cfg.provider : "local");
    if (!c.state_dir)
        c.state_dir = env_or("SBX_STATE_DIR", cfg.state_dir);
    c.progress = isatty(STDERR_FILENO) == 1;
    c.cmd = cmd->name;
    rc = cmd->main(&c, args.n_rest, args.rest);
out:
    sbx_cli_args_release(&args);
    free(cfg.provider);
    free(cfg.state_dir);
    return rc;
}
