#include "archive/zip.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/*
 * Streaming zip writer (APPNOTE 6.3.x). Sizes are unknown when a local header
 * goes out, so general-purpose bit 3 is set and a data descriptor follows
 * each entry's data. An entry announced as large (or of unknown size) gets a
 * ZIP64 extra field in its local header and a ZIP64 data descriptor; the
 * central directory uses ZIP64 fields for whatever passes 0xFFFFFFFF.
 */

#define SIG_LOCAL 0x04034b50u
#define SIG_DESC 0x08074b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define FLAG_DESC 0x0008u
#define FLAG_UTF8 0x0800u
#define MAX32 0xFFFFFFFFull
#define HOST_UNIX 3u

struct entry {
    char *name;
    size_t nlen;
    uint32_t crc;
    uint64_t csize, usize, offset;
    uint16_t dtime, ddate, flags, method;
    uint32_t mode;
    bool zip64; /* ZIP64 local header and descriptor */
};

struct sbx_zip_writer {
    sbx_zip_out_fn *out;
    void *ud;
    z_stream zs;
    bool zs_ready;
    uint64_t offset; /* bytes written so far */
    struct entry *ents;
    size_t n, cap;
    bool in_entry;
    int err; /* sticky */
    unsigned char buf[65536];
};

static void put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xFFFF);
    put16(p + 2, v >> 16);
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static int emit(struct sbx_zip_writer *z, const void *p, size_t n)
{
    int rc;

    if (z->err)
        return z->err;
    if (n == 0)
        return 0;
    rc = z->out(p, n, z->ud);
    if (rc < 0) {
        z->err = rc;
        return rc;
    }
    z->offset += n;
    return 0;
}

struct sbx_zip_writer *sbx_zip_writer_new(sbx_zip_out_fn *out, void *ud, int level)
{
    struct sbx_zip_writer *z = calloc(1, sizeof(*z));

    if (!z)
        return NULL;
    z->out = out;
    z->ud = ud;
    /* Raw deflate (no zlib header), as zip wants. */
    if (deflateInit2(&z->zs, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    z->zs_ready = true;
    return z;
}

void sbx_zip_writer_free(struct sbx_zip_writer *z)
{
    size_t i;

    if (!z)
        return;
    if (z->zs_ready)
        deflateEnd(&z->zs);
    for (i = 0; i < z->n; i++)
        free(z->ents[i].name);
    free(z->ents);
    free(z);
}

static void dos_time(time_t t, uint16_t *dtime, uint16_t *ddate)
{
    struct tm tm;

    if (!localtime_r(&t, &tm) || tm.tm_year < 80) {
        *dtime = 0;
        *ddate = (0 << 9) | (1 << 5) | 1; /* 1980-01-01 */
        return;
    }
    *dtime = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
    *ddate = (uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
}

bool sbx_zip_compressible(const void *p, size_t n)
{
    unsigned char out[16384];
    z_stream zs;
    size_t produced = 0;
    int zr;

    if (n == 0)
        return true;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 1, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return true;
    zs.next_in = (Bytef *)p;
    zs.avail_in = n > (1u << 20) ? 1u << 20 : (uInt)n;
    do {
        zs.next_out = out;
        zs.avail_out = sizeof(out);
        zr = deflate(&zs, Z_FINISH);
        produced += sizeof(out) - zs.avail_out;
    } while (zr == Z_OK || (zr == Z_BUF_ERROR && zs.avail_out == 0));
    deflateEnd(&zs);
    return produced < (size_t)zs.total_in - (size_t)zs.total_in / 20;
}

int sbx_zip_writer_begin(struct sbx_zip_writer *z, const char *name, mode_t mode, time_t mtime,
                         int64_t size_hint, bool store)
{
    unsigned char h[30 + 20];
    struct entry *e;
    size_t i, nlen = strlen(name);
    int rc;

    if (z->err)
        return z->err;
    if (z->in_entry || nlen == 0 || nlen > 0xFFFF)
        return -EINVAL;
    if (z->n == z->cap) {
        size_t cap = z->cap ? z->cap * 2 : 64;
        struct entry *ne = realloc(z->ents, cap * sizeof(*ne));

        if (!ne)
            return -ENOMEM;
        z->ents = ne;
        z->cap = cap;
    }
    e = &z->ents[z->n];
    memset(e, 0, sizeof(*e));
    e->name = strdup(name);
    if (!e->name)
        return -ENOMEM;
    e->nlen = nlen;
    e->offset = z->offset;
    e->mode = (uint32_t)mode;
    e->flags = FLAG_DESC;
    e->method = store ? 0 : Z_DEFLATED;
    for (i = 0; i < nlen; i++)
        if ((unsigned char)name[i] >= 0x80)
            e->flags |= FLAG_UTF8;
    /* Deflate can grow incompressible data a little: leave a margin. */
    e->zip64 = size_hint < 0 || (uint64_t)size_hint >= MAX32 - (MAX32 >> 6);
    dos_time(mtime, &e->dtime, &e->ddate);
    e->crc = (uint32_t)crc32(0, Z_NULL, 0);
    z->n++;

    put32(h, SIG_LOCAL);
    put16(h + 4, e->zip64 ? 45 : 20);
    put16(h + 6, e->flags);
    put16(h + 8, e->method);
    put16(h + 10, e->dtime);
    put16(h + 12, e->ddate);
    put32(h + 14, 0); /* crc, sizes: in the data descriptor */
    put32(h + 18, e->zip64 ? (uint32_t)MAX32 : 0);
    put32(h + 22, e->zip64 ? (uint32_t)MAX32 : 0);
    put16(h + 26, (uint32_t)nlen);
    put16(h + 28, e->zip64 ? 20 : 0);
    rc = emit(z, h, 30);
    if (rc == 0)
        rc = emit(z, name, nlen);
    if (rc == 0 && e->zip64) {
        put16(h + 30, 0x0001);
        put16(h + 32, 16);
        put64(h + 34, 0);
        put64(h + 42, 0);
        rc = emit(z, h + 30, 20);
    }
    if (rc == 0)
        z->in_entry = true;
    return rc;
}

/* Runs deflate over what is in z->zs with `flush`, writing all output. */
static int pump(struct sbx_zip_writer *z, struct entry *e, int flush)
{
    int zr;

    do {
        size_t have;
        int rc;

        z->zs.next_out = z->buf;
        z->zs.avail_out = sizeof(z->buf);
        zr = deflate(&z->zs, flush);
        if (zr == Z_STREAM_ERROR)
            return z->err = -EIO;
        have = sizeof(z->buf) - z->zs.avail_out;
        rc = emit(z, z->buf, have);
        if (rc < 0)
            return rc;
        e->csize += have;
    } while (z->zs.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return 0;
}

int sbx_zip_writer_data(struct sbx_zip_writer *z, const void *p, size_t n)
{
    struct entry *e;
    const unsigned char *c = p;

    if (z->err)
        return z->err;
    if (!z->in_entry)
        return -EINVAL;
    e = &z->ents[z->n - 1];
    while (n > 0) {
        uInt piece = n > UINT_MAX / 2 ? UINT_MAX / 2 : (uInt)n;
        int rc;

        e->crc = (uint32_t)crc32(e->crc, c, piece);
        e->usize += piece;
        if (!e->method) {
            rc = emit(z, c, piece);
            if (rc < 0)
                return rc;
            e->csize += piece;
            c += piece;
            n -= piece;
            continue;
        }
        z->zs.next_in = (Bytef *)c;
        z->zs.avail_in = piece;
        rc = pump(z, e, Z_NO_FLUSH);
        if (rc < 0)
            return rc;
        c += piece;
        n -= piece;
    }
    return 0;
}

int sbx_zip_writer_end(struct sbx_zip_writer *z)
{
    unsigned char d[24];
    struct entry *e;
    int rc;

    if (z->err)
        return z->err;
    if (!z->in_entry)
        return -EINVAL;
    e = &z->ents[z->n - 1];
    if (e->method) {
        z->zs.next_in = NULL;
        z->zs.avail_in = 0;
        rc = pump(z, e, Z_FINISH);
        if (rc < 0)
            return rc;
        deflateReset(&z->zs);
    }
    z->in_entry = false;
    if (!e->zip64 && (e->csize >= MAX32 || e->usize >= MAX32))
        return z->err = -EFBIG; /* the local header promised 32-bit sizes */
    put32(d, SIG_DESC);
    put32(d + 4, e->crc);
    if (e->zip64) {
        put64(d + 8, e->csize);
        put64(d + 16, e->usize);
        return emit(z, d, 24);
    }
    put32(d + 8, (uint32_t)e->csize);
    put32(d + 12, (uint32_t)e->usize);
    return emit(z, d, 16);
}

static int write_central(struct sbx_zip_writer *z, const struct entry *e)
{
    unsigned char h[46], x[4 + 24];
    size_t xlen = 4;
    bool big_u = e->usize >= MAX32, big_c = e->csize >= MAX32, big_o = e->offset >= MAX32;
    int rc;

    if (big_u) {
        put64(x + xlen, e->usize);
        xlen += 8;
    }
    if (big_c) {
        put64(x + xlen, e->csize);
        xlen += 8;
    }
    if (big_o) {
        put64(x + xlen, e->offset);
        xlen += 8;
    }
    put16(x, 0x0001);
    put16(x + 2, (uint32_t)(xlen - 4));
    if (xlen == 4)
        xlen = 0;
    put32(h, SIG_CENTRAL);
    put16(h + 4, (HOST_UNIX << 8) | 45);
    put16(h + 6, e->zip64 || xlen ? 45 : 20);
    put16(h + 8, e->flags);
    put16(h + 10, e->method);
    put16(h + 12, e->dtime);
    put16(h + 14, e->ddate);
    put32(h + 16, e->crc);
    put32(h + 20, big_c ? (uint32_t)MAX32 : (uint32_t)e->csize);
    put32(h + 24, big_u ? (uint32_t)MAX32 : (uint32_t)e->usize);
    put16(h + 28, (uint32_t)e->nlen);
    put16(h + 30, (uint32_t)xlen);
    put16(h + 32, 0); /* comment */
    put16(h + 34, 0); /* disk */
    put16(h + 36, 0); /* internal attributes */
    put32(h + 38, e->mode << 16);
    put32(h + 42, big_o ? (uint32_t)MAX32 : (uint32_t)e->offset);
    rc = emit(z, h, 46);
    if (rc == 0)
        rc = emit(z, e->name, e->nlen);
    if (rc == 0)
        rc = emit(z, x, xlen);
    return rc;
}

int sbx_zip_writer_finish(struct sbx_zip_writer *z)
{
    unsigned char r[56 + 20 + 22];
    uint64_t cd_start, cd_size;
    size_t i;
    int rc;

    if (z->err)
        return z->err;
    if (z->in_entry) {
        rc = sbx_zip_writer_end(z);
        if (rc < 0)
            return rc;
    }
    cd_start = z->offset;
    for (i = 0; i < z->n; i++) {
        rc = write_central(z, &z->ents[i]);
        if (rc < 0)
            return rc;
    }
    cd_size = z->offset - cd_start;
    if (z->n >= 0xFFFF || cd_start >= MAX32 || cd_size >= MAX32) {
        uint64_t end64 = z->offset;

        put32(r, SIG_END64);
        put64(r + 4, 44);
        put16(r + 12, (HOST_UNIX << 8) | 45);
        put16(r + 14, 45);
        put32(r + 16, 0);
        put32(r + 20, 0);
        put64(r + 24, z->n);
        put64(r + 32, z->n);
        put64(r + 40, cd_size);
        put64(r + 48, cd_start);
        put32(r + 56, SIG_LOC64);
        put32(r + 60, 0);
        put64(r + 64, end64);
        put32(r + 72, 1);
        rc = emit(z, r, 76);
        if (rc < 0)
            return rc;
    }
    put32(r, SIG_END);
    put16(r + 4, 0);
    put16(r + 6, 0);
    put16(r + 8, z->n >= 0xFFFF ? 0xFFFF : (uint32_t)z->n);
    put16(r + 10, z->n >= 0xFFFF ? 0xFFFF : (uint32_t)z->n);
    put32(r + 12, cd_size >= MAX32 ? (uint32_t)MAX32 : (uint32_t)cd_size);
    put32(r + 16, cd_start >= MAX32 ? (uint32_t)MAX32 : (uint32_t)cd_start);
    put16(r + 20, 0);
    return emit(z, r, 22);
}
