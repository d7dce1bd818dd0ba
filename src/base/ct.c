#include "base/ct.h"

#include <string.h>

bool sbx_ct_equal(const void *a, size_t la, const void *b, size_t lb)
{
    const unsigned char *pa = a, *pb = b;
    volatile unsigned char d = la != lb;
    size_t i;

    /* every byte of a is read, against b's bytes cycled when b is shorter */
    for (i = 0; i < la; i++)
        d |= pa[i] ^ (lb ? pb[i % lb] : 0);
    return d == 0 && la == lb;
}

bool sbx_ct_streq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    return sbx_ct_equal(a, strlen(a), b, strlen(b));
}
