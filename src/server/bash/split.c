#include "server/bash/split.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/bash/split_lex.h"

/*
 * Model of bashlex 0.18 as OpenHands uses it (bashlex.parse + the cutting loop
 * of split_bash_commands). bashlex parses one "input unit" (a list ended by a
 * top-level newline) at a time: each unit is parsed by a fresh tokenizer
 * started one character after the previous unit's end (or after its last
 * heredoc body). We do the same, so cut points land where upstream's do.
 */

/* Tokens that can begin a command. */
static const unsigned long long command_start =
    SBX__BIT(T_WORD) | SBX__BIT(T_NUMBER) | SBX__BIT(T_REDIR) | SBX__BIT(T_DUP) |
    SBX__BIT(T_HEREDOC) | SBX__BIT(T_HEREDOCS) | SBX__BIT(T_LPAREN) | SBX__BIT(T_BANG) |
    SBX__BIT(T_IF) | SBX__BIT(T_CASE) | SBX__BIT(T_FOR) | SBX__BIT(T_SELECT) | SBX__BIT(T_WHILE) |
    SBX__BIT(T_UNTIL) | SBX__BIT(T_FUNCTION) | SBX__BIT(T_LBRACE) | SBX__BIT(T_COND_START) |
    SBX__BIT(T_TIME) | SBX__BIT(T_COPROC);

/* Compound commands (shell_command in bashlex's grammar). */
static const unsigned long long compound_start =
    SBX__BIT(T_LPAREN) | SBX__BIT(T_LBRACE) | SBX__BIT(T_WHILE) | SBX__BIT(T_UNTIL) |
    SBX__BIT(T_IF) | SBX__BIT(T_FOR) | SBX__BIT(T_CASE);

/* Tokens that start a redirection. */
static const unsigned long long redir_start = SBX__BIT(T_NUMBER) | SBX__BIT(T_REDIR) |
                                              SBX__BIT(T_DUP) | SBX__BIT(T_HEREDOC) |
                                              SBX__BIT(T_HEREDOCS);

/* ---- grammar (bashlex's parser.py productions, as a recogniser) ---- */

static int compound_list(struct lx *l);
static int command(struct lx *l);

static int err(struct lx *l)
{
    l->fail = 1;
    return -1;
}

static int eat(struct lx *l, enum tk t)
{
    if (l->cur.t != t)
        return 0;
    sbx__split_next(l);
    return 1;
}

static int expect(struct lx *l, enum tk t)
{
    if (l->fail || l->cur.t != t)
        return err(l);
    sbx__split_next(l);
    return 0;
}

static void newlines(struct lx *l)
{
    while (!l->fail && l->cur.t == T_NL)
        sbx__split_next(l);
}

static int starts_command(enum tk t)
{
    return SBX__IN_SET(command_start, t);
}

static int redirection(struct lx *l)
{
    enum tk op;
    if (l->cur.t == T_NUMBER)
        sbx__split_next(l);
    op = l->cur.t;
    if (op != T_REDIR && op != T_DUP && op != T_HEREDOC && op != T_HEREDOCS)
        return err(l);
    sbx__split_next(l);
    if (op == T_DUP && (l->cur.t == T_NUMBER || l->cur.t == T_DASH)) {
        sbx__split_next(l);
        return 0;
    }
    if (l->cur.t != T_WORD)
        return err(l);
    if ((op == T_HEREDOC || op == T_HEREDOCS) &&
        sbx__split_push_heredoc(l, l->cur.s, l->cur.e, op == T_HEREDOCS) < 0)
        return -1;
    sbx__split_next(l);
    return l->fail ? -1 : 0;
}

static int is_redir_start(enum tk t)
{
    return SBX__IN_SET(redir_start, t);
}

static int redirection_list(struct lx *l)
{
    while (!l->fail && is_redir_start(l->cur.t))
        if (redirection(l) < 0)
            return -1;
    return l->fail ? -1 : 0;
}

/* for/while/until/if/case/subshell/group; cur is the opening token. */
static int shell_command(struct lx *l)
{
    enum tk t = l->cur.t;
    sbx__split_next(l);
    switch (t) {
    case T_LPAREN:
        if (compound_list(l) < 0)
            return -1;
        return expect(l, T_RPAREN);
    case T_LBRACE:
        if (compound_list(l) < 0)
            return -1;
        return expect(l, T_RBRACE);
    case T_WHILE:
    case T_UNTIL:
        if (compound_list(l) < 0 || expect(l, T_DO) < 0 || compound_list(l) < 0)
            return -1;
        return expect(l, T_DONE);
    case T_IF:
        if (compound_list(l) < 0 || expect(l, T_THEN) < 0 || compound_list(l) < 0)
            return -1;
        while (l->cur.t == T_ELIF) {
            sbx__split_next(l);
            if (compound_list(l) < 0 || expect(l, T_THEN) < 0 || compound_list(l) < 0)
                return -1;
        }
        if (eat(l, T_ELSE) && compound_list(l) < 0)
            return -1;
        return expect(l, T_FI);
    case T_FOR:
        if (expect(l, T_WORD) < 0)
            return -1;
        if (eat(l, T_SEMI)) {
            newlines(l);
        } else {
            newlines(l);
            if (eat(l, T_IN)) {
                while (l->cur.t == T_WORD)
                    sbx__split_next(l);
                if (l->cur.t != T_NL && l->cur.t != T_SEMI && l->cur.t != T_EOF)
                    return err(l);
                sbx__split_next(l);
                newlines(l);
            }
        }
        if (l->fail)
            return -1;
        if (eat(l, T_DO)) {
            if (compound_list(l) < 0)
                return -1;
            return expect(l, T_DONE);
        }
        if (expect(l, T_LBRACE) < 0 || compound_list(l) < 0)
            return -1;
        return expect(l, T_RBRACE);
    default:
        /* case (bashlex 0.18 raises NotImplementedError for its patterns),
         * select, coproc, [[ ]]: NotImplementedError or a ParsingError
         * upstream; either way the text stays one command */
        return err(l);
    }
}

static int function_body(struct lx *l)
{
    newlines(l);
    if (!SBX__IN_SET(compound_start, l->cur.t))
        return err(l);
    if (shell_command(l) < 0)
        return -1;
    return redirection_list(l);
}

static int command(struct lx *l)
{
    int rc = -1, n = 0;
    if (sbx__split_enter(l) < 0)
        goto out;
    if (SBX__IN_SET(compound_start | SBX__BIT(T_SELECT) | SBX__BIT(T_COPROC) |
                        SBX__BIT(T_COND_START),
                    l->cur.t)) {
        if (shell_command(l) < 0)
            goto out;
        rc = redirection_list(l);
        goto out;
    }
    if (eat(l, T_FUNCTION)) {
        if (expect(l, T_WORD) < 0)
            goto out;
        if (eat(l, T_LPAREN) && expect(l, T_RPAREN) < 0)
            goto out;
        rc = function_body(l);
        goto out;
    }
    while (!l->fail) {
        if (l->cur.t == T_WORD) {
            sbx__split_next(l);
            if (n == 0 && l->cur.t == T_LPAREN) {
                sbx__split_next(l);
                if (expect(l, T_RPAREN) < 0)
                    goto out;
                rc = function_body(l);
                goto out;
            }
        } else if (is_redir_start(l->cur.t)) {
            if (redirection(l) < 0)
                goto out;
        } else {
            break;
        }
        n++;
    }
    rc = (n == 0 || l->fail) ? err(l) : 0;
out:
    l->depth--;
    return rc;
}

static int pipeline_command(struct lx *l)
{
    int rc = -1;
    if (sbx__split_enter(l) < 0)
        goto out;
    if (eat(l, T_BANG)) {
        /* `BANG list_terminator`: bashlex builds the node from the
         * terminator, which is None for a newline (AttributeError) */
        if (l->cur.t == T_NL || l->cur.t == T_EOF) {
            err(l);
            goto out;
        }
        if (eat(l, T_SEMI)) {
            rc = l->fail ? -1 : 0;
            goto out;
        }
        rc = pipeline_command(l);
        goto out;
    }
    for (;;) {
        if (command(l) < 0)
            goto out;
        if (!eat(l, T_BAR) && !eat(l, T_BARAND))
            break;
        newlines(l);
    }
    rc = l->fail ? -1 : 0;
out:
    l->depth--;
    return rc;
}

/* pipelines joined by && and || (each may be followed by newlines) */
static int and_or(struct lx *l)
{
    for (;;) {
        if (pipeline_command(l) < 0)
            return -1;
        if (!eat(l, T_ANDAND) && !eat(l, T_OROR))
            return l->fail ? -1 : 0;
        newlines(l);
    }
}

static int compound_list(struct lx *l)
{
    int rc = -1;
    if (sbx__split_enter(l) < 0)
        goto out;
    newlines(l);
    if (l->fail || !starts_command(l->cur.t)) {
        err(l);
        goto out;
    }
    for (;;) {
        if (and_or(l) < 0)
            goto out;
        if (l->cur.t != T_SEMI && l->cur.t != T_AMP && l->cur.t != T_NL)
            break;
        sbx__split_next(l);
        newlines(l);
        if (l->fail)
            goto out;
        if (!starts_command(l->cur.t))
            break;
    }
    rc = l->fail ? -1 : 0;
out:
    l->depth--;
    return rc;
}

/* One input unit from l->i: returns 1 with [*s, *e) the node and *next the
 * restart index, 0 if only blank lines/comments remain, -1 on error. */
static int parse_unit(struct lx *l, size_t *s, size_t *e, size_t *nexti)
{
    l->have_last = 0;
    l->casepat = l->esacs_needed = l->open_brace = 0;
    l->nhd = 0;
    l->hd_end = -1;
    l->cur.e = l->i;
    sbx__split_next(l);
    newlines(l);
    if (l->fail)
        return -1;
    if (l->cur.t == T_EOF)
        return 0;
    *s = l->cur.s;
    for (;;) {
        if (and_or(l) < 0)
            return -1;
        if (l->cur.t != T_SEMI && l->cur.t != T_AMP)
            break;
        sbx__split_next(l);
        if (l->cur.t == T_NL || l->cur.t == T_EOF)
            break;
    }
    if (l->fail || (l->cur.t != T_NL && l->cur.t != T_EOF))
        return err(l);
    *e = l->prev_end < l->len ? l->prev_end : l->len;
    if (*s > *e)
        return err(l);
    *nexti = *e + 1;
    if (l->hd_end >= 0 && (size_t)l->hd_end + 1 > *nexti)
        *nexti = (size_t)l->hd_end + 1;
    return 1;
}

/* bashlex's parse() loop over input units; calls unit() for each node. */
static int parse_units(const char *s, size_t a, size_t b, int depth, int *oom,
                       int (*unit)(void *, size_t, size_t), void *ud)
{
    struct lx l;
    size_t idx = a;
    int rc = -1, first = 1;
    sbx__split_lx_init(&l, s, a, b, depth);
    if (depth > SBX__SPLIT_MAX_DEPTH)
        goto out;
    while (first || idx < b) {
        size_t ns = 0, ne = 0, ni = 0;
        int r;
        l.i = idx;
        r = parse_unit(&l, &ns, &ne, &ni);
        if (r < 0)
            goto out;
        if (r == 0) {
            if (first)
                goto out; /* parts[0] is None: bashlex fails on it */
            break;
        }
        if (unit && unit(ud, ns, ne) < 0) {
            l.oom = 1;
            goto out;
        }
        first = 0;
        idx = ni;
    }
    rc = 0;
out:
    if (l.oom)
        *oom = 1;
    free(l.hd);
    return rc;
}

int sbx__split_check(const char *s, size_t a, size_t b, int depth, int *oom)
{
    return parse_units(s, a, b, depth, oom, NULL, NULL);
}

/* ---- OpenHands' cutting loop ---- */

/* Length of the Python-whitespace character ending at s[end-1], or 0. */
static size_t trailing_space(const char *s, size_t start, size_t end)
{
    const unsigned char *u = (const unsigned char *)s;
    if (end <= start)
        return 0;
    unsigned char c = u[end - 1];
    if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20))
        return 1;
    if (end - start >= 2 && u[end - 2] == 0xc2 && (c == 0x85 || c == 0xa0))
        return 2;
    if (end - start >= 3) {
        unsigned a = u[end - 3], b = u[end - 2];
        unsigned cp = ((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (c & 0x3f);
        if ((a & 0xf0) == 0xe0 && (b & 0xc0) == 0x80 && (c & 0xc0) == 0x80 &&
            (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
             cp == 0x202f || cp == 0x205f || cp == 0x3000))
            return 3;
    }
    return 0;
}

/* End of s[start, end) after Python's str.rstrip(). */
static size_t rstrip_end(const char *s, size_t start, size_t end)
{
    size_t k;
    while ((k = trailing_space(s, start, end)) > 0)
        end -= k;
    return end;
}

struct cut {
    size_t *s, *e;
    size_t n, cap;
};

static int add_node(void *ud, size_t s, size_t e)
{
    struct cut *c = ud;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        size_t *ns = realloc(c->s, nc * sizeof(*ns));
        if (!ns)
            return -1;
        c->s = ns;
        size_t *ne = realloc(c->e, nc * sizeof(*ne));
        if (!ne)
            return -1;
        c->e = ne;
        c->cap = nc;
    }
    c->s[c->n] = s;
    c->e[c->n] = e;
    c->n++;
    return 0;
}

struct strs {
    char **v;
    size_t n;
    size_t *len;
};

static int strs_new(struct strs *o, const char *p, size_t len)
{
    char *d = malloc(len + 1);
    if (!d)
        return -ENOMEM;
    memcpy(d, p, len);
    d[len] = '\0';
    o->v[o->n] = d;
    o->len[o->n] = len;
    o->n++;
    return 0;
}

static int strs_append(struct strs *o, const char *p, size_t len)
{
    size_t k = o->n - 1;
    if (!len)
        return 0;
    char *d = realloc(o->v[k], o->len[k] + len + 1);
    if (!d)
        return -ENOMEM;
    memcpy(d + o->len[k], p, len);
    o->len[k] += len;
    d[o->len[k]] = '\0';
    o->v[k] = d;
    return 0;
}

static int one(struct sbx_bash_split *out, const char *p, size_t len)
{
    out->cmds = calloc(1, sizeof(char *));
    if (!out->cmds)
        return -ENOMEM;
    out->cmds[0] = malloc(len + 1);
    if (!out->cmds[0]) {
        free(out->cmds);
        out->cmds = NULL;
        return -ENOMEM;
    }
    if (len)
        memcpy(out->cmds[0], p, len);
    out->cmds[0][len] = '\0';
    out->n = 1;
    return 0;
}

int sbx_bash_split(const char *text, size_t len, struct sbx_bash_split *out)
{
    struct cut c = {0};
    struct strs o = {0};
    size_t last_end = 0;
    int oom = 0, rc = -ENOMEM;

    out->n = 0;
    out->cmds = NULL;
    if (!text)
        len = 0;
    if (rstrip_end(text, 0, len) == 0) {
        rc = one(out, "", 0);
        goto out;
    }
    if (parse_units(text, 0, len, 0, &oom, add_node, &c) < 0) {
        rc = oom ? -ENOMEM : one(out, text, len);
        goto out;
    }
    o.v = calloc(c.n + 1, sizeof(char *));
    o.len = calloc(c.n + 1, sizeof(size_t));
    if (!o.v || !o.len)
        goto out;
    for (size_t k = 0; k < c.n; k++) {
        size_t s = c.s[k], e = c.e[k];
        if (s > last_end) {
            size_t be = rstrip_end(text, last_end, s);
            if (o.n) {
                if (strs_append(&o, text + last_end, be - last_end) < 0)
                    goto out;
            } else if (be > last_end) {
                /* upstream: "THIS SHOULD NOT HAPPEN" - leading comments */
                if (strs_new(&o, text + last_end, be - last_end) < 0)
                    goto out;
            }
        }
        if (strs_new(&o, text + s, rstrip_end(text, s, e) - s) < 0)
            goto out;
        last_end = e;
    }
    if (last_end < len) {
        size_t re = rstrip_end(text, last_end, len);
        if (o.n) {
            if (strs_append(&o, text + last_end, re - last_end) < 0)
                goto out;
        } else if (re > last_end && strs_new(&o, text + last_end, re - last_end) < 0) {
            goto out;
        }
    }
    if (o.n == 0) {
        rc = one(out, "", 0);
        goto out;
    }
    out->cmds = o.v;
    out->n = o.n;
    o.v = NULL;
    o.n = 0;
    rc = 0;
out:
    for (size_t k = 0; k < o.n; k++)
        free(o.v[k]);
    free(o.v);
    free(o.len);
    free(c.s);
    free(c.e);
    return rc;
}

void sbx_bash_split_free(struct sbx_bash_split *s)
{
    if (!s)
        return;
    for (size_t k = 0; k < s->n; k++)
        free(s->cmds[k]);
    free(s->cmds);
    s->cmds = NULL;
    s->n = 0;
}
