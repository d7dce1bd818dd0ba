#include "server/users.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"

#define PATH_OR(p, f, d) ((p) && (p)->f ? (p)->f : (d))

/* Splits a colon-separated line into at most n fields (in place). */
static size_t split_fields(char *line, char **f, size_t n)
{
    size_t k = 0;

    f[k++] = line;
    for (char *c = line; *c && k < n; c++) {
        if (*c == ':') {
            *c = '\0';
            f[k++] = c + 1;
        }
    }
    return k;
}

static int parse_id(const char *s, long *out)
{
    char *end = NULL;
    long v;

    if (!*s)
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    size_t l = strnlen(src, n - 1);

    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* Calls fn for each line of path (NUL-terminated, newline removed) until fn
 * returns non-zero; returns that value, 0 at the end, or -errno. */
static int each_line(const char *path, int (*fn)(char *line, void *ud), void *ud)
{
    struct sbx_buf b = SBX_BUF_INIT;
    char *line, *next;
    int rc;

    rc = sbx_file_read(path, &b);
    if (rc < 0)
        goto out;
    for (line = b.ptr; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        rc = fn(line, ud);
        if (rc)
            goto out;
    }
    rc = 0;
out:
    sbx_buf_free(&b);
    return rc;
}

struct pw_find {
    const char *name;
    long uid;
    struct sbx_user *u;
};

static int pw_line(char *line, void *ud)
{
    struct pw_find *f = ud;
    char *fld[7];
    long uid, gid;

    if (split_fields(line, fld, 7) < 7)
        return 0;
    if (parse_id(fld[2], &uid) < 0 || parse_id(fld[3], &gid) < 0)
        return 0;
    if (f->name ? strcmp(fld[0], f->name) != 0 : uid != f->uid)
        return 0;
    copy_str(f->u->name, sizeof(f->u->name), fld[0]);
    f->u->uid = (uid_t)uid;
    f->u->gid = (gid_t)gid;
    copy_str(f->u->home, sizeof(f->u->home), fld[5]);
    copy_str(f->u->shell, sizeof(f->u->shell), fld[6]);
    return 1;
}

struct gr_find {
    const char *user;
    struct sbx_user *u;
    const char *name; /* for sbx_group_lookup */
    gid_t gid;
};

static int gr_line(char *line, void *ud)
{
    struct gr_find *g = ud;
    char *fld[4];
    long gid;
    char *m, *save;

    if (split_fields(line, fld, 4) < 4 || parse_id(fld[2], &gid) < 0)
        return 0;
    if (g->name) {
        if (strcmp(fld[0], g->name) == 0) {
            g->gid = (gid_t)gid;
            return 1;
        }
        return 0;
    }
    for (m = fld[3]; m && *m; m = save) {
        save = strchr(m, ',');
        if (save)
            *save++ = '\0';
        if (strcmp(m, g->user) == 0 && g->u->ngroups < SBX_USER_MAX_GROUPS &&
            (gid_t)gid != g->u->gid) {
            g->u->groups[g->u->ngroups++] = (gid_t)gid;
            break;
        }
    }
    return 0;
}

int sbx_group_lookup(const struct sbx_users_paths *p, const char *name, gid_t *gid)
{
    struct gr_find g = {.name = name};
    int rc = each_line(PATH_OR(p, group, "/etc/group"), gr_line, &g);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    *gid = g.gid;
    return 0;
}

int sbx_user_lookup(const struct sbx_users_paths *p, const char *name, long uid,
                    struct sbx_user *u)
{
    struct pw_find f = {name, uid, u};
    struct gr_find g = {0};
    int rc;

    memset(u, 0, sizeof(*u));
    rc = each_line(PATH_OR(p, passwd, "/etc/passwd"), pw_line, &f);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    u->groups[0] = u->gid;
    u->ngroups = 1;
    g.user = u->name;
    g.u = u;
    rc = each_line(PATH_OR(p, group, "/etc/group"), gr_line, &g);
    return rc < 0 && rc != -ENOENT ? rc : 0;
}

/* Adds user to the member list of group `name` in the group file. */
static int group_add_member(const char *path, const char *name, const char *user)
{
    struct sbx_buf in = SBX_BUF_INIT, out = SBX_BUF_INIT;
    char *line, *next;
    struct stat st;
    int rc, found = 0;

    rc = sbx_file_read(path, &in);
    if (rc < 0)
        goto out;
    for (line = in.ptr; line && *line; line = next) {
        size_t nlen = strlen(name);

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        rc = sbx_buf_addstr(&out, line);
        if (rc == 0 && strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
            size_t l = strlen(line);

            found = 1;
            rc = sbx_buf_addf(&out, "%s%s", l && line[l - 1] != ':' ? "," : "", user);
        }
        if (rc == 0)
            rc = sbx_buf_addch(&out, '\n');
        if (rc < 0)
            goto out;
    }
    if (!found) {
        rc = 0; /* no such group: useradd would fail; upstream images have sudo */
        goto out;
    }
    if (stat(path, &st) < 0) {
        rc = -errno;
        goto out;
    }
    rc = sbx_file_write_atomic(path, out.ptr, out.len, st.st_mode & 07777);
out:
    sbx_buf_free(&in);
    sbx_buf_free(&out);
    return rc;
}

/* Copies the regular files and directories of src into dst (like useradd -m
 * copying /etc/skel), owned by uid:gid. */
static int copy_tree(const char *src, const char *dst, uid_t uid, gid_t gid, int depth)
{
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (depth > 16)
        return 0;
    d = opendir(src);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d))) {
        struct sbx_buf s = SBX_BUF_INIT, t = SBX_BUF_INIT;
        struct stat st;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (sbx_buf_addf(&s, "%s/%s", src, e->d_name) < 0 ||
            sbx_buf_addf(&t, "%s/%s", dst, e->d_name) < 0) {
            rc = -ENOMEM;
        } else if (lstat(s.ptr, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                if (mkdir(t.ptr, st.st_mode & 07777) == 0 || errno == EEXIST) {
                    if (chown(t.ptr, uid, gid) < 0)
                        rc = -errno;
                    if (rc == 0)
                        rc = copy_tree(s.ptr, t.ptr, uid, gid, depth + 1);
                }
            } else if (S_ISREG(st.st_mode)) {
                struct sbx_buf data = SBX_BUF_INIT;

                rc = sbx_file_read(s.ptr, &data);
                if (rc == 0)
                    rc = sbx_file_write_atomic(t.ptr, data.ptr, data.len, st.st_mode & 0777);
                if (rc == 0 && chown(t.ptr, uid, gid) < 0)
                    rc = -errno;
                sbx_buf_free(&data);
            }
        }
        sbx_buf_free(&s);
        sbx_buf_free(&t);
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

int sbx_user_ensure(const struct sbx_users_paths *p, const char *name, uid_t uid,
                    struct sbx_user *u, struct sbx_err *err)
{
    struct sbx_buf line = SBX_BUF_INIT, home = SBX_BUF_INIT;
    const char *c;
    int rc;

    if (!*name || strlen(name) >= sizeof(u->name))
        return sbx_err_set(err, -EINVAL, "username \"%s\": invalid length", name);
    for (c = name; *c; c++)
        if (*c == ':' || *c == '\n' || *c == '/' || *c == ',' || *c == ' ')
            return sbx_err_set(err, -EINVAL, "username \"%s\": invalid character", name);
    rc = sbx_user_lookup(p, name, -1, u);
    if (rc == 0)
        return 0; /* exists: its own uid wins, as upstream */
    if (rc != -ENOENT)
        return sbx_err_set(err, rc, "read %s: %s", PATH_OR(p, passwd, "/etc/passwd"),
                           strerror(-rc));
    if (strcmp(name, "root") == 0)
        return sbx_err_set(err, -ENOENT, "user root missing from %s",
                           PATH_OR(p, passwd, "/etc/passwd"));

    rc = sbx_buf_addf(&home, "%s/%s", PATH_OR(p, home, "/home"), name);
    if (rc == 0)
        rc = sbx_buf_addf(&line, "%s:x:%u:0::%s:/bin/bash\n", name, (unsigned)uid, home.ptr);
    if (rc < 0)
        goto out;
    rc = sbx_file_append(PATH_OR(p, passwd, "/etc/passwd"), line.ptr, line.len, 0644);
    if (rc < 0) {
        sbx_err_set(err, rc, "add user %s to %s: %s", name, PATH_OR(p, passwd, "/etc/passwd"),
                    strerror(-rc));
        goto out;
    }
    if (access(PATH_OR(p, shadow, "/etc/shadow"), F_OK) == 0) {
        sbx_buf_reset(&line);
        rc = sbx_buf_addf(&line, "%s:!:%ld::::::\n", name, (long)(time(NULL) / 86400));
        if (rc == 0)
            rc = sbx_file_append(PATH_OR(p, shadow, "/etc/shadow"), line.ptr, line.len, 0640);
        if (rc < 0) {
            sbx_err_set(err, rc, "add user %s to the shadow file: %s", name, strerror(-rc));
            goto out;
        }
    }
    rc = group_add_member(PATH_OR(p, group, "/etc/group"), "sudo", name);
    if (rc < 0) {
        sbx_err_set(err, rc, "add user %s to group sudo: %s", name, strerror(-rc));
        goto out;
    }
    {
        static const char line_sudo[] = "%sudo ALL=(ALL) NOPASSWD:ALL\n";
        const char *sudoers = PATH_OR(p, sudoers, "/etc/sudoers");

        /* Upstream appends this line whenever it creates the user. */
        if (access(sudoers, F_OK) == 0)
            (void)sbx_file_append(sudoers, line_sudo, sizeof(line_sudo) - 1, 0440);
    }
    if (mkdir(home.ptr, 0750) < 0 && errno != EEXIST) {
        rc = sbx_err_set(err, -errno, "create home %s: %s", home.ptr, strerror(errno));
        goto out;
    }
    if (chown(home.ptr, uid, 0) < 0) {
        rc = sbx_err_set(err, -errno, "chown home %s: %s", home.ptr, strerror(errno));
        goto out;
    }
    rc = copy_tree(PATH_OR(p, skel, "/etc/skel"), home.ptr, uid, 0, 0);
    if (rc < 0) {
        sbx_err_set(err, rc, "copy skeleton into %s: %s", home.ptr, strerror(-rc));
        goto out;
    }
    rc = sbx_user_lookup(p, name, -1, u);
    if (rc < 0)
        sbx_err_set(err, rc, "user %s not found after creating it", name);
out:
    sbx_buf_free(&line);
    sbx_buf_free(&home);
    return rc;
}

static int chown_tree(const char *path, uid_t uid, gid_t gid, int depth)
{
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (lchown(path, uid, gid) < 0)
        return -errno;
    if (depth > 64)
        return 0;
    d = opendir(path);
    if (!d)
        return errno == ENOTDIR ? 0 : -errno;
    while ((e = readdir(d))) {
        struct sbx_buf s = SBX_BUF_INIT;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (sbx_buf_addf(&s, "%s/%s", path, e->d_name) < 0) {
            rc = -ENOMEM;
        } else if (e->d_type == DT_DIR) {
            rc = chown_tree(s.ptr, uid, gid, depth + 1);
        } else if (lchown(s.ptr, uid, gid) < 0) {
            rc = -errno;
        }
        sbx_buf_free(&s);
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

int sbx_workdir_init(const char *dir, uid_t uid, gid_t gid, struct sbx_err *err)
{
    struct sbx_buf part = SBX_BUF_INIT;
    mode_t old = umask(002);
    struct stat st;
    const char *c;
    int rc = 0;

    /* mkdir -p */
    for (c = dir; rc == 0; c++) {
        if (*c == '/' || *c == '\0') {
            if (part.len && mkdir(part.ptr, 0777) < 0 && errno != EEXIST)
                rc = sbx_err_set(err, -errno, "create %s: %s", part.ptr, strerror(errno));
            if (!*c)
                break;
        }
        if (rc == 0 && sbx_buf_addch(&part, *c) < 0)
            rc = sbx_err_set(err, -ENOMEM, "create %s: out of memory", dir);
    }
    umask(old);
    sbx_buf_free(&part);
    if (rc < 0)
        return rc;
    if (geteuid() == 0) {
        rc = chown_tree(dir, uid, gid, 0);
        if (rc < 0)
            return sbx_err_set(err, rc, "chown -R %s: %s", dir, strerror(-rc));
    }
    if (stat(dir, &st) < 0)
        return sbx_err_set(err, -errno, "stat %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return sbx_err_set(err, -ENOTDIR, "working directory %s: not a directory", dir);
    if (chmod(dir, (st.st_mode & 07777) | S_IRGRP | S_IWGRP) < 0 && geteuid() == 0)
        return sbx_err_set(err, -errno, "chmod g+rw %s: %s", dir, strerror(errno));
    return 0;
}
