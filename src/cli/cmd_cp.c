/*
 * sbx cp: files and directories between the host and a sandbox, with
 * docker-cp semantics (an existing directory as DST receives the source
 * under its basename; otherwise DST is the new name). Single files go
 * through the provider's file calls to their exact name; directories go
 * through sbx-server as zips (sbx_runtime_upload/download), unpacked on the
 * host by src/archive's extractor with its zip-slip protection.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/zip.h"
#include "base/buf.h"
#include "base/fd.h"

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_OPTS_END,
};

/* "ID:PATH" -> ref and path (pointing into a copy in *buf). A host path
 * may hold ':' too: one that starts with '/' or '.', or whose part before
 * the ':' holds a '/', is the host's. */
static bool split_remote(const char *arg, char **buf, const char **ref, const char **path)
{
    const char *colon = strchr(arg, ':');

    if (arg[0] == '/' || arg[0] == '.' || !colon || colon == arg ||
        memchr(arg, '/', (size_t)(colon - arg)))
        return false;
    *buf = strdup(arg);
    if (!*buf)
        return false;
    (*buf)[colon - arg] = '\0';
    *ref = *buf;
    *path = *buf + (colon - arg) + 1;
    if (!**path)
        *path = ".";
    return true;
}

/* The last component of a path, ignoring trailing slashes. */
static void add_basename(struct sbx_buf *out, const char *path)
{
    size_t n = strlen(path);
    size_t start;

    while (n > 1 && path[n - 1] == '/')
        n--;
    start = n;
    while (start > 0 && path[start - 1] != '/')
        start--;
    if (n - start == 0 || (n - start == 1 && path[start] == '/'))
        sbx_buf_addstr(out, "root");
    else
        sbx_buf_add(out, path + start, n - start);
}

/* Everything before the last component ("/" for "/x", "." for "x"). */
static void add_dirname(struct sbx_buf *out, const char *path)
{
    size_t n = strlen(path);

    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0)
        sbx_buf_addstr(out, ".");
    else
        sbx_buf_add(out, path, n);
}

/* The absolute path abs with "." and ".." components resolved lexically,
 * so that its last component is a real name: "/w/a/.." is "/w", and "/" is
 * "/" ("/.." too). A final "." is kept, as docker cp's "copy the
 * contents" form ("/w/." is "/w/."). The sandbox answers abs: whatever it
 * says, the name a copy gets on the host is then never "..". */
static int add_normalized(struct sbx_buf *out, const char *abs)
{
    const char *p = abs;
    bool dot_last = false;
    int rc = 0;

    while (rc == 0 && *p) {
        size_t n;

        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n == 0)
            break;
        dot_last = n == 1 && p[0] == '.';
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            const char *slash = out->len ? strrchr(out->ptr, '/') : NULL;

            sbx_buf_truncate(out, slash ? (size_t)(slash - out->ptr) : 0);
        } else if (!dot_last) {
            rc = sbx_buf_addch(out, '/');
            if (rc == 0)
                rc = sbx_buf_add(out, p, n);
        }
        p += n;
    }
    if (rc == 0 && dot_last)
        rc = sbx_buf_addstr(out, "/.");
    else if (rc == 0 && out->len == 0)
        rc = sbx_buf_addch(out, '/');
    return rc;
}

/* A small shell step in the sandbox (through the provider, not the
 * session); its stdout in *out. Returns 0 when it exited 0. */
static int sandbox_sh(struct sbx_provider *p, const char *id, const char *script,
                      const char *const *args, struct sbx_buf *out, struct sbx_err *err)
{
    const char *argv[8] = {"/bin/sh", "-c", script, "sh"};
    struct sbx_exec_result res = {0};
    struct sbx_exec_req req = {
        .argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .timeout_ms = 60000};
    size_t i;
    int rc;

    for (i = 0; args[i] && i < 3; i++)
        argv[4 + i] = args[i];
    rc = sbx_provider_exec(p, id, &req, &res, err);
    if (rc == 0 && res.exit_code != 0)
        rc = sbx_err_set(err, -EIO, "%.*s", (int)strcspn(res.err ? res.err : "failed", "\n"),
                         res.err && *res.err ? res.err : "failed");
    if (rc == 0 && out && res.out)
        rc = sbx_buf_add(out, res.out, res.out_len);
    sbx_exec_result_release(&res);
    return rc;
}

/* What PATH is in the sandbox: 'd', 'f' or 'n' (nothing), and its absolute
 * form (relative paths are from the sandbox's working directory). */
static int probe(struct sbx_provider *p, const char *id, const char *path, char *type,
                 struct sbx_buf *abs, struct sbx_err *err)
{
    static const char script[] =
        "p=$1; if [ -d \"$p\" ]; then t=d; elif [ -e \"$p\" ]; then t=f; else t=n; fi; "
        "case $p in /*) ;; *) p=$(pwd)/$p ;; esac; printf '%s\\n%s' \"$t\" \"$p\"";
    const char *args[] = {path, NULL};
    struct sbx_buf out = SBX_BUF_INIT;
    int rc = sandbox_sh(p, id, script, args, &out, err);

    if (rc == 0 && (out.len < 3 || out.ptr[1] != '\n'))
        rc = sbx_err_set(err, -EPROTO, "probing %s in the sandbox: unexpected answer", path);
    if (rc == 0 && out.ptr[2] != '/')
        rc = sbx_err_set(err, -EPROTO, "probing %s in the sandbox: '%s' is not absolute", path,
                         out.ptr + 2);
    if (rc == 0) {
        *type = out.ptr[0];
        rc = add_normalized(abs, out.ptr + 2);
        if (rc < 0)
            rc = sbx_err_set(err, rc, "out of memory");
    }
    sbx_buf_free(&out);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* rm -rf of a temporary directory of ours. */
static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int attach(struct sbx_cli *c, const char *id, struct sbx_runtime **rt)
{
    struct sbx_err err = {0};

    *rt = sbx_cli_attach_id(c, id, &err);
    return *rt ? 0 : sbx_cli_fail_err(c, err.code, &err, "attaching");
}

/* A host directory to sandbox path A (which is not a file). The runtime
 * puts it at DIR/<its basename>: into A when A is a directory, else next
 * to A under a temporary name and then renamed to A. */
static int dir_to_sandbox(struct sbx_cli *c, struct sbx_provider *p, const char *id,
                          const char *src, char type, const char *abs)
{
    static const char mk[] = "mktemp -d \"$1/.sbx-cp-XXXXXX\"";
    static const char mv[] = "mv -- \"$1/$2\" \"$3\" && rmdir -- \"$1\"";
    static const char rmtmp[] = "rm -rf -- \"$1\"";
    struct sbx_buf name = SBX_BUF_INIT, parent = SBX_BUF_INIT, want = SBX_BUF_INIT;
    struct sbx_buf tmp = SBX_BUF_INIT;
    struct sbx_runtime *rt = NULL;
    struct sbx_err err = {0};
    char *real = realpath(src, NULL);
    int rc;

    if (!real) {
        rc = sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: %s", src, strerror(errno));
        goto out;
    }
    add_basename(&name, real);
    add_basename(&want, abs);
    add_dirname(&parent, abs);
    rc = attach(c, id, &rt);
    if (rc != 0)
        goto out;
    if (type == 'd' || strcmp(name.ptr, want.ptr) == 0) {
        rc = sbx_runtime_upload(rt, src, type == 'd' ? abs : parent.ptr, &err);
    } else {
        const char *mk_args[] = {parent.ptr, NULL};

        rc = sandbox_sh(p, id, mk, mk_args, &tmp, &err);
        while (rc == 0 && tmp.len && tmp.ptr[tmp.len - 1] == '\n')
            sbx_buf_truncate(&tmp, tmp.len - 1);
        if (rc == 0)
            rc = sbx_runtime_upload(rt, src, tmp.ptr, &err);
        if (rc == 0) {
            const char *mv_args[] = {tmp.ptr, name.ptr, abs, NULL};

            rc = sandbox_sh(p, id, mv, mv_args, NULL, &err);
        }
        if (rc < 0 && tmp.len) {
            const char *rm_args[] = {tmp.ptr, NULL};

            sandbox_sh(p, id, rmtmp, rm_args, NULL, NULL);
        }
    }
    if (rc < 0)
        rc = sbx_cli_fail_err(c, rc, &err, "cp");
out:
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    free(real);
    sbx_buf_free(&tmp);
    sbx_buf_free(&want);
    sbx_buf_free(&parent);
    sbx_buf_free(&name);
    return rc;
}

static int to_sandbox(struct sbx_cli *c, const char *src, const char *ref, const char *path,
                      const char *dst_arg)
{
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info info = {0};
    struct sbx_buf abs = SBX_BUF_INIT;
    struct sbx_err err = {0};
    struct stat st;
    char type = 'n';
    int rc;

    if (stat(src, &st) < 0)
        return errno == ENOENT
                   ? sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: no such file or directory", src)
                   : sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: not a regular file or a directory", src);
    rc = sbx_cli_open_running(c, ref, &p, &info);
    if (rc != 0)
        goto out;
    rc = probe(p, info.id, path, &type, &abs, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, dst_arg);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        if (type == 'f')
            rc = sbx_cli_fail_cmd(c, SBX_EXIT_FAILED,
                                  "cannot overwrite the file %s with the directory %s", dst_arg,
                                  src);
        else
            rc = dir_to_sandbox(c, p, info.id, src, type, abs.ptr);
        goto out;
    }
    if (type == 'd') {
        sbx_buf_addch(&abs, '/');
        add_basename(&abs, src);
    }
    rc = sbx_provider_upload(p, info.id, src, abs.ptr, st.st_mode & 07777, &err);
    if (rc < 0)
        rc = sbx_cli_fail_err(c, rc, &err, "cp");
out:
    sbx_buf_free(&abs);
    sbx_sandbox_info_free(&info);
    sbx_provider_close(p);
    return rc;
}

/* A sandbox directory (absolute path abs) to the host path target: its
 * zip is unpacked into target when that is a directory already, else into
 * a new directory renamed to target once complete. */
static int dir_to_host(struct sbx_cli *c, const char *id, const char *abs, const char *target)
{
    struct sbx_buf zip = SBX_BUF_INIT, tmp = SBX_BUF_INIT;
    const char *tdir = getenv("TMPDIR");
    struct sbx_runtime *rt = NULL;
    struct sbx_err err = {0};
    struct stat st;
    bool exists = stat(target, &st) == 0;
    int fd = -1, rc;

    if (exists && !S_ISDIR(st.st_mode))
        return sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "cannot overwrite the file %s with a directory",
                                target);
    rc = attach(c, id, &rt);
    if (rc != 0)
        goto out;
    sbx_buf_addf(&zip, "%s/sbx-cp-XXXXXX.zip", tdir && *tdir ? tdir : "/tmp");
    fd = mkostemps(zip.ptr, 4, O_CLOEXEC);
    if (fd < 0) {
        rc = sbx_cli_fail(c, SBX_EXIT_INFRA, "temporary file %s: %s", zip.ptr, strerror(errno));
        sbx_buf_reset(&zip);
        goto out;
    }
    rc = sbx_runtime_download(rt, abs, zip.ptr, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, "cp");
        goto out;
    }
    if (!exists) {
        add_dirname(&tmp, target);
        sbx_buf_addstr(&tmp, "/.sbx-cp-XXXXXX");
        if (!mkdtemp(tmp.ptr)) {
            rc = sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: %s", target, strerror(errno));
            sbx_buf_reset(&tmp);
            goto out;
        }
    }
    rc = sbx_zip_extract(zip.ptr, exists ? target : tmp.ptr, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, "cp: unpacking");
        goto out;
    }
    if (!exists && rename(tmp.ptr, target) < 0) {
        rc = sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: %s", target, strerror(errno));
        goto out;
    }
    sbx_buf_reset(&tmp);
out:
    if (tmp.len)
        remove_tree(tmp.ptr);
    if (zip.len)
        unlink(zip.ptr);
    sbx_fd_close(fd);
    sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    sbx_buf_free(&tmp);
    sbx_buf_free(&zip);
    return rc;
}

static int from_sandbox(struct sbx_cli *c, const char *ref, const char *path, const char *src_arg,
                        const char *dst)
{
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info info = {0};
    struct sbx_buf abs = SBX_BUF_INIT, target = SBX_BUF_INIT;
    struct sbx_err err = {0};
    struct stat st;
    char type = 'n';
    int rc;

    rc = sbx_cli_open_running(c, ref, &p, &info);
    if (rc != 0)
        goto out;
    rc = probe(p, info.id, path, &type, &abs, &err);
    if (rc < 0) {
        rc = sbx_cli_fail_err(c, rc, &err, src_arg);
        goto out;
    }
    if (type == 'n') {
        rc = sbx_cli_fail_cmd(c, SBX_EXIT_FAILED, "%s: no such file or directory", src_arg);
        goto out;
    }
    sbx_buf_addstr(&target, dst);
    if (stat(dst, &st) == 0 && S_ISDIR(st.st_mode)) {
        sbx_buf_addch(&target, '/');
        add_basename(&target, abs.ptr);
    }
    if (type == 'd') {
        rc = dir_to_host(c, info.id, abs.ptr, target.ptr);
        goto out;
    }
    rc = sbx_provider_download(p, info.id, abs.ptr, target.ptr, &err);
    if (rc < 0)
        rc = sbx_cli_fail_err(c, rc, &err, "cp");
out:
    sbx_buf_free(&target);
    sbx_buf_free(&abs);
    sbx_sandbox_info_free(&info);
    sbx_provider_close(p);
    return rc;
}

static int cp_main(struct sbx_cli *c, int argc, char **argv)
{
    struct sbx_cli_plain o = {.c = c};
    struct sbx_cli_args args = {0};
    char *sbuf = NULL, *dbuf = NULL;
    const char *sref = NULL, *spath = NULL, *dref = NULL, *dpath = NULL;
    bool sremote, dremote;
    int rc;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_cp, argc, argv, opts, -1, sbx_cli_plain_opt, &o, &o.help,
                           &args);
    if (rc >= 0)
        goto out;
    rc = sbx_cli_two_args(c, &args, "SRC and DST", "DST");
    if (rc != 0)
        goto out;
    sremote = split_remote(args.pos[0], &sbuf, &sref, &spath);
    dremote = split_remote(args.pos[1], &dbuf, &dref, &dpath);
    if (sremote == dremote) {
        rc = sbx_cli_usage(c, "exactly one of SRC and DST must be ID:PATH");
        goto out;
    }
    if (dremote)
        rc = to_sandbox(c, args.pos[0], dref, dpath, args.pos[1]);
    else
        rc = from_sandbox(c, sref, spath, args.pos[0], args.pos[1]);
out:
    free(sbuf);
    free(dbuf);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_cp = {
    "cp",
    "copy files or directories between the host and a sandbox",
    "usage: sbx cp SRC DST\n"
    "\n"
    "Copies a file or a directory (recursively) between the host and a sandbox;\n"
    "exactly one of SRC and DST is ID:PATH (a relative PATH is from the sandbox's\n"
    "working directory). As docker cp: when DST is an existing directory, the source\n"
    "lands in it under its own name; otherwise DST is the new name. A host path with\n"
    "a ':' in it is written ./name:x or /abs/name:x.\n"
    "\n"
    "exit: 0; 1 no such sandbox, 'sbx cp: PATH: no such file or directory', or the\n"
    "copy failed; 2 usage; 3 the provider or sbx-server failed.\n"
    "examples: sbx cp ./src dev:/workspace        # -> /workspace/src\n"
    "          sbx cp dev:/workspace/out.txt .    # -> ./out.txt\n",
    cp_main,
};
