/*
 * sbx-server's watch mode (watch.h): inotify on a directory (and, with
 * --recursive, on every directory under it, new ones included), printed as
 * lines. The kinds follow fsnotify's mapping, which envd uses: IN_CREATE and
 * IN_MOVED_TO create, IN_MOVED_FROM and IN_MOVE_SELF rename, IN_ATTRIB
 * chmod, IN_MODIFY write, IN_DELETE and IN_DELETE_SELF remove.
 */
#include "server/watch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "server/users.h"

#define WATCH_MASK                                                                            \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_MOVE_SELF | IN_ATTRIB | IN_MODIFY |         \
     IN_DELETE | IN_DELETE_SELF)

struct wdir {
    int wd;
    char *rel; /* relative to the root; "" for the root */
};

struct watcher {
    int fd;
    const char *root;
    bool recursive, entry;
    struct wdir *dirs;
    size_t ndirs, cap;
};

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

size_t sbx_server_watch_escape(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

static int add_escaped(struct sbx_buf *b, const char *s)
{
    size_t n = strlen(s);
    char *tmp = malloc(4 * n + 1);
    int rc;

    if (!tmp)
        return -ENOMEM;
    rc = sbx_buf_add(b, tmp, sbx_server_watch_escape(s, n, tmp));
    free(tmp);
    return rc;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);

    if (!p)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    if (la == 0)
        memmove(p, p + 1, lb + 1);
    return p;
}

static const char *rel_of(const struct watcher *w, int wd)
{
    size_t i;

    for (i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return w->dirs[i].rel;
    return NULL;
}

static int add_line(struct watcher *w, char kind, const char *rel, const char *abs,
                    struct sbx_buf *b);

/* Watches root/rel and, when recursive, the directories under it. With
 * created (a directory that just appeared), what is already in it gets a
 * create line there: it was made before the watch, its events are lost. */
static int add_tree(struct watcher *w, const char *rel, struct sbx_buf *created)
{
    char *abs = rel[0] ? join(w->root, rel) : strdup(w->root);
    struct dirent *de;
    DIR *d;
    int wd;

    if (!abs)
        return -ENOMEM;
    wd = inotify_add_watch(w->fd, abs, WATCH_MASK | IN_ONLYDIR);
    if (wd < 0) {
        int e = -errno;

        free(abs);
        /* a directory gone or replaced before we got to it is no error */
        return rel[0] ? 0 : e;
    }
    if (!rel_of(w, wd)) {
        if (w->ndirs == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 16;
            struct wdir *nd = realloc(w->dirs, nc * sizeof(*nd));

            if (!nd) {
                free(abs);
                return -ENOMEM;
            }
            w->dirs = nd;
            w->cap = nc;
        }
        w->dirs[w->ndirs].wd = wd;
        w->dirs[w->ndirs].rel = strdup(rel);
        if (!w->dirs[w->ndirs].rel) {
            free(abs);
            return -ENOMEM;
        }
        w->ndirs++;
    }
    if (!w->recursive || !(d = opendir(abs))) {
        free(abs);
        return 0;
    }
    while ((de = readdir(d))) {
        char *sub;
        struct stat st;
        char *subabs;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        subabs = join(abs, de->d_name);
        if (!subabs || lstat(subabs, &st) < 0 || (!S_ISDIR(st.st_mode) && !created)) {
            free(subabs);
            continue;
        }
        sub = join(rel, de->d_name);
        if (!sub || (created && add_line(w, 'C', sub, subabs, created) < 0) ||
            (S_ISDIR(st.st_mode) && add_tree(w, sub, created) < 0)) {
            free(sub);
            free(subabs);
            closedir(d);
            free(abs);
            return -ENOMEM;
        }
        free(sub);
        free(subabs);
    }
    closedir(d);
    free(abs);
    return 0;
}

static void forget_wd(struct watcher *w, int wd)
{
    size_t i;

    for (i = 0; i < w->ndirs; i++) {
        if (w->dirs[i].wd == wd) {
            free(w->dirs[i].rel);
            w->dirs[i] = w->dirs[--w->ndirs];
            return;
        }
    }
}

/* Unwatches root/rel and the directories under it (it moved away; when it
 * moved within the tree, its IN_MOVED_TO watches it again, under its new
 * name, as a new directory). */
static void drop_tree(struct watcher *w, const char *rel)
{
    size_t n = strlen(rel), i = 0;

    while (i < w->ndirs) {
        const char *r = w->dirs[i].rel;

        if (strncmp(r, rel, n) == 0 && (r[n] == '\0' || r[n] == '/')) {
            inotify_rm_watch(w->fd, w->dirs[i].wd);
            free(w->dirs[i].rel);
            w->dirs[i] = w->dirs[--w->ndirs];
        } else {
            i++;
        }
    }
}

/* /etc/group has no lookup by id in users.h: name of gid, else the number. */
static void group_name(gid_t gid, char *out, size_t len)
{
    FILE *fp = fopen("/etc/group", "re");
    char line[1024];

    snprintf(out, len, "%u", (unsigned)gid);
    while (fp && fgets(line, sizeof(line), fp)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

        if (c2 && strtoul(c2 + 1, NULL, 10) == gid && c2[1] >= '0' && c2[1] <= '9') {
            size_t n = (size_t)(c1 - line);

            if (n < len) { /* a name that does not fit stays the number */
                memcpy(out, line, n);
                out[n] = '\0';
            }
            break;
        }
    }
    if (fp)
        fclose(fp);
}

static char type_char(mode_t m)
{
    return S_ISREG(m)    ? 'f'
           : S_ISDIR(m)  ? 'd'
           : S_ISLNK(m)  ? 'l'
           : S_ISFIFO(m) ? 'p'
           : S_ISSOCK(m) ? 's'
           : S_ISCHR(m)  ? 'c'
           : S_ISBLK(m)  ? 'b'
                         : 'U';
}

/* Appends the entry fields of abs (nothing when it cannot be stat-ed). */
static int add_entry(struct sbx_buf *b, const char *abs)
{
    struct stat st, tst;
    struct sbx_user u;
    char group[64], *target = NULL;
    bool have_t;
    int rc;

    if (lstat(abs, &st) < 0)
        return 0;
    have_t = stat(abs, &tst) == 0;
    if (S_ISLNK(st.st_mode) && have_t)
        target = realpath(abs, NULL);
    group_name(st.st_gid, group, sizeof(group));
    if (sbx_user_lookup(NULL, NULL, (long)st.st_uid, &u) < 0)
        snprintf(u.name, sizeof(u.name), "%u", (unsigned)st.st_uid);
    rc = sbx_buf_addf(b, "\t%c%c\t%lld\t%o\t", type_char(st.st_mode),
                      S_ISLNK(st.st_mode) ? (have_t ? type_char(tst.st_mode) : 'N')
                                          : type_char(st.st_mode),
                      (long long)st.st_size, (unsigned)(st.st_mode & 07777));
    if (rc == 0)
        rc = add_escaped(b, u.name);
    if (rc == 0)
        rc = sbx_buf_addstr(b, "\t");
    if (rc == 0)
        rc = add_escaped(b, group);
    if (rc == 0)
        rc = sbx_buf_addf(b, "\t%lld.%09ld\t", (long long)st.st_mtim.tv_sec,
                          (long)st.st_mtim.tv_nsec);
    if (rc == 0)
        rc = add_escaped(b, target ? target : "");
    if (rc == 0)
        rc = sbx_buf_addf(b, "\t%o", have_t ? (unsigned)(tst.st_mode & 07777) : 0u);
    free(target);
    return rc;
}

/* One line: kind, rel and (with --entry) the entry of abs. */
static int add_line(struct watcher *w, char kind, const char *rel, const char *abs,
                    struct sbx_buf *b)
{
    int rc = sbx_buf_addf(b, "%c\t", kind);

    if (rc == 0)
        rc = add_escaped(b, rel);
    if (rc == 0 && w->entry)
        rc = add_entry(b, abs);
    if (rc == 0)
        rc = sbx_buf_addstr(b, "\n");
    return rc;
}

/* Prints the lines of one inotify event into b. */
static int event_lines(struct watcher *w, const struct inotify_event *ev, struct sbx_buf *b)
{
    static const struct {
        uint32_t mask;
        char kind;
    } kinds[] = {
        {IN_CREATE | IN_MOVED_TO, 'C'}, {IN_MOVED_FROM | IN_MOVE_SELF, 'M'},
        {IN_ATTRIB, 'A'},               {IN_MODIFY, 'W'},
        {IN_DELETE | IN_DELETE_SELF, 'D'},
    };
    const char *dir = rel_of(w, ev->wd);
    char *rel, *abs;
    size_t i;
    int rc = 0;

    if (!dir)
        return 0;
    /* a subdirectory's own removal/move is already its parent's event */
    if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && dir[0])
        return 0;
    rel = ev->len && ev->name[0] ? join(dir, ev->name) : strdup(dir[0] ? dir : ".");
    if (!rel)
        return -ENOMEM;
    abs = strcmp(rel, ".") == 0 ? strdup(w->root) : join(w->root, rel);
    if (!abs) {
        free(rel);
        return -ENOMEM;
    }
    if (w->recursive && (ev->mask & IN_ISDIR) && (ev->mask & IN_MOVED_FROM))
        drop_tree(w, rel);
    for (i = 0; rc == 0 && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (ev->mask & kinds[i].mask)
            rc = add_line(w, kinds[i].kind, rel, abs, b);
    /* after the directory's own line, the lines of what is already in it */
    if (rc == 0 && w->recursive && (ev->mask & IN_ISDIR) &&
        (ev->mask & (IN_CREATE | IN_MOVED_TO)))
        rc = add_tree(w, rel, b);
    free(rel);
    free(abs);
    return rc;
}

/* Writes all of b; false once stdout is gone. */
static bool emit(struct sbx_buf *b)
{
    size_t off = 0;

    while (off < b->len) {
        ssize_t n = write(STDOUT_FILENO, b->ptr + off, b->len - off);

        if (n < 0 && errno == EINTR && !g_stop)
            continue;
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    sbx_buf_reset(b);
    return true;
}

/* orig: the signal mask to wait with (SIGTERM and SIGINT are blocked
 * otherwise, so one that comes between the g_stop check and the wait is
 * not lost: ppoll takes it). */
static int run(struct watcher *w, const sigset_t *orig)
{
    char evbuf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct sbx_buf out = SBX_BUF_INIT;
    struct pollfd pf[2];
    int status = 0;

    if (sbx_buf_addstr(&out, "R\n") < 0 || !emit(&out)) {
        sbx_buf_free(&out);
        return 0;
    }
    pf[0].fd = w->fd;
    pf[0].events = POLLIN;
    pf[1].fd = STDOUT_FILENO;
    pf[1].events = 0; /* POLLERR/POLLHUP: the reader went away */
    while (!g_stop) {
        ssize_t n, off;

        if (ppoll(pf, 2, NULL, orig) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents & (POLLERR | POLLHUP | POLLNVAL))
            break;
        if (!(pf[0].revents & POLLIN))
            continue;
        n = read(w->fd, evbuf, sizeof(evbuf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "sbx-server watch: reading inotify events: %s\n",
                    n < 0 ? strerror(errno) : "end of file");
            status = 1;
            break;
        }
        for (off = 0; off < n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(evbuf + off);

            off += (ssize_t)(sizeof(*ev) + ev->len);
            if (ev->mask & IN_Q_OVERFLOW) {
                /* events were lost: an error, as fsnotify reports it to envd */
                fprintf(stderr, "fsnotify: queue or buffer overflow\n");
                status = 1;
                break;
            }
            if (ev->mask & IN_IGNORED) {
                forget_wd(w, ev->wd);
                continue;
            }
            if (event_lines(w, ev, &out) < 0) {
                fprintf(stderr, "sbx-server watch: out of memory\n");
                status = 1;
                break;
            }
        }
        if (status || !emit(&out))
            break;
    }
    sbx_buf_free(&out);
    return status;
}

int sbx_server_watch_main(int argc, char **argv)
{
    struct watcher w;
    struct sigaction sa;
    sigset_t stops, orig;
    struct stat st;
    const char *dir = NULL;
    int i, rc;

    memset(&w, 0, sizeof(w));
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs("usage: sbx-server watch [--recursive] [--entry] DIR\n", stdout);
            fflush(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--recursive") == 0)
            w.recursive = true;
        else if (strcmp(argv[i], "--entry") == 0)
            w.entry = true;
        else if (strcmp(argv[i], "--") == 0 && i + 2 == argc)
            dir = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            dir = NULL, i = argc + 1;
    }
    if (!dir || i > argc) {
        fprintf(stderr, "usage: sbx-server watch [--recursive] [--entry] DIR\n");
        return 2;
    }
    if (stat(dir, &st) < 0) {
        fprintf(stderr, "sbx-server watch: %s: %s\n", dir, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? SBX_WATCH_EXIT_MISSING : 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "sbx-server watch: %s: not a directory\n", dir);
        return SBX_WATCH_EXIT_NOTDIR;
    }
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &orig);
    sigdelset(&orig, SIGTERM);
    sigdelset(&orig, SIGINT);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    w.root = dir;
    w.fd = inotify_init1(IN_CLOEXEC);
    if (w.fd < 0) {
        fprintf(stderr, "sbx-server watch: inotify: %s\n", strerror(errno));
        return 1;
    }
    rc = add_tree(&w, "", NULL);
    if (rc < 0) {
        fprintf(stderr, "sbx-server watch: %s: %s\n", dir, strerror(-rc));
        rc = 1;
    } else {
        rc = run(&w, &orig);
    }
    for (size_t k = 0; k < w.ndirs; k++)
        free(w.dirs[k].rel);
    free(w.dirs);
    close(w.fd);
    return rc;
}
