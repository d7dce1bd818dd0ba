/* Streaming gzip over zlib (gzip.h). */
#include "archive/gzip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define OUT_CHUNK ((size_t)32 << 10)
#define FEED_MAX ((size_t)1 << 30) /* zlib's avail_in is a uInt */

struct sbx_gunzip {
    z_stream z;
    gz_header head;
    sbx_gzip_out_fn *out;
    void *ud;
    bool in_member;    /* a member was started and has not ended */
    bool any_member;   /* a member's header was read */
    bool first_header; /* the first member's header was read */
    int failed;        /* the error every later call returns */
    char failed_msg[64];
    unsigned char buf[OUT_CHUNK];
};

struct sbx_gunzip *sbx_gunzip_new(sbx_gzip_out_fn *out, void *ud)
{
    struct sbx_gunzip *g = calloc(1, sizeof(*g));

    if (!g)
        return NULL;
    /* 16 + window bits: a gzip wrapper only */
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
        free(g);
        return NULL;
    }
    inflateGetHeader(&g->z, &g->head);
    g->out = out;
    g->ud = ud;
    return g;
}

static int gunzip_fail(struct sbx_gunzip *g, int code, const char *msg, struct sbx_err *err)
{
    g->failed = code;
    snprintf(g->failed_msg, sizeof(g->failed_msg), "%s", msg);
    return sbx_err_set(err, code, "%s", msg);
}

int sbx_gunzip_feed(struct sbx_gunzip *g, const void *p, size_t n, struct sbx_err *err)
{
    const unsigned char *in = p;

    if (g->failed)
        return sbx_err_set(err, g->failed, "%s", g->failed_msg);
    while (n > 0) {
        size_t take = n < FEED_MAX ? n : FEED_MAX;
        int zr;

        if (!g->in_member) {
            /* another member begins (or garbage follows the last one) */
            if (g->any_member && inflateReset(&g->z) != Z_OK)
                return gunzip_fail(g, -ENOMEM, "out of memory", err);
            if (g->any_member)
                inflateGetHeader(&g->z, &g->head);
            g->in_member = true;
        }
        g->z.next_in = (unsigned char *)in;
        g->z.avail_in = (uInt)take;
        do {
            size_t have;

            g->z.next_out = g->buf;
            g->z.avail_out = (uInt)sizeof(g->buf);
            zr = inflate(&g->z, Z_NO_FLUSH);
            if (g->head.done == 1) {
                g->any_member = true;
                g->first_header = true;
            }
            if (zr == Z_MEM_ERROR)
                return gunzip_fail(g, -ENOMEM, "out of memory", err);
            if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR) {
                const char *m = g->head.done != 1 ? "gzip: invalid header"
                                : g->z.msg && strstr(g->z.msg, "check") ? "gzip: invalid checksum"
                                                                         : "flate: corrupt input";

                return gunzip_fail(g, -EINVAL, m, err);
            }
            have = sizeof(g->buf) - g->z.avail_out;
            if (have > 0) {
                int rc = g->out(g->buf, have, g->ud);

                if (rc < 0) {
                    g->failed = rc;
                    snprintf(g->failed_msg, sizeof(g->failed_msg), "output refused");
                    return rc;
                }
            }
            if (zr == Z_STREAM_END) {
                g->in_member = false;
                break;
            }
        } while (g->z.avail_in > 0 || g->z.avail_out == 0);
        {
            size_t used = take - g->z.avail_in;

            in += used;
            n -= used;
        }
    }
    return 0;
}

int sbx_gunzip_finish(struct sbx_gunzip *g, struct sbx_err *err)
{
    if (g->failed)
        return sbx_err_set(err, g->failed, "%s", g->failed_msg);
    if (!g->any_member && !g->in_member)
        return gunzip_fail(g, -EINVAL, "EOF", err);
    if (g->in_member)
        return gunzip_fail(g, -EINVAL, "unexpected EOF", err);
    return 0;
}

bool sbx_gunzip_header_read(const struct sbx_gunzip *g)
{
    return g->first_header;
}

void sbx_gunzip_free(struct sbx_gunzip *g)
{
    if (!g)
        return;
    inflateEnd(&g->z);
    free(g);
}

/* ---- writer ----------------------------------------------------------------- */

struct sbx_gzip {
    z_stream z;
    sbx_gzip_out_fn *out;
    void *ud;
    int failed;
    unsigned char buf[OUT_CHUNK];
};

struct sbx_gzip *sbx_gzip_new(int level, sbx_gzip_out_fn *out, void *ud)
{
    struct sbx_gzip *z = calloc(1, sizeof(*z));

    if (!z)
        return NULL;
    if (deflateInit2(&z->z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    z->out = out;
    z->ud = ud;
    return z;
}

static int gzip_run(struct sbx_gzip *z, const unsigned char *in, size_t n, int flush,
                    struct sbx_err *err)
{
    if (z->failed)
        return sbx_err_set(err, z->failed, "gzip: the stream failed before");
    do {
        size_t take = n < FEED_MAX ? n : FEED_MAX;
        int zr;

        z->z.next_in = (unsigned char *)in;
        z->z.avail_in = (uInt)take;
        do {
            size_t have;

            z->z.next_out = z->buf;
            z->z.avail_out = (uInt)sizeof(z->buf);
            zr = deflate(&z->z, take == n ? flush : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR) {
                z->failed = -EINVAL;
                return sbx_err_set(err, -EINVAL, "gzip: deflate failed");
            }
            have = sizeof(z->buf) - z->z.avail_out;
            if (have > 0) {
                int rc = z->out(z->buf, have, z->ud);

                if (rc < 0) {
                    z->failed = rc;
                    return sbx_err_set(err, rc, "gzip: output refused");
                }
            }
        } while (z->z.avail_out == 0);
        in += take;
        n -= take;
    } while (n > 0);
    return 0;
}

int sbx_gzip_feed(struct sbx_gzip *z, const void *p, size_t n, struct sbx_err *err)
{
    if (n == 0)
        return 0;
    return gzip_run(z, p, n, Z_NO_FLUSH, err);
}

int sbx_gzip_finish(struct sbx_gzip *z, struct sbx_err *err)
{
    return gzip_run(z, NULL, 0, Z_FINISH, err);
}

void sbx_gzip_free(struct sbx_gzip *z)
{
    if (!z)
        return;
    deflateEnd(&z->z);
    free(z);
}
