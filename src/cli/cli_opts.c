/*
 * Option parsing and value parsing for every subcommand: the one place where
 * a size, a CPU count, a duration, a label or an environment entry is read
 * from the command line.
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- the option parser --------------------------------------------------- */

static const struct sbx_cli_opt *find_long(const struct sbx_cli_opt *opts, const char *name,
                                           size_t len)
{
    for (; opts->long_name; opts++)
        if (strlen(opts->long_name) == len && memcmp(opts->long_name, name, len) == 0)
            return opts;
    return NULL;
}

static const struct sbx_cli_opt *find_short(const struct sbx_cli_opt *opts, char c)
{
    for (; opts->long_name; opts++)
        if (opts->short_name && opts->short_name == c)
            return opts;
    return NULL;
}

/* Calls on_opt and puts the option as the user spelled it in front of
 * a value error ("--memory: ..."). */
static int apply(sbx_cli_opt_fn *on_opt, void *ud, const struct sbx_cli_opt *o, bool as_short,
                 const char *val, struct sbx_err *err)
{
    int rc = on_opt(ud, o->id, val, err);

    if (rc < 0 && rc != -ENOMEM) {
        if (as_short)
            sbx_err_prefix(err, "-%c", o->short_name);
        else
            sbx_err_prefix(err, "--%s", o->long_name);
    }
    return rc;
}

static int parse_long_opt(int argc, char **argv, int *i, const struct sbx_cli_opt *opts,
                          sbx_cli_opt_fn *on_opt, void *ud, struct sbx_err *err)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct sbx_cli_opt *o = find_long(opts, name, len);
    const char *val = NULL;

    if (!o)
        return sbx_err_set(err, -EINVAL, "unknown option '--%.*s'", (int)len, name);
    if (o->has_arg) {
        if (eq)
            val = eq + 1;
        else if (*i + 1 < argc)
            val = argv[++*i];
        else
            return sbx_err_set(err, -EINVAL, "option '--%s' needs a value", o->long_name);
    } else if (eq) {
        return sbx_err_set(err, -EINVAL, "option '--%s' takes no value", o->long_name);
    }
    return apply(on_opt, ud, o, false, val, err);
}

/* "-x", "-xVALUE", "-x VALUE", or flags grouped as "-qa". */
static int parse_short_opts(int argc, char **argv, int *i, const struct sbx_cli_opt *opts,
                            sbx_cli_opt_fn *on_opt, void *ud, struct sbx_err *err)
{
    const char *a = argv[*i];
    size_t j;
    int rc;

    for (j = 1; a[j]; j++) {
        const struct sbx_cli_opt *o = find_short(opts, a[j]);

        if (!o)
            return sbx_err_set(err, -EINVAL, "unknown option '-%c'", a[j]);
        if (!o->has_arg) {
            rc = apply(on_opt, ud, o, true, NULL, err);
            if (rc < 0)
                return rc;
            continue;
        }
        if (a[j + 1])
            return apply(on_opt, ud, o, true, a + j + 1, err);
        if (*i + 1 >= argc)
            return sbx_err_set(err, -EINVAL, "option '-%c' needs a value", a[j]);
        return apply(on_opt, ud, o, true, argv[++*i], err);
    }
    return 0;
}

int sbx_cli_parse(int argc, char **argv, const struct sbx_cli_opt *opts, int stop_after,
                  sbx_cli_opt_fn *on_opt, void *ud, struct sbx_cli_args *out, struct sbx_err *err)
{
    int i, rc = 0;

    memset(out, 0, sizeof(*out));
    out->pos = calloc((size_t)argc + 1, sizeof(char *));
    out->rest = calloc((size_t)argc + 1, sizeof(char *));
    if (!out->pos || !out->rest) {
        sbx_cli_args_release(out);
        return sbx_err_set(err, -ENOMEM, "out of memory");
    }
    for (i = 1; i < argc && rc == 0; i++) {
        char *a = argv[i];

        if (out->dashdash)
            out->rest[out->n_rest++] = a;
        else if (strcmp(a, "--") == 0)
            out->dashdash = true;
        else if (a[0] == '-' && a[1] == '-')
            rc = parse_long_opt(argc, argv, &i, opts, on_opt, ud, err);
        else if (a[0] == '-' && a[1])
            rc = parse_short_opts(argc, argv, &i, opts, on_opt, ud, err);
        else if (stop_after >= 0 && out->n_pos >= stop_after) {
            out->dashdash = true;
            out->rest[out->n_rest++] = a;
        } else {
            out->pos[out->n_pos++] = a;
        }
    }
    if (rc < 0)
        sbx_cli_args_release(out);
    return rc;
}

void sbx_cli_args_release(struct sbx_cli_args *a)
{
    free(a->pos);
    free(a->rest);
    memset(a, 0, sizeof(*a));
}

/* ---- values --------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A decimal with at most 3 fractional digits, in thousandths: "2" -> 2000,
 * "0.5" -> 500. *end points past it. */
static int parse_milli(const char *s, const char **end, int64_t *milli)
{
    int64_t v = 0;
    int frac = 0;
    const char *p = s;

    if (!is_digit(*p))
        return -EINVAL;
    for (; is_digit(*p); p++) {
        if (v > (INT64_MAX / 1000 - 9) / 10)
            return -ERANGE;
        v = v * 10 + (*p - '0');
    }
    v *= 1000;
    if (*p == '.') {
        int scale = 100;

        p++;
        if (!is_digit(*p))
            return -EINVAL;
        for (; is_digit(*p); p++, frac++) {
            if (frac >= 3)
                return -EINVAL;
            v += (*p - '0') * scale;
            scale /= 10;
        }
    }
    *end = p;
    *milli = v;
    return 0;
}

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;

        if (x != *b)
            return false;
    }
    return *a == *b;
}

int sbx_cli_parse_size(const char *s, int64_t *bytes, struct sbx_err *err)
{
    static const char expect[] = "bytes, or a number with a k, m, g or t suffix";
    static const char units[] = "kKmMgGtT";
    char *end = NULL;
    long long v;
    int shift = 0;

    if (!is_digit(*s))
        return sbx_err_set(err, -EINVAL, "invalid size '%s' (%s)", s, expect);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return sbx_err_set(err, -EINVAL, "size '%s' is too large", s);
    if (*end && strchr(units, *end)) {
        /* k K m M g G t T: 2^10, 2^20, 2^30, 2^40 */
        shift = 10 * (int)(1 + (strchr(units, *end) - units) / 2);
        end++;
    }
    if (!(*end == '\0' || ieq(end, "b") || (shift && ieq(end, "ib"))))
        return sbx_err_set(err, -EINVAL, "invalid size '%s' (%s)", s, expect);
    if (v <= 0)
        return sbx_err_set(err, -EINVAL, "size '%s' must be greater than 0", s);
    if (v > (INT64_MAX >> shift))
        return sbx_err_set(err, -EINVAL, "size '%s' is too large", s);
    *bytes = (int64_t)v << shift;
    return 0;
}

int sbx_cli_parse_cpus(const char *s, int64_t *millis, struct sbx_err *err)
{
    const char *end = NULL;
    int64_t v = 0;

    if (parse_milli(s, &end, &v) < 0 || *end)
        return sbx_err_set(err, -EINVAL,
                           "invalid CPU count '%s' (a decimal number with at most 3 decimals, "
                           "e.g. 0.5 or 2)",
                           s);
    if (v < 1 || v > 4096 * 1000)
        return sbx_err_set(err, -EINVAL, "CPU count '%s' out of range (0.001 to 4096)", s);
    *millis = v;
    return 0;
}

int sbx_cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, struct sbx_err *err)
{
    char *end = NULL;
    long long v;

    if (!is_digit(*s) && !(*s == '-' && is_digit(s[1])))
        return sbx_err_set(err, -EINVAL, "invalid number '%s'", s);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end)
        return sbx_err_set(err, -EINVAL, "invalid number '%s'", s);
    if (errno == ERANGE || v < min || v > max)
        return sbx_err_set(err, -EINVAL, "'%s' out of range (%lld to %lld)", s, (long long)min,
                           (long long)max);
    *out = v;
    return 0;
}

int sbx_cli_parse_duration(const char *s, int64_t *ms, struct sbx_err *err)
{
    static const int64_t max_ms = 30LL * 24 * 3600 * 1000;
    const char *end = NULL;
    int64_t v = 0, unit_s = 1;
    int rc = parse_milli(s, &end, &v);

    if (rc == 0) {
        if (*end == 's' || *end == 'S')
            end++;
        else if (*end == 'm' || *end == 'M')
            unit_s = 60, end++;
        else if (*end == 'h' || *end == 'H')
            unit_s = 3600, end++;
        if (*end)
            rc = -EINVAL;
    }
    if (rc == -ERANGE || (rc == 0 && v > max_ms / unit_s))
        return sbx_err_set(err, -EINVAL, "duration '%s' is too long (at most 30 days)", s);
    if (rc < 0)
        return sbx_err_set(err, -EINVAL,
                           "invalid duration '%s' (seconds, e.g. 30 or 0.5, or with an s, m or "
                           "h suffix)",
                           s);
    if (v * unit_s < 1)
        return sbx_err_set(err, -EINVAL, "duration '%s' must be greater than 0", s);
    *ms = v * unit_s;
    return 0;
}

static bool label_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
           c == '_' || c == '/' || c == '-';
}

int sbx_cli_parse_label(const char *s, struct sbx_err *err)
{
    const char *eq = strchr(s, '=');
    const char *p;

    if (!eq || eq == s)
        return sbx_err_set(err, -EINVAL, "invalid label '%s' (expected KEY=VALUE)", s);
    for (p = s; p < eq; p++)
        if (!label_key_char(*p))
            return sbx_err_set(err, -EINVAL,
                               "invalid label key in '%s' (letters, digits and . _ / - only)", s);
    return 0;
}

int sbx_cli_parse_env(const char *s, struct sbx_err *err)
{
    const char *eq = strchr(s, '=');
    const char *p;

    if (!eq || eq == s || is_digit(*s))
        return sbx_err_set(err, -EINVAL, "invalid environment entry '%s' (expected NAME=VALUE)", s);
    for (p = s; p < eq; p++)
        if (!(label_key_char(*p) && *p != '.' && *p != '/' && *p != '-'))
            return sbx_err_set(err, -EINVAL,
                               "invalid variable name in '%s' (letters, digits and _ only)", s);
    return 0;
}

int sbx_cli_parse_network(const char *s, enum sbx_network *out, struct sbx_err *err)
{
    if (strcmp(s, "host") == 0)
        *out = SBX_NETWORK_HOST;
    else if (strcmp(s, "none") == 0)
        *out = SBX_NETWORK_NONE;
    else
        return sbx_err_set(err, -EINVAL, "invalid network '%s' (host or none)", s);
    return 0;
}

/* ---- string vectors ------------------------------------------------------- */

int sbx_cli_strv_push(struct sbx_cli_strv *s, const char *str)
{
    if (s->n + 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        const char **v = realloc(s->v, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
    return 0;
}

void sbx_cli_strv_release(struct sbx_cli_strv *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ---- create options ------------------------------------------------------- */

int sbx_cli_create_opt(struct sbx_cli_create *cr, int id, const char *arg, struct sbx_err *err)
{
    struct sbx_sandbox_spec *sp = &cr->spec;
    int rc = 0;

    switch (id) {
    case SBX_OPT_NAME:
        if (!*arg)
            return sbx_err_set(err, -EINVAL, "the name must not be empty");
        sp->name = arg;
        return 0;
    case SBX_OPT_LABEL:
        rc = sbx_cli_parse_label(arg, err);
        if (rc == 0 && sbx_cli_strv_push(&cr->labels, arg) < 0)
            rc = sbx_err_set(err, -ENOMEM, "out of memory");
        sp->labels = cr->labels.v;
        return rc;
    case SBX_OPT_ENV:
        rc = sbx_cli_parse_env(arg, err);
        if (rc == 0 && sbx_cli_strv_push(&cr->env, arg) < 0)
            rc = sbx_err_set(err, -ENOMEM, "out of memory");
        sp->env = cr->env.v;
        return rc;
    case SBX_OPT_MEMORY: return sbx_cli_parse_size(arg, &sp->memory_bytes, err);
    case SBX_OPT_CPUS: return sbx_cli_parse_cpus(arg, &sp->cpu_millis, err);
    case SBX_OPT_PIDS: return sbx_cli_parse_int(arg, 1, 4194304, &sp->pids_max, err);
    case SBX_OPT_NETWORK: return sbx_cli_parse_network(arg, &sp->network, err);
    case SBX_OPT_ROOTFS:
        if (!*arg)
            return sbx_err_set(err, -EINVAL, "the root filesystem path must not be empty");
        sp->image = arg;
        return 0;
    case SBX_OPT_WORKDIR:
        if (arg[0] != '/')
            return sbx_err_set(err, -EINVAL, "'%s' is not an absolute path", arg);
        sp->workdir = arg;
        return 0;
    default: return 1;
    }
}

void sbx_cli_create_release(struct sbx_cli_create *cr)
{
    sbx_cli_strv_release(&cr->labels);
    sbx_cli_strv_release(&cr->env);
    memset(cr, 0, sizeof(*cr));
}

int sbx_cli_common_opt(struct sbx_cli *c, bool *help, int id, const char *arg)
{
    switch (id) {
    case SBX_OPT_HELP: *help = true; return 0;
    case SBX_OPT_PROVIDER: c->provider = arg; return 0;
    case SBX_OPT_STATE_DIR: c->state_dir = arg; return 0;
    case SBX_OPT_JSON: c->json = true; return 0;
    default: return 1;
    }
}

char *sbx_cli_join(char *const *argv, int n)
{
    size_t len = 1, off = 0;
    char *s;
    int i;

    for (i = 0; i < n; i++)
        len += strlen(argv[i]) + 1;
    s = malloc(len);
    if (!s)
        return NULL;
    for (i = 0; i < n; i++) {
        size_t l = strlen(argv[i]);

        if (i)
            s[off++] = ' ';
        memcpy(s + off, argv[i], l);
        off += l;
    }
    s[off] = '\0';
    return s;
}
