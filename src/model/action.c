#include "sbx/model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "json/json.h"
#include "model/internal.h"

/* ---- field tables (§3.2) ------------------------------------------------ */

/* clang-format off */
#define STR(st, f, req, def) {#f, NULL, SBX_F_STR, offsetof(struct st, f), req, def, 0}
#define NSTR(st, f) {#f, NULL, SBX_F_NSTR, offsetof(struct st, f), false, NULL, 0}
#define BOOL(st, f, def) {#f, NULL, SBX_F_BOOL, offsetof(struct st, f), false, NULL, def}
#define INT(st, f, def) {#f, NULL, SBX_F_INT, offsetof(struct st, f), false, NULL, def}
#define RISK(st) \
    {"security_risk", NULL, SBX_F_RISK, offsetof(struct st, security_risk), false, NULL, -1}
/* Legacy events call it is_confirmed. */
#define CONFIRM(st) \
    {"confirmation_state", "is_confirmed", SBX_F_STR, offsetof(struct st, confirmation_state), \
     false, "confirmed", 0}

static const struct sbx__field run_fields[] = {
    STR(sbx_action_run, command, true, NULL),
    BOOL(sbx_action_run, is_input, false),
    STR(sbx_action_run, thought, false, ""),
    BOOL(sbx_action_run, blocking, false),
    BOOL(sbx_action_run, is_static, false),
    NSTR(sbx_action_run, cwd),
    BOOL(sbx_action_run, hidden, false),
    CONFIRM(sbx_action_run),
    RISK(sbx_action_run),
};

static const struct sbx__field run_ipython_fields[] = {
    STR(sbx_action_run_ipython, code, true, NULL),
    STR(sbx_action_run_ipython, thought, false, ""),
    BOOL(sbx_action_run_ipython, include_extra, true),
    CONFIRM(sbx_action_run_ipython),
    RISK(sbx_action_run_ipython),
    STR(sbx_action_run_ipython, kernel_init_code, false, ""),
};

static const struct sbx__field read_fields[] = {
    STR(sbx_action_read, path, true, NULL),
    INT(sbx_action_read, start, 0),
    INT(sbx_action_read, end, -1),
    STR(sbx_action_read, thought, false, ""),
    RISK(sbx_action_read),
    STR(sbx_action_read, impl_source, false, "default"),
    {"view_range", NULL, SBX_F_VIEW_RANGE, 0, false, NULL, 0},
};

static const struct sbx__field write_fields[] = {
    STR(sbx_action_write, path, true, NULL),
    STR(sbx_action_write, content, true, NULL),
    INT(sbx_action_write, start, 0),
    INT(sbx_action_write, end, -1),
    STR(sbx_action_write, thought, false, ""),
    RISK(sbx_action_write),
};

static const struct sbx__field edit_fields[] = {
    STR(sbx_action_edit, path, true, NULL),
    STR(sbx_action_edit, command, false, ""),
    NSTR(sbx_action_edit, file_text),
    NSTR(sbx_action_edit, old_str),
    NSTR(sbx_action_edit, new_str),
    {"insert_line", NULL, SBX_F_INT_OR_STR, offsetof(struct sbx_action_edit, insert_line),
     false, NULL, 0},
    STR(sbx_action_edit, content, false, ""),
    INT(sbx_action_edit, start, 1),
    INT(sbx_action_edit, end, -1),
    STR(sbx_action_edit, thought, false, ""),
    RISK(sbx_action_edit),
    STR(sbx_action_edit, impl_source, false, "oh_aci"),
};

/* url and browser_actions have no default upstream, so they are required. */
static const struct sbx__field browse_fields[] = {
    STR(sbx_action_browse, url, true, NULL),
    STR(sbx_action_browse, thought, false, ""),
    RISK(sbx_action_browse),
    BOOL(sbx_action_browse, return_axtree, false),
};

static const struct sbx__field browse_interactive_fields[] = {
    STR(sbx_action_browse_interactive, browser_actions, true, NULL),
    STR(sbx_action_browse_interactive, thought, false, ""),
    STR(sbx_action_browse_interactive, browsergym_send_msg_to_user, false, ""),
    RISK(sbx_action_browse_interactive),
    BOOL(sbx_action_browse_interactive, return_axtree, false),
};

#define TABLE(t) {t, sizeof(t) / sizeof(t[0])}
/* clang-format on */

static const struct sbx__kind_table tables[SBX_ACTION_KIND_COUNT] = {
    [SBX_ACTION_RUN] = TABLE(run_fields),
    [SBX_ACTION_RUN_IPYTHON] = TABLE(run_ipython_fields),
    [SBX_ACTION_READ] = TABLE(read_fields),
    [SBX_ACTION_WRITE] = TABLE(write_fields),
    [SBX_ACTION_EDIT] = TABLE(edit_fields),
    [SBX_ACTION_BROWSE] = TABLE(browse_fields),
    [SBX_ACTION_BROWSE_INTERACTIVE] = TABLE(browse_interactive_fields),
};

const struct sbx__kind_table *sbx__action_table(enum sbx_action_kind k)
{
    return &tables[k];
}

/* ---- kind names --------------------------------------------------------- */

const char *sbx_action_kind_name(enum sbx_action_kind k)
{
    switch (k) {
    case SBX_ACTION_RUN: return "run";
    case SBX_ACTION_RUN_IPYTHON: return "run_ipython";
    case SBX_ACTION_READ: return "read";
    case SBX_ACTION_WRITE: return "write";
    case SBX_ACTION_EDIT: return "edit";
    case SBX_ACTION_BROWSE: return "browse";
    case SBX_ACTION_BROWSE_INTERACTIVE: return "browse_interactive";
    }
    return "unknown";
}

int sbx_action_kind_from_name(const char *name, enum sbx_action_kind *out)
{
    int k;

    if (!name)
        return -ENOENT;
    for (k = 0; k < SBX_ACTION_KIND_COUNT; k++) {
        if (strcmp(name, sbx_action_kind_name((enum sbx_action_kind)k)) == 0) {
            *out = (enum sbx_action_kind)k;
            return 0;
        }
    }
    return -ENOENT;
}

/* ---- helpers ------------------------------------------------------------ */

#define FIELD(base, f, type) ((type *)((char *)(base) + (f)->off))

static void *kind_base(struct sbx_action *a)
{
    return &a->u;
}

static const void *kind_cbase(const struct sbx_action *a)
{
    return &a->u;
}

static int dup_str(char **dst, const char *s)
{
    char *p = NULL;

    if (s) {
        p = strdup(s);
        if (!p)
            return -ENOMEM;
    }
    free(*dst);
    *dst = p;
    return 0;
}

static const char *risk_names[] = {"LOW", "MEDIUM", "HIGH"};

/* security_risk as a string: the enum's name as some clients send it. */
static int risk_from_name(const char *s, int64_t *out)
{
    size_t i;

    if (strcasecmp(s, "UNKNOWN") == 0) {
        *out = -1;
        return 0;
    }
    for (i = 0; i < sizeof(risk_names) / sizeof(risk_names[0]); i++) {
        if (strcasecmp(s, risk_names[i]) == 0) {
            *out = (int64_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* An integral real (1.0) is accepted where an integer is expected: Python does
 * not check dataclass field types, so such values work upstream. */
static bool as_int(const struct sbx_json *v, int64_t *out)
{
    double d;

    if (sbx_json_type(v) == SBX_JSON_INT) {
        *out = sbx_json_int(v);
        return true;
    }
    if (sbx_json_type(v) != SBX_JSON_REAL)
        return false;
    d = sbx_json_number(v);
    /* Range check first: the cast is undefined outside int64_t. No libm. */
    if (!(d >= -9.2e18 && d <= 9.2e18) || (double)(int64_t)d != d)
        return false;
    *out = (int64_t)d;
    return true;
}

static int bad_type(struct sbx_err *err, const char *name, const char *want,
                    const struct sbx_json *v)
{
    return sbx_err_set(err, -EINVAL, "action.args.%s: expected %s, got %s", name, want,
                       sbx_json_type_name(sbx_json_type(v)));
}

static int set_view_range(struct sbx_action_read *r, const struct sbx_json *v)
{
    struct sbx_buf b = SBX_BUF_INIT;
    int rc;

    if (sbx_json_type(v) == SBX_JSON_NULL)
        return 0;
    if (sbx_json_type(v) == SBX_JSON_ARRAY && sbx_json_array_len(v) == 2 &&
        sbx_json_type(sbx_json_array_at(v, 0)) == SBX_JSON_INT &&
        sbx_json_type(sbx_json_array_at(v, 1)) == SBX_JSON_INT) {
        r->has_view_range = true;
        r->view_range[0] = sbx_json_int(sbx_json_array_at(v, 0));
        r->view_range[1] = sbx_json_int(sbx_json_array_at(v, 1));
        return 0;
    }
    /* Anything else is for the editor to reject with its own message. */
    rc = sbx_json_dump(v, &b);
    if (rc < 0)
        goto out;
    free(r->view_range_raw);
    r->view_range_raw = sbx_buf_detach(&b, NULL);
    rc = r->view_range_raw ? 0 : -ENOMEM;
out:
    sbx_buf_free(&b);
    return rc;
}

/* Sets field f of base from v (v NULL = absent: the default). */
static int set_field(void *base, const struct sbx__field *f, const struct sbx_json *v,
                     struct sbx_err *err)
{
    enum sbx_json_type t = v ? sbx_json_type(v) : SBX_JSON_NULL;
    char num[32];
    int64_t i;

    switch (f->type) {
    case SBX_F_STR:
        if (!v)
            return dup_str(FIELD(base, f, char *), f->def_str);
        if (t != SBX_JSON_STRING)
            return bad_type(err, f->name, "string", v);
        return dup_str(FIELD(base, f, char *), sbx_json_str(v));
    case SBX_F_NSTR:
        if (!v || t == SBX_JSON_NULL)
            return dup_str(FIELD(base, f, char *), NULL);
        if (t != SBX_JSON_STRING)
            return bad_type(err, f->name, "string or null", v);
        return dup_str(FIELD(base, f, char *), sbx_json_str(v));
    case SBX_F_BOOL:
        if (!v) {
            *FIELD(base, f, bool) = f->def_int != 0;
            return 0;
        }
        if (t != SBX_JSON_BOOL)
            return bad_type(err, f->name, "boolean", v);
        *FIELD(base, f, bool) = sbx_json_bool(v);
        return 0;
    case SBX_F_INT:
        if (!v) {
            *FIELD(base, f, int64_t) = f->def_int;
            return 0;
        }
        if (!as_int(v, FIELD(base, f, int64_t)))
            return bad_type(err, f->name, "integer", v);
        return 0;
    case SBX_F_RISK:
        if (!v) {
            *FIELD(base, f, int64_t) = f->def_int;
            return 0;
        }
        if (t == SBX_JSON_STRING && risk_from_name(sbx_json_str(v), &i) == 0) {
            *FIELD(base, f, int64_t) = i;
            return 0;
        }
        if (t == SBX_JSON_STRING)
            return sbx_err_set(err, -EINVAL,
                               "action.args.%s: expected an integer or LOW, MEDIUM, HIGH, UNKNOWN",
                               f->name);
        if (!as_int(v, FIELD(base, f, int64_t)))
            return bad_type(err, f->name, "integer", v);
        return 0;
    case SBX_F_INT_OR_STR:
        if (!v || t == SBX_JSON_NULL)
            return dup_str(FIELD(base, f, char *), NULL);
        if (t == SBX_JSON_STRING)
            return dup_str(FIELD(base, f, char *), sbx_json_str(v));
        if (!as_int(v, &i))
            return bad_type(err, f->name, "integer or string", v);
        snprintf(num, sizeof(num), "%" PRId64, i);
        return dup_str(FIELD(base, f, char *), num);
    case SBX_F_VIEW_RANGE:
        if (!v)
            return 0;
        return set_view_range((struct sbx_action_read *)base, v);
    }
    return -EINVAL;
}

static void free_fields(struct sbx_action *a)
{
    const struct sbx__kind_table *t = sbx__action_table(a->kind);
    void *base = kind_base(a);
    size_t i;

    for (i = 0; i < t->n; i++) {
        const struct sbx__field *f = &t->fields[i];

        switch (f->type) {
        case SBX_F_STR:
        case SBX_F_NSTR:
        case SBX_F_INT_OR_STR:
            free(*FIELD(base, f, char *));
            *FIELD(base, f, char *) = NULL;
            break;
        case SBX_F_VIEW_RANGE:
            free(((struct sbx_action_read *)base)->view_range_raw);
            ((struct sbx_action_read *)base)->view_range_raw = NULL;
            break;
        case SBX_F_BOOL:
        case SBX_F_INT:
        case SBX_F_RISK: break;
        }
    }
}

void sbx_action_free(struct sbx_action *a)
{
    if (!a)
        return;
    free_fields(a);
    free(a);
}

/* ---- parsing ------------------------------------------------------------ */

/* Classifies the action object; fills *why and err on failure. */
static int find_action(const struct sbx_json *root, bool bare, const struct sbx_json **act,
                       enum sbx_action_error *why, struct sbx_err *err)
{
    const struct sbx_json *a = root;
    const struct sbx_json *type;

    if (!bare) {
        a = sbx_json_get(root, "action");
        if (!a || sbx_json_type(a) != SBX_JSON_OBJECT) {
            *why = SBX_ACTION_ERR_NO_ACTION;
            return sbx_err_set(err, -EINVAL, "body: expected an object with an \"action\" object");
        }
    } else if (sbx_json_type(a) != SBX_JSON_OBJECT) {
        *why = SBX_ACTION_ERR_NO_ACTION;
        return sbx_err_set(err, -EINVAL, "body: expected an action object, got %s",
                           sbx_json_type_name(sbx_json_type(a)));
    }
    *why = SBX_ACTION_ERR_NOT_ACTION;
    if (sbx_json_get(a, "observation"))
        return sbx_err_set(err, -EINVAL, "action: an observation is not an action");
    type = sbx_json_get(a, "action");
    if (!type)
        return sbx_err_set(err, -EINVAL, "action.action: required string is missing");
    if (sbx_json_type(type) != SBX_JSON_STRING)
        return sbx_err_set(err, -EINVAL, "action.action: expected string, got %s",
                           sbx_json_type_name(sbx_json_type(type)));
    *why = SBX_ACTION_ERR_NONE;
    *act = a;
    return 0;
}

static int parse_args(struct sbx_action *a, const struct sbx_json *args, struct sbx_err *err)
{
    const struct sbx__kind_table *t = sbx__action_table(a->kind);
    void *base = kind_base(a);
    size_t i;
    int rc;

    for (i = 0; i < t->n; i++) {
        const struct sbx__field *f = &t->fields[i];
        const struct sbx_json *v = sbx_json_get(args, f->name);

        if (!v && f->legacy)
            v = sbx_json_get(args, f->legacy);
        if (!v && f->required)
            return sbx_err_set(err, -EINVAL, "action.args.%s: required %s is missing", f->name,
                               f->type == SBX_F_STR ? "string" : "value");
        rc = set_field(base, f, v, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_timeout(struct sbx_action *a, const struct sbx_json *act, struct sbx_err *err)
{
    const struct sbx_json *v = sbx_json_get(act, "timeout");
    enum sbx_json_type t = v ? sbx_json_type(v) : SBX_JSON_NULL;

    if (t == SBX_JSON_INT || t == SBX_JSON_REAL) {
        a->has_timeout = true;
        a->timeout_s = sbx_json_number(v);
        a->timeout_is_int = t == SBX_JSON_INT;
    } else if (t != SBX_JSON_NULL) {
        return sbx_err_set(err, -EINVAL, "action.timeout: expected number, got %s",
                           sbx_json_type_name(t));
    }
    /* §3.1: without a hard timeout upstream never blocks. */
    if (!a->has_timeout && a->kind == SBX_ACTION_RUN)
        a->u.run.blocking = false;
    return 0;
}

/* §2.2/§2.3: FastAPI's request validation answers 422; everything that gets
 * past it and then fails in event_from_dict or dispatch is a 500. */
static int http_status_of(enum sbx_action_error why)
{
    switch (why) {
    case SBX_ACTION_ERR_JSON:
    case SBX_ACTION_ERR_NO_ACTION: return 422;
    case SBX_ACTION_ERR_NONE: /* out of memory */
    case SBX_ACTION_ERR_NOT_ACTION:
    case SBX_ACTION_ERR_UNKNOWN_TYPE:
    case SBX_ACTION_ERR_BAD_ARGS: return 500;
    }
    return 500;
}

int sbx_action_parse(const char *json, size_t len, bool bare, struct sbx_action **out,
                     enum sbx_action_error *why, struct sbx_err *err)
{
    enum sbx_action_error dummy_why = SBX_ACTION_ERR_NONE;
    struct sbx_json *root = NULL;
    const struct sbx_json *act = NULL;
    const struct sbx_json *args;
    struct sbx_action *a = NULL;
    enum sbx_action_kind kind;
    int rc;

    if (!why)
        why = &dummy_why;
    *why = SBX_ACTION_ERR_NONE;
    *out = NULL;
    root = sbx_json_parse(json, len, err);
    if (!root) {
        *why = SBX_ACTION_ERR_JSON;
        rc = sbx_err_prefix(err, "body");
        rc = rc < 0 ? rc : -EINVAL;
        goto out;
    }
    rc = find_action(root, bare, &act, why, err);
    if (rc < 0)
        goto out;
    if (sbx_action_kind_from_name(sbx_json_str(sbx_json_get(act, "action")), &kind) < 0) {
        *why = SBX_ACTION_ERR_UNKNOWN_TYPE;
        rc = sbx_err_set(err, -EINVAL, "action.action: unknown action type \"%.64s\"",
                         sbx_json_str(sbx_json_get(act, "action")));
        goto out;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        rc = sbx_err_set(err, -ENOMEM, "action: out of memory");
        goto out;
    }
    a->kind = kind;
    args = sbx_json_get(act, "args");
    if (args && sbx_json_type(args) != SBX_JSON_OBJECT) {
        *why = SBX_ACTION_ERR_BAD_ARGS;
        rc = sbx_err_set(err, -EINVAL, "action.args: expected object, got %s",
                         sbx_json_type_name(sbx_json_type(args)));
        goto out;
    }
    rc = parse_args(a, args, err);
    if (rc == 0)
        rc = parse_timeout(a, act, err);
    if (rc == -ENOMEM)
        sbx_err_set(err, rc, "action: out of memory");
    if (rc < 0) {
        /* Out of memory is no fault of the body: why stays NONE. */
        *why = rc == -ENOMEM ? SBX_ACTION_ERR_NONE : SBX_ACTION_ERR_BAD_ARGS;
        goto out;
    }
    *out = a;
    a = NULL;
out:
    if (rc < 0 && err)
        err->http_status = http_status_of(*why);
    sbx_action_free(a);
    sbx_json_free(root);
    return rc;
}

/* ---- serialising -------------------------------------------------------- */

/* insert_line goes back out as an integer when its text is one. */
static struct sbx_json *int_or_str_json(const char *s)
{
    char *end = NULL;
    long long v;

    if (!s)
        return sbx_json_null_new();
    if ((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9')) {
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0' && (s[0] != '0' || s[1] == '\0') &&
            (s[0] != '-' || s[1] != '0'))
            return sbx_json_int_new((int64_t)v);
    }
    return sbx_json_cstr_new(s);
}

static struct sbx_json *view_range_json(const struct sbx_action_read *r)
{
    struct sbx_json *arr;

    if (r->has_view_range) {
        arr = sbx_json_array_new();
        if (!arr || sbx_json_append_take(arr, sbx_json_int_new(r->view_range[0])) < 0 ||
            sbx_json_append_take(arr, sbx_json_int_new(r->view_range[1])) < 0) {
            sbx_json_free(arr);
            return NULL;
        }
        return arr;
    }
    if (r->view_range_raw) {
        arr = sbx_json_parse(r->view_range_raw, strlen(r->view_range_raw), NULL);
        if (arr)
            return arr;
    }
    return sbx_json_null_new();
}

static struct sbx_json *field_json(const void *base, const struct sbx__field *f)
{
    const char *const *sp = (const char *const *)((const char *)base + f->off);

    switch (f->type) {
    case SBX_F_STR: return sbx_json_cstr_new(*sp ? *sp : (f->def_str ? f->def_str : ""));
    case SBX_F_NSTR: return sbx_json_cstr_new(*sp);
    case SBX_F_BOOL: return sbx_json_bool_new(*(const bool *)((const char *)base + f->off));
    case SBX_F_INT:
    case SBX_F_RISK: return sbx_json_int_new(*(const int64_t *)((const char *)base + f->off));
    case SBX_F_INT_OR_STR: return int_or_str_json(*sp);
    case SBX_F_VIEW_RANGE: return view_range_json((const struct sbx_action_read *)base);
    }
    return NULL;
}

int sbx_action_to_json(const struct sbx_action *a, struct sbx_buf *out)
{
    const struct sbx__kind_table *t = sbx__action_table(a->kind);
    const void *base = kind_cbase(a);
    struct sbx_json *obj = NULL;
    struct sbx_json *args = NULL;
    size_t i;
    int rc = -ENOMEM;

    obj = sbx_json_object_new();
    args = sbx_json_object_new();
    if (!obj || !args)
        goto out;
    if (sbx_json_set_str(obj, "action", sbx_action_kind_name(a->kind)) < 0)
        goto out;
    for (i = 0; i < t->n; i++)
        if (sbx_json_set_take(args, t->fields[i].name, field_json(base, &t->fields[i])) < 0)
            goto out;
    rc = sbx_json_set_take(obj, "args", args);
    args = NULL;
    if (rc < 0)
        goto out;
    if (a->has_timeout) {
        rc = a->timeout_is_int ? sbx_json_set_int(obj, "timeout", (int64_t)a->timeout_s)
                               : sbx_json_set_real(obj, "timeout", a->timeout_s);
        if (rc < 0)
            goto out;
    }
    rc = sbx_json_dump(obj, out);
out:
    sbx_json_free(args);
    sbx_json_free(obj);
    return rc;
}
