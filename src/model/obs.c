#include "sbx/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "json/json.h"
#include "model/internal.h"

/* ---- extras tables (§3.3) ----------------------------------------------- */

/* clang-format off */
#define OSTR(st, f, def) {#f, SBX_O_STR, offsetof(struct st, f), def}
#define ONSTR(st, f) {#f, SBX_O_NSTR, offsetof(struct st, f), NULL}
#define OBOOL(st, f) {#f, SBX_O_BOOL, offsetof(struct st, f), NULL}
#define OINT(st, f) {#f, SBX_O_INT, offsetof(struct st, f), NULL}
#define OCONST(name, lit) {name, SBX_O_CONST, 0, lit}
#define TABLE(t) {t, sizeof(t) / sizeof(t[0])}

/* Order = pydantic CmdOutputMetadata field order. */
static const struct sbx__ofield metadata_fields[] = {
    OINT(sbx_cmd_metadata, exit_code),
    OINT(sbx_cmd_metadata, pid),
    ONSTR(sbx_cmd_metadata, username),
    ONSTR(sbx_cmd_metadata, hostname),
    ONSTR(sbx_cmd_metadata, working_dir),
    ONSTR(sbx_cmd_metadata, py_interpreter_path),
    OSTR(sbx_cmd_metadata, prefix, ""),
    OSTR(sbx_cmd_metadata, suffix, ""),
};

static const struct sbx__ofield run_fields[] = {
    OSTR(sbx_obs_run, command, ""),
    {"metadata", SBX_O_METADATA, offsetof(struct sbx_obs_run, metadata), NULL},
    OBOOL(sbx_obs_run, hidden),
};

static const struct sbx__ofield run_ipython_fields[] = {
    OSTR(sbx_obs_run_ipython, code, ""),
    {"image_urls", SBX_O_URLS, 0, NULL},
};

static const struct sbx__ofield read_fields[] = {
    OSTR(sbx_obs_read, path, ""),
    OSTR(sbx_obs_read, impl_source, "default"),
};

static const struct sbx__ofield write_fields[] = {
    OSTR(sbx_obs_write, path, ""),
};

static const struct sbx__ofield edit_fields[] = {
    OSTR(sbx_obs_edit, path, ""),
    OBOOL(sbx_obs_edit, prev_exist),
    ONSTR(sbx_obs_edit, old_content),
    ONSTR(sbx_obs_edit, new_content),
    OSTR(sbx_obs_edit, impl_source, "oh_aci"),
    ONSTR(sbx_obs_edit, diff),
    /* Emitted by the stock server (a dataclass field, not a property). */
    OCONST("_diff_cache", "null"),
};

static const struct sbx__ofield error_fields[] = {
    OSTR(sbx_obs_error, error_id, ""),
};

/* BrowserOutputObservation field order; we have no browser, so everything
 * but url and the error pair stays at its upstream default. */
static const struct sbx__ofield browse_fields[] = {
    OSTR(sbx_obs_browse, url, ""),
    OCONST("trigger_by_action", "\"browse\""),
    OCONST("screenshot", "\"\""),
    OCONST("screenshot_path", "null"),
    OCONST("set_of_marks", "\"\""),
    {"error", SBX_O_ERRFLAG, offsetof(struct sbx_obs_browse, error_text), NULL},
    OCONST("goal_image_urls", "[]"),
    OCONST("open_pages_urls", "[]"),
    OCONST("active_page_index", "-1"),
    OCONST("dom_object", "{}"),
    OCONST("axtree_object", "{}"),
    OCONST("extra_element_properties", "{}"),
    OCONST("last_browser_action", "\"\""),
    {"last_browser_action_error", SBX_O_ERRTEXT, offsetof(struct sbx_obs_browse, error_text),
     NULL},
    OCONST("focused_element_bid", "\"\""),
    OCONST("filter_visible_only", "false"),
};

static const struct sbx__ofield download_fields[] = {
    OSTR(sbx_obs_download, file_path, ""),
};

static const struct sbx__obs_table tables[SBX_OBS_KIND_COUNT] = {
    [SBX_OBS_RUN] = TABLE(run_fields),
    [SBX_OBS_RUN_IPYTHON] = TABLE(run_ipython_fields),
    [SBX_OBS_READ] = TABLE(read_fields),
    [SBX_OBS_WRITE] = TABLE(write_fields),
    [SBX_OBS_EDIT] = TABLE(edit_fields),
    [SBX_OBS_ERROR] = TABLE(error_fields),
    [SBX_OBS_BROWSE] = TABLE(browse_fields),
    [SBX_OBS_DOWNLOAD] = TABLE(download_fields),
};
/* clang-format on */

static const struct sbx__obs_table metadata_table = TABLE(metadata_fields);

const struct sbx__obs_table *sbx__obs_table(enum sbx_obs_kind k)
{
    return &tables[k];
}

const struct sbx__obs_table *sbx__metadata_table(void)
{
    return &metadata_table;
}

const char *sbx_obs_kind_name(enum sbx_obs_kind k)
{
    switch (k) {
    case SBX_OBS_RUN: return "run";
    case SBX_OBS_RUN_IPYTHON: return "run_ipython";
    case SBX_OBS_READ: return "read";
    case SBX_OBS_WRITE: return "write";
    case SBX_OBS_EDIT: return "edit";
    case SBX_OBS_ERROR: return "error";
    case SBX_OBS_BROWSE: return "browse";
    case SBX_OBS_DOWNLOAD: return "download";
    }
    return "unknown";
}

static int obs_kind_from_name(const char *name, enum sbx_obs_kind *out)
{
    int k;

    for (k = 0; k < SBX_OBS_KIND_COUNT; k++) {
        if (strcmp(name, sbx_obs_kind_name((enum sbx_obs_kind)k)) == 0) {
            *out = (enum sbx_obs_kind)k;
            return 0;
        }
    }
    return -ENOENT;
}

/* ---- construction ------------------------------------------------------- */

#define OFIELD(base, f, type) ((type *)((char *)(base) + (f)->off))

int sbx_obs_set(char **field, const char *s)
{
    char *p = NULL;

    if (s) {
        p = strdup(s);
        if (!p)
            return -ENOMEM;
    }
    free(*field);
    *field = p;
    return 0;
}

static void free_urls(struct sbx_obs_run_ipython *r)
{
    size_t i;

    for (i = 0; i < r->n_image_urls; i++)
        free(r->image_urls[i]);
    free(r->image_urls);
    r->image_urls = NULL;
    r->n_image_urls = 0;
    r->has_image_urls = false;
}

/* Sets every field of a table to its default (init) or releases it. */
static int walk_fields(void *base, const struct sbx__obs_table *t, bool init)
{
    size_t i;
    int rc;

    for (i = 0; i < t->n; i++) {
        const struct sbx__ofield *f = &t->fields[i];

        switch (f->type) {
        case SBX_O_STR:
            rc = sbx_obs_set(OFIELD(base, f, char *), init ? f->def : NULL);
            if (rc < 0)
                return rc;
            break;
        case SBX_O_NSTR:
        case SBX_O_ERRTEXT:
            free(*OFIELD(base, f, char *));
            *OFIELD(base, f, char *) = NULL;
            break;
        case SBX_O_INT:
            /* exit_code and pid: -1 = unknown/none. */
            *OFIELD(base, f, int64_t) = -1;
            break;
        case SBX_O_BOOL: *OFIELD(base, f, bool) = false; break;
        case SBX_O_METADATA:
            rc = walk_fields(OFIELD(base, f, char), &metadata_table, init);
            if (rc < 0)
                return rc;
            break;
        case SBX_O_URLS: free_urls(base); break;
        case SBX_O_CONST:
        case SBX_O_ERRFLAG: break;
        }
    }
    return 0;
}

void sbx_obs_free(struct sbx_obs *o)
{
    if (!o)
        return;
    walk_fields(&o->u, sbx__obs_table(o->kind), false);
    free(o->content);
    free(o);
}

struct sbx_obs *sbx_obs_new(enum sbx_obs_kind kind)
{
    struct sbx_obs *o = calloc(1, sizeof(*o));

    if (!o)
        return NULL;
    o->kind = kind;
    o->content = strdup("");
    if (!o->content || walk_fields(&o->u, sbx__obs_table(kind), true) < 0) {
        sbx_obs_free(o);
        return NULL;
    }
    return o;
}

int sbx_obs_set_content(struct sbx_obs *o, const char *s, size_t len)
{
    struct sbx_buf b = SBX_BUF_INIT;
    const char *nul;
    size_t i = 0;
    char *p;

    /* content is a C string: a NUL byte (e.g. from `cat` of a binary file)
     * becomes U+FFFD, as the JSON layer does, instead of cutting the text. */
    for (;;) {
        nul = i < len ? memchr(s + i, '\0', len - i) : NULL;
        if (!nul)
            break;
        if (sbx_buf_add(&b, s + i, (size_t)(nul - (s + i))) < 0 ||
            sbx_buf_add(&b, "\xef\xbf\xbd", 3) < 0)
            goto oom;
        i = (size_t)(nul - s) + 1;
    }
    if (sbx_buf_add(&b, s + i, len - i) < 0)
        goto oom;
    p = sbx_buf_detach(&b, NULL);
    if (!p)
        goto oom;
    free(o->content);
    o->content = p;
    return 0;
oom:
    sbx_buf_free(&b);
    return -ENOMEM;
}

/* ---- serialising -------------------------------------------------------- */

static struct sbx_json *table_json(const void *base, const struct sbx__obs_table *t);

static struct sbx_json *urls_json(const struct sbx_obs_run_ipython *r)
{
    struct sbx_json *arr;
    size_t i;

    if (!r->has_image_urls)
        return sbx_json_null_new();
    arr = sbx_json_array_new();
    for (i = 0; arr && i < r->n_image_urls; i++) {
        if (sbx_json_append_take(arr, sbx_json_cstr_new(r->image_urls[i] ? r->image_urls[i] : "")) <
            0) {
            sbx_json_free(arr);
            arr = NULL;
        }
    }
    return arr;
}

static struct sbx_json *ofield_json(const void *base, const struct sbx__ofield *f)
{
    const char *s;

    switch (f->type) {
    case SBX_O_STR: s = *OFIELD(base, f, const char *); return sbx_json_cstr_new(s ? s : f->def);
    case SBX_O_NSTR: return sbx_json_cstr_new(*OFIELD(base, f, const char *));
    case SBX_O_BOOL: return sbx_json_bool_new(*OFIELD(base, f, const bool));
    case SBX_O_INT: return sbx_json_int_new(*OFIELD(base, f, const int64_t));
    case SBX_O_METADATA: return table_json(OFIELD(base, f, const char), &metadata_table);
    case SBX_O_URLS: return urls_json(base);
    case SBX_O_CONST: return sbx_json_parse(f->def, strlen(f->def), NULL);
    case SBX_O_ERRFLAG: return sbx_json_bool_new(*OFIELD(base, f, const char *) != NULL);
    case SBX_O_ERRTEXT: s = *OFIELD(base, f, const char *); return sbx_json_cstr_new(s ? s : "");
    }
    return NULL;
}

static struct sbx_json *table_json(const void *base, const struct sbx__obs_table *t)
{
    struct sbx_json *obj = sbx_json_object_new();
    size_t i;

    for (i = 0; obj && i < t->n; i++) {
        if (sbx_json_set_take(obj, t->fields[i].name, ofield_json(base, &t->fields[i])) < 0) {
            sbx_json_free(obj);
            obj = NULL;
        }
    }
    return obj;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* The `message` property of the upstream observation classes. */
static int obs_message(const struct sbx_obs *o, struct sbx_buf *b)
{
    switch (o->kind) {
    case SBX_OBS_RUN:
        return sbx_buf_addf(b, "Command `%s` executed with exit code %lld.", nz(o->u.run.command),
                            (long long)o->u.run.metadata.exit_code);
    case SBX_OBS_RUN_IPYTHON: return sbx_buf_addstr(b, "Code executed in IPython cell.");
    case SBX_OBS_READ: return sbx_buf_addf(b, "I read the file %s.", nz(o->u.read.path));
    case SBX_OBS_WRITE: return sbx_buf_addf(b, "I wrote to the file %s.", nz(o->u.write.path));
    case SBX_OBS_EDIT: return sbx_buf_addf(b, "I edited the file %s.", nz(o->u.edit.path));
    case SBX_OBS_ERROR: return sbx_buf_addstr(b, nz(o->content));
    case SBX_OBS_BROWSE: return sbx_buf_addf(b, "Visited %s", nz(o->u.browse.url));
    case SBX_OBS_DOWNLOAD:
        return sbx_buf_addf(b, "Downloaded the file at location: %s", nz(o->u.download.file_path));
    }
    return -EINVAL;
}

static int obs_success(const struct sbx_obs *o, bool *has, bool *val)
{
    *has = false;
    *val = false;
    switch (o->kind) {
    case SBX_OBS_RUN:
        *has = true;
        *val = o->u.run.metadata.exit_code == 0;
        break;
    case SBX_OBS_RUN_IPYTHON:
        *has = true;
        *val = true;
        break;
    case SBX_OBS_READ:
    case SBX_OBS_WRITE:
    case SBX_OBS_EDIT:
    case SBX_OBS_ERROR:
    case SBX_OBS_BROWSE:
    case SBX_OBS_DOWNLOAD: break;
    }
    return 0;
}

int sbx_obs_to_json(const struct sbx_obs *o, struct sbx_buf *out)
{
    struct sbx_buf msg = SBX_BUF_INIT;
    struct sbx_json *obj = NULL;
    bool has_success, success;
    int rc;

    rc = obs_message(o, &msg);
    if (rc < 0)
        goto out;
    rc = -ENOMEM;
    obj = sbx_json_object_new();
    if (!obj)
        goto out;
    if (sbx_json_set_strn(obj, "message", msg.ptr, msg.len) < 0 ||
        sbx_json_set_str(obj, "observation", sbx_obs_kind_name(o->kind)) < 0 ||
        sbx_json_set_str(obj, "content", nz(o->content)) < 0 ||
        sbx_json_set_take(obj, "extras", table_json(&o->u, sbx__obs_table(o->kind))) < 0)
        goto out;
    obs_success(o, &has_success, &success);
    if (has_success && sbx_json_set_bool(obj, "success", success) < 0)
        goto out;
    rc = sbx_json_dump(obj, out);
out:
    sbx_json_free(obj);
    sbx_buf_free(&msg);
    return rc;
}

/* ---- parsing (client side) ---------------------------------------------- */

static int obad(struct sbx_err *err, const char *path, const char *name, const char *want,
                const struct sbx_json *v)
{
    return sbx_err_set(err, -EINVAL, "%s.%s: expected %s, got %s", path, name, want,
                       sbx_json_type_name(sbx_json_type(v)));
}

static int parse_urls(struct sbx_obs_run_ipython *r, const struct sbx_json *v, struct sbx_err *err)
{
    size_t i, n;

    free_urls(r);
    if (sbx_json_type(v) == SBX_JSON_NULL)
        return 0;
    if (sbx_json_type(v) != SBX_JSON_ARRAY)
        return obad(err, "extras", "image_urls", "array or null", v);
    n = sbx_json_array_len(v);
    for (i = 0; i < n; i++)
        if (sbx_json_type(sbx_json_array_at(v, i)) != SBX_JSON_STRING)
            return obad(err, "extras", "image_urls[]", "string", sbx_json_array_at(v, i));
    r->has_image_urls = true;
    if (n == 0)
        return 0;
    r->image_urls = calloc(n, sizeof(*r->image_urls));
    if (!r->image_urls)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        r->image_urls[i] = strdup(sbx_json_str(sbx_json_array_at(v, i)));
        if (!r->image_urls[i])
            return -ENOMEM;
        r->n_image_urls = i + 1;
    }
    return 0;
}

static int parse_table(void *base, const struct sbx__obs_table *t, const struct sbx_json *obj,
                       const char *path, struct sbx_err *err)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < t->n && rc == 0; i++) {
        const struct sbx__ofield *f = &t->fields[i];
        const struct sbx_json *v = sbx_json_get(obj, f->name);
        enum sbx_json_type ty = v ? sbx_json_type(v) : SBX_JSON_NULL;

        if (!v)
            continue;
        switch (f->type) {
        case SBX_O_STR:
            if (ty != SBX_JSON_STRING)
                return obad(err, path, f->name, "string", v);
            rc = sbx_obs_set(OFIELD(base, f, char *), sbx_json_str(v));
            break;
        case SBX_O_NSTR:
            if (ty != SBX_JSON_STRING && ty != SBX_JSON_NULL)
                return obad(err, path, f->name, "string or null", v);
            rc = sbx_obs_set(OFIELD(base, f, char *), ty == SBX_JSON_NULL ? NULL : sbx_json_str(v));
            break;
        case SBX_O_BOOL:
            if (ty != SBX_JSON_BOOL)
                return obad(err, path, f->name, "boolean", v);
            *OFIELD(base, f, bool) = sbx_json_bool(v);
            break;
        case SBX_O_INT:
            if (ty != SBX_JSON_INT)
                return obad(err, path, f->name, "integer", v);
            *OFIELD(base, f, int64_t) = sbx_json_int(v);
            break;
        case SBX_O_METADATA:
            if (ty == SBX_JSON_NULL)
                break;
            if (ty != SBX_JSON_OBJECT)
                return obad(err, path, f->name, "object", v);
            rc = parse_table(OFIELD(base, f, char), &metadata_table, v, "extras.metadata", err);
            break;
        case SBX_O_URLS: rc = parse_urls(base, v, err); break;
        case SBX_O_ERRFLAG:
            if (ty != SBX_JSON_BOOL)
                return obad(err, path, f->name, "boolean", v);
            if (sbx_json_bool(v) && !*OFIELD(base, f, char *))
                rc = sbx_obs_set(OFIELD(base, f, char *), "");
            break;
        case SBX_O_ERRTEXT:
            if (ty != SBX_JSON_STRING)
                return obad(err, path, f->name, "string", v);
            if (sbx_json_str_len(v) > 0)
                rc = sbx_obs_set(OFIELD(base, f, char *), sbx_json_str(v));
            break;
        case SBX_O_CONST: break;
        }
    }
    return rc;
}

/* observation_from_dict: legacy top-level extras of `run` move into metadata;
 * a value inside "metadata" wins over its legacy twin. */
static int parse_legacy_run(struct sbx_obs_run *r, const struct sbx_json *extras,
                            struct sbx_err *err)
{
    static const char *const legacy[][2] = {{"exit_code", "exit_code"}, {"command_id", "pid"}};
    const struct sbx_json *meta = sbx_json_get(extras, "metadata");
    size_t i;

    for (i = 0; i < 2; i++) {
        const struct sbx_json *v = sbx_json_get(extras, legacy[i][0]);

        if (!v || sbx_json_get(meta, legacy[i][1]))
            continue;
        if (sbx_json_type(v) != SBX_JSON_INT)
            return obad(err, "extras", legacy[i][0], "integer", v);
        if (i == 0)
            r->metadata.exit_code = sbx_json_int(v);
        else
            r->metadata.pid = sbx_json_int(v);
    }
    return 0;
}

int sbx_obs_parse(const char *json, size_t len, struct sbx_obs **out, struct sbx_err *err)
{
    struct sbx_json *root = NULL;
    const struct sbx_json *v, *extras;
    struct sbx_obs *o = NULL;
    enum sbx_obs_kind kind;
    int rc = -EINVAL;

    *out = NULL;
    root = sbx_json_parse(json, len, err);
    if (!root) {
        rc = sbx_err_prefix(err, "observation");
        rc = rc < 0 ? rc : -EINVAL;
        goto out;
    }
    if (sbx_json_type(root) != SBX_JSON_OBJECT) {
        sbx_err_set(err, rc, "observation: expected object, got %s",
                    sbx_json_type_name(sbx_json_type(root)));
        goto out;
    }
    v = sbx_json_get(root, "observation");
    if (!v || sbx_json_type(v) != SBX_JSON_STRING) {
        sbx_err_set(err, rc, "observation.observation: required string is missing");
        goto out;
    }
    if (obs_kind_from_name(sbx_json_str(v), &kind) < 0) {
        sbx_err_set(err, rc, "observation.observation: unknown observation type \"%.64s\"",
                    sbx_json_str(v));
        goto out;
    }
    o = sbx_obs_new(kind);
    if (!o) {
        rc = sbx_err_set(err, -ENOMEM, "observation: out of memory");
        goto out;
    }
    v = sbx_json_get(root, "content");
    if (v && sbx_json_type(v) != SBX_JSON_STRING) {
        obad(err, "observation", "content", "string", v);
        goto out;
    }
    if (v && sbx_obs_set_content(o, sbx_json_str(v), sbx_json_str_len(v)) < 0) {
        rc = sbx_err_set(err, -ENOMEM, "observation: out of memory");
        goto out;
    }
    extras = sbx_json_get(root, "extras");
    if (extras && sbx_json_type(extras) != SBX_JSON_OBJECT) {
        obad(err, "observation", "extras", "object", extras);
        goto out;
    }
    if (kind == SBX_OBS_RUN) {
        rc = parse_legacy_run(&o->u.run, extras, err);
        if (rc < 0)
            goto out;
    }
    rc = parse_table(&o->u, sbx__obs_table(kind), extras, "extras", err);
    if (rc == -ENOMEM)
        sbx_err_set(err, rc, "observation: out of memory");
    if (rc < 0)
        goto out;
    *out = o;
    o = NULL;
out:
    sbx_obs_free(o);
    sbx_json_free(root);
    return rc;
}

struct sbx_obs *sbx_obs_error_new(const char *msg)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_ERROR);

    if (o && sbx_obs_set_content(o, msg, strlen(msg)) < 0) {
        sbx_obs_free(o);
        o = NULL;
    }
    return o;
}
