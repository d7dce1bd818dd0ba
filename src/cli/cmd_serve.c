/*
 * sbx serve: a platform's API served on top of a provider (an "API face",
 * DESIGN.md), so that the platform's own SDKs drive local sandboxes.
 * Faces: e2b (api/e2b/e2b.h).
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/e2b/e2b.h"
#include "net/loop.h"
#include "sbx/log.h"

enum {
    OPT_HOST = SBX_OPT_CMD,
    OPT_PORT,
    OPT_BACKEND,
    OPT_API_KEY,
    OPT_DOMAIN,
    OPT_TEMPLATE,
};

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    {"host", 0, true, OPT_HOST},
    {"port", 0, true, OPT_PORT},
    {"backend", 0, true, OPT_BACKEND},
    {"api-key", 0, true, OPT_API_KEY},
    {"domain", 0, true, OPT_DOMAIN},
    {"template", 0, true, OPT_TEMPLATE},
    SBX_CLI_OPTS_END,
};

struct serve_opts {
    struct sbx_cli *c;
    bool help;
    const char *host, *backend, *api_key, *domain;
    int64_t port;
    struct sbx_cli_strv templates;
};

static int serve_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct serve_opts *o = ud;
    const char *eq;

    if (sbx_cli_common_opt(o->c, &o->help, id, arg) == 0)
        return 0;
    switch (id) {
    case OPT_HOST: o->host = arg; return 0;
    case OPT_PORT:
        /* the option parser puts "--port: " in front of the message */
        return sbx_cli_parse_int(arg, 0, 65535, &o->port, err) < 0 ? -EINVAL : 0;
    case OPT_BACKEND:
        if (!*arg)
            return sbx_err_set(err, -EINVAL, "a provider name is required");
        o->backend = arg;
        return 0;
    case OPT_API_KEY:
        if (!*arg)
            return sbx_err_set(err, -EINVAL, "the key must not be empty");
        o->api_key = arg;
        return 0;
    case OPT_DOMAIN:
        if (!*arg)
            return sbx_err_set(err, -EINVAL, "the domain must not be empty");
        o->domain = arg;
        return 0;
    case OPT_TEMPLATE:
        eq = strchr(arg, '=');
        if (!eq || eq == arg)
            return sbx_err_set(err, -EINVAL, "expected NAME=IMAGE, got '%s'", arg);
        return sbx_cli_strv_push(&o->templates, arg);
    default: return 0;
    }
}

static void on_signal(struct sbx_sig *s, int signum, void *ud)
{
    (void)s;
    (void)signum;
    sbx_loop_stop(ud);
}

static int serve_e2b(struct sbx_cli *c, const struct serve_opts *o)
{
    struct sbx_provider_config cfg = {.state_dir = c->state_dir};
    struct sbx_e2b_face_opts fo;
    struct sbx_err err = {0};
    struct sbx_loop *l;
    struct sbx_e2b_face *f;
    struct sbx_sig *sig_int = NULL, *sig_term = NULL;
    const char *host = o->host ? o->host : "127.0.0.1";
    int rc;

    signal(SIGPIPE, SIG_IGN);
    sbx_log_set_sink(sbx_log_stderr_sink, NULL);
    l = sbx_loop_new(&err);
    if (!l)
        return sbx_cli_fail_err(c, err.code ? err.code : -ENOMEM, &err, "serve e2b");
    memset(&fo, 0, sizeof(fo));
    fo.host = host;
    fo.port = (int)o->port;
    fo.backend = o->backend ? o->backend : "local";
    fo.cfg = &cfg;
    fo.api_key = o->api_key;
    fo.domain = o->domain;
    fo.templates = o->templates.v;
    f = sbx_e2b_face_new(l, &fo, &err);
    if (!f) {
        rc = err.code == -ENOENT && strstr(err.msg, "unknown provider")
                 ? sbx_cli_usage(c, "--backend: %s", err.msg)
                 : sbx_cli_fail_err(c, err.code ? err.code : -EIO, &err, NULL);
        sbx_loop_free(l);
        return rc;
    }
    sig_int = sbx_sig_new(l, SIGINT, on_signal, l, &err);
    sig_term = sig_int ? sbx_sig_new(l, SIGTERM, on_signal, l, &err) : NULL;
    if (!sig_term) {
        rc = sbx_cli_fail_err(c, err.code ? err.code : -EIO, &err, "serve e2b: signals");
        goto out;
    }
    printf("sbx serve e2b: listening on http://%s:%d\n", host, sbx_e2b_face_port(f));
    rc = sbx_cli_flush_stdout(c);
    if (rc != 0)
        goto out;
    sbx_loop_run(l);
    rc = SBX_EXIT_OK;
out:
    sbx_sig_close(sig_int);
    sbx_sig_close(sig_term);
    sbx_e2b_face_free(f);
    sbx_loop_free(l);
    return rc;
}

static int serve_main(struct sbx_cli *c, int argc, char **argv)
{
    struct serve_opts o;
    struct sbx_cli_args args = {0};
    int rc;

    memset(&o, 0, sizeof(o));
    o.c = c;
    o.port = 3000;
    rc = sbx_cli_parse_cmd(c, &sbx_cmd_serve, argc, argv, opts, -1, serve_opt, &o, &o.help, &args);
    if (rc >= 0)
        goto out;
    if (args.n_pos == 0) {
        rc = sbx_cli_usage(c, "missing the API to serve (e2b)");
        goto out;
    }
    if (args.n_pos > 1 || args.n_rest) {
        rc = sbx_cli_usage(c, "unexpected argument '%s'",
                           args.n_pos > 1 ? args.pos[1] : args.rest[0]);
        goto out;
    }
    if (strcmp(args.pos[0], "e2b") != 0) {
        rc = sbx_cli_usage(c, "unknown API '%s' (available: e2b)", args.pos[0]);
        goto out;
    }
    rc = serve_e2b(c, &o);
out:
    sbx_cli_strv_release(&o.templates);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_serve = {
    "serve",
    "serve a platform's API (e2b) on top of a provider",
    "usage: sbx serve e2b [--host H] [--port N] [--backend NAME] [--api-key KEY]\n"
    "                     [--domain D] [--template NAME=IMAGE]...\n"
    "\n"
    "Serves E2B's API on one port: the control plane (POST /sandboxes, GET\n"
    "/v2/sandboxes, ...), envd (commands and files of a sandbox) and the port proxy\n"
    "(<port>-<id>.<domain>, or the E2b-Sandbox-Id/-Port headers), over sandboxes of\n"
    "the backend provider. Point the official SDKs at it with\n"
    "E2B_API_URL=http://127.0.0.1:N and E2B_SANDBOX_URL=http://127.0.0.1:N.\n"
    "Sandboxes are kept in the state directory: a restarted face finds them again.\n"
    "\n"
    "  --host H               address to listen on (default 127.0.0.1)\n"
    "  --port N               TCP port (default 3000; 0 = any free port)\n"
    "  --backend NAME         provider of the sandboxes (default local)\n"
    "  --api-key KEY          the X-API-Key clients must send (default: any non-empty key)\n"
    "  --domain D             the sandboxes' domain in answers (default localhost:<port>)\n"
    "  --template NAME=IMAGE  a template and the backend image it means (repeatable);\n"
    "                         'base' is the backend's default image, as is an empty IMAGE\n"
    "                         (--template openhands= serves the name on the default)\n"
    "\n"
    "When ready it prints 'sbx serve e2b: listening on http://HOST:PORT' and serves\n"
    "until SIGINT or SIGTERM.\n"
    "exit: 0 stopped by a signal; 2 usage; 3 cannot listen or open the backend.\n"
    "example: sbx serve e2b --port 3000 --api-key e2b_0123456789abcdef\n",
    serve_main,
};
