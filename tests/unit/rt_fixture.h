/*
 * Test fixtures shared by test_http_client.c and test_runtime_client.c: a
 * real sbx-server started on a unix socket or on TCP port 0, and a tiny
 * fork()ed fake HTTP server that plays a script (a status and a body per
 * request, or a dropped / slow answer) and logs what it received.
 * Header-only on purpose: it is not a test of its own.
 */
#ifndef SBX_TESTS_RT_FIXTURE_H
#define SBX_TESTS_RT_FIXTURE_H

/* Each test file uses a different subset. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- temporary directories ------------------------------------------------ */

static int rmrf_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

static void rmrf(const char *dir)
{
    nftw(dir, rmrf_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/sbx-rt-test-XXXXXX";
    char *d = mkdtemp(tmpl);

    return d ? strdup(d) : NULL;
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror("write");
        close(fd);
    }
}

/* The whole file as a heap string (NULL when unreadable). */
static char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0, cap = 4096;
    char *s;
    ssize_t n;

    if (fd < 0)
        return NULL;
    s = malloc(cap + 1);
    while (s && (n = read(fd, s + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            char *ns = realloc(s, (cap *= 2) + 1);

            if (!ns) {
                free(s);
                s = NULL;
            }
            s = ns;
        }
    }
    close(fd);
    if (s)
        s[len] = '\0';
    return s;
}

/* Open descriptors of this process (for the no-leak check at exit). */
static int count_fds(void)
{
    DIR *dp = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    if (!dp)
        return -1;
    while ((de = readdir(dp)))
        n += de->d_name[0] != '.';
    closedir(dp);
    return n;
}

/* ---- a real sbx-server ---------------------------------------------------- */

struct real_srv {
    pid_t pid;
    char *dir;        /* temp dir: ws/ is the working dir, srv.sock the socket */
    char ws[512];
    int port;         /* TCP, or 0 */
    char sock[512];   /* unix socket path, or "" */
    char url[64];
};

/* Starts sbx-server as root in a temp dir; api_key NULL = no key. */
static int real_srv_start(struct real_srv *s, bool on_unix, const char *api_key)
{
    int out[2];
    char line[1024];
    size_t len = 0;
    char *p;

    memset(s, 0, sizeof(*s));
    s->dir = make_tmpdir();
    if (!s->dir)
        return -1;
    snprintf(s->ws, sizeof(s->ws), "%s/ws", s->dir);
    mkdir(s->ws, 0755);
    if (pipe2(out, O_CLOEXEC) < 0)
        return -1;
    s->pid = fork();
    if (s->pid == 0) {
        char sock[600];
        const char *argv[12];
        int i = 0;

        snprintf(sock, sizeof(sock), "%s/srv.sock", s->dir);
        dup2(out[1], 1);
        argv[i++] = SBX_TEST_SERVER_BIN;
        argv[i++] = "0";
        argv[i++] = "--working-dir";
        argv[i++] = s->ws;
        argv[i++] = "--username";
        argv[i++] = "root";
        argv[i++] = "--user-id";
        argv[i++] = "0";
        if (on_unix) {
            argv[i++] = "--unix";
            argv[i++] = sock;
        }
        argv[i] = NULL;
        if (api_key)
            setenv("SESSION_API_KEY", api_key, 1);
        else
            unsetenv("SESSION_API_KEY");
        setenv("NO_CHANGE_TIMEOUT_SECONDS", "2", 1);
        setsid();
        /* A failed assertion skips the stop: die with the test anyway. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    if (s->pid < 0) {
        close(out[0]);
        return -1;
    }
    /* The first line that says where it listens. */
    for (;;) {
        ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);

        if (n <= 0)
            break;
        len += (size_t)n;
        line[len] = '\0';
        if (strchr(line, '\n'))
            break;
    }
    close(out[0]);
    line[len] = '\0';
    p = strstr(line, "listening on ");
    if (!p)
        return -1;
    p += strlen("listening on ");
    p[strcspn(p, "\n")] = '\0';
    if (strncmp(p, "unix:", 5) == 0) {
        snprintf(s->sock, sizeof(s->sock), "%s", p + 5);
    } else {
        char *colon = strrchr(p, ':');

        s->port = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
        snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
    }
    return 0;
}

static void real_srv_stop(struct real_srv *s)
{
    int st;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
    if (s->dir) {
        rmrf(s->dir);
        free(s->dir);
        s->dir = NULL;
    }
}

/* ---- a fake server -------------------------------------------------------- */

enum fake_how {
    FAKE_ANSWER,  /* status + body */
    FAKE_ANSWER_CLOSE, /* the same, then close the connection */
    FAKE_DROP,    /* headers announcing more than is sent, then close */
    FAKE_EMPTY,   /* close without a byte */
    FAKE_SLOW,    /* wait 3 s before answering */
    FAKE_BIG,     /* status 200 and `size` bytes of a pattern */
    FAKE_BIG_HEADERS, /* status 200, an empty body, and about `size` bytes of headers */
};

struct fake_step {
    enum fake_how how;
    int status;
    const char *body;
    size_t size;
};

struct fake_srv {
    pid_t pid;
    int port;
    char *dir;
    char log[512];  /* every request received: head, blank line, body, "\n--\n" */
};

static char fake_pattern(size_t i)
{
    return (char)('a' + (i * 7 + i / 251) % 26);
}

static void fake_send(int c, const void *p, size_t n)
{
    while (n) {
        ssize_t w = send(c, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

/* Reads one request (head + Content-Length body) and appends it to the log.
 * Returns 0, or -1 when the peer closed. */
static int fake_read_req(int c, int logfd)
{
    char buf[65536];
    size_t len = 0, want = 0;
    char *end = NULL;

    for (;;) {
        ssize_t n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);

        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (!end) {
            end = strstr(buf, "\r\n\r\n");
            if (end) {
                char *cl = strcasestr(buf, "\r\ncontent-length:");

                want = (size_t)(end - buf) + 4;
                if (cl && cl < end)
                    want += (size_t)strtoul(cl + 17, NULL, 10);
                if (strcasestr(buf, "\r\nexpect: 100-continue") &&
                    strcasestr(buf, "\r\nexpect: 100-continue") < end)
                    fake_send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            }
        }
        if (end && len >= want)
            break;
        if (len == sizeof(buf) - 1) {
            /* A big body: log the head only and drain the rest. */
            if (write(logfd, buf, len) < 0)
                return -1;
            while (len < want) {
                n = recv(c, buf, sizeof(buf) < want - len ? sizeof(buf) : want - len, 0);
                if (n <= 0)
                    return -1;
                len += (size_t)n;
            }
            if (write(logfd, "\n--\n", 4) < 0)
                return -1;
            return 0;
        }
    }
    if (write(logfd, buf, len) < 0 || write(logfd, "\n--\n", 4) < 0)
        return -1;
    return 0;
}

static void fake_serve(int ls, int logfd, const struct fake_step *steps, size_t n)
{
    size_t i = 0;

    while (i < n) {
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

        if (c < 0)
            _exit(1);
        while (i < n) {
            const struct fake_step *s = &steps[i++];
            char head[256];
            int hl;

            if (fake_read_req(c, logfd) < 0) {
                i--; /* the client closed an idle connection */
                break;
            }
            if (s->how == FAKE_EMPTY)
                break;
            if (s->how == FAKE_DROP) {
                hl = snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: 100\r\n\r\n{\"content\":");
                fake_send(c, head, (size_t)hl);
                break;
            }
            if (s->how == FAKE_SLOW)
                sleep(3);
            if (s->how == FAKE_BIG_HEADERS) {
                char line[1024];
                size_t sent = 0, k = 0;

                fake_send(c, "HTTP/1.1 200 OK\r\n", 17);
                while (sent < s->size) {
                    hl = snprintf(line, sizeof(line), "X-Pad-%zu: %0*d\r\n", k++, 990, 0);
                    fake_send(c, line, (size_t)hl);
                    sent += (size_t)hl;
                }
                fake_send(c, "Content-Length: 0\r\n\r\n", 21);
                continue;
            }
            if (s->how == FAKE_BIG) {
                char chunk[4096];
                size_t off = 0;

                hl = snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", s->size);
                fake_send(c, head, (size_t)hl);
                while (off < s->size) {
                    size_t k = s->size - off < sizeof(chunk) ? s->size - off : sizeof(chunk);

                    for (size_t j = 0; j < k; j++)
                        chunk[j] = fake_pattern(off + j);
                    fake_send(c, chunk, k);
                    off += k;
                }
                continue;
            }
            hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                          "X-Next-Token: tok-%zu\r\nContent-Length: %zu\r\n\r\n",
                          s->status, i, strlen(s->body));
            fake_send(c, head, (size_t)hl);
            fake_send(c, s->body, strlen(s->body));
            if (s->how == FAKE_ANSWER_CLOSE)
                break;
        }
        close(c);
    }
}

static int fake_srv_start(struct fake_srv *f, const struct fake_step *steps, size_t n)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int ls, logfd;

    memset(f, 0, sizeof(*f));
    f->dir = make_tmpdir();
    if (!f->dir)
        return -1;
    snprintf(f->log, sizeof(f->log), "%s/requests.log", f->dir);
    logfd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0 || logfd < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(ls, 16) < 0 || getsockname(ls, (struct sockaddr *)&a, &al) < 0)
        return -1;
    f->port = ntohs(a.sin_port);
    f->pid = fork();
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(120); /* and never outlive a stuck test */
        fake_serve(ls, logfd, steps, n);
        _exit(0);
    }
    close(ls);
    close(logfd);
    return f->pid < 0 ? -1 : 0;
}

/* How many requests the fake server received so far. */
static int fake_srv_count(const struct fake_srv *f)
{
    char *s = read_text(f->log);
    int n = 0;

    for (const char *p = s; p && (p = strstr(p, "\n--\n")); p += 4)
        n++;
    free(s);
    return n;
}

static void fake_srv_stop(struct fake_srv *f)
{
    int st;

    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, &st, 0);
        f->pid = 0;
    }
    if (f->dir) {
        rmrf(f->dir);
        free(f->dir);
        f->dir = NULL;
    }
}

#endif
