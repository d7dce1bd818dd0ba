/*
 * What envd's /files decides from a request's query and headers (envd.h):
 * signed URLs (packages/envd/internal/api/auth.go generateSignature) and
 * the content codings (encoding.go parseContentEncoding and
 * parseAcceptEncoding). Pure functions, tested in test_api_envd.c.
 */
#include "api/e2b/envd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/sha256.h"

int sbx__envd_signature(const char *path, const char *op, const char *user, const char *token,
                        const int64_t *exp, struct sbx_buf *out)
{
    struct sbx_sha256 c;
    unsigned char d[SBX_SHA256_LEN];
    char tail[32];
    int rc;

    sbx_sha256_init(&c);
    sbx_sha256_update(&c, path, strlen(path));
    sbx_sha256_update(&c, ":", 1);
    sbx_sha256_update(&c, op, strlen(op));
    sbx_sha256_update(&c, ":", 1);
    sbx_sha256_update(&c, user, strlen(user));
    sbx_sha256_update(&c, ":", 1);
    sbx_sha256_update(&c, token, strlen(token));
    if (exp) {
        snprintf(tail, sizeof(tail), ":%lld", (long long)*exp);
        sbx_sha256_update(&c, tail, strlen(tail));
    }
    sbx_sha256_final(&c, d);
    rc = sbx_buf_addstr(out, "v1_");
    if (rc == 0)
        rc = sbx_base64_encode(d, sizeof(d), out);
    while (rc == 0 && out->len > 0 && out->ptr[out->len - 1] == '=')
        out->ptr[--out->len] = '\0';
    return rc;
}

/* One coding of a header list: trimmed, lowercased name and q (1 unless a
 * q= parameter parses), as parseEncodingWithQuality. */
struct coding {
    char name[32];
    double q;
};

static void parse_coding(const char *s, size_t n, struct coding *c)
{
    const char *semi;
    size_t len, k = 0;

    c->q = 1.0;
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    semi = memchr(s, ';', n);
    len = semi ? (size_t)(semi - s) : n;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    for (size_t i = 0; i < len && k + 1 < sizeof(c->name); i++)
        c->name[k++] = (char)tolower((unsigned char)s[i]);
    c->name[k] = '\0';
    if (len >= sizeof(c->name))
        c->name[0] = '?'; /* too long to be one we know */
    while (semi) {
        const char *p = semi + 1, *end = s + n, *next = memchr(p, ';', (size_t)(end - p));
        const char *pe = next ? next : end;
        char num[64];
        char *stop;
        double q;

        while (p < pe && isspace((unsigned char)*p))
            p++;
        while (pe > p && isspace((unsigned char)pe[-1]))
            pe--;
        if (pe - p > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' &&
            (size_t)(pe - p - 2) < sizeof(num)) {
            memcpy(num, p + 2, (size_t)(pe - p - 2));
            num[pe - p - 2] = '\0';
            q = strtod(num, &stop);
            if (stop != num && *stop == '\0')
                c->q = q;
        }
        semi = next;
    }
}

int sbx__envd_content_gzip(const char *h)
{
    struct coding c;

    if (!h || !*h)
        return 0;
    parse_coding(h, strlen(h), &c);
    if (strcmp(c.name, "identity") == 0)
        return 0;
    return strcmp(c.name, "gzip") == 0 ? 1 : -1;
}

#define ACCEPT_MAX 32

int sbx__envd_accept_gzip(const char *h)
{
    struct coding cs[ACCEPT_MAX];
    size_t n = 0, i, j;
    bool identity_rejected = false;

    if (!h || !*h)
        return 0;
    for (const char *p = h; n < ACCEPT_MAX;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        parse_coding(p, len, &cs[n++]);
        if (!comma)
            break;
        p = comma + 1;
    }
    /* by q, highest first; stable, as sort.Slice is for lists this short */
    for (i = 1; i < n; i++) {
        struct coding t = cs[i];

        for (j = i; j > 0 && cs[j - 1].q < t.q; j--)
            cs[j] = cs[j - 1];
        cs[j] = t;
    }
    for (i = 0; i < n; i++)
        if (strcmp(cs[i].name, "identity") == 0 && cs[i].q == 0)
            identity_rejected = true;
    for (i = 0; i < n; i++) {
        if (cs[i].q == 0)
            continue;
        if (strcmp(cs[i].name, "identity") == 0)
            return 0;
        if (strcmp(cs[i].name, "*") == 0)
            return identity_rejected ? 1 : 0;
        if (strcmp(cs[i].name, "gzip") == 0)
            return 1;
    }
    return identity_rejected ? -1 : 0;
}
