/*
 * envd of `sbx serve e2b` (envd.h): routing of requests to port 49983, auth
 * (X-Access-Token, the Basic-auth user), the Connect unary helpers and
 * request checks, `/files` (download and upload, streamed through temp
 * files: bounded memory), `/health` and `/envs`. Messages are envd's
 * (e2b-dev/infra packages/envd/internal/api).
 */
#include "api/e2b/envd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/gzip.h"
#include "base/base64.h"
#include "base/ct.h"
#include "base/fd.h"
#include "base/time.h"
#include "json/json.h"
#include "net/connect.h"
#include "net/multipart.h"
#include "sbx/log.h"

/* A POST /files body is written to disk as it arrives; this bounds it. */
#define UPLOAD_MAX ((size_t)16 << 30)
#define COPY_CHUNK ((size_t)64 << 10)

static const char TOKEN_MSG[] =
    "unauthorized access, please provide a valid access token or method signing if supported";

/* ---- users and tokens ---------------------------------------------------- */

static int user_of(const char *name, struct sbx__envd_user *u)
{
    if (strcmp(name, SBX_E2B_DEFAULT_USER) == 0) {
        u->name = SBX_E2B_DEFAULT_USER;
        u->home = SBX_E2B_HOME;
        return 0;
    }
    if (strcmp(name, "root") == 0) {
        u->name = "root";
        u->home = "/root";
        return 0;
    }
    return -ENOENT;
}

/* The user of `Authorization: Basic base64(user:)`; 0 (default user when
 * absent), or -EINVAL with the user name (maybe garbage) in bad. */
static int basic_user(const struct sbx_http_req *req, struct sbx__envd_user *u, char *bad,
                      size_t bad_len)
{
    const char *h = sbx_http_req_header(req, "Authorization");
    struct sbx_buf dec = SBX_BUF_INIT;
    char *colon;
    int rc = 0;

    user_of(SBX_E2B_DEFAULT_USER, u);
    bad[0] = '\0';
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return 0; /* not Basic: envd's authn ignores it */
    /* not base64 or no colon: Go's BasicAuth says !ok, the default user */
    if (sbx__envd_b64decode(h + 6, strlen(h + 6), &dec) < 0 || sbx_buf_addch(&dec, '\0') < 0 ||
        !(colon = memchr(dec.ptr, ':', dec.len - 1))) {
        sbx_buf_free(&dec);
        return 0;
    }
    *colon = '\0';
    if (user_of(dec.ptr, u) < 0) {
        snprintf(bad, bad_len, "%s", dec.ptr);
        rc = -EINVAL;
    }
    sbx_buf_free(&dec);
    return rc;
}

static bool token_ok(const struct sbx_e2b_sbx *s, const struct sbx_http_req *req)
{
    const char *t = sbx_http_req_header(req, "X-Access-Token");

    return !s->access_token || sbx_ct_streq(t, s->access_token);
}

/* ---- Connect unary helpers ------------------------------------------------ */

void sbx__envd_media_type(const char *ct, char *out, size_t len)
{
    size_t n = 0;

    while (ct && *ct == ' ')
        ct++;
    while (ct && *ct && *ct != ';' && *ct != ' ' && n + 1 < len)
        out[n++] = (char)(*ct >= 'A' && *ct <= 'Z' ? *ct + 32 : *ct), ct++;
    out[n] = '\0';
}

static const char *kind_name(enum sbx__envd_kind k)
{
    switch (k) {
    case SBX_ENVD_STRING:
        return "string";
    case SBX_ENVD_UINT32:
        return "uint32";
    case SBX_ENVD_BOOL:
        return "bool";
    case SBX_ENVD_BYTES:
        return "bytes";
    case SBX_ENVD_ENUM:
        return "enum";
    case SBX_ENVD_MESSAGE:
        return "message";
    case SBX_ENVD_MAP_STR:
        return "map";
    case SBX_ENVD_LIST_STR:
        return "list";
    }
    return "value";
}

static bool valid_base64(const char *s, size_t n)
{
    size_t i, pad = 0;

    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/' || c == '-' || c == '_'))
            return false;
    }
    return pad <= 2 && (pad == 0 || n % 4 == 0);
}

static int check_u32(const struct sbx_json *v)
{
    if (sbx_json_type(v) == SBX_JSON_INT)
        return sbx_json_int(v) >= 0 && sbx_json_int(v) <= 0xffffffffLL ? 0 : -EINVAL;
    if (sbx_json_type(v) == SBX_JSON_STRING) {
        const char *s = sbx_json_str(v);
        char *end;
        unsigned long long x;

        if (!*s || *s < '0' || *s > '9')
            return -EINVAL;
        errno = 0;
        x = strtoull(s, &end, 10);
        return *end || errno || x > 0xffffffffULL ? -EINVAL : 0;
    }
    return -EINVAL;
}

static int check_value(const struct sbx_json *v, const struct sbx__envd_field *fd, char *msg,
                       size_t len)
{
    enum sbx_json_type t = sbx_json_type(v);
    size_t i;

    if (t == SBX_JSON_NULL)
        return 0;
    switch (fd->kind) {
    case SBX_ENVD_STRING:
        if (t == SBX_JSON_STRING)
            return 0;
        break;
    case SBX_ENVD_UINT32:
        if (check_u32(v) == 0)
            return 0;
        break;
    case SBX_ENVD_BOOL:
        if (t == SBX_JSON_BOOL)
            return 0;
        break;
    case SBX_ENVD_BYTES:
        if (t == SBX_JSON_STRING && valid_base64(sbx_json_str(v), sbx_json_str_len(v)))
            return 0;
        break;
    case SBX_ENVD_ENUM:
        if (t == SBX_JSON_INT)
            return 0;
        for (i = 0; t == SBX_JSON_STRING && fd->enums[i]; i++)
            if (strcmp(fd->enums[i], sbx_json_str(v)) == 0)
                return 0;
        break;
    case SBX_ENVD_MESSAGE:
        if (t == SBX_JSON_OBJECT)
            return sbx__envd_check(v, fd->sub, msg, len);
        break;
    case SBX_ENVD_MAP_STR:
        if (t == SBX_JSON_OBJECT) {
            const char *k;
            struct sbx_json *e;

            for (i = 0; sbx_json_object_at(v, i, &k, &e) == 0; i++)
                if (sbx_json_type(e) != SBX_JSON_STRING)
                    goto bad;
            return 0;
        }
        break;
    case SBX_ENVD_LIST_STR:
        if (t == SBX_JSON_ARRAY) {
            for (i = 0; i < sbx_json_array_len(v); i++)
                if (sbx_json_type(sbx_json_array_at(v, i)) != SBX_JSON_STRING)
                    goto bad;
            return 0;
        }
        break;
    }
bad:
    snprintf(msg, len, "invalid value for %s field %s: %s", kind_name(fd->kind), fd->name,
             sbx_json_type_name(t));
    return -EINVAL;
}

int sbx__envd_check(const struct sbx_json *v, const struct sbx__envd_field *schema, char *msg,
                    size_t msg_len)
{
    const char *k;
    struct sbx_json *val;
    size_t i, j, oneof = 0;

    if (sbx_json_type(v) != SBX_JSON_OBJECT) {
        snprintf(msg, msg_len, "unexpected token %s", sbx_json_type_name(sbx_json_type(v)));
        return -EINVAL;
    }
    for (i = 0; sbx_json_object_at(v, i, &k, &val) == 0; i++) {
        const struct sbx__envd_field *fd = NULL;
        int rc;

        for (j = 0; schema[j].name; j++) {
            if (strcmp(schema[j].name, k) == 0 || (schema[j].alt && strcmp(schema[j].alt, k) == 0)) {
                fd = &schema[j];
                break;
            }
        }
        if (!fd) {
            snprintf(msg, msg_len, "unknown field \"%.100s\"", k);
            return -EINVAL;
        }
        rc = check_value(val, fd, msg, msg_len);
        if (rc < 0)
            return rc;
        (void)oneof;
    }
    return 0;
}

struct sbx_json *sbx__envd_get(const struct sbx_json *v, const char *name, const char *alt)
{
    struct sbx_json *r = sbx_json_get(v, name);

    if (!r && alt)
        r = sbx_json_get(v, alt);
    return r && sbx_json_type(r) != SBX_JSON_NULL ? r : NULL;
}

int sbx__envd_b64decode(const char *s, size_t n, struct sbx_buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    size_t i;

    for (i = 0; i < n && s[i] != '='; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+' || c == '-' ? 62
                : c == '/' || c == '_' ? 63
                                       : -1;

        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (sbx_buf_addch(out, (char)((acc >> bits) & 0xff)) < 0)
                return -ENOMEM;
        }
    }
    for (; i < n; i++)
        if (s[i] != '=')
            return -EINVAL;
    return 0;
}

uint32_t sbx__envd_u32(const struct sbx_json *v)
{
    if (sbx_json_type(v) == SBX_JSON_STRING)
        return (uint32_t)strtoull(sbx_json_str(v), NULL, 10);
    return (uint32_t)sbx_json_int(v);
}

int sbx__envd_want_post(struct sbx_http_req *req, const char *media, const char *accept)
{
    char mt[64], h[256];

    if (req->method != SBX_HTTP_POST) {
        sbx_http_respond(req, 405, NULL, "Allow: POST\r\n", NULL, 0);
        return -1;
    }
    sbx__envd_media_type(sbx_http_req_header(req, "Content-Type"), mt, sizeof(mt));
    if (strcmp(mt, media) != 0) {
        /* connect-go: 415 with what it accepts, no body */
        snprintf(h, sizeof(h), "Accept-Post: %s\r\n", accept);
        sbx_http_respond(req, 415, NULL, h, NULL, 0);
        return -1;
    }
    return 0;
}

struct sbx_json *sbx__envd_unary_begin(struct sbx_http_req *req, const char *type_name,
                                       const struct sbx__envd_field *schema)
{
    const char *ver = sbx_http_req_header(req, "Connect-Protocol-Version");
    char msg[256];
    struct sbx_err err = {0};
    struct sbx_json *v;

    if (sbx__envd_want_post(req, "application/json",
                            "application/grpc, application/grpc+json, application/json, "
                            "application/proto") < 0)
        return NULL;
    if (ver && strcmp(ver, "1") != 0) {
        sbx__envd_rpc_error(req, SBX_CONNECT_INVALID_ARGUMENT,
                            "Connect-Protocol-Version must be \"1\": got \"%.20s\"", ver);
        return NULL;
    }
    v = sbx_json_parse(req->body.len ? req->body.ptr : "{}", req->body.len ? req->body.len : 2,
                       &err);
    if (!v) {
        sbx__envd_rpc_error(req, SBX_CONNECT_INVALID_ARGUMENT, "unmarshal into %s: %s",
                            type_name, err.msg);
        return NULL;
    }
    if (sbx__envd_check(v, schema, msg, sizeof(msg)) < 0) {
        sbx_json_free(v);
        sbx__envd_rpc_error(req, SBX_CONNECT_INVALID_ARGUMENT, "unmarshal into %s: %s",
                            type_name, msg);
        return NULL;
    }
    return v;
}

void sbx__envd_unary_reply(struct sbx_http_req *req, struct sbx_json *v)
{
    struct sbx_buf b = SBX_BUF_INIT;

    if (!v)
        v = sbx_json_object_new();
    if (!v || sbx_json_dump(v, &b) < 0) {
        sbx_json_free(v);
        sbx_buf_free(&b);
        sbx__envd_rpc_error(req, SBX_CONNECT_INTERNAL, "out of memory");
        return;
    }
    sbx_json_free(v);
    sbx_http_respond_json(req, 200, b.ptr, b.len);
    sbx_buf_free(&b);
}

/* ---- envd path resolution ------------------------------------------------ */

int sbx__envd_resolve(const char *home, const char *path, size_t len, struct sbx_buf *out)
{
    struct sbx_buf raw = SBX_BUF_INIT;
    size_t base = out->len, i = 0;
    int rc = 0;

    if (memchr(path, '\0', len))
        return -EINVAL;
    if (len == 0 || path[0] != '/') {
        rc = sbx_buf_addstr(&raw, home);
        if (rc == 0 && len > 0 && path[0] == '~' && (len == 1 || path[1] == '/')) {
            path++;
            len--;
        }
        if (rc == 0)
            rc = sbx_buf_addch(&raw, '/');
    }
    if (rc == 0)
        rc = sbx_buf_add(&raw, path, len);
    if (rc == 0)
        rc = sbx_buf_addch(&raw, '\0');
    if (rc < 0) {
        sbx_buf_free(&raw);
        return -ENOMEM;
    }
    /* filepath.Clean of an absolute path */
    while (i < raw.len - 1 && rc == 0) {
        size_t j;

        while (raw.ptr[i] == '/')
            i++;
        j = i;
        while (raw.ptr[j] && raw.ptr[j] != '/')
            j++;
        if (j == i)
            break;
        if (j - i == 1 && raw.ptr[i] == '.') {
            /* nothing */
        } else if (j - i == 2 && raw.ptr[i] == '.' && raw.ptr[i + 1] == '.') {
            while (out->len > base && out->ptr[out->len - 1] != '/')
                out->len--;
            if (out->len > base)
                out->len--;
        } else {
            rc = sbx_buf_addch(out, '/');
            if (rc == 0)
                rc = sbx_buf_add(out, raw.ptr + i, j - i);
        }
        i = j;
    }
    if (rc == 0 && out->len == base)
        rc = sbx_buf_addch(out, '/');
    if (rc == 0)
        rc = sbx_buf_addch(out, '\0');
    if (rc == 0)
        out->len--;
    sbx_buf_free(&raw);
    return rc < 0 ? -ENOMEM : 0;
}

/* ---- /files: shared ------------------------------------------------------ */

/* A temp file on the host, removed when done. */
struct tmpf {
    char path[64];
    int fd;
};

static int tmpf_open(struct tmpf *t)
{
    const char *dir = getenv("TMPDIR");

    if (!dir || !*dir || strlen(dir) > 40)
        dir = "/tmp";
    snprintf(t->path, sizeof(t->path), "%s/sbx-envd-XXXXXX", dir);
    t->fd = mkostemp(t->path, O_CLOEXEC);
    return t->fd < 0 ? -errno : 0;
}

static void tmpf_drop(struct tmpf *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->path[0])
        unlink(t->path);
    t->path[0] = '\0';
}

/* A query parameter, decoded, NUL-terminated, "" when absent. 1 given, 0
 * absent, -1 malformed. */
static int query_str(struct sbx_http_req *req, const char *key, struct sbx_buf *out)
{
    int rc = sbx_http_query_get(req->query, key, out);

    if (rc < 0 || sbx_buf_addch(out, '\0') < 0)
        return -1;
    out->len--;
    return rc;
}

/* envd's validateSigning: with an access token, X-Access-Token must match
 * it when given; else the URL must carry the signature of op for its path
 * and username (and its expiry, not passed). 0, or an HTTP status with
 * msg; nothing is answered (an upload checks it before its body). */
static int files_sign_check(struct sbx_e2b_sbx *s, struct sbx_http_req *req, const char *op,
                            char *msg, size_t msg_len)
{
    const char *t = sbx_http_req_header(req, "X-Access-Token");
    struct sbx_buf sig = SBX_BUF_INIT, path = SBX_BUF_INIT, user = SBX_BUF_INIT,
                   exp_s = SBX_BUF_INIT, want = SBX_BUF_INIT;
    int64_t exp = 0;
    int has_sig, has_exp, rc;

    if (!s->access_token)
        return 0;
    has_exp = query_str(req, "signature_expiration", &exp_s);
    if (has_exp == 1) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(exp_s.ptr, &end, 10);
        if (!exp_s.len || *end || errno == ERANGE) {
            rc = 400;
            snprintf(msg, msg_len, "Invalid format for parameter signature_expiration: value "
                                   "must be an integer");
            goto out;
        }
        exp = v;
    }
    if (t && *t) {
        if (!sbx_ct_streq(t, s->access_token)) {
            rc = 401;
            snprintf(msg, msg_len, "access token present in header but does not match");
            goto out;
        }
        rc = 0;
        goto out;
    }
    has_sig = query_str(req, "signature", &sig);
    if (has_sig != 1 || has_exp < 0 || query_str(req, "path", &path) < 0 ||
        query_str(req, "username", &user) < 0) {
        rc = 401;
        snprintf(msg, msg_len, "missing signature query parameter");
        goto out;
    }
    if (sbx__envd_signature(path.ptr, op, user.ptr, s->access_token, has_exp == 1 ? &exp : NULL,
                            &want) < 0) {
        rc = 500;
        snprintf(msg, msg_len, "out of memory");
        goto out;
    }
    /* as subtle.ConstantTimeCompare */
    if (!sbx_ct_equal(sig.ptr, sig.len, want.ptr, want.len)) {
        rc = 401;
        snprintf(msg, msg_len, "invalid signature");
        goto out;
    }
    if (has_exp == 1 && exp < sbx_wall_ms() / 1000) {
        rc = 401;
        snprintf(msg, msg_len, "signature is already expired");
        goto out;
    }
    rc = 0;
out:
    sbx_buf_free(&sig);
    sbx_buf_free(&path);
    sbx_buf_free(&user);
    sbx_buf_free(&exp_s);
    sbx_buf_free(&want);
    return rc;
}

/* files_sign_check, answered: 0, or -1 when req was answered. */
static int files_signed(struct sbx_e2b_sbx *s, struct sbx_http_req *req, const char *op)
{
    char msg[128];
    int st = files_sign_check(s, req, op, msg, sizeof(msg));

    if (st)
        sbx__e2b_respond_error(req, st, "%s", msg);
    return st ? -1 : 0;
}

/* The /files user (?username=, else the default) and the token or the
 * signature of op. 0, or the request was answered. */
static int files_auth(struct sbx_e2b_sbx *s, struct sbx_http_req *req, const char *op,
                      struct sbx__envd_user *u)
{
    struct sbx_buf name = SBX_BUF_INIT;
    int rc;

    if (files_signed(s, req, op) < 0)
        return -1;
    rc = sbx_http_query_get(req->query, "username", &name);
    if (rc < 0) {
        sbx_buf_free(&name);
        sbx__e2b_respond_error(req, 400, "invalid query string");
        return -1;
    }
    if (rc == 0 || name.len == 0) {
        user_of(SBX_E2B_DEFAULT_USER, u);
    } else if (sbx_buf_addch(&name, '\0') < 0 || user_of(name.ptr, u) < 0) {
        sbx__e2b_respond_error(req, 401, "error looking up user '%.100s': user: unknown user %.100s",
                               name.ptr ? name.ptr : "", name.ptr ? name.ptr : "");
        sbx_buf_free(&name);
        return -1;
    }
    sbx_buf_free(&name);
    return 0;
}

/* ?path= resolved; 1 when given, 0 when absent, -1 when answered. */
static int files_path(struct sbx_http_req *req, const struct sbx__envd_user *u,
                      struct sbx_buf *out)
{
    struct sbx_buf raw = SBX_BUF_INIT;
    int rc = sbx_http_query_get(req->query, "path", &raw);

    if (rc < 0 || (rc == 1 && sbx__envd_resolve(u->home, raw.ptr ? raw.ptr : "", raw.len, out) < 0)) {
        sbx_buf_free(&raw);
        sbx__e2b_respond_error(req, 400, "error expanding and resolving path: invalid path");
        return -1;
    }
    sbx_buf_free(&raw);
    return rc;
}

/* ---- GET /files ---------------------------------------------------------- */

struct download {
    struct sbx_e2b_face *f;
    struct sbx_http_req *req;
    char *backend_id;
    char *path;
    struct tmpf tmp;
    int rc;
    int kind;             /* on failure: 0 missing, 1 directory, 2 other */
    int coding;           /* sbx__envd_accept_gzip: 0 identity, 1 gzip, -1 none */
    struct sbx_gzip *gz;  /* the gzip answer's compressor */
    struct sbx_buf zout;  /* its output not yet written */
    bool ending;          /* all written: end once drained */
    struct sbx_err err;
    char buf[COPY_CHUNK];
};

static void download_free(struct download *d)
{
    sbx_gzip_free(d->gz);
    sbx_buf_free(&d->zout);
    tmpf_drop(&d->tmp);
    free(d->backend_id);
    free(d->path);
    free(d);
}

/* What is at path, by exec: 0 missing, 1 directory, 2 something else. */
static int probe_path(struct sbx_provider *p, const char *id, const char *path)
{
    const char *argv[] = {"/bin/sh", "-c",
                          "if [ -d \"$0\" ]; then exit 11; elif [ -e \"$0\" ]; then exit 12; fi; "
                          "exit 10",
                          path, NULL};
    struct sbx_exec_req r;
    struct sbx_exec_result res;
    struct sbx_err err = {0};
    int k = 2;

    memset(&r, 0, sizeof(r));
    memset(&res, 0, sizeof(res));
    r.argv = argv;
    r.cwd = "/";
    r.stdin_fd = r.stdout_fd = r.stderr_fd = -1;
    r.timeout_ms = 60000;
    if (sbx_provider_exec(p, id, &r, &res, &err) == 0)
        k = res.exit_code == 10 ? 0 : res.exit_code == 11 ? 1 : 2;
    sbx_exec_result_release(&res);
    return k;
}

static void download_run(struct sbx_provider *p, const struct sbx_err *open_err, void *ud)
{
    struct download *d = ud;

    if (!p) {
        d->rc = open_err->code ? open_err->code : -EIO;
        d->err = *open_err;
        d->kind = 2;
        return;
    }
    d->rc = sbx_provider_download(p, d->backend_id, d->path, d->tmp.path, &d->err);
    if (d->rc < 0)
        d->kind = probe_path(p, d->backend_id, d->path);
}

static int zout_add(const void *p, size_t n, void *ud)
{
    return sbx_buf_add(ud, p, n);
}

/* The next piece of the answer: n bytes of the file (or its end, n == 0),
 * gzip'd when asked. Sets *out and *len to what to write (maybe nothing). */
static int download_piece(struct download *d, size_t n, const char **out, size_t *len)
{
    struct sbx_err err = {0};
    int rc;

    if (!d->gz) {
        *out = d->buf;
        *len = n;
        return 0;
    }
    sbx_buf_reset(&d->zout);
    rc = n ? sbx_gzip_feed(d->gz, d->buf, n, &err) : sbx_gzip_finish(d->gz, &err);
    *out = d->zout.ptr;
    *len = d->zout.len;
    return rc;
}

static void download_pump(struct sbx_http_req *req, int status, void *ud)
{
    struct download *d = ud;

    if (status < 0) {
        sbx_http_stream_abort(req);
        download_free(d);
        return;
    }
    if (d->ending) {
        sbx_http_stream_end(req);
        download_free(d);
        return;
    }
    for (;;) {
        ssize_t n = sbx_fd_read(d->tmp.fd, d->buf, sizeof(d->buf));
        const char *p;
        size_t len;
        int rc;

        if (n < 0 || download_piece(d, (size_t)(n < 0 ? 0 : n), &p, &len) < 0) {
            sbx_http_stream_abort(req);
            download_free(d);
            return;
        }
        rc = len ? sbx_http_stream_write(req, p, len, download_pump, d) : 0;
        if (rc < 0) {
            sbx_http_stream_abort(req);
            download_free(d);
            return;
        }
        if (n == 0 && rc == SBX_HTTP_STREAM_WAIT) {
            d->ending = true;
            return;
        }
        if (n == 0) {
            sbx_http_stream_end(req);
            download_free(d);
            return;
        }
        if (rc == SBX_HTTP_STREAM_WAIT)
            return;
    }
}

static void download_done(void *ud)
{
    struct download *d = ud;
    struct sbx_http_req *req = d->req;
    struct stat st;

    if (d->rc < 0) {
        if (d->kind == 0)
            sbx__e2b_respond_error(req, 404, "path '%s' does not exist", d->path);
        else if (d->kind == 1)
            sbx__e2b_respond_error(req, 400, "path '%s' is a directory", d->path);
        else
            sbx__e2b_respond_error(req, 500, "error opening file '%s': %s", d->path, d->err.msg);
        download_free(d);
        return;
    }
    if (lseek(d->tmp.fd, 0, SEEK_SET) < 0 || fstat(d->tmp.fd, &st) < 0) {
        sbx__e2b_respond_error(req, 500, "error opening file '%s': %s", d->path, strerror(errno));
        download_free(d);
        return;
    }
    if (d->coding < 0) {
        sbx__e2b_respond_error(req, 400,
                               "error parsing Accept-Encoding: no acceptable encoding found, "
                               "supported: [gzip]");
        download_free(d);
        return;
    }
    unlink(d->tmp.path);
    d->tmp.path[0] = '\0';
    if (d->coding == 1) {
        /* envd: gzip.NewWriter over the file, chunked */
        d->gz = sbx_gzip_new(-1, zout_add, &d->zout);
        if (!d->gz) {
            sbx__e2b_respond_error(req, 500, "out of memory");
            download_free(d);
            return;
        }
    }
    if (sbx_http_stream_start(req, 200, "application/octet-stream",
                              d->gz ? "Vary: Accept-Encoding\r\nContent-Encoding: gzip\r\n"
                                    : "Vary: Accept-Encoding\r\n",
                              d->gz ? -1 : (int64_t)st.st_size) < 0) {
        sbx_http_stream_abort(req);
        download_free(d);
        return;
    }
    download_pump(req, 0, d);
}

static void files_get(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx__envd_user u;
    struct sbx_buf path = SBX_BUF_INIT;
    struct download *d;
    struct sbx_err err = {0};
    int rc;

    if (files_auth(s, req, "read", &u) < 0)
        return;
    rc = files_path(req, &u, &path);
    if (rc < 0) {
        sbx_buf_free(&path);
        return;
    }
    if (rc == 0 && sbx__envd_resolve(u.home, "", 0, &path) < 0) {
        sbx_buf_free(&path);
        sbx__e2b_respond_error(req, 500, "out of memory");
        return;
    }
    d = calloc(1, sizeof(*d));
    if (!d || !(d->backend_id = strdup(s->backend_id))) {
        free(d);
        sbx_buf_free(&path);
        sbx__e2b_respond_error(req, 500, "out of memory");
        return;
    }
    d->f = f;
    d->req = req;
    sbx_buf_init(&d->zout, 0);
    d->path = sbx_buf_detach(&path, NULL);
    /* envd serves identity to Range and conditional requests */
    if (!sbx_http_req_header(req, "Range") && !sbx_http_req_header(req, "If-Modified-Since") &&
        !sbx_http_req_header(req, "If-None-Match") && !sbx_http_req_header(req, "If-Range"))
        d->coding = sbx__envd_accept_gzip(sbx_http_req_header(req, "Accept-Encoding"));
    d->tmp.fd = -1;
    if (!d->path || tmpf_open(&d->tmp) < 0) {
        sbx__e2b_respond_error(req, 500, "error creating a temporary file: %s", strerror(errno));
        download_free(d);
        return;
    }
    if (sbx_api_worker_submit(f->worker, download_run, download_done, d, &err) < 0) {
        sbx__e2b_respond_error(req, 503, "%s", err.msg);
        download_free(d);
    }
}

/* ---- POST /files --------------------------------------------------------- */

struct upart {
    struct tmpf tmp;
    char *dest;    /* as given (filename or ?path), resolved later */
};

struct upload {
    struct sbx_e2b_face *f;
    struct sbx_http_req *req;
    char *backend_id;
    bool multipart;
    bool in_file;            /* the current part is a `file` part */
    struct sbx_multipart *mp;
    struct sbx_gunzip *gunzip; /* Content-Encoding: gzip */
    struct upart *parts;
    size_t nparts;
    int status;              /* an error found while receiving, 0 = none */
    char msg[256];
    char *query_path;        /* ?path=, raw; NULL = absent */
    /* filled by the job */
    char **resolved;
    int rc;
    struct sbx_err err;
};

static void upload_free(void *ud)
{
    struct upload *up = ud;
    size_t i;

    if (!up)
        return;
    for (i = 0; i < up->nparts; i++) {
        tmpf_drop(&up->parts[i].tmp);
        free(up->parts[i].dest);
        if (up->resolved)
            free(up->resolved[i]);
    }
    free(up->resolved);
    free(up->parts);
    sbx_multipart_free(up->mp);
    sbx_gunzip_free(up->gunzip);
    free(up->query_path);
    free(up->backend_id);
    free(up);
}

static void upload_fail(struct upload *up, int status, const char *fmt, const char *arg)
{
    if (up->status)
        return;
    up->status = status;
    snprintf(up->msg, sizeof(up->msg), fmt, arg);
}

static int upload_new_part(struct upload *up, const char *dest)
{
    struct upart *np = realloc(up->parts, (up->nparts + 1) * sizeof(*np));

    if (!np)
        return -ENOMEM;
    up->parts = np;
    np = &up->parts[up->nparts];
    memset(np, 0, sizeof(*np));
    np->tmp.fd = -1;
    np->dest = dest ? strdup(dest) : NULL;
    up->nparts++;
    if ((dest && !np->dest) || tmpf_open(&np->tmp) < 0)
        return -errno ? -errno : -ENOMEM;
    return 0;
}

static void upload_write(struct upload *up, const char *p, size_t n)
{
    struct upart *pt;
    int rc;

    if (up->status || up->nparts == 0)
        return;
    pt = &up->parts[up->nparts - 1];
    rc = sbx_fd_write_all(pt->tmp.fd, p, n);
    if (rc == -ENOSPC)
        upload_fail(up, 507, "%s", "not enough disk space available");
    else if (rc < 0)
        upload_fail(up, 500, "error writing file: %s", strerror(-rc));
}

static int mp_begin(const struct sbx_multipart_part *part, void *ud)
{
    struct upload *up = ud;
    const char *dest = up->query_path ? up->query_path : part->filename;

    up->in_file = strcmp(part->name, "file") == 0;
    if (!up->in_file || up->status)
        return 0;
    if (!dest) {
        upload_fail(up, 400, "%s",
                    "error resolving path: error getting multipart custom part file name: "
                    "no filename");
        return 0;
    }
    if (upload_new_part(up, dest) < 0)
        upload_fail(up, 500, "error opening file: %s", strerror(errno));
    return 0;
}

static int mp_data(const char *p, size_t n, void *ud)
{
    struct upload *up = ud;

    if (up->in_file)
        upload_write(up, p, n);
    return 0;
}

static int mp_end(void *ud)
{
    ((struct upload *)ud)->in_file = false;
    return 0;
}

/* The body's bytes (decompressed when it was gzip'd). */
static int upload_plain(const void *data, size_t n, void *ud)
{
    struct upload *up = ud;
    const char *p = data;

    if (up->status)
        return -ECANCELED; /* discarded: the answer says why */
    if (!up->multipart) {
        upload_write(up, p, n);
        return 0;
    }
    if (up->mp && sbx_multipart_feed(up->mp, p, n) < 0)
        upload_fail(up, 500, "error reading form: %s", sbx_multipart_error(up->mp));
    return 0;
}

/* A gzip'd body that is not: before its first header, what envd's
 * gzip.NewReader says (400); later, what reading the body says (500). */
static void upload_gunzip_failed(struct upload *up, const struct sbx_err *err)
{
    char m[64]; /* gzip.h's messages are short */

    snprintf(m, sizeof(m), "%.63s", err->msg);
    if (!sbx_gunzip_header_read(up->gunzip))
        upload_fail(up, 400, "error decompressing request body: failed to create gzip reader: %s",
                    m);
    else
        upload_fail(up, 500, up->multipart ? "error reading form: %s" : "error writing file: %s",
                    m);
}

static int upload_body(struct sbx_http_req *req, const char *p, size_t n, void *ud)
{
    struct upload *up = ud;
    struct sbx_err err = {0};

    (void)req;
    if (up->status)
        return 0; /* discarded: the answer says why */
    if (!up->gunzip)
        upload_plain(p, n, up);
    else if (sbx_gunzip_feed(up->gunzip, p, n, &err) < 0)
        upload_gunzip_failed(up, &err);
    return 0;
}

static int upload_headers(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          struct sbx_http_req *req)
{
    static const struct sbx_multipart_cbs cbs = {mp_begin, mp_data, mp_end};
    struct upload *up = calloc(1, sizeof(*up));
    struct sbx_buf qp = SBX_BUF_INIT;
    const char *ct = sbx_http_req_header(req, "Content-Type"), *ce;
    char mt[64];
    int rc, coding;

    if (!up)
        return 503;
    up->f = f;
    up->backend_id = strdup(s->backend_id);
    req->body_fn = upload_body;
    req->body_ud = up;
    req->body_free = upload_free;
    req->body_max = UPLOAD_MAX;
    if (!up->backend_id)
        return 503;
    /* envd authenticates before it reads the body: without the token or a
     * valid signature nothing is written (files_post answers the 401) */
    if (files_sign_check(s, req, "write", up->msg, sizeof(up->msg)) != 0) {
        up->status = 401;
        return 0;
    }
    /* envd decompresses before it looks at the content type */
    ce = sbx_http_req_header(req, "Content-Encoding");
    coding = sbx__envd_content_gzip(ce);
    if (coding < 0)
        upload_fail(up, 400,
                    "error decompressing request body: unsupported Content-Encoding: %s, "
                    "supported: [gzip]",
                    ce);
    else if (coding == 1 && !(up->gunzip = sbx_gunzip_new(upload_plain, up)))
        return 503;
    rc = sbx_http_query_get(req->query, "path", &qp);
    if (rc == 1 && sbx_buf_addch(&qp, '\0') == 0)
        up->query_path = sbx_buf_detach(&qp, NULL);
    sbx_buf_free(&qp);
    sbx__envd_media_type(ct, mt, sizeof(mt));
    if (strcmp(mt, "application/octet-stream") == 0) {
        if (!up->query_path) {
            upload_fail(up, 400, "%s", "path query parameter is required for raw body upload");
        } else if (upload_new_part(up, up->query_path) < 0) {
            upload_fail(up, 500, "error opening file: %s", strerror(errno));
        }
    } else if (strncmp(mt, "multipart/", 10) == 0) {
        up->multipart = true;
        up->mp = sbx_multipart_new(ct, &cbs, up, &rc);
        if (!up->mp)
            upload_fail(up, 500, "error parsing multipart form: %s",
                        "no multipart boundary param in Content-Type");
    } else {
        upload_fail(up, 400,
                    "unsupported content type: %s, expected multipart/form-data or "
                    "application/octet-stream",
                    ct ? ct : "");
    }
    return 0;
}

static void upload_run(struct sbx_provider *p, const struct sbx_err *open_err, void *ud)
{
    struct upload *up = ud;
    size_t i;

    if (!p) {
        up->rc = open_err->code ? open_err->code : -EIO;
        up->err = *open_err;
        return;
    }
    for (i = 0; i < up->nparts; i++) {
        up->rc = sbx_provider_upload(p, up->backend_id, up->parts[i].tmp.path, up->resolved[i],
                                     0644, &up->err);
        if (up->rc == -EISDIR || (up->rc < 0 && probe_path(p, up->backend_id, up->resolved[i]) == 1)) {
            up->rc = -EISDIR;
            snprintf(up->err.msg, sizeof(up->err.msg), "path is a directory: %s",
                     up->resolved[i]);
        }
        if (up->rc < 0)
            return;
    }
}

static void upload_done(void *ud)
{
    struct upload *up = ud;
    struct sbx_http_req *req = up->req;
    struct sbx_json *arr;
    struct sbx_buf b = SBX_BUF_INIT;
    size_t i;

    if (up->rc < 0) {
        sbx__e2b_respond_error(req, up->rc == -EISDIR ? 400 : up->rc == -ENOSPC ? 507 : 500, "%s",
                               up->err.msg);
        return;
    }
    arr = sbx_json_array_new();
    for (i = 0; arr && i < up->nparts; i++) {
        struct sbx_json *o = sbx_json_object_new();
        const char *slash = strrchr(up->resolved[i], '/');

        if (!o || sbx_json_set_str(o, "path", up->resolved[i]) < 0 ||
            sbx_json_set_str(o, "name", slash && slash[1] ? slash + 1 : up->resolved[i]) < 0 ||
            sbx_json_set_str(o, "type", "file") < 0 || sbx_json_append_take(arr, o) < 0) {
            sbx_json_free(arr);
            arr = NULL;
        }
    }
    if (!arr || sbx_json_dump(arr, &b) < 0) {
        sbx__e2b_respond_error(req, 500, "out of memory");
    } else {
        sbx_http_respond_json(req, 200, b.ptr, b.len);
    }
    sbx_json_free(arr);
    sbx_buf_free(&b);
}

static void files_post(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct upload *up = req->body_fn == upload_body ? req->body_ud : NULL;
    struct sbx__envd_user u;
    struct sbx_err err = {0};
    size_t i, j;

    if (files_auth(s, req, "write", &u) < 0)
        return;
    if (!up) {
        sbx__e2b_respond_error(req, 500, "out of memory");
        return;
    }
    if (!up->status && up->gunzip) {
        struct sbx_err gerr = {0};

        if (sbx_gunzip_finish(up->gunzip, &gerr) < 0)
            upload_gunzip_failed(up, &gerr);
    }
    if (!up->status && up->multipart && sbx_multipart_finish(up->mp) < 0)
        upload_fail(up, 500, "error reading form: %s", sbx_multipart_error(up->mp));
    if (up->status) {
        sbx__e2b_respond_error(req, up->status, "%s", up->msg);
        return;
    }
    up->resolved = calloc(up->nparts + 1, sizeof(*up->resolved));
    if (!up->resolved) {
        sbx__e2b_respond_error(req, 500, "out of memory");
        return;
    }
    for (i = 0; i < up->nparts; i++) {
        struct sbx_buf b = SBX_BUF_INIT;

        if (sbx__envd_resolve(u.home, up->parts[i].dest, strlen(up->parts[i].dest), &b) < 0 ||
            !(up->resolved[i] = sbx_buf_detach(&b, NULL))) {
            sbx_buf_free(&b);
            sbx__e2b_respond_error(req, 400, "error resolving path: invalid path");
            return;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(up->resolved[j], up->resolved[i]) == 0) {
                sbx__e2b_respond_error(req, 400,
                                       "you cannot upload multiple files to the same path '%s' "
                                       "in one upload request, only the first specified file "
                                       "was uploaded",
                                       up->resolved[i]);
                return;
            }
        }
        /* the job reads it by path */
        sbx_fd_close(up->parts[i].tmp.fd);
        up->parts[i].tmp.fd = -1;
    }
    up->req = req;
    if (sbx_api_worker_submit(f->worker, upload_run, upload_done, up, &err) < 0)
        sbx__e2b_respond_error(req, 503, "%s", err.msg);
}

/* ---- /envs, routing ------------------------------------------------------ */

static void envs_get(struct sbx_e2b_sbx *s, struct sbx_http_req *req)
{
    struct sbx_buf b = SBX_BUF_INIT;

    if (!token_ok(s, req)) {
        sbx__e2b_respond_error(req, 401, "%s", TOKEN_MSG);
        return;
    }
    if (sbx_json_dump(s->env_vars, &b) < 0)
        sbx__e2b_respond_error(req, 500, "out of memory");
    else
        sbx_http_respond_json(req, 200, b.ptr, b.len);
    sbx_buf_free(&b);
}

static bool is_streaming(const char *svc, const char *method)
{
    return (strcmp(svc, "process.Process") == 0 &&
            (strcmp(method, "Start") == 0 || strcmp(method, "Connect") == 0)) ||
           (strcmp(svc, "filesystem.Filesystem") == 0 && strcmp(method, "WatchDir") == 0);
}

void sbx__envd_stream_error(struct sbx_http_req *req, enum sbx_connect_code code,
                            const char *msg)
{
    struct sbx_connect_error e;
    struct sbx_buf b = SBX_BUF_INIT;

    e.code = code;
    snprintf(e.message, sizeof(e.message), "%s", msg);
    if (sbx_connect_end_stream(&b, &e) < 0)
        sbx_http_respond(req, 500, NULL, NULL, NULL, 0);
    else
        sbx_http_respond(req, 200, "application/connect+json", NULL, b.ptr, b.len);
    sbx_buf_free(&b);
}

void sbx__e2b_envd_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          struct sbx_http_req *req)
{
    const char *path = req->path;
    const char *dot, *slash;
    char svc[64], method[64], bad[128], msg[192];
    struct sbx__envd_user u;

    if (strcmp(path, "/health") == 0 && req->method == SBX_HTTP_GET) {
        sbx_http_respond(req, 204, NULL, NULL, NULL, 0);
        return;
    }
    if (strcmp(path, "/files") == 0) {
        if (req->method == SBX_HTTP_GET)
            files_get(f, s, req);
        else if (req->method == SBX_HTTP_POST)
            files_post(f, s, req);
        else
            sbx_http_respond(req, 405, "text/plain; charset=utf-8", "Allow: GET, POST\r\n",
                             "Method Not Allowed\n", 19);
        return;
    }
    if (strcmp(path, "/envs") == 0 && req->method == SBX_HTTP_GET) {
        envs_get(s, req);
        return;
    }
    slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    dot = slash ? memchr(path, '.', (size_t)(slash - path)) : NULL;
    if (!slash || !dot || (size_t)(slash - path - 1) >= sizeof(svc) ||
        strlen(slash + 1) >= sizeof(method) || strchr(slash + 1, '/')) {
        sbx_http_respond(req, 404, "text/plain; charset=utf-8", NULL, "404 page not found\n", 19);
        return;
    }
    memcpy(svc, path + 1, (size_t)(slash - path - 1));
    svc[slash - path - 1] = '\0';
    snprintf(method, sizeof(method), "%s", slash + 1);
    if (strcmp(svc, "process.Process") != 0 && strcmp(svc, "filesystem.Filesystem") != 0) {
        sbx_http_respond(req, 404, "text/plain; charset=utf-8", NULL, "404 page not found\n", 19);
        return;
    }
    if (!token_ok(s, req)) {
        sbx__e2b_respond_error(req, 401, "%s", TOKEN_MSG);
        return;
    }
    if (basic_user(req, &u, bad, sizeof(bad)) < 0) {
        snprintf(msg, sizeof(msg), "invalid username: '%s'", bad);
        if (is_streaming(svc, method))
            sbx__envd_stream_error(req, SBX_CONNECT_UNAUTHENTICATED, msg);
        else
            sbx__envd_rpc_error(req, SBX_CONNECT_UNAUTHENTICATED, "%s", msg);
        return;
    }
    if (strcmp(svc, "process.Process") == 0)
        sbx__envd_process_handle(f, s, &u, method, req);
    else
        sbx__envd_fs_handle(f, s, &u, method, req);
}

int sbx__e2b_envd_headers(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          struct sbx_http_req *req, char *detail, size_t detail_len)
{
    int st;

    if (req->method != SBX_HTTP_POST || strcmp(req->path, "/files") != 0) {
        /* RPC bodies are parsed whole on the loop: the largest a client has
         * a reason to send is one Connect message (SendInput's base64 stdin
         * of 16 MiB, in JSON), not the server's 64 MiB default. StreamInput
         * (client streaming: many messages in one body) keeps that default;
         * its queued stdin has its own 16 MiB bound. */
        if (strcmp(req->path, "/process.Process/StreamInput") != 0)
            req->body_max = SBX_ENVD_RPC_BODY_MAX;
        return 0;
    }
    st = upload_headers(f, s, req);
    if (st)
        snprintf(detail, detail_len, "out of memory");
    return st;
}
