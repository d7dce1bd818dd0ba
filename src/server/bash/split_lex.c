#include "server/bash/split_lex.h"

#include <stdlib.h>
#include <string.h>

/* Tokens after which bashlex accepts a reserved word (_reserved). */
static const unsigned long long reserved_before =
    SBX__BIT(T_NL) | SBX__BIT(T_SEMI) | SBX__BIT(T_LPAREN) | SBX__BIT(T_RPAREN) | SBX__BIT(T_BAR) |
    SBX__BIT(T_AMP) | SBX__BIT(T_LBRACE) | SBX__BIT(T_RBRACE) | SBX__BIT(T_ANDAND) |
    SBX__BIT(T_BANG) | SBX__BIT(T_BARAND) | SBX__BIT(T_DO) | SBX__BIT(T_DONE) | SBX__BIT(T_ELIF) |
    SBX__BIT(T_ELSE) | SBX__BIT(T_ESAC) | SBX__BIT(T_FI) | SBX__BIT(T_IF) | SBX__BIT(T_OROR) |
    SBX__BIT(T_SEMISEMI) | SBX__BIT(T_SEMIAND) | SBX__BIT(T_SEMISEMIAND) | SBX__BIT(T_THEN) |
    SBX__BIT(T_TIME) | SBX__BIT(T_COPROC) | SBX__BIT(T_UNTIL) | SBX__BIT(T_WHILE);

static int at(const struct lx *l, size_t i)
{
    return i < l->len ? (unsigned char)l->s[i] : '\n';
}

/* bashlex's _getc: returns -1 at the end; with rq, backslash-newline pairs
 * vanish. */
static int getch(struct lx *l, int rq)
{
    for (;;) {
        if (l->i >= l->n)
            return -1;
        int c = at(l, l->i++);
        if (c == '\\' && rq && l->i < l->n && at(l, l->i) == '\n') {
            l->i++;
            continue;
        }
        return c;
    }
}

static void ungetch(struct lx *l, int c)
{
    if (c >= 0 && l->i > 0)
        l->i--;
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static int is_meta(int c)
{
    return c >= 0 && strchr("()<>;&|", c) && c != 0;
}

static int is_break(int c)
{
    return c >= 0 && c != 0 && strchr("()<>;&| \t\n", c);
}

static int scan_comsub(struct lx *l);

/* bashlex's _parse_matched_pair, reduced to what decides where the pair
 * ends: quotes, escapes and nested substitutions. */
static int scan_pair(struct lx *l, int open, int close, int allowesc, int dquote)
{
    int count = 1, pass = 0, sawdollar = 0, rc = -1;
    if (sbx__split_enter(l) < 0)
        goto out;
    while (count) {
        int c = getch(l, open != '\'' && !pass);
        if (c < 0) {
            l->fail = 1;
            goto out;
        }
        if (pass) {
            pass = 0;
            sawdollar = 0;
            continue;
        }
        if (c == close)
            count--;
        else if (open == '{' && sawdollar && c == '{')
            count++;
        else if (open == '[' && c == open)
            count++;
        if (!count)
            break;
        if (open == '\'') {
            if (allowesc && c == '\\')
                pass = 1;
            continue;
        }
        if (c == '\\')
            pass = 1;
        if (open != close) {
            if (c == '\'' && open == '{' && dquote) {
                /* single quotes are literal inside "${...}" */
            } else if (c == '\'' || c == '"' || c == '`') {
                if (scan_pair(l, c, c, sawdollar && c == '\'', dquote) < 0)
                    goto out;
            } else if (sawdollar && c == '(') {
                if (scan_comsub(l) < 0)
                    goto out;
            }
        } else if (open == '"' && c == '`') {
            if (scan_pair(l, '`', '`', 0, 1) < 0)
                goto out;
        } else if (open == '"' && sawdollar && (c == '(' || c == '{' || c == '[')) {
            int r = c == '(' ? scan_comsub(l) : scan_pair(l, c, c == '{' ? '}' : ']', 0, 1);
            if (r < 0)
                goto out;
        }
        sawdollar = c == '$';
    }
    rc = 0;
out:
    l->depth--;
    return rc;
}

/* After `$(`: finds the matching `)` (bashlex's _parse_comsub) and checks the
 * text in between as a script, as bashlex re-parses command substitutions. */
static int scan_comsub(struct lx *l)
{
    int count = 1, pass = 0, comment = 0, incase = 0, rc = -1;
    size_t start = l->i, wstart = l->i, end;
    int prevc = '\n';
    /* Only the outermost substitution is re-parsed here: that parse meets
     * the nested ones again and checks them, so checking them now as well
     * would make the work exponential in the nesting depth. */
    int outer = l->nocheck == 0;
    l->nocheck++;
    if (sbx__split_enter(l) < 0)
        goto out;
    if (at(l, l->i) == '(' && l->i < l->n) {
        /* $(( )): bashlex raises NotImplementedError('arithmetic expansion') */
        l->fail = 1;
        goto out;
    }
    for (;;) {
        int c = getch(l, !comment && !pass);
        if (c < 0) {
            l->fail = 1;
            goto out;
        }
        if (comment) {
            if (c == '\n')
                comment = 0;
            prevc = c;
            continue;
        }
        if (pass) {
            pass = 0;
            prevc = 'x';
            continue;
        }
        if (is_break(c)) {
            size_t wl = l->i - 1 - wstart;
            if (wl == 4 && !memcmp(l->s + wstart, "case", 4))
                incase = 1;
            else if (wl == 4 && !memcmp(l->s + wstart, "esac", 4))
                incase = 0;
            wstart = l->i;
        } else if (is_break(prevc) && c == '#') {
            comment = 1;
            prevc = c;
            continue;
        }
        if (is_break(prevc) && !is_break(c))
            wstart = l->i - 1;
        if (c == ')' && !incase) {
            if (--count == 0)
                break;
        } else if (c == '(' && !incase) {
            count++;
        }
        if (c == '\\') {
            pass = 1;
        } else if (c == '\'' || c == '"' || c == '`') {
            if (scan_pair(l, c, c, prevc == '$' && c == '\'', 1) < 0)
                goto out;
            c = 'x';
        } else if (prevc == '$' && c == '(') {
            count--; /* counted above; the nested scan consumes its `)` */
            if (scan_comsub(l) < 0)
                goto out;
            c = 'x';
        } else if (prevc == '$' && (c == '{' || c == '[')) {
            if (scan_pair(l, c, c == '{' ? '}' : ']', 0, 1) < 0)
                goto out;
            c = 'x';
        }
        prevc = c;
    }
    end = l->i - 1;
    if (outer && sbx__split_check(l->s, start, end, l->depth + 1, &l->oom) < 0) {
        l->fail = 1;
        goto out;
    }
    rc = 0;
out:
    l->nocheck--;
    l->depth--;
    return rc;
}

static const struct {
    const char *w;
    enum tk t;
} reserved[] = {
    {"if", T_IF},         {"then", T_THEN},     {"else", T_ELSE},
    {"elif", T_ELIF},     {"fi", T_FI},         {"case", T_CASE},
    {"esac", T_ESAC},     {"for", T_FOR},       {"select", T_SELECT},
    {"while", T_WHILE},   {"until", T_UNTIL},   {"do", T_DO},
    {"done", T_DONE},     {"in", T_IN},         {"function", T_FUNCTION},
    {"time", T_TIME},     {"{", T_LBRACE},      {"}", T_RBRACE},
    {"!", T_BANG},        {"[[", T_COND_START}, {"]]", T_COND_END},
    {"coproc", T_COPROC},
};

/* bashlex's _reserved_word_acceptable(last read token). */
static int reserved_ok(const struct lx *l)
{
    if (!l->have_last)
        return 1;
    if (l->last == T_WORD)
        return l->last_brace_word || (l->have_last > 1 && l->prev == T_FUNCTION);
    return SBX__IN_SET(reserved_before, l->last);
}

/* Word value without the backslash-newline pairs the tokenizer dropped. */
static int word_is(const struct lx *l, size_t s, size_t e, const char *w)
{
    size_t k = 0, wl = strlen(w);
    if (e > l->len)
        e = l->len; /* a word can end on the virtual newline */
    for (size_t i = s; i < e; i++) {
        if (l->s[i] == '\\' && i + 1 < l->n && at(l, i + 1) == '\n') {
            i++;
            continue;
        }
        if (k >= wl || l->s[i] != w[k])
            return 0;
        k++;
    }
    return k == wl;
}

static int read_word(struct lx *l, int c, size_t start, struct tok *t)
{
    int quoted = 0, dollar = 0, digits = c >= '0' && c <= '9', pass = 0;
    for (;;) {
        if (c < 0)
            break;
        if (pass) {
            pass = 0;
            digits &= c >= '0' && c <= '9';
        } else if (c == '\\') {
            int p = getch(l, 0);
            if (p == '\n') {
                c = getch(l, 1);
                continue;
            }
            ungetch(l, p);
            pass = 1;
            quoted = 1;
            digits = 0;
        } else if (c == '\'' || c == '"' || c == '`') {
            if (scan_pair(l, c, c, 0, c == '"') < 0)
                return -1;
            quoted = 1;
            digits = 0;
        } else if (c == '$' || c == '<' || c == '>') {
            int p = getch(l, 1);
            if (p == '(') {
                if (scan_comsub(l) < 0)
                    return -1;
                dollar = 1;
                digits = 0;
            } else if (c == '$' && (p == '{' || p == '[')) {
                if (scan_pair(l, p, p == '{' ? '}' : ']', 0, 0) < 0)
                    return -1;
                dollar = 1;
                digits = 0;
            } else if (c == '$' && p == '$') {
                dollar = 1; /* `$$` is taken whole, so `$$(` is no substitution */
                digits = 0;
            } else if (c == '$' && (p == '\'' || p == '"')) {
                if (scan_pair(l, p, p, p == '\'', p == '"') < 0)
                    return -1;
                quoted = 1;
                digits = 0;
            } else {
                ungetch(l, p);
                if (c != '$') {
                    ungetch(l, c);
                    break;
                }
                dollar = 1;
                digits = 0;
            }
        } else if (is_break(c)) {
            ungetch(l, c);
            break;
        } else {
            digits &= c >= '0' && c <= '9';
        }
        c = getch(l, !pass);
    }
    t->s = start;
    t->e = l->i;
    t->t = T_WORD;
    t->brace_word = 0;
    if (c < 0 && digits) {
        /* bashlex evaluates `None in '<>'` here and raises TypeError */
        l->fail = 1;
        return -1;
    }
    if (digits && (c == '<' || c == '>' || (l->have_last && l->last == T_DUP))) {
        t->t = T_NUMBER;
        return 0;
    }
    /* bashlex's _specialcasetokens */
    if (l->have_last > 1 && l->last == T_WORD &&
        (l->prev == T_FOR || l->prev == T_CASE || l->prev == T_SELECT) &&
        word_is(l, t->s, t->e, "in")) {
        if (l->prev == T_CASE) {
            l->casepat = 1;
            l->esacs_needed++;
        }
        t->t = T_IN;
        return 0;
    }
    if (l->have_last > 1 && l->last == T_WORD && (l->prev == T_FOR || l->prev == T_SELECT) &&
        word_is(l, t->s, t->e, "do")) {
        t->t = T_DO;
        return 0;
    }
    if (l->esacs_needed) {
        l->esacs_needed--;
        if (word_is(l, t->s, t->e, "esac")) {
            l->casepat = 0;
            t->t = T_ESAC;
            return 0;
        }
    }
    if (l->open_brace && reserved_ok(l) && word_is(l, t->s, t->e, "}")) {
        l->open_brace--;
        t->t = T_RBRACE;
        return 0;
    }
    if (!dollar && !quoted && reserved_ok(l)) {
        for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++) {
            enum tk r = reserved[k].t;
            if (!word_is(l, t->s, t->e, reserved[k].w))
                continue;
            /* bashlex skips only the side effects here, not the keyword */
            t->t = r;
            if ((l->casepat && r != T_ESAC) || r == T_TIME)
                return 0;
            if (r == T_ESAC)
                l->casepat = 0;
            else if (r == T_LBRACE)
                l->open_brace++;
            else if (r == T_RBRACE && l->open_brace)
                l->open_brace--;
            t->t = r;
            return 0;
        }
    }
    t->brace_word = word_is(l, t->s, t->e, "{") || word_is(l, t->s, t->e, "}");
    return 0;
}

/* bashlex's makeheredoc for every pending heredoc, right after a newline. */
static int read_heredocs(struct lx *l)
{
    for (size_t k = 0; k < l->nhd; k++) {
        struct heredoc *h = &l->hd[k];
        size_t dl = h->de - h->ds;
        for (;;) {
            /* one line, backslash-newline joined (readline uses _getc) */
            size_t llen = 0, lead = 1, match = 1;
            int c;
            for (;;) {
                c = getch(l, 1);
                if (c < 0) {
                    if (llen == 0) {
                        l->fail = 1; /* delimited by end-of-file */
                        return -1;
                    }
                    c = '\n';
                }
                if (c == '\n')
                    break;
                if (lead && h->strip && c == '\t')
                    continue;
                lead = 0;
                if (llen >= dl || l->s[h->ds + llen] != (char)c)
                    match = 0;
                llen++;
            }
            if (match && llen == dl)
                break;
        }
        l->hd_end = (long)l->i - 1;
    }
    l->nhd = 0;
    return 0;
}

void sbx__split_next(struct lx *l)
{
    struct tok t = {T_EOF, l->i, l->i, 0};
    int c, p;
    size_t start;
    if (l->fail) {
        l->cur = t;
        return;
    }
    l->prev_end = l->cur.e;
    c = getch(l, 1);
    while (is_blank(c))
        c = getch(l, 1);
    if (c < 0)
        goto done;
    if (c == '#') {
        while ((c = getch(l, 0)) >= 0 && c != '\n')
            ;
        if (c < 0)
            goto done;
    }
    start = l->i - 1;
    t.s = start;
    if (c == '\n') {
        t.t = T_NL;
        t.e = l->i;
        if (l->nhd)
            read_heredocs(l);
        goto done;
    }
    if (is_meta(c)) {
        p = getch(l, 1);
        t.t = T_EOF;
        if (c == p) {
            if (c == '<') {
                int q = getch(l, 1);
                if (q == '-')
                    t.t = T_HEREDOCS;
                else if (q == '<')
                    t.t = T_REDIR;
                else {
                    ungetch(l, q);
                    t.t = T_HEREDOC;
                }
            } else if (c == '>') {
                t.t = T_REDIR;
            } else if (c == ';') {
                int q = getch(l, 1);
                l->casepat = 1;
                if (q == '&')
                    t.t = T_SEMISEMIAND;
                else {
                    ungetch(l, q);
                    t.t = T_SEMISEMI;
                }
            } else if (c == '&') {
                t.t = T_ANDAND;
            } else if (c == '|') {
                t.t = T_OROR;
            }
        } else if ((c == '<' && p == '&') || (c == '>' && p == '&')) {
            t.t = T_DUP;
        } else if ((c == '<' && p == '>') || (c == '>' && p == '|')) {
            t.t = T_REDIR;
        } else if (c == '&' && p == '>') {
            int q = getch(l, 1);
            if (q != '>')
                ungetch(l, q);
            t.t = T_REDIR;
        } else if (c == '|' && p == '&') {
            t.t = T_BARAND;
        } else if (c == ';' && p == '&') {
            t.t = T_SEMIAND;
        }
        if (t.t != T_EOF) {
            t.e = l->i;
            goto done;
        }
        ungetch(l, p);
        if (c == ')' && l->casepat)
            l->casepat = 0;
        if ((c != '<' && c != '>') || p != '(') {
            switch (c) {
            case '(': t.t = T_LPAREN; break;
            case ')': t.t = T_RPAREN; break;
            case ';': t.t = T_SEMI; break;
            case '&': t.t = T_AMP; break;
            case '|': t.t = T_BAR; break;
            default: t.t = T_REDIR; break;
            }
            t.e = l->i;
            goto done;
        }
    }
    if (c == '-' && l->have_last && l->last == T_DUP) {
        t.t = T_DASH;
        t.e = l->i;
        goto done;
    }
    read_word(l, c, start, &t);
done:
    if (l->fail) {
        t.t = T_EOF;
        t.s = t.e = l->i;
        l->cur = t;
        return;
    }
    l->prev = l->last;
    l->last = t.t;
    l->last_brace_word = t.t == T_WORD && t.brace_word;
    if (l->have_last < 2)
        l->have_last++;
    l->cur = t;
}

int sbx__split_push_heredoc(struct lx *l, size_t ds, size_t de, int strip)
{
    if (l->nhd == l->hdcap) {
        size_t nc = l->hdcap ? l->hdcap * 2 : 4;
        struct heredoc *nh = realloc(l->hd, nc * sizeof(*nh));
        if (!nh) {
            l->oom = 1;
            l->fail = 1;
            return -1;
        }
        l->hd = nh;
        l->hdcap = nc;
    }
    l->hd[l->nhd].ds = ds < l->len ? ds : l->len;
    l->hd[l->nhd].de = de < l->len ? de : l->len;
    l->hd[l->nhd].strip = strip;
    l->nhd++;
    return 0;
}

void sbx__split_lx_init(struct lx *l, const char *s, size_t a, size_t b, int depth)
{
    memset(l, 0, sizeof(*l));
    l->s = s;
    l->len = b;
    l->n = b + (b == a || s[b - 1] != '\n');
    l->i = a;
    l->depth = depth;
}
