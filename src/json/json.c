#include "json/json.h"

#include "base/fmt.h"
#include "base/utf8.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A struct sbx_json is a json_t in disguise: the cast keeps jansson's type
 * out of every header. */
#define J(v) ((json_t *)(v))
#define S(v) ((struct sbx_json *)(v))

#define SBX_JSON_MAX_DEPTH 256

/* Returns a string value for s, replacing invalid UTF-8 and NUL bytes with
 * U+FFFD (NUL cannot travel through C strings on the other side). */
static json_t *lossy_string(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    struct sbx_buf b = SBX_BUF_INIT;
    json_t *v;
    size_t i = 0, k;

    for (k = 0; k < len; k++)
        if (u[k] == 0 || u[k] >= 0x80)
            break;
    if (k == len)
        return json_stringn_nocheck(s, len);
    while (i < len) {
        size_t n = u[i] ? sbx_utf8_seq(u + i, len - i) : 0;

        if (n == 0) {
            if (sbx_buf_add(&b, "\xef\xbf\xbd", 3) < 0)
                goto oom;
            i++;
        } else {
            if (sbx_buf_add(&b, s + i, n) < 0)
                goto oom;
            i += n;
        }
    }
    v = json_stringn_nocheck(b.ptr, b.len);
    sbx_buf_free(&b);
    return v;
oom:
    sbx_buf_free(&b);
    return NULL;
}

struct sbx_json *sbx_json_parse(const char *text, size_t len, struct sbx_err *err)
{
    json_error_t je;
    json_t *v;
    size_t i;
    int depth = 0, max = 0, in_str = 0, esc = 0;

    /* jansson recurses per nesting level; bound it before parsing. */
    for (i = 0; i < len; i++) {
        char c = text[i];

        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
            if (max > SBX_JSON_MAX_DEPTH) {
                sbx_err_set(err, -EINVAL, "invalid JSON: nesting deeper than %d levels",
                            SBX_JSON_MAX_DEPTH);
                return NULL;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    /* Duplicate keys: the last one wins, as in Python's json module. */
    v = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (!v) {
        sbx_err_set(err, -EINVAL, "invalid JSON at line %d column %d: %s", je.line, je.column,
                    je.text);
        return NULL;
    }
    return S(v);
}

void sbx_json_free(struct sbx_json *v)
{
    if (v)
        json_decref(J(v));
}

enum sbx_json_type sbx_json_type(const struct sbx_json *v)
{
    switch (json_typeof(J(v))) {
    case JSON_OBJECT: return SBX_JSON_OBJECT;
    case JSON_ARRAY: return SBX_JSON_ARRAY;
    case JSON_STRING: return SBX_JSON_STRING;
    case JSON_INTEGER: return SBX_JSON_INT;
    case JSON_REAL: return SBX_JSON_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return SBX_JSON_BOOL;
    case JSON_NULL: return SBX_JSON_NULL;
    }
    return SBX_JSON_NULL;
}

const char *sbx_json_type_name(enum sbx_json_type t)
{
    switch (t) {
    case SBX_JSON_NULL: return "null";
    case SBX_JSON_BOOL: return "boolean";
    case SBX_JSON_INT: return "integer";
    case SBX_JSON_REAL: return "number";
    case SBX_JSON_STRING: return "string";
    case SBX_JSON_ARRAY: return "array";
    case SBX_JSON_OBJECT: return "object";
    }
    return "value";
}

struct sbx_json *sbx_json_get(const struct sbx_json *v, const char *key)
{
    if (!v || !json_is_object(J(v)))
        return NULL;
    return S(json_object_get(J(v), key));
}

size_t sbx_json_object_len(const struct sbx_json *v)
{
    return v && json_is_object(J(v)) ? json_object_size(J(v)) : 0;
}

int sbx_json_object_at(const struct sbx_json *v, size_t i, const char **key,
                       struct sbx_json **val)
{
    void *it;
    size_t k = 0;

    if (!v || !json_is_object(J(v)))
        return -ENOENT;
    for (it = json_object_iter(J(v)); it; it = json_object_iter_next(J(v), it), k++) {
        if (k == i) {
            *key = json_object_iter_key(it);
            *val = S(json_object_iter_value(it));
            return 0;
        }
    }
    return -ENOENT;
}

size_t sbx_json_array_len(const struct sbx_json *v)
{
    return v && json_is_array(J(v)) ? json_array_size(J(v)) : 0;
}

struct sbx_json *sbx_json_array_at(const struct sbx_json *v, size_t i)
{
    if (!v || !json_is_array(J(v)))
        return NULL;
    return S(json_array_get(J(v), i));
}

const char *sbx_json_str(const struct sbx_json *v)
{
    const char *s = v ? json_string_value(J(v)) : NULL;

    return s ? s : "";
}

size_t sbx_json_str_len(const struct sbx_json *v)
{
    return v && json_is_string(J(v)) ? json_string_length(J(v)) : 0;
}

int64_t sbx_json_int(const struct sbx_json *v)
{
    return v && json_is_integer(J(v)) ? (int64_t)json_integer_value(J(v)) : 0;
}

double sbx_json_number(const struct sbx_json *v)
{
    return v ? json_number_value(J(v)) : 0.0;
}

bool sbx_json_bool(const struct sbx_json *v)
{
    return v && json_is_true(J(v));
}

struct sbx_json *sbx_json_object_new(void)
{
    return S(json_object());
}

struct sbx_json *sbx_json_array_new(void)
{
    return S(json_array());
}

struct sbx_json *sbx_json_string_new(const char *s, size_t len)
{
    return S(lossy_string(s, len));
}

struct sbx_json *sbx_json_cstr_new(const char *s)
{
    return s ? S(lossy_string(s, strlen(s))) : S(json_null());
}

struct sbx_json *sbx_json_int_new(int64_t v)
{
    return S(json_integer((json_int_t)v));
}

struct sbx_json *sbx_json_real_new(double v)
{
    return S(json_real(isfinite(v) ? v : 0.0));
}

struct sbx_json *sbx_json_bool_new(bool v)
{
    return S(json_boolean(v));
}

struct sbx_json *sbx_json_null_new(void)
{
    return S(json_null());
}

struct sbx_json *sbx_json_ref(struct sbx_json *v)
{
    return S(json_incref(J(v)));
}

int sbx_json_set_take(struct sbx_json *obj, const char *key, struct sbx_json *val)
{
    if (!val)
        return -ENOMEM;
    if (!obj || !json_is_object(J(obj))) {
        json_decref(J(val));
        return -EINVAL;
    }
    return json_object_set_new(J(obj), key, J(val)) < 0 ? -ENOMEM : 0;
}

int sbx_json_append_take(struct sbx_json *arr, struct sbx_json *val)
{
    if (!val)
        return -ENOMEM;
    if (!arr || !json_is_array(J(arr))) {
        json_decref(J(val));
        return -EINVAL;
    }
    return json_array_append_new(J(arr), J(val)) < 0 ? -ENOMEM : 0;
}

int sbx_json_set_str(struct sbx_json *obj, const char *key, const char *s)
{
    return sbx_json_set_take(obj, key, sbx_json_cstr_new(s));
}

int sbx_json_set_strn(struct sbx_json *obj, const char *key, const char *s, size_t len)
{
    return sbx_json_set_take(obj, key, sbx_json_string_new(s, len));
}

int sbx_json_set_int(struct sbx_json *obj, const char *key, int64_t v)
{
    return sbx_json_set_take(obj, key, sbx_json_int_new(v));
}

int sbx_json_set_real(struct sbx_json *obj, const char *key, double v)
{
    return sbx_json_set_take(obj, key, sbx_json_real_new(v));
}

int sbx_json_set_bool(struct sbx_json *obj, const char *key, bool v)
{
    return sbx_json_set_take(obj, key, sbx_json_bool_new(v));
}

int sbx_json_set_null(struct sbx_json *obj, const char *key)
{
    return sbx_json_set_take(obj, key, sbx_json_null_new());
}

/* Appends s as a JSON string the way Python's json.dumps(ensure_ascii=False)
 * writes it (what Starlette's JSONResponse sends): \" \\ \n \r \t \b \f,
 * other control characters as \u00XX, everything else (UTF-8, '/', DEL) raw.
 * s is valid UTF-8 here: jansson checked or lossy_string() made it so. */
static int dump_string(struct sbx_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    int rc = sbx_buf_grow(out, len + 2);

    if (rc < 0)
        return rc;
    rc = sbx_buf_addch(out, '"');
    for (i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7] = "\\u00";

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = sbx_buf_add(out, s + run, i - run);
        run = i + 1;
        if (rc < 0)
            break;
        switch (c) {
        case '"': rc = sbx_buf_add(out, "\\\"", 2); break;
        case '\\': rc = sbx_buf_add(out, "\\\\", 2); break;
        case '\n': rc = sbx_buf_add(out, "\\n", 2); break;
        case '\r': rc = sbx_buf_add(out, "\\r", 2); break;
        case '\t': rc = sbx_buf_add(out, "\\t", 2); break;
        case '\b': rc = sbx_buf_add(out, "\\b", 2); break;
        case '\f': rc = sbx_buf_add(out, "\\f", 2); break;
        default:
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rc = sbx_buf_add(out, esc, 6);
        }
    }
    if (rc == 0)
        rc = sbx_buf_add(out, s + run, len - run);
    if (rc == 0)
        rc = sbx_buf_addch(out, '"');
    return rc;
}

static int dump_value(const json_t *v, struct sbx_buf *out, int depth)
{
    char num[64];
    size_t i;
    int rc = 0;

    if (depth > SBX_JSON_MAX_DEPTH)
        return -ELOOP;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;

        rc = sbx_buf_addch(out, '{');
        json_object_foreach((json_t *)v, key, val)
        {
            if (rc == 0 && !first)
                rc = sbx_buf_addch(out, ',');
            first = 0;
            if (rc == 0)
                rc = dump_string(out, key, strlen(key));
            if (rc == 0)
                rc = sbx_buf_addch(out, ':');
            if (rc == 0)
                rc = dump_value(val, out, depth + 1);
            if (rc < 0)
                return rc;
        }
        return sbx_buf_addch(out, '}');
    }
    case JSON_ARRAY:
        rc = sbx_buf_addch(out, '[');
        for (i = 0; rc == 0 && i < json_array_size(v); i++) {
            if (i)
                rc = sbx_buf_addch(out, ',');
            if (rc == 0)
                rc = dump_value(json_array_get(v, i), out, depth + 1);
        }
        return rc < 0 ? rc : sbx_buf_addch(out, ']');
    case JSON_STRING:
        return dump_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return sbx_buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        /* Python's repr: 0.1, 2.0, 1e-05, 1e+16, 0.3333333333333333 */
        return sbx_buf_addstr(out, sbx_fmt_pyfloat(json_real_value(v), num, sizeof(num)));
    case JSON_TRUE: return sbx_buf_add(out, "true", 4);
    case JSON_FALSE: return sbx_buf_add(out, "false", 5);
    case JSON_NULL: return sbx_buf_add(out, "null", 4);
    }
    return -EINVAL;
}

int sbx_json_dump(const struct sbx_json *v, struct sbx_buf *out)
{
    size_t before = out->len;
    int rc = dump_value(J(v), out, 0);

    if (rc < 0)
        sbx_buf_truncate(out, before);
    return rc;
}

int sbx_json_quote(struct sbx_buf *out, const char *s, size_t len)
{
    json_t *v = lossy_string(s, len);
    int rc;

    if (!v)
        return -ENOMEM;
    rc = dump_string(out, json_string_value(v), json_string_length(v));
    json_decref(v);
    return rc;
}
