#include "archive/zip_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/zip.h"
#include "base/buf.h"
#include "base/fd.h"

#define CHUNK ((size_t)64 << 10)
/* Files at least this big are probed before choosing deflate or store. */
#define PROBE_MIN ((off_t)4096)
#define MAX_DEPTH 256

struct tree {
    struct sbx_zip_writer *zw;
    int out_fd;
    char *rbuf;
    struct sbx_err *err;
};

static int out_fd_write(const void *p, size_t n, void *ud)
{
    struct tree *t = ud;

    return sbx_fd_write_all(t->out_fd, p, n);
}

/* follow: the caller named this file itself (a symlink is its target). */
static int add_file(struct tree *t, int dfd, const char *name, const char *entry,
                    const char *path, bool follow)
{
    struct stat st;
    ssize_t n;
    int fd, rc;

    fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
    if (fd < 0)
        return sbx_err_set(t->err, -errno, "zip %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        /* Replaced by something else since the directory was read. */
        close(fd);
        return 0;
    }
    n = sbx_fd_read(fd, t->rbuf, CHUNK);
    if (n < 0) {
        rc = sbx_err_set(t->err, (int)n, "zip %s: %s", path, strerror((int)-n));
        goto out;
    }
    rc = sbx_zip_writer_begin(t->zw, entry, st.st_mode, st.st_mtime, st.st_size,
                              st.st_size >= PROBE_MIN &&
                                  !sbx_zip_compressible(t->rbuf, (size_t)n));
    while (rc == 0 && n > 0) {
        rc = sbx_zip_writer_data(t->zw, t->rbuf, (size_t)n);
        if (rc == 0)
            n = sbx_fd_read(fd, t->rbuf, CHUNK);
        if (n < 0)
            rc = (int)n;
    }
    if (rc == 0)
        rc = sbx_zip_writer_end(t->zw);
    if (rc < 0)
        sbx_err_set(t->err, rc, "zip %s: %s", path, strerror(-rc));
out:
    close(fd);
    return rc;
}

static int add_link(struct tree *t, int dfd, const char *name, const char *entry,
                    const char *rel, const char *path, const struct stat *st)
{
    char target[PATH_MAX];
    ssize_t n;
    int rc;

    n = readlinkat(dfd, name, target, sizeof(target) - 1);
    if (n < 0)
        return sbx_err_set(t->err, -errno, "zip %s: readlink: %s", path, strerror(errno));
    target[n] = '\0';
    if (!sbx_zip_link_stays_inside(rel, target))
        return 0; /* never carry a way out of the tree */
    rc = sbx_zip_writer_begin(t->zw, entry, S_IFLNK | 0777, st->st_mtime, n, true);
    if (rc == 0)
        rc = sbx_zip_writer_data(t->zw, target, (size_t)n);
    if (rc == 0)
        rc = sbx_zip_writer_end(t->zw);
    if (rc < 0)
        sbx_err_set(t->err, rc, "zip %s: %s", path, strerror(-rc));
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the names of the directory dfd (sorted, for a stable archive). */
static int read_names(int dfd, char ***out, size_t *nout)
{
    DIR *dp = NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int fd, rc = 0;

    fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    dp = fdopendir(fd);
    if (!dp) {
        rc = -errno;
        close(fd);
        return rc;
    }
    for (;;) {
        /* errno tells a failed readdir from the end of the directory: a
         * failure must not pass for a shorter directory (files would be
         * left out of the archive silently). */
        errno = 0;
        de = readdir(dp);
        if (!de) {
            rc = -errno;
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            char **nv = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*nv));

            if (!nv) {
                rc = -ENOMEM;
                goto out;
            }
            names = nv;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = -ENOMEM;
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
out:
    closedir(dp);
    if (rc < 0) {
        for (i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    *out = names;
    *nout = n;
    return 0;
}

/* dfd: the open directory at path; rel: its name below the root ("" for the
 * root); top: the first component of every entry name. */
static int walk(struct tree *t, int dfd, const char *path, const char *top, const char *rel,
                int depth)
{
    char **names = NULL;
    size_t n = 0, i;
    int rc;

    if (depth > MAX_DEPTH)
        return sbx_err_set(t->err, -ELOOP, "zip %s: directories nested too deep", path);
    rc = read_names(dfd, &names, &n);
    if (rc < 0)
        return sbx_err_set(t->err, rc, "zip %s: %s", path, strerror(-rc));
    for (i = 0; i < n && rc == 0; i++) {
        struct sbx_buf p = SBX_BUF_INIT, r = SBX_BUF_INIT, e = SBX_BUF_INIT;
        struct stat st;

        rc = sbx_buf_addf(&p, "%s/%s", path, names[i]);
        if (rc == 0)
            rc = sbx_buf_addf(&r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        if (rc == 0)
            rc = sbx_buf_addf(&e, "%s/%s", top, r.ptr);
        if (rc < 0) {
            sbx_err_set(t->err, rc, "zip %s: out of memory", path);
        } else if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = sbx_err_set(t->err, -errno, "zip %s: %s", p.ptr, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (sub < 0) {
                rc = sbx_err_set(t->err, -errno, "zip %s: %s", p.ptr, strerror(errno));
            } else {
                rc = sbx_buf_addch(&e, '/');
                if (rc == 0)
                    rc = sbx_zip_writer_begin(t->zw, e.ptr, st.st_mode, st.st_mtime, 0, true);
                if (rc == 0)
                    rc = sbx_zip_writer_end(t->zw);
                if (rc < 0)
                    sbx_err_set(t->err, rc, "zip %s: %s", p.ptr, strerror(-rc));
                else
                    rc = walk(t, sub, p.ptr, top, r.ptr, depth + 1);
                close(sub);
            }
        } else if (S_ISREG(st.st_mode)) {
            rc = add_file(t, dfd, names[i], e.ptr, p.ptr, false);
        } else if (S_ISLNK(st.st_mode)) {
            rc = add_link(t, dfd, names[i], e.ptr, r.ptr, p.ptr, &st);
        }
        sbx_buf_free(&p);
        sbx_buf_free(&r);
        sbx_buf_free(&e);
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int sbx_zip_tree_write(const char *dir, const char *top, int out_fd, struct sbx_err *err)
{
    struct tree t = {.out_fd = out_fd, .err = err};
    struct sbx_buf e = SBX_BUF_INIT;
    struct stat st;
    int dfd = -1, rc;

    /* The top itself may be a symlink: the caller named it. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sbx_err_set(err, -errno, "zip %s: %s", dir, strerror(errno));
    t.rbuf = malloc(CHUNK);
    t.zw = sbx_zip_writer_new(out_fd_write, &t, -1);
    if (!t.rbuf || !t.zw) {
        rc = sbx_err_set(err, -ENOMEM, "zip %s: out of memory", dir);
        goto out;
    }
    rc = fstat(dfd, &st) < 0 ? -errno : 0;
    if (rc == 0)
        rc = sbx_buf_addf(&e, "%s/", top);
    if (rc == 0)
        rc = sbx_zip_writer_begin(t.zw, e.ptr, st.st_mode, st.st_mtime, 0, true);
    if (rc == 0)
        rc = sbx_zip_writer_end(t.zw);
    if (rc < 0) {
        sbx_err_set(err, rc, "zip %s: %s", dir, strerror(-rc));
        goto out;
    }
    rc = walk(&t, dfd, dir, top, "", 0);
    if (rc == 0) {
        rc = sbx_zip_writer_finish(t.zw);
        if (rc < 0)
            sbx_err_set(err, rc, "zip %s: %s", dir, strerror(-rc));
    }
out:
    sbx_buf_free(&e);
    sbx_zip_writer_free(t.zw);
    free(t.rbuf);
    close(dfd);
    return rc;
}

int sbx_zip_file_write(const char *path, const char *name, int out_fd, struct sbx_err *err)
{
    struct tree t = {.out_fd = out_fd, .err = err};
    int rc;

    t.rbuf = malloc(CHUNK);
    t.zw = sbx_zip_writer_new(out_fd_write, &t, -1);
    if (!t.rbuf || !t.zw) {
        rc = sbx_err_set(err, -ENOMEM, "zip %s: out of memory", path);
        goto out;
    }
    rc = add_file(&t, AT_FDCWD, path, name, path, true);
    if (rc == 0) {
        rc = sbx_zip_writer_finish(t.zw);
        if (rc < 0)
            sbx_err_set(err, rc, "zip %s: %s", path, strerror(-rc));
    }
out:
    sbx_zip_writer_free(t.zw);
    free(t.rbuf);
    return rc;
}
