#include "providers/local/rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/fd.h"

/* Top-level host directories that never get an overlay: kernel file
 * systems and private places get their own fresh mounts or empty
 * directories on disk instead. */
static const char *const skipped_tops[] = {
    "proc", "sys", "dev", "tmp", "run", "root", "home", "lost+found", "workspace", ".sbx", NULL,
};

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};
static const char *const proc_masked[] = {"kcore", "keys", "timer_list", "sched_debug",
                                          "latency_stats", NULL};
static const char *const proc_readonly[] = {"sys", "sysrq-trigger", "irq", "bus", "fs", NULL};

/* snprintf for paths: on truncation buf becomes "" (every system call on
 * it then fails cleanly) and -ENAMETOOLONG is returned. */
static int pathf(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    int r;

    va_start(ap, f);
    r = vsnprintf(buf, n, f, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= n) {
        if (n)
            buf[0] = '\0';
        return -ENAMETOOLONG;
    }
    return 0;
}

static char *keep(struct sbx__rootfs *rf, char *s)
{
    if (!s)
        return NULL;
    if (rf->nstrs == rf->capstrs) {
        size_t cap = rf->capstrs ? rf->capstrs * 2 : 64;
        char **n = realloc(rf->strs, cap * sizeof(*n));

        if (!n) {
            free(s);
            return NULL;
        }
        rf->strs = n;
        rf->capstrs = cap;
    }
    rf->strs[rf->nstrs++] = s;
    return s;
}

static char *fmt(struct sbx__rootfs *rf, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(struct sbx__rootfs *rf, const char *f, ...)
{
    struct sbx_buf b = SBX_BUF_INIT;
    va_list ap;
    int rc;

    va_start(ap, f);
    rc = sbx_buf_vaddf(&b, f, ap);
    va_end(ap);
    if (rc < 0) {
        sbx_buf_free(&b);
        return NULL;
    }
    return keep(rf, sbx_buf_detach(&b, NULL));
}

/* Adds one step; dst is relative to the new root ("" = the root itself). */
static int add(struct sbx__rootfs *rf, enum sbx__mnt_kind kind, const char *src, const char *rel,
               const char *fstype, unsigned long flags, const char *data, unsigned mode,
               int optional, const char *what)
{
    struct sbx__mnt_op *op;

    if (rf->n == rf->cap) {
        size_t cap = rf->cap ? rf->cap * 2 : 64;
        struct sbx__mnt_op *n = realloc(rf->ops, cap * sizeof(*n));

        if (!n)
            return -ENOMEM;
        rf->ops = n;
        rf->cap = cap;
    }
    op = &rf->ops[rf->n];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->src = src;
    op->dst = *rel ? fmt(rf, "%s/%s", rf->root, rel) : rf->root;
    op->fstype = fstype;
    op->flags = flags;
    op->data = data;
    op->mode = mode;
    op->optional = optional;
    op->what = fmt(rf, "%s /%s", what, rel);
    if (!op->dst || !op->what)
        return -ENOMEM;
    rf->n++;
    return 0;
}

void sbx__rootfs_release(struct sbx__rootfs *rf)
{
    size_t i;

    if (!rf)
        return;
    for (i = 0; i < rf->nstrs; i++)
        free(rf->strs[i]);
    free(rf->strs);
    free(rf->ops);
    memset(rf, 0, sizeof(*rf));
}

int sbx__shadow_sanitize(const char *in, size_t len, struct sbx_buf *out)
{
    size_t i = 0;
    int rc = 0;

    while (i < len && rc == 0) {
        const char *line = in + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        const char *c1 = memchr(line, ':', n);

        if (!c1) {
            rc = sbx_buf_add(out, line, n);
        } else {
            size_t rest = n - (size_t)(c1 + 1 - line);
            const char *c2 = memchr(c1 + 1, ':', rest);

            rc = sbx_buf_add(out, line, (size_t)(c1 + 1 - line));
            if (rc == 0)
                rc = sbx_buf_addch(out, '*');
            if (rc == 0 && c2)
                rc = sbx_buf_add(out, c2, (size_t)(line + n - c2));
        }
        if (rc == 0 && nl)
            rc = sbx_buf_addch(out, '\n');
        i += n + (nl ? 1 : 0);
    }
    return rc;
}

/* Undoes mountinfo's octal escapes (\040 for a space) into out. */
static void unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, o = 0;

    while (i < n && o + 1 < cap) {
        if (s[i] == '\\' && i + 3 < n + 0 && s[i + 1] >= '0' && s[i + 1] <= '3') {
            out[o++] = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
            i += 4;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
}

int sbx__has_submounts(const char *mountinfo, const char *path)
{
    size_t plen = strlen(path);
    const char *line = mountinfo;

    while (line && *line) {
        const char *nl = strchr(line, '\n');
        const char *f = line;
        char mp[PATH_MAX];
        int field;

        /* field 5 (1-based) is the mount point */
        for (field = 1; field < 5 && f; field++) {
            f = memchr(f, ' ', nl ? (size_t)(nl - f) : strlen(f));
            if (f)
                f++;
        }
        if (f) {
            const char *end = memchr(f, ' ', nl ? (size_t)(nl - f) : strlen(f));
            size_t n = end ? (size_t)(end - f) : (nl ? (size_t)(nl - f) : strlen(f));

            unescape(f, n, mp, sizeof(mp));
            if (!strncmp(mp, path, plen) && mp[plen] == '/')
                return 1;
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* mkdir dst with the mode (and, as root, the owner) of ref, so that an
 * overlay's merged directory looks like the host's. */
static int mkdir_like(const char *dst, const char *ref)
{
    struct stat st;

    if (stat(ref, &st) < 0)
        return -errno;
    if (mkdir(dst, st.st_mode & 07777) < 0 && errno != EEXIST)
        return -errno;
    if (chmod(dst, st.st_mode & 07777) < 0)
        return -errno;
    if (geteuid() == 0 && lchown(dst, st.st_uid, st.st_gid) < 0)
        return -errno;
    return 0;
}

/* mkdir -p upper/<rel> mirroring /<rel> component by component. */
static int mkdir_upper(const char *upper, const char *host_root, const char *rel)
{
    char u[PATH_MAX], h[PATH_MAX];
    const char *p = rel;
    int rc = 0;

    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - rel) : strlen(rel);

        if (pathf(u, sizeof(u), "%s/%.*s", upper, (int)n, rel) < 0 ||
            pathf(h, sizeof(h), "%s/%.*s", host_root, (int)n, rel) < 0)
            return -ENAMETOOLONG;
        rc = mkdir_like(u, h);
        if (rc < 0)
            return rc;
        if (!slash)
            break;
        p = slash + 1;
    }
    return 0;
}

/* upper/etc: shadow files with the password fields starred out, and empty
 * ssh host keys. Only files the host has are covered. */
static int hide_etc_secrets(const char *upper_etc, const char *host_etc, struct sbx_err *err)
{
    static const char *const shadows[] = {"shadow", "gshadow", "shadow-", "gshadow-", NULL};
    char src[PATH_MAX], dst[PATH_MAX];
    struct sbx_buf in = SBX_BUF_INIT, out = SBX_BUF_INIT;
    DIR *d = NULL;
    struct dirent *de;
    struct stat st;
    int i, rc = 0, fd = -1;

    for (i = 0; shadows[i]; i++) {
        pathf(src, sizeof(src), "%s/%s", host_etc, shadows[i]);
        pathf(dst, sizeof(dst), "%s/%s", upper_etc, shadows[i]);
        if (lstat(src, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        sbx_buf_reset(&in);
        sbx_buf_reset(&out);
        rc = sbx_file_read(src, &in);
        if (rc == -EACCES || rc == -EPERM) {
            /* Not readable by us: then not by the sandbox either (it maps
             * only our own uid). An empty file hides it all the same. */
            rc = 0;
        } else if (rc < 0) {
            sbx_err_set(err, rc, "read %s: %s", src, strerror(-rc));
            goto out;
        } else {
            rc = sbx__shadow_sanitize(in.ptr, in.len, &out);
            if (rc < 0)
                goto nomem;
        }
        fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777);
        if (fd < 0 || sbx_fd_write_all(fd, out.ptr, out.len) < 0 ||
            fchmod(fd, st.st_mode & 07777) < 0 ||
            (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)) {
            rc = -errno;
            sbx_err_set(err, rc, "write %s: %s", dst, strerror(errno));
            goto out;
        }
        close(fd);
        fd = -1;
    }
    pathf(src, sizeof(src), "%s/ssh", host_etc);
    d = opendir(src);
    if (!d)
        goto out;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);

        if (strncmp(de->d_name, "ssh_host_", 9) || n < 13 || strcmp(de->d_name + n - 4, "_key"))
            continue;
        pathf(dst, sizeof(dst), "%s/ssh", upper_etc);
        rc = mkdir_like(dst, src);
        if (rc < 0) {
            sbx_err_set(err, rc, "mkdir %s: %s", dst, strerror(-rc));
            goto out;
        }
        pathf(dst, sizeof(dst), "%s/ssh/%s", upper_etc, de->d_name);
        fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = -errno;
            sbx_err_set(err, rc, "write %s: %s", dst, strerror(errno));
            goto out;
        }
        close(fd);
        fd = -1;
    }
    goto out;
nomem:
    rc = sbx_err_set(err, -ENOMEM, "sanitise /etc/shadow: out of memory");
out:
    if (d)
        closedir(d);
    if (fd >= 0)
        close(fd);
    sbx_buf_free(&in);
    sbx_buf_free(&out);
    return rc;
}

/* /etc/hostname names the sandbox, as in a container. */
static int write_hostname(const struct sbx__rootfs_cfg *cfg, const char *upper_etc,
                          struct sbx_err *err)
{
    char path[PATH_MAX], text[256];
    int n, rc;

    if (!cfg->hostname)
        return 0;
    pathf(path, sizeof(path), "%s/hostname", upper_etc);
    n = snprintf(text, sizeof(text), "%s\n", cfg->hostname);
    rc = sbx_file_write_atomic(path, text, (size_t)n, 0644);
    if (rc < 0)
        return sbx_err_set(err, rc, "write %s: %s", path, strerror(-rc));
    return 0;
}

/* An overlay of the host's top-level directory top: upper and work dirs
 * under the sandbox directory, the upper root mirroring the host's. */
static int plan_overlay_top(const struct sbx__rootfs_cfg *cfg, struct sbx__rootfs *rf,
                            const char *host_root, const char *top, struct sbx_err *err)
{
    char upper[PATH_MAX], work[PATH_MAX], lower[PATH_MAX];
    const char *data;
    int rc;

    pathf(lower, sizeof(lower), "%s%s%s", host_root, strcmp(host_root, "/") ? "/" : "", top);
    pathf(upper, sizeof(upper), "%s/upper/%s", cfg->sbx_dir, top);
    pathf(work, sizeof(work), "%s/work/%s", cfg->sbx_dir, top);
    rc = mkdir_like(upper, lower);
    if (rc == 0 && mkdir(work, 0700) < 0 && errno != EEXIST)
        rc = -errno;
    if (rc < 0)
        return sbx_err_set(err, rc, "prepare the overlay of %s: %s", lower, strerror(-rc));
    data = fmt(rf, "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", lower, upper, work);
    if (!data)
        return -ENOMEM;
    rc = add(rf, SBX_MNT_MKDIR, NULL, top, NULL, 0, NULL, 0755, 0, "mkdir");
    if (rc == 0)
        rc = add(rf, SBX_MNT_MOUNT, "overlay", top, "overlay", 0, data, 0, 0, "mount overlay on");
    return rc;
}

/* The host-root layout: one overlay per top-level directory, symlinks
 * recreated, directories with mounts below them bound read-only. */
static int plan_host(const struct sbx__rootfs_cfg *cfg, struct sbx__rootfs *rf,
                     struct sbx_err *err)
{
    const char *host_root = cfg->host_root ? cfg->host_root : "/";
    struct sbx_buf mi = SBX_BUF_INIT;
    char path[PATH_MAX], target[PATH_MAX];
    const char *state_rel = NULL;
    char state_top[NAME_MAX + 1] = "";
    int state_top_overlaid = 0;
    DIR *d = NULL;
    struct dirent *de;
    int rc = 0, i;

    rc = sbx_file_read("/proc/self/mountinfo", &mi);
    if (rc < 0)
        return sbx_err_set(err, rc, "read /proc/self/mountinfo: %s", strerror(-rc));
    if (cfg->state_dir && cfg->state_dir[0] == '/' && cfg->state_dir[1]) {
        const char *s = cfg->state_dir + 1;
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);

        if (n < sizeof(state_top)) {
            memcpy(state_top, s, n);
            state_top[n] = '\0';
            state_rel = s;
        }
    }
    rc = add(rf, SBX_MNT_MOUNT, rf->root, "", NULL, MS_BIND, NULL, 0, 0, "bind the new root");
    if (rc < 0)
        goto nomem;
    d = opendir(host_root);
    if (!d) {
        rc = sbx_err_set(err, -errno, "open %s: %s", host_root, strerror(errno));
        goto out;
    }
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        struct stat st;
        int skip = 0;

        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
            continue;
        for (i = 0; skipped_tops[i]; i++)
            if (!strcmp(name, skipped_tops[i]))
                skip = 1;
        /* overlay options cannot carry these characters */
        if (skip || strpbrk(name, ",:\\"))
            continue;
        pathf(path, sizeof(path), "%s%s%s", host_root, strcmp(host_root, "/") ? "/" : "",
                 name);
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && state_rel && !strcmp(name, state_top) &&
            !strchr(state_rel, '/')) {
            /* the state directory is a top-level directory: leave it empty */
            rc = add(rf, SBX_MNT_MKDIR, NULL, name, NULL, 0, NULL, 0700, 0, "mkdir");
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(path, target, sizeof(target) - 1);

            if (n <= 0)
                continue;
            target[n] = '\0';
            rc = add(rf, SBX_MNT_SYMLINK, fmt(rf, "%s", target), name, NULL, 0, NULL, 0, 0,
                     "symlink");
        } else if (!S_ISDIR(st.st_mode)) {
            continue;
        } else if (sbx__has_submounts(mi.ptr, path)) {
            /* overlayfs refuses a lower layer with locked mounts below it
             * (in a user namespace): show it read-only instead */
            rc = add(rf, SBX_MNT_MKDIR, NULL, name, NULL, 0, NULL, 0755, 0, "mkdir");
            if (rc == 0)
                rc = add(rf, SBX_MNT_MOUNT, fmt(rf, "%s", path), name, NULL, MS_BIND | MS_REC,
                         NULL, 0, 0, "bind");
            if (rc == 0)
                rc = add(rf, SBX_MNT_RDONLY, NULL, name, NULL, 0, NULL, 0, 0, "make read-only");
            if (rc == 0 && !strcmp(name, state_top))
                rc = add(rf, SBX_MNT_MOUNT, "tmpfs", state_rel, "tmpfs",
                         MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=700", 0, 1,
                         "hide the state directory at");
        } else {
            rc = plan_overlay_top(cfg, rf, host_root, name, err);
            if (rc < 0 && rc != -ENOMEM)
                goto out;
            if (!strcmp(name, state_top))
                state_top_overlaid = 1;
        }
        if (rc < 0)
            goto nomem;
    }
    /* sbx's own state directory: an opaque directory in the upper layer
     * makes it look empty */
    if (state_top_overlaid && strchr(state_rel, '/')) {
        char upper[PATH_MAX];

        pathf(upper, sizeof(upper), "%s/upper", cfg->sbx_dir);
        rc = mkdir_upper(upper, host_root, state_rel);
        pathf(path, sizeof(path), "%s/upper/%s", cfg->sbx_dir, state_rel);
        if (rc == 0 && setxattr(path, "user.overlay.opaque", "y", 1, 0) < 0)
            rc = -errno;
        if (rc < 0) {
            sbx_err_set(err, rc, "hide the state directory (%s): %s", path, strerror(-rc));
            goto out;
        }
    }
    pathf(path, sizeof(path), "%s/upper/etc", cfg->sbx_dir);
    pathf(target, sizeof(target), "%s%setc", host_root, strcmp(host_root, "/") ? "/" : "");
    if (access(path, F_OK) == 0) {
        rc = hide_etc_secrets(path, target, err);
        if (rc < 0)
            goto out;
        rc = write_hostname(cfg, path, err);
        if (rc < 0)
            goto out;
    }
    rc = add(rf, SBX_MNT_MKDIR, NULL, "root", NULL, 0, NULL, 0700, 0, "mkdir");
    if (rc == 0)
        rc = add(rf, SBX_MNT_MKDIR, NULL, "home", NULL, 0, NULL, 0755, 0, "mkdir");
    if (rc < 0)
        goto nomem;
    goto out;
nomem:
    rc = sbx_err_set(err, -ENOMEM, "plan the root filesystem: out of memory");
out:
    if (d)
        closedir(d);
    sbx_buf_free(&mi);
    return rc;
}

static int plan_image(const struct sbx__rootfs_cfg *cfg, struct sbx__rootfs *rf,
                      struct sbx_err *err)
{
    char upper[PATH_MAX], work[PATH_MAX];
    const char *data;
    int rc;

    if (strpbrk(cfg->image_root, ",:\\"))
        return sbx_err_set(err, -EINVAL, "image root %s: overlayfs cannot use a path with ',' "
                                         "or ':'",
                           cfg->image_root);
    pathf(upper, sizeof(upper), "%s/upper/_", cfg->sbx_dir);
    pathf(work, sizeof(work), "%s/work/_", cfg->sbx_dir);
    rc = mkdir_like(upper, cfg->image_root);
    if (rc == 0 && mkdir(work, 0700) < 0 && errno != EEXIST)
        rc = -errno;
    if (rc < 0)
        return sbx_err_set(err, rc, "prepare the overlay of %s: %s", cfg->image_root,
                           strerror(-rc));
    data = fmt(rf, "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", cfg->image_root, upper, work);
    if (!data)
        return -ENOMEM;
    pathf(upper, sizeof(upper), "%s/etc", cfg->image_root);
    if (access(upper, F_OK) == 0) {
        pathf(upper, sizeof(upper), "%s/upper/_", cfg->sbx_dir);
        rc = mkdir_upper(upper, cfg->image_root, "etc");
        pathf(upper, sizeof(upper), "%s/upper/_/etc", cfg->sbx_dir);
        if (rc == 0)
            rc = write_hostname(cfg, upper, err);
        else
            sbx_err_set(err, rc, "mkdir %s: %s", upper, strerror(-rc));
        if (rc < 0)
            return rc;
    }
    rc = add(rf, SBX_MNT_MOUNT, "overlay", "", "overlay", 0, data, 0, 0, "mount overlay on");
    if (rc == 0)
        rc = add(rf, SBX_MNT_MKDIR, NULL, "root", NULL, 0, NULL, 0700, 0, "mkdir");
    return rc;
}

/* Everything after the top-level layout: /tmp, /run, /dev, /proc, /sys,
 * /workspace and /.sbx. */
static int plan_common(const struct sbx__rootfs_cfg *cfg, struct sbx__rootfs *rf)
{
    const unsigned long nsd = MS_NOSUID | MS_NODEV;
    const unsigned long nsde = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    int rc = 0, i;

#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (rc == 0)                                                                               \
            rc = add(rf, __VA_ARGS__);                                                             \
    } while (0)
    ADD(SBX_MNT_MKDIR, NULL, "workspace", NULL, 0, NULL, 0755, 0, "mkdir");
    ADD(SBX_MNT_MKDIR, NULL, "tmp", NULL, 0, NULL, 01777, 0, "mkdir");
    ADD(SBX_MNT_MOUNT, "tmpfs", "tmp", "tmpfs", nsd, "mode=1777", 0, 0, "mount tmpfs on");
    ADD(SBX_MNT_MKDIR, NULL, "run", NULL, 0, NULL, 0755, 0, "mkdir");
    ADD(SBX_MNT_MOUNT, "tmpfs", "run", "tmpfs", nsd, "mode=755", 0, 0, "mount tmpfs on");
    ADD(SBX_MNT_MKDIR, NULL, "dev", NULL, 0, NULL, 0755, 0, "mkdir");
    ADD(SBX_MNT_MOUNT, "tmpfs", "dev", "tmpfs", MS_NOSUID, "mode=755,size=65536k", 0, 0,
        "mount tmpfs on");
    for (i = 0; dev_nodes[i]; i++) {
        char *rel = fmt(rf, "dev/%s", dev_nodes[i]);

        if (!rel)
            return -ENOMEM;
        ADD(SBX_MNT_TOUCH, NULL, rel, NULL, 0, NULL, 0666, 0, "create");
        ADD(SBX_MNT_MOUNT, fmt(rf, "/dev/%s", dev_nodes[i]), rel, NULL, MS_BIND, NULL, 0, 0,
            "bind");
    }
    ADD(SBX_MNT_MKDIR, NULL, "dev/pts", NULL, 0, NULL, 0755, 0, "mkdir");
    ADD(SBX_MNT_MOUNT, "devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
        cfg->gid5_mapped ? "newinstance,ptmxmode=0666,mode=620,gid=5"
                         : "newinstance,ptmxmode=0666,mode=620",
        0, 0, "mount devpts on");
    ADD(SBX_MNT_SYMLINK, "pts/ptmx", "dev/ptmx", NULL, 0, NULL, 0, 0, "symlink");
    ADD(SBX_MNT_MKDIR, NULL, "dev/shm", NULL, 0, NULL, 01777, 0, "mkdir");
    ADD(SBX_MNT_MOUNT, "tmpfs", "dev/shm", "tmpfs", nsd, "mode=1777", 0, 0, "mount tmpfs on");
    ADD(SBX_MNT_SYMLINK, "/proc/self/fd", "dev/fd", NULL, 0, NULL, 0, 0, "symlink");
    ADD(SBX_MNT_SYMLINK, "/proc/self/fd/0", "dev/stdin", NULL, 0, NULL, 0, 0, "symlink");
    ADD(SBX_MNT_SYMLINK, "/proc/self/fd/1", "dev/stdout", NULL, 0, NULL, 0, 0, "symlink");
    ADD(SBX_MNT_SYMLINK, "/proc/self/fd/2", "dev/stderr", NULL, 0, NULL, 0, 0, "symlink");
    ADD(SBX_MNT_MKDIR, NULL, "proc", NULL, 0, NULL, 0555, 0, "mkdir");
    ADD(SBX_MNT_MOUNT, "proc", "proc", "proc", nsde, NULL, 0, 0, "mount proc on");
    for (i = 0; proc_masked[i]; i++) {
        char *rel = fmt(rf, "proc/%s", proc_masked[i]);

        if (!rel)
            return -ENOMEM;
        ADD(SBX_MNT_MOUNT, "/dev/null", rel, NULL, MS_BIND, NULL, 0, 1, "mask");
    }
    for (i = 0; proc_readonly[i]; i++) {
        char *rel = fmt(rf, "proc/%s", proc_readonly[i]);

        if (!rel)
            return -ENOMEM;
        ADD(SBX_MNT_MOUNT, fmt(rf, "%s/%s", rf->root, rel), rel, NULL, MS_BIND | MS_REC, NULL, 0,
            1, "bind");
        ADD(SBX_MNT_RDONLY, NULL, rel, NULL, 0, NULL, 0, 1, "make read-only");
    }
    ADD(SBX_MNT_MKDIR, NULL, "sys", NULL, 0, NULL, 0555, 0, "mkdir");
    if (cfg->net_none) {
        ADD(SBX_MNT_MOUNT, "sysfs", "sys", "sysfs", nsde | MS_RDONLY, NULL, 0, 0,
            "mount sysfs on");
    } else {
        ADD(SBX_MNT_MOUNT, "/sys", "sys", NULL, MS_BIND | MS_REC, NULL, 0, 0, "bind");
        ADD(SBX_MNT_RDONLY, NULL, "sys", NULL, 0, NULL, 0, 0, "make read-only");
    }
    ADD(SBX_MNT_MKDIR, NULL, ".sbx", NULL, 0, NULL, 0755, 0, "mkdir");
    ADD(SBX_MNT_MKDIR, NULL, ".sbx/run", NULL, 0, NULL, 0755, 0, "mkdir");
    ADD(SBX_MNT_TOUCH, NULL, ".sbx/sbx-server", NULL, 0, NULL, 0755, 0, "create");
    ADD(SBX_MNT_MOUNT, cfg->server_bin, ".sbx/sbx-server", NULL, MS_BIND, NULL, 0, 0, "bind");
    ADD(SBX_MNT_RDONLY, NULL, ".sbx/sbx-server", NULL, 0, NULL, 0, 0, "make read-only");
    ADD(SBX_MNT_MOUNT, fmt(rf, "%s/run", cfg->sbx_dir), ".sbx/run", NULL, MS_BIND, NULL, 0, 0,
        "bind");
#undef ADD
    return rc;
}

int sbx__rootfs_plan(const struct sbx__rootfs_cfg *cfg, struct sbx__rootfs *rf,
                     struct sbx_err *err)
{
    char dir[PATH_MAX];
    int rc;

    rf->root = fmt(rf, "%s/root", cfg->sbx_dir);
    if (!rf->root)
        return sbx_err_set(err, -ENOMEM, "plan the root filesystem: out of memory");
    if (strpbrk(cfg->sbx_dir, ",:\\"))
        return sbx_err_set(err, -EINVAL,
                           "state directory %s: overlayfs cannot use a path with ',' or ':'",
                           cfg->state_dir);
    pathf(dir, sizeof(dir), "%s/upper", cfg->sbx_dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return sbx_err_set(err, -errno, "mkdir %s: %s", dir, strerror(errno));
    pathf(dir, sizeof(dir), "%s/work", cfg->sbx_dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return sbx_err_set(err, -errno, "mkdir %s: %s", dir, strerror(errno));
    if (mkdir(rf->root, 0755) < 0 && errno != EEXIST)
        return sbx_err_set(err, -errno, "mkdir %s: %s", rf->root, strerror(errno));
    /* Nothing may propagate back to the host. */
    rc = add(rf, SBX_MNT_MOUNT, NULL, "", NULL, MS_REC | MS_PRIVATE, NULL, 0, 0,
             "make every mount private below");
    if (rc == 0) {
        rf->ops[rf->n - 1].dst = "/";
        rc = cfg->image_root ? plan_image(cfg, rf, err) : plan_host(cfg, rf, err);
    }
    if (rc == 0)
        rc = plan_common(cfg, rf);
    if (rc == -ENOMEM)
        return sbx_err_set(err, rc, "plan the root filesystem: out of memory");
    return rc;
}

static int touch(const char *path, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static int rdonly(const char *path)
{
    struct mount_attr a;

    memset(&a, 0, sizeof(a));
    a.attr_set = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &a, sizeof(a)) < 0)
        return -errno;
    return 0;
}

int sbx__rootfs_apply(const struct sbx__rootfs *rf, size_t *failed)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < rf->n; i++) {
        const struct sbx__mnt_op *op = &rf->ops[i];

        rc = 0;
        switch (op->kind) {
        case SBX_MNT_MOUNT:
            if (mount(op->src, op->dst, op->fstype, op->flags, op->data) < 0)
                rc = -errno;
            break;
        case SBX_MNT_MKDIR:
            if (mkdir(op->dst, op->mode) < 0 && errno != EEXIST)
                rc = -errno;
            break;
        case SBX_MNT_SYMLINK:
            if (symlink(op->src, op->dst) < 0 && errno != EEXIST)
                rc = -errno;
            break;
        case SBX_MNT_TOUCH:
            rc = touch(op->dst, op->mode);
            break;
        case SBX_MNT_RDONLY:
            rc = rdonly(op->dst);
            break;
        }
        if (rc == -ENOENT && op->optional)
            rc = 0;
        if (rc < 0) {
            *failed = i;
            return rc;
        }
    }
    return 0;
}
