#ifndef SBX_PROVIDERS_LOCAL_ROOTFS_H
#define SBX_PROVIDERS_LOCAL_ROOTFS_H

/*
 * The root filesystem of a local sandbox, in two halves:
 *
 * sbx__rootfs_plan() runs on the host before clone(): it decides every
 * mount (an overlay per top-level host directory, or one overlay of an image
 * root), prepares the upper layers on disk (sanitised /etc/shadow copies,
 * emptied ssh host keys, an opaque directory over sbx's own state directory)
 * and formats every path, so that
 *
 * sbx__rootfs_apply() can run in the cloned child (the sandbox's init, in
 * its new user and mount namespaces) using system calls only: it is
 * async-signal-safe (house rule 16). On failure it says which step failed;
 * the parent, which holds the same plan, turns the index into a message.
 *
 * Thread-safety: a plan belongs to one thread at a time.
 */

#include <stddef.h>

#include "base/buf.h"
#include "sbx/err.h"

enum sbx__mnt_kind {
    SBX_MNT_MOUNT = 0,   /* mount(src, dst, fstype, flags, data) */
    SBX_MNT_MKDIR = 1,   /* mkdir(dst, mode); EEXIST is fine */
    SBX_MNT_SYMLINK = 2, /* symlink(src, dst); EEXIST is fine */
    SBX_MNT_TOUCH = 3,   /* an empty file dst (mode), a bind-mount target */
    SBX_MNT_RDONLY = 4,  /* mount_setattr(dst, AT_RECURSIVE, MOUNT_ATTR_RDONLY) */
};

struct sbx__mnt_op {
    enum sbx__mnt_kind kind;
    const char *src;
    const char *dst;
    const char *fstype;
    const char *data;
    unsigned long flags;
    unsigned mode;
    int optional; /* ENOENT (a /proc file this kernel lacks) skips the step */
    const char *what; /* for messages: "mount overlay on /usr" */
};

struct sbx__rootfs_cfg {
    const char *sbx_dir;     /* <state>/local/<id>, absolute */
    const char *state_dir;   /* hidden from the sandbox */
    const char *server_bin;  /* bind-mounted read-only at /.sbx/sbx-server */
    const char *image_root;  /* NULL = overlay of the host's own root */
    const char *host_root;   /* NULL = "/": where top-level directories are read */
    const char *hostname;    /* written to /etc/hostname (in the upper layer) */
    int net_none;            /* own network namespace: a fresh read-only sysfs */
    int gid5_mapped;         /* devpts gets gid=5 (tty) */
};

struct sbx__rootfs {
    struct sbx__mnt_op *ops;
    size_t n, cap;
    char **strs; /* every string the ops point to */
    size_t nstrs, capstrs;
    char *root;  /* <sbx_dir>/root: the new root before pivot_root */
};

/* Builds the plan into rf (zeroed by the caller) and prepares the upper
 * layers under cfg->sbx_dir. Returns 0 or -errno with err. */
int sbx__rootfs_plan(const struct sbx__rootfs_cfg *cfg, struct sbx__rootfs *rf,
                     struct sbx_err *err);
void sbx__rootfs_release(struct sbx__rootfs *rf);

/* Carries out the plan. Async-signal-safe. Returns 0, or -errno with the
 * index of the failed step in *failed. */
int sbx__rootfs_apply(const struct sbx__rootfs *rf, size_t *failed);

/* Appends to out a copy of a shadow(5) or gshadow(5) file (len bytes of in)
 * with every password field replaced by "*". */
int sbx__shadow_sanitize(const char *in, size_t len, struct sbx_buf *out);

/* Whether an overlay of the directory at mount point path would fail because
 * something is mounted below it: mountinfo is the text of
 * /proc/self/mountinfo. */
int sbx__has_submounts(const char *mountinfo, const char *path);

#endif
