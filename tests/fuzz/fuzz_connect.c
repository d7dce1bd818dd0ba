/* libFuzzer target for the Connect envelope reader and error-body parser
 * (src/net/connect.c): the e2b provider reads envd's streams with it and
 * `sbx serve e2b` reads clients' requests. The first byte picks the chunk
 * size, so envelopes arrive split at every possible point; every complete
 * envelope re-encodes to the bytes it came from; end-of-stream payloads go
 * through the error parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/connect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_connect_reader r;
    struct sbx_buf again = SBX_BUF_INIT;
    struct sbx_err err = {0};
    size_t step, off = 1;

    if (size < 1)
        return 0;
    step = (size_t)data[0] % 17 + 1;
    sbx_connect_reader_init(&r, 1 << 16);
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        ssize_t used = sbx_connect_reader_feed(&r, data + off, n, &err);
        if (used < 0)
            break;
        off += (size_t)used;
        if (sbx_connect_reader_ready(&r)) {
            struct sbx_connect_error e;
            sbx_buf_reset(&again);
            if (sbx_connect_envelope(&again, r.flags, r.msg.ptr, r.msg.len) != 0)
                abort();
            if (off < again.len || memcmp(again.ptr, data + off - again.len, again.len) != 0)
                abort();
            if (r.flags & SBX_CONNECT_FLAG_END)
                (void)sbx_connect_parse_error(r.msg.ptr, r.msg.len, true, &e, &err);
            else
                (void)sbx_connect_parse_error(r.msg.ptr, r.msg.len, false, &e, &err);
        }
    }
    (void)sbx_connect_reader_finish(&r, &err);
    sbx_connect_reader_free(&r);
    sbx_buf_free(&again);
    return 0;
}
