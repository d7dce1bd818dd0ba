#include "net/multipart.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http_server.h"

enum state {
    ST_PREAMBLE, /* before the first delimiter: dropped */
    ST_AFTER,    /* right after a delimiter: "--", padding, CRLF */
    ST_AFTER_DASH,
    ST_AFTER_CR,
    ST_HEADERS,  /* a part's header block */
    ST_BODY,     /* a part's data */
    ST_EPILOGUE, /* after the closing delimiter: dropped */
    ST_ERROR,
};

struct sbx_multipart {
    struct sbx_multipart_cbs cbs;
    void *ud;
    enum state state;
    char delim[SBX_MULTIPART_BOUNDARY_MAX + 4]; /* "\r\n--" boundary */
    size_t dlen;
    size_t k;          /* delimiter bytes matched so far */
    bool in_part;      /* part_begin called, part_end not yet */
    struct sbx_buf hdr; /* the header block being read */
    struct sbx_buf name, filename, ctype;
    bool has_filename;
    int stopped; /* a callback's value, or -EPROTO */
    char error[160];
};

/* ---- header parameters ------------------------------------------------------ */

/* Calls fn for each `; name=value` parameter in s (value unquoted, with
 * backslash escapes resolved). Returns 0, fn's non-zero value, or -EINVAL. */
typedef int param_fn(const char *name, size_t nlen, const char *val, size_t vlen, void *ud);

static int each_param(const char *s, param_fn *fn, void *ud)
{
    struct sbx_buf v = SBX_BUF_INIT;
    int rc = 0;

    s = strchr(s, ';');
    while (s && *s) {
        const char *n0, *n1;

        while (*s == ';' || *s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        n0 = s;
        while (*s && *s != '=' && *s != ';')
            s++;
        n1 = s;
        while (n1 > n0 && (n1[-1] == ' ' || n1[-1] == '\t'))
            n1--;
        sbx_buf_reset(&v);
        if (*s == '=') {
            s++;
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s == '"') {
                s++;
                while (*s && *s != '"') {
                    if (*s == '\\' && s[1])
                        s++;
                    rc = sbx_buf_addch(&v, *s++);
                    if (rc < 0)
                        goto out;
                }
                if (*s != '"') {
                    rc = -EINVAL; /* unterminated quoted string */
                    goto out;
                }
                s++;
                while (*s && *s != ';')
                    s++;
            } else {
                const char *v0 = s, *v1;

                while (*s && *s != ';')
                    s++;
                v1 = s;
                while (v1 > v0 && (v1[-1] == ' ' || v1[-1] == '\t'))
                    v1--;
                rc = sbx_buf_add(&v, v0, (size_t)(v1 - v0));
                if (rc < 0)
                    goto out;
            }
        }
        rc = fn(n0, (size_t)(n1 - n0), v.ptr, v.len, ud);
        if (rc)
            goto out;
    }
out:
    sbx_buf_free(&v);
    return rc;
}

static bool name_is(const char *n, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(n, want, len) == 0;
}

/* Whether s starts with the media type `type` (case-insensitive), followed
 * by the end, a ';' or white space. */
static bool type_is(const char *s, const char *type)
{
    size_t n = strlen(type);

    while (*s == ' ' || *s == '\t')
        s++;
    return strncasecmp(s, type, n) == 0 &&
           (s[n] == '\0' || s[n] == ';' || s[n] == ' ' || s[n] == '\t');
}

static int boundary_param(const char *n, size_t nlen, const char *v, size_t vlen, void *ud)
{
    struct sbx_buf *out = ud;
    size_t i;

    if (!name_is(n, nlen, "boundary"))
        return 0;
    if (vlen == 0 || vlen > SBX_MULTIPART_BOUNDARY_MAX)
        return -EINVAL;
    /* The parser relies on '\r' appearing only at the start of the
     * delimiter; RFC 2046 bchars have no control characters at all. */
    for (i = 0; i < vlen; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return -EINVAL;
    sbx_buf_reset(out);
    return sbx_buf_add(out, v, vlen) < 0 ? -ENOMEM : 1;
}

int sbx_multipart_boundary(const char *content_type, struct sbx_buf *out)
{
    int rc;

    if (!content_type || !type_is(content_type, "multipart/form-data"))
        return -EINVAL;
    rc = each_param(content_type, boundary_param, out);
    if (rc == 1)
        return 0;
    return rc < 0 ? rc : -EINVAL;
}

/* ---- parser ------------------------------------------------------------------ */

struct sbx_multipart *sbx_multipart_new(const char *content_type,
                                        const struct sbx_multipart_cbs *cbs, void *ud, int *rc)
{
    struct sbx_multipart *m = calloc(1, sizeof(*m));
    struct sbx_buf b = SBX_BUF_INIT;
    int r;

    if (!m) {
        *rc = -ENOMEM;
        return NULL;
    }
    r = sbx_multipart_boundary(content_type, &b);
    if (r < 0) {
        sbx_buf_free(&b);
        free(m);
        *rc = r;
        return NULL;
    }
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, b.ptr, b.len);
    m->dlen = 4 + b.len;
    sbx_buf_free(&b);
    m->cbs = *cbs;
    m->ud = ud;
    m->state = ST_PREAMBLE;
    /* The body may start with the delimiter right away: act as if the CRLF
     * before it had been seen. */
    m->k = 2;
    sbx_buf_init(&m->hdr, SBX_MULTIPART_HEADERS_MAX);
    sbx_buf_init(&m->name, SBX_MULTIPART_HEADERS_MAX);
    sbx_buf_init(&m->filename, SBX_MULTIPART_HEADERS_MAX);
    sbx_buf_init(&m->ctype, SBX_MULTIPART_HEADERS_MAX);
    *rc = 0;
    return m;
}

void sbx_multipart_free(struct sbx_multipart *m)
{
    if (!m)
        return;
    sbx_buf_free(&m->hdr);
    sbx_buf_free(&m->name);
    sbx_buf_free(&m->filename);
    sbx_buf_free(&m->ctype);
    free(m);
}

const char *sbx_multipart_error(const struct sbx_multipart *m)
{
    return m->error;
}

static int fail(struct sbx_multipart *m, const char *msg)
{
    snprintf(m->error, sizeof(m->error), "malformed multipart body: %s", msg);
    m->state = ST_ERROR;
    m->stopped = -EPROTO;
    return -EPROTO;
}

static int stop(struct sbx_multipart *m, int rc)
{
    if (rc) {
        m->state = ST_ERROR;
        m->stopped = rc;
        if (!m->error[0])
            snprintf(m->error, sizeof(m->error), "stopped by the application");
    }
    return rc;
}

static int emit(struct sbx_multipart *m, const char *p, size_t n)
{
    if (m->state != ST_BODY || n == 0 || !m->cbs.part_data)
        return 0;
    return stop(m, m->cbs.part_data(p, n, m->ud));
}

struct disp {
    struct sbx_multipart *m;
    bool star; /* filename* seen: it wins over filename */
};

/* RFC 5987 ext-value: charset'lang'pct-encoded (UTF-8 and ASCII only). */
static int ext_value(struct sbx_buf *out, const char *v, size_t vlen)
{
    const char *q1 = memchr(v, '\'', vlen), *q2;

    if (!q1)
        return -EINVAL;
    q2 = memchr(q1 + 1, '\'', vlen - (size_t)(q1 + 1 - v));
    if (!q2)
        return -EINVAL;
    sbx_buf_reset(out);
    return sbx_http_decode(q2 + 1, vlen - (size_t)(q2 + 1 - v), false, out);
}

static int disp_param(const char *n, size_t nlen, const char *v, size_t vlen, void *ud)
{
    struct disp *d = ud;
    struct sbx_multipart *m = d->m;
    int rc = 0;

    if (name_is(n, nlen, "name")) {
        sbx_buf_reset(&m->name);
        rc = sbx_buf_add(&m->name, v, vlen);
    } else if (name_is(n, nlen, "filename") && !d->star) {
        sbx_buf_reset(&m->filename);
        rc = sbx_buf_add(&m->filename, v, vlen);
        m->has_filename = true;
    } else if (name_is(n, nlen, "filename*")) {
        rc = ext_value(&m->filename, v, vlen);
        if (rc == 0) {
            d->star = true;
            m->has_filename = true;
        }
    }
    return rc < 0 ? rc : 0;
}

/* Parses the header block in m->hdr (CRLF-separated lines, blank line
 * included) and starts the part. */
static int begin_part(struct sbx_multipart *m)
{
    struct sbx_multipart_part part;
    char *line = m->hdr.ptr, *end = m->hdr.ptr + m->hdr.len;

    sbx_buf_reset(&m->name);
    sbx_buf_reset(&m->filename);
    sbx_buf_reset(&m->ctype);
    m->has_filename = false;
    while (line < end) {
        char *eol = memchr(line, '\r', (size_t)(end - line));
        char *colon, *v;

        if (!eol || eol + 1 >= end || eol[1] != '\n')
            return fail(m, "part header line without CRLF");
        *eol = '\0';
        if (eol == line)
            break; /* the blank line */
        if (memchr(line, '\n', (size_t)(eol - line)))
            return fail(m, "bare LF in a part header");
        colon = strchr(line, ':');
        if (!colon || colon == line)
            return fail(m, "part header line without a name");
        *colon = '\0';
        v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Disposition") == 0) {
            struct disp d = {m, false};

            if (!type_is(v, "form-data"))
                return fail(m, "Content-Disposition is not form-data");
            if (each_param(v, disp_param, &d) < 0)
                return fail(m, "bad Content-Disposition parameters");
        } else if (strcasecmp(line, "Content-Type") == 0) {
            sbx_buf_reset(&m->ctype);
            if (sbx_buf_addstr(&m->ctype, v) < 0)
                return fail(m, "out of memory");
        }
        line = eol + 2;
    }
    if (memchr(m->name.ptr, '\0', m->name.len) || memchr(m->filename.ptr, '\0', m->filename.len))
        return fail(m, "NUL byte in a part name or filename");
    part.name = m->name.ptr;
    part.filename = m->has_filename ? m->filename.ptr : NULL;
    part.content_type = m->ctype.ptr;
    m->in_part = true;
    m->state = ST_BODY;
    m->k = 0;
    if (m->cbs.part_begin)
        return stop(m, m->cbs.part_begin(&part, m->ud));
    return 0;
}

static int end_part(struct sbx_multipart *m)
{
    if (!m->in_part)
        return 0;
    m->in_part = false;
    if (m->cbs.part_end)
        return stop(m, m->cbs.part_end(m->ud));
    return 0;
}

int sbx_multipart_feed(struct sbx_multipart *m, const char *p, size_t n)
{
    size_t i = 0;
    int rc;

    if (m->state == ST_ERROR)
        return m->stopped;
    while (i < n) {
        char ch = p[i];

        switch (m->state) {
        case ST_PREAMBLE:
        case ST_BODY:
            if (m->k == 0) {
                /* One search for the whole delimiter (binary data has a
                 * '\r' every 256 bytes); only a possible start of one in
                 * the last dlen-1 bytes goes through the byte-wise match. */
                const char *d = memmem(p + i, n - i, m->delim, m->dlen);
                size_t tail, span;
                const char *cr;

                if (d) {
                    rc = emit(m, p + i, (size_t)(d - (p + i)));
                    if (rc)
                        return rc;
                    i = (size_t)(d - p) + m->dlen;
                    m->state = ST_AFTER;
                    break;
                }
                tail = n - i > m->dlen - 1 ? n - (m->dlen - 1) : i;
                cr = memchr(p + tail, '\r', n - tail);
                span = cr ? (size_t)(cr - (p + i)) : n - i;
                rc = emit(m, p + i, span);
                if (rc)
                    return rc;
                i += span;
                if (cr) {
                    m->k = 1;
                    i++;
                }
            } else if (ch == m->delim[m->k]) {
                m->k++;
                i++;
                if (m->k == m->dlen) {
                    m->k = 0;
                    m->state = ST_AFTER;
                }
            } else {
                /* Not a delimiter after all: what looked like its start is
                 * data ('\r' only starts it, so no overlap to re-match). */
                rc = emit(m, m->delim, m->k);
                if (rc)
                    return rc;
                m->k = 0;
            }
            break;
        case ST_AFTER:
            i++;
            if (ch == '-') {
                m->state = ST_AFTER_DASH;
            } else if (ch == '\r') {
                m->state = ST_AFTER_CR;
            } else if (ch != ' ' && ch != '\t') {
                return fail(m, "unexpected byte after a boundary");
            }
            break;
        case ST_AFTER_DASH:
            i++;
            if (ch != '-')
                return fail(m, "unexpected byte after a boundary");
            rc = end_part(m);
            if (rc)
                return rc;
            m->state = ST_EPILOGUE;
            break;
        case ST_AFTER_CR:
            i++;
            if (ch != '\n')
                return fail(m, "CR without LF after a boundary");
            rc = end_part(m);
            if (rc)
                return rc;
            sbx_buf_reset(&m->hdr);
            m->state = ST_HEADERS;
            break;
        case ST_HEADERS:
            i++;
            if (m->hdr.len + 1 >= SBX_MULTIPART_HEADERS_MAX)
                return fail(m, "part headers too large (the limit is 16384 bytes)");
            if (sbx_buf_addch(&m->hdr, ch) < 0)
                return fail(m, "out of memory");
            if (ch == '\n' && ((m->hdr.len == 2 && m->hdr.ptr[0] == '\r') ||
                               (m->hdr.len >= 4 && memcmp(m->hdr.ptr + m->hdr.len - 4,
                                                          "\r\n\r\n", 4) == 0))) {
                rc = begin_part(m);
                if (rc)
                    return rc;
            }
            break;
        case ST_EPILOGUE:
            return 0;
        case ST_ERROR:
            return m->stopped;
        }
    }
    return 0;
}

int sbx_multipart_finish(struct sbx_multipart *m)
{
    if (m->state == ST_ERROR)
        return m->stopped;
    if (m->state != ST_EPILOGUE)
        return fail(m, "truncated (no closing boundary)");
    return 0;
}
