/*
 * sbx act: one raw OpenHands action in, its observation JSON out.
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
#include "sbx/model.h"

/* Actions carry file contents: allow big ones, but not without bound. */
#define ACTION_MAX ((size_t)256 << 20)

enum { OPT_URL = SBX_OPT_CMD, OPT_UNIX, OPT_API_KEY };

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    {"url", 0, true, OPT_URL},
    {"unix-socket", 0, true, OPT_UNIX},
    {"api-key", 0, true, OPT_API_KEY},
    SBX_CLI_OPTS_END,
};

struct act {
    struct sbx_cli *c;
    bool help;
    char *url;
    char *unix_path;
    char *api_key;
};

static int on_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct act *o = ud;
    int rc = sbx_cli_common_opt(o->c, &o->help, id, arg);

    if (rc <= 0)
        return rc;
    if (id == OPT_URL && strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
        return sbx_err_set(err, -EINVAL, "'%s' is not an http:// or https:// URL", arg);
    if (id == OPT_URL)
        o->url = (char *)arg;
    else if (id == OPT_UNIX)
        o->unix_path = (char *)arg;
    else
        o->api_key = (char *)arg;
    return 0;
}

static int read_stdin(struct sbx_buf *b)
{
    char chunk[65536];
    ssize_t n;

    while ((n = sbx_fd_read(STDIN_FILENO, chunk, sizeof(chunk))) > 0) {
        int rc = sbx_buf_add(b, chunk, (size_t)n);

        if (rc < 0)
            return rc;
    }
    return n < 0 ? (int)n : 0;
}

/* Reads and checks the action: JSON first (the parse error names line and
 * column), then the model (the error names the JSON path). Returns 0 or
 * the exit code after reporting. */
static int load_action(struct sbx_cli *c, const char *file, struct sbx_buf *text)
{
    struct sbx_err err = {0};
    struct sbx_json *root = NULL;
    struct sbx_action *a = NULL;
    enum sbx_action_error why = SBX_ACTION_ERR_NONE;
    const struct sbx_json *inner;
    bool bare;
    int rc;

    text->max = ACTION_MAX;
    rc = strcmp(file, "-") == 0 ? read_stdin(text) : sbx_file_read(file, text);
    if (rc == -ENOENT)
        return sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: no such file or directory", file);
    if (rc < 0)
        return sbx_cli_fail_cmd(c, rc == -EMSGSIZE ? SBX_EXIT_USAGE : SBX_EXIT_FAILED, "%s: %s",
                                file, rc == -EMSGSIZE ? "larger than 256 MiB" : strerror(-rc));
    root = sbx_json_parse(text->ptr, text->len, &err);
    if (!root)
        return sbx_cli_usage(c, "%s: %s", file, err.msg);
    inner = sbx_json_get(root, "action");
    bare = !(inner && sbx_json_type(inner) == SBX_JSON_OBJECT);
    sbx_json_free(root);
    rc = sbx_action_parse(text->ptr, text->len, bare, &a, &why, &err);
    sbx_action_free(a);
    if (rc < 0)
        return sbx_cli_usage(c, "%s: %s", file, err.msg);
    return 0;
}

static int act_main(struct sbx_cli *c, int argc, char **argv)
{
    struct act o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_buf text = SBX_BUF_INIT;
    struct sbx_runtime *rt = NULL;
    struct sbx_err err = {0};
    char *obs = NULL;
    const char *ref = NULL, *file;
    bool direct;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_act, argc, argv, opts, -1, on_opt, &o, &o.help, &args);
    if (rc >= 0)
        goto out;
    direct = o.url || o.unix_path;
    if (o.url && o.unix_path) {
        rc = sbx_cli_usage(c, "--url and --unix-socket exclude each other");
        goto out;
    }
    if (o.api_key && !direct) {
        rc = sbx_cli_usage(c, "--api-key goes with --url or --unix-socket");
        goto out;
    }
    if (args.n_rest || args.n_pos != (direct ? 1 : 2)) {
        rc = sbx_cli_usage(c, args.n_pos < (direct ? 1 : 2) ? "missing %s" : "too many arguments%s",
                           args.n_pos < (direct ? 1 : 2)
                               ? (direct || args.n_pos == 1 ? "action file (or - for stdin)"
                                                            : "sandbox id and action file")
                               : "");
        goto out;
    }
    if (!direct)
        ref = args.pos[0];
    file = args.pos[direct ? 0 : 1];
    rc = load_action(c, file, &text);
    if (rc != 0)
        goto out;
    if (direct) {
        struct sbx_endpoint ep = {.url = o.url, .unix_path = o.unix_path, .api_key = o.api_key};

        rt = sbx_runtime_connect(&ep, &err);
    } else {
        struct sbx_sandbox_info info = {0};

        rc = sbx_cli_attach(c, ref, &info, &rt, &err);
        sbx_sandbox_info_free(&info);
        if (rc > 0)
            goto out;
    }
    if (!rt) {
        rc = sbx_cli_fail_err(c, err.code ? err.code : -EIO, &err,
                              direct ? "connecting to sbx-server" : "attaching");
        goto out;
    }
    rc = sbx_runtime_act_json(rt, text.ptr, &obs, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_exchange(c, rc, &err, "action");
        goto out;
    }
    fputs(obs, stdout);
    if (!*obs || obs[strlen(obs) - 1] != '\n')
        fputc('\n', stdout);
    rc = sbx_cli_flush_stdout(c);
out:
    free(obs);
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    sbx_buf_free(&text);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_act = {
    "act",
    "send one raw OpenHands action, print the observation JSON",
    "usage: sbx act ID FILE|-\n"
    "       sbx act --url URL|--unix-socket PATH [--api-key KEY] FILE|-\n"
    "\n"
    "Reads one action from FILE (or stdin with -): a bare action\n"
    "{\"action\": \"run\", \"args\": {\"command\": \"ls\"}} or a whole request body\n"
    "{\"action\": {...}}, sends it to the sandbox's sbx-server (POST /execute_action)\n"
    "and prints the observation JSON as the server sent it. An ErrorObservation is\n"
    "a valid answer (exit 0). With --url or --unix-socket, the action goes to an\n"
    "sbx-server that runs on its own (e.g. 'sbx server'), without a provider.\n"
    "\n"
    "options:\n"
    "  --url URL             an sbx-server at http://HOST:PORT\n"
    "  --unix-socket PATH    an sbx-server on a unix socket\n"
    "  --api-key KEY         that server's SESSION_API_KEY (X-Session-API-Key)\n"
    "\n"
    "exit: 0 an observation was printed; 1 no such sandbox or file, or the server\n"
    "refused the action; 2 usage, bad JSON or a bad action (the message names the\n"
    "line/column or the JSON path); 3 the server could not be reached.\n"
    "example: echo '{\"action\":\"read\",\"args\":{\"path\":\"/etc/hostname\"}}' | sbx act dev -\n",
    act_main,
};
