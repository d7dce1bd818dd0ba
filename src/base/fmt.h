#ifndef SBX_BASE_FMT_H
#define SBX_BASE_FMT_H

#include <stddef.h>

/* Formats v as Python's repr(float) does (shortest round-trip digits,
 * "2.0", "2.5", "1e-05", "1e+16", "inf", "nan") into buf; returns buf. */
char *sbx_fmt_pyfloat(double v, char *buf, size_t n);

#endif
