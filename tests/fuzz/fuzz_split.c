/* libFuzzer target for sbx_bash_split: any bytes must split without crashing,
 * hanging or leaking, into at least one command whose pieces all come from
 * the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/bash/split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_bash_split s = {0};
    size_t total = 0;

    if (sbx_bash_split((const char *)data, size, &s) != 0)
        return 0;
    if (s.n < 1)
        abort();
    for (size_t k = 0; k < s.n; k++)
        total += strlen(s.cmds[k]);
    /* commands are slices of the input, so together never longer than it */
    if (total > size)
        abort();
    sbx_bash_split_free(&s);
    return 0;
}
