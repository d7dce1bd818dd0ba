/* libFuzzer target for src/archive/gzip.c: any input, fed in pieces whose
 * sizes come from the input itself, must be decompressed or refused
 * without crashing, leaking or reading past it; and any input must survive
 * a gzip -> gunzip round trip byte for byte. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive/gzip.h"
#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX ((size_t)8 << 20) /* a bomb stops here */

static int to_buf(const void *p, size_t n, void *ud)
{
    struct sbx_buf *b = ud;

    if (b->len + n > OUT_MAX)
        return -EFBIG;
    return sbx_buf_add(b, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_buf out = SBX_BUF_INIT, gz = SBX_BUF_INIT, back = SBX_BUF_INIT;
    struct sbx_err err = {0};
    struct sbx_gunzip *g;
    struct sbx_gzip *z;
    size_t off = 0, piece = size ? (size_t)data[0] % 64 + 1 : 1;
    int rc = 0;

    g = sbx_gunzip_new(to_buf, &out);
    if (!g)
        return 0;
    while (off < size && rc == 0) {
        size_t n = size - off < piece ? size - off : piece;

        rc = sbx_gunzip_feed(g, data + off, n, &err);
        off += n;
    }
    if (rc == 0)
        (void)sbx_gunzip_finish(g, &err);
    sbx_gunzip_free(g);

    z = sbx_gzip_new(1, to_buf, &gz);
    g = sbx_gunzip_new(to_buf, &back);
    if (!z || !g || sbx_gzip_feed(z, data, size, &err) < 0 || sbx_gzip_finish(z, &err) < 0 ||
        sbx_gunzip_feed(g, gz.ptr, gz.len, &err) < 0 || sbx_gunzip_finish(g, &err) < 0 ||
        back.len != size || (size && memcmp(back.ptr, data, size) != 0))
        abort();
    sbx_gzip_free(z);
    sbx_gunzip_free(g);
    sbx_buf_free(&out);
    sbx_buf_free(&gz);
    sbx_buf_free(&back);
    return 0;
}
