/* libFuzzer target for the local provider's control protocol decoder
 * (src/providers/local/ctl.c): the init parses every request it is sent.
 * Any input is refused or decoded without reading past it; a decoded message
 * encodes back to exactly the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/local/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the message. */
    char *buf = malloc(size ? size : 1);
    struct sbx__ctl_msg *m = malloc(sizeof(*m));
    char *again = NULL;
    size_t len = 0;

    if (!buf || !m)
        abort();
    memcpy(buf, data, size);
    if (sbx__ctl_decode(buf, size, m) == 0) {
        again = malloc(size + 1);
        if (!again)
            abort();
        if (sbx__ctl_encode(m, again, size + 1, &len) != 0 || len != size ||
            memcmp(again, buf, size) != 0)
            abort();
    }
    free(again);
    free(m);
    free(buf);
    return 0;
}
