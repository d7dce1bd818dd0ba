/* libFuzzer target for the multipart parser: any body must parse without
 * crashing or leaking, and feeding it in pieces (the first byte picks the
 * piece size) must give exactly the events of feeding it whole. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "net/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_begin(const struct sbx_multipart_part *p, void *ud)
{
    struct sbx_buf *b = ud;

    sbx_buf_addf(b, "<%s|%s|%s>", p->name, p->filename ? p->filename : "-", p->content_type);
    return 0;
}

static int on_data(const char *p, size_t n, void *ud)
{
    return sbx_buf_add(ud, p, n) < 0 ? 1 : 0;
}

static int on_end(void *ud)
{
    return sbx_buf_addstr(ud, "</>") < 0 ? 1 : 0;
}

static int parse(const char *p, size_t n, size_t step, struct sbx_buf *ev)
{
    static const struct sbx_multipart_cbs cbs = {on_begin, on_data, on_end};
    struct sbx_multipart *m;
    size_t off = 0;
    int rc = 0;

    m = sbx_multipart_new("multipart/form-data; boundary=\"XyZ-1\"", &cbs, ev, &rc);
    if (!m)
        abort();
    while (off < n && rc == 0) {
        size_t k = step && n - off > step ? step : n - off;

        rc = sbx_multipart_feed(m, p + off, k);
        off += k;
    }
    if (rc == 0)
        rc = sbx_multipart_finish(m);
    sbx_multipart_free(m);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_buf a = SBX_BUF_INIT, b = SBX_BUF_INIT;
    size_t step;
    int ra, rb;

    if (size < 1)
        return 0;
    step = (size_t)data[0] % 17 + 1;
    ra = parse((const char *)data + 1, size - 1, 0, &a);
    rb = parse((const char *)data + 1, size - 1, step, &b);
    /* Errors may be found at different points, but success must agree. */
    if ((ra == 0) != (rb == 0))
        abort();
    if (ra == 0 && (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0))
        abort();
    sbx_buf_free(&a);
    sbx_buf_free(&b);
    return 0;
}
