/*
 * sbx ls: the sandboxes of a provider, dead ones included, as a table, ids
 * or JSON.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/time.h"

enum { OPT_ALL = SBX_OPT_CMD, OPT_QUIET, OPT_LABEL, OPT_NAME };

static const struct sbx_cli_opt opts[] = {
    SBX_CLI_COMMON_OPTS,
    SBX_CLI_JSON_OPT,
    {"all", 'a', false, OPT_ALL},
    {"quiet", 'q', false, OPT_QUIET},
    {"label", 'l', true, OPT_LABEL},
    {"name", 0, true, OPT_NAME},
    SBX_CLI_OPTS_END,
};

struct ls {
    struct sbx_cli *c;
    bool help;
    bool quiet;
    struct sbx_cli_strv labels;
    const char *name;
};

static int on_opt(void *ud, int id, const char *arg, struct sbx_err *err)
{
    struct ls *o = ud;
    int rc = sbx_cli_common_opt(o->c, &o->help, id, arg);

    if (rc <= 0)
        return rc;
    switch (id) {
    case OPT_QUIET: o->quiet = true; return 0;
    case OPT_LABEL:
        rc = sbx_cli_parse_label(arg, err);
        if (rc == 0 && sbx_cli_strv_push(&o->labels, arg) < 0)
            rc = sbx_err_set(err, -ENOMEM, "out of memory");
        return rc;
    case OPT_NAME: o->name = arg; return 0;
    default: /* -a: every state is always listed; accepted for docker habits */ return 0;
    }
}

/* 536870912 -> "512M"; exact binary units only, else bytes. */
static void add_size(struct sbx_buf *b, int64_t v)
{
    static const char units[] = "KMGT";
    int u = -1;

    while (u < 3 && v >= 1024 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        sbx_buf_addf(b, "%lld", (long long)v);
    else
        sbx_buf_addf(b, "%lld%c", (long long)v, units[u]);
}

/* "mem=512M cpu=0.5 pids=4096"; a limit the provider does not enforce
 * carries a '!'. */
static void add_limits(struct sbx_buf *b, const struct sbx_sandbox_info *in)
{
    size_t start = b->len;

    if (in->memory_bytes) {
        sbx_buf_addstr(b, "mem=");
        add_size(b, in->memory_bytes);
        sbx_buf_addstr(b, (in->enforced & SBX_LIMIT_MEMORY) ? " " : "! ");
    }
    if (in->cpu_millis) {
        sbx_buf_addf(b, "cpu=%lld", (long long)(in->cpu_millis / 1000));
        if (in->cpu_millis % 1000) {
            char frac[8];

            snprintf(frac, sizeof(frac), ".%03lld", (long long)(in->cpu_millis % 1000));
            while (frac[strlen(frac) - 1] == '0')
                frac[strlen(frac) - 1] = '\0';
            sbx_buf_addstr(b, frac);
        }
        sbx_buf_addstr(b, (in->enforced & SBX_LIMIT_CPU) ? " " : "! ");
    }
    if (in->pids_max)
        sbx_buf_addf(b, "pids=%lld%s ", (long long)in->pids_max,
                     (in->enforced & SBX_LIMIT_PIDS) ? "" : "!");
    if (b->len == start)
        sbx_buf_addstr(b, "-");
    else
        sbx_buf_truncate(b, b->len - 1);
}

static void add_age(struct sbx_buf *b, int64_t created_ms)
{
    int64_t s = (sbx_wall_ms() - created_ms) / 1000;

    if (created_ms <= 0)
        sbx_buf_addstr(b, "-");
    else if (s < 60)
        sbx_buf_addf(b, "%llds ago", (long long)(s < 0 ? 0 : s));
    else if (s < 3600)
        sbx_buf_addf(b, "%lldm ago", (long long)(s / 60));
    else if (s < 86400)
        sbx_buf_addf(b, "%lldh ago", (long long)(s / 3600));
    else
        sbx_buf_addf(b, "%lldd ago", (long long)(s / 86400));
}

#define NCOLS 7

static void cells(struct sbx_buf *row, const struct sbx_sandbox_info *in)
{
    size_t i;

    sbx_buf_addstr(&row[0], in->id);
    sbx_buf_addstr(&row[1], in->name ? in->name : "-");
    sbx_buf_addstr(&row[2], sbx_sandbox_state_name(in->state));
    add_age(&row[3], in->created_ms);
    sbx_buf_addstr(&row[4], in->network == SBX_NETWORK_NONE ? "none" : "host");
    add_limits(&row[5], in);
    for (i = 0; i < in->n_labels; i++)
        sbx_buf_addf(&row[6], "%s%s", i ? "," : "", in->labels[i]);
    if (!in->n_labels)
        sbx_buf_addstr(&row[6], "-");
}

static int print_table(const struct sbx_sandbox_info *in, size_t n)
{
    static const char *const head[NCOLS] = {"ID",      "NAME",   "STATE", "CREATED",
                                            "NETWORK", "LIMITS", "LABELS"};
    struct sbx_buf *t = calloc((n + 1) * NCOLS, sizeof(*t));
    size_t w[NCOLS] = {0};
    size_t r, k;

    if (!t)
        return -ENOMEM;
    for (k = 0; k < (n + 1) * NCOLS; k++)
        sbx_buf_init(&t[k], 0);
    for (k = 0; k < NCOLS; k++)
        sbx_buf_addstr(&t[k], head[k]);
    for (r = 0; r < n; r++)
        cells(&t[(r + 1) * NCOLS], &in[r]);
    for (k = 0; k < (n + 1) * NCOLS; k++)
        if (t[k].len > w[k % NCOLS])
            w[k % NCOLS] = t[k].len;
    for (r = 0; r <= n; r++)
        for (k = 0; k < NCOLS; k++) {
            if (k + 1 < NCOLS)
                printf("%-*s  ", (int)w[k], t[r * NCOLS + k].ptr);
            else
                printf("%s\n", t[r * NCOLS + k].ptr);
        }
    for (k = 0; k < (n + 1) * NCOLS; k++)
        sbx_buf_free(&t[k]);
    free(t);
    return 0;
}

static int print_json(const struct sbx_sandbox_info *in, size_t n)
{
    struct sbx_buf b = SBX_BUF_INIT;
    size_t i;
    int rc = sbx_buf_addch(&b, '[');

    for (i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = sbx_buf_addch(&b, ',');
        if (rc == 0)
            rc = sbx_cli_info_json(&in[i], &b);
    }
    if (rc == 0)
        rc = sbx_buf_addstr(&b, "]\n");
    if (rc == 0)
        fwrite(b.ptr, 1, b.len, stdout);
    sbx_buf_free(&b);
    return rc;
}

static int ls_main(struct sbx_cli *c, int argc, char **argv)
{
    struct ls o = {.c = c};
    struct sbx_cli_args args = {0};
    struct sbx_provider *p = NULL;
    struct sbx_sandbox_info *in = NULL;
    struct sbx_sandbox_filter f = {0};
    struct sbx_err err = {0};
    int rc, n = 0, i;

    rc = sbx_cli_parse_cmd(c, &sbx_cmd_ls, argc, argv, opts, -1, on_opt, &o, &o.help, &args);
    if (rc >= 0)
        goto out;
    rc = sbx_cli_no_args(c, &args);
    if (rc != 0)
        goto out;
    rc = sbx_cli_provider_open(c, &p);
    if (rc != 0)
        goto out;
    f.labels = o.labels.v;
    f.name = o.name;
    n = sbx_provider_list(p, &f, &in, &err);
    if (n < 0) {
        rc = sbx_cli_fail_err(c, n, &err, "listing sandboxes");
        n = 0;
        goto out;
    }
    if (c->json)
        rc = print_json(in, (size_t)n);
    else if (o.quiet)
        for (i = 0; i < n; i++)
            printf("%s\n", in[i].id);
    else
        rc = print_table(in, (size_t)n);
    rc = rc < 0 ? sbx_cli_fail(c, SBX_EXIT_INFRA, "out of memory") : sbx_cli_flush_stdout(c);
out:
    sbx_sandbox_info_array_free(in, (size_t)n);
    sbx_provider_close(p);
    sbx_cli_strv_release(&o.labels);
    sbx_cli_args_release(&args);
    return rc;
}

const struct sbx_cli_cmd sbx_cmd_ls = {
    "ls",
    "list sandboxes (dead ones included)",
    "usage: sbx ls [-a] [-l KEY=VALUE]... [--name NAME] [-q] [--json]\n"
    "\n"
    "Lists the provider's sandboxes in every state (creating, running, paused, dead)\n"
    "as a table: ID NAME STATE CREATED NETWORK LIMITS LABELS. In LIMITS a '!' marks a\n"
    "limit that was asked for but is not enforced on this host.\n"
    "\n"
    "options:\n"
    "  -l, --label KEY=VALUE  only sandboxes with this label (repeatable: all must match)\n"
    "  --name NAME            only the sandbox of this name\n"
    "  -q, --quiet            ids only, one per line\n"
    "  -a, --all              every sandbox (the default; accepted for docker habits)\n"
    "  --json                 a JSON array of sandbox objects (see 'sbx inspect')\n"
    "\n"
    "exit: 0 (also when nothing matches); 2 usage; 3 the provider failed.\n"
    "example: sbx ls -l team=ml -q | xargs -r sbx rm\n",
    ls_main,
};
