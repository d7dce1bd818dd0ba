/*
 * sbx-server: the OpenHands action-execution server, one static binary.
 * Command line and environment as openhands-protocol.md §1.1-§1.2.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/loop.h"
#include "sbx/log.h"
#include "server/server.h"
#include "server/watch.h"

#define SBX_VERSION "0.1.0"

static const char usage[] =
    "usage: sbx-server PORT [--working-dir DIR] [--plugins NAME [NAME ...]]\n"
    "                  [--username USER] [--user-id UID] [--enable-browser | --no-enable-browser]\n"
    "                  [--browsergym-eval-env ENV] [--host ADDR] [--unix PATH]\n"
    "                  [--listen-fd FD]\n"
    "\n"
    "Serves the OpenHands action-execution API (POST /execute_action, /list_files, ...)\n"
    "on PORT (0 = any free port), on a unix socket, or on a listening socket\n"
    "inherited as FD. Prints\n"
    "\"sbx-server listening on HOST:PORT\" once ready. Environment: SESSION_API_KEY,\n"
    "NO_CHANGE_TIMEOUT_SECONDS (default 10), SU_TO_USER, RUNTIME_USERNAME, SANDBOX_GROUP_ID.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s", usage);
    fprintf(stderr, "sbx-server: error: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* argparse-style: "--opt value" or "--opt=value". */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);

    return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

int sbx_server_parse_args(int argc, char **argv, struct sbx_server_cfg *cfg)
{
    static char bg_env[4096];
    bool have_port = false;
    long v;
    int i;

    cfg->working_dir = "/workspace";
    cfg->username = "openhands";
    cfg->user_id = 1000;
    cfg->enable_browser = true;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val;

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s", usage);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            printf("sbx-server %s\n", SBX_VERSION);
            return 1;
        }
        if (is_opt(a, "--working-dir")) {
            val = opt_value(argc, argv, &i, "--working-dir");
            if (!val || !*val)
                return usage_error("argument --working-dir: expected one argument%s", "");
            cfg->working_dir = val;
        } else if (is_opt(a, "--username")) {
            val = opt_value(argc, argv, &i, "--username");
            if (!val || !*val)
                return usage_error("argument --username: expected one argument%s", "");
            cfg->username = val;
        } else if (is_opt(a, "--user-id")) {
            val = opt_value(argc, argv, &i, "--user-id");
            if (!val || parse_long(val, 0, 2147483647L, &v) < 0)
                return usage_error("argument --user-id: invalid int value: '%s'", val ? val : "");
            cfg->user_id = v;
        } else if (is_opt(a, "--host")) {
            val = opt_value(argc, argv, &i, "--host");
            if (!val || !*val)
                return usage_error("argument --host: expected one argument%s", "");
            cfg->host = val;
        } else if (is_opt(a, "--unix")) {
            val = opt_value(argc, argv, &i, "--unix");
            if (!val || !*val)
                return usage_error("argument --unix: expected one argument%s", "");
            cfg->unix_path = val;
        } else if (is_opt(a, "--listen-fd")) {
            val = opt_value(argc, argv, &i, "--listen-fd");
            if (!val || parse_long(val, 3, 65535, &v) < 0)
                return usage_error("argument --listen-fd: invalid descriptor: '%s'",
                                   val ? val : "");
            cfg->listen_fd = (int)v;
            cfg->has_listen_fd = true;
        } else if (!strcmp(a, "--plugins")) {
            /* nargs='+': every following argument up to the next option */
            if (i + 1 >= argc || argv[i + 1][0] == '-')
                return usage_error("argument --plugins: expected at least one argument%s", "");
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                const char *p = argv[++i];

                if (strcmp(p, "jupyter") && strcmp(p, "agent_skills") && strcmp(p, "vscode"))
                    return usage_error("argument --plugins: invalid choice: '%s' (choose from "
                                       "'agent_skills', 'jupyter', 'vscode')",
                                       p);
                if (cfg->nplugins < SBX_SERVER_MAX_PLUGINS)
                    cfg->plugins[cfg->nplugins++] = p;
            }
        } else if (!strcmp(a, "--enable-browser")) {
            cfg->enable_browser = true;
        } else if (!strcmp(a, "--no-enable-browser")) {
            cfg->enable_browser = false;
        } else if (!strcmp(a, "--browsergym-eval-env")) {
            size_t len = 0;

            if (i + 1 >= argc || argv[i + 1][0] == '-')
                return usage_error("argument --browsergym-eval-env: expected one argument%s", "");
            bg_env[0] = '\0';
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                int n = snprintf(bg_env + len, sizeof(bg_env) - len, "%s%s", len ? " " : "",
                                 argv[++i]);

                if (n < 0 || (size_t)n >= sizeof(bg_env) - len)
                    return usage_error("argument --browsergym-eval-env: too long%s", "");
                len += (size_t)n;
            }
            cfg->browsergym_eval_env = bg_env;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unrecognized arguments: %s", a);
        } else if (!have_port) {
            if (parse_long(a, 0, 65535, &v) < 0)
                return usage_error("argument port: invalid int value: '%s'", a);
            cfg->port = (int)v;
            have_port = true;
        } else {
            return usage_error("unrecognized arguments: %s", a);
        }
    }
    if (!have_port && !cfg->unix_path && !cfg->has_listen_fd)
        return usage_error("the following arguments are required: port%s", "");
    if (cfg->browsergym_eval_env && !cfg->enable_browser)
        return usage_error("--browsergym-eval-env needs the browser, but --no-enable-browser "
                           "was given%s",
                           "");
    return 0;
}

int sbx_server_read_env(struct sbx_server_cfg *cfg)
{
    const char *v;
    long n;

    cfg->api_key = getenv("SESSION_API_KEY");
    cfg->no_change_timeout_s = 10;
    v = getenv("NO_CHANGE_TIMEOUT_SECONDS");
    if (v && *v) {
        if (parse_long(v, 1, 86400, &n) < 0) {
            fprintf(stderr, "sbx-server: error: NO_CHANGE_TIMEOUT_SECONDS=%s: expected whole "
                            "seconds from 1 to 86400\n", v);
            return 2;
        }
        cfg->no_change_timeout_s = (int)n;
    }
    v = getenv("SU_TO_USER");
    cfg->su_to_user = !(v && (!strcasecmp(v, "false") || !strcmp(v, "0")));
    cfg->runtime_username = getenv("RUNTIME_USERNAME");
    v = getenv("SANDBOX_GROUP_ID");
    cfg->group_name = v && *v ? v : "root";
    return 0;
}

static struct sbx_server g_server;

static void on_listening(struct sbx_server *s, const char *where)
{
    (void)s;
    printf("sbx-server listening on %s\n", where);
    fflush(stdout);
}

static void on_stop_signal(struct sbx_sig *sig, int signum, void *ud)
{
    struct sbx_server *s = ud;

    (void)sig;
    sbx_log(SBX_LOG_DEBUG, "signal %d: shutting down", signum);
    sbx_server_stop(s);
    sbx_loop_stop(s->loop);
}

static void on_sigchld(struct sbx_sig *sig, int signum, void *ud)
{
    struct sbx_server *s = ud;
    int status;
    pid_t pid;

    (void)sig;
    (void)signum;
    /* Reap everything: as a container's pid 1 we also inherit orphans. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        sbx_server_child_exited(s, pid, status);
}

int main(int argc, char **argv)
{
    struct sbx_server *s = &g_server;
    struct sbx_sig *sterm = NULL, *sint = NULL, *schld = NULL;
    struct sbx_err err = {0};
    struct sbx_loop *loop;
    int rc;

    /* a second mode for sbx serve e2b's envd WatchDir (watch.h) */
    if (argc >= 2 && strcmp(argv[1], "watch") == 0)
        return sbx_server_watch_main(argc - 1, argv + 1);
    rc = sbx_server_parse_args(argc, argv, &s->cfg);
    if (rc)
        return rc == 1 ? 0 : rc;
    rc = sbx_server_read_env(&s->cfg);
    if (rc)
        return rc;
    sbx_log_set_sink(sbx_log_stderr_sink, NULL);
    sbx_log_set_level(getenv("DEBUG") ? SBX_LOG_DEBUG : SBX_LOG_INFO);
    signal(SIGPIPE, SIG_IGN);
    /* Orphans of the agent's processes come back to us (not to an init that
     * may never reap them), so they are reaped and, at stop, waited for. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (s->cfg.working_dir[0] != '/') {
        fprintf(stderr, "sbx-server: error: --working-dir must be an absolute path: %s\n",
                s->cfg.working_dir);
        return 2;
    }
    /* Before anything is spawned (bash starts before the listener): an
     * inherited listening socket must not leak into the sandbox's shells. */
    if (s->cfg.has_listen_fd && fcntl(s->cfg.listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "sbx-server: error: listen on fd %d: %s\n", s->cfg.listen_fd,
                strerror(errno));
        return 1;
    }
    loop = sbx_loop_new(&err);
    if (!loop) {
        fprintf(stderr, "sbx-server: %s\n", err.msg);
        return 1;
    }
    s->loop = loop;
    s->on_listening = on_listening;
    sterm = sbx_sig_new(loop, SIGTERM, on_stop_signal, s, &err);
    sint = sbx_sig_new(loop, SIGINT, on_stop_signal, s, &err);
    schld = sbx_sig_new(loop, SIGCHLD, on_sigchld, s, &err);
    if (!sterm || !sint || !schld) {
        fprintf(stderr, "sbx-server: %s\n", err.msg);
        return 1;
    }
    rc = sbx_server_start(s, loop, &err);
    if (rc < 0) {
        fprintf(stderr, "sbx-server: start-up failed: %s\n", err.msg);
        sbx_server_stop(s);
        s->exit_code = 1;
    } else {
        sbx_loop_run(loop);
        if (!s->stopping)
            sbx_server_stop(s);
    }
    sbx_sig_close(sterm);
    sbx_sig_close(sint);
    sbx_sig_close(schld);
    sbx_loop_free(loop);
    /* Every session was killed at stop: wait (a second at most) until the
     * last process is reaped, so that nothing outlives the server. */
    for (int i = 0; i < 200; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        pid_t p;

        while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
            ;
        if (p < 0 && errno == ECHILD)
            break;
        nanosleep(&ts, NULL);
    }
    return s->exit_code;
}
