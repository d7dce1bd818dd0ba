#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "sbx/model.h"
#include "server/bash/session.h"
#include "server/files/files.h"

/*
 * The `write` action (openhands-protocol.md §4.3), as the stock server's
 * ActionExecutor.write() does it.
 *
 * Written in place, not through a temp file + rename: upstream opens the
 * file 'r+' (or 'w' when new) and rewrites it, so a symlink keeps pointing
 * where it did and the target is written, hard links stay shared, and the
 * inode (and with it ACLs, xattrs and the owner) is kept. A rename would
 * replace a symlink by a regular file and split hard links. The new text is
 * computed in full before the file is touched, so an undecodable file is
 * left as it was (upstream reads before it writes, too).
 */

/* os.path.dirname() of an absolute path as sbx_files_resolve() prints it
 * (no trailing or doubled slashes, except a leading "//"). */
static int dirname_of(const char *path, struct sbx_buf *out)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (!slash)
        return 0;
    n = (size_t)(slash - path);
    if (n == 0 || (n == 1 && path[0] == '/'))
        n++; /* "/x" -> "/", "//x" -> "//" */
    return sbx_buf_add(out, path, n);
}

/* os.makedirs(dir) (mode 0777 before umask); -errno of the failing mkdir
 * with that directory's path in failed. */
static int makedirs(const char *dir, struct sbx_buf *failed)
{
    struct sbx_buf cur = SBX_BUF_INIT;
    const char *p = dir;
    int rc = 0;

    while (*p && rc == 0) {
        const char *e = p;

        while (*e == '/')
            e++;
        while (*e && *e != '/')
            e++;
        sbx_buf_reset(&cur);
        rc = sbx_buf_add(&cur, dir, (size_t)(e - dir));
        if (rc < 0)
            break;
        if (mkdir(cur.ptr, 0777) < 0) {
            int err = -errno;
            struct stat st;

            if (err != -EEXIST || stat(cur.ptr, &st) < 0 || !S_ISDIR(st.st_mode)) {
                rc = err == -EEXIST ? -ENOTDIR : err;
                sbx_buf_addstr(failed, cur.ptr);
            }
        }
        p = e;
    }
    sbx_buf_free(&cur);
    return rc;
}

/* File contents into out; -EISDIR for a directory. fd is O_RDWR. */
static int read_all(int fd, struct sbx_buf *out)
{
    char tmp[65536];

    for (;;) {
        ssize_t r = sbx_fd_read(fd, tmp, sizeof(tmp));
        int rc;

        if (r < 0)
            return (int)r;
        if (r == 0)
            return 0;
        rc = sbx_buf_add(out, tmp, (size_t)r);
        if (rc < 0)
            return rc;
    }
}

/* uid/gid a new file gets: upstream chowns to (user_id, user_id). user_id
 * is --user-id, replaced by the uid of an account that already existed
 * with another uid (our s->user.uid); for root upstream keeps --user-id. */
static uid_t new_file_owner(const struct sbx_server *s)
{
    if (s->cfg.username && strcmp(s->cfg.username, "root") == 0 && s->cfg.user_id >= 0)
        return (uid_t)s->cfg.user_id;
    return s->user.uid;
}

struct sbx_obs *sbx_server_do_write(struct sbx_server *s, const struct sbx_action *a)
{
    const struct sbx_action_write *w = &a->u.write;
    struct sbx_buf abs = SBX_BUF_INIT, dir = SBX_BUF_INIT, old = SBX_BUF_INIT, text = SBX_BUF_INIT,
                   out = SBX_BUF_INIT, msg = SBX_BUF_INIT, failed = SBX_BUF_INIT;
    struct sbx_files_lines lines = {0};
    struct sbx_obs *o = NULL;
    struct stat st;
    bool exists;
    int fd = -1, perm_err = 0, rc;

    rc = sbx_files_resolve(sbx_bash_cwd(s->bash), w->path, &abs);
    if (rc == 0)
        rc = dirname_of(abs.ptr, &dir);
    if (rc < 0)
        goto out;
    if (dir.len && stat(dir.ptr, &st) < 0) {
        rc = makedirs(dir.ptr, &failed);
        if (rc == -ENOMEM)
            goto out;
        if (rc < 0) {
            /* upstream: an uncaught OSError (HTTP 500) */
            rc = sbx_files_oserror(rc, failed.ptr, &msg);
            goto err;
        }
    }
    exists = stat(abs.ptr, &st) == 0;
    if (exists) {
        /* 'r+': O_RDWR, which a directory refuses with EISDIR */
        fd = open(abs.ptr, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) {
            rc = read_all(fd, &old);
            if (rc == 0) {
                rc = sbx_files_decode_text(old.ptr, old.len, &text);
                if (rc == -EILSEQ) {
                    rc = sbx_buf_addf(&msg, "File could not be decoded as utf-8: %s", abs.ptr);
                    goto err;
                }
            }
            if (rc == 0)
                rc = sbx_files_lines_split(text.ptr, text.len, &lines);
            if (rc == 0)
                rc = sbx_files_splice(text.ptr, &lines, w->content, w->start, w->end, &out);
            if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
                rc = -errno;
        } else {
            rc = -errno;
        }
    } else {
        rc = sbx_files_splice(NULL, NULL, w->content, 0, -1, &out);
        if (rc == 0) {
            fd = open(abs.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0666);
            if (fd < 0)
                rc = -errno;
        }
    }
    if (rc == 0)
        rc = sbx_fd_write_all(fd, out.ptr, out.len);
    if (rc == 0 && exists && ftruncate(fd, (off_t)out.len) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    fd = -1;
    if (rc == -ENOMEM) {
        goto out;
    } else if (rc == -ENOENT) {
        rc = sbx_buf_addf(&msg, "File not found: %s", abs.ptr);
        goto err;
    } else if (rc == -EISDIR) {
        rc = sbx_buf_addf(&msg, "Path is a directory: %s. You can only write to files", abs.ptr);
        goto err;
    } else if (rc < 0) {
        rc = sbx_files_oserror(rc, abs.ptr, &msg);
        goto err;
    }

    /* permissions: restore an existing file's, give a new one 0664 */
    if (exists) {
        if (chmod(abs.ptr, st.st_mode & 07777) < 0 || chown(abs.ptr, st.st_uid, st.st_gid) < 0)
            perm_err = -errno;
    } else {
        uid_t id = new_file_owner(s);

        if (chmod(abs.ptr, 0664) < 0 || chown(abs.ptr, id, (gid_t)id) < 0)
            perm_err = -errno;
    }
    if (perm_err < 0) {
        rc = sbx_buf_addf(
            &msg, "File %s written, but failed to change ownership and permissions: ", abs.ptr);
        if (rc == 0)
            rc = sbx_files_oserror(perm_err, abs.ptr, &msg);
        goto err;
    }
    o = sbx_obs_new(SBX_OBS_WRITE);
    if (o && sbx_obs_set(&o->u.write.path, abs.ptr) < 0) {
        sbx_obs_free(o);
        o = NULL;
    }
    goto out;
err:
    if (rc == 0)
        o = sbx_obs_error_new(msg.ptr);
out:
    if (fd >= 0)
        sbx_fd_close(fd);
    sbx_files_lines_free(&lines);
    sbx_buf_free(&abs);
    sbx_buf_free(&dir);
    sbx_buf_free(&old);
    sbx_buf_free(&text);
    sbx_buf_free(&out);
    sbx_buf_free(&msg);
    sbx_buf_free(&failed);
    return o;
}
