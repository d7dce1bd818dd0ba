/*
 * sbx shell: an interactive terminal inside a sandbox. A pty pair is made
 * here; its slave is the command's stdin/stdout/stderr (a one-off process
 * through the provider, tty=true), and a relay thread copies between our
 * terminal (in raw mode) and the master while the provider's exec call
 * waits for the command. SIGWINCH is forwarded as TIOCSWINSZ on the master.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_OPTS_END,
};

/* Signal handlers can only reach file-scope state: the terminal settings to
 * restore and the write end of the SIGWINCH self-pipe. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;
static volatile sig_atomic_t winch_fd = -1;

static void on_winch(int sig)
{
    int e = errno;
    char b = 0;

    (void)sig;
    if (winch_fd >= 0 && write(winch_fd, &b, 1) < 0) {
        /* full pipe: a resize is already pending */
    }
    errno = e;
}

/* SIGTERM, SIGHUP, SIGQUIT: put the terminal back, then die of the signal. */
static void on_fatal(int sig)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void restore_tty(void)
{
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
        tio_saved = 0;
    }
}

static int raw_tty(void)
{
    struct termios t;

    if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
        return -errno;
    tio_saved = 1;
    t = saved_tio;
    cfmakeraw(&t);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
        return -errno;
    return 0;
}

static void copy_winsize(int master)
{
    struct winsize ws;

    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        ioctl(master, TIOCSWINSZ, &ws);
}

struct relay {
    int master;
    int winch_rd;
    int stop_rd;
};

/* Copies what is readable on from to to; returns false at EOF or error
 * (EIO on a master whose slaves are all closed). */
static bool pump(int from, int to)
{
    char buf[16384];
    ssize_t n = sbx_fd_read(from, buf, sizeof(buf));

    if (n == -EAGAIN)
        return true;
    if (n <= 0)
        return false;
    return sbx_fd_write_all(to, buf, (size_t)n) == 0;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    struct pollfd pf[4] = {
        {.fd = STDIN_FILENO, .events = POLLIN},
        {.fd = r->master, .events = POLLIN},
        {.fd = r->winch_rd, .events = POLLIN},
        {.fd = r->stop_rd, .events = POLLIN},
    };
    char drain[64];

    for (;;) {
        if (poll(pf, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[0].revents && !pump(STDIN_FILENO, r->master))
            pf[0].fd = -1; /* our stdin is gone: stop reading it */
        if (pf[1].revents && !pump(r->master, STDOUT_FILENO))
            pf[1].fd = -1;
        if (pf[2].revents) {
            while (read(r->winch_rd, drain, sizeof(drain)) > 0) {
            }
            copy_winsize(r->master);
        }
        if (pf[3].revents)
            break;
    }
    /* The command is done: what it wrote last is still in the master. */
    sbx_fd_set_nonblock(r->master, 1);
    while (pf[1].fd >= 0) {
        char buf[16384];
        ssize_t n = sbx_fd_read(r->master, buf, sizeof(buf));

        if (n <= 0 || sbx_fd_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
            break;
    }
    return NULL;
}

static int open_pty(int *master, int *slave, struct sbx_err *err)
{
    char name[128];

    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return sbx_err_set(err, -errno, "posix_openpt: %s", strerror(errno));
    if (grantpt(*master) < 0 || unlockpt(*master) < 0 ||
        ptsname_r(*master, name, sizeof(name)) != 0)
        return sbx_err_set(err, -errno, "pty setup: %s", strerror(errno));
    *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0)
        return sbx_err_set(err, -errno, "open %s: %s", name, strerror(errno));
    return 0;
}

static const char *const default_argv[] = {
    "/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l", NULL};

/* Runs argv on a pty in the sandbox while relaying our terminal; returns
 * 0 with *res filled or a negative errno with err. */
static int run_on_pty(struct sbx_provider *p, const char *id, const char *const *argv,
                      struct sbx_exec_result *res, struct sbx_err *err)
{
    struct sigaction sa_winch = {.sa_handler = on_winch}, sa_fatal = {.sa_handler = on_fatal};
    struct sigaction old_winch, old_term, old_hup, old_quit;
    struct sbx_buf term = SBX_BUF_INIT;
    const char *tenv[2] = {NULL, NULL};
    int master = -1, slave = -1, winch[2] = {-1, -1}, stop[2] = {-1, -1};
    struct relay r;
    pthread_t th;
    int rc;

    rc = open_pty(&master, &slave, err);
    if (rc < 0)
        goto out;
    if (pipe2(winch, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(stop, O_CLOEXEC) < 0) {
        rc = sbx_err_set(err, -errno, "pipe2: %s", strerror(errno));
        goto out;
    }
    copy_winsize(master);
    sbx_buf_addf(&term, "TERM=%s", getenv("TERM") ? getenv("TERM") : "xterm");
    tenv[0] = term.ptr;
    winch_fd = winch[1];
    sigaction(SIGWINCH, &sa_winch, &old_winch);
    sigaction(SIGTERM, &sa_fatal, &old_term);
    sigaction(SIGHUP, &sa_fatal, &old_hup);
    sigaction(SIGQUIT, &sa_fatal, &old_quit);
    rc = raw_tty();
    if (rc < 0) {
        sbx_err_set(err, rc, "raw terminal mode: %s", strerror(-rc));
        goto restore;
    }
    r = (struct relay){.master = master, .winch_rd = winch[0], .stop_rd = stop[0]};
    rc = -pthread_create(&th, NULL, relay_main, &r);
    if (rc < 0) {
        sbx_err_set(err, rc, "pthread_create: %s", strerror(-rc));
        goto restore;
    }
    {
        struct sbx_exec_req req = {
            .argv = argv,
            .env = tenv,
            .stdin_fd = slave,
            .stdout_fd = slave,
            .stderr_fd = slave,
            .tty = true,
        };

        rc = sbx_provider_exec(p, id, &req, res, err);
    }
    /* Only the command's copies of the slave are left now: once they are
     * closed the relay drains the master and stops. */
    sbx_fd_close(slave);
    slave = -1;
    /* An empty pipe takes one byte: the write cannot block or fail. */
    (void)!sbx_fd_write_all(stop[1], "x", 1);
    pthread_join(th, NULL);
restore:
    restore_tty();
    sigaction(SIGWINCH, &old_winch, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    winch_fd = -1;
out:
    sbx_buf_free(&term);
    sbx_fd_close(slave);
    sbx_fd_close(master);
    sbx_fd_close(winch[0]);
    sbx_fd_close(winch[1]);
    sbx_fd_close(stop[0]);
    sbx_fd_close(stop[1]);
    return rc;
}

static int shell_main(struct sbx_cli *c, int argc, char **argv)
{
    struct sbx_cli_plain o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info info = {0};
    struct sbx_exec_result res = {0};
    struct sbx_err err = {0};
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_shell, argc, argv, opts, 1, sbx_cli_plain_opt, &o, &o.help,
                           &args);
    if (rc >= 0)
        goto out;
    if (args.n_pos == 0) {
        rc = sbx_cli_usage(c, "missing sandbox id");
        goto out;
    }
    if (!isatty(STDIN_FILENO)) {
        rc = sbx_cli_usage(c, "stdin is not a terminal");
        goto out;
    }
    rc = sbx_cli_open_running(c, args.pos[0], &p, &info);
    if (rc != 0)
        goto out;
    fflush(stdout);
    rc = run_on_pty(p, info.id, args.n_rest ? (const char *const *)args.rest : default_argv, &res,
                    &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, "shell");
        goto out;
    }
    rc = res.exit_code;
out:
    sbx_exec_result_release(&res);
    sbx_sandbox_info_free(&info);
    sbx_provider_close(p);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_shell = {
    "shell",
    "open an interactive terminal in a sandbox",
    "usage: sbx shell ID [-- COMMAND...]\n"
    "\n"
    "Starts an interactive terminal in the sandbox: 'bash -l' (or 'sh' where there\n"
    "is no bash), or COMMAND (an argv, no shell) on a terminal of its own. Your\n"
    "terminal is put in raw mode (keys such as Ctrl-C go to the sandbox) and is\n"
    "restored on exit; window size changes are forwarded. This is a new process,\n"
    "not the bash session of 'sbx exec'. Leave with 'exit' or Ctrl-D.\n"
    "\n"
    "exit: the shell's code; 1 no such sandbox, or it is dead or paused; 2 usage\n"
    "(also 'sbx shell: stdin is not a terminal'); 3 the provider failed.\n"
    "example: sbx shell dev\n",
    shell_main,
};
