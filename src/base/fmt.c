#include "base/fmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sbx_fmt_pyfloat(double v, char *buf, size_t n)
{
    char tmp[64];
    int p, exp10;

    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return buf;
    }
    if (v == 0) {
        snprintf(buf, n, signbit(v) ? "-0.0" : "0.0");
        return buf;
    }
    /* Shortest precision that reads back exactly, as repr() picks. */
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    exp10 = (int)strtol(strchr(tmp, 'e') + 1, NULL, 10);
    if (exp10 < -4 || exp10 >= 16) {
        /* Python: mantissa without trailing zeros, exponent with sign and
         * at least two digits (C's %e already does both). */
        snprintf(buf, n, "%.*e", p - 1, v);
    } else {
        int decimals = p - 1 - exp10;

        snprintf(buf, n, "%.*f", decimals > 0 ? decimals : 0, v);
        if (!strchr(buf, '.') && strlen(buf) + 2 < n)
            memcpy(buf + strlen(buf), ".0", 3);
    }
    return buf;
}
