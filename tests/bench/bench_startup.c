/* sbx-bench-startup: time from fork/exec of sbx-server to its first 200 on GET /alive.
 *
 *   sbx-bench-startup [--runs N] [--timeout-ms T] [--verbose] -- SERVER [ARGS...]
 *
 * Each run forks and execs SERVER ARGS (in its own process group, stdout on a pipe, stderr to
 * /dev/null unless --verbose), reads stdout until the line `sbx-server listening on <host>:<port>`
 * (the port is usually 0 on the command line, so this line is the only way to learn it), then
 * connects to /alive every 1 ms until it answers 200. The server's process group is then
 * terminated (SIGTERM, SIGKILL after 2 s) before the next run.
 *
 * Output (key=value, parsed by run.sh):
 *   startup runs=20 median_ms=.. min_ms=.. max_ms=.. listen_line_median_ms=.. failures=0
 * Exit status: 0, 1 if any run failed, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define LISTEN_PREFIX "sbx-server listening on "


static double median_ms(int64_t *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    if (n % 2)
        return (double)v[n / 2] / 1e6;
    return ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2e6;
}

/* One GET /alive on a fresh connection. Returns 1 on 200, 0 on any other answer or connection
 * failure (server not ready yet), never blocks longer than ~1 s. */
static int alive_once(const struct in_addr *addr, int port)
{
    static const char req[] = "GET /alive HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char buf[64];
    size_t got = 0;
    int ok = 0;
    int fd;

    sa.sin_addr = *addr;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto out;
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
        goto out;
    while (got < 12) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&p, 1, 1000) <= 0)
            goto out;
        r = read(fd, buf + got, sizeof(buf) - got);
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    ok = memcmp(buf, "HTTP/1.", 7) == 0 && memcmp(buf + 8, " 200", 4) == 0;
out:
    close(fd);
    return ok;
}

/* Descendants of root, from /proc (the server's bash may sit in its own session, outside our
 * process group). Fills out[] (up to cap) and returns the count; best effort. */
static int descendants(pid_t root, pid_t *out, int cap)
{
    pid_t *pids = NULL;
    pid_t *ppids = NULL;
    struct dirent *de;
    DIR *d = NULL;
    size_t n = 0;
    size_t alloc = 0;
    int found = 0;

    d = opendir("/proc");
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char path[64];
        char buf[512];
        char *rp;
        long pid;
        long ppid;
        FILE *fp;

        if (parse_long(de->d_name, 1, INT32_MAX, &pid) < 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        fp = fopen(path, "re");
        if (!fp)
            continue;
        rp = fgets(buf, sizeof(buf), fp);
        fclose(fp);
        if (!rp)
            continue;
        rp = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
        if (!rp || sscanf(rp, ") %*c %ld", &ppid) != 1)
            continue;
        if (n == alloc) {
            size_t na = alloc ? alloc * 2 : 1024;
            pid_t *np = realloc(pids, na * sizeof(*np));
            pid_t *npp;

            if (!np)
                break;
            pids = np;
            npp = realloc(ppids, na * sizeof(*npp));
            if (!npp)
                break;
            ppids = npp;
            alloc = na;
        }
        pids[n] = (pid_t)pid;
        ppids[n] = (pid_t)ppid;
        n++;
    }
    closedir(d);
    /* Breadth-first: out[] doubles as the queue. */
    if (cap > 0)
        out[found++] = root;
    for (int q = 0; q < found; q++) {
        for (size_t i = 0; i < n && found < cap; i++) {
            if (ppids[i] == out[q])
                out[found++] = pids[i];
        }
    }
    free(pids);
    free(ppids);
    return found > 0 ? found - 1 : 0;
}

static void stop_group(pid_t pid)
{
    pid_t kids[256];
    int nkids;
    int status;
    int i;

    if (pid <= 0)
        return;
    nkids = descendants(pid, kids, 256);
    kill(-pid, SIGTERM);
    for (i = 0; i < 400; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        usleep(5000);
    }
    if (i == 400) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    /* Whatever is left (a bash the server forgot, in our group or its own session) goes too. */
    kill(-pid, SIGKILL);
    for (i = 1; i <= nkids; i++)
        kill(kids[i], SIGKILL);
}

/* Reads the child's stdout until the listening line; fills addr/port. */
static int read_listen_line(int fd, int64_t deadline_ns, struct in_addr *addr, int *port)
{
    char buf[4096];
    size_t len = 0;

    for (;;) {
        char *line = NULL;
        char *nl = NULL;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left_ms = (deadline_ns - now_ns()) / 1000000;
        ssize_t r;

        while (len > 0) {
            nl = memchr(buf, '\n', len);
            if (!nl)
                break;
            *nl = '\0';
            line = strstr(buf, LISTEN_PREFIX);
            if (line) {
                char *host = line + sizeof(LISTEN_PREFIX) - 1;
                char *colon = strrchr(host, ':');
                long v;

                if (!colon)
                    return -EPROTO;
                *colon = '\0';
                if (colon[1] && colon[strlen(colon + 1)] == '\r')
                    colon[strlen(colon + 1)] = '\0';
                if (parse_long(colon + 1, 1, 65535, &v) < 0)
                    return -EPROTO;
                *port = (int)v;
                if (host[0] == '[' || inet_pton(AF_INET, host, addr) != 1 ||
                    addr->s_addr == htonl(INADDR_ANY))
                    addr->s_addr = htonl(INADDR_LOOPBACK);
                return 0;
            }
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len);
        }
        if (len == sizeof(buf))
            len = 0;
        if (left_ms <= 0)
            return -ETIMEDOUT;
        r = poll(&p, 1, (int)left_ms);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            continue;
        r = read(fd, buf + len, sizeof(buf) - len);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r == 0)
            return -ECONNRESET; /* server exited or closed stdout before saying where it listens */
        if (r > 0)
            len += (size_t)r;
    }
}

/* One start. Returns 0 and the two durations, or -errno. */
static int one_run(char **argv, int verbose, int64_t timeout_ns, int64_t *listen_ns,
                   int64_t *alive_ns)
{
    struct in_addr addr = {0};
    int pfd[2] = {-1, -1};
    int port = 0;
    pid_t pid = -1;
    int64_t t0;
    int64_t deadline;
    int rc;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    t0 = now_ns();
    deadline = t0 + timeout_ns;
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {
        int devnull;

        setpgid(0, 0);
        if (dup2(pfd[1], 1) < 0)
            _exit(127);
        if (!verbose) {
            devnull = open("/dev/null", O_WRONLY | O_CLOEXEC); /* dup2 clears CLOEXEC on 2 */
            if (devnull >= 0)
                dup2(devnull, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid); /* both sides, so the group exists whoever runs first */
    close(pfd[1]);
    pfd[1] = -1;

    rc = read_listen_line(pfd[0], deadline, &addr, &port);
    if (rc < 0) {
        fprintf(stderr, "sbx-bench-startup: no '%s<host>:<port>' line on stdout: %s\n",
                LISTEN_PREFIX, strerror(-rc));
        goto out;
    }
    *listen_ns = now_ns() - t0;
    for (;;) {
        if (alive_once(&addr, port))
            break;
        if (now_ns() > deadline) {
            rc = -ETIMEDOUT;
            fprintf(stderr, "sbx-bench-startup: /alive never answered 200 on port %d\n", port);
            goto out;
        }
        usleep(1000);
    }
    *alive_ns = now_ns() - t0;
    rc = 0;
out:
    stop_group(pid);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    return rc;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: sbx-bench-startup [--runs N] [--timeout-ms T] [--verbose] -- SERVER "
                "[ARGS...]\n");
}

int main(int argc, char **argv)
{
    int64_t *alive = NULL;
    int64_t *listen = NULL;
    int64_t min_ns = INT64_MAX;
    int64_t max_ns = 0;
    long runs = 20;
    long timeout_ms = 10000;
    int verbose = 0;
    int failures = 0;
    int ok = 0;
    int i;
    long v;

    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], 1, 100000, &v) < 0)
                goto bad;
            runs = v;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], 1, 3600000, &v) < 0)
                goto bad;
            timeout_ms = v;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            goto bad;
        }
    }
    if (i >= argc)
        goto bad;

    alive = calloc((size_t)runs, sizeof(*alive));
    listen = calloc((size_t)runs, sizeof(*listen));
    if (!alive || !listen) {
        fprintf(stderr, "sbx-bench-startup: out of memory\n");
        return 2;
    }
    for (long r = 0; r < runs; r++) {
        int64_t l = 0;
        int64_t a = 0;

        if (one_run(argv + i, verbose, timeout_ms * 1000000, &l, &a) < 0) {
            failures++;
            /* A server that never comes up will not come up on the next try either. */
            if (failures >= 3 && ok == 0)
                break;
            continue;
        }
        listen[ok] = l;
        alive[ok] = a;
        ok++;
        if (a < min_ns)
            min_ns = a;
        if (a > max_ns)
            max_ns = a;
    }
    if (ok == 0)
        min_ns = 0;
    printf("startup runs=%d median_ms=%.2f min_ms=%.2f max_ms=%.2f listen_line_median_ms=%.2f "
           "failures=%d\n",
           ok, median_ms(alive, ok), (double)min_ns / 1e6, (double)max_ns / 1e6,
           median_ms(listen, ok), failures);
    free(alive);
    free(listen);
    return failures ? 1 : 0;
bad:
    usage(stderr);
    return 2;
}
