#ifndef SBX_JSON_JSON_H
#define SBX_JSON_JSON_H

/*
 * JSON values. This module is the only user of jansson; no jansson type
 * appears outside src/json/. A `struct sbx_json` is a reference-counted value.
 *
 * Ownership: sbx_json_parse() and the *_new() builders return a value the
 * caller owns and releases with sbx_json_free(). Getters (sbx_json_get,
 * sbx_json_array_at, sbx_json_str) borrow: the result lives as long as the
 * container is not changed or freed. *_take() functions take ownership of the
 * value passed in, even when they fail.
 *
 * Strings handed to builders may hold invalid UTF-8 (e.g. terminal output):
 * invalid sequences are replaced with U+FFFD, never rejected.
 * Thread-safety: a value belongs to one thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "sbx/err.h"

struct sbx_json;

enum sbx_json_type {
    SBX_JSON_NULL,
    SBX_JSON_BOOL,
    SBX_JSON_INT,
    SBX_JSON_REAL,
    SBX_JSON_STRING,
    SBX_JSON_ARRAY,
    SBX_JSON_OBJECT,
};

/* Parses text (exactly len bytes; NUL bytes inside strings are rejected).
 * Returns NULL and fills err (-EINVAL, message like
 * "invalid JSON at line 1 column 5: unexpected token") on failure. Nesting
 * deeper than 256 levels is rejected. */
struct sbx_json *sbx_json_parse(const char *text, size_t len, struct sbx_err *err);
/* Drops one reference; NULL allowed. */
void sbx_json_free(struct sbx_json *v);

enum sbx_json_type sbx_json_type(const struct sbx_json *v);
/* Name of a type for messages: "null", "boolean", "integer", "number",
 * "string", "array", "object". */
const char *sbx_json_type_name(enum sbx_json_type t);

/* Object member by key, or NULL when v is not an object or has no such key. */
struct sbx_json *sbx_json_get(const struct sbx_json *v, const char *key);
/* Iterates an object in insertion order: returns 0 and fills *key and *val for
 * index i, -ENOENT past the end (or when v is not an object). */
int sbx_json_object_at(const struct sbx_json *v, size_t i, const char **key,
                       struct sbx_json **val);
size_t sbx_json_object_len(const struct sbx_json *v);

size_t sbx_json_array_len(const struct sbx_json *v);
struct sbx_json *sbx_json_array_at(const struct sbx_json *v, size_t i);

/* Scalar getters; they return 0/""/false for a value of another type. */
const char *sbx_json_str(const struct sbx_json *v);
size_t sbx_json_str_len(const struct sbx_json *v);
int64_t sbx_json_int(const struct sbx_json *v);
double sbx_json_number(const struct sbx_json *v); /* integer or real */
bool sbx_json_bool(const struct sbx_json *v);

/* Builders (NULL when out of memory). */
struct sbx_json *sbx_json_object_new(void);
struct sbx_json *sbx_json_array_new(void);
struct sbx_json *sbx_json_string_new(const char *s, size_t len);
struct sbx_json *sbx_json_cstr_new(const char *s); /* NULL s gives JSON null */
struct sbx_json *sbx_json_int_new(int64_t v);
struct sbx_json *sbx_json_real_new(double v);
struct sbx_json *sbx_json_bool_new(bool v);
struct sbx_json *sbx_json_null_new(void);
/* A new reference to v. */
struct sbx_json *sbx_json_ref(struct sbx_json *v);

/* Sets obj[key] = val, taking val (NULL val = -ENOMEM, for chaining builders). */
int sbx_json_set_take(struct sbx_json *obj, const char *key, struct sbx_json *val);
int sbx_json_append_take(struct sbx_json *arr, struct sbx_json *val);
/* Conveniences over sbx_json_set_take. sbx_json_set_str with NULL s sets null. */
int sbx_json_set_str(struct sbx_json *obj, const char *key, const char *s);
int sbx_json_set_strn(struct sbx_json *obj, const char *key, const char *s, size_t len);
int sbx_json_set_int(struct sbx_json *obj, const char *key, int64_t v);
int sbx_json_set_real(struct sbx_json *obj, const char *key, double v);
int sbx_json_set_bool(struct sbx_json *obj, const char *key, bool v);
int sbx_json_set_null(struct sbx_json *obj, const char *key);

/* Appends the compact serialisation of v to out exactly as Python's
 * json.dumps(ensure_ascii=False, separators=(",", ":")) would: keys in
 * insertion order, non-ASCII kept as UTF-8, reals as repr() prints them
 * (1.0, 0.1, 0.3333333333333333, 1e-05). */
int sbx_json_dump(const struct sbx_json *v, struct sbx_buf *out);

/* Appends s (len bytes) to out as a quoted JSON string (invalid UTF-8 replaced). */
int sbx_json_quote(struct sbx_buf *out, const char *s, size_t len);

#endif
