#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/fd.h"
#include "sbx/model.h"
#include "server/bash/session.h"
#include "server/editor/editor.h"
#include "server/files/files.h"

/*
 * The `read` action (openhands-protocol.md §4.2), as the stock server's
 * ActionExecutor.read() does it:
 *   1. binaryornot on the path AS GIVEN: a relative path is looked up from
 *      the server process's cwd, not the shell's (upstream quirk, kept);
 *   2. impl_source "oh_aci": the str_replace editor's `view`;
 *   3. otherwise the path is resolved against the bash session's cwd, media
 *      files come back as data URLs and anything else as UTF-8 text lines.
 */

struct media {
    const char *ext;
    const char *mime; /* Python's mimetypes.guess_type() answer */
};

static const struct media media_types[] = {
    {".png", "image/png"}, {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
    {".bmp", "image/bmp"}, {".gif", "image/gif"},   {".pdf", "application/pdf"},
    {".mp4", "video/mp4"}, {".webm", "video/webm"}, {".ogg", "audio/ogg"},
};

static const char *media_mime(const char *path)
{
    size_t len = strlen(path), i;

    for (i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++) {
        size_t el = strlen(media_types[i].ext);

        if (len >= el && strcasecmp(path + len - el, media_types[i].ext) == 0)
            return media_types[i].mime;
    }
    return NULL;
}

static struct sbx_obs *read_obs(const char *path, const char *impl, const char *content, size_t len)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_READ);

    if (!o)
        return NULL;
    if (sbx_obs_set(&o->u.read.path, path) < 0 || sbx_obs_set(&o->u.read.impl_source, impl) < 0 ||
        sbx_obs_set_content(o, content, len) < 0) {
        sbx_obs_free(o);
        return NULL;
    }
    return o;
}

static struct sbx_obs *read_aci(struct sbx_server *s, const struct sbx_action_read *r)
{
    struct sbx_editor_req q = {0};
    struct sbx_editor_res res = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    struct sbx_obs *o = NULL;
    int rc;

    q.command = "view";
    q.path = r->path;
    q.has_view_range = r->has_view_range;
    q.view_range[0] = r->view_range[0];
    q.view_range[1] = r->view_range[1];
    q.view_range_raw = r->view_range_raw;
    rc = sbx_editor_run(s->editor, &q, &res);
    if (rc < 0)
        goto out;
    if (res.error)
        rc = sbx_buf_addstr(&b, "ERROR:\n");
    if (rc == 0)
        rc = sbx_buf_addstr(&b, res.output ? res.output : "");
    if (rc == 0)
        o = read_obs(r->path, "oh_aci", b.ptr, b.len);
out:
    sbx_editor_res_clear(&res);
    sbx_buf_free(&b);
    return o;
}

/* The whole file, or -errno (-EISDIR for a directory: Python's open()
 * refuses those, C's does not). */
static int slurp(const char *path, struct sbx_buf *out)
{
    struct stat st;
    char tmp[65536];
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    for (;;) {
        ssize_t r = sbx_fd_read(fd, tmp, sizeof(tmp));

        if (r < 0) {
            rc = (int)r;
            break;
        }
        if (r == 0)
            break;
        rc = sbx_buf_add(out, tmp, (size_t)r);
        if (rc < 0)
            break;
    }
out:
    sbx_fd_close(fd);
    return rc;
}

struct sbx_obs *sbx_server_do_read(struct sbx_server *s, const struct sbx_action *a)
{
    const struct sbx_action_read *r = &a->u.read;
    struct sbx_buf abs = SBX_BUF_INIT, raw = SBX_BUF_INIT, text = SBX_BUF_INIT, msg = SBX_BUF_INIT;
    struct sbx_files_lines lines = {0};
    struct sbx_obs *o = NULL;
    const char *cwd, *mime;
    size_t b, e;
    int rc;

    if (sbx_files_is_binary(r->path))
        return sbx_obs_error_new("ERROR_BINARY_FILE");
    if (strcmp(r->impl_source ? r->impl_source : "default", "oh_aci") == 0)
        return read_aci(s, r);

    cwd = sbx_bash_cwd(s->bash);
    if (sbx_files_resolve(cwd, r->path, &abs) < 0)
        goto out;
    mime = media_mime(abs.ptr);
    rc = slurp(abs.ptr, &raw);
    if (rc == -ENOENT) {
        rc = sbx_buf_addf(&msg, "File not found: %s. Your current working directory is %s.",
                          abs.ptr, cwd);
    } else if (rc == -EISDIR) {
        rc = sbx_buf_addf(&msg, "Path is a directory: %s. You can only read files", abs.ptr);
    } else if (rc == -ENOMEM) {
        goto out;
    } else if (rc < 0) {
        /* upstream lets other OSErrors escape (HTTP 500); an observation
         * with Python's message is more useful to the agent */
        rc = sbx_files_oserror(rc, abs.ptr, &msg);
    } else if (mime) {
        rc = sbx_buf_addf(&text, "data:%s;base64,", mime);
        if (rc == 0)
            rc = sbx_base64_encode(raw.ptr, raw.len, &text);
        if (rc == 0)
            o = read_obs(abs.ptr, "default", text.ptr, text.len);
        goto out;
    } else {
        rc = sbx_files_decode_text(raw.ptr, raw.len, &text);
        if (rc == -EILSEQ) {
            rc = sbx_buf_addf(&msg, "File could not be decoded as utf-8: %s.", abs.ptr);
        } else if (rc == 0) {
            rc = sbx_files_lines_split(text.ptr, text.len, &lines);
            if (rc == 0) {
                sbx_files_window(lines.n, r->start, r->end, &b, &e);
                o = read_obs(abs.ptr, "default", text.ptr + lines.off[b],
                             lines.off[e] - lines.off[b]);
            }
            goto out;
        }
    }
    if (rc == 0)
        o = sbx_obs_error_new(msg.ptr);
out:
    sbx_files_lines_free(&lines);
    sbx_buf_free(&abs);
    sbx_buf_free(&raw);
    sbx_buf_free(&text);
    sbx_buf_free(&msg);
    return o;
}
