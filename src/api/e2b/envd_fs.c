/*
 * envd's filesystem.Filesystem service (envd.h) over the provider's exec of
 * standard tools in the sandbox (/bin/sh, GNU find, readlink, stat, mkdir,
 * rm, mv), so it works over any backend. EntryInfo is filled the way envd's
 * GetEntryInfo does (a symlink reports its target's type and permission
 * bits, the resolved target, and Go's FileMode string). Messages follow
 * e2b-dev/infra packages/envd/internal/services/filesystem.
 *
 * Listing format (what LIST_SH prints): for each entry nine NUL-terminated
 * fields  %y %Y %s %m %u %g %T@ %f %p, then the marker field "@@LINKS@@",
 * then for each symlink three fields: its path, its resolved target (empty
 * when it cannot be resolved) and the target's permission bits (octal).
 */
#include "api/e2b/envd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"
#include "net/connect.h"

#define FIND_FMT "'%y\\0%Y\\0%s\\0%m\\0%u\\0%g\\0%T@\\0%f\\0%p\\0'"
#define LINKS_SH                                                                              \
    "-exec sh -c 'for l; do t=$(readlink -e -- \"$l\") && m=$(stat -L -c %a -- \"$l\") || "  \
    "{ t=; m=; }; printf \"%s\\0%s\\0%s\\0\" \"$l\" \"$t\" \"$m\"; done' sh {} +"

/* $P = path: exit 10 missing. Prints the entry of the path itself. */
#define STAT_SH                                                                               \
    "[ -e \"$P\" ] || [ -L \"$P\" ] || exit 10; "                                             \
    "find \"$P\" -maxdepth 0 -printf " FIND_FMT " && printf '@@LINKS@@\\0' && "               \
    "find \"$P\" -maxdepth 0 -type l " LINKS_SH

/* $0 = directory, $1 = depth: 10 missing, 11 not a directory. Paths come
 * out as ./x, relative to the directory (its symlinks followed). */
static const char LIST_SH[] =
    "[ -e \"$0\" ] || exit 10; [ -d \"$0\" ] || exit 11; cd -- \"$0\" || exit 12; "
    "find . -mindepth 1 -maxdepth \"$1\" -printf " FIND_FMT " && printf '@@LINKS@@\\0' && "
    "find . -mindepth 1 -maxdepth \"$1\" -type l " LINKS_SH;

static const char MKDIR_SH[] =
    "if [ -d \"$0\" ]; then exit 11; elif [ -e \"$0\" ] || [ -L \"$0\" ]; then exit 12; fi; "
    "mkdir -p -- \"$0\" >&2";

static const char RM_SH[] = "rm -rf -- \"$0\" >&2";

/* $0 source, $1 destination: 10 missing source; then the destination's entry */
static const char MV_SH[] =
    "[ -e \"$0\" ] || [ -L \"$0\" ] || exit 10; "
    "mkdir -p -- \"$(dirname -- \"$1\")\" >&2 && mv -T -- \"$0\" \"$1\" >&2 || exit 13; "
    "P=$1; " STAT_SH;

static const char STAT_SCRIPT[] = "P=$0; " STAT_SH;

/* ---- the listing --------------------------------------------------------- */

static int next_field(const char **p, const char *end, const char **f, size_t *n)
{
    const char *z = memchr(*p, '\0', (size_t)(end - *p));

    if (!z)
        return -EPROTO;
    *f = *p;
    *n = (size_t)(z - *p);
    *p = z + 1;
    return 0;
}

static char *dupn(const char *s, size_t n)
{
    char *r = malloc(n + 1);

    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

static int num_field(const char *f, size_t n, int base, int64_t *out)
{
    char tmp[32], *end;

    if (n == 0 || n >= sizeof(tmp))
        return -EPROTO;
    memcpy(tmp, f, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoll(tmp, &end, base);
    return *end || errno ? -EPROTO : 0;
}

/* "%T@": seconds with a fraction (10 digits) */
static int time_field(const char *f, size_t n, int64_t *s, int32_t *ns)
{
    const char *dot = memchr(f, '.', n);
    size_t i;
    int64_t frac = 0;
    int digits = 0;

    if (num_field(f, dot ? (size_t)(dot - f) : n, 10, s) < 0)
        return -EPROTO;
    for (i = dot ? (size_t)(dot - f) + 1 : n; i < n; i++) {
        if (f[i] < '0' || f[i] > '9')
            return -EPROTO;
        if (digits < 9) {
            frac = frac * 10 + (f[i] - '0');
            digits++;
        }
    }
    while (digits++ < 9)
        frac *= 10;
    *ns = (int32_t)frac;
    return 0;
}

/* Orders paths as filepath.WalkDir visits them: '/' before any byte. */
static int walk_cmp(const void *a, const void *b)
{
    const unsigned char *x = (const unsigned char *)((const struct sbx__envd_entry *)a)->path;
    const unsigned char *y = (const unsigned char *)((const struct sbx__envd_entry *)b)->path;

    while (*x && *x == *y) {
        x++;
        y++;
    }
    if (*x == *y)
        return 0;
    return (*x == '/' ? 1 : *x ? *x + 1 : 0) - (*y == '/' ? 1 : *y ? *y + 1 : 0);
}

void sbx__envd_entries_free(struct sbx__envd_entry *e, size_t n)
{
    size_t i;

    for (i = 0; e && i < n; i++) {
        free(e[i].name);
        free(e[i].path);
        free(e[i].owner);
        free(e[i].group);
        free(e[i].target);
    }
    free(e);
}

int sbx__envd_parse_listing(const char *p, size_t n, struct sbx__envd_entry **out)
{
    const char *end = p + n, *f[9];
    size_t fl[9], cnt = 0, cap = 0, i;
    struct sbx__envd_entry *v = NULL;
    int rc = -EPROTO;

    *out = NULL;
    for (;;) {
        struct sbx__envd_entry *e;
        int64_t x;

        if (next_field(&p, end, &f[0], &fl[0]) < 0)
            goto fail;
        if (fl[0] == 9 && memcmp(f[0], "@@LINKS@@", 9) == 0)
            break;
        for (i = 1; i < 9; i++)
            if (next_field(&p, end, &f[i], &fl[i]) < 0)
                goto fail;
        if (fl[0] != 1 || fl[1] != 1 || fl[7] == 0 || fl[8] == 0)
            goto fail;
        if (cnt == cap) {
            struct sbx__envd_entry *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*nv));

            if (!nv) {
                rc = -ENOMEM;
                goto fail;
            }
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        e = &v[cnt++];
        memset(e, 0, sizeof(*e));
        e->type = f[0][0];
        e->target_type = f[1][0];
        if (num_field(f[2], fl[2], 10, &e->size) < 0 || num_field(f[3], fl[3], 8, &x) < 0 ||
            x < 0 || x > 07777 || time_field(f[6], fl[6], &e->mtime_s, &e->mtime_ns) < 0)
            goto fail;
        e->mode = (unsigned)x;
        e->owner = dupn(f[4], fl[4]);
        e->group = dupn(f[5], fl[5]);
        e->name = dupn(f[7], fl[7]);
        e->path = dupn(f[8], fl[8]);
        if (!e->owner || !e->group || !e->name || !e->path) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    while (p < end) {
        const char *lp, *lt, *lm;
        size_t lpn, ltn, lmn;
        int64_t x = 0;

        if (next_field(&p, end, &lp, &lpn) < 0 || next_field(&p, end, &lt, &ltn) < 0 ||
            next_field(&p, end, &lm, &lmn) < 0)
            goto fail;
        if (lmn && (num_field(lm, lmn, 8, &x) < 0 || x < 0 || x > 07777))
            goto fail;
        for (i = 0; i < cnt; i++) {
            if (v[i].type == 'l' && !v[i].target && strlen(v[i].path) == lpn &&
                memcmp(v[i].path, lp, lpn) == 0) {
                v[i].target = ltn ? dupn(lt, ltn) : strdup(v[i].path);
                v[i].target_mode = ltn ? (unsigned)x : 0;
                if (!ltn)
                    v[i].target_type = 'N';
                if (!v[i].target) {
                    rc = -ENOMEM;
                    goto fail;
                }
                break;
            }
        }
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), walk_cmp);
    *out = v;
    return (int)cnt;
fail:
    sbx__envd_entries_free(v, cnt);
    return rc;
}

/* ---- EntryInfo ------------------------------------------------------------ */

void sbx__envd_perm_string(char type, unsigned mode, char out[16])
{
    static const char rwx[] = "rwxrwxrwx";
    size_t n = 0;
    int i;

    switch (type) {
    case 'd':
        out[n++] = 'd';
        break;
    case 'l':
        out[n++] = 'L';
        break;
    case 'b':
        out[n++] = 'D';
        break;
    case 'p':
        out[n++] = 'p';
        break;
    case 's':
        out[n++] = 'S';
        break;
    case 'c':
        out[n++] = 'D';
        break;
    default:
        break;
    }
    if (mode & 04000)
        out[n++] = 'u';
    if (mode & 02000)
        out[n++] = 'g';
    if (type == 'c')
        out[n++] = 'c';
    if (mode & 01000)
        out[n++] = 't';
    if (n == 0)
        out[n++] = '-';
    for (i = 0; i < 9; i++)
        out[n++] = mode & (1u << (8 - i)) ? rwx[i] : '-';
    out[n] = '\0';
}

void sbx__envd_rfc3339(int64_t s, int32_t ns, char out[40])
{
    struct tm tm;
    time_t t = (time_t)s;
    size_t n;

    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 40, "1970-01-01T00:00:00Z");
        return;
    }
    n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ns % 1000000 == 0 && ns)
        snprintf(out + n, 40 - n, ".%03dZ", ns / 1000000);
    else if (ns % 1000 == 0 && ns)
        snprintf(out + n, 40 - n, ".%06dZ", ns / 1000);
    else if (ns)
        snprintf(out + n, 40 - n, ".%09dZ", ns);
    else
        snprintf(out + n, 40 - n, "Z");
}

static const char *type_name(char t)
{
    return t == 'f' ? "FILE_TYPE_FILE" : t == 'd' ? "FILE_TYPE_DIRECTORY" : NULL;
}

struct sbx_json *sbx__envd_entry_json(const struct sbx__envd_entry *e)
{
    struct sbx_json *o = sbx_json_object_new();
    const char *type = e->type == 'l' ? type_name(e->target_type) : type_name(e->type);
    unsigned mode = (e->type == 'l' ? e->target_mode : e->mode) & 0777;
    char perm[16], ts[40], size[24];
    int rc;

    if (!o)
        return NULL;
    sbx__envd_perm_string(e->type, e->mode, perm);
    sbx__envd_rfc3339(e->mtime_s, e->mtime_ns, ts);
    snprintf(size, sizeof(size), "%lld", (long long)e->size);
    rc = sbx_json_set_str(o, "name", e->name);
    if (rc == 0 && type)
        rc = sbx_json_set_str(o, "type", type);
    if (rc == 0)
        rc = sbx_json_set_str(o, "path", e->path);
    if (rc == 0 && e->size)
        rc = sbx_json_set_str(o, "size", size);
    if (rc == 0 && mode)
        rc = sbx_json_set_int(o, "mode", mode);
    if (rc == 0)
        rc = sbx_json_set_str(o, "permissions", perm);
    if (rc == 0 && e->owner[0])
        rc = sbx_json_set_str(o, "owner", e->owner);
    if (rc == 0 && e->group[0])
        rc = sbx_json_set_str(o, "group", e->group);
    if (rc == 0)
        rc = sbx_json_set_str(o, "modifiedTime", ts);
    if (rc == 0 && e->type == 'l' && e->target)
        rc = sbx_json_set_str(o, "symlinkTarget", e->target);
    if (rc < 0) {
        sbx_json_free(o);
        return NULL;
    }
    return o;
}

/* ---- jobs ------------------------------------------------------------------- */

enum fs_op { OP_STAT, OP_LIST, OP_MKDIR, OP_REMOVE, OP_MOVE };

struct fsjob {
    struct sbx_http_req *req;
    enum fs_op op;
    char *backend_id;
    char *a, *b;        /* resolved paths */
    char *prefix;       /* ListDir: the requested directory, for entry paths */
    char depth[16];
    int rc;
    struct sbx_err err;
    struct sbx_exec_result res;
};

static void fsjob_free(struct fsjob *j)
{
    sbx_exec_result_release(&j->res);
    free(j->backend_id);
    free(j->a);
    free(j->b);
    free(j->prefix);
    free(j);
}

static void fs_run(struct sbx_provider *p, const struct sbx_err *open_err, void *ud)
{
    struct fsjob *j = ud;
    const char *argv[6] = {"/bin/sh", "-c", NULL, j->a, NULL, NULL};
    struct sbx_exec_req r;

    if (!p) {
        j->rc = open_err->code ? open_err->code : -EIO;
        j->err = *open_err;
        return;
    }
    switch (j->op) {
    case OP_STAT:
        argv[2] = STAT_SCRIPT;
        break;
    case OP_LIST:
        argv[2] = LIST_SH;
        argv[4] = j->depth;
        break;
    case OP_MKDIR:
        argv[2] = MKDIR_SH;
        break;
    case OP_REMOVE:
        argv[2] = RM_SH;
        break;
    case OP_MOVE:
        argv[2] = MV_SH;
        argv[4] = j->b;
        break;
    }
    memset(&r, 0, sizeof(r));
    r.argv = argv;
    r.cwd = "/";
    r.timeout_ms = 300000;
    r.stdin_fd = r.stdout_fd = r.stderr_fd = -1;
    j->rc = sbx_provider_exec(p, j->backend_id, &r, &j->res, &j->err);
}

/* The stderr of the tool, trimmed, for messages. */
static const char *tool_err(struct fsjob *j)
{
    while (j->res.err && j->res.err_len && (j->res.err[j->res.err_len - 1] == '\n'))
        j->res.err[--j->res.err_len] = '\0';
    return j->res.err && j->res.err_len ? j->res.err : "failed";
}

/* {"entry":...} / {"entries":[...]} from the listing in j->res.out. */
static struct sbx_json *listing_reply(struct fsjob *j, bool many)
{
    struct sbx__envd_entry *e;
    struct sbx_json *out = sbx_json_object_new(), *arr = sbx_json_array_new();
    int n = sbx__envd_parse_listing(j->res.out ? j->res.out : "", j->res.out_len, &e), i;

    if (n < 0 || !out || !arr || (!many && n != 1)) {
        sbx_json_free(out);
        sbx_json_free(arr);
        if (n >= 0)
            sbx__envd_entries_free(e, (size_t)n);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        struct sbx_json *ej;

        if (many && j->prefix && strncmp(e[i].path, "./", 2) == 0) {
            size_t pl = strlen(j->prefix), rl = strlen(e[i].path + 2);
            char *np = malloc(pl + rl + 2);

            if (np) {
                snprintf(np, pl + rl + 2, "%s%s%s", j->prefix,
                         pl && j->prefix[pl - 1] == '/' ? "" : "/", e[i].path + 2);
                free(e[i].path);
                e[i].path = np;
            }
        }
        ej = sbx__envd_entry_json(&e[i]);
        if (!ej || sbx_json_append_take(arr, ej) < 0) {
            sbx_json_free(out);
            sbx_json_free(arr);
            sbx__envd_entries_free(e, (size_t)n);
            return NULL;
        }
    }
    sbx__envd_entries_free(e, (size_t)n);
    if (!many) {
        struct sbx_json *one = sbx_json_ref(sbx_json_array_at(arr, 0));

        sbx_json_free(arr);
        if (sbx_json_set_take(out, "entry", one) < 0) {
            sbx_json_free(out);
            return NULL;
        }
        return out;
    }
    if (sbx_json_array_len(arr) == 0) {
        sbx_json_free(arr);
        return out;
    }
    if (sbx_json_set_take(out, "entries", arr) < 0) {
        sbx_json_free(out);
        return NULL;
    }
    return out;
}

static void fs_done(void *ud)
{
    struct fsjob *j = ud;
    struct sbx_http_req *req = j->req;
    int code = j->res.exit_code;
    struct sbx_json *out = NULL;

    if (j->rc < 0) {
        sbx__envd_rpc_error(req, j->rc == -ENOENT || j->rc == -EPIPE ? SBX_CONNECT_UNAVAILABLE
                                                                      : SBX_CONNECT_INTERNAL,
                            "%s", j->err.msg);
        fsjob_free(j);
        return;
    }
    switch (j->op) {
    case OP_STAT:
        if (code == 10) {
            sbx__envd_rpc_error(req, SBX_CONNECT_NOT_FOUND,
                                "file not found: lstat %s: no such file or directory", j->a);
            break;
        }
        if (code != 0 || !(out = listing_reply(j, false))) {
            sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "error getting file info: %s",
                                tool_err(j));
            break;
        }
        sbx__envd_unary_reply(req, out);
        break;
    case OP_LIST:
        if (code == 10) {
            sbx__envd_rpc_error(req, SBX_CONNECT_NOT_FOUND,
                                "path not found: lstat %s: no such file or directory", j->a);
        } else if (code == 11) {
            sbx__envd_rpc_error(req, SBX_CONNECT_INVALID_ARGUMENT, "path is not a directory: %s",
                                j->a);
        } else if (code != 0 || !(out = listing_reply(j, true))) {
            sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "error reading directory %s: %s",
                                j->a, tool_err(j));
        } else {
            sbx__envd_unary_reply(req, out);
        }
        break;
    case OP_MKDIR:
        if (code == 11) {
            sbx__envd_rpc_error(req, SBX_CONNECT_ALREADY_EXISTS, "directory already exists: %s",
                                j->a);
        } else if (code == 12) {
            sbx__envd_rpc_error(req, SBX_CONNECT_INVALID_ARGUMENT,
                                "path already exists but it is not a directory: %s", j->a);
        } else if (code != 0) {
            sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "error creating directory: %s",
                                tool_err(j));
        } else {
            struct sbx_json *e = sbx_json_object_new();
            const char *slash = strrchr(j->a, '/');

            out = sbx_json_object_new();
            if (!e || !out ||
                sbx_json_set_str(e, "name", slash && slash[1] ? slash + 1 : j->a) < 0 ||
                sbx_json_set_str(e, "type", "FILE_TYPE_DIRECTORY") < 0 ||
                sbx_json_set_str(e, "path", j->a) < 0 || sbx_json_set_take(out, "entry", e) < 0) {
                if (out)
                    e = NULL;
                sbx_json_free(e);
                sbx_json_free(out);
                sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
                break;
            }
            sbx__envd_unary_reply(req, out);
        }
        break;
    case OP_REMOVE:
        if (code != 0)
            sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL,
                                "error removing file or directory: %s", tool_err(j));
        else
            sbx__envd_unary_reply(req, NULL);
        break;
    case OP_MOVE:
        if (code == 10) {
            sbx__envd_rpc_error(req, SBX_CONNECT_NOT_FOUND,
                                "source file not found: rename %s %s: no such file or directory",
                                j->a, j->b);
        } else if (code != 0 || !(out = listing_reply(j, false))) {
            sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "error renaming: %s", tool_err(j));
        } else {
            sbx__envd_unary_reply(req, out);
        }
        break;
    }
    fsjob_free(j);
}

/* ---- requests --------------------------------------------------------------- */

static const struct sbx__envd_field PATH_REQ[] = {
    {"path", NULL, SBX_ENVD_STRING, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field LIST_REQ[] = {
    {"path", NULL, SBX_ENVD_STRING, NULL, NULL},
    {"depth", NULL, SBX_ENVD_UINT32, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field MOVE_REQ[] = {
    {"source", NULL, SBX_ENVD_STRING, NULL, NULL},
    {"destination", NULL, SBX_ENVD_STRING, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static char *resolve_field(const struct sbx__envd_user *u, const struct sbx_json *msg,
                           const char *name)
{
    struct sbx_json *v = sbx__envd_get(msg, name, NULL);
    struct sbx_buf b = SBX_BUF_INIT;

    if (sbx__envd_resolve(u->home, v ? sbx_json_str(v) : "", v ? sbx_json_str_len(v) : 0, &b) <
        0) {
        sbx_buf_free(&b);
        return NULL;
    }
    return sbx_buf_detach(&b, NULL);
}

void sbx__envd_fs_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                         const struct sbx__envd_user *u, const char *method,
                         struct sbx_http_req *req)
{
    static const struct {
        const char *method, *type;
        enum fs_op op;
        const struct sbx__envd_field *schema;
    } ops[] = {
        {"Stat", "filesystem.StatRequest", OP_STAT, PATH_REQ},
        {"ListDir", "filesystem.ListDirRequest", OP_LIST, LIST_REQ},
        {"MakeDir", "filesystem.MakeDirRequest", OP_MKDIR, PATH_REQ},
        {"Remove", "filesystem.RemoveRequest", OP_REMOVE, PATH_REQ},
        {"Move", "filesystem.MoveRequest", OP_MOVE, MOVE_REQ},
    };
    struct sbx_err err = {0};
    struct sbx_json *msg, *d;
    struct fsjob *j;
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(ops[i].method, method) == 0)
            break;
    if (i == sizeof(ops) / sizeof(ops[0])) {
        if (strcmp(method, "WatchDir") == 0 || strcmp(method, "CreateWatcher") == 0 ||
            strcmp(method, "GetWatcherEvents") == 0 || strcmp(method, "RemoveWatcher") == 0)
            sbx__envd_watch_handle(f, s, u, method, req);
        else
            sbx_http_respond(req, 404, "text/plain; charset=utf-8", NULL, "404 page not found\n",
                             19);
        return;
    }
    msg = sbx__envd_unary_begin(req, ops[i].type, ops[i].schema);
    if (!msg)
        return;
    j = calloc(1, sizeof(*j));
    if (!j) {
        sbx_json_free(msg);
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        return;
    }
    j->req = req;
    j->op = ops[i].op;
    j->backend_id = strdup(s->backend_id);
    j->a = resolve_field(u, msg, ops[i].op == OP_MOVE ? "source" : "path");
    if (ops[i].op == OP_MOVE)
        j->b = resolve_field(u, msg, "destination");
    if (ops[i].op == OP_LIST) {
        d = sbx__envd_get(msg, "depth", NULL);
        snprintf(j->depth, sizeof(j->depth), "%u", d && sbx__envd_u32(d) ? sbx__envd_u32(d) : 1);
        j->prefix = j->a ? strdup(j->a) : NULL;
    }
    sbx_json_free(msg);
    if (!j->backend_id || !j->a || (ops[i].op == OP_MOVE && !j->b) ||
        (ops[i].op == OP_LIST && !j->prefix)) {
        fsjob_free(j);
        sbx__envd_rpc_error(req, SBX_CONNECT_INVALID_ARGUMENT, "invalid path");
        return;
    }
    if (sbx_api_worker_submit(f->worker, fs_run, fs_done, j, &err) < 0) {
        fsjob_free(j);
        sbx__envd_rpc_error(req, SBX_CONNECT_UNAVAILABLE, "%s", err.msg);
    }
}
