/*
 * sbx_editor_diff: what openhands_aci.utils.diff.get_diff returns,
 *   '\n'.join(l.rstrip() for l in difflib.unified_diff(a.split('\n'),
 *             b.split('\n'), fromfile=path, tofile=path, n=0))
 * with difflib's SequenceMatcher reproduced step by step (autojunk on,
 * no isjunk), so the hunks are the ones Python picks, not just a valid
 * diff.
 */
#include "server/editor/editor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct seq {
    const char **ptr;
    size_t *len;
    size_t *id; /* interned line ids: equal lines, equal ids */
    size_t n;
};

struct triple {
    size_t a, b, k;
};

struct sm {
    struct seq *A, *B;
    size_t *b2j_off, *b2j; /* CSR: positions in B of each id (popular ids empty) */
    size_t *j2len, *newj2len;
    size_t *touched, *newtouched;
    size_t ntouched;
};

static int split_lines(const char *s, struct seq *q)
{
    size_t n = 1, i = 0;
    const char *p, *e = s + strlen(s);

    for (p = s; *p; p++)
        n += *p == '\n';
    q->ptr = calloc(n, sizeof(*q->ptr));
    q->len = calloc(n, sizeof(*q->len));
    q->id = calloc(n, sizeof(*q->id));
    if (!q->ptr || !q->len || !q->id)
        return -ENOMEM;
    for (p = s;; i++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));

        q->ptr[i] = p;
        q->len[i] = nl ? (size_t)(nl - p) : (size_t)(e - p);
        if (!nl)
            break;
        p = nl + 1;
    }
    q->n = n;
    return 0;
}

static void seq_free(struct seq *q)
{
    free(q->ptr);
    free(q->len);
    free(q->id);
}

static uint64_t hash_line(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    while (n--) {
        h ^= (unsigned char)*p++;
        h *= 1099511628211ull;
    }
    return h;
}

/* Gives every distinct line of A and B one id (open addressing). Returns
 * the number of ids or -ENOMEM. */
static long intern(struct seq *A, struct seq *B)
{
    size_t cap = 16, nid = 0, i, k, total = A->n + B->n;
    struct {
        const char *p;
        size_t len, id;
        int used;
    } * t;
    struct seq *qs[2] = {A, B};

    while (cap < total * 2)
        cap *= 2;
    t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (k = 0; k < 2; k++) {
        struct seq *q = qs[k];

        for (i = 0; i < q->n; i++) {
            size_t h = (size_t)hash_line(q->ptr[i], q->len[i]) & (cap - 1);

            while (t[h].used && !(t[h].len == q->len[i] && !memcmp(t[h].p, q->ptr[i], q->len[i])))
                h = (h + 1) & (cap - 1);
            if (!t[h].used) {
                t[h].used = 1;
                t[h].p = q->ptr[i];
                t[h].len = q->len[i];
                t[h].id = nid++;
            }
            q->id[i] = t[h].id;
        }
    }
    free(t);
    return (long)nid;
}

/* SequenceMatcher.__chain_b: b2j without the "popular" elements (more
 * than 1% + 1 of b, when b has at least 200 elements). */
static int chain_b(struct sm *m, size_t nid)
{
    size_t *cnt = calloc(nid + 1, sizeof(*cnt)), i, nb = m->B->n;
    int rc = 0;

    m->b2j_off = calloc(nid + 1, sizeof(*m->b2j_off));
    m->b2j = calloc(nb ? nb : 1, sizeof(*m->b2j));
    if (!cnt || !m->b2j_off || !m->b2j) {
        rc = -ENOMEM;
        goto out;
    }
    for (i = 0; i < nb; i++)
        cnt[m->B->id[i]]++;
    if (nb >= 200) {
        size_t ntest = nb / 100 + 1;

        for (i = 0; i < nid; i++)
            if (cnt[i] > ntest)
                cnt[i] = 0;
    }
    for (i = 0; i < nid; i++)
        m->b2j_off[i + 1] = m->b2j_off[i] + cnt[i];
    memset(cnt, 0, (nid + 1) * sizeof(*cnt));
    for (i = 0; i < nb; i++) {
        size_t id = m->B->id[i];
        size_t room = m->b2j_off[id + 1] - m->b2j_off[id];

        if (cnt[id] < room)
            m->b2j[m->b2j_off[id] + cnt[id]++] = i;
    }
out:
    free(cnt);
    return rc;
}

static struct triple longest_match(struct sm *m, size_t alo, size_t ahi, size_t blo, size_t bhi)
{
    size_t besti = alo, bestj = blo, bestsize = 0, i, x, nnew;
    const size_t *ida = m->A->id, *idb = m->B->id;

    /* j2len holds lengths + 1 offset-free: 0 means "not in the dict" */
    for (i = alo; i < ahi; i++) {
        size_t id = ida[i];

        nnew = 0;
        for (x = m->b2j_off[id]; x < m->b2j_off[id + 1]; x++) {
            size_t j = m->b2j[x], k;

            if (j < blo)
                continue;
            if (j >= bhi)
                break;
            k = (j > 0 ? m->j2len[j - 1] : 0) + 1;
            m->newj2len[j] = k;
            m->newtouched[nnew++] = j;
            if (k > bestsize) {
                besti = i - k + 1;
                bestj = j - k + 1;
                bestsize = k;
            }
        }
        /* j2len = newj2len */
        for (x = 0; x < m->ntouched; x++)
            m->j2len[m->touched[x]] = 0;
        {
            size_t *t = m->j2len, *tt = m->touched;

            m->j2len = m->newj2len;
            m->newj2len = t;
            m->touched = m->newtouched;
            m->newtouched = tt;
        }
        m->ntouched = nnew;
    }
    for (x = 0; x < m->ntouched; x++)
        m->j2len[m->touched[x]] = 0;
    m->ntouched = 0;
    while (besti > alo && bestj > blo && ida[besti - 1] == idb[bestj - 1]) {
        besti--;
        bestj--;
        bestsize++;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi &&
           ida[besti + bestsize] == idb[bestj + bestsize])
        bestsize++;
    return (struct triple){besti, bestj, bestsize};
}

static int cmp_triple(const void *x, const void *y)
{
    const struct triple *a = x, *b = y;

    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    return a->k < b->k ? -1 : a->k > b->k;
}

struct tvec {
    struct triple *v;
    size_t n, cap;
};

static int tvec_push(struct tvec *t, size_t a, size_t b, size_t k)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct triple *nv = realloc(t->v, cap * sizeof(*nv));

        if (!nv)
            return -ENOMEM;
        t->v = nv;
        t->cap = cap;
    }
    t->v[t->n++] = (struct triple){a, b, k};
    return 0;
}

/* get_matching_blocks(), adjacent blocks collapsed, sentinel appended. */
static int matching_blocks(struct sm *m, struct tvec *out)
{
    struct tvec queue = {0}, blocks = {0};
    size_t i1 = 0, j1 = 0, k1 = 0, i;
    int rc;

    /* queue entries reuse struct triple as (alo, ahi) (blo, bhi) pairs */
    rc = tvec_push(&queue, 0, m->A->n, 0);
    if (rc == 0)
        rc = tvec_push(&queue, 0, m->B->n, 0);
    while (rc == 0 && queue.n) {
        struct triple bq = queue.v[--queue.n], aq = queue.v[--queue.n], x;
        size_t alo = aq.a, ahi = aq.b, blo = bq.a, bhi = bq.b;

        x = longest_match(m, alo, ahi, blo, bhi);
        if (!x.k)
            continue;
        rc = tvec_push(&blocks, x.a, x.b, x.k);
        if (rc == 0 && alo < x.a && blo < x.b) {
            rc = tvec_push(&queue, alo, x.a, 0);
            if (rc == 0)
                rc = tvec_push(&queue, blo, x.b, 0);
        }
        if (rc == 0 && x.a + x.k < ahi && x.b + x.k < bhi) {
            rc = tvec_push(&queue, x.a + x.k, ahi, 0);
            if (rc == 0)
                rc = tvec_push(&queue, x.b + x.k, bhi, 0);
        }
    }
    if (rc < 0)
        goto out;
    if (blocks.n)
        qsort(blocks.v, blocks.n, sizeof(*blocks.v), cmp_triple);
    for (i = 0; rc == 0 && i < blocks.n; i++) {
        struct triple t = blocks.v[i];

        if (i1 + k1 == t.a && j1 + k1 == t.b) {
            k1 += t.k;
        } else {
            if (k1)
                rc = tvec_push(out, i1, j1, k1);
            i1 = t.a;
            j1 = t.b;
            k1 = t.k;
        }
    }
    if (rc == 0 && k1)
        rc = tvec_push(out, i1, j1, k1);
    if (rc == 0)
        rc = tvec_push(out, m->A->n, m->B->n, 0);
out:
    free(queue.v);
    free(blocks.v);
    return rc;
}

enum tag { T_EQUAL, T_REPLACE, T_DELETE, T_INSERT };

struct opcode {
    enum tag tag;
    size_t i1, i2, j1, j2;
};

static int add_line(struct sbx_buf *out, bool *first, char c, const char *p, size_t n)
{
    int rc = 0;

    /* every yielded line is right-stripped, then joined with "\n" */
    while (n && strchr(" \t\n\r\v\f\x1c\x1d\x1e\x1f", p[n - 1]))
        n--;
    if (!*first)
        rc = sbx_buf_addch(out, '\n');
    *first = false;
    if (rc == 0 && c)
        rc = sbx_buf_addch(out, c);
    if (rc == 0)
        rc = sbx_buf_add(out, p, n);
    return rc;
}

static int add_range(struct sbx_buf *b, size_t start, size_t stop)
{
    size_t beginning = start + 1, length = stop - start;

    if (length == 1)
        return sbx_buf_addf(b, "%zu", beginning);
    if (!length)
        beginning--;
    return sbx_buf_addf(b, "%zu,%zu", beginning, length);
}

static int emit_group(struct sm *m, const char *path, const struct opcode *g, size_t n,
                      struct sbx_buf *out, bool *first)
{
    struct sbx_buf h = SBX_BUF_INIT;
    size_t i, x;
    int rc = 0;

    if (*first) {
        rc = sbx_buf_addf(&h, "--- %s", path);
        if (rc == 0)
            rc = add_line(out, first, 0, h.ptr, h.len);
        sbx_buf_reset(&h);
        if (rc == 0)
            rc = sbx_buf_addf(&h, "+++ %s", path);
        if (rc == 0)
            rc = add_line(out, first, 0, h.ptr, h.len);
        sbx_buf_reset(&h);
    }
    if (rc == 0)
        rc = sbx_buf_addstr(&h, "@@ -");
    if (rc == 0)
        rc = add_range(&h, g[0].i1, g[n - 1].i2);
    if (rc == 0)
        rc = sbx_buf_addstr(&h, " +");
    if (rc == 0)
        rc = add_range(&h, g[0].j1, g[n - 1].j2);
    if (rc == 0)
        rc = sbx_buf_addstr(&h, " @@");
    if (rc == 0)
        rc = add_line(out, first, 0, h.ptr, h.len);
    for (i = 0; rc == 0 && i < n; i++) {
        if (g[i].tag == T_EQUAL) {
            for (x = g[i].i1; rc == 0 && x < g[i].i2; x++)
                rc = add_line(out, first, ' ', m->A->ptr[x], m->A->len[x]);
            continue;
        }
        if (g[i].tag == T_REPLACE || g[i].tag == T_DELETE)
            for (x = g[i].i1; rc == 0 && x < g[i].i2; x++)
                rc = add_line(out, first, '-', m->A->ptr[x], m->A->len[x]);
        if (g[i].tag == T_REPLACE || g[i].tag == T_INSERT)
            for (x = g[i].j1; rc == 0 && x < g[i].j2; x++)
                rc = add_line(out, first, '+', m->B->ptr[x], m->B->len[x]);
    }
    sbx_buf_free(&h);
    return rc;
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* get_opcodes() then get_grouped_opcodes(n=0), each group emitted. */
static int emit(struct sm *m, const struct tvec *mb, const char *path, struct sbx_buf *out)
{
    struct opcode *codes = calloc(2 * mb->n + 1, sizeof(*codes)), *group = NULL;
    size_t nc = 0, i = 0, j = 0, x, ng = 0;
    bool first = true;
    int rc = 0;

    group = calloc(2 * mb->n + 2, sizeof(*group));
    if (!codes || !group) {
        rc = -ENOMEM;
        goto out;
    }
    for (x = 0; x < mb->n; x++) {
        size_t ai = mb->v[x].a, bj = mb->v[x].b, size = mb->v[x].k;

        if (i < ai && j < bj)
            codes[nc++] = (struct opcode){T_REPLACE, i, ai, j, bj};
        else if (i < ai)
            codes[nc++] = (struct opcode){T_DELETE, i, ai, j, bj};
        else if (j < bj)
            codes[nc++] = (struct opcode){T_INSERT, i, ai, j, bj};
        i = ai + size;
        j = bj + size;
        if (size)
            codes[nc++] = (struct opcode){T_EQUAL, ai, i, bj, j};
    }
    if (!nc)
        codes[nc++] = (struct opcode){T_EQUAL, 0, 1, 0, 1};
    /* n = 0: the leading and trailing equal runs shrink to nothing */
    if (codes[0].tag == T_EQUAL) {
        codes[0].i1 = MAX(codes[0].i1, codes[0].i2);
        codes[0].j1 = MAX(codes[0].j1, codes[0].j2);
    }
    if (codes[nc - 1].tag == T_EQUAL) {
        codes[nc - 1].i2 = MIN(codes[nc - 1].i2, codes[nc - 1].i1);
        codes[nc - 1].j2 = MIN(codes[nc - 1].j2, codes[nc - 1].j1);
    }
    for (x = 0; rc == 0 && x < nc; x++) {
        struct opcode c = codes[x];

        if (c.tag == T_EQUAL && c.i2 - c.i1 > 0) {
            group[ng++] = (struct opcode){T_EQUAL, c.i1, c.i1, c.j1, c.j1};
            rc = emit_group(m, path, group, ng, out, &first);
            ng = 0;
            c.i1 = c.i2;
            c.j1 = c.j2;
        }
        group[ng++] = c;
    }
    if (rc == 0 && ng && !(ng == 1 && group[0].tag == T_EQUAL))
        rc = emit_group(m, path, group, ng, out, &first);
out:
    free(codes);
    free(group);
    return rc;
}

int sbx_editor_diff(const char *path, const char *a, const char *b, struct sbx_buf *out)
{
    struct seq A = {0}, B = {0};
    struct sm m = {0};
    struct tvec mb = {0};
    long nid;
    int rc;

    if (!strcmp(a, b))
        return 0;
    rc = split_lines(a, &A);
    if (rc == 0)
        rc = split_lines(b, &B);
    if (rc < 0)
        goto out;
    nid = intern(&A, &B);
    if (nid < 0) {
        rc = (int)nid;
        goto out;
    }
    m.A = &A;
    m.B = &B;
    rc = chain_b(&m, (size_t)nid);
    if (rc < 0)
        goto out;
    m.j2len = calloc(B.n + 1, sizeof(size_t));
    m.newj2len = calloc(B.n + 1, sizeof(size_t));
    m.touched = calloc(B.n + 1, sizeof(size_t));
    m.newtouched = calloc(B.n + 1, sizeof(size_t));
    if (!m.j2len || !m.newj2len || !m.touched || !m.newtouched) {
        rc = -ENOMEM;
        goto out;
    }
    rc = matching_blocks(&m, &mb);
    if (rc == 0)
        rc = emit(&m, &mb, path, out);
out:
    free(mb.v);
    free(m.j2len);
    free(m.newj2len);
    free(m.touched);
    free(m.newtouched);
    free(m.b2j_off);
    free(m.b2j);
    seq_free(&A);
    seq_free(&B);
    return rc;
}
