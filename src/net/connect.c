#include "net/connect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json/json.h"

static const struct {
    const char *name;
    int http;
    int errnum;
} codes[SBX_CONNECT_CODE_COUNT] = {
    [SBX_CONNECT_OK] = {"ok", 200, 0},
    [SBX_CONNECT_CANCELED] = {"canceled", 499, ECANCELED},
    [SBX_CONNECT_UNKNOWN] = {"unknown", 500, EIO},
    [SBX_CONNECT_INVALID_ARGUMENT] = {"invalid_argument", 400, EINVAL},
    [SBX_CONNECT_DEADLINE_EXCEEDED] = {"deadline_exceeded", 504, ETIMEDOUT},
    [SBX_CONNECT_NOT_FOUND] = {"not_found", 404, ENOENT},
    [SBX_CONNECT_ALREADY_EXISTS] = {"already_exists", 409, EEXIST},
    [SBX_CONNECT_PERMISSION_DENIED] = {"permission_denied", 403, EACCES},
    [SBX_CONNECT_RESOURCE_EXHAUSTED] = {"resource_exhausted", 429, EAGAIN},
    [SBX_CONNECT_FAILED_PRECONDITION] = {"failed_precondition", 400, EINVAL},
    [SBX_CONNECT_ABORTED] = {"aborted", 409, ECONNABORTED},
    [SBX_CONNECT_OUT_OF_RANGE] = {"out_of_range", 400, ERANGE},
    [SBX_CONNECT_UNIMPLEMENTED] = {"unimplemented", 501, ENOTSUP},
    [SBX_CONNECT_INTERNAL] = {"internal", 500, EIO},
    [SBX_CONNECT_UNAVAILABLE] = {"unavailable", 503, EAGAIN},
    [SBX_CONNECT_DATA_LOSS] = {"data_loss", 500, EIO},
    [SBX_CONNECT_UNAUTHENTICATED] = {"unauthenticated", 401, EACCES},
};

const char *sbx_connect_code_name(enum sbx_connect_code c)
{
    return (unsigned)c < SBX_CONNECT_CODE_COUNT ? codes[c].name : "unknown";
}

int sbx_connect_code_from_name(const char *name, enum sbx_connect_code *out)
{
    for (int c = SBX_CONNECT_CANCELED; c < SBX_CONNECT_CODE_COUNT; c++) {
        if (!strcmp(codes[c].name, name)) {
            *out = (enum sbx_connect_code)c;
            return 0;
        }
    }
    return -ENOENT;
}

int sbx_connect_code_http_status(enum sbx_connect_code c)
{
    return (unsigned)c < SBX_CONNECT_CODE_COUNT ? codes[c].http : 500;
}

enum sbx_connect_code sbx_connect_code_from_http(int status)
{
    switch (status) {
    case 400:
        return SBX_CONNECT_INTERNAL;
    case 401:
        return SBX_CONNECT_UNAUTHENTICATED;
    case 403:
        return SBX_CONNECT_PERMISSION_DENIED;
    case 404:
        return SBX_CONNECT_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return SBX_CONNECT_UNAVAILABLE;
    default:
        return SBX_CONNECT_UNKNOWN;
    }
}

int sbx_connect_code_errno(enum sbx_connect_code c)
{
    return (unsigned)c < SBX_CONNECT_CODE_COUNT ? -codes[c].errnum : -EIO;
}

int sbx_connect_envelope(struct sbx_buf *out, unsigned flags, const void *msg, size_t len)
{
    uint8_t head[5];

    if (len > UINT32_MAX)
        return -E2BIG;
    head[0] = (uint8_t)flags;
    head[1] = (uint8_t)(len >> 24);
    head[2] = (uint8_t)(len >> 16);
    head[3] = (uint8_t)(len >> 8);
    head[4] = (uint8_t)len;
    if (sbx_buf_add(out, head, sizeof(head)) < 0 || sbx_buf_add(out, msg, len) < 0)
        return -ENOMEM;
    return 0;
}

int sbx_connect_end_stream(struct sbx_buf *out, const struct sbx_connect_error *e)
{
    struct sbx_json *root = NULL, *error = NULL;
    struct sbx_buf text = SBX_BUF_INIT;
    int rc = -ENOMEM;

    if (!e || e->code == SBX_CONNECT_OK)
        return sbx_connect_envelope(out, SBX_CONNECT_FLAG_END, "{}", 2);
    root = sbx_json_object_new();
    error = sbx_json_object_new();
    if (!root || !error || sbx_json_set_str(error, "code", sbx_connect_code_name(e->code)) < 0 ||
        sbx_json_set_str(error, "message", e->message) < 0)
        goto out;
    rc = sbx_json_set_take(root, "error", error);
    error = NULL;
    if (rc < 0)
        goto out;
    rc = sbx_json_dump(root, &text);
    if (rc == 0)
        rc = sbx_connect_envelope(out, SBX_CONNECT_FLAG_END, text.ptr, text.len);
out:
    sbx_buf_free(&text);
    sbx_json_free(error);
    sbx_json_free(root);
    return rc;
}

/* Fills out from an error object {"code": "...", "message": "..."}. */
static int read_error_object(const struct sbx_json *obj, struct sbx_connect_error *out,
                             struct sbx_err *err)
{
    const struct sbx_json *code = sbx_json_get(obj, "code");
    const struct sbx_json *msg = sbx_json_get(obj, "message");

    if (!code || sbx_json_type(code) != SBX_JSON_STRING)
        return sbx_err_set(err, -EPROTO, "connect: error without a string \"code\"");
    if (sbx_connect_code_from_name(sbx_json_str(code), &out->code) < 0)
        return sbx_err_set(err, -EPROTO, "connect: unknown error code \"%.64s\"",
                           sbx_json_str(code));
    if (msg && sbx_json_type(msg) == SBX_JSON_STRING)
        snprintf(out->message, sizeof(out->message), "%s", sbx_json_str(msg));
    else if (msg && sbx_json_type(msg) != SBX_JSON_NULL)
        return sbx_err_set(err, -EPROTO, "connect: error \"message\" is not a string");
    return 0;
}

int sbx_connect_parse_error(const char *json, size_t len, bool end_stream,
                            struct sbx_connect_error *out, struct sbx_err *err)
{
    struct sbx_json *root;
    const struct sbx_json *error;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    root = sbx_json_parse(json, len, err);
    if (!root) {
        sbx_err_prefix(err, "connect: %s body", end_stream ? "end-of-stream" : "error");
        if (err)
            err->code = -EPROTO;
        return -EPROTO;
    }
    if (sbx_json_type(root) != SBX_JSON_OBJECT) {
        rc = sbx_err_set(err, -EPROTO, "connect: %s body is not an object",
                         end_stream ? "end-of-stream" : "error");
        goto out;
    }
    if (!end_stream) {
        rc = read_error_object(root, out, err);
        goto out;
    }
    error = sbx_json_get(root, "error");
    if (!error || sbx_json_type(error) == SBX_JSON_NULL)
        goto out; /* {} (with or without metadata): success */
    if (sbx_json_type(error) != SBX_JSON_OBJECT) {
        rc = sbx_err_set(err, -EPROTO, "connect: end-of-stream \"error\" is not an object");
        goto out;
    }
    rc = read_error_object(error, out, err);
out:
    sbx_json_free(root);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void sbx_connect_reader_init(struct sbx_connect_reader *r, size_t max_message)
{
    memset(r, 0, sizeof(*r));
    r->max_message = max_message ? max_message : SBX_CONNECT_DEFAULT_MAX_MESSAGE;
    sbx_buf_init(&r->msg, r->max_message);
}

void sbx_connect_reader_free(struct sbx_connect_reader *r)
{
    if (r)
        sbx_buf_free(&r->msg);
}

ssize_t sbx_connect_reader_feed(struct sbx_connect_reader *r, const void *data, size_t len,
                                struct sbx_err *err)
{
    const uint8_t *p = data;
    size_t used = 0;

    if (r->ready) {
        r->ready = false;
        sbx_buf_reset(&r->msg);
    }
    if (len == 0)
        return 0;
    if (r->ended)
        return sbx_err_set(err, -EPROTO, "connect: %zu bytes after the end of the stream", len);
    while (r->head_len < sizeof(r->head) && used < len)
        r->head[r->head_len++] = p[used++];
    if (r->head_len < sizeof(r->head))
        return (ssize_t)used;
    if (r->need == 0 && r->msg.len == 0) {
        /* the header just completed */
        uint32_t n = (uint32_t)r->head[1] << 24 | (uint32_t)r->head[2] << 16 |
                     (uint32_t)r->head[3] << 8 | r->head[4];
        r->flags = r->head[0];
        if (r->flags & SBX_CONNECT_FLAG_COMPRESSED)
            return sbx_err_set(err, -EPROTO,
                               "connect: a compressed envelope, but no encoding was agreed");
        if (r->flags & ~(SBX_CONNECT_FLAG_COMPRESSED | SBX_CONNECT_FLAG_END))
            return sbx_err_set(err, -EPROTO, "connect: unknown envelope flags 0x%02x", r->flags);
        if (n > r->max_message)
            return sbx_err_set(err, -E2BIG, "connect: a %u-byte message (the limit is %zu)", n,
                               r->max_message);
        r->need = n;
    }
    size_t take = len - used < r->need ? len - used : r->need;
    if (take && sbx_buf_add(&r->msg, p + used, take) < 0)
        return sbx_err_set(err, -ENOMEM, "connect: out of memory");
    used += take;
    r->need -= (uint32_t)take;
    if (r->need == 0) {
        r->ready = true;
        r->head_len = 0;
        if (r->flags & SBX_CONNECT_FLAG_END)
            r->ended = true;
    }
    return (ssize_t)used;
}

bool sbx_connect_reader_ready(const struct sbx_connect_reader *r)
{
    return r->ready;
}

int sbx_connect_reader_finish(const struct sbx_connect_reader *r, struct sbx_err *err)
{
    if (r->ended)
        return 0;
    if (r->head_len || r->need)
        return sbx_err_set(err, -EPROTO, "connect: the stream was cut inside an envelope");
    return sbx_err_set(err, -EPROTO, "connect: the stream ended without its end-of-stream message");
}
