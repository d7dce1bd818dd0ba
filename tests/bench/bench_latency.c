/* sbx-bench-latency: per-action latency of `run` "echo hi" against sbx-server,
 * and the floor: the same command typed straight into a PTY bash.
 *
 *   sbx-bench-latency --port N | --unix PATH  [-n COUNT] [--warmup W] [--no-floor]
 *                     [--host-header HOST] [--header 'Name: value']...  (e.g. through a proxy
 *                     that routes by Host or by headers, as `sbx serve e2b` does)
 *                     [--per-request]  a new connection per action, its connect timed with it
 *                     (a proxy that closes after each answer)
 *   sbx-bench-latency --floor                 [-n COUNT] [--warmup W]
 *   add --floor-ps1 to either: also measure the floor with the stock OpenHands PS1 (two command
 *   substitutions per prompt), i.e. what a server that copies that prompt verbatim cannot beat
 *
 * Server mode: COUNT sequential POST /execute_action over ONE keep-alive HTTP/1.1
 * connection (Content-Length framing), each response checked for status 200,
 * "content":"hi" and "exit_code":0. Floor mode: a persistent `bash --norc --noprofile -i`
 * on a PTY whose PROMPT_COMMAND prints a sentinel line; "echo hi\n" is written to the
 * master and the sentinel awaited. Both print p50/p90/p99/max in microseconds.
 *
 * Output: one line per measurement, `key=value` pairs, so run.sh can parse it:
 *   server n=10000 warmup=200 p50_us=.. p90_us=.. p99_us=.. max_us=.. errors=0
 *   floor  n=10000 warmup=200 p50_us=.. p90_us=.. p99_us=.. max_us=.. errors=0
 *   floorps1 n=.. (with --floor-ps1)
 *   ratio  p50_server_over_floor=..
 * Exit status: 0, or 1 if any action failed its checks, 2 on usage/setup errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define RESP_MAX (1u << 20)
#define IO_TIMEOUT_MS 30000

static const char RUN_BODY[] =
    "{\"action\":{\"action\":\"run\",\"args\":{\"command\":\"echo hi\",\"is_input\":false,"
    "\"thought\":\"\",\"blocking\":false,\"is_static\":false,\"cwd\":null,\"hidden\":false,"
    "\"confirmation_state\":\"confirmed\",\"security_risk\":-1},\"timeout\":120.0}}";

struct opts {
    int port;
    const char *unix_path;
    const char *api_key;
    const char *host;          /* Host header; NULL = 127.0.0.1 */
    const char *headers[8];    /* extra "Name: value" lines */
    int n_headers;
    int per_request;           /* a new connection for every action, timed with it */
    long count;
    long warmup;
    int floor_only;
    int no_floor;
    int floor_ps1;
};

struct stats {
    double p50_us;
    double p90_us;
    double p99_us;
    double max_us;
    long errors;
    long n;
};


/* Nearest-rank percentile of a sorted array. */
static double pct_us(const int64_t *v, long n, double p)
{
    long rank = (long)((p / 100.0) * (double)n + 0.999999);

    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

static void fill_stats(int64_t *lat, long n, long errors, struct stats *st)
{
    memset(st, 0, sizeof(*st));
    st->n = n;
    st->errors = errors;
    if (n <= 0)
        return;
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    st->p50_us = pct_us(lat, n, 50);
    st->p90_us = pct_us(lat, n, 90);
    st->p99_us = pct_us(lat, n, 99);
    st->max_us = (double)lat[n - 1] / 1000.0;
}

static void print_stats(const char *name, const struct stats *st, long warmup)
{
    printf("%-8s n=%ld warmup=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f errors=%ld\n",
           name, st->n, warmup, st->p50_us, st->p90_us, st->p99_us, st->max_us, st->errors);
    fflush(stdout);
}

/* Wait until fd is readable (or writable); -ETIMEDOUT after timeout_ms. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;

    for (;;) {
        rc = poll(&p, 1, timeout_ms);
        if (rc > 0)
            return 0;
        if (rc == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                int rc = wait_fd(fd, POLLOUT, IO_TIMEOUT_MS);

                if (rc < 0)
                    return rc;
                continue;
            }
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Read once (blocking up to IO_TIMEOUT_MS). Returns bytes read, 0 on EOF, -errno. */
static ssize_t read_some(int fd, char *p, size_t cap)
{
    for (;;) {
        ssize_t r = read(fd, p, cap);

        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            int rc = wait_fd(fd, POLLIN, IO_TIMEOUT_MS);

            if (rc < 0)
                return rc;
            continue;
        }
        return -errno;
    }
}

/* ---- server mode ------------------------------------------------------------------------ */

static int connect_server(const struct opts *o)
{
    int fd = -1;
    int rc;

    if (o->unix_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(o->unix_path);

        if (len >= sizeof(sa.sun_path))
            return -ENAMETOOLONG;
        memcpy(sa.sun_path, o->unix_path, len + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            goto fail;
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)o->port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int one = 1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            goto fail;
        /* Header and body go out in one write, but keep Nagle out of the picture anyway. */
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
            goto fail;
    }
    return fd;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

/* Case-insensitive search for a header line "name:" inside the header block [h, end). */
static const char *find_header(const char *h, const char *end, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = h;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            return p;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Does JSON text contain "key" <ws> : <ws> value (value given literally)? Whitespace-tolerant so
 * both compact and Python-style separators pass. */
static int json_has(const char *s, size_t len, const char *key, const char *value)
{
    size_t klen = strlen(key);
    size_t vlen = strlen(value);
    const char *end = s + len;
    const char *p = s;

    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), key, klen);

        if (!q)
            return 0;
        q += klen;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
                q++;
            if ((size_t)(end - q) >= vlen && memcmp(q, value, vlen) == 0)
                return 1;
        }
        p = q;
    }
    return 0;
}

struct conn {
    int fd;
    char *buf; /* bytes received but not yet consumed */
    size_t len;
};

/* Make sure at least `need` bytes are buffered. */
static int conn_fill(struct conn *c, size_t need)
{
    while (c->len < need) {
        ssize_t r;

        if (c->len >= RESP_MAX)
            return -EMSGSIZE;
        r = read_some(c->fd, c->buf + c->len, RESP_MAX - c->len);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -ECONNRESET;
        c->len += (size_t)r;
    }
    return 0;
}

static void conn_consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Decode a chunked body in place at c->buf[off..]; returns body length via *blen and total bytes
 * consumed via *used. Rarely needed (the server should use Content-Length) but cheap to support. */
static int read_chunked(struct conn *c, size_t off, char *out, size_t *blen, size_t *used)
{
    size_t pos = off;
    size_t ol = 0;
    int rc;

    for (;;) {
        char *eol;
        char *end = NULL;
        unsigned long sz;

        for (;;) {
            eol = c->len > pos ? memmem(c->buf + pos, c->len - pos, "\r\n", 2) : NULL;
            if (eol)
                break;
            rc = conn_fill(c, c->len + 1);
            if (rc < 0)
                return rc;
        }
        errno = 0;
        sz = strtoul(c->buf + pos, &end, 16);
        if (errno != 0 || end == c->buf + pos || sz > RESP_MAX)
            return -EPROTO;
        pos = (size_t)(eol - c->buf) + 2;
        if (sz == 0) {
            /* Skip trailers up to the empty line. */
            for (;;) {
                rc = conn_fill(c, pos + 2);
                if (rc < 0)
                    return rc;
                if (memcmp(c->buf + pos, "\r\n", 2) == 0) {
                    pos += 2;
                    break;
                }
                eol = memmem(c->buf + pos, c->len - pos, "\r\n", 2);
                if (eol)
                    pos = (size_t)(eol - c->buf) + 2;
                else {
                    rc = conn_fill(c, c->len + 1);
                    if (rc < 0)
                        return rc;
                }
            }
            break;
        }
        rc = conn_fill(c, pos + sz + 2);
        if (rc < 0)
            return rc;
        if (ol + sz > RESP_MAX)
            return -EMSGSIZE;
        memcpy(out + ol, c->buf + pos, sz);
        ol += sz;
        pos += sz + 2;
    }
    *blen = ol;
    *used = pos;
    return 0;
}

/* Read one response. Returns status (>0) with the body copied to out (length in blen), or -errno when the
 * connection is unusable. *close_after is set when the server asked to close. */
static int read_response(struct conn *c, char *out, size_t *blen, int *close_after)
{
    char *hend = NULL;
    const char *v;
    size_t hlen;
    long status;
    int rc;

    *close_after = 0;
    for (;;) {
        hend = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (hend)
            break;
        rc = conn_fill(c, c->len + 1);
        if (rc < 0)
            return rc;
    }
    hlen = (size_t)(hend - c->buf) + 4;
    if (hlen < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0 || c->buf[8] != ' ')
        return -EPROTO;
    {
        char code[4] = {c->buf[9], c->buf[10], c->buf[11], '\0'};

        if (parse_long(code, 100, 599, &status) < 0)
            return -EPROTO;
    }
    v = find_header(c->buf, hend + 2, "connection");
    if (v && strncasecmp(v, "close", 5) == 0)
        *close_after = 1;
    if (c->buf[7] == '0' && !(v && strncasecmp(v, "keep-alive", 10) == 0))
        *close_after = 1;

    v = find_header(c->buf, hend + 2, "content-length");
    if (v) {
        char *end = NULL;
        unsigned long cl;

        errno = 0;
        cl = strtoul(v, &end, 10);
        if (errno != 0 || end == v || cl > RESP_MAX)
            return -EPROTO;
        rc = conn_fill(c, hlen + cl);
        if (rc < 0)
            return rc;
        memcpy(out, c->buf + hlen, cl);
        *blen = cl;
        conn_consume(c, hlen + cl);
        return (int)status;
    }
    v = find_header(c->buf, hend + 2, "transfer-encoding");
    if (v && strncasecmp(v, "chunked", 7) == 0) {
        size_t used = 0;

        rc = read_chunked(c, hlen, out, blen, &used);
        if (rc < 0)
            return rc;
        conn_consume(c, used);
        return (int)status;
    }
    /* Body delimited by close: not usable for keep-alive. */
    return -EPROTO;
}

static int run_server(const struct opts *o, struct stats *st)
{
    long total = o->warmup + o->count;
    int64_t *lat = NULL;
    char *req = NULL;
    char *body = NULL;
    struct conn c = {.fd = -1};
    size_t req_len;
    long errors = 0;
    long n = 0;
    int printed_err = 0;
    int rc = 0;
    int w;

    lat = calloc((size_t)o->count, sizeof(*lat));
    req = malloc(4096 + sizeof(RUN_BODY));
    body = malloc(RESP_MAX + 1);
    c.buf = malloc(RESP_MAX);
    if (!lat || !req || !body || !c.buf) {
        rc = -ENOMEM;
        goto out;
    }
    {
        char extra[2048] = "";
        size_t el = 0;

        for (int i = 0; i < o->n_headers; i++) {
            int hn = snprintf(extra + el, sizeof(extra) - el, "%s\r\n", o->headers[i]);

            if (hn < 0 || (size_t)hn >= sizeof(extra) - el) {
                rc = -EOVERFLOW;
                goto out;
            }
            el += (size_t)hn;
        }
        w = snprintf(req, 4096 + sizeof(RUN_BODY),
                     "POST /execute_action HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Accept: */*\r\n"
                     "%s%s%s%s"
                     "Content-Length: %zu\r\n"
                     "\r\n"
                     "%s",
                     o->host ? o->host : "127.0.0.1", o->api_key ? "X-Session-API-Key: " : "",
                     o->api_key ? o->api_key : "", o->api_key ? "\r\n" : "", extra,
                     sizeof(RUN_BODY) - 1, RUN_BODY);
    }
    if (w < 0 || (size_t)w >= 4096 + sizeof(RUN_BODY)) {
        rc = -EOVERFLOW;
        goto out;
    }
    req_len = (size_t)w;

    c.fd = connect_server(o);
    if (c.fd < 0) {
        rc = c.fd;
        fprintf(stderr, "sbx-bench-latency: connect: %s\n", strerror(-rc));
        goto out;
    }

    for (long i = 0; i < total; i++) {
        size_t blen = 0;
        int close_after = 0;
        int ok;
        int64_t t0;
        int64_t t1;
        int status;

        t0 = now_ns();
        if (o->per_request && c.fd < 0) {
            c.len = 0;
            c.fd = connect_server(o);
            if (c.fd < 0) {
                rc = c.fd;
                fprintf(stderr, "sbx-bench-latency: connect: %s\n", strerror(-rc));
                errors += total - i;
                break;
            }
        }
        rc = write_all(c.fd, req, req_len);
        status = rc < 0 ? rc : read_response(&c, body, &blen, &close_after);
        t1 = now_ns();
        ok = status == 200;
        if (ok) {
            ok = json_has(body, blen, "\"content\"", "\"hi\"") &&
                 json_has(body, blen, "\"exit_code\"", "0");
        }
        if (!ok) {
            errors++;
            if (printed_err < 3) {
                printed_err++;
                if (status < 0)
                    fprintf(stderr, "sbx-bench-latency: action %ld: %s\n", i, strerror(-status));
                else
                    fprintf(stderr, "sbx-bench-latency: action %ld: status %d body %.*s\n", i,
                            status, (int)(blen > 400 ? 400 : blen), body);
            }
        }
        if (i >= o->warmup)
            lat[n++] = t1 - t0;
        if (o->per_request && status >= 0) {
            close(c.fd);
            c.fd = -1;
            continue;
        }
        if (status < 0 || close_after) {
            /* Connection lost or closed by the server: that breaks keep-alive, which is an
             * error in itself; reconnect so the rest of the run still says something. */
            if (status >= 0) {
                errors++;
                if (printed_err < 3) {
                    printed_err++;
                    fprintf(stderr, "sbx-bench-latency: action %ld: server closed keep-alive\n",
                            i);
                }
            }
            close(c.fd);
            c.len = 0;
            c.fd = connect_server(o);
            if (c.fd < 0) {
                rc = c.fd;
                fprintf(stderr, "sbx-bench-latency: reconnect: %s\n", strerror(-rc));
                errors += total - i - 1;
                break;
            }
        }
    }
    rc = 0;
    fill_stats(lat, n, errors, st);
out:
    if (c.fd >= 0)
        close(c.fd);
    free(c.buf);
    free(body);
    free(req);
    free(lat);
    return rc;
}

/* ---- floor mode ------------------------------------------------------------------------- */

#define FLOOR_TAG "__SBX_FLOOR_"
#define PS1_BEGIN "###PS1JSON###"
#define PS1_END "###PS1END###"
#define PS1_EXIT "\"exit_code\": \""

/* The stock OpenHands prompt (protocol doc 5.1), as bash sees it: its two command substitutions
 * fork on every prompt, which is what --floor-ps1 measures. */
static const char STOCK_PS1[] =
    "PS1=\\n" PS1_BEGIN "\\n{\\n  \"pid\": \"$!\",\\n  \"exit_code\": \"$?\",\\n"
    "  \"username\": \"\\u\",\\n  \"hostname\": \"\\h\",\\n"
    "  \"working_dir\": \"$(pwd)\",\\n"
    "  \"py_interpreter_path\": \"$(which python 2>/dev/null || echo \"\")\"\\n}\\n" PS1_END
    "\\n";

struct floor_sh {
    int stock_ps1; /* 0: PS1='' + sentinel from PROMPT_COMMAND; 1: STOCK_PS1 */
    int master;
    pid_t pid;
    char *buf;
    size_t len;
    size_t cap;
};

static int floor_start(struct floor_sh *f)
{
    static char *const argv[] = {"bash", "--norc", "--noprofile", "-i", NULL};
    struct winsize ws = {.ws_row = 1000, .ws_col = 1000};
    char slave_name[128];
    char path_env[4096];
    char home_env[1024];
    char *envp[8];
    const char *path = getenv("PATH");
    const char *home = getenv("HOME");
    int ne = 0;
    int rc;

    f->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (f->master < 0)
        return -errno;
    if (grantpt(f->master) < 0 || unlockpt(f->master) < 0)
        return -errno;
    rc = ptsname_r(f->master, slave_name, sizeof(slave_name));
    if (rc != 0)
        return -rc;
    if (ioctl(f->master, TIOCSWINSZ, &ws) < 0)
        return -errno;

    /* Build the environment before fork: only async-signal-safe calls in the child. */
    if (snprintf(path_env, sizeof(path_env), "PATH=%s",
                 path ? path : "/usr/local/bin:/usr/bin:/bin") >= (int)sizeof(path_env))
        return -E2BIG;
    if (snprintf(home_env, sizeof(home_env), "HOME=%s", home ? home : "/") >=
        (int)sizeof(home_env))
        return -E2BIG;
    envp[ne++] = path_env;
    envp[ne++] = home_env;
    envp[ne++] = "TERM=xterm";
    envp[ne++] = "PS2=";
    if (f->stock_ps1) {
        envp[ne++] = (char *)STOCK_PS1;
    } else {
        envp[ne++] = "PS1=";
        envp[ne++] = "PROMPT_COMMAND=printf \"\\n" FLOOR_TAG "%s__\\n\" $?";
    }
    envp[ne++] = "HISTFILE=/dev/null";
    envp[ne] = NULL;

    f->pid = fork();
    if (f->pid < 0)
        return -errno;
    if (f->pid == 0) {
        int s;

        if (setsid() < 0)
            _exit(127);
        s = open(slave_name, O_RDWR | O_CLOEXEC); /* dup2 clears it on 0..2 */
        if (s < 0)
            _exit(127);
        if (ioctl(s, TIOCSCTTY, 0) < 0)
            _exit(127);
        if (dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
            _exit(127);
        if (s > 2)
            close(s);
        execve("/bin/bash", argv, envp);
        _exit(127);
    }
    f->cap = 1 << 16;
    f->buf = malloc(f->cap);
    if (!f->buf)
        return -ENOMEM;
    f->len = 0;
    return 0;
}

/* Read until a full sentinel line "__SBX_FLOOR_<code>__\n" is buffered. Returns the exit code it
 * carries (>= 0) and the output before it in [buf, *out_len); the sentinel and what precedes it
 * are dropped from the buffer afterwards by floor_drop(). */
static int floor_wait(struct floor_sh *f, size_t *tag_end, size_t *tag_start)
{
    size_t scan = 0;

    for (;;) {
        char *t = f->len > scan ? memmem(f->buf + scan, f->len - scan, FLOOR_TAG,
                                         sizeof(FLOOR_TAG) - 1)
                                : NULL;

        if (t) {
            char *digits = t + sizeof(FLOOR_TAG) - 1;
            char *nl = memchr(digits, '\n', (size_t)(f->buf + f->len - digits));

            if (nl) {
                long code = 0;
                char *end = NULL;

                errno = 0;
                code = strtol(digits, &end, 10);
                if (end == digits || strncmp(end, "__", 2) != 0) {
                    /* Not ours (e.g. the echo of a typed PROMPT_COMMAND); keep looking. */
                    scan = (size_t)(digits - f->buf);
                    continue;
                }
                *tag_start = (size_t)(t - f->buf);
                *tag_end = (size_t)(nl - f->buf) + 1;
                return (int)code;
            }
            scan = (size_t)(t - f->buf);
        } else if (f->len >= sizeof(FLOOR_TAG)) {
            scan = f->len - sizeof(FLOOR_TAG);
        }
        if (f->len == f->cap) {
            /* Runaway output: keep the tail, the sentinel cannot be split across a drop. */
            size_t keep = 256;

            memmove(f->buf, f->buf + f->len - keep, keep);
            f->len = keep;
            scan = 0;
        }
        {
            ssize_t r = read_some(f->master, f->buf + f->len, f->cap - f->len);

            if (r < 0)
                return (int)r;
            if (r == 0)
                return -EIO;
            f->len += (size_t)r;
        }
    }
}

/* Same contract as floor_wait, for the stock prompt: a complete PS1JSON..PS1END block. */
static int floor_wait_ps1(struct floor_sh *f, size_t *tag_end, size_t *tag_start)
{
    for (;;) {
        char *e = f->len ? memmem(f->buf, f->len, PS1_END, sizeof(PS1_END) - 1) : NULL;
        char *nl = e ? memchr(e, '\n', (size_t)(f->buf + f->len - e)) : NULL;

        if (nl) {
            char *b = NULL;
            char *x;
            char *end = NULL;
            long code;

            /* The last block start before the end marker. */
            for (x = f->buf; x < e;) {
                char *y = memmem(x, (size_t)(e - x), PS1_BEGIN, sizeof(PS1_BEGIN) - 1);

                if (!y)
                    break;
                b = y;
                x = y + 1;
            }
            if (!b)
                return -EPROTO;
            x = memmem(b, (size_t)(e - b), PS1_EXIT, sizeof(PS1_EXIT) - 1);
            if (!x)
                return -EPROTO;
            x += sizeof(PS1_EXIT) - 1;
            code = strtol(x, &end, 10);
            if (end == x)
                return -EPROTO;
            *tag_start = (size_t)(b - f->buf);
            *tag_end = (size_t)(nl - f->buf) + 1;
            return (int)code;
        }
        if (f->len == f->cap)
            return -EMSGSIZE;
        {
            ssize_t r = read_some(f->master, f->buf + f->len, f->cap - f->len);

            if (r < 0)
                return (int)r;
            if (r == 0)
                return -EIO;
            f->len += (size_t)r;
        }
    }
}

static int floor_next(struct floor_sh *f, size_t *tag_end, size_t *tag_start)
{
    if (f->stock_ps1)
        return floor_wait_ps1(f, tag_end, tag_start);
    return floor_wait(f, tag_end, tag_start);
}

static void floor_drop(struct floor_sh *f, size_t n)
{
    memmove(f->buf, f->buf + n, f->len - n);
    f->len -= n;
}

static void floor_stop(struct floor_sh *f)
{
    if (f->pid > 0) {
        int status;
        int i;

        (void)write_all(f->master, "exit\n", 5);
        for (i = 0; i < 200; i++) {
            if (waitpid(f->pid, &status, WNOHANG) == f->pid)
                break;
            usleep(5000);
        }
        if (i == 200) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
        }
        f->pid = -1;
    }
    if (f->master >= 0)
        close(f->master);
    f->master = -1;
    free(f->buf);
    f->buf = NULL;
}

/* A line that is exactly "hi" (the command's echo is "echo hi", so it does not count). Terminal
 * escapes such as bracketed-paste toggles end in '\r' or precede it, hence both separators. */
static int has_hi_line(const char *p, size_t len)
{
    const char *end = p + len;
    const char *q = p;

    while (q < end) {
        const char *h = memmem(q, (size_t)(end - q), "hi\r\n", 4);

        if (!h)
            return 0;
        if (h == p || h[-1] == '\n' || h[-1] == '\r')
            return 1;
        q = h + 1;
    }
    return 0;
}

static int run_floor(const struct opts *o, int stock_ps1, struct stats *st)
{
    struct floor_sh f = {.stock_ps1 = stock_ps1, .master = -1, .pid = -1};
    long total = o->warmup + o->count;
    int64_t *lat = NULL;
    size_t ts = 0;
    size_t te = 0;
    long errors = 0;
    long n = 0;
    int printed_err = 0;
    int rc;

    lat = calloc((size_t)o->count, sizeof(*lat));
    if (!lat) {
        rc = -ENOMEM;
        goto out;
    }
    rc = floor_start(&f);
    if (rc < 0) {
        fprintf(stderr, "sbx-bench-latency: floor: start bash: %s\n", strerror(-rc));
        goto out;
    }
    /* The first prompt. */
    rc = floor_next(&f, &te, &ts);
    if (rc < 0) {
        fprintf(stderr, "sbx-bench-latency: floor: no first prompt: %s\n", strerror(-rc));
        goto out;
    }
    floor_drop(&f, te);

    for (long i = 0; i < total; i++) {
        int64_t t0 = now_ns();
        int code;

        rc = write_all(f.master, "echo hi\n", 8);
        if (rc < 0)
            goto out;
        code = floor_next(&f, &te, &ts);
        if (code < 0) {
            rc = code;
            fprintf(stderr, "sbx-bench-latency: floor: action %ld: %s\n", i, strerror(-rc));
            goto out;
        }
        if (i >= o->warmup)
            lat[n++] = now_ns() - t0;
        /* Output before the sentinel must hold a line "hi" (besides the echoed command). */
        if (code != 0 || !has_hi_line(f.buf, ts)) {
            errors++;
            if (printed_err < 3) {
                printed_err++;
                fprintf(stderr, "sbx-bench-latency: floor: action %ld: exit %d output %.*s\n", i,
                        code, (int)(ts > 200 ? 200 : ts), f.buf);
            }
        }
        floor_drop(&f, te);
    }
    rc = 0;
    fill_stats(lat, n, errors, st);
out:
    floor_stop(&f);
    free(lat);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: sbx-bench-latency (--port N | --unix PATH) [-n COUNT] [--warmup W] "
                "[--no-floor]\n"
                "         [--host-header HOST] [--header 'Name: value']... [--per-request]\n"
                "       sbx-bench-latency --floor [-n COUNT] [--warmup W]\n"
                "  --floor-ps1: also measure the floor with the stock OpenHands PS1\n"
                "  env SESSION_API_KEY, if set, is sent as X-Session-API-Key\n");
}

int main(int argc, char **argv)
{
    struct opts o = {.count = 10000, .warmup = 200};
    struct stats srv = {0};
    struct stats flr = {0};
    int have_srv = 0;
    int have_flr = 0;
    int rc;
    long v;

    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--port") == 0 && next) {
            if (parse_long(next, 1, 65535, &v) < 0)
                goto bad;
            o.port = (int)v;
            i++;
        } else if (strcmp(a, "--unix") == 0 && next) {
            o.unix_path = next;
            i++;
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "--count") == 0) && next) {
            if (parse_long(next, 1, 100000000, &v) < 0)
                goto bad;
            o.count = v;
            i++;
        } else if (strcmp(a, "--warmup") == 0 && next) {
            if (parse_long(next, 0, 100000000, &v) < 0)
                goto bad;
            o.warmup = v;
            i++;
        } else if (strcmp(a, "--host-header") == 0 && next) {
            o.host = next;
            i++;
        } else if (strcmp(a, "--header") == 0 && next) {
            if (o.n_headers == 8 || !strchr(next, ':'))
                goto bad;
            o.headers[o.n_headers++] = next;
            i++;
        } else if (strcmp(a, "--per-request") == 0) {
            o.per_request = 1;
        } else if (strcmp(a, "--floor") == 0) {
            o.floor_only = 1;
        } else if (strcmp(a, "--floor-ps1") == 0) {
            o.floor_ps1 = 1;
        } else if (strcmp(a, "--no-floor") == 0) {
            o.no_floor = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            goto bad;
        }
    }
    if (!o.port && !o.unix_path) {
        if (!o.floor_only && !o.floor_ps1)
            goto bad;
        o.floor_only = 1;
    }
    {
        const char *k = getenv("SESSION_API_KEY");

        if (k && *k)
            o.api_key = k;
    }

    if (!o.floor_only) {
        rc = run_server(&o, &srv);
        if (rc < 0)
            return 2;
        have_srv = 1;
        print_stats("server", &srv, o.warmup);
    }
    if (!o.no_floor) {
        rc = run_floor(&o, 0, &flr);
        if (rc < 0)
            return 2;
        have_flr = 1;
        print_stats("floor", &flr, o.warmup);
    }
    if (o.floor_ps1) {
        struct stats ps1 = {0};

        rc = run_floor(&o, 1, &ps1);
        if (rc < 0)
            return 2;
        print_stats("floorps1", &ps1, o.warmup);
        if (ps1.errors)
            flr.errors += ps1.errors;
    }
    if (have_srv && have_flr && flr.p50_us > 0)
        printf("ratio  p50_server_over_floor=%.2f\n", srv.p50_us / flr.p50_us);
    return (srv.errors || flr.errors) ? 1 : 0;
bad:
    usage(stderr);
    return 2;
}
